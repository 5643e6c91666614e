//! Response headers: caching (`Cache-Control`, `Expires`, their per-request overrides),
//! validators and conditional requests, content disposition, and imagor's error body.

use crate::Error;
use crate::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long clients and caches may keep successful responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CachePolicy {
    pub(crate) ttl: Duration,
    pub(crate) swr: Duration,
    pub(crate) no_cache: bool,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(7 * 24 * 3600),
            swr: Duration::from_secs(24 * 3600),
            no_cache: false,
        }
    }
}

/// Per-request inputs to the cache headers, taken from the utility filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheOverrides {
    /// `max_age(s)`: the last valid one.
    pub(crate) max_age: Option<u64>,
    /// `expire(ms)`: the earliest one, as Unix milliseconds.
    pub(crate) expire_ms: Option<i64>,
}

/// Computes `Cache-Control` and `Expires` for a success at time `now`.
pub(crate) fn cache_headers(
    policy: &CachePolicy,
    overrides: &CacheOverrides,
    request: &HeaderMap,
    now: SystemTime,
) -> (String, String) {
    let mut ttl: i64 = if policy.no_cache {
        0
    } else {
        i64::try_from(policy.ttl.as_secs()).unwrap_or(i64::MAX)
    };
    if let Some(max_age) = overrides.max_age {
        ttl = i64::try_from(max_age).unwrap_or(i64::MAX);
    }
    let mut private = request_cache_control_has(request, "private");
    if let Some(expire_ms) = overrides.expire_ms {
        let now_ms = unix_millis(now);
        let remaining_ms = expire_ms.saturating_sub(now_ms);
        // Rounded up to whole seconds.
        let remaining = remaining_ms.saturating_add(999).div_euclid(1000);
        ttl = ttl.min(remaining);
        private = true;
    }
    if ttl < 0 || request_cache_control_has(request, "no-cache") {
        ttl = 0;
    }
    let ttl_secs = u64::try_from(ttl).unwrap_or(0);
    let expires =
        httpdate::fmt_http_date(now + Duration::from_secs(ttl_secs.min(10 * 365 * 86400)));
    if ttl_secs == 0 {
        return (
            "private, no-cache, no-store, must-revalidate".to_owned(),
            expires,
        );
    }
    let mut value = if private {
        "private".to_owned()
    } else {
        format!("public, s-maxage={ttl_secs}")
    };
    value.push_str(&format!(", max-age={ttl_secs}, no-transform"));
    let swr = policy.swr.as_secs();
    if swr > 0 && swr < ttl_secs {
        value.push_str(&format!(", stale-while-revalidate={swr}"));
    }
    (value, expires)
}

fn request_cache_control_has(request: &HeaderMap, directive: &str) -> bool {
    request
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(directive))
}

pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// `Content-Disposition` for `attachment(name)`: the name defaults to the image key's last
/// segment, `"` is written as `%22`, and the output extension is appended unless present.
pub(crate) fn attachment_disposition(name: &str, image: &str, extension: &str) -> String {
    let mut name = if name.is_empty() {
        image.rsplit('/').next().unwrap_or(image).to_owned()
    } else {
        name.to_owned()
    };
    let lower = name.to_ascii_lowercase();
    let has_ext = lower.ends_with(&format!(".{extension}"))
        || (extension == "jpg" && lower.ends_with(".jpeg"))
        || (extension == "jpeg" && lower.ends_with(".jpg"));
    if !has_ext {
        name.push('.');
        name.push_str(extension);
    }
    let name: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c == '"' {
                "%22".to_owned()
            } else {
                c.to_string()
            }
        })
        .collect();
    format!("attachment; filename=\"{name}\"")
}

/// The file extension for a content type, for `attachment()` names.
pub(crate) fn extension_for(content_type: &str) -> &str {
    let subtype = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .rsplit('/')
        .next()
        .unwrap_or("");
    match subtype {
        "jpeg" => "jpg",
        "svg+xml" => "svg",
        "" => "bin",
        other => other,
    }
}

/// A strong entity tag for a response body: the same bytes always get the same tag, whether
/// they were just rendered or read back from result storage.
pub(crate) fn etag_of(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    let digest = sha1::Sha1::digest(bytes);
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// RFC 9110 §13.2.2 evaluation of the conditional headers for a GET or HEAD of a
/// representation with `etag` and `modified`: `Some(412)` when a precondition fails,
/// `Some(304)` when the client's copy is current, `None` to send the body.
pub(crate) fn evaluate_preconditions(
    request: &HeaderMap,
    etag: &str,
    modified: SystemTime,
) -> Option<StatusCode> {
    let modified_secs = unix_millis(modified).div_euclid(1000);
    let header_date = |name: header::HeaderName| {
        request
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(|t| unix_millis(t).div_euclid(1000))
    };
    // 1. If-Match (strong comparison), else 2. If-Unmodified-Since.
    if let Some(if_match) = header_list(request, header::IF_MATCH) {
        if !if_match
            .iter()
            .any(|tag| tag == "*" || strong_eq(tag, etag))
        {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(since) = header_date(header::IF_UNMODIFIED_SINCE)
        && modified_secs > since
    {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    // 3. If-None-Match (weak comparison), else 4. If-Modified-Since.
    if let Some(if_none_match) = header_list(request, header::IF_NONE_MATCH) {
        if if_none_match
            .iter()
            .any(|tag| tag == "*" || weak_eq(tag, etag))
        {
            return Some(StatusCode::NOT_MODIFIED);
        }
    } else if let Some(since) = header_date(header::IF_MODIFIED_SINCE)
        && modified_secs <= since
    {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

/// The comma-separated entity tags of a header, or `None` when it is absent.
fn header_list(request: &HeaderMap, name: header::HeaderName) -> Option<Vec<String>> {
    let values: Vec<&HeaderValue> = request.get_all(name).iter().collect();
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect(),
    )
}

fn opaque(tag: &str) -> (bool, &str) {
    match tag.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, tag),
    }
}

fn strong_eq(a: &str, b: &str) -> bool {
    let (weak_a, a) = opaque(a);
    let (weak_b, b) = opaque(b);
    !weak_a && !weak_b && a == b
}

fn weak_eq(a: &str, b: &str) -> bool {
    opaque(a).1 == opaque(b).1
}

/// The error response: imagor's JSON body (or nothing), no cache headers.
pub(crate) fn error_response(err: &Error, disable_body: bool, head: bool) -> Response<Body> {
    let status = err.status();
    let empty = disable_body || status == StatusCode::METHOD_NOT_ALLOWED;
    let body = if empty { String::new() } else { err.to_json() };
    let mut builder = Response::builder().status(status);
    if !empty {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder = builder.header(header::CONTENT_LENGTH, body.len());
    let body = if head {
        Body::empty()
    } else {
        Body::from(body)
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// Builds a 200 response with `content_type` and `bytes` (headers only for HEAD).
pub(crate) fn bytes_response(
    content_type: &str,
    bytes: bytes::Bytes,
    head: bool,
) -> Response<Body> {
    let length = bytes.len();
    let mut res = Response::new(if head {
        Body::empty()
    } else {
        Body::from(bytes)
    });
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn policy(ttl: u64, swr: u64) -> CachePolicy {
        CachePolicy {
            ttl: Duration::from_secs(ttl),
            swr: Duration::from_secs(swr),
            no_cache: false,
        }
    }

    #[test]
    fn imagor_cache_control_examples() {
        let none = HeaderMap::new();
        let now = at(1_700_000_000);
        let cc = |p: &CachePolicy, o: &CacheOverrides, h: &HeaderMap| cache_headers(p, o, h, now).0;
        assert_eq!(
            cc(&CachePolicy::default(), &CacheOverrides::default(), &none),
            "public, s-maxage=604800, max-age=604800, no-transform, stale-while-revalidate=86400"
        );
        assert_eq!(
            cc(&policy(169, 167), &CacheOverrides::default(), &none),
            "public, s-maxage=169, max-age=169, no-transform, stale-while-revalidate=167"
        );
        let mut private = HeaderMap::new();
        private.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
        assert_eq!(
            cc(&policy(169, 167), &CacheOverrides::default(), &private),
            "private, max-age=169, no-transform, stale-while-revalidate=167"
        );
        assert_eq!(
            cc(&policy(169, 169), &CacheOverrides::default(), &none),
            "public, s-maxage=169, max-age=169, no-transform"
        );
        let no_cache = CachePolicy {
            no_cache: true,
            ..CachePolicy::default()
        };
        assert_eq!(
            cc(&no_cache, &CacheOverrides::default(), &none),
            "private, no-cache, no-store, must-revalidate"
        );
        let max_age = |s| CacheOverrides {
            max_age: Some(s),
            expire_ms: None,
        };
        assert_eq!(
            cc(&policy(169, 167), &max_age(60), &none),
            "public, s-maxage=60, max-age=60, no-transform"
        );
        assert_eq!(
            cc(&policy(169, 169), &max_age(300), &none),
            "public, s-maxage=300, max-age=300, no-transform, stale-while-revalidate=169"
        );
        assert_eq!(
            cc(&policy(169, 169), &max_age(0), &none),
            "private, no-cache, no-store, must-revalidate"
        );
        let now_ms = unix_millis(now);
        let expire = |o: Option<u64>, ms: i64| CacheOverrides {
            max_age: o,
            expire_ms: Some(now_ms + ms),
        };
        assert_eq!(
            cc(&policy(169, 167), &expire(None, 1000), &none),
            "private, max-age=1, no-transform"
        );
        assert_eq!(
            cc(&policy(169, 169), &expire(Some(300), 170_000), &none),
            "private, max-age=170, no-transform, stale-while-revalidate=169"
        );
    }

    #[test]
    fn expires_is_now_plus_ttl() {
        let (_, expires) = cache_headers(
            &policy(60, 0),
            &CacheOverrides::default(),
            &HeaderMap::new(),
            at(0),
        );
        assert_eq!(expires, "Thu, 01 Jan 1970 00:01:00 GMT");
    }

    #[test]
    fn attachment_names() {
        assert_eq!(
            attachment_disposition("", "a/b/photo.png", "jpg"),
            "attachment; filename=\"photo.png.jpg\""
        );
        assert_eq!(
            attachment_disposition("x.jpeg", "photo.png", "jpg"),
            "attachment; filename=\"x.jpeg\""
        );
        assert_eq!(
            attachment_disposition("say\"hi\"", "p.png", "png"),
            "attachment; filename=\"say%22hi%22.png\""
        );
    }

    #[test]
    fn preconditions_follow_rfc_9110() {
        let etag = "\"abc\"";
        let modified = at(1_700_000_000);
        let check = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (name, value) in pairs {
                h.append(
                    header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            evaluate_preconditions(&h, etag, modified).map(|s| s.as_u16())
        };
        let same = httpdate::fmt_http_date(modified);
        let earlier = httpdate::fmt_http_date(at(1_600_000_000));
        let later = httpdate::fmt_http_date(at(1_800_000_000));
        assert_eq!(check(&[]), None);
        assert_eq!(check(&[("if-none-match", "\"abc\"")]), Some(304));
        assert_eq!(check(&[("if-none-match", "W/\"abc\"")]), Some(304));
        assert_eq!(check(&[("if-none-match", "\"x\", \"abc\"")]), Some(304));
        assert_eq!(check(&[("if-none-match", "*")]), Some(304));
        assert_eq!(check(&[("if-none-match", "\"x\"")]), None);
        // If-None-Match takes priority over If-Modified-Since.
        assert_eq!(
            check(&[("if-none-match", "\"x\""), ("if-modified-since", &later)]),
            None
        );
        assert_eq!(check(&[("if-modified-since", &same)]), Some(304));
        assert_eq!(check(&[("if-modified-since", &later)]), Some(304));
        assert_eq!(check(&[("if-modified-since", &earlier)]), None);
        assert_eq!(check(&[("if-unmodified-since", &earlier)]), Some(412));
        assert_eq!(check(&[("if-unmodified-since", &same)]), None);
        assert_eq!(check(&[("if-match", "\"abc\"")]), None);
        assert_eq!(check(&[("if-match", "W/\"abc\"")]), Some(412));
        assert_eq!(check(&[("if-match", "\"x\"")]), Some(412));
    }

    #[test]
    fn error_bodies() {
        let res = error_response(&Error::NotFound, false, false);
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let res = error_response(&Error::MethodNotAllowed, false, false);
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()[header::CONTENT_LENGTH], "0");
        let res = error_response(&Error::NotFound, true, false);
        assert_eq!(res.headers()[header::CONTENT_LENGTH], "0");
    }
}
