//! [`AdmissionLayer`]: how many requests render at once, how many may wait, and how many bytes
//! their pixel work may hold.
//!
//! A request passes two gates here, and a third in [`Render`](super::Render):
//!
//! 1. **Admission**, before its source is loaded. At most `concurrency` requests are active
//!    (loading or processing) and at most `queue` more wait for a place; beyond that the
//!    request answers 429 at once. imagor's `IMAGOR_PROCESS_CONCURRENCY` and
//!    `IMAGOR_PROCESS_QUEUE_SIZE` set both. When the concurrency is not set (imagor's
//!    "unlimited"), four requests per CPU are active and 1000 may wait, so that neither the
//!    number of loaded sources nor the queue grows without bound.
//! 2. **The byte budget**, once the source is loaded and its cost is known from its header:
//!    [`Render`](super::Render) reserves the bytes the request will hold (source, decoded
//!    frames, filter buffers, overlays, encoder output) from the budget of the admission that
//!    let the request in, and waits until they are free. A request larger than the whole
//!    budget waits until it can run alone. The default budget is a quarter of the machine's
//!    memory (or of the cgroup's limit), at least 256 MiB.
//! 3. **A pixel thread**: never more pixel threads than CPUs, whatever the concurrency.
//!
//! Every place is given back when its holder is dropped, so a request that times out or whose
//! client leaves frees its places at once; pixel work that already started stops at its next
//! cancellation check and only then gives back its thread and bytes. `raw()` requests load
//! without processing and pass straight through.
//!
//! # Example
//!
//! ```
//! use imagor_tower::loader::FileLoader;
//! use imagor_tower::render::{AdmissionLayer, Render};
//! use tower::ServiceBuilder;
//!
//! let dir = tempfile::tempdir().unwrap();
//! // Two requests at once, ten more may wait, 512 MiB of pixel work in flight.
//! let render = ServiceBuilder::new()
//!     .layer(AdmissionLayer::new().concurrency(2).queue_size(10).memory(512 << 20))
//!     .service(Render::new(FileLoader::new(dir.path()).unwrap()));
//! # let _ = render;
//! ```

use super::deferred::Deferred;
use super::limits::{AdmissionLimits, Admitted, Limits};
use super::rendered::Rendered;
use super::request::{ImageRequest, Output};
use crate::Error;
use crate::metrics::{Metrics, QueueGuard};
use futures::future::BoxFuture;
use pin_project::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tower::{Layer, Service};

/// Limits admission of the render stack beneath it: concurrency, queue (429 beyond it) and
/// the byte budget of pixel work. See the [module docs](self).
///
/// Every [`Admission`] service this layer makes, and every clone of them, shares one set of
/// limits; the builder methods start a new set.
#[derive(Clone, Debug)]
pub struct AdmissionLayer {
    limits: AdmissionLimits,
    shared: Arc<Limits>,
}

impl Default for AdmissionLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl AdmissionLayer {
    /// imagor's defaults, bounded: four active requests per CPU, 1000 waiting, a quarter of
    /// the memory as the byte budget.
    pub fn new() -> Self {
        Self::with_limits(AdmissionLimits::default())
    }

    pub(crate) fn with_limits(limits: AdmissionLimits) -> Self {
        Self {
            limits,
            shared: Arc::new(Limits::new(limits)),
        }
    }

    /// Most requests loading and processing at once (`IMAGOR_PROCESS_CONCURRENCY`). ≤ 0
    /// means four per CPU, where imagor has no limit: each active request holds its source in
    /// memory.
    #[must_use]
    pub fn concurrency(self, concurrency: i64) -> Self {
        Self::with_limits(AdmissionLimits {
            concurrency,
            ..self.limits
        })
    }

    /// Requests allowed to wait for a place (`IMAGOR_PROCESS_QUEUE_SIZE`); beyond that, 429.
    /// With a concurrency limit, 0 means no waiting (imagor's rule). Without one, 0 keeps the
    /// default bound of 1000 waiting requests (imagor's queue is unbounded there).
    #[must_use]
    pub fn queue_size(self, queue: usize) -> Self {
        Self::with_limits(AdmissionLimits {
            queue,
            ..self.limits
        })
    }

    /// The byte budget of pixel work in flight (`IMAGOR_PROCESS_MEMORY`), as estimated from
    /// the sources' headers before any pixel is decoded. 0 means a quarter of the machine's
    /// memory (or of the cgroup's limit), at least 256 MiB.
    #[must_use]
    pub fn memory(self, bytes: u64) -> Self {
        Self::with_limits(AdmissionLimits {
            memory: bytes,
            ..self.limits
        })
    }

    /// The limits this layer was built with.
    pub(crate) fn limits(&self) -> AdmissionLimits {
        self.limits
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`AdmissionLayer`] makes: admits each request before calling `S`, and hands
/// `S` the byte budget that [`Render`](super::Render) reserves from.
#[derive(Clone, Debug)]
pub struct Admission<S> {
    inner: S,
    shared: Arc<Limits>,
}

impl<S> Admission<S> {
    /// The service beneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> Service<ImageRequest> for Admission<S>
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
        if req.output() == Output::Raw {
            return ResponseFuture {
                state: State::Called {
                    fut: self.inner.call(req),
                },
            };
        }
        let shared = Arc::clone(&self.shared);
        let queued = req.metrics.as_ref().map(Metrics::queued);
        ResponseFuture {
            state: State::Waiting {
                admit: Box::pin(async move { shared.admit().await }),
                queued,
                call: Deferred::new(&mut self.inner, req),
            },
        }
    }
}

/// Response future of [`Admission`].
#[pin_project]
pub struct ResponseFuture<S: Service<ImageRequest>> {
    #[pin]
    state: State<S>,
}

#[pin_project(project = StateProj)]
enum State<S: Service<ImageRequest>> {
    /// Waiting for a place.
    Waiting {
        admit: BoxFuture<'static, Result<Admitted, Error>>,
        queued: Option<QueueGuard>,
        call: Deferred<S>,
    },
    /// Admitted (or passed through): the inner service runs.
    Called {
        #[pin]
        fut: S::Future,
    },
}

impl<S: Service<ImageRequest>> std::fmt::Debug for ResponseFuture<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Waiting { .. } => "waiting",
            State::Called { .. } => "called",
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
                StateProj::Waiting {
                    admit,
                    queued,
                    call,
                } => {
                    let admitted = ready!(admit.as_mut().poll(cx))?;
                    queued.take();
                    if let Some(req) = call.request_mut() {
                        req.admitted = Some(Arc::new(admitted));
                    }
                    let fut = call.call()?;
                    state.set(State::Called { fut });
                }
                StateProj::Called { fut } => return fut.poll(cx).map_err(Into::into),
            }
        }
    }
}
