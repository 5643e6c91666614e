//! Prometheus metrics and per-stage tracing spans.
//!
//! A [`Metrics`] handle collects, for every [`ImageService`](crate::ImageService) and render
//! stack it is given to (with [`MetricsLayer`] or
//! [`ImageService::metrics`](crate::ImageService::metrics)):
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `<ns>_http_requests_total` | counter | `code` |
//! | `<ns>_http_request_duration_seconds` | histogram | `code`, `method` (imagor's metric) |
//! | `<ns>_stage_duration_seconds` | histogram | `stage`: `parse`, `result_lookup`, `load`, `process`, `encode` (part of `process`), `store` (result writes) |
//! | `<ns>_result_storage_lookups_total` | counter | `outcome`: `hit`, `miss` |
//! | `<ns>_storage_lookups_total` | counter | `outcome`: `hit`, `miss` (source storage) |
//! | `<ns>_process_queue_depth` | gauge | requests waiting for a processing slot |
//! | `<ns>_coalesced_requests_total` | counter | requests that joined an identical one in flight |
//!
//! `<ns>` is imagor's `PROMETHEUS_NAMESPACE` (`imagor` by default). [`Metrics::render`] gives
//! the text exposition; [`Metrics::exporter`] is a tower service that serves it at one path
//! (`PROMETHEUS_PATH`), for a listener of its own (`PROMETHEUS_BIND`).
//!
//! Every stage of a request also runs inside a `stage` tracing span (fields `stage` and
//! `elapsed_ms`), whether or not metrics are collected.
//!
//! # Example
//!
//! ```
//! use imagor_tower::metrics::{Metrics, MetricsLayer};
//! use imagor_tower::ImageService;
//! use tower::{Layer, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let metrics = Metrics::new();
//! let service = MetricsLayer::new(metrics.clone()).layer(ImageService::new());
//!
//! let req = http::Request::get("/unsafe/16x16/missing.png").body(imagor_tower::body::Body::empty()).unwrap();
//! let res = service.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 403);
//!
//! let text = metrics.render();
//! assert!(text.contains("imagor_http_requests_total{code=\"403\"} 1"));
//!
//! // The same text over HTTP, for a metrics listener.
//! let req = http::Request::get("/metrics").body(imagor_tower::body::Body::empty()).unwrap();
//! let res = metrics.exporter("/metrics").oneshot(req).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # });
//! ```

mod layer;

pub use layer::{Metered, MetricsLayer};

use crate::body::Body;
use crate::loader::{LoadFuture, SourceRequest};
use crate::{Blob, Error};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::Service;
use tracing::Instrument;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Content type of the Prometheus text exposition format.
const EXPOSITION_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A set of counters, gauges and histograms about image requests. Cloning is cheap; clones
/// share their data. See the [module docs](self).
#[derive(Clone)]
pub struct Metrics {
    namespace: Arc<str>,
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: Mutex<BTreeMap<(u16, &'static str), Arc<Histogram>>>,
    stages: [Histogram; Stage::ALL.len()],
    result_storage: Outcomes,
    storage: Outcomes,
    queue_depth: AtomicI64,
    coalesced: AtomicU64,
}

#[derive(Default)]
struct Outcomes {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Outcomes {
    fn record(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A latency histogram over [`BUCKETS`]; bucket counts are stored per bucket and summed when
/// rendered.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound)
            && let Some(bucket) = self.buckets.get(i)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative = cumulative.saturating_add(bucket.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        // Precision loss only beyond 2^53 µs (285 years of summed latency).
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// A timed stage of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Parsing and verifying the URL.
    Parse,
    /// Reading a stored result.
    ResultLookup,
    /// Loading the source (storages and loaders).
    Load,
    /// Decoding, processing and encoding (waiting for a slot included).
    Process,
    /// Encoding alone: the part of [`Process`](Self::Process) spent in the encoder.
    Encode,
    /// Writing a new result to the result storage, after the response has gone.
    Store,
}

impl Stage {
    const ALL: [Stage; 6] = [
        Self::Parse,
        Self::ResultLookup,
        Self::Load,
        Self::Process,
        Self::Encode,
        Self::Store,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Parse => "parse",
            Self::ResultLookup => "result_lookup",
            Self::Load => "load",
            Self::Process => "process",
            Self::Encode => "encode",
            Self::Store => "store",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Parse => 0,
            Self::ResultLookup => 1,
            Self::Load => 2,
            Self::Process => 3,
            Self::Encode => 4,
            Self::Store => 5,
        }
    }

    /// Runs `fut` inside this stage's span, then records its time in the span, the log (at
    /// debug level) and `metrics`.
    pub(crate) async fn run<F: Future>(self, metrics: Option<&Metrics>, fut: F) -> F::Output {
        let span = tracing::debug_span!(
            "stage",
            stage = self.as_str(),
            elapsed_ms = tracing::field::Empty
        );
        let started = Instant::now();
        let output = fut.instrument(span.clone()).await;
        let elapsed = started.elapsed();
        self.finish(&span, metrics, elapsed);
        output
    }

    /// Like [`run`](Self::run) for synchronous work.
    pub(crate) fn run_sync<T>(self, metrics: Option<&Metrics>, work: impl FnOnce() -> T) -> T {
        let span = tracing::debug_span!(
            "stage",
            stage = self.as_str(),
            elapsed_ms = tracing::field::Empty
        );
        let started = Instant::now();
        let output = span.in_scope(work);
        self.finish(&span, metrics, started.elapsed());
        output
    }

    /// Records a time measured elsewhere (on a blocking thread, say) as this stage.
    pub(crate) fn record(self, metrics: Option<&Metrics>, elapsed: Duration) {
        let span = tracing::debug_span!(
            "stage",
            stage = self.as_str(),
            elapsed_ms = tracing::field::Empty
        );
        self.finish(&span, metrics, elapsed);
    }

    fn finish(self, span: &tracing::Span, metrics: Option<&Metrics>, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1e3;
        span.record("elapsed_ms", ms);
        span.in_scope(|| tracing::debug!(elapsed_ms = ms, "{} finished", self.as_str()));
        if let Some(metrics) = metrics
            && let Some(histogram) = metrics.inner.stages.get(self.index())
        {
            histogram.observe(elapsed);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Empty metrics named under imagor's default namespace, `imagor`.
    pub fn new() -> Self {
        Self {
            namespace: Arc::from("imagor"),
            inner: Arc::new(Inner::default()),
        }
    }

    /// The metric name prefix (`PROMETHEUS_NAMESPACE`). Characters Prometheus does not allow
    /// in names become `_`; an empty namespace means no prefix.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        let cleaned: String = namespace
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let allowed = c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit());
                if allowed { c } else { '_' }
            })
            .collect();
        self.namespace = Arc::from(cleaned);
        self
    }

    /// A service answering `GET path` with [`render`](Self::render)'s text (`PROMETHEUS_PATH`).
    pub fn exporter(&self, path: impl Into<String>) -> MetricsExporter {
        let path = path.into();
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        MetricsExporter {
            metrics: self.clone(),
            path: Arc::from(path),
        }
    }

    fn name(&self, metric: &str) -> String {
        if self.namespace.is_empty() {
            metric.to_owned()
        } else {
            format!("{}_{metric}", self.namespace)
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let inner = &self.inner;
        let mut out = String::new();

        let requests: Vec<((u16, &'static str), Arc<Histogram>)> = inner
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, histogram)| (*key, Arc::clone(histogram)))
            .collect();
        let name = self.name("http_requests_total");
        let _ = writeln!(
            out,
            "# HELP {name} Image requests answered, by status code."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        let mut by_code: BTreeMap<u16, u64> = BTreeMap::new();
        for ((code, _), histogram) in &requests {
            let count = by_code.entry(*code).or_default();
            *count = count.saturating_add(histogram.count.load(Ordering::Relaxed));
        }
        for (code, count) in by_code {
            let _ = writeln!(out, "{name}{{code=\"{code}\"}} {count}");
        }

        let name = self.name("http_request_duration_seconds");
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer image requests, by status code and method."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for ((code, method), histogram) in &requests {
            let labels = format!("code=\"{code}\",method=\"{method}\"");
            histogram.render(&mut out, &name, &labels);
        }

        let name = self.name("stage_duration_seconds");
        let _ = writeln!(out, "# HELP {name} Time spent in each stage of a request.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (stage, histogram) in Stage::ALL.iter().zip(&inner.stages) {
            let labels = format!("stage=\"{}\"", stage.as_str());
            histogram.render(&mut out, &name, &labels);
        }

        for (metric, help, outcomes) in [
            (
                "result_storage_lookups_total",
                "Result storage lookups, by outcome.",
                &inner.result_storage,
            ),
            (
                "storage_lookups_total",
                "Source storage lookups, by outcome.",
                &inner.storage,
            ),
        ] {
            let name = self.name(metric);
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let hits = outcomes.hits.load(Ordering::Relaxed);
            let misses = outcomes.misses.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{outcome=\"hit\"}} {hits}");
            let _ = writeln!(out, "{name}{{outcome=\"miss\"}} {misses}");
        }

        let name = self.name("process_queue_depth");
        let _ = writeln!(out, "# HELP {name} Requests waiting for a processing slot.");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let depth = inner.queue_depth.load(Ordering::Relaxed).max(0);
        let _ = writeln!(out, "{name} {depth}");

        let name = self.name("coalesced_requests_total");
        let _ = writeln!(
            out,
            "# HELP {name} Requests that shared the work of an identical request in flight."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        let coalesced = inner.coalesced.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name} {coalesced}");
        out
    }

    /// Counts one answered request.
    pub(crate) fn observe_request(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        let method = match *method {
            Method::GET => "GET",
            Method::HEAD => "HEAD",
            _ => "OTHER",
        };
        let histogram = {
            let mut requests = self
                .inner
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(requests.entry((status.as_u16(), method)).or_default())
        };
        histogram.observe(elapsed);
    }

    /// Counts one result-storage lookup.
    pub(crate) fn result_storage_lookup(&self, hit: bool) {
        self.inner.result_storage.record(hit);
    }

    /// Counts one source-storage lookup.
    pub(crate) fn storage_lookup(&self, hit: bool) {
        self.inner.storage.record(hit);
    }

    /// Counts one request that joined an identical one in flight.
    pub(crate) fn coalesced(&self) {
        self.inner.coalesced.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request as queued until the returned guard is dropped.
    pub(crate) fn queued(&self) -> QueueGuard {
        self.inner.queue_depth.fetch_add(1, Ordering::Relaxed);
        QueueGuard {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Keeps a request counted in the queue depth while it lives.
pub(crate) struct QueueGuard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for QueueGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueGuard").finish()
    }
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        self.inner.queue_depth.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves the text exposition at one path: `GET`/`HEAD` there answer 200, other paths 404,
/// other methods 405. Made by [`Metrics::exporter`].
#[derive(Clone, Debug)]
pub struct MetricsExporter {
    metrics: Metrics,
    path: Arc<str>,
}

impl<B> Service<Request<B>> for MetricsExporter {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let status = if req.uri().path() != &*self.path {
            StatusCode::NOT_FOUND
        } else if req.method() != Method::GET && req.method() != Method::HEAD {
            StatusCode::METHOD_NOT_ALLOWED
        } else {
            StatusCode::OK
        };
        let mut res = if status == StatusCode::OK {
            let text = self.metrics.render();
            let length = text.len();
            let mut res = Response::new(if req.method() == Method::HEAD {
                Body::empty()
            } else {
                Body::from(text)
            });
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(EXPOSITION_TYPE),
            );
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            res
        } else {
            Response::new(Body::empty())
        };
        *res.status_mut() = status;
        std::future::ready(Ok(res))
    }
}

tokio::task_local! {
    /// Set by a [`LoaderProbe`] when a load under a [`StorageProbe`] reached the loaders.
    static LOADERS_REACHED: Arc<AtomicBool>;
}

/// Counts source-storage hits and misses around a source stack whose storages wrap loaders
/// marked with [`Metrics::loader_probe`]: a load that never reached the loaders was a hit.
#[derive(Clone, Debug)]
pub struct StorageProbe<S> {
    inner: S,
    metrics: Metrics,
}

/// Marks the loaders under a [`StorageProbe`]; see [`Metrics::storage_probe`].
#[derive(Clone, Debug)]
pub struct LoaderProbe<S> {
    inner: S,
}

impl Metrics {
    /// Wraps a source stack made of storages around loaders (themselves wrapped by
    /// [`loader_probe`](Self::loader_probe)) to count storage hits and misses.
    pub fn storage_probe<S>(&self, inner: S) -> StorageProbe<S> {
        StorageProbe {
            inner,
            metrics: self.clone(),
        }
    }

    /// Wraps the loaders under a [`storage_probe`](Self::storage_probe).
    pub fn loader_probe<S>(&self, inner: S) -> LoaderProbe<S> {
        LoaderProbe { inner }
    }
}

impl<S> Service<SourceRequest> for StorageProbe<S>
where
    S: Service<SourceRequest, Response = Blob, Error = Error> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Blob;
    type Error = Error;
    type Future = LoadFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: SourceRequest) -> LoadFuture {
        let reached = Arc::new(AtomicBool::new(false));
        let load = LOADERS_REACHED.scope(Arc::clone(&reached), self.inner.call(req));
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let loaded = load.await;
            // Storages answer hits themselves; anything that went on to the loaders missed.
            metrics.storage_lookup(loaded.is_ok() && !reached.load(Ordering::Relaxed));
            loaded
        })
    }
}

impl<S> Service<SourceRequest> for LoaderProbe<S>
where
    S: Service<SourceRequest, Response = Blob, Error = Error>,
{
    type Response = Blob;
    type Error = Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: SourceRequest) -> S::Future {
        let _ = LOADERS_REACHED.try_with(|reached| reached.store(true, Ordering::Relaxed));
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let metrics = Metrics::new();
        metrics.observe_request(&Method::GET, StatusCode::OK, Duration::from_millis(3));
        metrics.observe_request(&Method::GET, StatusCode::OK, Duration::from_millis(300));
        metrics.observe_request(&Method::HEAD, StatusCode::OK, Duration::from_secs(60));
        let text = metrics.render();
        assert!(text.contains("imagor_http_requests_total{code=\"200\"} 3\n"));
        let get = "imagor_http_request_duration_seconds_bucket{code=\"200\",method=\"GET\"";
        assert!(text.contains(&format!("{get},le=\"0.001\"}} 0\n")));
        assert!(text.contains(&format!("{get},le=\"0.005\"}} 1\n")));
        assert!(text.contains(&format!("{get},le=\"0.5\"}} 2\n")));
        assert!(text.contains(&format!("{get},le=\"+Inf\"}} 2\n")));
        let head = "imagor_http_request_duration_seconds_bucket{code=\"200\",method=\"HEAD\"";
        assert!(text.contains(&format!("{head},le=\"10\"}} 0\n")));
        assert!(text.contains(&format!("{head},le=\"+Inf\"}} 1\n")));
        assert!(text.contains(
            "imagor_http_request_duration_seconds_count{code=\"200\",method=\"HEAD\"} 1\n"
        ));
    }

    #[test]
    fn gauges_counters_and_namespace() {
        let metrics = Metrics::new().namespace("my-app");
        let first = metrics.queued();
        let second = metrics.queued();
        drop(first);
        metrics.result_storage_lookup(true);
        metrics.result_storage_lookup(false);
        metrics.result_storage_lookup(false);
        metrics.storage_lookup(true);
        metrics.coalesced();
        let text = metrics.render();
        assert!(text.contains("my_app_process_queue_depth 1\n"));
        assert!(text.contains("my_app_result_storage_lookups_total{outcome=\"hit\"} 1\n"));
        assert!(text.contains("my_app_result_storage_lookups_total{outcome=\"miss\"} 2\n"));
        assert!(text.contains("my_app_storage_lookups_total{outcome=\"hit\"} 1\n"));
        assert!(text.contains("my_app_coalesced_requests_total 1\n"));
        drop(second);
        assert!(metrics.render().contains("my_app_process_queue_depth 0\n"));
        let bare = Metrics::new().namespace("");
        assert!(bare.render().contains("\nprocess_queue_depth 0\n"));
    }

    #[tokio::test]
    async fn stages_record_time() {
        let metrics = Metrics::new();
        let value = Stage::Load
            .run(Some(&metrics), async {
                tokio::time::sleep(Duration::from_millis(15)).await;
                5
            })
            .await;
        assert_eq!(value, 5);
        assert_eq!(Stage::Parse.run_sync(Some(&metrics), || 6), 6);
        let text = metrics.render();
        assert!(
            text.contains("imagor_stage_duration_seconds_bucket{stage=\"load\",le=\"0.01\"} 0\n")
        );
        assert!(text.contains("imagor_stage_duration_seconds_count{stage=\"load\"} 1\n"));
        assert!(text.contains("imagor_stage_duration_seconds_count{stage=\"parse\"} 1\n"));
        assert!(text.contains("imagor_stage_duration_seconds_count{stage=\"process\"} 0\n"));
    }

    #[tokio::test]
    async fn exporter_serves_one_path() {
        use tower::ServiceExt;
        let metrics = Metrics::new();
        let exporter = metrics.exporter("metrics");
        let ok = exporter
            .clone()
            .oneshot(
                Request::get("/metrics")
                    .body(crate::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::CONTENT_TYPE], EXPOSITION_TYPE);
        let missing = exporter
            .clone()
            .oneshot(
                Request::get("/other")
                    .body(crate::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let post = exporter
            .oneshot(
                Request::post("/metrics")
                    .body(crate::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
