//! [`ResultStorageLayer`]: a cache of processed results inside an [`ImageService`].

use super::Backend;
use super::store::Store;
use crate::ImageService;
use crate::key::ResultKeyStyle;
use std::sync::Arc;
use std::time::Duration;
use tower::Layer;

/// Keeps processed outputs in `backend`, keyed by the canonical request (imagor's result
/// storage, `FILE_RESULT_STORAGE_*`, `S3_RESULT_STORAGE_*`).
///
/// The lookup runs inside the [`ImageService`], after the signature check, base params and
/// format negotiation, so a stored result is never served to a request that would have been
/// refused, and each negotiated format has its own key. A hit is answered without loading or
/// processing; a miss is processed, answered, then written in the background (a failed write
/// never fails the response and leaves no partial object). `raw()` and `preview()` requests
/// bypass it.
///
/// # Example
///
/// ```
/// use imagor_tower::ImageService;
/// use imagor_tower::key::ResultKeyStyle;
/// use imagor_tower::storage::{FileBackend, ResultStorageLayer};
/// use tower::ServiceBuilder;
///
/// let results = tempfile::tempdir().unwrap();
/// let service = ServiceBuilder::new()
///     .layer(
///         ResultStorageLayer::new(FileBackend::new(results.path()).unwrap())
///             .key_style(ResultKeyStyle::Suffix),
///     )
///     .service(ImageService::new().unsafe_urls(true));
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct ResultStorageLayer {
    pub(crate) store: Store,
    pub(crate) style: ResultKeyStyle,
}

impl ResultStorageLayer {
    /// Stores results in `backend` under the canonical request path.
    pub fn new(backend: impl Backend) -> Self {
        Self {
            store: Store::new(Arc::new(backend)),
            style: ResultKeyStyle::Original,
        }
    }

    /// How result keys are named (`IMAGOR_RESULT_STORAGE_PATH_STYLE`).
    #[must_use]
    pub fn key_style(mut self, style: ResultKeyStyle) -> Self {
        self.style = style;
        self
    }

    /// Deadline of each read (`IMAGOR_LOAD_TIMEOUT`).
    #[must_use]
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.store.load_timeout = timeout;
        self
    }

    /// Deadline of each background write (`IMAGOR_SAVE_TIMEOUT`).
    #[must_use]
    pub fn save_timeout(mut self, timeout: Duration) -> Self {
        self.store.save_timeout = timeout;
        self
    }
}

impl<Src> Layer<ImageService<Src>> for ResultStorageLayer {
    type Service = ImageService<Src>;

    fn layer(&self, inner: ImageService<Src>) -> Self::Service {
        inner.result_storage(self.clone())
    }
}
