//! Presets end to end: `preset:NAME` segments through the service, from the library builder
//! and from imagor-style settings (`IMAGOR_PRESETS_PATH`, `IMAGOR_ONLY_PRESETS`).

mod support;

use http::{StatusCode, header};
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;
use imagor_tower::path::{Presets, Signer};
use support::{body_bytes, decode, get, write_image};
use tower::{Service, ServiceExt};

#[cfg(feature = "server")]
const PRESETS_YAML: &str = "\
# sizes used by the web site
presets:
  thumb: \"fit-in/200x200/filters:format(webp)\"
  gray: 'filters:grayscale()'
  square: 100x100/smart
";

fn images() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), "photo.jpg", 640, 480, image::ImageFormat::Jpeg);
    dir
}

async fn call<S>(service: &S, uri: &str) -> (StatusCode, http::HeaderMap, bytes::Bytes)
where
    S: Service<
            http::Request<imagor_tower::body::Body>,
            Response = http::Response<imagor_tower::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync,
    S::Future: Send,
{
    let res = service.clone().oneshot(get(uri)).await.unwrap();
    let (parts, bytes) = body_bytes(res).await;
    (parts.status, parts.headers, bytes)
}

fn is_gray(bytes: &[u8]) -> bool {
    let img = image::load_from_memory(bytes).unwrap().to_rgb8();
    img.pixels().all(|p| {
        let [r, g, b] = p.0;
        r.abs_diff(g) <= 2 && g.abs_diff(b) <= 2
    })
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn library_presets_expand_in_place_and_compose_with_the_url() {
    let dir = images();
    let presets = Presets::new()
        .with("thumb", "fit-in/200x200/filters:format(webp)")
        .and_then(|p| p.with("gray", "filters:grayscale()"))
        .unwrap();
    let signer = Signer::new("mysecret");
    let service = ImageService::new()
        .signer(signer.clone())
        .unsafe_urls(true)
        .presets(presets)
        .loader(FileLoader::new(dir.path()).unwrap());

    let (status, headers, bytes) = call(&service, "/unsafe/preset:thumb/photo.jpg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/webp");
    assert_eq!(decode(&bytes), (image::ImageFormat::WebP, 200, 150));
    assert!(!is_gray(&bytes));

    // Signed: the signature covers the path as written, preset segment included.
    let signed = signer.sign_url("preset:thumb/filters:grayscale()/photo.jpg");
    let (status, _, bytes) = call(&service, &signed).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode(&bytes), (image::ImageFormat::WebP, 200, 150));
    assert!(is_gray(&bytes));

    // A signature of the expanded path is not a signature of the URL.
    let expanded = signer.sign("fit-in/200x200/filters:format(webp):grayscale()/photo.jpg");
    let uri = format!("/{expanded}/preset:thumb/filters:grayscale()/photo.jpg");
    let (status, _, _) = call(&service, &uri).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A later size overrides the preset's; two presets apply in order.
    let (status, _, bytes) = call(&service, "/unsafe/preset:thumb/100x100/photo.jpg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode(&bytes), (image::ImageFormat::WebP, 100, 75));
    let (_, _, bytes) = call(&service, "/unsafe/preset:thumb,gray/photo.jpg").await;
    assert_eq!(decode(&bytes), (image::ImageFormat::WebP, 200, 150));
    assert!(is_gray(&bytes));

    // Same result as the URL written out in full.
    let (_, _, full) = call(
        &service,
        "/unsafe/fit-in/200x200/filters:format(webp):grayscale()/photo.jpg",
    )
    .await;
    assert_eq!(decode(&full), decode(&bytes));
}

#[tokio::test]
async fn unknown_presets_are_400_with_the_json_error_body() {
    let dir = images();
    let service = ImageService::new()
        .unsafe_urls(true)
        .presets(Presets::new().with("thumb", "fit-in/200x200").unwrap())
        .loader(FileLoader::new(dir.path()).unwrap());
    for (uri, message) in [
        ("/unsafe/preset:nope/photo.jpg", "unknown preset: nope"),
        (
            "/unsafe/preset:thumb,nope/photo.jpg",
            "unknown preset: nope",
        ),
        ("/unsafe/preset:/photo.jpg", "empty preset name"),
    ] {
        let (status, headers, bytes) = call(&service, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            json(&bytes),
            serde_json::json!({"message": message, "status": 400}),
            "{uri}"
        );
    }
    // An unsigned URL is refused for its signature first: preset names do not leak.
    let signed_only = ImageService::new()
        .presets(Presets::new())
        .loader(FileLoader::new(dir.path()).unwrap());
    let (status, _, _) = call(&signed_only, "/unsafe/preset:nope/photo.jpg").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn without_presets_a_preset_segment_is_part_of_the_image_as_in_imagor() {
    let dir = images();
    let photo = std::fs::read(dir.path().join("photo.jpg")).unwrap();
    let loader =
        imagor_tower::loader::service_fn_loader(move |req: imagor_tower::loader::SourceRequest| {
            let photo = photo.clone();
            async move {
                if req.key() == "preset:thumb/photo.jpg" {
                    Ok(imagor_tower::Blob::new(photo))
                } else {
                    Err(imagor_tower::Error::NotFound)
                }
            }
        });
    let service = ImageService::new().unsafe_urls(true).loader(loader);
    let (status, _, bytes) = call(&service, "/unsafe/preset:thumb/photo.jpg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode(&bytes), (image::ImageFormat::Jpeg, 640, 480));
}

#[tokio::test]
async fn params_endpoint_shows_the_expansion() {
    let service = ImageService::new().presets(
        Presets::new()
            .with("thumb", "fit-in/200x200/filters:format(webp)")
            .unwrap(),
    );
    let (status, _, bytes) = call(
        &service,
        "/params/unsafe/preset:thumb/filters:grayscale()/photo.jpg",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&bytes),
        serde_json::json!({
            "path": "preset:thumb/filters:grayscale()/photo.jpg",
            "image": "photo.jpg",
            "unsafe": true,
            "fit_in": true,
            "width": 200,
            "height": 200,
            "filters": [{"name": "format", "args": "webp"}, {"name": "grayscale"}],
        })
    );
    let (status, _, bytes) = call(&service, "/params/unsafe/preset:nope/photo.jpg").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&bytes)["message"], "unknown preset: nope");
}

#[cfg(feature = "server")]
fn service_from_env(
    dir: &std::path::Path,
    extra: &[(&str, String)],
) -> Result<imagor_tower::config::ConfiguredService, imagor_tower::Error> {
    let mut env = vec![
        ("IMAGOR_SECRET".to_owned(), "mysecret".to_owned()),
        (
            "FILE_LOADER_BASE_DIR".to_owned(),
            dir.join("images").display().to_string(),
        ),
        ("HTTP_LOADER_DISABLE".to_owned(), "1".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let config = imagor_tower::config::Config::from_sources(Vec::<String>::new(), env, |_| {
        Err(std::io::ErrorKind::NotFound.into())
    })
    .unwrap();
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    config.service()
}

#[cfg(feature = "server")]
fn env_fixture() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_image(&images, "photo.jpg", 640, 480, image::ImageFormat::Jpeg);
    let file = dir.path().join("presets.yaml");
    std::fs::write(&file, PRESETS_YAML).unwrap();
    (dir, file.display().to_string())
}

#[cfg(feature = "server")]
#[tokio::test]
async fn presets_from_imagor_environment_variables() {
    let (dir, file) = env_fixture();
    let service = service_from_env(
        dir.path(),
        &[
            ("IMAGOR_PRESETS_PATH", file),
            ("IMAGOR_UNSAFE", "1".to_owned()),
        ],
    )
    .unwrap();
    let (status, _, bytes) = call(&service, "/unsafe/preset:thumb/photo.jpg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode(&bytes), (image::ImageFormat::WebP, 200, 150));

    let path = "preset:thumb/filters:grayscale()/photo.jpg";
    let (status, _, bytes) = call(&service, &Signer::new("mysecret").sign_url(path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode(&bytes), (image::ImageFormat::WebP, 200, 150));
    assert!(is_gray(&bytes));

    let (status, _, bytes) = call(&service, "/unsafe/preset:square/photo.jpg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode(&bytes), (image::ImageFormat::Jpeg, 100, 100));

    let (status, _, bytes) = call(&service, "/unsafe/preset:missing/photo.jpg").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json(&bytes),
        serde_json::json!({"message": "unknown preset: missing", "status": 400})
    );

    // Options of its own are fine without IMAGOR_ONLY_PRESETS.
    let (status, _, _) = call(&service, "/unsafe/50x50/photo.jpg").await;
    assert_eq!(status, StatusCode::OK);
}

#[cfg(feature = "server")]
#[tokio::test]
async fn only_presets_refuses_every_other_url() {
    let (dir, file) = env_fixture();
    let service = service_from_env(
        dir.path(),
        &[
            ("IMAGOR_PRESETS_PATH", file),
            ("IMAGOR_ONLY_PRESETS", "1".to_owned()),
            ("IMAGOR_UNSAFE", "1".to_owned()),
        ],
    )
    .unwrap();
    for uri in [
        "/unsafe/preset:thumb/photo.jpg",
        "/unsafe/preset:thumb,gray/photo.jpg",
        "/unsafe/preset:square/preset:gray/photo.jpg",
    ] {
        let (status, _, _) = call(&service, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    let signer = Signer::new("mysecret");
    let refused = [
        "/unsafe/photo.jpg".to_owned(),
        "/unsafe/300x200/photo.jpg".to_owned(),
        "/unsafe/preset:thumb/300x200/photo.jpg".to_owned(),
        "/unsafe/preset:thumb/filters:blur(20)/photo.jpg".to_owned(),
        "/unsafe/meta/preset:thumb/photo.jpg".to_owned(),
        // Signed URLs too: only presets means only presets.
        signer.sign_url("fit-in/300x300/photo.jpg"),
    ];
    for uri in &refused {
        let (status, _, bytes) = call(&service, uri).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(
            json(&bytes),
            serde_json::json!({
                "message": "only preset URLs are allowed: preset:NAME/IMAGE",
                "status": 403,
            }),
            "{uri}"
        );
    }
}

#[cfg(feature = "server")]
#[test]
fn a_bad_presets_file_stops_start_up_with_file_line_and_field() {
    let (dir, _) = env_fixture();
    let cases = [
        (
            "presets:\n  thumb: fit-in/200x200\n  bad: 100x100/photo.jpg\n",
            "line 3, field presets.bad: \"photo.jpg\" is not an imagor path option",
        ),
        (
            "presets:\n  thumb: fit-in/200x200\n  loop: preset:thumb\n",
            "line 3, field presets.loop: a preset cannot use another preset",
        ),
        (
            "presets:\n  \"a,b\": 100x100\n",
            "line 2, field presets.a,b: a preset name cannot contain ',' or '/'",
        ),
        (
            "presets:\n  \"\": 100x100\n",
            "line 2, field presets: a preset name cannot be empty",
        ),
        ("presets:\n  thumb: [100x100\n", "line 2"),
    ];
    for (text, expected) in cases {
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, text).unwrap();
        let err = service_from_env(
            dir.path(),
            &[("IMAGOR_PRESETS_PATH", file.display().to_string())],
        )
        .err()
        .unwrap_or_else(|| panic!("{text:?} was accepted"));
        let message = err.message();
        assert!(
            message.starts_with(&format!("presets file {}, ", file.display())),
            "{message}"
        );
        assert!(message.contains(expected), "{text:?}: {message}");
    }
    let missing = dir.path().join("missing.yaml");
    let err = service_from_env(
        dir.path(),
        &[("IMAGOR_PRESETS_PATH", missing.display().to_string())],
    )
    .err()
    .unwrap();
    assert!(err.message().contains("missing.yaml"), "{}", err.message());
}

#[test]
fn only_presets_without_a_presets_file_is_a_configuration_error() {
    let err = imagor_tower::config::Config::builder()
        .env([("IMAGOR_ONLY_PRESETS", "1")])
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("needs IMAGOR_PRESETS_PATH"),
        "{err}"
    );
    let config = imagor_tower::config::Config::builder()
        .args(["-imagor-presets-path", "p.yaml", "-imagor-only-presets"])
        .build()
        .unwrap();
    assert_eq!(
        config.imagor.presets_path.as_deref(),
        Some(std::path::Path::new("p.yaml"))
    );
    assert!(config.imagor.only_presets);
}
