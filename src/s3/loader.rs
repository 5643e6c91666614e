//! [`S3Loader`]: source images from S3 through an [`S3Backend`].

use super::backend::S3Backend;
use crate::Error;
use crate::blob::Blob;
use crate::loader::with_content_type_of;
use crate::storage::Backend;
use crate::storage::object::{ReadRules, read_object};
use object_store::{GetOptions, ObjectStore as _};

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
        let (bucket, location) = self.backend.locate_in_bucket(key, key)?;
        let failed = |err| store_error(&bucket, err);
        let result = location
            .reader
            .get_opts(&location.path, GetOptions::default())
            .await
            .map_err(failed)?;
        let rules = ReadRules {
            max_size: self.max_size,
            expiration: self.backend.expiration(),
            etag: true,
        };
        let blob = read_object(result, rules, failed).await?;
        Ok(with_content_type_of(blob))
    }
}

/// A failed S3 call as the crate's error: not found stays not found, the rest is a 500
/// naming the bucket.
pub(super) fn store_error(bucket: &str, err: object_store::Error) -> Error {
    match err {
        object_store::Error::NotFound { .. } => Error::NotFound,
        object_store::Error::InvalidPath { .. } => Error::Invalid,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => with_context(
            &format!("S3 bucket {bucket}: access denied (check the credentials and region)"),
            err,
        ),
        other => with_context(&format!("S3 bucket {bucket}"), other),
    }
}

fn with_context(context: &str, err: object_store::Error) -> Error {
    let detail = err.to_string();
    let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    Error::Internal {
        message: format!("{context}: {detail}"),
        source: Some(Box::new(err)),
    }
}

crate::loader::leaf_loader_service!(S3Loader, |loader, req| loader.load(req.key()));
