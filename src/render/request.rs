//! [`ImageRequest`]: what the render stack is asked to make.

use super::limits::Admitted;
use crate::Blob;
use crate::metrics::Metrics;
use crate::path::Params;
use crate::processing;
use http::HeaderMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What an [`ImageRequest`] answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// The processed image: an imagor image URL.
    Image,
    /// The JSON description of the processed image: a `/meta/...` URL.
    Meta,
    /// The source as it is, when it is an image: `filters:raw()`.
    Raw,
}

/// The filters the HTTP face acts on itself rather than the engine: `expire`, `max_age`,
/// `attachment`, `raw` and `preview`.
///
/// The first three are taken out of the request's filters before its canonical path (its
/// result key) is made, so two URLs that differ only in them share one stored result.
///
/// # Example
///
/// ```
/// use imagor_tower::path;
/// use imagor_tower::render::ServiceFilters;
///
/// let mut params = path::parse("unsafe/filters:max_age(60):attachment(a.png):grayscale()/a.png");
/// let filters = ServiceFilters::take(&mut params);
/// assert_eq!(filters.max_age(), Some(60));
/// assert_eq!(filters.attachment(), Some("a.png"));
/// assert_eq!(params.filters.len(), 1); // grayscale() stays for the engine
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceFilters {
    expire_ms: Option<i64>,
    max_age: Option<u64>,
    attachment: Option<String>,
    raw: bool,
    preview: bool,
}

impl ServiceFilters {
    /// Reads the service filters of `params` and removes `expire`, `max_age` and `attachment`
    /// from its filter list (`raw` and `preview` stay: they change what is rendered).
    /// Arguments that do not parse are ignored, as imagor ignores them.
    pub fn take(params: &mut Params) -> Self {
        let mut out = Self::default();
        for filter in &params.filters {
            match filter.name.as_str() {
                "expire" => {
                    if let Ok(ms) = filter.args.trim().parse::<i64>() {
                        out.expire_ms = Some(out.expire_ms.map_or(ms, |e| e.min(ms)));
                    }
                }
                "max_age" => {
                    if let Ok(secs) = filter.args.trim().parse::<u64>() {
                        out.max_age = Some(secs);
                    }
                }
                "attachment" => out.attachment = Some(filter.args.clone()),
                "raw" => out.raw = true,
                "preview" => out.preview = true,
                _ => {}
            }
        }
        params
            .filters
            .retain(|f| !matches!(f.name.as_str(), "expire" | "max_age" | "attachment"));
        out
    }

    /// `expire(ms)`: the earliest expiry time given, in milliseconds since the Unix epoch.
    pub fn expire_ms(&self) -> Option<i64> {
        self.expire_ms
    }

    /// Whether an `expire(...)` time is before `now`: the URL answers 410.
    pub fn expired_at(&self, now: SystemTime) -> bool {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis();
        let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
        self.expire_ms.is_some_and(|ms| now_ms > ms)
    }

    /// `max_age(seconds)`: the `Cache-Control` max-age of this answer.
    pub fn max_age(&self) -> Option<u64> {
        self.max_age
    }

    /// `attachment(name)`: answer with `Content-Disposition: attachment`, named `name` (or
    /// after the image when empty).
    pub fn attachment(&self) -> Option<&str> {
        self.attachment.as_deref()
    }

    /// `raw()`: the source is answered unprocessed.
    pub fn raw(&self) -> bool {
        self.raw
    }

    /// `preview()`: a quick, never stored rendering.
    pub fn preview(&self) -> bool {
        self.preview
    }
}

/// Everything rendering needs: the canonical [`Params`] (signature checked, base params
/// merged, the output format negotiated), the client headers a loader may forward, what to
/// answer with, and the [`ServiceFilters`].
///
/// The HTTP face ([`ImageService`](crate::ImageService)) builds one per accepted URL and sends
/// it down its render stack. A host's own layers see it on the way (to audit, authorise or
/// route); a test or a host that renders without HTTP builds one with [`new`](Self::new).
///
/// # Example
///
/// ```
/// use imagor_tower::path;
/// use imagor_tower::render::{ImageRequest, Output};
///
/// let request = ImageRequest::new(path::parse("unsafe/meta/30x20/photo.jpg"));
/// assert_eq!(request.output(), Output::Meta);
/// assert_eq!(request.params().image, "photo.jpg");
/// assert_eq!(request.key(), "meta/30x20/photo.jpg");
/// ```
#[derive(Clone, Debug)]
pub struct ImageRequest {
    params: Params,
    headers: HeaderMap,
    output: Output,
    filters: ServiceFilters,
    upload: Option<Blob>,
    pub(crate) metrics: Option<Metrics>,
    pub(crate) admitted: Option<Arc<Admitted>>,
}

impl ImageRequest {
    /// A request for `params` as they are (their `path` is the key). What it answers with
    /// follows the params: [`Output::Meta`] for `meta/` URLs, [`Output::Raw`] for `raw()` of a
    /// loaded source, else [`Output::Image`].
    pub fn new(mut params: Params) -> Self {
        let filters = ServiceFilters::take(&mut params);
        Self::with_filters(params, filters)
    }

    /// A request for `params` whose service filters were already taken out.
    pub(crate) fn with_filters(params: Params, filters: ServiceFilters) -> Self {
        let output = if params.meta {
            Output::Meta
        } else if filters.raw && !processing::is_color_source(&params.image) {
            Output::Raw
        } else {
            Output::Image
        };
        Self {
            params,
            headers: HeaderMap::new(),
            output,
            filters,
            upload: None,
            metrics: None,
            admitted: None,
        }
    }

    /// The same request rendering `image`, an uploaded image (a `POST` body read by the
    /// [`UploadLoader`](crate::loader::UploadLoader)), instead of loading a source: the
    /// source stack (and so every storage) never sees it, and the request is not
    /// [cacheable](Self::is_cacheable).
    ///
    /// ```
    /// use imagor_tower::{Blob, path};
    /// use imagor_tower::render::ImageRequest;
    ///
    /// let request = ImageRequest::new(path::parse("unsafe/fit-in/20x20/"))
    ///     .with_upload(Blob::new(&b"\x89PNG\r\n\x1a\n..."[..]));
    /// assert!(request.upload().is_some());
    /// assert!(!request.is_cacheable());
    /// ```
    #[must_use]
    pub fn with_upload(mut self, image: Blob) -> Self {
        self.upload = Some(image);
        self
    }

    /// The uploaded image this request renders, if it is an upload.
    pub fn upload(&self) -> Option<&Blob> {
        self.upload.as_ref()
    }

    /// The same request carrying the client's `headers` (loaders forward some of them).
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// The canonical parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The canonical request path (no signature, no `unsafe/`): the key results are stored
    /// and identical requests are coalesced under.
    pub fn key(&self) -> &str {
        &self.params.path
    }

    /// The source image key, `params().image`.
    pub fn image(&self) -> &str {
        &self.params.image
    }

    /// The client's request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// What this request answers with.
    pub fn output(&self) -> Output {
        self.output
    }

    /// The filters the HTTP face acts on.
    pub fn service_filters(&self) -> &ServiceFilters {
        &self.filters
    }

    /// Whether the answer may be stored and shared: an [`Output::Image`] that is not a
    /// `preview()` nor an [upload](Self::with_upload). Result storage and coalescing pass
    /// other requests straight through.
    pub fn is_cacheable(&self) -> bool {
        self.output == Output::Image && !self.filters.preview && self.upload.is_none()
    }

    /// The metrics handle a [`MetricsLayer`](crate::metrics::MetricsLayer) above gave this
    /// request.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processing::filter::{self, FilterKind};

    #[test]
    fn the_service_filters_are_registered_as_such() {
        for name in ["expire", "max_age", "attachment", "raw", "preview"] {
            let spec = filter::lookup(name).unwrap_or_else(|| panic!("{name} is not registered"));
            assert_eq!(spec.kind(), FilterKind::Service, "{name}");
        }
    }

    #[test]
    fn expire_max_age_and_attachment_leave_the_key() {
        let mut params = crate::path::parse(
            "unsafe/filters:expire(100):max_age(5):attachment():raw():preview()/a.png",
        );
        let filters = ServiceFilters::take(&mut params);
        assert_eq!(filters.expire_ms(), Some(100));
        assert!(filters.expired_at(UNIX_EPOCH + Duration::from_secs(1)));
        assert!(!filters.expired_at(UNIX_EPOCH));
        assert_eq!(filters.attachment(), Some(""));
        assert!(filters.raw() && filters.preview());
        let left: Vec<_> = params.filters.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(left, ["raw", "preview"]);
    }
}
