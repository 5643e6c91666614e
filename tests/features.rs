//! Builds with a cargo feature left out: AVIF and SVG sources and `format(avif)` answer 406
//! naming the feature, JPEG shrink-on-load keeps its output sizes without libjpeg, and an S3
//! option stops the configuration. Each test runs only in a build that lacks its feature
//! (`cargo test --no-default-features`); the default build runs the checks that hold in both.

mod support;

use std::path::{Path, PathBuf};

use http::{StatusCode, header};
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;
use support::{body_bytes, get};
use tower::ServiceExt;

/// A folder holding the test pictures of `tests/fixtures/images`.
fn images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images")
}

/// The status and JSON message of `uri` served from [`images`] in unsafe mode, with `accept`.
async fn answer(uri: &str, accept: Option<&str>, auto_avif: bool) -> (StatusCode, String, Vec<u8>) {
    let service = ImageService::new()
        .unsafe_urls(true)
        .auto_avif(auto_avif)
        .auto_webp(auto_avif)
        .loader(FileLoader::new(images()).unwrap());
    let mut request = get(uri);
    if let Some(accept) = accept {
        request
            .headers_mut()
            .insert(header::ACCEPT, accept.parse().unwrap());
    }
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, bytes) = body_bytes(response).await;
    (status, content_type, bytes.to_vec())
}

/// The `message` of a JSON error body.
#[cfg(not(all(feature = "avif", feature = "svg")))]
fn message(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).expect("a JSON error body");
    json["message"].as_str().expect("a message").to_owned()
}

#[cfg(not(feature = "avif"))]
#[tokio::test]
async fn avif_sources_answer_406_naming_the_feature() {
    let (status, content_type, body) =
        answer("/unsafe/fit-in/100x100/gopher-front.avif", None, false).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        message(&body),
        "AVIF support is not built in: enable the `avif` cargo feature"
    );
}

#[cfg(not(feature = "avif"))]
#[tokio::test]
async fn format_avif_answers_406_naming_the_feature() {
    let uri = "/unsafe/fit-in/100x100/filters:format(avif)/gopher-front.png";
    let (status, _, body) = answer(uri, None, false).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        message(&body),
        "AVIF support is not built in: enable the `avif` cargo feature"
    );
    // The engine says the same when called directly.
    let png = std::fs::read(images().join("gopher-front.png")).unwrap();
    let params = imagor_tower::path::Params {
        filters: vec![imagor_tower::path::Filter::new("format", "avif")],
        ..Default::default()
    };
    let err = imagor_tower::processing::process(&png, &params, &Default::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "AVIF support is not built in: enable the `avif` cargo feature"
    );
}

#[cfg(not(feature = "avif"))]
#[tokio::test]
async fn negotiation_never_picks_avif_without_the_feature() {
    let uri = "/unsafe/fit-in/100x100/gopher-front.png";
    let (status, content_type, _) = answer(uri, Some("image/avif,image/webp,*/*"), true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/webp");
    assert!(!imagor_tower::processing::Format::Avif.can_encode());
}

#[cfg(feature = "avif")]
#[tokio::test]
async fn negotiation_picks_avif_with_the_feature() {
    let uri = "/unsafe/fit-in/40x40/gopher-front.png";
    let (status, content_type, _) = answer(uri, Some("image/avif,image/webp,*/*"), true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/avif");
    assert!(imagor_tower::processing::Format::Avif.can_encode());
}

#[cfg(not(feature = "svg"))]
#[tokio::test]
async fn svg_sources_answer_406_naming_the_feature() {
    let (status, content_type, body) = answer("/unsafe/fit-in/100x100/test.svg", None, false).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        message(&body),
        "SVG support is not built in: enable the `svg` cargo feature"
    );
}

/// Shrink-on-load at 1/2, 1/4 and 1/8 gives the sizes asked for, whichever decoder does it
/// (libjpeg with `jpeg-scaled`, the DC-only or the full decoder without).
#[tokio::test]
async fn jpeg_reductions_keep_their_output_sizes() {
    let dir = tempfile::tempdir().unwrap();
    support::write_image(dir.path(), "big.jpg", 1600, 1200, image::ImageFormat::Jpeg);
    let service = ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(dir.path()).unwrap());
    for (size, expected) in [
        ("800x600", (800, 600)),
        ("400x0", (400, 300)),
        ("200x0", (200, 150)),
    ] {
        let uri = format!("/unsafe/{size}/big.jpg");
        let response = service.clone().oneshot(get(&uri)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let (_, bytes) = body_bytes(response).await;
        let (format, width, height) = support::decode(&bytes);
        assert_eq!(format, image::ImageFormat::Jpeg, "{uri}");
        assert_eq!((width, height), expected, "{uri}");
    }
}

#[cfg(not(feature = "s3"))]
#[test]
fn s3_options_stop_the_configuration_naming_the_option_and_the_feature() {
    use imagor_tower::config::{ConfigBuilder, ConfigError, ConfigKey};

    let cases = [
        ("S3_LOADER_BUCKET", ConfigKey::S3LoaderBucket),
        ("S3_STORAGE_BUCKET", ConfigKey::S3StorageBucket),
        ("S3_RESULT_STORAGE_BUCKET", ConfigKey::S3ResultStorageBucket),
        (
            "S3_LOADER_BUCKET_ROUTER_CONFIG",
            ConfigKey::S3LoaderBucketRouterConfig,
        ),
        ("S3_ENDPOINT", ConfigKey::S3Endpoint),
        ("AWS_LOADER_REGION", ConfigKey::AwsLoaderRegion),
    ];
    for (name, expected) in cases {
        let err = ConfigBuilder::new()
            .env([(name, "value")])
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::NotBuiltIn { key, feature: "s3" } if key == expected),
            "{name}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(name), "{text}");
        assert!(text.contains("`s3` cargo feature"), "{text}");
    }
    // On the command line too.
    let err = ConfigBuilder::new()
        .args(["-s3-loader-bucket", "photos"])
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "S3_LOADER_BUCKET (-s3-loader-bucket) needs the `s3` cargo feature, which this build of \
         imagor-tower leaves out"
    );
}

#[cfg(not(feature = "s3"))]
#[test]
fn shared_aws_variables_alone_are_not_refused() {
    let config = imagor_tower::config::ConfigBuilder::new()
        .env([("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKIA")])
        .build()
        .unwrap();
    assert_eq!(
        config.origin(imagor_tower::config::ConfigKey::AwsRegion),
        imagor_tower::config::Origin::Environment
    );
}

#[cfg(not(feature = "gcs"))]
#[test]
fn gcs_options_stop_the_configuration_naming_the_option_and_the_feature() {
    use imagor_tower::config::{ConfigBuilder, ConfigError, ConfigKey};

    for (name, expected) in [
        ("GCLOUD_LOADER_BUCKET", ConfigKey::GcloudLoaderBucket),
        ("GCLOUD_STORAGE_BUCKET", ConfigKey::GcloudStorageBucket),
        (
            "GCLOUD_RESULT_STORAGE_BUCKET",
            ConfigKey::GcloudResultStorageBucket,
        ),
    ] {
        let err = ConfigBuilder::new()
            .env([(name, "bucket")])
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::NotBuiltIn { key, feature: "gcs" } if key == expected),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("`gcs` cargo feature"), "{err}");
    }
}

#[cfg(not(feature = "azure"))]
#[test]
fn azure_options_stop_the_configuration_but_account_settings_alone_do_not() {
    use imagor_tower::config::{ConfigBuilder, ConfigError, ConfigKey};

    let err = ConfigBuilder::new()
        .args(["-azure-loader-container", "images"])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::NotBuiltIn {
                key: ConfigKey::AzureLoaderContainer,
                feature: "azure"
            }
        ),
        "{err:?}"
    );
    let config = ConfigBuilder::new()
        .env([
            ("AZURE_STORAGE_ACCOUNT_NAME", "acme"),
            ("AZURE_STORAGE_ACCOUNT_KEY", "a2V5"),
        ])
        .build()
        .unwrap();
    assert!(!config.azure.is_enabled());
}
