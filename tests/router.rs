//! The S3 loader bucket router: the vectors of `bucket-router-cases.json`, the routing file's
//! errors, and real requests to buckets on two in-process S3 servers (s3s + s3s-fs, SigV4
//! checked) with different keys standing in for two regions or providers.
#![cfg(feature = "s3")]

use bytes::Bytes;
use imagor_tower::Error;
use imagor_tower::config::Config;
use imagor_tower::loader::SourceRequest;
use imagor_tower::s3::{
    BucketConfig, BucketRouter, RouterConfig, RouterConfigError, RoutingRule, S3Options,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

#[path = "support/s3_server.rs"]
mod s3_server;

use s3_server::S3Server;

const KEY_A: &str = "key-a";
const SECRET_A: &str = "secret-a";
const KEY_B: &str = "key-b";
const SECRET_B: &str = "secret-b";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/router")
        .join(name)
}

// ===== vectors =====

fn cases() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conformance/bucket-router-cases.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The vector's router, read as YAML (JSON is YAML's flow style) with global keys.
fn vector_router(router: &Value) -> BucketRouter {
    let yaml = serde_json::to_string(router).unwrap();
    let config = RouterConfig::from_yaml(&yaml).unwrap_or_else(|err| panic!("{yaml}: {err}"));
    BucketRouter::builder(config)
        .with_options(S3Options::new("").with_access_key("global-key", "global-secret"))
        .build()
        .unwrap()
}

#[test]
fn bucket_router_vectors() {
    let cases = cases();
    let mut checked = 0;
    let mut total = 0;
    for case in cases["routers"].as_array().unwrap() {
        let name = str_of(case, "name");
        let router = vector_router(&case["router"]);
        for check in case["checks"].as_array().unwrap() {
            total += 1;
            let key = str_of(check, "key");
            let expected = &check["expected"];
            let what = format!("{name}: {check}");
            match str_of(check, "op") {
                "config_for" => {
                    let got = router.config_for(key);
                    match expected.as_str() {
                        Some(bucket) => {
                            let got = got.unwrap_or_else(|| panic!("{what}: no bucket"));
                            assert_eq!(got.name, bucket, "{what}");
                            if let Some(region) = check.get("expected_region") {
                                assert_eq!(got.region.as_deref(), region.as_str(), "{what}");
                            }
                            if let Some(id) = check.get("expected_access_key_id") {
                                assert_eq!(got.access_key_id.as_deref(), id.as_str(), "{what}");
                            }
                        }
                        None => assert!(got.is_none(), "{what}: {got:?}"),
                    }
                }
                "key_for" => assert_eq!(router.key_for(key), expected.as_str().unwrap(), "{what}"),
                "bucket_name_for" => {
                    assert_eq!(
                        router.bucket_name_for(key),
                        expected.as_str().unwrap(),
                        "{what}"
                    );
                }
                "fallbacks" => {
                    let want: Vec<&str> = expected
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    assert_eq!(router.fallbacks(), want, "{what}");
                }
                "clients_created" => {
                    let mut want: Vec<&str> = expected
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    want.sort_unstable();
                    assert_eq!(router.buckets(), want, "{what}");
                    assert!(router.passthrough_buckets().is_empty(), "{what}");
                }
                "get" => {
                    let route = router.route(key);
                    if let Some(bucket) = check.get("expected_client_for").and_then(Value::as_str) {
                        let before = router.passthrough_buckets();
                        let route = route.unwrap_or_else(|err| panic!("{what}: {err}"));
                        assert_eq!(route.bucket, bucket, "{what}");
                        assert_eq!(route.key, router.key_for(key), "{what}");
                        let after = router.passthrough_buckets();
                        assert!(after.iter().any(|b| b == bucket), "{what}: {after:?}");
                        if before.iter().any(|b| b == bucket) {
                            assert_eq!(before, after, "{what}: the cached client is reused");
                        } else {
                            assert_eq!(after.len(), before.len() + 1, "{what}");
                        }
                    } else {
                        let err = route.unwrap_err();
                        let text = format!("{} ({})", err.message(), err.status().as_u16());
                        assert_eq!(text, str_of(check, "expected_error"), "{what}");
                    }
                }
                "client_settings" => {
                    let bucket = router
                        .bucket(str_of(check, "bucket"))
                        .unwrap_or_else(|| panic!("{what}: no client"));
                    if let Some(endpoint) = check.get("expected_endpoint") {
                        // "" means the loader-wide endpoint (none in the vectors).
                        let own = bucket.endpoint.as_deref().unwrap_or("");
                        assert_eq!(own, endpoint.as_str().unwrap(), "{what}");
                    }
                    if let Some(id) = check.get("expected_access_key_id") {
                        // Without its own keys a bucket uses the loader-wide ones
                        // ("global-key" here); the real-server tests prove it.
                        let effective = bucket.access_key_id.as_deref().unwrap_or("global-key");
                        assert_eq!(effective, id.as_str().unwrap(), "{what}");
                    }
                    if let Some(region) = check.get("expected_region") {
                        assert_eq!(bucket.region.as_deref(), region.as_str(), "{what}");
                    }
                }
                other => panic!("{what}: unknown op {other}"),
            }
            checked += 1;
        }
    }

    let dir = tempfile::tempdir().unwrap();
    for (i, case) in cases["config_errors"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        total += 1;
        let what = format!("config_errors[{i}]: {case}");
        let err = match case["yaml"].as_str() {
            Some(yaml) => {
                let path = dir.path().join(format!("case-{i}.yaml"));
                std::fs::write(&path, yaml).unwrap();
                let err = RouterConfig::from_file(&path).unwrap_err();
                assert!(
                    err.to_string().contains(&*path.to_string_lossy()),
                    "{what}: {err}"
                );
                err
            }
            None => {
                assert_eq!(case["file_missing"], Value::Bool(true), "{what}");
                RouterConfig::from_file(dir.path().join("missing.yaml")).unwrap_err()
            }
        };
        let text = err.to_string();
        assert!(
            text.contains(str_of(case, "expected_error_contains")),
            "{what}: {text}"
        );
        assert!(!text.contains('\n'), "{what}: one line: {text}");
        checked += 1;
    }
    println!("bucket-router-cases.json: {checked}/{total} vectors passed");
    assert_eq!(checked, total);
    assert!(checked >= 60, "{checked}");
}

// ===== the routing file =====

#[test]
fn the_seed_routing_file_reads_as_documented() {
    let router = BucketRouter::from_file(fixture("seed.yaml"), S3Options::new("")).unwrap();
    assert_eq!(
        router.buckets(),
        [
            "imagor-archive",
            "imagor-default",
            "imagor-eu",
            "imagor-singapore",
            "imagor-us"
        ]
    );
    assert_eq!(router.fallbacks(), ["imagor-archive"]);
    let eu = router.config_for("f7a3-EU-image.jpg").unwrap();
    assert_eq!(eu.name, "imagor-eu");
    assert_eq!(
        eu.endpoint.as_deref(),
        Some("https://s3.custom-endpoint.com")
    );
    assert_eq!(eu.access_key_id.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
    assert!(!format!("{eu:?}").contains("EXAMPLEKEY"));
    let sg = router.route("f7a3-SG-image.jpg").unwrap();
    assert_eq!(
        (sg.bucket.as_str(), sg.key.as_str()),
        ("imagor-singapore", "f7a3-SG-image.jpg")
    );
    assert_eq!(router.route("plain.jpg").unwrap().bucket, "imagor-default");
}

fn file_error(name: &str) -> RouterConfigError {
    BucketRouter::from_file(fixture(name), S3Options::new("")).unwrap_err()
}

#[test]
fn routing_file_errors_name_the_file_line_and_field() {
    // (file, line, field, text in the message)
    let cases: [(&str, Option<usize>, &str, &str); 8] = [
        ("errors/unknown-field.yaml", Some(8), "regoin", "regoin"),
        (
            "errors/no-bucket-group.yaml",
            Some(2),
            "routing_pattern",
            "(?P<bucket>...)",
        ),
        (
            "errors/bad-regex.yaml",
            Some(3),
            "routing_pattern",
            "regular expression",
        ),
        ("errors/fallback-without-name.yaml", Some(6), "name", "name"),
        ("errors/rule-without-name.yaml", Some(5), "name", "name"),
        ("errors/wrong-type.yaml", Some(4), "fallback_buckets", ""),
        ("errors/empty-name.yaml", Some(3), "name", "non-empty name"),
        ("errors/malformed.yaml", None, "", ""),
    ];
    for (name, line, field, text) in cases {
        let err = file_error(name);
        let message = err.to_string();
        println!("{name}: {message}");
        assert!(
            matches!(err, RouterConfigError::Invalid { .. }),
            "{name}: {err:?}"
        );
        assert!(
            message.starts_with("bucket router config ") && message.contains(name),
            "{name}: {message}"
        );
        if let Some(line) = line {
            assert_eq!(err.line(), Some(line), "{name}: {message}");
            assert!(message.contains(&format!("line {line}")), "{message}");
        }
        if !field.is_empty() {
            assert_eq!(err.field(), Some(field), "{name}: {message}");
        }
        assert!(message.contains(text), "{name}: {message}");
        assert!(!message.contains('\n'), "{name}: {message}");
    }
    let missing = file_error("errors/no-such-file.yaml");
    assert!(matches!(missing, RouterConfigError::Read { .. }));
    assert!(missing.to_string().contains("no-such-file.yaml"));
}

/// `two-servers.yaml` with server B's endpoint filled in, in a temporary directory.
fn routing_file(endpoint_b: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(fixture("two-servers.yaml"))
        .unwrap()
        .replace("ENDPOINT_B", endpoint_b);
    let path = dir.path().join("routing.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

#[test]
fn fallbacks_past_the_second_are_dropped() {
    let (_dir, path) = routing_file("http://127.0.0.1:9");
    let router = BucketRouter::from_file(&path, S3Options::new("")).unwrap();
    assert_eq!(router.fallbacks(), ["archive-b", "archive-a"]);
    assert!(!router.buckets().contains(&"never-tried-a"));
}

#[test]
fn configuration_errors_stop_the_service_from_being_built() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("routing.yaml");
    let config = config_with(&[(
        "S3_LOADER_BUCKET_ROUTER_CONFIG",
        missing.display().to_string(),
    )]);
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    let err = config.service().err().unwrap();
    assert_eq!(err.status(), 500);
    assert!(err.message().contains("routing.yaml"), "{}", err.message());

    let config = config_with(&[(
        "S3_LOADER_BUCKET_ROUTER_CONFIG",
        fixture("errors/unknown-field.yaml").display().to_string(),
    )]);
    let message = config.source().err().unwrap().message();
    assert!(
        message.contains("unknown-field.yaml") && message.contains("line 8"),
        "{message}"
    );
}

// ===== real servers =====

fn png(tag: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.push(tag);
    bytes
}

fn config_with(env: &[(&str, String)]) -> Config {
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone()));
    Config::from_sources(Vec::<String>::new(), env, |_| {
        Err(std::io::ErrorKind::NotFound.into())
    })
    .unwrap()
}

/// Loader-wide options: server A, path style, the global keys.
fn global_options(a: &S3Server) -> S3Options {
    S3Options::new("")
        .with_endpoint(a.endpoint())
        .with_force_path_style(true)
        .with_access_key(KEY_A, SECRET_A)
}

async fn get(router: &BucketRouter, key: &str) -> Result<Bytes, Error> {
    let blob = router.clone().oneshot(SourceRequest::new(key)).await?;
    Ok(blob.bytes().clone())
}

/// Server A (the global endpoint and keys) and server B (its own endpoint and keys), and the
/// router of `two-servers.yaml` pointing at them.
async fn two_servers() -> (S3Server, S3Server, BucketRouter) {
    let a = S3Server::start(
        KEY_A,
        SECRET_A,
        &["default-a", "us-a", "archive-a", "never-tried-a"],
        false,
    )
    .await;
    let b = S3Server::start(KEY_B, SECRET_B, &["sg-b", "archive-b", "locked-b"], false).await;
    let (_dir, path) = routing_file(&b.endpoint());
    let router = BucketRouter::from_file(&path, global_options(&a)).unwrap();
    (a, b, router)
}

#[tokio::test]
async fn rules_route_to_buckets_with_their_own_endpoint_and_keys() {
    let (a, b, router) = two_servers().await;
    b.seed("sg-b", "f7a3-SG-image.png", &png(1));
    a.seed("us-a", "9bc2-US-image.png", &png(2));
    // The same key in the other buckets must not be what is served.
    a.seed("default-a", "f7a3-SG-image.png", &png(9));
    a.seed("default-a", "9bc2-US-image.png", &png(9));

    // Rule SG: server B, the rule's own keys (server A's keys would be refused there).
    assert_eq!(get(&router, "f7a3-SG-image.png").await.unwrap(), png(1));
    // A leading slash is ignored for routing and normalised away in the object key.
    assert_eq!(get(&router, "/f7a3-SG-image.png").await.unwrap(), png(1));
    // Rule US: no keys in the entry, so the global keys on the global endpoint.
    assert_eq!(get(&router, "9bc2-US-image.png").await.unwrap(), png(2));
}

#[tokio::test]
async fn keys_without_a_rule_go_to_the_default_bucket() {
    let (a, _b, router) = two_servers().await;
    a.seed("default-a", "1234-JP-test.png", &png(3));
    a.seed("default-a", "regular-image.png", &png(4));
    assert_eq!(get(&router, "1234-JP-test.png").await.unwrap(), png(3));
    assert_eq!(get(&router, "regular-image.png").await.unwrap(), png(4));
}

#[tokio::test]
async fn fallbacks_are_tried_in_order_on_not_found_only() {
    let (a, b, router) = two_servers().await;
    // Only in the second fallback bucket: served.
    a.seed("archive-a", "f7a3-SG-old.png", &png(5));
    assert_eq!(get(&router, "f7a3-SG-old.png").await.unwrap(), png(5));
    // In both fallbacks: the first one wins.
    b.seed("archive-b", "abcd-JP-both.png", &png(6));
    a.seed("archive-a", "abcd-JP-both.png", &png(7));
    assert_eq!(get(&router, "abcd-JP-both.png").await.unwrap(), png(6));
    // The third fallback entry is dropped, as imagor does.
    a.seed("never-tried-a", "abcd-JP-third.png", &png(8));
    assert!(matches!(
        get(&router, "abcd-JP-third.png").await,
        Err(Error::NotFound)
    ));
    // Nowhere at all: not found.
    assert!(matches!(
        get(&router, "abcd-JP-nowhere.png").await,
        Err(Error::NotFound)
    ));
    // Refused credentials are not "not found": no fallback, a server error naming the bucket.
    a.seed("archive-a", "abcd-XX-locked.png", &png(9));
    let err = get(&router, "abcd-XX-locked.png").await.unwrap_err();
    assert_eq!(err.status(), 500, "{err:?}");
    assert!(err.message().contains("locked-b"), "{}", err.message());
}

#[tokio::test]
async fn global_credentials_are_what_entries_without_keys_use() {
    let (a, b, _) = two_servers().await;
    a.seed("us-a", "9bc2-US-x.png", &png(1));
    b.seed("sg-b", "9bc2-SG-x.png", &png(2));
    let (_dir, path) = routing_file(&b.endpoint());
    // Wrong global keys: the bucket that relies on them is refused...
    let options = global_options(&a).with_access_key(KEY_A, "wrong");
    let router = BucketRouter::from_file(&path, options).unwrap();
    let err = get(&router, "9bc2-US-x.png").await.unwrap_err();
    assert_eq!(err.status(), 500, "{err:?}");
    assert!(err.message().contains("us-a"), "{}", err.message());
    // ...while the bucket with its own keys is unaffected.
    assert_eq!(get(&router, "9bc2-SG-x.png").await.unwrap(), png(2));
}

/// One row of the seed's "Pattern Examples" table, on server A in passthrough or rule mode.
struct Row {
    pattern: &'static str,
    key: &'static str,
    bucket: &'static str,
    object: &'static str,
}

#[tokio::test]
async fn every_seed_pattern_row_serves_the_documented_object() {
    let rows = [
        // The routing id "SG" is not a valid S3 bucket name: a rule maps it to one.
        Row {
            pattern: "^[a-f0-9]{4}-(?P<bucket>[A-Z]{2})-",
            key: "f7a3-SG-image.jpg",
            bucket: "sg-bucket",
            object: "f7a3-SG-image.jpg",
        },
        Row {
            pattern: "^(?P<bucket>[^/]+)/",
            key: "users/photo.jpg",
            bucket: "users",
            object: "users/photo.jpg",
        },
        Row {
            pattern: r"(?P<bucket>[a-z]{2}-[a-z]+-\d)",
            key: "eu-west-1-img.jpg",
            bucket: "eu-west-1",
            object: "eu-west-1-img.jpg",
        },
        Row {
            pattern: r"^(?P<bucket>mysite-[a-z]+)\/(?P<path>.+)$",
            key: "mysite-test/images/photo.jpg",
            bucket: "mysite-test",
            object: "images/photo.jpg",
        },
        Row {
            pattern: r"^(?P<bucket>[^/]+)\/(?P<path>.+)$",
            key: "any-bucket/images/photo.jpg",
            bucket: "any-bucket",
            object: "images/photo.jpg",
        },
    ];
    let buckets: Vec<&str> = rows.iter().map(|row| row.bucket).collect();
    let a = S3Server::start(KEY_A, SECRET_A, &buckets, false).await;
    for (i, row) in rows.iter().enumerate() {
        let tag = u8::try_from(i).unwrap();
        a.seed(row.bucket, row.object, &png(tag));
        let mut config = RouterConfig::new(row.pattern);
        if row.bucket == "sg-bucket" {
            config = config.with_rule(RoutingRule::new("SG", BucketConfig::new("sg-bucket")));
        }
        let router = BucketRouter::builder(config)
            .with_options(global_options(&a))
            .build()
            .unwrap();
        let route = router.route(row.key).unwrap();
        assert_eq!(
            (route.bucket.as_str(), route.key.as_str()),
            (row.bucket, row.object),
            "{}",
            row.pattern
        );
        assert_eq!(
            get(&router, row.key).await.unwrap(),
            png(tag),
            "{}",
            row.pattern
        );
    }
}

#[tokio::test]
async fn path_group_strips_the_bucket_prefix() {
    let a = S3Server::start(KEY_A, SECRET_A, &["mysite-test", "mysite-prod"], false).await;
    a.seed("mysite-test", "images/photo.png", &png(1));
    a.seed("mysite-prod", "data/file.png", &png(2));
    let config = RouterConfig::new(r"^(?P<bucket>mysite-[a-z]+)\/(?P<path>.+)$")
        .with_rule(RoutingRule::new(
            "mysite-test",
            BucketConfig::new("mysite-test"),
        ))
        .with_default_bucket(BucketConfig::new("mysite-prod"));
    let router = BucketRouter::builder(config)
        .with_options(global_options(&a))
        .build()
        .unwrap();
    assert_eq!(
        get(&router, "/mysite-test/images/photo.png").await.unwrap(),
        png(1)
    );
    assert_eq!(
        get(&router, "/mysite-prod/data/file.png").await.unwrap(),
        png(2)
    );
    // The prefix is gone from the object key: the full key is not an object.
    a.seed("mysite-test", "mysite-test/images/photo.png", &png(3));
    assert_eq!(
        get(&router, "mysite-test/images/photo.png").await.unwrap(),
        png(1)
    );
}

#[tokio::test]
async fn passthrough_reaches_any_bucket_unless_an_allow_list_says_otherwise() {
    let a = S3Server::start(KEY_A, SECRET_A, &["site-a", "site-b"], false).await;
    a.seed("site-a", "images/photo.png", &png(1));
    a.seed("site-b", "images/photo.png", &png(2));
    let pattern = r"^(?P<bucket>[^/]+)\/(?P<path>.+)$";
    let router = BucketRouter::builder(RouterConfig::new(pattern))
        .with_options(global_options(&a))
        .with_passthrough_cache_size(1)
        .build()
        .unwrap();
    assert!(router.buckets().is_empty());
    assert_eq!(
        get(&router, "site-a/images/photo.png").await.unwrap(),
        png(1)
    );
    assert_eq!(
        get(&router, "site-b/images/photo.png").await.unwrap(),
        png(2)
    );
    assert_eq!(router.passthrough_buckets(), ["site-b"]);
    assert_eq!(
        get(&router, "site-a/images/photo.png").await.unwrap(),
        png(1)
    );
    assert!(matches!(
        get(&router, "no-such-bucket/images/photo.png").await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        get(&router, "no-slash").await,
        Err(Error::NotFound)
    ));

    let allowed = BucketRouter::builder(RouterConfig::new(pattern))
        .with_options(global_options(&a))
        .with_passthrough_allow_list(["site-a"])
        .build()
        .unwrap();
    assert_eq!(
        get(&allowed, "site-a/images/photo.png").await.unwrap(),
        png(1)
    );
    // site-b exists, but is not on the list: refused without a request or a client.
    assert!(matches!(
        get(&allowed, "site-b/images/photo.png").await,
        Err(Error::NotFound)
    ));
    assert_eq!(allowed.passthrough_buckets(), ["site-a"]);
}

// ===== through the configuration, as the standalone server runs it =====

#[tokio::test]
async fn the_seed_environment_with_a_routing_file_serves_images() {
    let a = S3Server::start(
        KEY_A,
        SECRET_A,
        &["default-a", "us-a", "archive-a", "results"],
        false,
    )
    .await;
    let b = S3Server::start(KEY_B, SECRET_B, &["sg-b", "archive-b", "locked-b"], false).await;
    let mut image = Vec::new();
    image::RgbImage::from_pixel(90, 60, image::Rgb([200, 20, 40]))
        .write_to(
            &mut std::io::Cursor::new(&mut image),
            image::ImageFormat::Png,
        )
        .unwrap();
    b.seed("sg-b", "f7a3-SG-photo.png", &image);
    a.seed("archive-a", "f7a3-US-old.png", &image);
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(fixture("two-servers.yaml"))
        .unwrap()
        .replace("ENDPOINT_B", &b.endpoint());
    let routing = dir.path().join("bucket-routing.yaml");
    std::fs::write(&routing, yaml).unwrap();
    let config = config_with(&[
        ("PORT", "8000".to_owned()),
        ("IMAGOR_SECRET", "mysecret".to_owned()),
        ("AWS_ACCESS_KEY_ID", KEY_A.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_A.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("S3_ENDPOINT", a.endpoint()),
        ("S3_FORCE_PATH_STYLE", "1".to_owned()),
        (
            "S3_LOADER_BUCKET_ROUTER_CONFIG",
            routing.display().to_string(),
        ),
        // Ignored: the routing file replaces the single-bucket loader.
        ("S3_LOADER_BUCKET", "results".to_owned()),
        // Composes with source storage on the same server.
        ("S3_STORAGE_BUCKET", "results".to_owned()),
        ("S3_STORAGE_BASE_DIR", "originals".to_owned()),
        ("HTTP_LOADER_DISABLE", "1".to_owned()),
    ]);
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.contains("S3_LOADER_BUCKET is ignored")),
        "{:?}",
        config.warnings()
    );
    let service = config.service().unwrap();
    let signer = imagor_tower::path::Signer::new("mysecret");
    for path in [
        "fit-in/30x30/f7a3-SG-photo.png",
        "fit-in/30x30/f7a3-US-old.png",
    ] {
        let url = signer.sign_url(path);
        let res = service
            .clone()
            .oneshot(
                http::Request::get(url.as_str())
                    .body(imagor_tower::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], "image/png", "{path}");
    }
    // The source storage wrapped the router: originals were written through.
    let stored = a.file("results", "originals/f7a3-SG-photo.png");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !stored.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(stored.exists(), "{}", stored.display());

    let url = signer.sign_url("fit-in/30x30/abcd-JP-missing.png");
    let res = service
        .oneshot(
            http::Request::get(url.as_str())
                .body(imagor_tower::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_router_composes_with_tower_middleware() {
    let (_a, b, router) = two_servers().await;
    b.seed("sg-b", "f7a3-SG-image.png", &png(1));
    let service = tower::ServiceBuilder::new()
        .map_err(|err: Error| err.status())
        .service(router);
    let blob = service
        .clone()
        .oneshot(SourceRequest::new("f7a3-SG-image.png"))
        .await
        .unwrap();
    assert_eq!(blob.bytes().as_ref(), png(1).as_slice());
    let status = service
        .oneshot(SourceRequest::new("f7a3-SG-none.png"))
        .await
        .unwrap_err();
    assert_eq!(status, 404);
}
