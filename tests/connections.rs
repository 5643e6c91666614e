//! Connection handling of the standalone server: first-request and idle timeouts, the
//! connection cap, HTTP/2 keep-alive pings and graceful shutdown, against the real server
//! (`Config::http_server` serving `Config::service`) on 127.0.0.1.
#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::time::Duration;

use imagor_tower::config::Config;
use imagor_tower::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images");
/// A normal request: a small resize of a 7 KB PNG.
const IMAGE: &str = "/unsafe/64x64/gopher-front.png";
/// The 24-byte HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: JoinHandle<()>,
}

/// Starts the server as the standalone does, from configuration, on 127.0.0.1:0.
async fn start(env: &[(&str, &str)]) -> Running {
    let mut vars = vec![
        ("FILE_LOADER_BASE_DIR", FIXTURES),
        ("IMAGOR_UNSAFE", "true"),
        ("HTTP_LOADER_DISABLE", "true"),
    ];
    vars.extend_from_slice(env);
    let config = Config::builder().env(vars).build().unwrap();
    let service = config.service().unwrap();
    start_with(config.http_server(), service).await
}

async fn start_with(server: Server, service: imagor_tower::config::ConfiguredService) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        server
            .serve(listener, service, async {
                let _ = stopped.await;
            })
            .await;
    });
    Running { addr, stop, done }
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) and returns its status.
async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside the response body");
        buf.extend_from_slice(&chunk[..n]);
    }
    status
}

/// One GET on a new connection; returns the status and the time to the whole response.
async fn timed_get(addr: SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let status = timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("no response within 10 s");
    (status, started.elapsed())
}

/// The median time of `n` GETs of `path`, each answered 200.
async fn median_get(addr: SocketAddr, path: &str, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let (status, took) = timed_get(addr, path).await;
        assert_eq!(status, 200, "{path}");
        times.push(took);
    }
    times.sort();
    times[n / 2]
}

/// Waits until the peer closes `stream` (EOF or reset), reading and discarding anything it
/// sends; returns when that happened, or `None` if it was still open at `deadline`.
async fn closed_at(mut stream: TcpStream, deadline: Instant) -> Option<Instant> {
    let mut buf = [0u8; 4096];
    loop {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

/// The soft and hard limits on open files, from /proc (Linux); `None` elsewhere.
fn open_file_limits() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut numbers = line["Max open files".len()..].split_whitespace();
    let parse = |v: Option<&str>| match v? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    };
    Some((parse(numbers.next())?, parse(numbers.next())?))
}

/// Makes sure this process may open `needed` files, raising the soft limit to the hard one
/// (with `prlimit`) if it must; `Err` says why the test cannot run.
fn ensure_open_files(needed: u64) -> Result<(), String> {
    let Some((soft, hard)) = open_file_limits() else {
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(format!(
            "the hard limit on open files is {hard}, this test needs {needed} (ulimit -n)"
        ));
    }
    let raised = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={hard}:{hard}"))
        .status()
        .is_ok_and(|s| s.success());
    match open_file_limits() {
        Some((soft, _)) if soft >= needed => Ok(()),
        _ => Err(format!(
            "the limit on open files is {soft} and could not be raised to {needed} \
             (prlimit {}); run with ulimit -n {needed} or more",
            if raised { "ran" } else { "failed" }
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_neither_delay_requests_nor_stay_open() {
    const IDLE: usize = 500;
    const SLOW: usize = 100;
    // Each connection is two descriptors here (client and server end), plus headroom.
    if let Err(reason) = ensure_open_files(2 * (IDLE + SLOW) as u64 + 200) {
        println!("skipped: {reason}");
        return;
    }
    let header_timeout = Duration::from_secs(2);
    let running = start(&[("SERVER_HEADER_TIMEOUT", "2s")]).await;
    let addr = running.addr;

    // Warm up (first decode, allocator, page cache), then the baseline.
    median_get(addr, IMAGE, 3).await;
    let before_image = median_get(addr, IMAGE, 9).await;
    let before_health = median_get(addr, "/healthcheck", 9).await;

    let opened = Instant::now();
    let mut held = Vec::with_capacity(IDLE + SLOW);
    for _ in 0..IDLE {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    for _ in 0..SLOW {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Half a header line, and nothing more.
        stream
            .write_all(b"GET /healthcheck HTTP/1.1\r\nHost: localh")
            .await
            .unwrap();
        held.push(stream);
    }
    let all_open = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let during_image = median_get(addr, IMAGE, 9).await;
    let during_health = median_get(addr, "/healthcheck", 9).await;
    let measured = opened.elapsed();
    println!(
        "image: {before_image:?} before, {during_image:?} with {IDLE} idle and {SLOW} slow \
         connections; /healthcheck: {before_health:?} before, {during_health:?} with them \
         (opening them took {:?}, measuring ended {measured:?} after the first)",
        all_open - opened
    );
    assert!(
        measured < header_timeout,
        "the measurements took {measured:?}, so the connections were not all open throughout"
    );
    for (name, before, during) in [
        ("image", before_image, during_image),
        ("/healthcheck", before_health, during_health),
    ] {
        let delay = during.saturating_sub(before);
        assert!(
            delay < Duration::from_millis(100),
            "{name}: {before:?} before, {during:?} with the idle connections open"
        );
    }

    // Every held connection is closed by the server within its timeout (plus slack).
    let slack = Duration::from_millis(1500);
    let deadline = all_open + header_timeout + slack;
    let waits: Vec<_> = held
        .into_iter()
        .map(|stream| tokio::spawn(closed_at(stream, deadline)))
        .collect();
    let mut latest = opened;
    for (i, wait) in waits.into_iter().enumerate() {
        let kind = if i < IDLE { "idle" } else { "slow" };
        let closed = wait
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{kind} connection {i} still open after {deadline:?}"));
        // Not before the timeout: the server's clock starts when it accepts.
        assert!(
            closed - opened >= header_timeout - Duration::from_millis(100),
            "{kind} connection {i} closed after {:?}, before the timeout",
            closed - opened
        );
        latest = latest.max(closed);
    }
    println!(
        "all {} connections closed {:?} after the first was opened",
        IDLE + SLOW,
        latest - opened
    );
    let _ = running.stop.send(());
    timeout(Duration::from_secs(5), running.done)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_http2_preface_is_closed_within_the_header_timeout() {
    let running = start(&[("SERVER_HEADER_TIMEOUT", "1s")]).await;
    let opened = Instant::now();
    // 18 of the 24 bytes of the preface: the server cannot tell HTTP/1 from HTTP/2 yet.
    let mut partial = TcpStream::connect(running.addr).await.unwrap();
    partial.write_all(&H2_PREFACE[..18]).await.unwrap();
    // The whole preface, then nothing (no SETTINGS, no request).
    let mut preface_only = TcpStream::connect(running.addr).await.unwrap();
    preface_only.write_all(H2_PREFACE).await.unwrap();
    // Nothing at all.
    let silent = TcpStream::connect(running.addr).await.unwrap();

    let deadline = opened + Duration::from_millis(2500);
    for (name, stream) in [
        ("partial preface", partial),
        ("preface only", preface_only),
        ("silent", silent),
    ] {
        let closed = closed_at(stream, deadline)
            .await
            .unwrap_or_else(|| panic!("{name}: still open 2.5 s after connecting"));
        assert!(
            closed - opened >= Duration::from_millis(900),
            "{name}: closed after {:?}, before the timeout",
            closed - opened
        );
    }
    let _ = running.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let running = start(&[
        ("SERVER_HEADER_TIMEOUT", "500ms"),
        ("SERVER_IDLE_TIMEOUT", "1500ms"),
    ])
    .await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut stream).await, 200);
        // Longer than the header timeout, shorter than the idle timeout: still open.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let answered = Instant::now() - Duration::from_millis(800);
    let closed = closed_at(stream, answered + Duration::from_secs(3))
        .await
        .expect("the idle connection is still open 3 s after its last response");
    let idle = closed - answered;
    assert!(
        idle >= Duration::from_millis(1400),
        "closed {idle:?} after the last response, before the idle timeout"
    );
    let _ = running.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_new_connections_in_the_backlog() {
    let running = start(&[
        ("SERVER_MAX_CONNECTIONS", "10"),
        ("SERVER_HEADER_TIMEOUT", "30s"),
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(TcpStream::connect(running.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The 11th connects (the kernel completes the handshake) but is not served.
    let mut eleventh = TcpStream::connect(running.addr).await.unwrap();
    eleventh
        .write_all(b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let early = timeout(Duration::from_millis(700), eleventh.peek(&mut byte)).await;
    assert!(
        early.is_err(),
        "the 11th connection was answered while 10 were open: {early:?}"
    );

    // One of the ten leaves: the 11th is served.
    let started = Instant::now();
    drop(held.pop());
    let status = timeout(Duration::from_secs(5), read_response(&mut eleventh))
        .await
        .expect("the 11th connection was not served after one of the ten closed");
    assert_eq!(status, 200);
    println!("served {:?} after a slot freed", started.elapsed());
    let _ = running.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_keep_alive_pings_close_a_silent_peer() {
    let config = Config::builder()
        .env([("IMAGOR_UNSAFE", "true"), ("HTTP_LOADER_DISABLE", "true")])
        .build()
        .unwrap();
    let server = config
        .http_server()
        .header_timeout(Duration::from_secs(30))
        .keep_alive(Duration::from_millis(300), Duration::from_millis(300));
    let running = start_with(server, config.service().unwrap()).await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    stream.write_all(H2_PREFACE).await.unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    stream
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let opened = Instant::now();

    // Read frames until a PING (type 6) without the ACK flag arrives; never answer it.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut saw_ping = false;
    let deadline = opened + Duration::from_secs(5);
    let closed = loop {
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            if buf[3] == 6 && buf[4] & 1 == 0 {
                saw_ping = true;
            }
            buf.drain(..9 + len);
        }
        match timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => panic!("the HTTP/2 connection is still open 5 s later (ping: {saw_ping})"),
            Ok(Ok(0) | Err(_)) => break Instant::now(),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    assert!(saw_ping, "the server sent no keep-alive PING");
    assert!(
        closed - opened < Duration::from_secs(3),
        "closed {:?} after the handshake",
        closed - opened
    );
    let _ = running.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_idle_connections_and_returns() {
    let running = start(&[
        ("SERVER_HEADER_TIMEOUT", "30s"),
        ("SERVER_IDLE_TIMEOUT", "30s"),
    ])
    .await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(running.addr).await.unwrap());
    }
    let mut kept_alive = TcpStream::connect(running.addr).await.unwrap();
    kept_alive
        .write_all(format!("GET {IMAGE} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut kept_alive).await, 200);
    idle.push(kept_alive);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = Instant::now();
    running.stop.send(()).unwrap();
    timeout(Duration::from_secs(3), running.done)
        .await
        .expect("serve() did not return within 3 s of the shutdown signal")
        .unwrap();
    for (i, stream) in idle.into_iter().enumerate() {
        closed_at(stream, stopping + Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("connection {i} still open after shutdown"));
    }
    // Nothing is accepted any more.
    assert!(TcpStream::connect(running.addr).await.is_err());
}
