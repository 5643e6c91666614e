//! Hostile requests through the whole `ImageService`: pixel work stops when nobody wants its
//! answer any more.
//!
//! Each test runs a request whose pixel work takes many seconds (blurs of a large `color:`
//! canvas), lets it go unwanted (its process timeout fires, its client leaves, every
//! coalesced client leaves) and then checks the process's CPU time: once the job is
//! cancelled it must stop growing within 200 ms. The tests share one process-wide CPU clock,
//! so they run one at a time.

mod support;

use http::StatusCode;
use imagor_tower::ImageService;
use imagor_tower::processing::Options;
use std::time::{Duration, Instant};
use support::get;
use tower::ServiceExt;

/// Serialises the tests: CPU time is counted for the whole process.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Seconds of one core at the test profile's optimisation, cancelled long before the end.
const HEAVY: &str = "/unsafe/4000x4000/filters:blur(20):sharpen(20):blur(20):blur(20)/color:red";
const HEAVY_TOO: &str =
    "/unsafe/4000x4001/filters:blur(20):sharpen(20):blur(20):blur(20)/color:blue";

/// CPU time (user + system) of this process so far; `None` where `/proc` is missing.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time spent during `window`.
async fn cpu_during(window: Duration) -> Duration {
    let before = cpu_time().unwrap();
    tokio::time::sleep(window).await;
    cpu_time().unwrap().saturating_sub(before)
}

/// Asserts that the process is busy now (a job runs) and idle once `settle` has passed after
/// `stop` returns.
async fn assert_stops(settle: Duration) {
    tokio::time::sleep(settle).await;
    let used = cpu_during(Duration::from_millis(600)).await;
    assert!(
        used < Duration::from_millis(120),
        "the process used {used:?} of CPU in 600 ms after the job was cancelled"
    );
}

fn service() -> ImageService {
    ImageService::new()
        .unsafe_urls(true)
        // The default work budget would refuse these at once; here they must start.
        .process_options(Options::default().work_budget(u64::MAX))
}

fn skip() -> bool {
    if cpu_time().is_none() {
        eprintln!("skipped: /proc/self/stat is not readable here, so CPU time cannot be measured");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_job_stops_using_the_cpu() {
    let _serial = SERIAL.lock().await;
    if skip() {
        return;
    }
    let service = service().process_timeout(Duration::from_millis(400));
    let started = Instant::now();
    let res = service.oneshot(get(HEAVY)).await.unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_stops(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_timeout_stops_the_job_too() {
    let _serial = SERIAL.lock().await;
    if skip() {
        return;
    }
    let service = service().request_timeout(Duration::from_millis(400));
    let res = service.oneshot(get(HEAVY)).await.unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    assert_stops(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_stops_its_job() {
    let _serial = SERIAL.lock().await;
    if skip() {
        return;
    }
    let service = service();
    // hyper drops the response future when its client disconnects; aborting the task that
    // awaits it is the same drop.
    let client = tokio::spawn(service.oneshot(get(HEAVY)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // On a loaded machine the job gets only a share of a core; any steady use shows it runs.
    let busy = cpu_during(Duration::from_millis(500)).await;
    assert!(
        busy >= Duration::from_millis(150),
        "the job was not running: {busy:?}"
    );
    client.abort();
    assert_stops(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coalesced_job_runs_until_its_last_client_leaves() {
    let _serial = SERIAL.lock().await;
    if skip() {
        return;
    }
    let service = service();
    let first = tokio::spawn(service.clone().oneshot(get(HEAVY)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::spawn(service.oneshot(get(HEAVY)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.abort();
    // The second client still waits: the shared job goes on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = cpu_during(Duration::from_millis(500)).await;
    assert!(
        busy >= Duration::from_millis(150),
        "the shared job stopped early: {busy:?}"
    );
    second.abort();
    assert_stops(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_client_left_while_queued_never_starts() {
    let _serial = SERIAL.lock().await;
    if skip() {
        return;
    }
    // One pixel job at a time: the second request waits for the first.
    let service = service().process_concurrency(1).process_queue_size(4);
    let running = tokio::spawn(service.clone().oneshot(get(HEAVY)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued = tokio::spawn(service.oneshot(get(HEAVY_TOO)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    queued.abort();
    running.abort();
    // Neither the running job nor the one that was waiting may use the CPU now.
    assert_stops(Duration::from_millis(200)).await;
}

/// A loader that answers `body` with `content_type` for every key after `delay`, counting calls.
fn fixed_loader(
    body: &'static [u8],
    content_type: &'static str,
    delay: Duration,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl tower::Service<
    imagor_tower::loader::SourceRequest,
    Response = imagor_tower::Blob,
    Error = imagor_tower::Error,
    Future = impl Future<Output = Result<imagor_tower::Blob, imagor_tower::Error>> + Send,
> + Clone
+ Send
+ Sync
+ 'static {
    imagor_tower::loader::service_fn_loader(move |_req| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            Ok(imagor_tower::Blob::new(bytes::Bytes::from_static(body))
                .with_content_type(content_type))
        }
    })
}

#[tokio::test]
async fn raw_passes_only_images() {
    let calls = std::sync::Arc::default();
    let html = ImageService::new().unsafe_urls(true).loader(fixed_loader(
        b"<html><script>alert(1)</script></html>",
        "text/html",
        Duration::ZERO,
        std::sync::Arc::clone(&calls),
    ));
    let res = html
        .oneshot(get("/unsafe/filters:raw()/page.html"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);

    // Declared as HTML, but the bytes are a PNG: served as the PNG it is.
    static PNG: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    });
    let png = ImageService::new().unsafe_urls(true).loader(fixed_loader(
        PNG.as_slice(),
        "text/html",
        Duration::ZERO,
        calls,
    ));
    let res = png
        .oneshot(get("/unsafe/filters:raw()/pixel.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[http::header::CONTENT_TYPE], "image/png");
}

#[tokio::test]
async fn coalescing_never_shares_a_load_across_credentials() {
    use std::sync::atomic::Ordering;
    static PNG: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(8, 8, image::Rgb([9, 9, 9]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    });
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let service = ImageService::new().unsafe_urls(true).loader(fixed_loader(
        PNG.as_slice(),
        "image/png",
        Duration::from_millis(200),
        std::sync::Arc::clone(&calls),
    ));
    let with = |auth: Option<&str>, cookie: Option<&str>| {
        let mut req = http::Request::get("/unsafe/4x4/shared.png");
        if let Some(auth) = auth {
            req = req.header(http::header::AUTHORIZATION, auth);
        }
        if let Some(cookie) = cookie {
            req = req.header(http::header::COOKIE, cookie);
        }
        service
            .clone()
            .oneshot(req.body(imagor_tower::body::Body::empty()).unwrap())
    };
    // Same credentials: one load for both.
    let (a, b) = tokio::join!(
        with(Some("Bearer one"), None),
        with(Some("Bearer one"), None)
    );
    assert_eq!(
        (a.unwrap().status(), b.unwrap().status()),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(calls.swap(0, Ordering::SeqCst), 1);
    // Different, missing or cookie credentials: one load each.
    let (a, b, c, d) = tokio::join!(
        with(Some("Bearer one"), None),
        with(Some("Bearer two"), None),
        with(None, None),
        with(None, Some("session=x")),
    );
    for res in [a, b, c, d] {
        assert_eq!(res.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}
