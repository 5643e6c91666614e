//! End-to-end tests of `ImageService` with real loaders: requests in, decoded images out.

mod support;

use http::{Method, Request, StatusCode, header};
use imagor_tower::ImageService;
use imagor_tower::loader::{FileLoader, HttpLoader};
use imagor_tower::path::Signer;
use support::{body_bytes, decode, get, write_image};
use tower::ServiceExt;

fn fixture_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), "photo.jpg", 640, 480, image::ImageFormat::Jpeg);
    write_image(dir.path(), "tall.png", 200, 400, image::ImageFormat::Png);
    write_image(
        dir.path(),
        "sub/dir/pic.webp",
        120,
        80,
        image::ImageFormat::WebP,
    );
    write_image(dir.path(), "anim.gif", 64, 48, image::ImageFormat::Gif);
    std::fs::write(dir.path().join("notes.txt"), "this is not an image").unwrap();
    std::fs::write(
        dir.path().join("truncated.jpg"),
        [0xff, 0xd8, 0xff, 0xe0, 0, 16],
    )
    .unwrap();
    dir
}

fn unsafe_service(
    dir: &std::path::Path,
) -> impl Clone
+ tower::Service<
    Request<imagor_tower::body::Body>,
    Response = http::Response<imagor_tower::body::Body>,
    Error = std::convert::Infallible,
    Future = imagor_tower::service::ResponseFuture,
> {
    ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(dir).unwrap())
}

async fn json_error(
    res: http::Response<imagor_tower::body::Body>,
) -> (StatusCode, serde_json::Value) {
    let status = res.status();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let (_, bytes) = body_bytes(res).await;
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn resizes_to_the_requested_size_and_keeps_the_format() {
    let dir = fixture_dir();
    let svc = unsafe_service(dir.path());
    let cases = [
        (
            "/unsafe/300x200/photo.jpg",
            image::ImageFormat::Jpeg,
            300,
            200,
        ),
        (
            "/unsafe/300x0/photo.jpg",
            image::ImageFormat::Jpeg,
            300,
            225,
        ),
        (
            "/unsafe/fit-in/100x100/tall.png",
            image::ImageFormat::Png,
            50,
            100,
        ),
        (
            "/unsafe/-50x-50/sub/dir/pic.webp",
            image::ImageFormat::WebP,
            50,
            50,
        ),
        ("/unsafe/32x24/anim.gif", image::ImageFormat::Gif, 32, 24),
        (
            "/unsafe/fit-in/100x100/filters:format(webp):quality(70)/photo.jpg",
            image::ImageFormat::WebP,
            100,
            75,
        ),
        (
            "/unsafe/10x10:110x60/photo.jpg",
            image::ImageFormat::Jpeg,
            100,
            50,
        ),
    ];
    for (uri, format, w, h) in cases {
        let res = svc.clone().oneshot(get(uri)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let content_type = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(res.headers().contains_key(header::CACHE_CONTROL), "{uri}");
        let (_, bytes) = body_bytes(res).await;
        let (got_format, got_w, got_h) = decode(&bytes);
        assert_eq!((got_format, got_w, got_h), (format, w, h), "{uri}");
        assert_eq!(content_type, format.to_mime_type(), "{uri}");
    }
}

#[tokio::test]
async fn head_sends_headers_without_body() {
    let dir = fixture_dir();
    let svc = unsafe_service(dir.path());
    let req = Request::head("/unsafe/50x50/photo.jpg")
        .body(imagor_tower::body::Body::empty())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let length: usize = res.headers()[header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length > 0);
    let (_, bytes) = body_bytes(res).await;
    assert!(bytes.is_empty());
}

#[tokio::test]
async fn signatures_are_enforced_when_a_secret_is_set() {
    let dir = fixture_dir();
    let signer = Signer::new("mysecret");
    let svc = ImageService::new()
        .signer(signer.clone())
        .loader(FileLoader::new(dir.path()).unwrap());

    let path = "fit-in/120x120/filters:quality(60)/photo.jpg";
    let signed = signer.sign_url(path);
    let res = svc.clone().oneshot(get(&signed)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let tampered = signed.replace("120x120", "121x120");
    let (status, body) = json_error(svc.clone().oneshot(get(&tampered)).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        serde_json::json!({"message": "url signature mismatch", "status": 403})
    );

    let (status, _) = json_error(
        svc.clone()
            .oneshot(get(&format!("/unsafe/{path}")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Escaped retry: the signature covers the decoded path, the client sent it encoded.
    let encoded = signed
        .replace(':', "%3A")
        .replace('(', "%28")
        .replace(')', "%29");
    assert_ne!(encoded, signed);
    let res = svc.oneshot(get(&encoded)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn unsafe_mode_still_checks_signed_looking_urls() {
    let dir = fixture_dir();
    let svc = unsafe_service(dir.path());
    let (status, _) = json_error(
        svc.oneshot(get("/AAAAAAAAAAAAAAAAAAAAAAAAAAA=/100x100/photo.jpg"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_requests_get_imagor_statuses_and_json() {
    let dir = fixture_dir();
    let svc = unsafe_service(dir.path());
    let cases = [
        ("/unsafe/100x100/missing.jpg", 404, "not found"),
        ("/unsafe/", 404, "not found"),
        ("/unsafe/300x200/", 404, "not found"),
        ("/unsafe/100x100/notes.txt", 406, "unsupported format"),
        ("/unsafe/100x100/truncated.jpg", 406, ""),
        ("/unsafe/100x100/..%2F..%2Fetc%2Fpasswd", 0, ""),
        ("/unsafe/100x100/.hidden", 0, ""),
        ("/unsafe/filters:expire(1000)/photo.jpg", 410, "expired"),
        (
            "/unsafe/100x100/filters:unknown_filter(1,2):quality(50)/nope.jpg",
            404,
            "not found",
        ),
        ("/unsafe/100x100/filters:((((/photo.jpg", 404, "not found"),
    ];
    for (uri, status, message) in cases {
        let res = svc.clone().oneshot(get(uri)).await.unwrap();
        let (got, body) = json_error(res).await;
        if status == 0 {
            assert!(got.is_client_error(), "{uri}: {got}");
        } else {
            assert_eq!(got.as_u16(), status, "{uri}: {body}");
        }
        assert_eq!(
            body["status"].as_u64(),
            Some(u64::from(got.as_u16())),
            "{uri}"
        );
        if !message.is_empty() {
            assert_eq!(body["message"], message, "{uri}");
        }
    }
}

#[tokio::test]
async fn unknown_filters_are_ignored() {
    let dir = fixture_dir();
    let svc = unsafe_service(dir.path());
    let res = svc
        .oneshot(get(
            "/unsafe/40x30/filters:no_such_filter(1):quality(50)/photo.jpg",
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, bytes) = body_bytes(res).await;
    assert_eq!(decode(&bytes).1, 40);
}

#[tokio::test]
async fn methods_routes_and_endpoints() {
    let dir = fixture_dir();
    let svc = unsafe_service(dir.path());

    let post = Request::builder()
        .method(Method::POST)
        .uri("/unsafe/10x10/photo.jpg")
        .body(imagor_tower::body::Body::empty())
        .unwrap();
    let res = svc.clone().oneshot(post).await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body_bytes(res).await.1.len(), 0);

    let res = svc.clone().oneshot(get("/healthcheck")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let res = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let res = svc
        .clone()
        .oneshot(get(
            "/params/unsafe/fit-in/500x400/0x20/filters:fill(white):grayscale()/img.png",
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, bytes) = body_bytes(res).await;
    let expected = "{\n  \"path\": \"fit-in/500x400/0x20/filters:fill(white):grayscale()/img.png\",\n  \"image\": \"img.png\",\n  \"unsafe\": true,\n  \"fit_in\": true,\n  \"width\": 500,\n  \"height\": 400,\n  \"padding_top\": 20,\n  \"padding_bottom\": 20,\n  \"filters\": [\n    {\n      \"name\": \"fill\",\n      \"args\": \"white\"\n    },\n    {\n      \"name\": \"grayscale\"\n    }\n  ]\n}";
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), expected);
}

#[tokio::test]
async fn disabled_error_body_and_params_endpoint() {
    let dir = fixture_dir();
    let svc = ImageService::new()
        .unsafe_urls(true)
        .disable_error_body(true)
        .disable_params_endpoint(true)
        .loader(FileLoader::new(dir.path()).unwrap());
    let res = svc
        .clone()
        .oneshot(get("/unsafe/1x1/missing.jpg"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(body_bytes(res).await.1.is_empty());
    let res = svc.oneshot(get("/params/unsafe/1x1/a.jpg")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body_bytes(res).await.1.is_empty());
}

#[tokio::test]
async fn utility_filters_shape_the_headers() {
    let dir = fixture_dir();
    let svc = unsafe_service(dir.path());
    let res = svc
        .clone()
        .oneshot(get(
            "/unsafe/20x20/filters:max_age(60):attachment(pic.jpg)/photo.jpg",
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[header::CACHE_CONTROL],
        "public, s-maxage=60, max-age=60, no-transform"
    );
    assert_eq!(
        res.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"pic.jpg\""
    );

    let future_ms = (std::time::SystemTime::now() + std::time::Duration::from_secs(100))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let res = svc
        .clone()
        .oneshot(get(&format!(
            "/unsafe/20x20/filters:expire({future_ms})/photo.jpg"
        )))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cc = res.headers()[header::CACHE_CONTROL].to_str().unwrap();
    assert!(cc.starts_with("private, max-age=10"), "{cc}");

    // raw() passes images through as they are, with a CSP that stops scripts ...
    let res = svc
        .clone()
        .oneshot(get("/unsafe/filters:raw()/photo.jpg"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(
        res.headers()[header::CONTENT_SECURITY_POLICY],
        "script-src 'none'"
    );
    // ... and nothing that is not an image (imagor passes anything).
    let res = svc
        .oneshot(get("/unsafe/filters:raw()/notes.txt"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn auto_webp_negotiates_and_varies() {
    let dir = fixture_dir();
    let svc = ImageService::new()
        .unsafe_urls(true)
        .auto_webp(true)
        .loader(FileLoader::new(dir.path()).unwrap());
    let req = Request::get("/unsafe/30x30/photo.jpg")
        .header(header::ACCEPT, "image/webp,image/*,*/*;q=0.8")
        .body(imagor_tower::body::Body::empty())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "image/webp");
    assert_eq!(res.headers()[header::VARY], "Accept");
    let res = svc.oneshot(get("/unsafe/30x30/photo.jpg")).await.unwrap();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(res.headers()[header::VARY], "Accept");
}

#[tokio::test]
async fn unreachable_http_source_answers_404_json_quickly() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Loopback addresses are refused by default; this test needs one.
    let loader = HttpLoader::builder()
        .with_block_loopback_networks(false)
        .build()
        .unwrap();
    let svc = ImageService::new().unsafe_urls(true).loader(loader);
    let started = std::time::Instant::now();
    let res = svc
        .oneshot(get(&format!(
            "/unsafe/10x10/http:%2F%2F127.0.0.1:{port}%2Fa.jpg"
        )))
        .await
        .unwrap();
    let (status, body) = json_error(res).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["message"].as_str().unwrap().starts_with("dial tcp"),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn full_queue_answers_429() {
    let dir = fixture_dir();
    write_image(dir.path(), "big.png", 2000, 2000, image::ImageFormat::Png);
    let svc = ImageService::new()
        .unsafe_urls(true)
        .process_concurrency(1)
        .process_queue_size(0)
        .loader(FileLoader::new(dir.path()).unwrap());
    let requests = (0..6).map(|i| {
        let svc = svc.clone();
        async move {
            svc.oneshot(get(&format!("/unsafe/{}x{}/big.png", 100 + i, 100 + i)))
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS)
    );
}
