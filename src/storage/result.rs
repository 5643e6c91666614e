//! [`ResultStorageLayer`]: a cache of processed results in the render stack.

use super::Backend;
use super::backend::Location;
use super::store::{Lookup, Store};
use crate::Blob;
use crate::Error;
use crate::key::ResultKeyStyle;
use crate::metrics::{Metrics, Stage};
use crate::render::deferred::Deferred;
use crate::render::{ImageRequest, Rendered};
use futures::future::BoxFuture;
use pin_project::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tower::{Layer, Service};

/// Keeps processed outputs in `backend`, keyed by the canonical request (imagor's result
/// storage, `FILE_RESULT_STORAGE_*`, `S3_RESULT_STORAGE_*`).
///
/// As a layer of the render stack it gives [`ResultStorage`]: a hit is answered without
/// calling the service beneath; a miss calls it once, answers, then writes the result in the
/// background (a failed write never fails the response and leaves no partial object).
/// Requests that are not [cacheable](ImageRequest::is_cacheable) (`/meta`, `raw()`,
/// `preview()`) pass straight through.
///
/// The HTTP face builds the [`ImageRequest`] after the signature check, base params and format
/// negotiation, so a stored result is never served to a request that would have been refused,
/// and each negotiated format has its own key. Applied to an [`ImageService`] directly, the
/// layer puts result storage around that service's render stack.
///
/// [`ImageService`]: crate::ImageService
///
/// # Example
///
/// ```
/// use imagor_tower::key::ResultKeyStyle;
/// use imagor_tower::loader::FileLoader;
/// use imagor_tower::render::{CoalesceLayer, Render};
/// use imagor_tower::storage::{FileBackend, ResultStorageLayer};
/// use imagor_tower::ImageService;
/// use tower::ServiceBuilder;
///
/// let images = tempfile::tempdir().unwrap();
/// let results = tempfile::tempdir().unwrap();
/// let layer = ResultStorageLayer::new(FileBackend::new(results.path()).unwrap())
///     .key_style(ResultKeyStyle::Suffix);
///
/// // In a render stack of your own:
/// let render = ServiceBuilder::new()
///     .layer(layer.clone())
///     .layer(CoalesceLayer::new())
///     .service(Render::new(FileLoader::new(images.path()).unwrap()));
/// let service = ImageService::from_render(render).unsafe_urls(true);
/// # let _ = service;
///
/// // Or around the built-in stack of an `ImageService`:
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(ImageService::new().unsafe_urls(true));
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct ResultStorageLayer {
    store: Store,
    style: ResultKeyStyle,
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

    /// Where the result of `req` is stored, when it may be and the backend takes its key.
    fn locate(&self, req: &ImageRequest) -> Option<Location> {
        if !req.is_cacheable() {
            return None;
        }
        let key = self.style.key(req.params());
        self.store.locate(&key, req.image())
    }
}

impl<S> Layer<S> for ResultStorageLayer {
    type Service = ResultStorage<S>;

    fn layer(&self, inner: S) -> ResultStorage<S> {
        ResultStorage {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ResultStorageLayer`] makes: answers from the storage, or calls `S` and
/// stores what it answers.
#[derive(Clone, Debug)]
pub struct ResultStorage<S> {
    inner: S,
    layer: ResultStorageLayer,
}

impl<S> ResultStorage<S> {
    /// The service beneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The service beneath, taken.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The layer this service was made by.
    pub fn layer(&self) -> &ResultStorageLayer {
        &self.layer
    }
}

impl<S> Service<ImageRequest> for ResultStorage<S>
where
    S: Service<ImageRequest, Response = Rendered> + Clone,
    S::Error: Into<Error>,
{
    type Response = Rendered;
    type Error = Error;
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: ImageRequest) -> ResponseFuture<S> {
        let Some(location) = self.layer.locate(&req) else {
            return ResponseFuture {
                state: State::Miss {
                    fut: self.inner.call(req),
                    write: None,
                },
            };
        };
        let store = self.layer.store.clone();
        let metrics = req.metrics.clone();
        let lookup = {
            let (store, location, metrics) = (store.clone(), location.clone(), metrics.clone());
            Box::pin(async move {
                Stage::ResultLookup
                    .run(metrics.as_ref(), store.get(&location))
                    .await
            })
        };
        ResponseFuture {
            state: State::Lookup {
                lookup,
                // Called only on a miss.
                call: Deferred::new(&mut self.inner, req),
                write: Some(Write {
                    store,
                    location,
                    metrics,
                }),
            },
        }
    }
}

/// Response future of [`ResultStorage`].
#[pin_project]
pub struct ResponseFuture<S: Service<ImageRequest>> {
    #[pin]
    state: State<S>,
}

/// Where a missed result goes once it is rendered.
struct Write {
    store: Store,
    location: Location,
    metrics: Option<Metrics>,
}

#[pin_project(project = StateProj)]
enum State<S: Service<ImageRequest>> {
    /// Reading the stored result; a hit answers from here.
    Lookup {
        lookup: BoxFuture<'static, Lookup>,
        call: Deferred<S>,
        write: Option<Write>,
    },
    /// Rendering beneath; the result is written once it is there (when `write` is set).
    Miss {
        #[pin]
        fut: S::Future,
        write: Option<Write>,
    },
}

impl<S: Service<ImageRequest>> std::fmt::Debug for ResponseFuture<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Lookup { .. } => "lookup",
            State::Miss { .. } => "miss",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S> Future for ResponseFuture<S>
where
    S: Service<ImageRequest, Response = Rendered>,
    S::Error: Into<Error>,
{
    type Output = Result<Rendered, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Lookup {
                    lookup,
                    call,
                    write,
                } => {
                    let found = ready!(lookup.as_mut().poll(cx));
                    let metrics = write.as_ref().and_then(|w| w.metrics.as_ref());
                    if let Some(metrics) = metrics {
                        metrics.result_storage_lookup(matches!(found, Lookup::Hit(_)));
                    }
                    if let Lookup::Hit(stored) = found {
                        return Poll::Ready(Ok(Rendered::from_stored(*stored)));
                    }
                    let write = write.take();
                    let fut = call.call()?;
                    state.set(State::Miss { fut, write });
                }
                StateProj::Miss { fut, write } => {
                    let rendered = ready!(fut.poll(cx)).map_err(Into::into)?;
                    if let Some(write) = write.take() {
                        let blob = Blob::new(rendered.bytes().clone())
                            .with_content_type(rendered.content_type());
                        let put = write.store.put(write.location, blob);
                        let metrics = write.metrics;
                        tokio::spawn(async move { Stage::Store.run(metrics.as_ref(), put).await });
                    }
                    return Poll::Ready(Ok(rendered));
                }
            }
        }
    }
}
