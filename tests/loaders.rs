//! Storage-key conformance, the file loader on real directories, and the HTTP loader against
//! a real HTTP server on 127.0.0.1 (so its loopback blocking, on by default, is switched off
//! here; tests/http_ssrf.rs covers the defaults).

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use imagor_tower::key::{SafeChars, file_path, normalize};
use imagor_tower::loader::http::HttpLoaderBuilder;
use imagor_tower::loader::{Fallback, FileLoader, HttpLoader, SourceRequest};
use imagor_tower::{Blob, Error};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";

// ===== storage keys =====

fn key_cases() -> Value {
    serde_json::from_str(include_str!("data/conformance/key-cases.json")).unwrap()
}

#[test]
fn key_normalisation_conformance() {
    let cases = key_cases();
    let cases = cases["normalize"].as_array().unwrap();
    for case in cases {
        let safe = SafeChars::new(case["safe_chars"].as_str().unwrap_or(""));
        let input = case["input"].as_str().unwrap();
        let expected = case["expected"].as_str().unwrap();
        assert_eq!(
            normalize(input, &safe),
            expected,
            "normalize({input:?}, {safe:?})"
        );
    }
    println!(
        "key-cases.json normalize: {} of {} passed",
        cases.len(),
        cases.len()
    );
    assert_eq!(cases.len(), 11);
}

#[test]
fn key_file_storage_path_conformance() {
    let cases = key_cases();
    let cases = cases["file_storage_path"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let safe = SafeChars::new(case["safe_chars"].as_str().unwrap());
        let image = case["image"].as_str().unwrap();
        let prefix = case["path_prefix"].as_str().unwrap();
        let base = case["base_dir"].as_str().unwrap();
        let got = file_path(image, prefix, &safe).map(|rel| format!("{base}/{rel}"));
        if case["expected_ok"].as_bool().unwrap() {
            assert_eq!(got.unwrap(), case["expected"].as_str().unwrap(), "{name}");
        } else {
            assert!(matches!(got, Err(Error::Invalid)), "{name}: {got:?}");
        }
    }
    println!(
        "key-cases.json file_storage_path: {} of {} passed",
        cases.len(),
        cases.len()
    );
    assert_eq!(cases.len(), 11);
}

// ===== file loader =====

/// `outer/` holds `secret.txt`; `outer/root/` is the loader's base directory.
struct Tree {
    outer: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        let write = |rel: &str, bytes: &[u8]| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        std::fs::write(outer.path().join("secret.txt"), b"top secret").unwrap();
        write("a.png", PNG);
        write("sub/b.jpg", JPEG);
        write("sub/.hidden", b"hidden");
        write(".env", b"KEY=1");
        write(".git/config", b"[core]");
        write("b%7B%3A%7Dar", b"escaped name");
        write("b{%3A}ar", b"safe braces");
        write("img%231.png", PNG);
        write("big.bin", &[7u8; 2000]);
        write("%252e%252e/secret.txt", b"a literal directory name");
        Self { outer }
    }

    fn root(&self) -> std::path::PathBuf {
        self.outer.path().join("root")
    }

    fn loader(&self) -> FileLoader {
        FileLoader::new(self.root()).unwrap()
    }
}

async fn load_file(loader: &FileLoader, key: &str) -> Result<Blob, Error> {
    loader.clone().oneshot(SourceRequest::new(key)).await
}

#[tokio::test]
async fn file_loads_with_sniffed_type_and_stat() {
    let tree = Tree::new();
    let loader = tree.loader();
    let blob = load_file(&loader, "a.png").await.unwrap();
    assert_eq!(&blob.bytes()[..], PNG);
    assert_eq!(blob.content_type(), Some("image/png"));
    let stat = blob.stat().unwrap();
    assert_eq!(stat.size(), Some(PNG.len() as u64));
    let modified = std::fs::metadata(tree.root().join("a.png"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(stat.modified(), Some(modified));
    assert_eq!(stat.etag(), None);

    let jpeg = load_file(&loader, "/sub//./b.jpg").await.unwrap();
    assert_eq!(jpeg.content_type(), Some("image/jpeg"));
    let unknown = load_file(&loader, "b{:}ar").await.unwrap();
    assert_eq!(unknown.content_type(), None);
}

#[tokio::test]
async fn file_names_are_escaped_like_imagor() {
    let tree = Tree::new();
    let plain = tree.loader();
    assert_eq!(
        &load_file(&plain, "b{:}ar").await.unwrap().bytes()[..],
        b"escaped name"
    );
    assert_eq!(
        &load_file(&plain, "img#1.png").await.unwrap().bytes()[..],
        PNG
    );
    let braces = tree.loader().safe_chars(SafeChars::new("{}"));
    assert_eq!(
        &load_file(&braces, "b{:}ar").await.unwrap().bytes()[..],
        b"safe braces"
    );
    let noop = tree.loader().safe_chars(SafeChars::new("--"));
    assert!(load_file(&noop, "b{:}ar").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn file_traversal_and_dot_files_are_refused() {
    let tree = Tree::new();
    let loader = tree.loader();
    // `..` is resolved lexically: above the root of an absolute key it is dropped (these
    // look for root/secret.txt); a relative key keeps a leading `..`, a dot segment (400).
    for key in ["/../secret.txt", "/sub/../../../secret.txt"] {
        let err = load_file(&loader, key).await.unwrap_err();
        assert!(err.is_not_found(), "{key}: {err:?}");
    }
    for key in ["../secret.txt", "sub/../../secret.txt"] {
        let err = load_file(&loader, key).await.unwrap_err();
        assert!(matches!(err, Error::Invalid), "{key}: {err:?}");
    }
    // Percent-encoded dots are characters of a name, never a parent directory: the key
    // `%2e%2e/secret.txt` names the directory `%252e%252e` inside the root.
    let literal = load_file(&loader, "%2e%2e/secret.txt").await.unwrap();
    assert_eq!(&literal.bytes()[..], b"a literal directory name");
    for key in ["%2E%2E%2Fsecret.txt", "%2e%2e%2fsecret.txt"] {
        let err = load_file(&loader, key).await.unwrap_err();
        assert!(err.is_not_found(), "{key}: {err:?}");
    }
    // A name starting with a dot is a dot file, whatever follows.
    let err = load_file(&loader, "..%2fsecret.txt").await.unwrap_err();
    assert!(matches!(err, Error::Invalid), "{err:?}");
    // Dot files and dot directories: invalid (400), as imagor.
    for key in [".env", ".git/config", "sub/.hidden", "/a/../.env", ""] {
        let err = load_file(&loader, key).await.unwrap_err();
        assert!(matches!(err, Error::Invalid), "{key}: {err:?}");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn file_missing_and_directories_are_not_found() {
    let tree = Tree::new();
    let loader = tree.loader();
    for key in [
        "missing.png",
        "sub",
        "sub/",
        "a.png/inside",
        "nope/deeper/x.png",
    ] {
        let err = load_file(&loader, key).await.unwrap_err();
        assert!(err.is_not_found(), "{key}: {err:?}");
        assert_eq!(err.to_json(), r#"{"message":"not found","status":404}"#);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn file_symlinks_must_stay_inside_the_root() {
    use std::os::unix::fs::symlink;
    let tree = Tree::new();
    let root = tree.root();
    symlink("sub/b.jpg", root.join("link-in.jpg")).unwrap();
    symlink("sub", root.join("dir-in")).unwrap();
    symlink("../secret.txt", root.join("link-out")).unwrap();
    symlink(tree.outer.path(), root.join("dir-out")).unwrap();
    symlink(".env", root.join("link-dot")).unwrap();
    symlink("nowhere", root.join("dangling")).unwrap();
    let loader = tree.loader();

    assert_eq!(
        &load_file(&loader, "link-in.jpg").await.unwrap().bytes()[..],
        JPEG
    );
    assert_eq!(
        &load_file(&loader, "dir-in/b.jpg").await.unwrap().bytes()[..],
        JPEG
    );
    for key in ["link-out", "dir-out/secret.txt", "link-dot", "dangling"] {
        let err = load_file(&loader, key).await.unwrap_err();
        assert!(err.is_not_found(), "{key}: {err:?}");
    }
    // What counts is where a link leads: out and back into the root is inside.
    assert_eq!(
        &load_file(&loader, "dir-out/root/a.png")
            .await
            .unwrap()
            .bytes()[..],
        PNG
    );

    // A base directory reached through a symlink works (the root is canonicalised).
    let alias = tree.outer.path().join("alias");
    symlink(&root, &alias).unwrap();
    let via_alias = FileLoader::new(&alias).unwrap();
    assert_eq!(via_alias.base_dir(), std::fs::canonicalize(&root).unwrap());
    assert_eq!(
        &load_file(&via_alias, "a.png").await.unwrap().bytes()[..],
        PNG
    );
}

#[tokio::test]
async fn file_path_prefix() {
    let tree = Tree::new();
    for prefix in ["assets", "/assets/", "assets/"] {
        let loader = tree.loader().path_prefix(prefix);
        assert_eq!(
            &load_file(&loader, "assets/a.png").await.unwrap().bytes()[..],
            PNG
        );
        assert_eq!(
            &load_file(&loader, "/assets/sub/b.jpg")
                .await
                .unwrap()
                .bytes()[..],
            JPEG
        );
        for key in ["a.png", "assetsx/a.png", "assets/../a.png", "assets"] {
            let err = load_file(&loader, key).await.unwrap_err();
            assert!(matches!(err, Error::Invalid), "{prefix} {key}: {err:?}");
        }
    }
    let root_prefix = tree.loader().path_prefix("/");
    assert_eq!(
        &load_file(&root_prefix, "a.png").await.unwrap().bytes()[..],
        PNG
    );
}

#[tokio::test]
async fn file_max_size() {
    let tree = Tree::new();
    let limited = tree.loader().max_size(1000);
    let err = load_file(&limited, "big.bin").await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    assert!(load_file(&limited, "a.png").await.is_ok());
    let exact = tree.loader().max_size(2000);
    assert_eq!(load_file(&exact, "big.bin").await.unwrap().len(), 2000);
    let unlimited = tree.loader().max_size(0);
    assert_eq!(load_file(&unlimited, "big.bin").await.unwrap().len(), 2000);
    // The default is 64 MiB: small files pass.
    assert_eq!(
        load_file(&tree.loader(), "big.bin").await.unwrap().len(),
        2000
    );
}

#[test]
fn file_loader_needs_an_existing_directory() {
    let tree = Tree::new();
    let missing = tree.outer.path().join("does-not-exist");
    let err = FileLoader::new(&missing).unwrap_err();
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        err.message().contains("does-not-exist"),
        "{}",
        err.message()
    );
    let err = FileLoader::new(tree.outer.path().join("secret.txt")).unwrap_err();
    assert!(
        err.message().contains("not a directory"),
        "{}",
        err.message()
    );
}

// ===== HTTP test server =====

type Log = Arc<Mutex<Vec<String>>>;

#[derive(Clone)]
struct Upstream {
    addr: SocketAddr,
    log: Log,
}

impl Upstream {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn count(&self, entry: &str) -> usize {
        self.log().iter().filter(|e| *e == entry).count()
    }
}

async fn record(State(log): State<Log>, req: Request, next: Next) -> Response {
    log.lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri().path()));
    next.run(req).await
}

async fn record_encoding(State(log): State<Log>, response: Response) -> Response {
    let encoding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").to_owned())
        .unwrap_or_default();
    log.lock().unwrap().push(format!("encoding {encoding}"));
    response
}

fn image(bytes: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::LAST_MODIFIED, "Wed, 21 Oct 2015 07:28:00 GMT"),
            (header::ETAG, "\"v1\""),
        ],
        bytes,
    )
        .into_response()
}

/// A body of `chunks` × `size` bytes sent without Content-Length, `pause` before each chunk
/// after the first.
fn trickle(chunks: usize, size: usize, pause: Duration) -> Body {
    let stream = futures::stream::unfold(0usize, move |sent| async move {
        if sent == chunks {
            return None;
        }
        if sent > 0 {
            tokio::time::sleep(pause).await;
        }
        Some((
            Ok::<_, std::io::Error>(Bytes::from(vec![1u8; size])),
            sent + 1,
        ))
    });
    Body::from_stream(stream)
}

async fn echo_headers(headers: HeaderMap) -> String {
    let mut lines: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect();
    lines.sort();
    lines.join("\n")
}

async fn redirect(Query(query): Query<HashMap<String, String>>) -> Response {
    let to = query
        .get("to")
        .cloned()
        .unwrap_or_else(|| "/img.png".into());
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn router(log: &Log) -> Router {
    let gzip = get(|| async { image(&[0u8; 100_000], "image/png") })
        .layer(CompressionLayer::new().compress_when(SizeAbove::new(0)))
        .layer(middleware::map_response_with_state(
            log.clone(),
            record_encoding,
        ));
    Router::new()
        .route("/img.png", get(|| async { image(PNG, "image/png") }))
        .route(
            "/html",
            get(|| async { image(b"<html></html>", "text/html; charset=utf-8") }),
        )
        .route("/no-type", get(|| async { Response::new(Body::from(PNG)) }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/teapot",
            get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }),
        )
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route("/redirect", get(redirect))
        .route(
            "/loop",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }),
        )
        .route("/gzip", gzip)
        .route("/big", get(|| async { image(&[9u8; 2000], "image/png") }))
        .route(
            "/lying",
            get(|| async { Response::new(trickle(100, 1000, Duration::ZERO)) }).head(|| async {
                (
                    [
                        (header::CONTENT_LENGTH, "10"),
                        (header::CONTENT_TYPE, "image/png"),
                    ],
                    (),
                )
            }),
        )
        .route(
            "/stream",
            get(|| async { Response::new(trickle(100, 1000, Duration::ZERO)) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                image(PNG, "image/png")
            }),
        )
        .route(
            "/slow-body",
            get(|| async { Response::new(trickle(3, 10, Duration::from_secs(3))) }),
        )
        .route("/echo", get(echo_headers))
        .route(
            "/base/{*rest}",
            get(|uri: Uri| async move { uri.to_string() }),
        )
        .route(
            "/proxied",
            get(|uri: Uri, headers: HeaderMap| async move {
                let host = headers
                    .get(header::HOST)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static(""));
                format!("{uri} host={}", host.to_str().unwrap_or("?"))
            }),
        )
        .layer(middleware::from_fn_with_state(log.clone(), record))
}

async fn upstream_on(ip: &str) -> Upstream {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let app = router(&log);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Upstream { addr, log }
}

async fn upstream() -> Upstream {
    upstream_on("127.0.0.1").await
}

async fn fetch(loader: &HttpLoader, key: &str) -> Result<Blob, Error> {
    loader.clone().oneshot(SourceRequest::new(key)).await
}

/// A builder that may reach the test servers on loopback addresses.
fn local() -> HttpLoaderBuilder {
    HttpLoader::builder().with_block_loopback_networks(false)
}

fn plain() -> HttpLoader {
    local().build().unwrap()
}

// ===== HTTP loader =====

#[tokio::test]
async fn http_loads_image_with_type_and_stat() {
    let up = upstream().await;
    let blob = fetch(&plain(), &up.url("/img.png")).await.unwrap();
    assert_eq!(&blob.bytes()[..], PNG);
    assert_eq!(blob.content_type(), Some("image/png"));
    let stat = blob.stat().unwrap();
    assert_eq!(stat.size(), Some(PNG.len() as u64));
    assert_eq!(stat.etag(), Some("\"v1\""));
    assert_eq!(
        stat.modified(),
        Some(httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap())
    );
    // No HEAD before the GET (imagor sends one when a size limit is set; the limit is on
    // by default here and checked on the GET).
    assert_eq!(up.log(), ["GET /img.png"]);

    // Stat alone uses HEAD.
    let stat = plain()
        .stat(&SourceRequest::new(up.url("/img.png")))
        .await
        .unwrap();
    assert_eq!(stat.etag(), Some("\"v1\""));
    assert_eq!(up.count("HEAD /img.png"), 1);
    let no_date = plain().stat(&SourceRequest::new(up.url("/no-type"))).await;
    assert!(no_date.unwrap_err().is_not_found());
}

#[tokio::test]
async fn http_upstream_errors_keep_status_and_reason() {
    let up = upstream().await;
    let cases = [
        ("/missing", r#"{"message":"Not Found","status":404}"#),
        ("/teapot", r#"{"message":"I'm a teapot","status":418}"#),
        (
            "/broken",
            r#"{"message":"Internal Server Error","status":500}"#,
        ),
        ("/no-such-route", r#"{"message":"Not Found","status":404}"#),
    ];
    for (path, json) in cases {
        let err = fetch(&plain(), &up.url(path)).await.unwrap_err();
        assert_eq!(err.to_json(), json, "{path}");
        // An upstream 404 is the upstream's answer, not "nothing here".
        assert!(!err.is_not_found());
    }
}

#[tokio::test]
async fn http_content_type_validation() {
    let up = upstream().await;
    let images = local().with_accept("image/*").build().unwrap();
    assert!(fetch(&images, &up.url("/img.png")).await.is_ok());
    let err = fetch(&images, &up.url("/html")).await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat), "{err:?}");
    assert_eq!(err.status(), StatusCode::NOT_ACCEPTABLE);
    // No Content-Type at all: only `*/*` accepts it; the type is then sniffed.
    assert!(matches!(
        fetch(&images, &up.url("/no-type")).await.unwrap_err(),
        Error::UnsupportedFormat
    ));
    let blob = fetch(&plain(), &up.url("/no-type")).await.unwrap();
    assert_eq!(blob.content_type(), Some("image/png"));
    // The declared type is kept as sent.
    let html = fetch(&plain(), &up.url("/html")).await.unwrap();
    assert_eq!(html.content_type(), Some("text/html; charset=utf-8"));
}

#[tokio::test]
async fn http_gzip_bodies_are_decompressed_and_limited() {
    let up = upstream().await;
    let blob = fetch(&plain(), &up.url("/gzip")).await.unwrap();
    assert_eq!(blob.len(), 100_000);
    assert!(blob.bytes().iter().all(|b| *b == 0));
    assert!(
        up.log().contains(&"encoding gzip".to_owned()),
        "{:?}",
        up.log()
    );
    // The limit counts decompressed bytes, so a small gzip bomb is refused.
    let limited = local().with_max_allowed_size(50_000).build().unwrap();
    let err = fetch(&limited, &up.url("/gzip")).await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");
}

#[tokio::test]
async fn http_max_size_declared_then_streamed() {
    let up = upstream().await;
    let limited = local().with_max_allowed_size(1000).build().unwrap();

    // Honest Content-Length: refused from the GET's headers, no HEAD first.
    let err = fetch(&limited, &up.url("/big")).await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");
    assert_eq!(
        err.to_json(),
        r#"{"message":"maximum size exceeded","status":400}"#
    );
    assert_eq!(up.count("HEAD /big"), 0);
    assert_eq!(up.count("GET /big"), 1);

    // A HEAD would claim 10 bytes; the GET streams 100 kB: stopped while streaming.
    let err = fetch(&limited, &up.url("/lying")).await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");
    assert_eq!(up.count("HEAD /lying"), 0);
    assert_eq!(up.count("GET /lying"), 1);

    // No Content-Length anywhere: stopped while streaming.
    let err = fetch(&limited, &up.url("/stream")).await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");

    // Within the limit.
    let roomy = local().with_max_allowed_size(2000).build().unwrap();
    assert_eq!(fetch(&roomy, &up.url("/big")).await.unwrap().len(), 2000);
    assert_eq!(up.count("GET /big"), 2);
    // The default limit (64 MiB) lets ordinary sources through, and 0 removes it.
    assert_eq!(
        fetch(&plain(), &up.url("/stream")).await.unwrap().len(),
        100_000
    );
    let unlimited = local().with_max_allowed_size(0).build().unwrap();
    assert_eq!(
        fetch(&unlimited, &up.url("/big")).await.unwrap().len(),
        2000
    );
}

#[tokio::test]
async fn http_timeouts() {
    let up = upstream().await;
    let quick = local()
        .with_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for path in ["/slow", "/slow-body"] {
        let started = Instant::now();
        let err = fetch(&quick, &up.url(path)).await.unwrap_err();
        assert!(matches!(err, Error::Timeout), "{path}: {err:?}");
        assert_eq!(err.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() < Duration::from_secs(2), "{path}");
    }
    assert!(fetch(&quick, &up.url("/img.png")).await.is_ok());
}

#[tokio::test]
async fn http_redirects_and_allow_list() {
    let up = upstream().await;
    let port = up.addr.port();
    // Followed when allowed.
    let blob = fetch(&plain(), &up.url("/redirect")).await.unwrap();
    assert_eq!(&blob.bytes()[..], PNG);

    let listed = local()
        .with_allowed_sources(["127.0.0.1:*"])
        .build()
        .unwrap();
    assert!(
        fetch(&listed, &up.url("/redirect?to=/img.png"))
            .await
            .is_ok()
    );
    // The hop to another host is refused.
    let away = up.url(&format!("/redirect?to=http://localhost:{port}/img.png"));
    let err = fetch(&listed, &away).await.unwrap_err();
    assert!(matches!(err, Error::SourceNotAllowed), "{err:?}");
    assert_eq!(
        err.to_json(),
        r#"{"message":"http source not allowed","status":403}"#
    );
    assert_eq!(up.count("GET /img.png"), 2);
    // The first URL is checked too; nothing is sent.
    let before = up.log().len();
    let err = fetch(&listed, &format!("http://localhost:{port}/img.png"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SourceNotAllowed));
    assert_eq!(up.log().len(), before);

    // The regexp is OR-ed with the globs.
    let by_regexp = local()
        .with_allowed_sources(["cdn.example.com"])
        .with_allowed_source_regexp(r"^http://localhost:\d+/img\.png$")
        .build()
        .unwrap();
    assert!(fetch(&by_regexp, &away).await.is_err());
    assert!(
        fetch(&by_regexp, &format!("http://localhost:{port}/img.png"))
            .await
            .is_ok()
    );

    // Redirect loops stop after 10 hops.
    let err = fetch(&plain(), &up.url("/loop")).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err.message().contains("redirects"), "{}", err.message());
    assert_eq!(up.count("GET /loop"), 11);
}

#[tokio::test]
async fn http_forwards_headers() {
    let up = upstream().await;
    let mut client = HeaderMap::new();
    client.insert("x-token", HeaderValue::from_static("abc"));
    client.insert("x-other", HeaderValue::from_static("nope"));
    client.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br"));
    client.insert(header::HOST, HeaderValue::from_static("client.example"));
    let request = SourceRequest::new(up.url("/echo")).with_headers(client);
    let seen = |blob: Blob| String::from_utf8(blob.bytes().to_vec()).unwrap();

    let named = local()
        .with_forward_headers(["X-Token"])
        .with_accept("image/*,text/plain")
        .build()
        .unwrap();
    let echoed = seen(named.oneshot(request.clone()).await.unwrap());
    let user_agent = format!("user-agent: imagor-tower/{}", env!("CARGO_PKG_VERSION"));
    assert!(echoed.contains("x-token: abc"), "{echoed}");
    assert!(!echoed.contains("x-other"), "{echoed}");
    assert!(echoed.contains(&user_agent), "{echoed}");
    assert!(echoed.contains("accept: image/*,text/plain"), "{echoed}");
    assert!(echoed.contains(&format!("host: {}", up.addr)), "{echoed}");
    assert!(!echoed.contains("br"), "{echoed}");

    let all = local()
        .with_forward_client_headers(true)
        .with_override_header("x-token", "fixed")
        .build()
        .unwrap();
    let echoed = seen(all.oneshot(request).await.unwrap());
    assert!(echoed.contains("x-other: nope"), "{echoed}");
    assert!(echoed.contains("x-token: fixed"), "{echoed}");
    assert!(echoed.contains(&format!("host: {}", up.addr)), "{echoed}");
    assert!(!echoed.contains("client.example"), "{echoed}");
    assert!(!echoed.contains("br"), "{echoed}");
}

#[tokio::test]
async fn http_base_url_and_default_scheme() {
    let up = upstream().await;
    let based = local().with_base_url(&up.url("/base")).build().unwrap();
    let blob = fetch(&based, "some/dir/a.png?x=1").await.unwrap();
    assert_eq!(&blob.bytes()[..], b"/base/some/dir/a.png?x=1");
    let blob = fetch(&based, "https://elsewhere.example/../up.png")
        .await
        .unwrap();
    assert_eq!(&blob.bytes()[..], b"/base/up.png");

    let http = local().with_default_scheme("http").build().unwrap();
    let key = format!("{}/img.png", up.addr);
    assert_eq!(&fetch(&http, &key).await.unwrap().bytes()[..], PNG);
    // A scheme-less key with a %XX escape is a file name, not a URL.
    let err = fetch(&http, &format!("{}/a%20b.png", up.addr))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid), "{err:?}");
    let nil = local().with_default_scheme("nil").build().unwrap();
    assert!(matches!(
        fetch(&nil, &key).await.unwrap_err(),
        Error::Invalid
    ));
    assert!(matches!(
        fetch(&plain(), "").await.unwrap_err(),
        Error::Invalid
    ));
}

#[tokio::test]
async fn http_refused_port_is_a_dial_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/img.png");
    let err = fetch(&plain(), &url).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        err.message(),
        format!("dial tcp: connection refused: {url}")
    );
}

#[tokio::test]
async fn http_blocks_loopback_unless_opened() {
    let up = upstream().await;
    let port = up.addr.port();
    let blocking = HttpLoader::builder().build().unwrap();
    // An IP literal (no DNS involved) and a name that resolves to loopback.
    for url in [
        up.url("/img.png"),
        format!("http://localhost:{port}/img.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/img.png"),
        format!("http://2130706433:{port}/img.png"),
    ] {
        let err = fetch(&blocking, &url).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::FORBIDDEN, "{url}: {err:?}");
        assert!(
            err.message().starts_with("unauthorized request: http://"),
            "{}",
            err.message()
        );
    }
    let err = fetch(&blocking, &up.url("/img.png")).await.unwrap_err();
    assert_eq!(
        err.message(),
        format!("unauthorized request: http://127.0.0.1:{port}/img.png")
    );
    assert!(up.log().is_empty(), "{:?}", up.log());
    // Opened explicitly (imagor's default).
    assert!(fetch(&plain(), &up.url("/img.png")).await.is_ok());
}

#[tokio::test]
async fn http_blocks_custom_networks_on_redirect_hops() {
    let first = upstream().await;
    let Ok(second_listener) = std::net::TcpListener::bind("127.0.0.2:0") else {
        println!("127.0.0.2 is not available here; hop test skipped");
        return;
    };
    drop(second_listener);
    let second = upstream_on("127.0.0.2").await;
    let hop = first.url(&format!("/redirect?to={}", second.url("/img.png")));
    assert!(fetch(&plain(), &hop).await.is_ok());
    assert_eq!(second.count("GET /img.png"), 1);

    let blocking = local()
        .with_block_networks(["127.0.0.2/32"])
        .build()
        .unwrap();
    let err = fetch(&blocking, &hop).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::FORBIDDEN, "{err:?}");
    assert_eq!(second.count("GET /img.png"), 1);
    assert!(fetch(&blocking, &first.url("/img.png")).await.is_ok());
}

#[tokio::test]
async fn http_proxy_routes_matching_hosts() {
    let proxy = upstream().await;
    let via_proxy = local().with_proxy_urls([proxy.url("")]).build().unwrap();
    let blob = fetch(&via_proxy, "http://images.invalid/proxied")
        .await
        .unwrap();
    assert_eq!(
        &blob.bytes()[..],
        b"http://images.invalid/proxied host=images.invalid"
    );

    // With several proxies, each request picks one at random.
    let second = upstream().await;
    let both = local()
        .with_proxy_urls([proxy.url(""), second.url("")])
        .build()
        .unwrap();
    for _ in 0..24 {
        assert!(fetch(&both, "http://images.invalid/proxied").await.is_ok());
    }
    let (first_count, second_count) = (proxy.count("GET /proxied"), second.count("GET /proxied"));
    assert_eq!(first_count + second_count, 25);
    assert!(
        first_count > 1 && second_count > 0,
        "{first_count} / {second_count}"
    );

    // Hosts outside the proxy list connect directly.
    let selective = local()
        .with_proxy_urls([proxy.url("")])
        .with_proxy_allowed_sources(["*.invalid"])
        .build()
        .unwrap();
    let direct = fetch(&selective, &proxy.url("/proxied")).await.unwrap();
    assert!(direct.bytes().starts_with(b"/proxied host=127.0.0.1:"));

    // With blocking on (the default), the proxy's own (loopback) address is what gets
    // refused.
    let blocked = HttpLoader::builder()
        .with_proxy_urls([proxy.url("")])
        .build()
        .unwrap();
    let err = fetch(&blocked, "http://images.invalid/proxied")
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn file_then_http_fallback() {
    let tree = Tree::new();
    let up = upstream().await;
    let stack = Fallback::new(tree.loader(), plain());
    let from_file = stack
        .clone()
        .oneshot(SourceRequest::new("a.png"))
        .await
        .unwrap();
    assert_eq!(from_file.content_type(), Some("image/png"));
    let from_http = stack
        .oneshot(SourceRequest::new(up.url("/img.png")))
        .await
        .unwrap();
    assert_eq!(&from_http.bytes()[..], PNG);
    assert_eq!(up.count("GET /img.png"), 1);
}
