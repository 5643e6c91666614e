//! [`Rendered`]: what the render stack answers.

use crate::Blob;
use crate::blob::Stat;
use crate::loader::content_type_or_fallback;
use bytes::Bytes;
use http::HeaderMap;
use std::time::SystemTime;

/// A finished answer of the render stack: the bytes, their content type, a modification
/// time, and upstream headers to copy onto the HTTP response.
///
/// [`Render`](super::Render) makes one from the processed output (or the source, for `raw()`);
/// result storage makes one from a stored result. A host's own render service, or a test,
/// makes one with [`new`](Self::new).
///
/// # Example
///
/// ```
/// use imagor_tower::render::Rendered;
///
/// let rendered = Rendered::new(vec![1, 2, 3], "image/png");
/// assert_eq!(rendered.content_type(), "image/png");
/// assert_eq!(rendered.bytes().len(), 3);
/// assert!(rendered.modified().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Rendered {
    bytes: Bytes,
    content_type: String,
    modified: Option<SystemTime>,
    headers: HeaderMap,
}

impl Rendered {
    /// `bytes` of type `content_type`, with no modification time and no upstream headers.
    pub fn new(bytes: impl Into<Bytes>, content_type: impl Into<String>) -> Self {
        Self {
            bytes: bytes.into(),
            content_type: content_type.into(),
            modified: None,
            headers: HeaderMap::new(),
        }
    }

    /// A stored result read back: its stored content type, else the one its bytes show.
    pub(crate) fn from_stored(stored: Blob) -> Self {
        let content_type = content_type_or_fallback(&stored).to_owned();
        Self {
            modified: stored.stat().and_then(Stat::modified),
            content_type,
            headers: HeaderMap::new(),
            bytes: stored.into_bytes(),
        }
    }

    /// The same answer, last modified at `modified` (the source's time, or the stored
    /// result's). The HTTP face sends it as `Last-Modified` and checks conditional requests
    /// against it; without one it uses the time of the answer.
    #[must_use]
    pub fn with_modified(mut self, modified: SystemTime) -> Self {
        self.modified = Some(modified);
        self
    }

    /// The same answer with upstream `headers` that win over the HTTP face's own (those the
    /// HTTP loader was told to pass on), except `Content-Length`.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The body, taken.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The `Content-Type`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// When the answer last changed, when known.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// Upstream headers to copy onto the response.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}
