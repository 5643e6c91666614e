//! Path text → [`Params`]: a hand-written scanner, no regular expressions.
//!
//! The grammar is a fixed sequence of optional segment kinds. Each kind gets one chance, in
//! order, to consume the next `/`-terminated segment; a kind that does not fit is skipped for
//! good. Whatever is left is the tail: an optional `filters:` list, then the image text.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::parse;
//!
//! // `stretch` must follow `fit-in`: out of order, `fit-in/...` is part of the image.
//! let p = parse("/unsafe/stretch/fit-in/100x100/img.jpg");
//! assert!(p.stretch && !p.fit_in);
//! assert_eq!(p.image, "fit-in/100x100/img.jpg");
//! ```

use std::borrow::Cow;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::escape::query_unescape_cow;
use super::params::{Filter, HAlign, Params, TrimBy, VAlign};

/// Shortest first segment read as a signature.
const MIN_HASH_LEN: usize = 17;

/// The one keyword made only of hash characters that is long enough to look like a hash.
const ADAPTIVE_FULL_FIT_IN: &str = "adaptive-full-fit-in";

/// base64url without padding, as Go's `RawURLEncoding`: `=` is rejected, stray trailing bits
/// are tolerated.
pub(crate) const B64_URL_NO_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Parses a request path into [`Params`]. Never fails and never panics: text
/// that fits no segment ends up in the image, exactly as imagor reads it.
///
/// The path is the raw, still percent-encoded request path without the query string. Leading
/// slashes, `params/`, and the signature segment (`unsafe` or a hash of 17 or more characters
/// from `A-Za-z0-9-_=`) come first; [`Params::path`] is everything after the signature.
///
/// One difference from imagor, which keeps image keys as raw bytes: an image whose
/// percent-decoding or `b64:` decoding yields bytes that are not UTF-8 is kept in its encoded
/// form (as if decoding had failed), since [`Params::image`] is a `String`.
///
/// # Example
///
/// ```
/// use imagor_tower::path::{parse, HAlign};
///
/// let p = parse("/unsafe/fit-in/300x200/left/filters:quality(80)/photos/a%20b.jpg");
/// assert!(p.is_unsafe && p.fit_in);
/// assert_eq!((p.width, p.height), (300, 200));
/// assert_eq!(p.h_align, Some(HAlign::Left));
/// assert_eq!(p.filters[0].name, "quality");
/// assert_eq!(p.image, "photos/a b.jpg");
/// assert_eq!(p.path, "fit-in/300x200/left/filters:quality(80)/photos/a%20b.jpg");
///
/// let signed = parse("/Ks_rl-tHMYbG7D_F5gVNhOdI1lc=/300x200/photo.jpg");
/// assert_eq!(signed.hash, "Ks_rl-tHMYbG7D_F5gVNhOdI1lc=");
/// assert_eq!(signed.path, "300x200/photo.jpg");
/// ```
pub fn parse(path: &str) -> Params {
    let cleaned = delete_line_breaks(path);
    let mut params = Params::default();
    let mut rest = cleaned.trim_start_matches('/');
    if let Some(after) = rest.strip_prefix("params/") {
        params.params_endpoint = true;
        rest = after;
    }
    if let Some(after) = rest.strip_prefix("unsafe/") {
        params.is_unsafe = true;
        rest = after;
    } else if let Some((first, after)) = rest.split_once('/')
        && is_hash(first)
    {
        params.hash = first.to_owned();
        rest = after;
    }
    params.path = rest.to_owned();
    apply_rest(&mut params, rest);
    params
}

/// Parses a rest-path: the part of a URL after the signature segment, with an
/// optional leading `/` and no signature detection. This is the grammar of the nested image
/// path of the `image()` filter and of configured base params.
///
/// [`Params::path`] is set to the given text (after line-break deletion).
///
/// # Example
///
/// ```
/// use imagor_tower::path::parse_rest;
///
/// let nested = parse_rest("/50x50/filters:grayscale()/gopher-front.png");
/// assert_eq!((nested.width, nested.height), (50, 50));
/// assert_eq!(nested.filters[0].name, "grayscale");
/// assert_eq!(nested.image, "gopher-front.png");
///
/// // No signature detection: a long first segment stays part of the image.
/// assert_eq!(parse_rest("my-very-long-folder-name/a.png").image, "my-very-long-folder-name/a.png");
/// ```
pub fn parse_rest(path: &str) -> Params {
    let cleaned = delete_line_breaks(path);
    let mut params = Params {
        path: cleaned.as_ref().to_owned(),
        ..Params::default()
    };
    apply_rest(&mut params, &cleaned);
    params
}

/// Splits a filter's argument text on commas outside parentheses.
///
/// Empty arguments in the middle are kept, a trailing empty argument is dropped, and empty
/// text gives no arguments.
///
/// # Example
///
/// ```
/// use imagor_tower::path::split_args;
///
/// assert_eq!(split_args("/50x50/filters:fill(red)/a.png,10,10"), ["/50x50/filters:fill(red)/a.png", "10", "10"]);
/// assert_eq!(split_args("image(a,b),x"), ["image(a,b)", "x"]);
/// assert_eq!(split_args("a,,b"), ["a", "", "b"]);
/// assert_eq!(split_args("a,b,"), ["a", "b"]);
/// assert!(split_args("").is_empty());
/// ```
pub fn split_args(args: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth: isize = 0;
    let mut start = 0;
    for (i, b) in args.bytes().enumerate() {
        match b {
            b'(' => depth = depth.saturating_add(1),
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                out.push(args.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < args.len() {
        out.push(args.get(start..).unwrap_or_default());
    }
    out
}

/// Control characters as imagor strips them: CR, LF, VT, FF, NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are deleted.
fn delete_line_breaks(s: &str) -> Cow<'_, str> {
    fn is_break(c: char) -> bool {
        matches!(
            c,
            '\r' | '\n' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    }
    if s.contains(is_break) {
        Cow::Owned(s.chars().filter(|&c| !is_break(c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// A signature segment: 17 or more characters of `A-Za-z0-9-_=`, except the `adaptive-full-fit-in`
/// keyword.
fn is_hash(segment: &str) -> bool {
    segment.len() >= MIN_HASH_LEN
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
        && segment != ADAPTIVE_FULL_FIT_IN
}

/// Reads the segments of a rest-path into `params`, leaving `params.path` alone.
fn apply_rest(params: &mut Params, rest: &str) {
    // Without presets nothing can fail: a `preset:` segment is part of the image.
    let _ = read_rest::<std::convert::Infallible>(params, rest, None);
}

/// What [`read_rest`] met besides the fields it set.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RestSummary {
    /// `preset:` segments expanded.
    pub(super) presets: usize,
    /// Whether any option segment or a `filters:` list was written in the path itself.
    pub(super) options: bool,
}

/// Expands the segments at the cursor that stand for others (presets); returns how many.
pub(super) type ExpandHook<'h, E> =
    &'h mut dyn FnMut(&mut Cursor<'_>, &mut Params) -> Result<usize, E>;

/// Reads the segments of a rest-path into `params`, leaving `params.path` alone. With a
/// hook, the hook is offered the cursor before each segment kind and before the filters, so
/// that a `preset:NAME` segment is expanded where it stands (see
/// [`Presets`](super::Presets)).
pub(super) fn read_rest<E>(
    params: &mut Params,
    rest: &str,
    mut hook: Option<ExpandHook<'_, E>>,
) -> Result<RestSummary, E> {
    let mut summary = RestSummary::default();
    let mut cursor = Cursor {
        rest: rest.trim_start_matches('/'),
    };
    let mut expand = |cursor: &mut Cursor<'_>, params: &mut Params| -> Result<(), E> {
        if let Some(hook) = hook.as_mut() {
            summary.presets += hook(cursor, params)?;
        }
        Ok(())
    };
    let mut options = false;
    expand(&mut cursor, params)?;
    if cursor.take(|s| (s == "meta").then_some(())).is_some() {
        params.meta = true;
        options = true;
    }
    expand(&mut cursor, params)?;
    if let Some((by, tolerance)) = cursor.take(parse_trim) {
        params.trim = true;
        params.trim_by = Some(by);
        params.trim_tolerance = tolerance;
        options = true;
    }
    expand(&mut cursor, params)?;
    if let Some([left, top, right, bottom]) = cursor.take(parse_crop) {
        params.crop_left = left;
        params.crop_top = top;
        params.crop_right = right;
        params.crop_bottom = bottom;
        options = true;
    }
    expand(&mut cursor, params)?;
    if let Some((adaptive, full)) = cursor.take(parse_fit_in) {
        params.fit_in = true;
        params.adaptive_fit_in = adaptive;
        params.full_fit_in = full;
        options = true;
    }
    expand(&mut cursor, params)?;
    if cursor.take(|s| (s == "stretch").then_some(())).is_some() {
        params.stretch = true;
        options = true;
    }
    expand(&mut cursor, params)?;
    if let Some(size) = cursor.take(parse_size) {
        params.h_flip = size.h_flip;
        params.width = size.width;
        params.v_flip = size.v_flip;
        params.height = size.height;
        options = true;
    }
    expand(&mut cursor, params)?;
    if let Some([left, top, right, bottom]) = cursor.take(parse_padding) {
        params.padding_left = left;
        params.padding_top = top;
        params.padding_right = right;
        params.padding_bottom = bottom;
        options = true;
    }
    expand(&mut cursor, params)?;
    if let Some(align) = cursor.take(|s| match s {
        "left" => Some(HAlign::Left),
        "right" => Some(HAlign::Right),
        "center" => Some(HAlign::Center),
        _ => None,
    }) {
        params.h_align = Some(align);
        options = true;
    }
    expand(&mut cursor, params)?;
    if let Some(align) = cursor.take(|s| match s {
        "top" => Some(VAlign::Top),
        "bottom" => Some(VAlign::Bottom),
        "middle" => Some(VAlign::Middle),
        _ => None,
    }) {
        params.v_align = Some(align);
        options = true;
    }
    expand(&mut cursor, params)?;
    if cursor.take(|s| (s == "smart").then_some(())).is_some() {
        params.smart = true;
        options = true;
    }
    expand(&mut cursor, params)?;
    let image_text = match cursor.rest.strip_prefix("filters:") {
        Some(list) => {
            options = true;
            scan_filters(list, &mut params.filters)
        }
        None => cursor.rest,
    };
    if !image_text.is_empty() {
        let (image, base64) = decode_image(image_text);
        params.image = image;
        params.base64_image = base64;
    }
    summary.options = options;
    Ok(summary)
}

/// The unparsed remainder of a rest-path.
pub(super) struct Cursor<'a> {
    pub(super) rest: &'a str,
}

impl<'a> Cursor<'a> {
    /// Offers the next `/`-terminated segment to `kind`; consumes it when `kind` accepts it.
    pub(super) fn take<T>(&mut self, kind: impl FnOnce(&'a str) -> Option<T>) -> Option<T> {
        let (segment, after) = self.rest.split_once('/')?;
        let value = kind(segment)?;
        self.rest = after;
        Some(value)
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A run of ASCII digits as an `i64`; a number too large for it reads as 0.
fn digits_value(s: &str) -> i64 {
    s.parse().unwrap_or(0)
}

/// `trim`, `trim:top-left`, `trim:bottom-right`, each optionally followed by `:DIGITS`.
fn parse_trim(segment: &str) -> Option<(TrimBy, i64)> {
    let rest = segment.strip_prefix("trim")?;
    let (by, rest) = if let Some(r) = rest.strip_prefix(":top-left") {
        (TrimBy::TopLeft, r)
    } else if let Some(r) = rest.strip_prefix(":bottom-right") {
        (TrimBy::BottomRight, r)
    } else {
        (TrimBy::TopLeft, rest)
    };
    if rest.is_empty() {
        return Some((by, 0));
    }
    let digits = rest.strip_prefix(':').filter(|d| all_digits(d))?;
    Some((by, digits_value(digits)))
}

/// `lt "x" lt ":" rb "x" rb`.
fn parse_crop(segment: &str) -> Option<[f64; 4]> {
    let (left_top, right_bottom) = segment.split_once(':')?;
    let (left, top) = left_top.split_once('x')?;
    let (right, bottom) = right_bottom.split_once('x')?;
    Some([
        crop_number(left, false)?,
        crop_number(top, false)?,
        crop_number(right, true)?,
        crop_number(bottom, true)?,
    ])
}

/// `[ [ "0" ] "." ] DIGITS`, or with `allow_one` also `"1." DIGITS`. A value too large to be
/// finite reads as 0.
fn crop_number(s: &str, allow_one: bool) -> Option<f64> {
    let fraction = match s.split_once('.') {
        None => s,
        Some(("" | "0", fraction)) => fraction,
        Some(("1", fraction)) if allow_one => fraction,
        Some(_) => return None,
    };
    if !all_digits(fraction) {
        return None;
    }
    let value: f64 = s.parse().ok()?;
    Some(if value.is_finite() { value } else { 0.0 })
}

/// The four fit-in keywords as `(adaptive, full)`.
fn parse_fit_in(segment: &str) -> Option<(bool, bool)> {
    match segment {
        "fit-in" => Some((false, false)),
        "full-fit-in" => Some((false, true)),
        "adaptive-fit-in" => Some((true, false)),
        ADAPTIVE_FULL_FIT_IN => Some((true, true)),
        _ => None,
    }
}

struct Size {
    h_flip: bool,
    width: i64,
    v_flip: bool,
    height: i64,
}

/// `[ "-" ] *DIGIT "x" [ "-" ] *DIGIT`.
fn parse_size(segment: &str) -> Option<Size> {
    fn side(s: &str) -> Option<(bool, i64)> {
        let (flip, digits) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s),
        };
        if digits.is_empty() {
            Some((flip, 0))
        } else if all_digits(digits) {
            Some((flip, digits_value(digits)))
        } else {
            None
        }
    }
    let (w, h) = segment.split_once('x')?;
    let (h_flip, width) = side(w)?;
    let (v_flip, height) = side(h)?;
    Some(Size {
        h_flip,
        width,
        v_flip,
        height,
    })
}

/// `DIGITS "x" DIGITS [ ":" DIGITS "x" DIGITS ]` as `[left, top, right, bottom]`.
fn parse_padding(segment: &str) -> Option<[i64; 4]> {
    fn pair(s: &str) -> Option<(i64, i64)> {
        let (a, b) = s.split_once('x')?;
        (all_digits(a) && all_digits(b)).then(|| (digits_value(a), digits_value(b)))
    }
    match segment.split_once(':') {
        None => {
            let (left, top) = pair(segment)?;
            Some([left, top, left, top])
        }
        Some((first, second)) => {
            let (left, top) = pair(first)?;
            let (right, bottom) = pair(second)?;
            Some([left, top, right, bottom])
        }
    }
}

/// The `filters:` scanner (`name(args)` separated by `:`, parentheses nesting), given the text after `filters:`. Appends the
/// filters and returns the image text (empty when there is none).
///
/// Parentheses are tracked with a signed depth, as imagor does: an unmatched `)` takes the
/// depth below zero, and until it is balanced again `(`, `)`, `:` and `/` are plain text.
/// The text collected since the last reset is always one contiguous slice, so the scanner
/// only keeps the index where it starts.
fn scan_filters<'a>(list: &'a str, filters: &mut Vec<Filter>) -> &'a str {
    let mut depth: isize = 0;
    let mut start = 0;
    let mut name = "";
    let mut args = "";
    let slice = |from: usize, to: usize| list.get(from..to).unwrap_or_default();
    for (i, c) in list.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    name = slice(start, i);
                    start = i + 1;
                }
                depth = depth.saturating_add(1);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    args = slice(start, i);
                    start = i + 1;
                }
            }
            ':' if depth == 0 => {
                filters.push(Filter::new(name, args));
                name = "";
                args = "";
                start = i + 1;
            }
            '/' if depth == 0 => {
                if !name.is_empty() {
                    filters.push(Filter::new(name, args));
                }
                return list.get(i + 1..).unwrap_or_default();
            }
            _ => {}
        }
    }
    if !name.is_empty() {
        filters.push(Filter::new(name, args));
    }
    ""
}

/// The image text's decoding: query-style percent-decoding (kept raw when malformed), then
/// `b64:` base64url without padding. Returns the image and whether it was base64.
///
/// Decoded base64 that is not UTF-8 counts as a failed decode (the text is kept, `b64:`
/// included), since an image key is text here.
fn decode_image(text: &str) -> (String, bool) {
    let text = query_unescape_cow(text).unwrap_or(Cow::Borrowed(text));
    if let Some(encoded) = text.strip_prefix("b64:")
        && let Some(decoded) = decode_b64(encoded)
    {
        return (decoded, true);
    }
    (text.into_owned(), false)
}

fn decode_b64(encoded: &str) -> Option<String> {
    let bytes = if encoded.contains(['\r', '\n']) {
        let kept: Vec<u8> = encoded
            .bytes()
            .filter(|b| !matches!(b, b'\r' | b'\n'))
            .collect();
        B64_URL_NO_PAD.decode(kept)
    } else {
        B64_URL_NO_PAD.decode(encoded)
    };
    String::from_utf8(bytes.ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_spellings() {
        assert_eq!(parse_crop("12x.25:0.9x1.5"), Some([12.0, 0.25, 0.9, 1.5]));
        assert_eq!(parse_crop("0.1x0.1:10x10"), Some([0.1, 0.1, 10.0, 10.0]));
        for bad in [
            "1.5x0:1x1",
            "10.5x10:20x20",
            "00.5x0:1x1",
            "1x1:2.5x1",
            "1x1:1.x1",
            "1x1:1x",
            "x1:1x1",
            "1x1x1:1x1",
            "1x1:1x1:1x1",
            "-1x1:1x1",
            "1e3x1:1x1",
        ] {
            assert_eq!(parse_crop(bad), None, "{bad}");
        }
        let huge = format!("{}x0:0x0", "9".repeat(400));
        assert_eq!(parse_crop(&huge), Some([0.0; 4]));
    }

    #[test]
    fn trim_spellings() {
        assert_eq!(parse_trim("trim"), Some((TrimBy::TopLeft, 0)));
        assert_eq!(
            parse_trim("trim:bottom-right"),
            Some((TrimBy::BottomRight, 0))
        );
        assert_eq!(parse_trim("trim:top-left:7"), Some((TrimBy::TopLeft, 7)));
        assert_eq!(parse_trim("trim:50"), Some((TrimBy::TopLeft, 50)));
        for bad in [
            "trim:",
            "trim:50:bottom-right",
            "trim:top-left:",
            "trimx",
            "trim:x",
            "trim:-1",
        ] {
            assert_eq!(parse_trim(bad), None, "{bad}");
        }
    }

    #[test]
    fn size_and_padding() {
        let s = parse_size("-0x-0").expect("flip-only size");
        assert!(s.h_flip && s.v_flip && s.width == 0 && s.height == 0);
        let s = parse_size("99999999999999999999x10").expect("oversized size");
        assert_eq!((s.width, s.height), (0, 10));
        assert!(parse_size("x").is_some());
        assert!(parse_size("--1x1").is_none());
        assert!(parse_size("1x1x1").is_none());
        assert!(parse_size("origx100").is_none());
        assert_eq!(parse_padding("5x6"), Some([5, 6, 5, 6]));
        assert_eq!(parse_padding("1x2:3x4"), Some([1, 2, 3, 4]));
        assert_eq!(parse_padding("x2"), None);
        assert_eq!(parse_padding("1x2:3x"), None);
    }

    #[test]
    fn hash_rule() {
        assert!(is_hash("Ks_rl-tHMYbG7D_F5gVNhOdI1lc="));
        assert!(is_hash("99999999x99999999"));
        assert!(!is_hash("9999999x99999999"));
        assert!(!is_hash(ADAPTIVE_FULL_FIT_IN));
        assert!(!is_hash("my.very.long.folder.name"));
    }

    #[test]
    fn filter_scanner_depth_goes_negative() {
        let mut filters = Vec::new();
        // The stray `)` unbalances the list, so `/`, `(` and `)` are text from there on: no
        // image, and `c(2)` never becomes a filter.
        assert_eq!(scan_filters("a(1)b)/c(2)", &mut filters), "");
        assert_eq!(filters, [Filter::new("a", "1")]);
        let mut filters = Vec::new();
        assert_eq!(scan_filters("a(b(c)d)e:f(g)/img", &mut filters), "img");
        assert_eq!(filters, [Filter::new("a", "b(c)d"), Filter::new("f", "g")]);
    }

    #[test]
    fn line_breaks_are_deleted() {
        let p = parse("/unsafe/\r\n300x\u{2028}200/a\u{85}b.jpg");
        assert_eq!((p.width, p.height), (300, 200));
        assert_eq!(p.image, "ab.jpg");
        assert_eq!(p.path, "300x200/ab.jpg");
    }

    #[test]
    fn b64_is_decoded_after_unescaping() {
        assert_eq!(decode_image("b64%3AaGVsbG8"), ("hello".to_owned(), true));
        assert_eq!(decode_image("b64:aGVs\nbG8"), ("hello".to_owned(), true));
        // 0xff is not UTF-8: the text is kept.
        assert_eq!(decode_image("b64:_w"), ("b64:_w".to_owned(), false));
        // Trailing bits are tolerated, as Go's decoder does.
        assert_eq!(decode_image("b64:aGVsbG9"), ("hello".to_owned(), true));
    }
}
