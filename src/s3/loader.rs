//! [`S3Loader`]: source images from S3 through an [`S3Backend`].

use super::backend::S3Backend;
use crate::Error;
use crate::blob::Blob;
use crate::cloud::{Service, load_object};
use crate::storage::Backend;

/// The default for [`S3Loader::max_size`]: 64 MiB, the same constant as the file and HTTP
/// loaders'.
pub use crate::loader::DEFAULT_MAX_SIZE;

/// Loads source images from S3 (imagor's `S3_LOADER_*` settings).
///
/// One GET per request through the backend's reader client:
///
/// * the key is mapped by the backend ([`Error::Invalid`] when it refuses it);
/// * a missing object or bucket is [`Error::NotFound`];
/// * an object older than the backend's expiration (by `Last-Modified`) is
///   [`Error::Expired`];
/// * an object larger than [`max_size`](Self::max_size) is [`Error::MaxSizeExceeded`],
///   found from the response headers before the body is read;
/// * any other failure (refused credentials, unreachable endpoint) is an
///   [`Error::Internal`] whose message names the bucket and the cause.
///
/// The blob keeps the object's `Content-Type` (sniffed from the bytes when S3 has none) and
/// a [`Stat`](crate::blob::Stat) with size, ETag and last modification. Cloning is cheap.
///
/// ```
/// use imagor_tower::s3::{S3Loader, S3Options};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backend = S3Options::new("images").with_path_prefix("/photos").build().unwrap();
/// let loader = S3Loader::new(backend).max_size(8 << 20);
/// // Keys outside the prefix are refused before any request is made.
/// let err = loader.oneshot(imagor_tower::loader::SourceRequest::new("other/a.jpg")).await;
/// assert_eq!(err.unwrap_err().status(), 400);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct S3Loader {
    backend: S3Backend,
    max_size: u64,
}

impl S3Loader {
    /// A loader reading through `backend`.
    pub fn new(backend: S3Backend) -> Self {
        Self {
            backend,
            max_size: DEFAULT_MAX_SIZE,
        }
    }

    /// The largest object served, in bytes; larger ones answer [`Error::MaxSizeExceeded`].
    /// `0` removes the limit. Default: [`DEFAULT_MAX_SIZE`] (64 MiB).
    #[must_use]
    pub fn max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &S3Backend {
        &self.backend
    }

    /// Loads the object for `key`.
    ///
    /// # Errors
    ///
    /// See the [type docs](Self).
    pub async fn load(&self, key: &str) -> Result<Blob, Error> {
        let backend = &self.backend;
        load_object(
            S3,
            backend.buckets(),
            key,
            self.max_size,
            backend.expiration(),
        )
        .await
    }
}

/// How S3 failures read.
const S3: Service = Service {
    what: "S3 bucket",
    denied_hint: "check the credentials and region",
};

crate::loader::leaf_loader_service!(S3Loader, |loader, req| loader.load(req.key()));
