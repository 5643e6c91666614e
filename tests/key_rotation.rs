//! Signing-key rotation end to end: URLs signed with the current or the retired secret are
//! served, any other signature is 403, from the library builder and from imagor-style
//! settings (`IMAGOR_SECRET_PREVIOUS`, `..._SIGNER_TYPE`, `..._SIGNER_TRUNCATE`).

mod support;

use http::StatusCode;
use imagor_tower::ImageService;
use imagor_tower::config::{Config, ConfigError, ConfigKey};
use imagor_tower::loader::FileLoader;
use imagor_tower::path::{Signer, SignerAlgorithm};
use support::{body_bytes, decode, get, write_image};
use tower::{Service, ServiceExt};

const PATH: &str = "fit-in/100x100/photo.jpg";

fn images() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), "photo.jpg", 640, 480, image::ImageFormat::Jpeg);
    dir
}

async fn status_of<S>(service: &S, uri: &str) -> (StatusCode, bytes::Bytes)
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
    (parts.status, bytes)
}

async fn assert_accepted<S>(service: &S, signer: &Signer)
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
    let url = signer.sign_url(PATH);
    let (status, bytes) = status_of(service, &url).await;
    assert_eq!(status, StatusCode::OK, "{signer:?} {url}");
    assert_eq!(decode(&bytes), (image::ImageFormat::Jpeg, 100, 75));
}

async fn assert_refused<S>(service: &S, signer: &Signer)
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
    let url = signer.sign_url(PATH);
    let (status, bytes) = status_of(service, &url).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{signer:?} {url}");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
        serde_json::json!({"message": "url signature mismatch", "status": 403})
    );
}

#[tokio::test]
async fn library_signer_with_a_previous_key_accepts_both() {
    let dir = images();
    let current = Signer::new("new-secret");
    let old = Signer::new("old-secret");
    let service = ImageService::new()
        .signer(current.clone().with_previous(old.clone()))
        .loader(FileLoader::new(dir.path()).unwrap());
    assert_accepted(&service, &current).await;
    assert_accepted(&service, &old).await;
    assert_refused(&service, &Signer::new("third-secret")).await;

    // Once the old key is dropped, its URLs stop working.
    let rotated = ImageService::new()
        .signer(current.clone())
        .loader(FileLoader::new(dir.path()).unwrap());
    assert_accepted(&rotated, &current).await;
    assert_refused(&rotated, &old).await;
}

#[cfg(feature = "server")]
fn service_from_env(
    dir: &std::path::Path,
    vars: &[(&str, &str)],
) -> imagor_tower::config::ConfiguredService {
    let mut env = vec![
        ("FILE_LOADER_BASE_DIR".to_owned(), dir.display().to_string()),
        ("HTTP_LOADER_DISABLE".to_owned(), "1".to_owned()),
    ];
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let config = Config::from_sources(Vec::<String>::new(), env, |_| {
        Err(std::io::ErrorKind::NotFound.into())
    })
    .unwrap();
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    assert!(
        config.unsupported().is_empty(),
        "{:?}",
        config.unsupported()
    );
    config.service().unwrap()
}

#[cfg(feature = "server")]
#[tokio::test]
async fn previous_secret_from_imagor_environment_variables() {
    let dir = images();
    let service = service_from_env(
        dir.path(),
        &[
            ("IMAGOR_SECRET", "new-secret"),
            ("IMAGOR_SECRET_PREVIOUS", "old-secret"),
        ],
    );
    assert_accepted(&service, &Signer::new("new-secret")).await;
    assert_accepted(&service, &Signer::new("old-secret")).await;
    assert_refused(&service, &Signer::new("third-secret")).await;
    // The old secret with a type it never had is not accepted.
    assert_refused(
        &service,
        &Signer::new("old-secret").algorithm(SignerAlgorithm::Sha256),
    )
    .await;
}

#[cfg(feature = "server")]
#[tokio::test]
async fn previous_secret_with_its_own_type_and_truncation() {
    let dir = images();
    let service = service_from_env(
        dir.path(),
        &[
            ("IMAGOR_SECRET", "new-secret"),
            ("IMAGOR_SIGNER_TYPE", "sha512"),
            ("IMAGOR_SECRET_PREVIOUS", "old-secret"),
            ("IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE", "sha256"),
            ("IMAGOR_SECRET_PREVIOUS_SIGNER_TRUNCATE", "32"),
        ],
    );
    let current = Signer::new("new-secret").algorithm(SignerAlgorithm::Sha512);
    let old = Signer::new("old-secret")
        .algorithm(SignerAlgorithm::Sha256)
        .truncate(32);
    assert_accepted(&service, &current).await;
    assert_accepted(&service, &old).await;
    // The old secret under the current key's settings, or untruncated, is refused.
    assert_refused(
        &service,
        &Signer::new("old-secret").algorithm(SignerAlgorithm::Sha512),
    )
    .await;
    assert_refused(
        &service,
        &Signer::new("old-secret").algorithm(SignerAlgorithm::Sha256),
    )
    .await;
    assert_refused(
        &service,
        &Signer::new("third")
            .algorithm(SignerAlgorithm::Sha256)
            .truncate(32),
    )
    .await;
}

#[cfg(feature = "server")]
#[tokio::test]
async fn previous_secret_inherits_the_current_type_and_truncation() {
    let dir = images();
    let service = service_from_env(
        dir.path(),
        &[
            ("IMAGOR_SECRET", "new-secret"),
            ("IMAGOR_SIGNER_TYPE", "sha256"),
            ("IMAGOR_SIGNER_TRUNCATE", "30"),
            ("IMAGOR_SECRET_PREVIOUS", "old-secret"),
        ],
    );
    let settings = |secret: &str| {
        Signer::new(secret)
            .algorithm(SignerAlgorithm::Sha256)
            .truncate(30)
    };
    assert_accepted(&service, &settings("new-secret")).await;
    assert_accepted(&service, &settings("old-secret")).await;
    assert_refused(&service, &settings("third-secret")).await;
    assert_refused(&service, &Signer::new("old-secret")).await;
}

#[test]
fn previous_secret_options_are_checked() {
    let build = |vars: &[(&str, &str)]| Config::builder().env(vars.iter().copied()).build();

    let err = build(&[
        ("IMAGOR_SECRET_PREVIOUS", "old"),
        ("IMAGOR_SECRET_PREVIOUS_SIGNER_TRUNCATE", "8"),
    ])
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::InvalidValue {
                key: ConfigKey::ImagorSecretPreviousSignerTruncate,
                ..
            }
        ),
        "{err}"
    );

    let config = build(&[
        ("IMAGOR_SECRET", "new"),
        ("IMAGOR_SECRET_PREVIOUS", "hunter2-old"),
        ("IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE", "SHA512"),
        ("IMAGOR_SECRET_PREVIOUS_SIGNER_TRUNCATE", "0"),
        ("IMAGOR_SIGNER_TRUNCATE", "20"),
    ])
    .unwrap();
    assert_eq!(config.imagor.secret_previous_signer_truncate, None);
    assert_eq!(config.imagor.signer_truncate, Some(20));
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(ConfigKey::ImagorSecretPrevious.is_secret());
    let signer = config.signer();
    assert_eq!(signer.previous_keys(), 1);
    let old = Signer::new("hunter2-old").algorithm(SignerAlgorithm::Sha512);
    assert!(signer.verify(PATH, &old.sign(PATH)));
    assert_eq!(
        signer.sign(PATH),
        Signer::new("new").truncate(20).sign(PATH)
    );

    // The value of the secret never shows in an error.
    let err = Config::builder()
        .args([
            "-imagor-secret-previous",
            "hunter2-old",
            "-imagor-secret-previous-signer-truncate",
            "x",
        ])
        .build()
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // Settings for a previous secret that is not there are reported, not silently dropped.
    let config = build(&[("IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE", "sha256")]).unwrap();
    assert_eq!(
        config.warnings(),
        ["IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE is ignored: IMAGOR_SECRET_PREVIOUS is not set"]
    );
    assert_eq!(config.signer().previous_keys(), 0);
}
