//! [`Stack`]: the render stack [`ImageService::new`](crate::ImageService::new) builds.

use super::admission::Admission;
use super::coalesce::{self, Coalesce};
use super::limits::AdmissionLimits;
use super::{AdmissionLayer, CoalesceLayer, ImageRequest, Render, Rendered};
use crate::Blob;
use crate::Error;
use crate::loader::{NoSource, SourceRequest};
use crate::storage::{ResultStorage, ResultStorageLayer};
use std::task::{Context, Poll};
use tower::util::Either;
use tower::{Layer, Service};

/// The built-in render stack, outermost first: coalescing of identical requests, result
/// storage (when one is set), admission (concurrency, queue, byte budget), and [`Render`]
/// over the source stack `Src`.
///
/// Coalescing sits above result storage, so identical concurrent requests share one lookup,
/// one render and one write. [`ImageService`](crate::ImageService)'s builder methods
/// ([`loader`](crate::ImageService::loader),
/// [`result_storage`](crate::ImageService::result_storage),
/// [`process_concurrency`](crate::ImageService::process_concurrency) and the rest) configure
/// it. A host that wants another order, or layers of its own in between, builds its render
/// stack with `ServiceBuilder` and hands it to
/// [`ImageService::from_render`](crate::ImageService::from_render).
///
/// # Example
///
/// ```
/// use imagor_tower::loader::FileLoader;
/// use imagor_tower::render::Stack;
/// use imagor_tower::ImageService;
///
/// let dir = tempfile::tempdir().unwrap();
/// let service: ImageService<Stack<_>> = ImageService::new()
///     .loader(FileLoader::new(dir.path()).unwrap())
///     .process_concurrency(4);
/// # let _ = service;
/// ```
pub struct Stack<Src = NoSource> {
    render: Render<Src>,
    admission: AdmissionLayer,
    results: Option<ResultStorageLayer>,
    service: Built<Src>,
}

/// The layers of a [`Stack`], applied.
type Built<Src> = Coalesce<Either<ResultStorage<Admission<Render<Src>>>, Admission<Render<Src>>>>;

impl<Src: Clone> Clone for Stack<Src> {
    fn clone(&self) -> Self {
        Self {
            render: self.render.clone(),
            admission: self.admission.clone(),
            results: self.results.clone(),
            service: self.service.clone(),
        }
    }
}

impl<Src: std::fmt::Debug> std::fmt::Debug for Stack<Src> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("render", &self.render)
            .field("admission", &self.admission)
            .field("results", &self.results)
            .finish_non_exhaustive()
    }
}

impl Default for Stack<NoSource> {
    fn default() -> Self {
        Self::new(Render::new(NoSource))
    }
}

impl<Src: Clone> Stack<Src> {
    /// The stack around `render`, with default admission and no result storage.
    pub fn new(render: Render<Src>) -> Self {
        Self::build(render, AdmissionLayer::new(), None)
    }

    fn build(
        render: Render<Src>,
        admission: AdmissionLayer,
        results: Option<ResultStorageLayer>,
    ) -> Self {
        let admitted = admission.layer(render.clone());
        let stored = match &results {
            Some(results) => Either::Left(results.layer(admitted)),
            None => Either::Right(admitted),
        };
        // A new registry of flights: differently configured stacks never share results.
        let service = CoalesceLayer::new().layer(stored);
        Self {
            render,
            admission,
            results,
            service,
        }
    }

    /// The [`Render`] at the bottom of the stack.
    pub fn render(&self) -> &Render<Src> {
        &self.render
    }

    /// Replaces the [`Render`] with `f(render)`; the other layers keep their settings.
    pub fn map_render<S2: Clone>(self, f: impl FnOnce(Render<Src>) -> Render<S2>) -> Stack<S2> {
        Stack::build(f(self.render), self.admission, self.results)
    }

    /// The same stack storing results in `results` (or none).
    #[must_use]
    pub fn result_storage(self, results: Option<ResultStorageLayer>) -> Self {
        Self::build(self.render, self.admission, results)
    }

    /// The result storage, when one is set.
    pub fn result_storage_layer(&self) -> Option<&ResultStorageLayer> {
        self.results.as_ref()
    }

    /// The same stack admitting requests through `admission`.
    #[must_use]
    pub fn admission(self, admission: AdmissionLayer) -> Self {
        Self::build(self.render, admission, self.results)
    }

    pub(crate) fn admission_limits(&self) -> AdmissionLimits {
        self.admission.limits()
    }
}

impl<Src> Service<ImageRequest> for Stack<Src>
where
    Src: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + Sync + 'static,
    Src::Future: Send,
{
    type Response = Rendered;
    type Error = Error;
    type Future = coalesce::ResponseFuture<
        <Either<ResultStorage<Admission<Render<Src>>>, Admission<Render<Src>>> as Service<
            ImageRequest,
        >>::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, req: ImageRequest) -> Self::Future {
        self.service.call(req)
    }
}
