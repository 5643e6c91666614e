//! What the face changes in a request's params before rendering: `IMAGOR_BASE_PARAMS` and the
//! output format negotiated from `Accept`.

use super::Settings;
use crate::path::{Filter, Params};
use crate::processing;
use http::header::{self, HeaderMap};

/// Appends `format(...)` from the `Accept` header when negotiation is on and the URL has no
/// `format()`: AVIF first (with a WebP fallback for animations when WebP is on too), then
/// WebP, then JPEG for clients that accept it or anything. Returns whether negotiation ran,
/// so that the answer carries `Vary: Accept`.
pub(super) fn negotiate_format(
    settings: &Settings,
    params: &mut Params,
    request: &HeaderMap,
) -> bool {
    let s = settings;
    if !(s.auto_avif || s.auto_webp || s.auto_jpeg) {
        return false;
    }
    if params.filters.iter().any(|f| f.name == "format") {
        return false;
    }
    let accept: String = request
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let avif_ok = s.auto_avif
        && accept.contains("image/avif")
        && processing::Format::from_name("avif").is_some_and(processing::Format::can_encode);
    if avif_ok {
        params.filters.push(Filter::new("format", "avif"));
        if s.auto_webp && accept.contains("image/webp") {
            params.filters.push(Filter::new("fallback_format", "webp"));
        }
    } else if s.auto_webp && accept.contains("image/webp") {
        params.filters.push(Filter::new("format", "webp"));
    } else if s.auto_jpeg
        && (accept.is_empty()
            || accept.contains("image/jpeg")
            || accept.contains("image/*")
            || accept.contains("*/*"))
    {
        params.filters.push(Filter::new("format", "jpeg"));
    }
    true
}

/// Merges `IMAGOR_BASE_PARAMS` into a request: the fields the base params set override the
/// request's; its filters come after the request's.
pub(super) fn merge_base_params(params: &mut Params, base: &Params) {
    let d = Params::default();
    macro_rules! take {
        ($($field:ident),*) => {$(
            if base.$field != d.$field {
                params.$field = base.$field.clone();
            }
        )*};
    }
    take!(
        meta,
        trim,
        trim_by,
        trim_tolerance,
        crop_left,
        crop_top,
        crop_right,
        crop_bottom,
        fit_in,
        adaptive_fit_in,
        full_fit_in,
        stretch,
        width,
        height,
        padding_left,
        padding_top,
        padding_right,
        padding_bottom,
        h_flip,
        v_flip,
        h_align,
        v_align,
        smart
    );
    params.filters.extend(base.filters.iter().cloned());
}
