//! S3 loader and backends against a real S3 protocol server (s3s + s3s-fs) in-process,
//! with SigV4 checked, plus the key-mapping vectors of `key-cases.json`.
#![cfg(feature = "s3")]

use bytes::Bytes;
use imagor_tower::Error;
use imagor_tower::config::{CannedAcl, S3Role, S3StorageClass};
use imagor_tower::loader::SourceRequest;
use imagor_tower::s3::{AwsChainCredentials, S3Loader, S3Options};
use imagor_tower::storage::Backend;
use object_store::{Attribute, AttributeValue, Attributes, ObjectStoreExt as _, PutOptions};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tower::ServiceExt;

use s3_server::{LoopbackResolver, S3Server};

const KEY: &str = "test-access";
const SECRET: &str = "test-secret";

#[path = "support/s3_server.rs"]
mod s3_server;

/// A small PNG header: enough for content-type sniffing.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRpayload";

fn path_style(server: &S3Server, bucket: &str) -> S3Options {
    S3Options::new(bucket)
        .with_endpoint(server.endpoint())
        .with_force_path_style(true)
        .with_access_key(KEY, SECRET)
}

async fn load(loader: &S3Loader, key: &str) -> Result<imagor_tower::Blob, Error> {
    loader.clone().oneshot(SourceRequest::new(key)).await
}

// ----- key mapping vectors -----

fn key_cases() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conformance/key-cases.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case.get(field).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn s3_storage_path_vectors() {
    let cases = key_cases();
    let cases = cases["s3_storage_path"].as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        let name = text(case, "name");
        let backend = S3Options::new(text(case, "bucket"))
            .with_base_dir(text(case, "base_dir"))
            .with_path_prefix(text(case, "path_prefix"))
            .with_safe_chars(text(case, "safe_chars"))
            .with_role(S3Role::Storage)
            .build()
            .unwrap();
        let got = backend.resolve(text(case, "image"), "");
        if case["expected_ok"].as_bool().unwrap() {
            let object = got.unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(object.bucket, text(case, "expected_bucket"), "{name}");
            assert_eq!(object.key, text(case, "expected_key"), "{name}");
            // The same mapping through the Backend contract.
            let location = backend.locate(text(case, "image"), "").unwrap();
            assert_eq!(location.path.as_ref(), object.key, "{name}");
        } else {
            assert!(matches!(got, Err(Error::Invalid)), "{name}: {got:?}");
        }
        checked += 1;
    }
    println!("s3_storage_path: {checked}/{} vectors passed", cases.len());
    assert_eq!(checked, cases.len());
    assert!(checked >= 12);
}

#[test]
fn s3_wildcard_bucket_vectors() {
    let cases = key_cases();
    let cases = cases["s3_wildcard_bucket"].as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        let image = text(case, "image");
        let has_source = case.get("source_image_key").is_some();
        let source = text(case, "source_image_key");
        // Vectors with a source key (even a null one) are result-storage cases.
        let role = if has_source {
            S3Role::ResultStorage
        } else {
            S3Role::Loader
        };
        let backend = S3Options::new("*")
            .with_role(role)
            .with_path_prefix(text(case, "path_prefix"))
            .build()
            .unwrap();
        let got = backend.resolve(image, source);
        if case["expected_ok"].as_bool().unwrap() {
            let object = got.unwrap_or_else(|err| panic!("{image}: {err}"));
            assert_eq!(object.bucket, text(case, "expected_bucket"), "{image}");
            assert_eq!(object.key, text(case, "expected_key"), "{image}");
        } else {
            assert!(matches!(got, Err(Error::Invalid)), "{image}: {got:?}");
            assert!(backend.locate(image, source).is_err(), "{image}");
        }
        checked += 1;
    }
    println!(
        "s3_wildcard_bucket: {checked}/{} vectors passed",
        cases.len()
    );
    assert_eq!(checked, cases.len());
    assert!(checked >= 10);
}

// ----- against the server -----

#[tokio::test]
async fn path_style_loader_reads_object_with_stat() {
    let server = S3Server::start(KEY, SECRET, &["images"], false).await;
    server.seed("images", "photos/a.png", PNG);
    let loader = S3Loader::new(path_style(&server, "images").build().unwrap());

    let blob = load(&loader, "/photos/a.png").await.unwrap();
    assert_eq!(blob.bytes().as_ref(), PNG);
    assert_eq!(blob.content_type(), Some("image/png"));
    let stat = blob.stat().unwrap();
    assert_eq!(stat.size(), Some(PNG.len() as u64));
    assert!(stat.etag().is_some_and(|etag| !etag.is_empty()));
    let modified = stat.modified().unwrap();
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(60), "{age:?}");

    let missing = load(&loader, "photos/missing.png").await.unwrap_err();
    assert!(matches!(missing, Error::NotFound), "{missing:?}");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn virtual_hosted_style_reaches_bucket_by_host() {
    let server = S3Server::start(KEY, SECRET, &["vhost-bucket"], true).await;
    server.seed("vhost-bucket", "k/one.png", PNG);
    let backend = S3Options::new("vhost-bucket")
        .with_endpoint(server.host_endpoint())
        .with_access_key(KEY, SECRET)
        .with_dns_resolver(Arc::new(LoopbackResolver))
        .build()
        .unwrap();
    let loader = S3Loader::new(backend.clone());
    let blob = load(&loader, "k/one.png").await.unwrap();
    assert_eq!(blob.bytes().as_ref(), PNG);

    // Writes go through the same addressing.
    let location = backend.locate("k/two.png", "k/two.png").unwrap();
    location
        .writer
        .put(&location.path, Bytes::from_static(PNG).into())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(server.file("vhost-bucket", "k/two.png")).unwrap(),
        PNG
    );
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_error() {
    let server = S3Server::start(KEY, SECRET, &["images"], false).await;
    server.seed("images", "a.png", PNG);
    let backend = S3Options::new("images")
        .with_endpoint(server.endpoint())
        .with_force_path_style(true)
        .with_access_key(KEY, "wrong-secret")
        .build()
        .unwrap();
    let err = load(&S3Loader::new(backend), "a.png").await.unwrap_err();
    assert_eq!(err.status(), 500, "{err:?}");
    let message = err.message();
    assert!(message.contains("S3 bucket images"), "{message}");
    assert!(message.contains("access denied"), "{message}");
}

#[tokio::test]
async fn per_role_credentials_and_endpoints_from_config() {
    let loader_server = S3Server::start("loader-key", "loader-secret", &["src"], false).await;
    let result_server = S3Server::start("result-key", "result-secret", &["out"], false).await;
    loader_server.seed("src", "a.png", PNG);

    let mut config = imagor_tower::config::S3Config::default();
    config.force_path_style = true;
    // The global keys are wrong for both servers.
    config.aws.region = Some("us-east-1".into());
    config.aws.access_key_id = Some("global-key".into());
    config.aws.secret_access_key = Some("global-secret".to_owned().into());
    config.loader.bucket = Some("src".into());
    config.loader.endpoint = Some(loader_server.endpoint());
    config.loader.aws.region = Some("us-east-1".into());
    config.loader.aws.access_key_id = Some("loader-key".into());
    config.loader.aws.secret_access_key = Some("loader-secret".to_owned().into());
    config.result_storage.bucket = Some("out".into());
    config.result_storage.endpoint = Some(result_server.endpoint());
    config.result_storage.aws.region = Some("us-east-1".into());
    config.result_storage.aws.access_key_id = Some("result-key".into());
    config.result_storage.aws.secret_access_key = Some("result-secret".to_owned().into());
    // Storage: only a partial role setting, so the (wrong) global keys apply.
    config.storage.bucket = Some("src".into());
    config.storage.endpoint = Some(loader_server.endpoint());
    config.storage.aws.access_key_id = Some("loader-key".into());

    let loader = S3Loader::new(
        S3Options::from_config(&config, S3Role::Loader)
            .unwrap()
            .build()
            .unwrap(),
    );
    assert_eq!(load(&loader, "a.png").await.unwrap().bytes().as_ref(), PNG);

    let results = S3Options::from_config(&config, S3Role::ResultStorage)
        .unwrap()
        .build()
        .unwrap();
    let location = results.locate("300x0/a.png", "a.png").unwrap();
    location
        .writer
        .put(&location.path, Bytes::from_static(PNG).into())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(result_server.file("out", "300x0/a.png")).unwrap(),
        PNG
    );

    let storage = S3Loader::new(
        S3Options::from_config(&config, S3Role::Storage)
            .unwrap()
            .build()
            .unwrap(),
    );
    let err = load(&storage, "a.png").await.unwrap_err();
    assert!(err.message().contains("access denied"), "{}", err.message());
}

#[tokio::test]
async fn wildcard_bucket_for_loader_and_result_storage() {
    let server = S3Server::start(KEY, SECRET, &["site-a", "site-b"], false).await;
    server.seed("site-a", "img/x.png", PNG);
    server.seed("site-b", "img/x.png", b"GIF89a site b");

    let loader = S3Loader::new(path_style(&server, "*").build().unwrap());
    assert_eq!(
        load(&loader, "/site-a/img/x.png")
            .await
            .unwrap()
            .bytes()
            .as_ref(),
        PNG
    );
    let b = load(&loader, "site-b/img/x.png").await.unwrap();
    assert_eq!(b.content_type(), Some("image/gif"));
    assert_eq!(loader.backend().cached_buckets(), 2);
    assert!(matches!(
        load(&loader, "site-c/img/x.png").await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        load(&loader, "no-slash").await,
        Err(Error::Invalid)
    ));

    // Result storage: bucket from the source key, the whole result key as object key.
    let results = path_style(&server, "*")
        .with_role(S3Role::ResultStorage)
        .build()
        .unwrap();
    let location = results
        .locate("200x0/site-b/img/x.png", "site-b/img/x.png")
        .unwrap();
    location
        .writer
        .put(&location.path, Bytes::from_static(b"result").into())
        .await
        .unwrap();
    let stored = server.file("site-b", "200x0/site-b/img/x.png");
    assert_eq!(std::fs::read(stored).unwrap(), b"result");
}

#[tokio::test]
async fn base_dirs_and_prefixes_map_into_the_bucket() {
    let server = S3Server::start(KEY, SECRET, &["images"], false).await;
    server.seed("images", "originals/2024/a.png", PNG);
    server.seed("images", "top.png", b"GIF89a top");

    // Base dir from the bucket value, prefix removed.
    let loader = S3Loader::new(
        path_style(&server, "images/originals")
            .with_path_prefix("/photos")
            .build()
            .unwrap(),
    );
    assert_eq!(
        load(&loader, "/photos/2024/a.png")
            .await
            .unwrap()
            .bytes()
            .as_ref(),
        PNG
    );
    assert!(matches!(
        load(&loader, "/other/2024/a.png").await,
        Err(Error::Invalid)
    ));
    assert!(matches!(
        load(&loader, "/photos/../top.png").await,
        Err(Error::Invalid)
    ));

    // An explicit base dir wins over the bucket's; a root base dir is the bucket root.
    let root = S3Loader::new(
        path_style(&server, "images/originals")
            .with_base_dir("/")
            .build()
            .unwrap(),
    );
    assert_eq!(
        load(&root, "top.png").await.unwrap().bytes().as_ref(),
        b"GIF89a top"
    );
}

#[tokio::test]
async fn expired_objects_answer_expired() {
    let server = S3Server::start(KEY, SECRET, &["images"], false).await;
    server.seed("images", "old.png", PNG);
    server.seed("images", "new.png", PNG);
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(server.file("images", "old.png"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let backend = path_style(&server, "images")
        .with_expiration(Duration::from_secs(600))
        .build()
        .unwrap();
    assert_eq!(backend.expiration(), Some(Duration::from_secs(600)));
    let loader = S3Loader::new(backend);
    let err = load(&loader, "old.png").await.unwrap_err();
    assert!(matches!(err, Error::Expired), "{err:?}");
    assert_eq!(err.status(), 410);
    assert!(load(&loader, "new.png").await.is_ok());
}

#[tokio::test]
async fn acl_and_storage_class_are_sent_on_put_only_by_the_writer() {
    let server = S3Server::start(KEY, SECRET, &["results"], false).await;
    let backend = path_style(&server, "results")
        .with_role(S3Role::ResultStorage)
        .with_acl(CannedAcl::PublicRead)
        .with_storage_class(S3StorageClass::ReducedRedundancy)
        .build()
        .unwrap();
    let location = backend.locate("fit-in/a.png", "a.png").unwrap();
    let mut attributes = backend.put_attributes();
    attributes.insert(Attribute::ContentType, AttributeValue::from("image/png"));
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    location
        .writer
        .put_opts(&location.path, Bytes::from_static(PNG).into(), options)
        .await
        .unwrap();
    // A reader put carries neither (it is not meant for writes, but proves the split).
    location
        .reader
        .put_opts(
            &location.path,
            Bytes::from_static(PNG).into(),
            PutOptions::from(Attributes::new()),
        )
        .await
        .unwrap();

    let puts = server.puts();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_eq!(puts[0].key, "fit-in/a.png");
    assert_eq!(puts[0].acl.as_deref(), Some("public-read"));
    assert_eq!(puts[0].storage_class.as_deref(), Some("REDUCED_REDUNDANCY"));
    assert_eq!(puts[1].acl, None);
    assert_eq!(puts[1].storage_class, None);

    // The stored object keeps its content type.
    let blob = load(&S3Loader::new(backend), "fit-in/a.png").await.unwrap();
    assert_eq!(blob.content_type(), Some("image/png"));
}

#[tokio::test]
async fn size_limit_is_checked_before_reading() {
    let server = S3Server::start(KEY, SECRET, &["images"], false).await;
    server.seed("images", "big.png", &[7u8; 4096]);
    let loader = S3Loader::new(path_style(&server, "images").build().unwrap()).max_size(1024);
    assert!(matches!(
        load(&loader, "big.png").await,
        Err(Error::MaxSizeExceeded)
    ));
    let unlimited = loader.max_size(0);
    assert_eq!(load(&unlimited, "big.png").await.unwrap().len(), 4096);
}

#[tokio::test]
async fn dead_endpoint_fails_fast_with_a_server_error() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let backend = S3Options::new("images")
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_force_path_style(true)
        .with_access_key(KEY, SECRET)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        load(&S3Loader::new(backend), "a.png"),
    )
    .await
    .expect("the loader must give up by itself")
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(err.status().is_server_error(), "{err:?}");
    assert!(
        err.message().contains("S3 bucket images"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn chain_credentials_sign_requests() {
    use aws_credential_types::Credentials;
    let server = S3Server::start(KEY, SECRET, &["images"], false).await;
    server.seed("images", "a.png", PNG);
    let chain =
        AwsChainCredentials::from_provider(Credentials::new(KEY, SECRET, None, None, "test"));
    let backend = S3Options::new("images")
        .with_endpoint(server.endpoint())
        .with_force_path_style(true)
        .with_credentials(Arc::new(chain))
        .build()
        .unwrap();
    assert_eq!(
        load(&S3Loader::new(backend), "a.png")
            .await
            .unwrap()
            .bytes()
            .as_ref(),
        PNG
    );
}

// ----- the seed's docker-compose environment, end to end through the configured service -----

#[tokio::test]
async fn seed_environment_serves_stores_and_caches_with_public_read_acl() {
    let server = S3Server::start(KEY, SECRET, &["mybucket"], false).await;
    let mut png = Vec::new();
    image::RgbImage::from_pixel(120, 80, image::Rgb([10, 200, 30]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    server.seed("mybucket", "images/photo.png", &png);
    let env = [
        ("IMAGOR_SECRET", "mysecret".to_owned()),
        ("AWS_ACCESS_KEY_ID", KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("S3_ENDPOINT", server.endpoint()),
        ("S3_FORCE_PATH_STYLE", "1".to_owned()),
        ("S3_LOADER_BUCKET", "mybucket".to_owned()),
        ("S3_LOADER_BASE_DIR", "images".to_owned()),
        ("S3_STORAGE_BUCKET", "mybucket".to_owned()),
        ("S3_STORAGE_BASE_DIR", "images".to_owned()),
        ("S3_STORAGE_ACL", "public-read".to_owned()),
        ("S3_RESULT_STORAGE_BUCKET", "mybucket".to_owned()),
        ("S3_RESULT_STORAGE_BASE_DIR", "images/result".to_owned()),
        ("S3_RESULT_STORAGE_ACL", "public-read".to_owned()),
        (
            "S3_RESULT_STORAGE_TAGGING",
            "team=web&kind=result".to_owned(),
        ),
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
    let url = imagor_tower::path::Signer::new("mysecret").sign_url("fit-in/60x60/photo.png");
    let get = || {
        http::Request::get(url.as_str())
            .body(imagor_tower::body::Body::empty())
            .unwrap()
    };

    let res = service.clone().oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 200);
    let result_file = server.file("mybucket", "images/result/fit-in/60x60/photo.png");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !result_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        result_file.exists(),
        "result stored at {}",
        result_file.display()
    );

    // The source is deleted: the second request is served from result storage.
    std::fs::remove_file(server.file("mybucket", "images/photo.png")).unwrap();
    let res = service.clone().oneshot(get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");

    // Every write carried the canned ACL, signed.
    let puts = server.puts();
    assert!(!puts.is_empty());
    for put in &puts {
        println!("PutObject {put:?}");
        assert_eq!(put.acl.as_deref(), Some("public-read"), "{put:?}");
        assert_eq!(
            put.tagging.as_deref(),
            Some("team=web&kind=result"),
            "{put:?}"
        );
    }
}

// ----- dead and hanging endpoints beside a live one, through the service -----

#[tokio::test]
async fn dead_and_hanging_endpoints_do_not_stall_other_requests() {
    use imagor_tower::ImageService;
    use imagor_tower::loader::service_fn_loader;

    let live = S3Server::start(KEY, SECRET, &["live"], false).await;
    let mut png = Vec::new();
    image::RgbImage::from_pixel(40, 30, image::Rgb([200, 20, 20]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    live.seed("live", "a.png", &png);

    // Refused: a port nobody listens on. Hanging: accepts connections and never answers.
    let refused_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_port = hanging.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let held = tokio::spawn({
        let accepted = Arc::clone(&accepted);
        async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = hanging.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                sockets.push(socket);
            }
        }
    });
    let at = |port: u16| {
        S3Loader::new(
            S3Options::new("images")
                .with_endpoint(format!("http://127.0.0.1:{port}"))
                .with_force_path_style(true)
                .with_access_key(KEY, SECRET)
                .build()
                .unwrap(),
        )
    };
    let (refused, hang) = (at(refused_port), at(hanging_port));
    let live_loader = S3Loader::new(path_style(&live, "live").build().unwrap());
    // One source stack that sends each key prefix to its own bucket client.
    let source = service_fn_loader(move |req: SourceRequest| {
        let (refused, hang, live) = (refused.clone(), hang.clone(), live_loader.clone());
        async move {
            let key = req.key().to_owned();
            if let Some(rest) = key.strip_prefix("refused/") {
                refused.oneshot(SourceRequest::new(rest)).await
            } else if let Some(rest) = key.strip_prefix("hanging/") {
                hang.oneshot(SourceRequest::new(rest)).await
            } else {
                live.oneshot(SourceRequest::new(key)).await
            }
        }
    });
    let service = ImageService::new()
        .unsafe_urls(true)
        .load_timeout(Duration::from_secs(3))
        // Admission comes before loading, so each hanging load holds a place until its load
        // timeout: four of them, and the other requests flow through the places left.
        .process_concurrency(6)
        .process_queue_size(16)
        .loader(source);
    let get = |uri: &str| {
        let service = service.clone();
        let request = http::Request::get(uri)
            .body(imagor_tower::body::Body::empty())
            .unwrap();
        tokio::spawn(async move { service.oneshot(request).await.unwrap() })
    };

    let hanging_requests: Vec<_> = (0..4)
        .map(|i| get(&format!("/unsafe/{}x10/hanging/a.png", 10 + i)))
        .collect();
    let refused_requests: Vec<_> = (0..4).map(|_| get("/unsafe/refused/a.png")).collect();
    // While the hanging loads wait, live requests are served one after another.
    for i in 0..8 {
        let res = get(&format!("/unsafe/{}x20/a.png", 20 + i)).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    assert!(hanging_requests.iter().all(|task| !task.is_finished()));
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    for task in refused_requests {
        let res = task.await.unwrap();
        assert!(res.status().is_server_error(), "{}", res.status());
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .contains("S3 bucket images"),
            "{json}"
        );
    }
    // The hanging ones end at the load timeout with imagor's 408 `timeout`.
    let started = Instant::now();
    for task in hanging_requests {
        let res = task.await.unwrap();
        assert_eq!(res.status(), 408);
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["message"], "timeout", "{json}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing leaked: the live bucket still answers afterwards.
    let res = get("/unsafe/fit-in/16x16/a.png").await.unwrap();
    assert_eq!(res.status(), 200);
    held.abort();
}
