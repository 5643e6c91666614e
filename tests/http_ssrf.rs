//! The HTTP loader's safe defaults, against real servers on loopback addresses: internal
//! addresses refused on every hop before any connection, a size limit counted after gzip
//! decompression, error messages without internal addresses, ports or credentials, and
//! `Debug` output without secrets.

use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use bytes::Bytes;
use imagor_tower::config::ConfigBuilder;
use imagor_tower::loader::http::DEFAULT_MAX_SIZE;
use imagor_tower::loader::{HttpLoader, SourceRequest};
use imagor_tower::{Blob, Error};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// A server that counts the TCP connections it accepts (not only the requests).
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn redirect(Query(query): Query<HashMap<String, String>>) -> Response {
    let to = query.get("to").cloned().unwrap_or_default();
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// Gzip of far more zeros than the default limit, and a body that never ends: a loader
/// that buffered the whole body before checking its size would wait forever.
fn gzip_bomb() -> Response {
    let megabytes = usize::try_from((2 * DEFAULT_MAX_SIZE) >> 20).unwrap();
    let zeros = futures::stream::iter(
        (0..megabytes).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 1 << 20]))),
    );
    let body = futures::StreamExt::chain(zeros, futures::stream::pending());
    (
        [(header::CONTENT_TYPE, "image/png")],
        Body::from_stream(body),
    )
        .into_response()
}

fn app() -> Router {
    let bomb = get(|| async { gzip_bomb() })
        .layer(CompressionLayer::new().compress_when(SizeAbove::new(0)));
    Router::new()
        .route(
            "/img.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
        )
        .route("/redirect", get(redirect))
        .route("/bomb", bomb)
}

/// A server on `ip`, or `None` where that address cannot be bound (127.0.0.2 outside Linux).
async fn server_on(ip: &str) -> Option<Server> {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.ok()?;
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move {
        axum::serve(listener, app()).await.unwrap();
    });
    Some(Server { addr, connections })
}

async fn server() -> Server {
    server_on("127.0.0.1").await.unwrap()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn fetch(loader: &HttpLoader, key: &str) -> Result<Blob, Error> {
    tokio::time::timeout(
        Duration::from_secs(20),
        loader.clone().oneshot(SourceRequest::new(key)),
    )
    .await
    .unwrap_or_else(|_| panic!("{key} did not answer within 20 s"))
}

fn assert_unauthorized(err: &Error, url: &str) {
    assert_eq!(err.status(), StatusCode::FORBIDDEN, "{url}: {err:?}");
    assert!(
        matches!(err, Error::UnauthorizedRequest(_)),
        "{url}: {err:?}"
    );
}

#[tokio::test]
async fn loopback_is_refused_by_default_without_a_connection() {
    let target = server().await;
    let port = target.addr.port();
    let loader = HttpLoader::new().unwrap();
    for url in [
        target.url("/img.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/img.png"),
        format!("http://[::ffff:7f00:1]:{port}/img.png"),
        format!("http://localhost:{port}/img.png"),
        format!("http://127.1:{port}/img.png"),
        format!("http://0.0.0.0:{port}/img.png"),
        format!("http://[::1]:{port}/img.png"),
    ] {
        let err = fetch(&loader, &url).await.unwrap_err();
        assert_unauthorized(&err, &url);
    }
    let err = fetch(&loader, &target.url("/img.png")).await.unwrap_err();
    assert_eq!(
        err.to_json(),
        format!(
            r#"{{"message":"unauthorized request: http://127.0.0.1:{port}/img.png","status":403}}"#
        )
    );
    assert_eq!(target.connections(), 0);

    // The opt-out reaches it.
    let opened = HttpLoader::builder()
        .with_block_loopback_networks(false)
        .build()
        .unwrap();
    assert_eq!(
        &fetch(&opened, &target.url("/img.png"))
            .await
            .unwrap()
            .bytes()[..],
        PNG
    );
    assert_eq!(target.connections(), 1);
}

#[tokio::test]
async fn internal_networks_are_refused_by_default_before_dialling() {
    let loader = HttpLoader::new().unwrap();
    // None of these is reachable from a test machine: a connection attempt would answer
    // 404 or time out, never 403, and not at once.
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://100.64.0.1/",
        "http://198.18.0.1/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:a9fe:a9fe]/", // ::ffff:169.254.169.254
        "http://[64:ff9b::a9fe:a9fe]/",
    ] {
        let started = Instant::now();
        let err = fetch(&loader, url).await.unwrap_err();
        assert_unauthorized(&err, url);
        assert_eq!(err.message(), format!("unauthorized request: {url}"));
        assert!(started.elapsed() < Duration::from_secs(1), "{url}");
    }
}

#[tokio::test]
async fn every_redirect_hop_is_checked_by_default() {
    let target = server().await;
    let port = target.addr.port();
    // The first hop needs an address the defaults refuse too: open exactly that one.
    let Some(hop) = server_on("127.0.0.2").await else {
        println!("127.0.0.2 is not available here; hop test skipped");
        return;
    };
    let loader = HttpLoader::builder()
        .with_allowed_networks(["127.0.0.2/32"])
        .build()
        .unwrap();
    let via = |to: &str| hop.url(&format!("/redirect?to={to}"));
    // The opened hop works, and redirects within it are followed.
    let own = via(&hop.url("/img.png"));
    assert_eq!(&fetch(&loader, &own).await.unwrap().bytes()[..], PNG);

    for to in [
        target.url("/img.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/img.png"),
        format!("http://localhost:{port}/img.png"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://100.64.0.1/".to_owned(),
    ] {
        let first = via(&to);
        let err = fetch(&loader, &first).await.unwrap_err();
        assert_unauthorized(&err, &to);
        // The message names the URL the client asked for, not the hop.
        assert_eq!(err.message(), format!("unauthorized request: {first}"));
    }
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn gzip_bomb_stops_at_the_default_limit_while_streaming() {
    let up = server().await;
    // The body really is gzip, and small on the wire.
    let mut raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(up.url("/bomb"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()[header::CONTENT_ENCODING], "gzip");
    assert!(raw.content_length().is_none());
    let mut wire = 0;
    while wire < 16 << 10 {
        wire += raw.chunk().await.unwrap().unwrap().len();
    }
    drop(raw);

    let loader = HttpLoader::builder()
        .with_block_loopback_networks(false)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = fetch(&loader, &up.url("/bomb")).await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");
    assert_eq!(
        err.to_json(),
        r#"{"message":"maximum size exceeded","status":400}"#
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn error_messages_name_no_address_port_or_credential() {
    let hop = server().await;
    let target = server().await;
    let closed = closed_port();
    let loader = HttpLoader::builder()
        .with_block_loopback_networks(false)
        .build()
        .unwrap();
    let via = |to: &str| hop.url(&format!("/redirect?to={to}"));
    let hidden = [closed.to_string(), target.addr.port().to_string()];
    let cases = [
        (
            via(&format!("http://127.0.0.1:{closed}/x.png")),
            "dial tcp: connection refused",
        ),
        (
            via(&format!("http://no-such-host.invalid:{closed}/x.png")),
            "dial tcp: no such host",
        ),
        // TLS spoken to a plain HTTP server.
        (
            via(&format!("https://127.0.0.1:{}/img.png", target.addr.port())),
            "dial tcp: connection failed",
        ),
    ];
    for (url, reason) in cases {
        let err = fetch(&loader, &url).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND, "{url}: {err:?}");
        assert_eq!(err.message(), format!("{reason}: {url}"));
        let after_url = err.to_json().replace(&url, "");
        for port in &hidden {
            assert!(!after_url.contains(port.as_str()), "{port} in {after_url}");
        }
        assert!(!after_url.contains("127.0.0.1"), "{after_url}");
    }
    assert_eq!(target.connections(), 1);

    // A name that does not resolve, asked for directly: no system error text.
    let url = format!("http://no-such-host.invalid:{closed}/a.png");
    let err = fetch(&loader, &url).await.unwrap_err();
    assert_eq!(err.message(), format!("dial tcp: no such host: {url}"));

    // Credentials in the base URL stay out of every message.
    let based = HttpLoader::builder()
        .with_base_url(&format!(
            "http://base-user:base-password@127.0.0.1:{closed}/images"
        ))
        .with_block_loopback_networks(false)
        .build()
        .unwrap();
    let err = fetch(&based, "a.png").await.unwrap_err();
    assert_eq!(
        err.message(),
        format!("dial tcp: connection refused: http://127.0.0.1:{closed}/images/a.png")
    );
    let blocked = HttpLoader::builder()
        .with_base_url("http://base-user:base-password@127.0.0.1/images")
        .build()
        .unwrap();
    let err = fetch(&blocked, "a.png").await.unwrap_err();
    assert_eq!(
        err.message(),
        "unauthorized request: http://127.0.0.1/images/a.png"
    );
}

#[tokio::test]
async fn config_defaults_block_and_limit() {
    let target = server().await;
    let build = |vars: &[(&str, &str)]| {
        ConfigBuilder::new()
            .env(vars.iter().copied())
            .build()
            .unwrap()
    };
    let config = build(&[]);
    assert_eq!(config.http_loader.max_allowed_size, Some(DEFAULT_MAX_SIZE));
    let loader = config.http_loader().unwrap().unwrap();
    for url in [
        target.url("/img.png"),
        "http://169.254.169.254/".to_owned(),
        "http://100.64.0.1/".to_owned(),
    ] {
        let err = fetch(&loader, &url).await.unwrap_err();
        assert_unauthorized(&err, &url);
    }
    assert_eq!(target.connections(), 0);

    let opened = build(&[
        ("HTTP_LOADER_BLOCK_LOOPBACK_NETWORKS", "false"),
        ("HTTP_LOADER_MAX_ALLOWED_SIZE", "10"),
    ]);
    let loader = opened.http_loader().unwrap().unwrap();
    let err = fetch(&loader, &target.url("/img.png")).await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");
    // Opening link-local keeps CGNAT (private) closed, Alibaba's metadata address included.
    let link_local_open = build(&[("HTTP_LOADER_BLOCK_LINK_LOCAL_NETWORKS", "false")]);
    let loader = link_local_open.http_loader().unwrap().unwrap();
    let err = fetch(&loader, "http://100.100.100.200/").await.unwrap_err();
    assert_unauthorized(&err, "100.100.100.200");
    // An explicit 0 is "no limit", as in imagor.
    let unlimited = build(&[
        ("HTTP_LOADER_BLOCK_LOOPBACK_NETWORKS", "false"),
        ("HTTP_LOADER_MAX_ALLOWED_SIZE", "0"),
    ]);
    assert_eq!(unlimited.http_loader.max_allowed_size, None);
    let loader = unlimited.http_loader().unwrap().unwrap();
    assert!(fetch(&loader, &target.url("/img.png")).await.is_ok());
}

#[test]
fn debug_output_hides_forwarded_and_proxy_secrets() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer auth-secret"),
    );
    headers.insert(
        header::COOKIE,
        HeaderValue::from_static("session=cookie-secret"),
    );
    headers.insert("x-api-key", HeaderValue::from_static("api-key-secret"));
    let request = SourceRequest::new("https://a.example/b.png").with_headers(headers);
    let shown = format!("{request:?}");
    for secret in ["auth-secret", "cookie-secret", "api-key-secret"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("https://a.example/b.png"), "{shown}");
    assert!(shown.contains("authorization"), "{shown}");

    let config = ConfigBuilder::new()
        .env([
            (
                "HTTP_LOADER_PROXY_URLS",
                "http://proxy-user:proxy-secret@proxy.test:3128",
            ),
            ("HTTP_LOADER_FORWARD_HEADERS", "Authorization,Cookie"),
            ("HTTP_LOADER_FORWARD_CLIENT_HEADERS", "true"),
        ])
        .build()
        .unwrap();
    let loader = config.http_loader().unwrap().unwrap();
    for shown in [format!("{config:?}"), format!("{loader:?}")] {
        assert!(!shown.contains("proxy-secret"), "{shown}");
        assert!(!shown.contains("proxy-user"), "{shown}");
    }
}

#[tokio::test]
async fn configured_source_regexp_is_anchored() {
    let config = ConfigBuilder::new()
        .env([("HTTP_LOADER_ALLOWED_SOURCE_REGEXP", r"example\.com")])
        .build()
        .unwrap();
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    let loader = config.http_loader().unwrap().unwrap();
    assert!(loader.source_url("https://example.com/a.jpg").is_ok());
    let err = fetch(&loader, "https://evil-example.com.attacker.net/a.jpg")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SourceNotAllowed), "{err:?}");

    // A pattern written for imagor's unanchored matching gets a start-up warning.
    let prefix = ConfigBuilder::new()
        .env([(
            "HTTP_LOADER_ALLOWED_SOURCE_REGEXP",
            r"^https://cdn\.example\.com/",
        )])
        .build()
        .unwrap();
    assert!(
        prefix
            .warnings()
            .iter()
            .any(|w| w.contains("HTTP_LOADER_ALLOWED_SOURCE_REGEXP") && w.contains("anchored")),
        "{:?}",
        prefix.warnings()
    );
}
