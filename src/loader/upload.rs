//! [`UploadLoader`]: the image sent in the body of a `POST` (imagor's upload loader).
//!
//! The HTTP face ([`ImageService::upload_loader`](crate::ImageService::upload_loader)) turns
//! an accepted `POST` into an [`Upload`] (the request's headers and its unread body) and asks
//! the loader for the image; the image then travels in the
//! [`ImageRequest`](crate::render::ImageRequest) to the render core in place of a source key.
//! Uploads never reach the source stack, so storages never see them, and they are neither
//! stored as results nor coalesced with other requests.
//!
//! The loader reads the body as it arrives and stops at the limit: a body whose
//! `Content-Length` is over it is refused before a byte is read, and a streamed one as soon as
//! the limit is crossed (413 `maximum size exceeded`). A `multipart/form-data` body carries
//! the image in one field ([`form_field_name`](UploadLoader::form_field_name), `image` by
//! default); its envelope (boundaries, part headers, other small fields) may add up to 64 KiB
//! on top of the limit. Any other content type means the body is the image. The type the
//! bytes really have (not the declared one) must be one of
//! [`accept`](UploadLoader::accept), else 406 `unsupported format`.
//!
//! The face reads the body once the path is accepted (its signature checked), within the
//! request timeout and before the request waits for admission; at most the limit is held per
//! upload.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use imagor_tower::loader::{Upload, UploadLoader};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let loader = UploadLoader::new().max_size(1024).accept(["image/png"]);
//! let mut headers = http::HeaderMap::new();
//! headers.insert("content-type", "application/octet-stream".parse().unwrap());
//! let png = Full::new(Bytes::from_static(b"\x89PNG\r\n\x1a\n rest of the file"));
//!
//! let blob = loader.clone().oneshot(Upload::new(headers.clone(), png)).await.unwrap();
//! assert_eq!(blob.content_type(), Some("image/png"));
//!
//! let too_big = Full::new(Bytes::from(vec![0_u8; 2048]));
//! let err = loader.oneshot(Upload::new(headers, too_big)).await.unwrap_err();
//! assert_eq!(err.status(), 413);
//! # });
//! ```

use super::file::sniff_content_type;
use crate::error::BoxError;
use crate::{Blob, Error};
use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::task::{Context, Poll};
use tower::Service;

/// The default largest upload: 32 MiB, as imagor's `UPLOAD_LOADER_MAX_ALLOWED_SIZE`.
///
/// ```
/// assert_eq!(imagor_tower::loader::DEFAULT_UPLOAD_MAX_SIZE, 32 << 20);
/// ```
pub const DEFAULT_UPLOAD_MAX_SIZE: u64 = 32 << 20;

/// What a `multipart/form-data` envelope may add to the limit: boundaries, part headers and
/// small fields beside the image.
const MULTIPART_ENVELOPE: u64 = 64 << 10;

/// Largest header block of one multipart part.
const MAX_PART_HEADERS: usize = 8 << 10;

/// Reads uploaded images from `POST` bodies. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct UploadLoader {
    max_size: u64,
    accept: Vec<String>,
    field: String,
}

impl Default for UploadLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl UploadLoader {
    /// imagor's defaults: at most [`DEFAULT_UPLOAD_MAX_SIZE`], `image/*` only, the multipart
    /// field `image`.
    pub fn new() -> Self {
        Self {
            max_size: DEFAULT_UPLOAD_MAX_SIZE,
            accept: vec!["image/*".to_owned()],
            field: "image".to_owned(),
        }
    }

    /// The largest upload in bytes (`UPLOAD_LOADER_MAX_ALLOWED_SIZE`); `0` is no limit.
    #[must_use]
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = if bytes == 0 { u64::MAX } else { bytes };
        self
    }

    /// The media types accepted (`UPLOAD_LOADER_ACCEPT`): `type/subtype`, `type/*` or `*/*`,
    /// compared with the type recognised from the bytes. An empty list accepts anything.
    ///
    /// ```
    /// use imagor_tower::loader::UploadLoader;
    ///
    /// let loader = UploadLoader::new().accept(["image/png", "image/webp"]);
    /// assert!(loader.accepts("image/png"));
    /// assert!(!loader.accepts("image/gif"));
    /// assert!(UploadLoader::new().accepts("image/gif"));
    /// assert!(!UploadLoader::new().accepts("application/octet-stream"));
    /// ```
    #[must_use]
    pub fn accept<I>(mut self, media_types: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.accept = media_types
            .into_iter()
            .map(|t| media_type(t.as_ref()))
            .filter(|t| !t.is_empty())
            .collect();
        self
    }

    /// The multipart field that carries the image (`UPLOAD_LOADER_FORM_FIELD_NAME`).
    #[must_use]
    pub fn form_field_name(mut self, name: impl Into<String>) -> Self {
        self.field = name.into();
        self
    }

    /// Whether `content_type` (parameters ignored) is one of the accepted media types.
    pub fn accepts(&self, content_type: &str) -> bool {
        if self.accept.is_empty() {
            return true;
        }
        let actual = media_type(content_type);
        self.accept.iter().any(|accepted| {
            accepted == "*/*"
                || *accepted == actual
                || accepted.strip_suffix("/*").is_some_and(|family| {
                    actual
                        .strip_prefix(family)
                        .is_some_and(|rest| rest.starts_with('/'))
                })
        })
    }

    /// Reads `upload` into the uploaded image.
    async fn load(self, upload: Upload) -> Result<Blob, Error> {
        let content_type = upload
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::BadRequest("missing Content-Type header".to_owned()))?
            .to_owned();
        let multipart = media_type(&content_type) == "multipart/form-data";
        let limit = if multipart {
            self.max_size.saturating_add(MULTIPART_ENVELOPE)
        } else {
            self.max_size
        };
        let declared = upload
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = read_limited(upload.body, declared, limit).await?;
        let image = if multipart {
            let boundary = boundary(&content_type)
                .ok_or_else(|| multipart_error("no boundary in the Content-Type"))?;
            let part = form_file(&body, &boundary, &self.field)
                .map_err(|e| multipart_error(e.0))?
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "failed to get form file '{}': no such file",
                        self.field
                    ))
                })?;
            if part.len() as u64 > self.max_size {
                return Err(Error::UploadTooLarge);
            }
            part
        } else {
            body
        };
        let sniffed = sniff_content_type(&image).unwrap_or(super::FALLBACK_CONTENT_TYPE);
        if !self.accepts(sniffed) {
            return Err(Error::UnsupportedFormat);
        }
        Ok(Blob::new(image).with_content_type(sniffed))
    }
}

impl Service<Upload> for UploadLoader {
    type Response = Blob;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Blob, Error>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, upload: Upload) -> Self::Future {
        Box::pin(self.clone().load(upload))
    }
}

/// An uploaded request: its headers (`Content-Type`, `Content-Length`) and its body, not read
/// yet. The HTTP face makes one from each accepted `POST`.
pub struct Upload {
    headers: HeaderMap,
    body: UnsyncBoxBody<Bytes, BoxError>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Upload {
    /// The upload of a request with `headers` and `body`: any [`http_body::Body`] whose data
    /// and errors can cross threads (hyper's, axum's, or `http_body_util::Full` in tests).
    pub fn new<B>(headers: HeaderMap, body: B) -> Self
    where
        B: HttpBody + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let body = body
            .map_frame(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
            .map_err(Into::into)
            .boxed_unsync();
        Self { headers, body }
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

/// The media type of a `Content-Type` value or an accept entry: lower case, parameters and
/// spaces removed.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads `body` into memory, refusing it as soon as it is known to be over `limit` bytes:
/// from its declared length before reading, else when the bytes read cross it.
async fn read_limited(
    mut body: UnsyncBoxBody<Bytes, BoxError>,
    declared: Option<u64>,
    limit: u64,
) -> Result<Bytes, Error> {
    let hint = body.size_hint();
    let known = declared.or(hint.exact()).unwrap_or(hint.lower());
    if known > limit {
        return Err(Error::UploadTooLarge);
    }
    // Never reserve more than the limit, whatever the client declared.
    let mut buf = BytesMut::with_capacity(usize::try_from(known.min(limit)).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::BadRequest(format!("failed to read upload: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() as u64).saturating_add(data.len() as u64) > limit {
                return Err(Error::UploadTooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

fn multipart_error(reason: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!("failed to parse multipart form: {reason}"))
}

/// The `boundary` parameter of a `multipart/form-data` content type (1 to 70 characters).
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (1..=70).contains(&value.len()).then(|| value.to_owned())
    })
}

/// A malformed multipart body.
#[derive(Debug, PartialEq, Eq)]
struct Malformed(&'static str);

/// The content of the first part of the multipart `body` whose field name is `field`, or
/// `None` when no part has that name. Linear in the size of the body.
fn form_file(body: &Bytes, boundary: &str, field: &str) -> Result<Option<Bytes>, Malformed> {
    let delimiter = format!("--{boundary}");
    let first = memchr::memmem::Finder::new(delimiter.as_bytes());
    // Every delimiter after the first one starts a line.
    let next = format!("\r\n--{boundary}");
    let next = memchr::memmem::Finder::new(next.as_bytes());
    let header_end = memchr::memmem::Finder::new(b"\r\n\r\n");
    let mut pos = first.find(body).ok_or(Malformed("no opening boundary"))? + delimiter.len();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(None);
        }
        // Transport padding, then the end of the delimiter line.
        let padding = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err(Malformed("a boundary line does not end"));
        }
        let headers_start = pos + padding + 2;
        let (headers, content_start) = if body[headers_start..].starts_with(b"\r\n") {
            (&body[headers_start..headers_start], headers_start + 2)
        } else {
            let window = &body[headers_start..];
            let window = &window[..window.len().min(MAX_PART_HEADERS + 4)];
            let end = header_end
                .find(window)
                .ok_or(Malformed("a part's headers do not end"))?;
            (
                &body[headers_start..headers_start + end],
                headers_start + end + 4,
            )
        };
        let content_len = next
            .find(&body[content_start..])
            .ok_or(Malformed("a part does not end"))?;
        if part_name(headers)?.as_deref() == Some(field) {
            return Ok(Some(body.slice(content_start..content_start + content_len)));
        }
        pos = content_start + content_len + 2 + delimiter.len();
    }
}

/// The field name of a part, from its `Content-Disposition: form-data; name="..."` header.
fn part_name(headers: &[u8]) -> Result<Option<String>, Malformed> {
    let headers =
        std::str::from_utf8(headers).map_err(|_| Malformed("part headers are not UTF-8"))?;
    for line in headers.split("\r\n") {
        let (name, value) = line
            .split_once(':')
            .ok_or(Malformed("a part header has no colon"))?;
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        return Ok(disposition_param(value, "name"));
    }
    Ok(None)
}

/// The parameter `wanted` of a `Content-Disposition` value (quoted or not).
fn disposition_param(value: &str, wanted: &str) -> Option<String> {
    let mut rest = value;
    // The disposition type, then `; name=value` pairs; quoted values may hold `;`.
    let (_, after) = rest.split_once(';')?;
    rest = after;
    loop {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim();
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let after = &quoted[end?..];
            (value, after.split_once(';').map_or("", |(_, a)| a))
        } else {
            match after.split_once(';') {
                Some((v, a)) => (v.trim().to_owned(), a),
                None => (after.trim().to_owned(), ""),
            }
        };
        if name.eq_ignore_ascii_case(wanted) {
            return Some(value);
        }
        if after.trim().is_empty() {
            return None;
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n fake";

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    fn form(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = b"preamble\r\n".to_vec();
        for (name, content) in parts {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"a;b.png\"\r\nContent-Type: image/png\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        body
    }

    async fn load(loader: UploadLoader, headers: HeaderMap, body: Vec<u8>) -> Result<Blob, Error> {
        let body = http_body_util::Full::new(Bytes::from(body));
        loader.oneshot(Upload::new(headers, body)).await
    }

    #[tokio::test]
    async fn a_raw_body_is_the_image_whatever_its_declared_type() {
        let blob = load(UploadLoader::new(), headers("text/plain"), PNG.to_vec())
            .await
            .unwrap();
        assert_eq!(blob.bytes().as_ref(), PNG);
        assert_eq!(blob.content_type(), Some("image/png"));
    }

    #[tokio::test]
    async fn the_accept_list_checks_the_bytes() {
        let err = load(
            UploadLoader::new(),
            headers("image/png"),
            b"<html>".to_vec(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::UnsupportedFormat), "{err:?}");
        let only_gif = UploadLoader::new().accept(["image/gif"]);
        let err = load(only_gif, headers("image/gif"), PNG.to_vec())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 406);
        let anything = UploadLoader::new().accept(["*/*"]);
        assert!(
            load(anything, headers("x/y"), b"text".to_vec())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_missing_content_type_is_a_bad_request() {
        let err = load(UploadLoader::new(), HeaderMap::new(), PNG.to_vec())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "missing Content-Type header");
        assert_eq!(err.status(), 400);
    }

    #[tokio::test]
    async fn the_limit_holds_for_streamed_and_declared_bodies() {
        let loader = UploadLoader::new().max_size(PNG.len() as u64);
        assert!(
            load(loader.clone(), headers("a/b"), PNG.to_vec())
                .await
                .is_ok()
        );
        let err = load(loader.clone(), headers("a/b"), vec![0; PNG.len() + 1])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UploadTooLarge));
        // A declared length over the limit is refused before the body is read: this body
        // would fail if it were read.
        let mut declared = headers("a/b");
        declared.insert(CONTENT_LENGTH, (PNG.len() + 1).into());
        let failing = http_body_util::StreamBody::new(futures::stream::once(async {
            Err::<http_body::Frame<Bytes>, BoxError>("never read".into())
        }));
        let err = loader
            .oneshot(Upload::new(declared, failing))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UploadTooLarge), "{err:?}");
    }

    #[tokio::test]
    async fn a_streamed_body_stops_at_the_limit() {
        // Chunks without end: reading must stop once the limit is crossed.
        let endless = http_body_util::StreamBody::new(futures::stream::repeat_with(|| {
            Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(&[0; 1000])))
        }));
        let err = UploadLoader::new()
            .max_size(10_000)
            .oneshot(Upload::new(headers("a/b"), endless))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UploadTooLarge));
    }

    #[tokio::test]
    async fn multipart_takes_the_named_field() {
        let body = form("XyZ", &[("other", b"text"), ("image", PNG)]);
        let blob = load(
            UploadLoader::new(),
            headers("multipart/form-data; boundary=XyZ"),
            body.clone(),
        )
        .await
        .unwrap();
        assert_eq!(blob.bytes().as_ref(), PNG);
        let err = load(
            UploadLoader::new().form_field_name("file"),
            headers("multipart/form-data; boundary=\"XyZ\""),
            body,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to get form file 'file': no such file"
        );
    }

    #[tokio::test]
    async fn the_file_of_a_form_is_held_to_the_limit() {
        let body = form("b", &[("image", &[b'x'; 100])]);
        let err = load(
            UploadLoader::new().max_size(99),
            headers("multipart/form-data; boundary=b"),
            body,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::UploadTooLarge));
    }

    #[tokio::test]
    async fn malformed_multipart_is_a_bad_request() {
        let ct = headers("multipart/form-data; boundary=b");
        let cases: [&[u8]; 5] = [
            b"no boundary at all",
            b"--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nnever ends",
            b"--bxx",
            b"--b\r\nno colon\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: form-data; name=\"image\"",
        ];
        for body in cases {
            let err = load(UploadLoader::new(), ct.clone(), body.to_vec())
                .await
                .unwrap_err();
            assert_eq!(err.status(), 400, "{body:?}: {err}");
            assert!(
                err.to_string()
                    .starts_with("failed to parse multipart form")
            );
        }
        let err = load(
            UploadLoader::new(),
            headers("multipart/form-data"),
            b"x".to_vec(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to parse multipart form: no boundary in the Content-Type"
        );
    }

    #[test]
    fn disposition_params_quoted_or_not() {
        let v = " form-data; filename=\"x;\\\"y\"; name=image";
        assert_eq!(disposition_param(v, "name").as_deref(), Some("image"));
        assert_eq!(disposition_param(v, "filename").as_deref(), Some("x;\"y"));
        assert_eq!(disposition_param(" form-data", "name"), None);
        assert_eq!(disposition_param(" form-data; name=\"open", "name"), None);
    }

    #[test]
    fn boundaries_are_bounded() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; BOUNDARY=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("multipart/form-data; boundary="), None);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
            None
        );
    }

    #[test]
    fn media_ranges_match_families_only() {
        let loader = UploadLoader::new().accept(["image/*", " Text/Plain ; q=1", ""]);
        assert!(loader.accepts("image/avif"));
        assert!(loader.accepts("text/plain; charset=utf-8"));
        assert!(!loader.accepts("imagex/png"));
        assert!(!loader.accepts("text/html"));
        assert!(
            UploadLoader::new()
                .accept(Vec::<String>::new())
                .accepts("x/y")
        );
    }
}
