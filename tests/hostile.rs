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
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::get;
use tower::ServiceExt;

/// Serialises the tests: CPU time is counted for the whole process.
static SERIAL: Mutex<()> = Mutex::new(());

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
        .process_options(Options::default())
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
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if skip() {
        return;
    }
    let service = service();
    // hyper drops the response future when its client disconnects; aborting the task that
    // awaits it is the same drop.
    let client = tokio::spawn(service.oneshot(get(HEAVY)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = cpu_during(Duration::from_millis(300)).await;
    assert!(busy >= Duration::from_millis(200), "the job was not running: {busy:?}");
    client.abort();
    assert_stops(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coalesced_job_runs_until_its_last_client_leaves() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
    let busy = cpu_during(Duration::from_millis(300)).await;
    assert!(busy >= Duration::from_millis(200), "the shared job stopped early: {busy:?}");
    second.abort();
    assert_stops(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_client_left_while_queued_never_starts() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
