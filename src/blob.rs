//! [`Blob`]: the bytes of a source image or a processed result, with what is known about them.
//!
//! # Example
//!
//! ```
//! use imagor_tower::blob::{Blob, Stat};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let blob = Blob::new(&b"\x89PNG\r\n\x1a\n"[..])
//!     .with_content_type("image/png")
//!     .with_stat(Stat::new().with_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
//! assert_eq!(blob.len(), 8);
//! assert_eq!(blob.content_type(), Some("image/png"));
//! assert!(blob.stat().unwrap().modified().is_some());
//! ```

use bytes::Bytes;
use http::HeaderMap;
use std::time::SystemTime;

/// Bytes plus their declared content type and storage metadata.
///
/// Cloning is cheap: the bytes are reference counted.
#[derive(Clone, Debug, Default)]
pub struct Blob {
    bytes: Bytes,
    content_type: Option<String>,
    stat: Option<Stat>,
    headers: HeaderMap,
}

impl Blob {
    /// A blob holding `bytes`, with no content type or stat.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            content_type: None,
            stat: None,
            headers: HeaderMap::new(),
        }
    }

    /// Sets the content type declared by the backend.
    #[must_use]
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the storage metadata.
    #[must_use]
    pub fn with_stat(mut self, stat: Stat) -> Self {
        self.stat = Some(stat);
        self
    }

    /// Sets headers to copy onto the final response, overriding the service's own (imagor's
    /// `HTTP_LOADER_OVERRIDE_RESPONSE_HEADERS`).
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Headers to copy onto the final response.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Takes the bytes out.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The content type declared by the backend, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Storage metadata, if the backend gave any.
    pub fn stat(&self) -> Option<&Stat> {
        self.stat.as_ref()
    }
}

/// What a storage knows about a stored object: modification time, entity tag and size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    modified: Option<SystemTime>,
    etag: Option<String>,
    size: Option<u64>,
}

impl Stat {
    /// An empty stat.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the modification time.
    #[must_use]
    pub fn with_modified(mut self, modified: SystemTime) -> Self {
        self.modified = Some(modified);
        self
    }

    /// Sets the entity tag, as the backend gave it.
    #[must_use]
    pub fn with_etag(mut self, etag: impl Into<String>) -> Self {
        self.etag = Some(etag.into());
        self
    }

    /// Sets the size in bytes.
    #[must_use]
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// The modification time.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// The entity tag.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The size in bytes.
    pub fn size(&self) -> Option<u64> {
        self.size
    }
}
