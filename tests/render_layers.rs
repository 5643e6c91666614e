//! The render stack's layers on their own, over `tower-test`'s mock service, and a host's
//! own layer between result storage and `Render`.

mod support;

use http::{StatusCode, header};
use imagor_tower::loader::FileLoader;
use imagor_tower::metrics::{Metered, Metrics, MetricsLayer};
use imagor_tower::path::{self, Signer};
use imagor_tower::render::{
    Admission, AdmissionLayer, Coalesce, CoalesceLayer, ImageRequest, Render, Rendered,
};
use imagor_tower::storage::{FileBackend, ResultStorage, ResultStorageLayer};
use imagor_tower::{Error, ImageService};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use support::{body_bytes, decode, get, write_image};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_test::mock;

fn request(url: &str) -> ImageRequest {
    ImageRequest::new(path::parse(url))
}

/// Waits until `metrics` show `count` result writes (they run in the background).
async fn wait_for_writes(metrics: &Metrics, count: usize) {
    let line = format!("imagor_stage_duration_seconds_count{{stage=\"store\"}} {count}\n");
    let started = Instant::now();
    while !metrics.render().contains(&line) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {count} writes in:\n{}",
            metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn writes(metrics: &Metrics) -> String {
    metrics
        .render()
        .lines()
        .find(|l| l.starts_with("imagor_stage_duration_seconds_count{stage=\"store\"}"))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_result_storage_miss_calls_the_inner_service_once_and_writes_once_then_hits() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let (inner, mut handle) = mock::pair::<ImageRequest, Rendered>();
    let mut stack = ServiceBuilder::new()
        .layer(MetricsLayer::new(metrics.clone()))
        .layer(ResultStorageLayer::new(
            FileBackend::new(dir.path()).unwrap(),
        ))
        .service(inner);

    // A miss: the inner service is called once, the answer is written once.
    let miss = stack
        .ready()
        .await
        .unwrap()
        .call(request("unsafe/10x10/a.png"));
    let answer = tokio::spawn(miss);
    let (seen, reply) = handle
        .next_request()
        .await
        .expect("the miss reaches the inner service");
    assert_eq!(seen.key(), "10x10/a.png");
    reply.send_response(Rendered::new(&b"rendered bytes"[..], "image/png"));
    let rendered = answer.await.unwrap().unwrap();
    assert_eq!(rendered.bytes().as_ref(), b"rendered bytes");
    wait_for_writes(&metrics, 1).await;

    // A hit: answered from the storage, the inner service is never called, nothing written.
    let hit = stack
        .ready()
        .await
        .unwrap()
        .call(request("unsafe/10x10/a.png"))
        .await
        .unwrap();
    assert_eq!(hit.bytes().as_ref(), b"rendered bytes");
    assert!(
        metrics
            .render()
            .contains("imagor_result_storage_lookups_total{outcome=\"hit\"} 1\n")
    );
    drop(stack);
    assert!(
        handle.next_request().await.is_none(),
        "a hit must not call the inner service"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(writes(&metrics).ends_with(" 1"), "{}", writes(&metrics));
}

#[tokio::test]
async fn result_storage_passes_meta_and_preview_through_without_storing() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let (inner, mut handle) = mock::pair::<ImageRequest, Rendered>();
    let mut stack = ServiceBuilder::new()
        .layer(MetricsLayer::new(metrics.clone()))
        .layer(ResultStorageLayer::new(
            FileBackend::new(dir.path()).unwrap(),
        ))
        .service(inner);
    for url in [
        "unsafe/meta/10x10/a.png",
        "unsafe/10x10/filters:preview()/a.png",
    ] {
        for _ in 0..2 {
            let fut = stack.ready().await.unwrap().call(request(url));
            let answer = tokio::spawn(fut);
            let (_, reply) = handle.next_request().await.unwrap();
            reply.send_response(Rendered::new(&b"x"[..], "image/png"));
            answer.await.unwrap().unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(writes(&metrics).ends_with(" 0"), "{}", writes(&metrics));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[tokio::test]
async fn a_coalesced_flight_calls_the_inner_service_once() {
    let metrics = Metrics::new();
    let (inner, mut handle) = mock::pair::<ImageRequest, Rendered>();
    let mut stack = ServiceBuilder::new()
        .layer(MetricsLayer::new(metrics.clone()))
        .layer(CoalesceLayer::new())
        .service(inner);
    let first = stack
        .ready()
        .await
        .unwrap()
        .call(request("unsafe/20x20/b.png"));
    let second = stack
        .ready()
        .await
        .unwrap()
        .call(request("unsafe/20x20/b.png"));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(Rendered::new(&b"shared"[..], "image/png"));
    let (a, b) = futures::join!(first, second);
    assert_eq!(a.unwrap().bytes(), b.unwrap().bytes());
    assert!(
        metrics
            .render()
            .contains("imagor_coalesced_requests_total 1\n")
    );
    drop(stack);
    assert!(
        handle.next_request().await.is_none(),
        "one call for two requests"
    );
}

#[tokio::test]
async fn requests_with_other_credentials_are_not_coalesced() {
    let (inner, mut handle) = mock::pair::<ImageRequest, Rendered>();
    let mut stack = CoalesceLayer::new().layer(inner);
    let mut headers = http::HeaderMap::new();
    headers.insert(header::AUTHORIZATION, "Bearer a".parse().unwrap());
    let with = request("unsafe/20x20/b.png").with_headers(headers);
    let first = stack.ready().await.unwrap().call(with);
    let second = stack
        .ready()
        .await
        .unwrap()
        .call(request("unsafe/20x20/b.png"));
    for _ in 0..2 {
        let (_, reply) = handle.next_request().await.unwrap();
        reply.send_response(Rendered::new(&b"x"[..], "image/png"));
    }
    let (a, b) = futures::join!(first, second);
    a.unwrap();
    b.unwrap();
}

#[tokio::test]
async fn a_shared_error_reaches_every_participant() {
    let (inner, mut handle) = mock::pair::<ImageRequest, Rendered>();
    let mut stack = CoalesceLayer::new().layer(inner);
    let first = stack.ready().await.unwrap().call(request("unsafe/c.png"));
    let second = stack.ready().await.unwrap().call(request("unsafe/c.png"));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_error(Error::NotFound);
    let (a, b) = futures::join!(first, second);
    assert!(matches!(a, Err(Error::NotFound)));
    assert!(matches!(b, Err(Error::NotFound)));
}

#[tokio::test]
async fn admission_refuses_beyond_concurrency_and_queue_with_429() {
    let (inner, mut handle) = mock::pair::<ImageRequest, Rendered>();
    let mut stack = AdmissionLayer::new()
        .concurrency(1)
        .queue_size(0)
        .layer(inner);
    let first = tokio::spawn(stack.ready().await.unwrap().call(request("unsafe/d.png")));
    // The admission travels with the request: the place is held while the service beneath
    // has it.
    let (running, reply) = handle.next_request().await.unwrap();
    // The one place is taken and nobody may wait: 429 at once, without calling the inner one.
    let refused = stack
        .ready()
        .await
        .unwrap()
        .call(request("unsafe/e.png"))
        .await;
    assert!(matches!(refused, Err(Error::TooManyRequests)));
    reply.send_response(Rendered::new(&b"d"[..], "image/png"));
    first.await.unwrap().unwrap();
    drop(running);
    // The place came back.
    let next = tokio::spawn(stack.ready().await.unwrap().call(request("unsafe/f.png")));
    let (seen, reply) = handle.next_request().await.unwrap();
    assert_eq!(seen.image(), "f.png");
    reply.send_response(Rendered::new(&b"f"[..], "image/png"));
    next.await.unwrap().unwrap();
}

/// A host's layer written the plain way of tower's guide: it counts the requests that reach
/// it and passes them on.
#[derive(Clone)]
struct Audit<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
}

impl<S: Service<ImageRequest>> Service<ImageRequest> for Audit<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: ImageRequest) -> S::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.call(req)
    }
}

#[derive(Clone)]
struct AuditLayer(Arc<AtomicUsize>);

impl<S> Layer<S> for AuditLayer {
    type Service = Audit<S>;

    fn layer(&self, inner: S) -> Audit<S> {
        Audit {
            inner,
            calls: Arc::clone(&self.0),
        }
    }
}

#[tokio::test]
async fn a_host_layer_between_result_storage_and_render_sees_only_misses() {
    let images = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    write_image(images.path(), "photo.png", 64, 48, image::ImageFormat::Png);
    let calls = Arc::new(AtomicUsize::new(0));
    let metrics = Metrics::new();
    let render = ServiceBuilder::new()
        .layer(MetricsLayer::new(metrics.clone()))
        .layer(ResultStorageLayer::new(
            FileBackend::new(results.path()).unwrap(),
        ))
        .layer(AuditLayer(Arc::clone(&calls)))
        .layer(CoalesceLayer::new())
        .service(Render::new(FileLoader::new(images.path()).unwrap()));
    let signer = Signer::new("secret");
    let images = ImageService::from_render(render).signer(signer.clone());
    let url = signer.sign_url("32x24/photo.png");

    let res = images.clone().oneshot(get(&url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, body) = body_bytes(res).await;
    assert_eq!(decode(&body).1, 32);
    wait_for_writes(&metrics, 1).await;

    let res = images.clone().oneshot(get(&url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the second request is a hit"
    );

    // A request the face refuses never reaches the render stack.
    let res = images
        .oneshot(get("/badsignature/32x24/photo.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tower_errors_in_the_render_stack_become_statuses() {
    // tower's own timeout, whose error is a `BoxError`, between admission and a core that
    // never answers: the timeout is the only way out, whatever the machine's speed.
    let never =
        tower::service_fn(|_: ImageRequest| std::future::pending::<Result<Rendered, Error>>());
    let render = ServiceBuilder::new()
        .layer(AdmissionLayer::new())
        .timeout(Duration::from_millis(20))
        .service(never);
    let service = ImageService::from_render(render).unsafe_urls(true);
    let res = service
        .oneshot(get("/unsafe/32x24/photo.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
}

#[test]
fn the_layers_services_and_futures_are_clone_and_send() {
    fn clone_send<T: Clone + Send + Sync>() {}
    fn send<T: Send>() {}
    type Core = Render<FileLoader>;
    clone_send::<Core>();
    clone_send::<Admission<Core>>();
    clone_send::<Coalesce<Admission<Core>>>();
    clone_send::<ResultStorage<Coalesce<Admission<Core>>>>();
    clone_send::<Metered<ResultStorage<Core>>>();
    clone_send::<ImageService<ResultStorage<Core>>>();
    send::<<Core as Service<ImageRequest>>::Future>();
    send::<<Admission<Core> as Service<ImageRequest>>::Future>();
    send::<<Coalesce<Core> as Service<ImageRequest>>::Future>();
    send::<<ResultStorage<Core> as Service<ImageRequest>>::Future>();
}
