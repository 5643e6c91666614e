//! Production hardening through the whole `ImageService`: request coalescing, metrics, and
//! faults (slow sources, failing result storage, cancelled clients, an S3 outage).

mod support;

use bytes::Bytes;
use http::{StatusCode, header};
use imagor_tower::loader::{SourceRequest, service_fn_loader};
use imagor_tower::metrics::{Metrics, MetricsLayer};
use imagor_tower::storage::{FileBackend, ResultStorageLayer};
use imagor_tower::{Blob, Error, ImageService};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{body_bytes, decode, get};
use tower::{Layer, ServiceExt};

/// A PNG of `w`×`h` with a gradient.
fn png(w: u32, h: u32) -> Bytes {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    Bytes::from(out)
}

/// A loader serving `png` under every key except `missing*` (404) and `slow*` (which takes
/// `slow` to answer), counting its calls; each load takes `delay`.
fn counting_loader(
    png: Bytes,
    delay: Duration,
    slow: Duration,
) -> (
    Arc<AtomicUsize>,
    impl tower::Service<
        SourceRequest,
        Response = Blob,
        Error = Error,
        Future = impl Future<Output = Result<Blob, Error>> + Send,
    > + Clone
    + Send
    + Sync
    + 'static,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let loader = service_fn_loader(move |req: SourceRequest| {
        counter.fetch_add(1, Ordering::SeqCst);
        let png = png.clone();
        async move {
            tokio::time::sleep(delay).await;
            if req.key().starts_with("missing") {
                return Err(Error::NotFound);
            }
            if req.key().starts_with("slow") {
                tokio::time::sleep(slow).await;
            }
            Ok(Blob::new(png))
        }
    });
    (calls, loader)
}

async fn json(res: http::Response<imagor_tower::body::Body>) -> (StatusCode, serde_json::Value) {
    let status = res.status();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let (_, bytes) = body_bytes(res).await;
    (status, serde_json::from_slice(&bytes).unwrap())
}

// ----- request coalescing -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_requests_share_one_load_and_one_run() {
    let (calls, loader) = counting_loader(png(120, 80), Duration::from_millis(150), Duration::ZERO);
    let metrics = Metrics::new();
    let service = MetricsLayer::new(metrics.clone())
        .layer(ImageService::new().unsafe_urls(true).loader(loader));

    let requests: Vec<_> = (0..8)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { service.oneshot(get("/unsafe/60x40/a.png")).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for handle in requests {
        let res = handle.await.unwrap().unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        bodies.push(body_bytes(res).await.1);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one load for eight requests"
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(decode(&bodies[0]).1, 60);
    assert!(
        metrics
            .render()
            .contains("imagor_coalesced_requests_total 7\n")
    );

    // Different params are different results: separate loads, at the same time.
    let (a, b) = tokio::join!(
        service.clone().oneshot(get("/unsafe/30x20/a.png")),
        service
            .clone()
            .oneshot(get("/unsafe/filters:grayscale()/a.png")),
    );
    assert_eq!(a.unwrap().status(), StatusCode::OK);
    assert_eq!(b.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Once a flight has landed, the next identical request runs again.
    let res = service.oneshot(get("/unsafe/60x40/a.png")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_errors_reach_every_request() {
    let (calls, loader) = counting_loader(png(8, 8), Duration::from_millis(100), Duration::ZERO);
    let service = ImageService::new().unsafe_urls(true).loader(loader);
    let (a, b, c) = tokio::join!(
        service.clone().oneshot(get("/unsafe/10x10/missing.png")),
        service.clone().oneshot(get("/unsafe/10x10/missing.png")),
        service.clone().oneshot(get("/unsafe/10x10/missing.png")),
    );
    for res in [a, b, c] {
        let (status, body) = json(res.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["message"], "not found");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_first_request_does_not_strand_the_others() {
    let (calls, loader) = counting_loader(png(64, 64), Duration::from_millis(200), Duration::ZERO);
    let service = ImageService::new().unsafe_urls(true).loader(loader);
    let first = tokio::spawn(service.clone().oneshot(get("/unsafe/32x32/a.png")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = tokio::spawn(service.clone().oneshot(get("/unsafe/32x32/a.png")));
    tokio::time::sleep(Duration::from_millis(20)).await;
    first.abort();
    let res = second.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ----- metrics -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_stages_and_result_storage() {
    let results = tempfile::tempdir().unwrap();
    let (_, loader) = counting_loader(png(40, 40), Duration::ZERO, Duration::ZERO);
    let metrics = Metrics::new().namespace("img");
    let service = MetricsLayer::new(metrics.clone()).layer(
        ResultStorageLayer::new(FileBackend::new(results.path()).unwrap())
            .layer(ImageService::new().unsafe_urls(true).loader(loader)),
    );
    for uri in [
        "/unsafe/20x20/a.png",
        "/unsafe/10x10/a.png",
        "/unsafe/5x5/missing.png",
    ] {
        service.clone().oneshot(get(uri)).await.unwrap();
    }
    // The background write lands, then the same request is a hit.
    let mut hit = false;
    for _ in 0..50 {
        let res = service
            .clone()
            .oneshot(get("/unsafe/20x20/a.png"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        if metrics
            .render()
            .contains("img_result_storage_lookups_total{outcome=\"hit\"} 1\n")
        {
            hit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hit, "{}", metrics.render());
    // Both new results are written in the background and timed as the `store` stage.
    let stored = "img_stage_duration_seconds_count{stage=\"store\"} 2\n";
    for _ in 0..50 {
        if metrics.render().contains(stored) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let text = metrics.render();
    let counter = |line: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{line} missing in\n{text}"))
    };
    let ok = counter("img_http_requests_total{code=\"200\"}");
    assert!(ok >= 3);
    assert_eq!(counter("img_http_requests_total{code=\"404\"}"), 1);
    assert_eq!(
        counter("img_http_request_duration_seconds_count{code=\"404\",method=\"GET\"}"),
        1
    );
    // Every request parsed; three missed the result storage (two processed, one 404).
    assert_eq!(
        counter("img_stage_duration_seconds_count{stage=\"parse\"}"),
        ok + 1
    );
    assert_eq!(
        counter("img_result_storage_lookups_total{outcome=\"hit\"}"),
        1
    );
    let misses = counter("img_result_storage_lookups_total{outcome=\"miss\"}");
    assert_eq!(
        counter("img_stage_duration_seconds_count{stage=\"load\"}"),
        misses
    );
    assert_eq!(
        counter("img_stage_duration_seconds_count{stage=\"process\"}"),
        misses - 1
    );
    // Encoding is timed on its own for every processed image, and each result was stored once.
    assert_eq!(
        counter("img_stage_duration_seconds_count{stage=\"encode\"}"),
        misses - 1
    );
    assert_eq!(
        counter("img_stage_duration_seconds_count{stage=\"store\"}"),
        misses - 1
    );
    assert_eq!(counter("img_process_queue_depth"), 0);
    assert!(text.contains("# TYPE img_http_request_duration_seconds histogram\n"));
}

#[cfg(feature = "server")]
#[tokio::test]
async fn configured_metrics_count_source_storage_hits() {
    let originals = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(originals.path().join("a.png"), png(16, 16)).unwrap();
    let env = [
        (
            "FILE_LOADER_BASE_DIR",
            originals.path().display().to_string(),
        ),
        ("FILE_STORAGE_BASE_DIR", cache.path().display().to_string()),
        ("IMAGOR_UNSAFE", "1".to_owned()),
        ("HTTP_LOADER_DISABLE", "1".to_owned()),
        ("PROMETHEUS_BIND", "127.0.0.1:0".to_owned()),
        ("PROMETHEUS_NAMESPACE", "cfg".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let config = imagor_tower::config::Config::from_sources(Vec::<String>::new(), env, |_| {
        Err(std::io::ErrorKind::NotFound.into())
    })
    .unwrap();
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    let metrics = config.metrics().expect("PROMETHEUS_BIND turns metrics on");
    let service = config.service_with_metrics(Some(&metrics)).unwrap();
    let res = service
        .clone()
        .oneshot(get("/unsafe/8x8/a.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The source is saved in the background; a later load finds it in the storage.
    let mut hit = false;
    for size in 1..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let uri = format!("/unsafe/{size}x{size}/a.png");
        let res = service.clone().oneshot(get(&uri)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        if metrics
            .render()
            .contains("cfg_storage_lookups_total{outcome=\"hit\"} 1\n")
        {
            hit = true;
            break;
        }
    }
    assert!(hit, "{}", metrics.render());
    // The first load missed (and maybe a few more, before the save landed).
    let text = metrics.render();
    let misses: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("cfg_storage_lookups_total{outcome=\"miss\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(misses >= 1, "{text}");
    let metrics_off = imagor_tower::config::Config::from_sources(
        Vec::<String>::new(),
        Vec::<(String, String)>::new(),
        |_| Err(std::io::ErrorKind::NotFound.into()),
    )
    .unwrap();
    assert!(metrics_off.metrics().is_none());
}

// ----- faults -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_source_times_out_while_others_are_served() {
    let (_, loader) = counting_loader(png(32, 32), Duration::ZERO, Duration::from_secs(30));
    let service = ImageService::new()
        .unsafe_urls(true)
        .load_timeout(Duration::from_secs(1))
        .loader(loader);
    let slow = tokio::spawn(service.clone().oneshot(get("/unsafe/10x10/slow.png")));
    let started = Instant::now();
    for size in 1..=5 {
        let uri = format!("/unsafe/{size}x{size}/fast.png");
        let res = service.clone().oneshot(get(&uri)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!slow.is_finished());
    let (status, body) = json(slow.await.unwrap().unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        body,
        serde_json::json!({"message": "timeout", "status": 408})
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_deadline_answers_408() {
    let (_, loader) = counting_loader(png(32, 32), Duration::ZERO, Duration::from_secs(30));
    let service = ImageService::new()
        .unsafe_urls(true)
        .request_timeout(Duration::from_millis(200))
        .loader(loader);
    let (status, body) = json(
        service
            .oneshot(get("/unsafe/10x10/slow.png"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["message"], "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_result_storage_write_still_answers_200() {
    let results = tempfile::tempdir().unwrap();
    let base = results.path().join("results");
    let backend = FileBackend::new(&base).unwrap();
    // The storage directory becomes a plain file: every write under it now fails.
    std::fs::remove_dir(&base).unwrap();
    std::fs::write(&base, b"not a directory").unwrap();

    let (calls, loader) = counting_loader(png(50, 50), Duration::ZERO, Duration::ZERO);
    let metrics = Metrics::new();
    let service = MetricsLayer::new(metrics.clone()).layer(
        ResultStorageLayer::new(backend)
            .layer(ImageService::new().unsafe_urls(true).loader(loader)),
    );
    let first = service
        .clone()
        .oneshot(get("/unsafe/25x25/a.png"))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let (_, first) = body_bytes(first).await;
    assert_eq!(decode(&first).1, 25);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Nothing was stored, so the same request is processed again, and still succeeds.
    let second = service.oneshot(get("/unsafe/25x25/a.png")).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(body_bytes(second).await.1, first);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let text = metrics.render();
    assert!(text.contains("imagor_result_storage_lookups_total{outcome=\"miss\"} 2\n"));
    assert!(text.contains("imagor_result_storage_lookups_total{outcome=\"hit\"} 0\n"));
    assert_eq!(std::fs::read(&base).unwrap(), b"not a directory");
}

/// Polls `fut` until `done()` holds, failing after a few seconds.
async fn poll_until<F: Future + Unpin>(fut: &mut F, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            futures::poll!(&mut *fut).is_pending(),
            "finished before the condition held"
        );
        assert!(Instant::now() < deadline, "condition never held");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_client_that_leaves_gives_its_slot_back() {
    // A large source keeps the single worker busy for a while.
    let (_, loader) = counting_loader(png(2400, 2400), Duration::ZERO, Duration::ZERO);
    let metrics = Metrics::new();
    let service = MetricsLayer::new(metrics.clone()).layer(
        ImageService::new()
            .unsafe_urls(true)
            .process_concurrency(1)
            .process_queue_size(1)
            .loader(loader),
    );
    let queued_one = || metrics.render().contains("imagor_process_queue_depth 1\n");

    let busy = tokio::spawn(
        service
            .clone()
            .oneshot(get("/unsafe/1800x1800/filters:blur(8)/big.png")),
    );
    // Its load is instant; give it the time to take the worker.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Wait until the worker is taken: a probe request then queues.
    let mut waiting = Box::pin(service.clone().oneshot(get("/unsafe/100x100/big.png")));
    poll_until(&mut waiting, queued_one).await;
    // Worker busy and queue full: one more is refused at once.
    let refused = service
        .clone()
        .oneshot(get("/unsafe/90x90/big.png"))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // The queued client leaves.
    drop(waiting);
    assert!(metrics.render().contains("imagor_process_queue_depth 0\n"));
    // Its place is free again: another request may queue, and is served.
    let mut next = Box::pin(service.clone().oneshot(get("/unsafe/80x80/big.png")));
    poll_until(&mut next, queued_one).await;
    assert_eq!(next.await.unwrap().status(), StatusCode::OK);
    assert_eq!(busy.await.unwrap().unwrap().status(), StatusCode::OK);

    // No permit leaked: one runs and one queues, both served.
    let (a, b) = tokio::join!(
        service.clone().oneshot(get("/unsafe/70x70/big.png")),
        service.clone().oneshot(get("/unsafe/60x60/big.png")),
    );
    assert_eq!(a.unwrap().status(), StatusCode::OK);
    assert_eq!(b.unwrap().status(), StatusCode::OK);
}

#[cfg(feature = "s3")]
mod s3_outage {
    //! An S3 server (s3s-fs) that can be stopped and started again on the same port.

    use super::*;
    use imagor_tower::s3::{S3Loader, S3Options};
    use tokio::net::TcpListener;
    use tokio::task::JoinSet;

    const KEY: &str = "outage-access";
    const SECRET: &str = "outage-secret";

    /// A running server over `root`; `stop` closes the listener and every connection.
    struct Server {
        tasks: JoinSet<()>,
    }

    impl Server {
        async fn start(root: &std::path::Path, port: u16) -> (Self, u16) {
            let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut builder =
                s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).unwrap());
            builder.set_auth(s3s::auth::SimpleAuth::from_single(KEY, SECRET));
            let service = builder.build();
            let mut tasks = JoinSet::new();
            let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
            tasks.spawn(async move {
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    if conn_tx.send(socket).is_err() {
                        return;
                    }
                }
            });
            tasks.spawn(async move {
                let http = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let mut connections = JoinSet::new();
                while let Some(socket) = conn_rx.recv().await {
                    let conn = http
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                        .into_owned();
                    connections.spawn(async move {
                        let _ = conn.await;
                    });
                }
            });
            (Self { tasks }, port)
        }

        /// Aborting the tasks drops the listener and, with the inner set, every connection.
        async fn stop(mut self) {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_s3_outage_gives_clean_errors_then_recovers() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("images")).unwrap();
        std::fs::write(root.path().join("images/a.png"), png(64, 48)).unwrap();
        let (server, port) = Server::start(root.path(), 0).await;

        let backend = S3Options::new("images")
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_force_path_style(true)
            .with_access_key(KEY, SECRET)
            .build()
            .unwrap();
        let service = ImageService::new()
            .unsafe_urls(true)
            .process_concurrency(2)
            .process_queue_size(0)
            .loader(S3Loader::new(backend));

        let res = service
            .clone()
            .oneshot(get("/unsafe/32x24/a.png"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let (status, body) = json(
            service
                .clone()
                .oneshot(get("/unsafe/32x24/none.png"))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, &body["message"]),
            (StatusCode::NOT_FOUND, &"not found".into())
        );

        server.stop().await;
        for uri in ["/unsafe/16x12/a.png", "/unsafe/16x12/none.png"] {
            let started = Instant::now();
            let res = service.clone().oneshot(get(uri)).await.unwrap();
            let (status, body) = json(res).await;
            assert!(status.is_server_error(), "{status} {body}");
            assert_eq!(body["status"], status.as_u16());
            assert!(!body["message"].as_str().unwrap().is_empty());
            assert!(started.elapsed() < Duration::from_secs(10));
        }

        let (server, _) = Server::start(root.path(), port).await;
        let res = service
            .clone()
            .oneshot(get("/unsafe/16x12/a.png"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(decode(&body_bytes(res).await.1).1, 16);
        let res = service
            .clone()
            .oneshot(get("/unsafe/16x12/none.png"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        // No admission slot leaked during the outage: both slots serve at once.
        let (a, b) = tokio::join!(
            service.clone().oneshot(get("/unsafe/20x15/a.png")),
            service.clone().oneshot(get("/unsafe/24x18/a.png")),
        );
        assert_eq!(a.unwrap().status(), StatusCode::OK);
        assert_eq!(b.unwrap().status(), StatusCode::OK);
        server.stop().await;
    }
}
