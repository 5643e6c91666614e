//! [`LoaderLayer`]: adds a loader to an [`ImageService`]'s source stack.

use super::Fallback;
use crate::ImageService;
use crate::render::{Render, Stack};
use tower::Layer;

/// A layer over [`ImageService`] that adds `loader` to its source stack, tried after the
/// loaders already there. Stacking order in a `ServiceBuilder` is outermost first, so the
/// loader written first is tried last.
///
/// # Example
///
/// ```
/// use imagor_tower::loader::{FileLoader, LoaderLayer};
/// use imagor_tower::ImageService;
/// use tower::ServiceBuilder;
///
/// let dir = tempfile::tempdir().unwrap();
/// let service = ServiceBuilder::new()
///     .layer(LoaderLayer::new(FileLoader::new(dir.path()).unwrap()))
///     .service(ImageService::new().unsafe_urls(true));
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct LoaderLayer<L> {
    loader: L,
}

impl<L> LoaderLayer<L> {
    /// A layer adding `loader`.
    pub fn new(loader: L) -> Self {
        Self { loader }
    }
}

impl<Src: Clone, L: Clone> Layer<ImageService<Stack<Src>>> for LoaderLayer<L> {
    type Service = ImageService<Stack<Fallback<Src, L>>>;

    fn layer(&self, inner: ImageService<Stack<Src>>) -> Self::Service {
        inner.loader(self.loader.clone())
    }
}

impl<Src, L: Clone> Layer<Render<Src>> for LoaderLayer<L> {
    type Service = Render<Fallback<Src, L>>;

    fn layer(&self, inner: Render<Src>) -> Self::Service {
        inner.loader(self.loader.clone())
    }
}
