//! Google Cloud Storage loader, storage and result storage against a real fake-gcs-server
//! started by each test (see `support/emulators.rs` for how it is found; without it the tests
//! print why and pass without checking anything).
#![cfg(all(feature = "gcs", feature = "server"))]

#[path = "support/cloud_cases.rs"]
mod cloud_cases;
#[path = "support/emulators.rs"]
mod emulators;

use cloud_cases::{
    Standalone, dimensions, expired_objects_are_misses, png, storage_writes_then_reads_back,
};
use emulators::FakeGcs;
use imagor_tower::config::GcsAcl;
use imagor_tower::gcs::{GcsLoader, GcsOptions};
use imagor_tower::loader::SourceRequest;
use imagor_tower::storage::Role;
use imagor_tower::{Blob, Error};
use std::time::Duration;
use tower::ServiceExt;

/// Starts fake-gcs-server, or returns from the test (having printed why).
macro_rules! fake_gcs {
    ($test:literal) => {
        match FakeGcs::start($test).await {
            Some(gcs) => gcs,
            None => return,
        }
    };
}

async fn load(loader: &GcsLoader, key: &str) -> Result<Blob, Error> {
    loader.clone().oneshot(SourceRequest::new(key)).await
}

#[tokio::test]
async fn gcs_loader_reads_objects_with_stat_and_maps_errors() {
    let gcs = fake_gcs!("gcs_loader_reads_objects_with_stat_and_maps_errors");
    gcs.create_bucket("images").await;
    let image = png(12, 8);
    gcs.seed("images", "originals/2024/a.png", "image/png", &image)
        .await;
    let options = || {
        GcsOptions::new("images")
            .with_emulator_host(&gcs.url)
            .with_base_dir("originals")
    };
    let loader = GcsLoader::new(options().with_path_prefix("/photos").build().unwrap());

    let blob = load(&loader, "/photos/2024/a.png").await.unwrap();
    assert_eq!(blob.bytes().as_ref(), image.as_slice());
    assert_eq!(blob.content_type(), Some("image/png"));
    let stat = blob.stat().unwrap();
    assert_eq!(stat.size(), Some(image.len() as u64));
    assert!(
        stat.etag().is_some() && stat.modified().is_some(),
        "{stat:?}"
    );

    // Missing object and missing bucket: 404; a key outside the prefix: 400.
    let missing = load(&loader, "/photos/2024/none.png").await.unwrap_err();
    assert!(matches!(missing, Error::NotFound), "{missing:?}");
    let no_bucket = GcsLoader::new(
        GcsOptions::new("no-such-bucket")
            .with_emulator_host(&gcs.url)
            .build()
            .unwrap(),
    );
    assert_eq!(load(&no_bucket, "a.png").await.unwrap_err().status(), 404);
    assert_eq!(
        load(&loader, "elsewhere/a.png").await.unwrap_err().status(),
        400
    );

    // The size limit, from the response headers.
    let small = loader.clone().max_size(10);
    let err = load(&small, "/photos/2024/a.png").await.unwrap_err();
    assert!(matches!(err, Error::MaxSizeExceeded), "{err:?}");

    // Expiration by the object's update time: 410.
    let expiring = GcsLoader::new(
        options()
            .with_expiration(Duration::from_millis(1))
            .build()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = load(&expiring, "2024/a.png").await.unwrap_err();
    assert_eq!(err.status(), 410, "{err:?}");
    let fresh = GcsLoader::new(
        options()
            .with_expiration(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    assert!(load(&fresh, "2024/a.png").await.is_ok());

    // The wildcard bucket: the key's first segment.
    let wildcard = GcsLoader::new(
        GcsOptions::new("*")
            .with_emulator_host(&gcs.url)
            .build()
            .unwrap(),
    );
    let blob = load(&wildcard, "images/originals/2024/a.png")
        .await
        .unwrap();
    assert_eq!(blob.len(), image.len());
}

#[tokio::test]
async fn gcs_storage_writes_with_the_predefined_acl_reads_back_and_expires() {
    let gcs = fake_gcs!("gcs_storage_writes_with_the_predefined_acl_reads_back_and_expires");
    gcs.create_bucket("cache").await;
    let relay = gcs.write_relay().await;
    let options = || {
        GcsOptions::new("cache")
            .with_role(Role::Storage)
            .with_emulator_host(&relay.url)
            .with_base_dir("originals")
    };
    let backend = options().with_acl(GcsAcl::PublicRead).build().unwrap();
    let gcs = &gcs;
    storage_writes_then_reads_back(backend, "shop/a b.png", move || async move {
        gcs.object("cache", "originals/shop/a+b.png")
            .await
            .is_some()
    })
    .await;

    let object = gcs.object("cache", "originals/shop/a+b.png").await.unwrap();
    assert_eq!(object["contentType"], "image/png", "{object}");
    // The writer sent the ACL on every upload, and the emulator applied it.
    let puts = relay.puts();
    assert!(!puts.is_empty());
    for put in &puts {
        println!("upload {put:?}");
        assert_eq!(put.acl.as_deref(), Some("public-read"), "{put:?}");
        assert_eq!(put.content_type.as_deref(), Some("image/png"), "{put:?}");
    }
    let public = object["acl"]
        .as_array()
        .unwrap()
        .iter()
        .any(|rule| rule["entity"] == "allUsers" && rule["role"] == "READER");
    assert!(public, "{object}");

    // Past the expiration the stored original is a miss.
    let expiring = options()
        .with_expiration(Duration::from_millis(1))
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    expired_objects_are_misses(expiring, "shop/a b.png").await;
}

#[tokio::test]
async fn gcs_storage_without_acl_sends_none() {
    let gcs = fake_gcs!("gcs_storage_without_acl_sends_none");
    gcs.create_bucket("cache").await;
    let relay = gcs.write_relay().await;
    let backend = GcsOptions::new("cache")
        .with_role(Role::Storage)
        .with_emulator_host(&relay.url)
        .build()
        .unwrap();
    let gcs = &gcs;
    storage_writes_then_reads_back(backend, "b.png", move || async move {
        gcs.object("cache", "b.png").await.is_some()
    })
    .await;
    let puts = relay.puts();
    assert!(
        !puts.is_empty() && puts.iter().all(|put| put.acl.is_none()),
        "{puts:?}"
    );
}

/// The standalone's configuration from imagor's `GCLOUD_*` variables and Google's
/// `STORAGE_EMULATOR_HOST`: loader, source storage and result storage in GCS, over HTTP.
#[tokio::test]
async fn gcs_standalone_serves_stores_and_reuses_results() {
    let gcs = fake_gcs!("gcs_standalone_serves_stores_and_reuses_results");
    gcs.create_bucket("images").await;
    gcs.create_bucket("results").await;
    gcs.seed("images", "originals/photo.png", "image/png", &png(120, 80))
        .await;
    let relay = gcs.write_relay().await;
    let server = Standalone::start(&[
        ("IMAGOR_SECRET", "mysecret"),
        ("HTTP_LOADER_DISABLE", "1"),
        ("STORAGE_EMULATOR_HOST", &relay.url),
        ("GCLOUD_LOADER_BUCKET", "images"),
        ("GCLOUD_LOADER_BASE_DIR", "originals"),
        ("GCLOUD_STORAGE_BUCKET", "images"),
        ("GCLOUD_STORAGE_BASE_DIR", "cache"),
        ("GCLOUD_STORAGE_ACL", "publicRead"),
        ("GCLOUD_RESULT_STORAGE_BUCKET", "results"),
        ("GCLOUD_RESULT_STORAGE_BASE_DIR", "r"),
        ("GCLOUD_RESULT_STORAGE_ACL", "bucketOwnerRead"),
        ("GCLOUD_RESULT_STORAGE_EXPIRATION", "1h"),
    ])
    .await;
    let signer = imagor_tower::path::Signer::new("mysecret");
    let path = format!("/{}", signer.sign_url("fit-in/60x60/photo.png"));

    let (status, content_type, body) = server.get(&path).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "image/png");
    assert_eq!(dimensions(&body), (60, 40));
    gcs.wait_for("results", "r/fit-in/60x60/photo.png").await;
    gcs.wait_for("images", "cache/photo.png").await;
    let acls: Vec<_> = relay
        .puts()
        .into_iter()
        .map(|put| (put.path, put.acl))
        .collect();
    assert!(
        acls.iter().any(|(path, acl)| path.starts_with("/results/")
            && acl.as_deref() == Some("bucket-owner-read")),
        "{acls:?}"
    );
    assert!(
        acls.iter().any(
            |(path, acl)| path.starts_with("/images/") && acl.as_deref() == Some("public-read")
        ),
        "{acls:?}"
    );

    // With the source and the stored original gone, the result is still served (from result
    // storage), while other sizes of it are not found.
    gcs.delete("images", "originals/photo.png").await;
    gcs.delete("images", "cache/photo.png").await;
    let (status, _, again) = server.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(dimensions(&again), (60, 40));
    let other = format!("/{}", signer.sign_url("fit-in/30x30/photo.png"));
    let (status, _, _) = server.get(&other).await;
    assert_eq!(status, 404);
}

/// The loader's view of `STORAGE_EMULATOR_HOST` without the scheme (`host:port`, the form
/// Google's libraries also accept), through the configuration.
#[tokio::test]
async fn gcs_emulator_host_without_scheme_through_the_configuration() {
    let gcs = fake_gcs!("gcs_emulator_host_without_scheme_through_the_configuration");
    gcs.create_bucket("pics").await;
    gcs.seed("pics", "cat.png", "image/png", &png(40, 20)).await;
    let host = gcs.url.trim_start_matches("http://").to_owned();
    let server = Standalone::start(&[
        ("IMAGOR_UNSAFE", "1"),
        ("HTTP_LOADER_DISABLE", "1"),
        ("STORAGE_EMULATOR_HOST", &host),
        ("GCLOUD_LOADER_BUCKET", "pics"),
    ])
    .await;
    let (status, _, body) = server.get("/unsafe/10x0/cat.png").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(dimensions(&body), (10, 5));
    let (status, _, _) = server.get("/unsafe/10x0/dog.png").await;
    assert_eq!(status, 404);
}
