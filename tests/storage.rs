//! Storage and result storage over real directories, key styles, and HTTP caching headers.

mod support;

use http::{Request, StatusCode, header};
use imagor_tower::ImageService;
use imagor_tower::key::{ResultKeyStyle, StorageKeyStyle};
use imagor_tower::loader::FileLoader;
use imagor_tower::path::{Filter, Params, parse_rest};
use imagor_tower::storage::{FileBackend, ResultStorageLayer, StorageLayer};
use std::time::Duration;
use support::{body_bytes, decode, get, write_image};
use tower::{Layer, ServiceExt};

#[test]
fn key_style_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conformance/key-cases.json"
    ))
    .unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut passed = 0;
    let storage = cases["storage_path_style"].as_array().unwrap();
    for case in storage {
        let style = match case["style"].as_str().unwrap() {
            "digest" => StorageKeyStyle::Digest,
            _ => StorageKeyStyle::Original,
        };
        assert_eq!(
            style.key(case["image"].as_str().unwrap()),
            case["expected"],
            "{case}"
        );
        passed += 1;
    }
    let results = cases["result_path_style"].as_array().unwrap();
    for case in results {
        let style = match case["style"].as_str().unwrap() {
            "digest" => ResultKeyStyle::Digest,
            "suffix" => ResultKeyStyle::Suffix,
            "size" => ResultKeyStyle::Size,
            _ => ResultKeyStyle::Original,
        };
        let params = if let Some(path) = case["path"].as_str() {
            let mut p = parse_rest(path);
            p.path = path.to_owned();
            p
        } else {
            let f = &case["params"];
            Params {
                image: f["image"].as_str().unwrap().to_owned(),
                meta: f["meta"].as_bool().unwrap_or(false),
                width: f["width"].as_i64().unwrap_or(0),
                height: f["height"].as_i64().unwrap_or(0),
                smart: f["smart"].as_bool().unwrap_or(false),
                filters: f["filters"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .map(|x| {
                                Filter::new(
                                    x["name"].as_str().unwrap(),
                                    x["args"].as_str().unwrap(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                ..Params::default()
            }
        };
        assert_eq!(style.key(&params), case["expected"], "{case}");
        passed += 1;
    }
    println!("key styles: {passed}/{}", storage.len() + results.len());
}

/// Waits for a background write to show up.
async fn wait_for(path: &std::path::Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} was never written", path.display());
}

#[tokio::test]
async fn source_storage_saves_originals_and_serves_them_after_the_source_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let originals = dir.path().join("originals");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&originals).unwrap();
    write_image(&originals, "a/photo.png", 64, 48, image::ImageFormat::Png);
    let service = StorageLayer::new(FileBackend::new(&cache).unwrap()).layer(
        ImageService::new()
            .unsafe_urls(true)
            .loader(FileLoader::new(&originals).unwrap()),
    );
    let res = service
        .clone()
        .oneshot(get("/unsafe/32x24/a/photo.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    wait_for(&cache.join("a/photo.png")).await;

    std::fs::remove_file(originals.join("a/photo.png")).unwrap();
    let res = service
        .oneshot(get("/unsafe/16x12/a/photo.png"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, bytes) = body_bytes(res).await;
    assert_eq!(decode(&bytes).1, 16);
}

#[tokio::test]
async fn result_storage_serves_a_hit_after_the_source_was_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let originals = dir.path().join("originals");
    let results = dir.path().join("results");
    std::fs::create_dir_all(&originals).unwrap();
    write_image(&originals, "photo.jpg", 300, 200, image::ImageFormat::Jpeg);
    let service = ResultStorageLayer::new(FileBackend::new(&results).unwrap())
        .key_style(ResultKeyStyle::Original)
        .layer(
            ImageService::new()
                .unsafe_urls(true)
                .loader(FileLoader::new(&originals).unwrap()),
        );
    let uri = "/unsafe/fit-in/100x100/filters:format(png)/photo.jpg";
    let first = service.clone().oneshot(get(uri)).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()[header::ETAG].clone();
    let (_, first_bytes) = body_bytes(first).await;
    // Keys are escaped as imagor's file storage escapes them.
    let stored = results.join("fit-in/100x100/filters%3Aformat%28png%29/photo.jpg");
    wait_for(&stored).await;

    std::fs::remove_file(originals.join("photo.jpg")).unwrap();
    let second = service.clone().oneshot(get(uri)).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(second.headers()[header::CONTENT_TYPE], "image/png");
    assert_eq!(second.headers()[header::ETAG], etag);
    let (_, second_bytes) = body_bytes(second).await;
    assert_eq!(first_bytes, second_bytes);

    // A request that is not signed properly is refused before the lookup.
    let refused = service
        .oneshot(get(
            "/AAAAAAAAAAAAAAAAAAAAAAAAAAA=/fit-in/100x100/filters:format(png)/photo.jpg",
        ))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_failed_result_write_does_not_fail_the_response() {
    let dir = tempfile::tempdir().unwrap();
    let originals = dir.path().join("originals");
    let results = dir.path().join("results");
    std::fs::create_dir_all(&originals).unwrap();
    write_image(&originals, "photo.png", 40, 40, image::ImageFormat::Png);
    let backend = FileBackend::new(&results).unwrap();
    // The storage directory turns into a file: every write fails.
    std::fs::remove_dir(&results).unwrap();
    std::fs::write(&results, b"not a directory").unwrap();
    let service = ResultStorageLayer::new(backend).layer(
        ImageService::new()
            .unsafe_urls(true)
            .loader(FileLoader::new(&originals).unwrap()),
    );
    for _ in 0..2 {
        let res = service
            .clone()
            .oneshot(get("/unsafe/20x20/photo.png"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(std::fs::read(&results).unwrap(), b"not a directory");
}

#[tokio::test]
async fn conditional_requests() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), "photo.png", 40, 40, image::ImageFormat::Png);
    let service = ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(dir.path()).unwrap());
    let uri = "/unsafe/20x20/photo.png";
    let res = service.clone().oneshot(get(uri)).await.unwrap();
    let etag = res.headers()[header::ETAG].to_str().unwrap().to_owned();
    let last_modified = res.headers()[header::LAST_MODIFIED]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(etag.starts_with('"'));

    let send = |pairs: Vec<(&'static str, String)>| {
        let service = service.clone();
        async move {
            let mut req = Request::get(uri);
            for (name, value) in pairs {
                req = req.header(name, value);
            }
            let res = service
                .oneshot(req.body(imagor_tower::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let status = res.status();
            let (parts, bytes) = body_bytes(res).await;
            (status, parts.headers, bytes.len())
        }
    };
    let long_ago = "Sat, 01 Jan 2000 00:00:00 GMT".to_owned();
    type Case = (&'static str, Vec<(&'static str, String)>, u16);
    let cases: Vec<Case> = vec![
        (
            "If-None-Match exact",
            vec![("if-none-match", etag.clone())],
            304,
        ),
        (
            "If-None-Match weak",
            vec![("if-none-match", format!("W/{etag}"))],
            304,
        ),
        (
            "If-None-Match list",
            vec![("if-none-match", format!("\"zz\", {etag}"))],
            304,
        ),
        ("If-None-Match *", vec![("if-none-match", "*".into())], 304),
        (
            "If-None-Match other",
            vec![("if-none-match", "\"zz\"".into())],
            200,
        ),
        (
            "If-None-Match other wins over If-Modified-Since",
            vec![
                ("if-none-match", "\"zz\"".into()),
                ("if-modified-since", last_modified.clone()),
            ],
            200,
        ),
        (
            "If-Modified-Since = Last-Modified",
            vec![("if-modified-since", last_modified.clone())],
            304,
        ),
        (
            "If-Modified-Since long ago",
            vec![("if-modified-since", long_ago.clone())],
            200,
        ),
        (
            "If-Unmodified-Since long ago",
            vec![("if-unmodified-since", long_ago)],
            412,
        ),
        (
            "If-Unmodified-Since = Last-Modified",
            vec![("if-unmodified-since", last_modified)],
            200,
        ),
        ("If-Match other", vec![("if-match", "\"zz\"".into())], 412),
        ("If-Match exact", vec![("if-match", etag.clone())], 200),
    ];
    for (name, headers, expected) in cases {
        let (status, response_headers, length) = send(headers).await;
        println!("{name}: {}", status.as_u16());
        assert_eq!(status.as_u16(), expected, "{name}");
        if expected == 304 {
            assert_eq!(length, 0, "{name}");
            assert_eq!(response_headers[header::ETAG], etag.as_str(), "{name}");
            assert!(
                response_headers.contains_key(header::CACHE_CONTROL),
                "{name}"
            );
        }
    }
}

#[cfg(feature = "server")]
#[tokio::test]
async fn file_storages_from_imagor_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let originals = dir.path().join("originals");
    std::fs::create_dir_all(&originals).unwrap();
    write_image(&originals, "foobar.jpg", 200, 100, image::ImageFormat::Jpeg);
    let env = [
        ("IMAGOR_UNSAFE", "1".to_owned()),
        ("FILE_LOADER_BASE_DIR", originals.display().to_string()),
        (
            "FILE_STORAGE_BASE_DIR",
            dir.path().join("storage").display().to_string(),
        ),
        (
            "FILE_RESULT_STORAGE_BASE_DIR",
            dir.path().join("results").display().to_string(),
        ),
        ("IMAGOR_RESULT_STORAGE_PATH_STYLE", "size".to_owned()),
        ("HTTP_LOADER_DISABLE", "1".to_owned()),
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
    let service = config.service().unwrap();
    let res = service
        .oneshot(get("/unsafe/166x169/top/foobar.jpg"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    wait_for(&dir.path().join("storage/foobar.jpg")).await;
    wait_for(
        &dir.path()
            .join("results/foobar.45d8ebb31bd4ed80c26e_166x169.jpg"),
    )
    .await;
}
