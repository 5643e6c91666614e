//! Azure Blob Storage loader, storage and result storage against a real Azurite started by
//! each test (see `support/emulators.rs` for how it is found; without it the tests print why
//! and pass without checking anything).
#![cfg(all(feature = "azure", feature = "server"))]

#[path = "support/cloud_cases.rs"]
mod cloud_cases;
#[path = "support/emulators.rs"]
mod emulators;

use bytes::Bytes;
use cloud_cases::{
    Standalone, dimensions, expired_objects_are_misses, png, storage_writes_then_reads_back,
};
use emulators::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite};
use imagor_tower::azure::{AzureBackend, AzureLoader, AzureOptions};
use imagor_tower::loader::SourceRequest;
use imagor_tower::storage::{Backend, Role};
use imagor_tower::{Blob, Error};
use object_store::{Attribute, AttributeValue, Attributes, ObjectStoreExt as _, PutOptions};
use std::time::Duration;
use tower::ServiceExt;

/// Starts Azurite, or returns from the test (having printed why).
macro_rules! azurite {
    ($test:literal) => {
        match Azurite::start($test).await {
            Some(azurite) => azurite,
            None => return,
        }
    };
}

fn options(azurite: &Azurite, container: &str) -> AzureOptions {
    AzureOptions::new(container)
        .with_endpoint(&azurite.endpoint)
        .with_access_key(AZURITE_KEY)
}

async fn load(loader: &AzureLoader, key: &str) -> Result<Blob, Error> {
    loader.clone().oneshot(SourceRequest::new(key)).await
}

/// Writes a blob the way any Azure client would (here: object_store, directly).
async fn seed(backend: &AzureBackend, key: &str, content_type: &str, bytes: &[u8]) {
    let location = backend.locate(key, "").unwrap();
    let mut attributes = Attributes::new();
    attributes.insert(
        Attribute::ContentType,
        AttributeValue::from(content_type.to_owned()),
    );
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    location
        .writer
        .put_opts(
            &location.path,
            Bytes::copy_from_slice(bytes).into(),
            options,
        )
        .await
        .unwrap();
}

/// Whether the blob named exactly `name` exists in `container`.
async fn exists(azurite: &Azurite, container: &str, name: &str) -> bool {
    let backend = options(azurite, container).build().unwrap();
    let client = backend.locate("any", "").unwrap().reader;
    let path = object_store::path::Path::parse(name).unwrap();
    client.head(&path).await.is_ok()
}

#[tokio::test]
async fn azure_loader_reads_blobs_with_stat_and_maps_errors() {
    let azurite = azurite!("azure_loader_reads_blobs_with_stat_and_maps_errors");
    azurite.create_container("images").await;
    let image = png(12, 8);
    let root = options(&azurite, "images").build().unwrap();
    seed(&root, "originals/2024/a.png", "image/png", &image).await;

    let loader = AzureLoader::new(
        options(&azurite, "images")
            .with_base_dir("originals")
            .with_path_prefix("/photos")
            .build()
            .unwrap(),
    );
    let blob = load(&loader, "/photos/2024/a.png").await.unwrap();
    assert_eq!(blob.bytes().as_ref(), image.as_slice());
    assert_eq!(blob.content_type(), Some("image/png"));
    let stat = blob.stat().unwrap();
    assert_eq!(stat.size(), Some(image.len() as u64));
    assert!(
        stat.etag().is_some() && stat.modified().is_some(),
        "{stat:?}"
    );

    // Missing blob and missing container: 404; a key outside the prefix: 400.
    let missing = load(&loader, "/photos/2024/none.png").await.unwrap_err();
    assert!(matches!(missing, Error::NotFound), "{missing:?}");
    let no_container = AzureLoader::new(options(&azurite, "no-such-container").build().unwrap());
    assert_eq!(
        load(&no_container, "a.png").await.unwrap_err().status(),
        404
    );
    assert_eq!(
        load(&loader, "elsewhere/a.png").await.unwrap_err().status(),
        400
    );

    // A wrong key is refused by Azurite: a 500 naming the container.
    let wrong = AzureLoader::new(
        AzureOptions::new("images")
            .with_endpoint(&azurite.endpoint)
            .with_access_key("d3Jvbmc=")
            .build()
            .unwrap(),
    );
    let err = load(&wrong, "originals/2024/a.png").await.unwrap_err();
    assert_eq!(err.status(), 500, "{err:?}");
    assert!(
        err.message().contains("Azure container images"),
        "{}",
        err.message()
    );

    // The size limit, from the response headers.
    let err = load(&loader.clone().max_size(10), "/photos/2024/a.png")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");

    // Expiration by the last modification: 410.
    let expiring = AzureLoader::new(
        options(&azurite, "images")
            .with_expiration(Duration::from_millis(1))
            .build()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = load(&expiring, "originals/2024/a.png").await.unwrap_err();
    assert_eq!(err.status(), 410, "{err:?}");

    // The wildcard container: the key's first segment.
    let wildcard = AzureLoader::new(options(&azurite, "*").build().unwrap());
    let blob = load(&wildcard, "images/originals/2024/a.png")
        .await
        .unwrap();
    assert_eq!(blob.len(), image.len());
}

#[tokio::test]
async fn azure_storage_writes_reads_back_and_expires() {
    let azurite = azurite!("azure_storage_writes_reads_back_and_expires");
    azurite.create_container("cache").await;
    let storage = || {
        options(&azurite, "cache")
            .with_role(Role::Storage)
            .with_base_dir("originals")
    };
    let azurite = &azurite;
    storage_writes_then_reads_back(
        storage().build().unwrap(),
        "shop/a b.png",
        move || async move { exists(azurite, "cache", "originals/shop/a+b.png").await },
    )
    .await;

    let expiring = storage()
        .with_expiration(Duration::from_millis(1))
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    expired_objects_are_misses(expiring, "shop/a b.png").await;
}

#[tokio::test]
async fn azure_sas_token_authorises_requests() {
    let azurite = azurite!("azure_sas_token_authorises_requests");
    azurite.create_container("images").await;
    let root = options(&azurite, "images").build().unwrap();
    seed(&root, "a.png", "image/png", &png(4, 4)).await;
    let sas = emulators::account_sas(AZURITE_ACCOUNT, AZURITE_KEY);
    let loader = AzureLoader::new(
        AzureOptions::new("images")
            .with_endpoint(&azurite.endpoint)
            .with_sas_token(format!("?{sas}"))
            .build()
            .unwrap(),
    );
    assert!(load(&loader, "a.png").await.is_ok());
    let forged = AzureLoader::new(
        AzureOptions::new("images")
            .with_endpoint(&azurite.endpoint)
            .with_sas_token(sas.replace("sig=", "sig=AAAA"))
            .build()
            .unwrap(),
    );
    assert_eq!(load(&forged, "a.png").await.unwrap_err().status(), 500);
}

/// The standalone's configuration from the `AZURE_*` variables: loader, source storage and
/// result storage in Azurite, over HTTP.
#[tokio::test]
async fn azure_standalone_serves_stores_and_reuses_results() {
    let azurite = azurite!("azure_standalone_serves_stores_and_reuses_results");
    azurite.create_container("images").await;
    azurite.create_container("results").await;
    let root = options(&azurite, "images").build().unwrap();
    seed(&root, "originals/photo.png", "image/png", &png(120, 80)).await;
    let server = Standalone::start(&[
        ("IMAGOR_SECRET", "mysecret"),
        ("HTTP_LOADER_DISABLE", "1"),
        ("AZURE_ENDPOINT", &azurite.endpoint),
        ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY),
        ("AZURE_LOADER_CONTAINER", "images"),
        ("AZURE_LOADER_BASE_DIR", "originals"),
        ("AZURE_STORAGE_CONTAINER", "images/cache"),
        ("AZURE_RESULT_STORAGE_CONTAINER", "results"),
        ("AZURE_RESULT_STORAGE_BASE_DIR", "r"),
        ("AZURE_RESULT_STORAGE_EXPIRATION", "1h"),
    ])
    .await;
    let signer = imagor_tower::path::Signer::new("mysecret");
    let path = format!("/{}", signer.sign_url("fit-in/60x60/photo.png"));

    let (status, content_type, body) = server.get(&path).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "image/png");
    assert_eq!(dimensions(&body), (60, 40));
    let azurite = &azurite;
    cloud_cases::eventually("the stored result and original", || async move {
        exists(azurite, "results", "r/fit-in/60x60/photo.png").await
            && exists(azurite, "images", "cache/photo.png").await
    })
    .await;

    // With the source and the stored original gone, the result is still served (from result
    // storage), while other sizes of it are not found.
    for name in ["originals/photo.png", "cache/photo.png"] {
        let location = root.locate(name, "").unwrap();
        location.writer.delete(&location.path).await.unwrap();
    }
    let (status, _, again) = server.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(dimensions(&again), (60, 40));
    let other = format!("/{}", signer.sign_url("fit-in/30x30/photo.png"));
    let (status, _, _) = server.get(&other).await;
    assert_eq!(status, 404);
}
