//! [`StorageLayer`] and [`Storage`]: a read-through cache of source images.

use super::Backend;
use super::store::{Lookup, Store};
use crate::key::StorageKeyStyle;
use crate::loader::SourceRequest;
use crate::render::{Render, Stack};
use crate::{Blob, Error, ImageService};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt};

/// Wraps an [`ImageService`]'s whole source stack in a [`Storage`]: originals are looked up in
/// the storage first, and what the loaders find is saved there after the request has its
/// answer (imagor's source storage, `FILE_STORAGE_*`, `S3_STORAGE_*`).
///
/// # Example
///
/// ```
/// use imagor_tower::loader::{FileLoader, LoaderLayer};
/// use imagor_tower::storage::{FileBackend, StorageLayer};
/// use imagor_tower::ImageService;
/// use tower::ServiceBuilder;
///
/// let originals = tempfile::tempdir().unwrap();
/// let cache = tempfile::tempdir().unwrap();
/// let service = ServiceBuilder::new()
///     .layer(StorageLayer::new(FileBackend::new(cache.path()).unwrap()))
///     .layer(LoaderLayer::new(FileLoader::new(originals.path()).unwrap()))
///     .service(ImageService::new().unsafe_urls(true));
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct StorageLayer {
    store: Store,
    style: StorageKeyStyle,
}

impl StorageLayer {
    /// Stores originals in `backend` under their image keys.
    pub fn new(backend: impl Backend) -> Self {
        Self {
            store: Store::new(Arc::new(backend)),
            style: StorageKeyStyle::Original,
        }
    }

    /// How keys are named in the storage (`IMAGOR_STORAGE_PATH_STYLE`).
    #[must_use]
    pub fn key_style(mut self, style: StorageKeyStyle) -> Self {
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

    /// Wraps a source service directly (for source stacks built outside an `ImageService`).
    pub fn wrap<S>(&self, inner: S) -> Storage<S> {
        Storage {
            inner,
            store: self.store.clone(),
            style: self.style,
        }
    }
}

impl<Src: Clone> Layer<ImageService<Stack<Src>>> for StorageLayer {
    type Service = ImageService<Stack<Storage<Src>>>;

    fn layer(&self, inner: ImageService<Stack<Src>>) -> Self::Service {
        inner.map_source(|source| self.wrap(source))
    }
}

impl<Src> Layer<Render<Src>> for StorageLayer {
    type Service = Render<Storage<Src>>;

    fn layer(&self, inner: Render<Src>) -> Self::Service {
        inner.map_source(|source| self.wrap(source))
    }
}

/// A source service with a read-through cache in front. See [`StorageLayer`].
#[derive(Clone, Debug)]
pub struct Storage<S> {
    inner: S,
    store: Store,
    style: StorageKeyStyle,
}

impl<S> Service<SourceRequest> for Storage<S>
where
    S: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Blob;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Blob, Error>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: SourceRequest) -> Self::Future {
        let inner = self.inner.clone();
        let store = self.store.clone();
        let key = self.style.key(req.key());
        Box::pin(async move {
            let location = store.locate(&key, req.key());
            if let Some(location) = &location
                && let Lookup::Hit(blob) = store.get(location).await
            {
                return Ok(*blob);
            }
            let blob = inner.oneshot(req).await?;
            if let Some(location) = location {
                store.spawn_put(location, blob.clone());
            }
            Ok(blob)
        })
    }
}
