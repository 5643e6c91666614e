//! [`Backend`]: where a storage keeps its objects, for any `object_store` store.

use crate::Error;
use object_store::ObjectStore;
use object_store::path::Path;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Where one key is stored: the store to read from, the store to write to, and the path.
///
/// Reads and writes may use different clients: an S3 writer client carries a signed
/// `x-amz-acl` header on every request, which reads must not send.
#[derive(Clone, Debug)]
pub struct Location {
    /// Client for reads, heads and deletes.
    pub reader: Arc<dyn ObjectStore>,
    /// Client for writes.
    pub writer: Arc<dyn ObjectStore>,
    /// The object's path in the store.
    pub path: Path,
}

impl Location {
    /// A location read and written through the same client.
    pub fn new(store: Arc<dyn ObjectStore>, path: Path) -> Self {
        Self {
            reader: Arc::clone(&store),
            writer: store,
            path,
        }
    }
}

/// Maps storage keys to object locations, and carries a storage's write settings.
///
/// Implemented for local directories ([`FileBackend`](super::FileBackend)), S3 and Google
/// Cloud Storage buckets and Azure containers (with their cargo features); any other
/// `object_store` backend (memory, HTTP) can implement it.
pub trait Backend: fmt::Debug + Send + Sync + 'static {
    /// The location of `key`. `image` is the request's source image key, which a wildcard
    /// bucket (`*`) uses to pick the bucket of a result.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the key is not valid for this backend (prefix mismatch, dot
    /// segment, no bucket segment).
    fn locate(&self, key: &str, image: &str) -> Result<Location, Error>;

    /// Objects older than this count as expired (`*_EXPIRATION`); `None` means never.
    fn expiration(&self) -> Option<Duration> {
        None
    }

    /// Attributes sent with every write (storage class, cache control …).
    fn put_attributes(&self) -> object_store::Attributes {
        object_store::Attributes::new()
    }

    /// Object tags sent with every write (`S3_*_TAGGING`).
    fn put_tags(&self) -> object_store::TagSet {
        object_store::TagSet::default()
    }

    /// Whether the store keeps object attributes such as the content type (S3 does; a local
    /// directory does not, and content types are then sniffed on read).
    fn keeps_attributes(&self) -> bool {
        true
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn locate(&self, key: &str, image: &str) -> Result<Location, Error> {
        (**self).locate(key, image)
    }

    fn expiration(&self) -> Option<Duration> {
        (**self).expiration()
    }

    fn put_attributes(&self) -> object_store::Attributes {
        (**self).put_attributes()
    }

    fn put_tags(&self) -> object_store::TagSet {
        (**self).put_tags()
    }

    fn keeps_attributes(&self) -> bool {
        (**self).keeps_attributes()
    }
}
