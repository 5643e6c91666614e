//! [`MetricsLayer`]: hands a [`Metrics`] handle to everything beneath it.

use super::Metrics;
use crate::render::request::ImageRequest;
use http::{Request, Response};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// Gives everything beneath it a [`Metrics`] handle to record into.
///
/// Around an HTTP service (an [`ImageService`], or a stack of host layers around one) it
/// records each request's count and latency by status, and hands the handle to the image
/// service beneath in the request's extensions, so that its render stack records its stages.
/// In a render stack it hands the handle to the layers beneath it (result storage lookups,
/// coalesced requests, queue depth, and the load, process, encode and store stages).
///
/// [`ImageService`]: crate::ImageService
///
/// # Example
///
/// ```
/// use imagor_tower::metrics::{Metrics, MetricsLayer};
/// use imagor_tower::ImageService;
/// use tower::ServiceBuilder;
///
/// let metrics = Metrics::new().namespace("images");
/// let service = ServiceBuilder::new()
///     .layer(MetricsLayer::new(metrics.clone()))
///     .service(ImageService::new());
/// # let _ = service;
/// assert!(metrics.render().contains("images_process_queue_depth 0"));
/// ```
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl MetricsLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`MetricsLayer`] makes: a `Service<http::Request<B>>` around an HTTP service,
/// and a `Service<ImageRequest>` in a render stack.
#[derive(Clone, Debug)]
pub struct Metered<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> Metered<S> {
    /// The service beneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> Service<ImageRequest> for Metered<S>
where
    S: Service<ImageRequest>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: ImageRequest) -> S::Future {
        req.metrics = Some(self.metrics.clone());
        self.inner.call(req)
    }
}

impl<S, B, ResBody> Service<Request<B>> for Metered<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let method = req.method().clone();
        let started = Instant::now();
        let metrics = self.metrics.clone();
        req.extensions_mut().insert(metrics.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await?;
            metrics.observe_request(&method, res.status(), started.elapsed());
            Ok(res)
        })
    }
}
