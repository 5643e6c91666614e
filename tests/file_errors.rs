//! Operating-system errors of the file loader and the file storages answer a 4xx where the
//! key caused them (name too long, a file used as a directory, a directory as the image, an
//! invalid name, a link loop), never a 500; and storage writes never lose a good object.

mod support;

use http::StatusCode;
use imagor_tower::key::SafeChars;
use imagor_tower::loader::{FileLoader, SourceRequest};
use imagor_tower::storage::{FileBackend, ResultStorageLayer, StorageLayer};
use imagor_tower::{Error, ImageService};
use std::path::Path;
use std::time::Duration;
use support::{body_bytes, get, write_image};
use tower::{Layer, ServiceExt};

/// A file name of 300 bytes: longer than any common file system allows (255).
fn long_name() -> String {
    format!("{}.png", "n".repeat(296))
}

/// A path of 20 missing directories of 240 bytes each: every name fits, the whole path does
/// not (`PATH_MAX` is 4096 on Linux). The system looks it up one name at a time, so it is
/// simply not found.
fn long_path() -> String {
    vec!["p".repeat(240); 20].join("/") + "/x.png"
}

/// `root/` with `photo.png`, `file.jpg` (a real image) and the directories `dir.png/` and
/// `sub/`, and (on Unix) two symbolic links pointing at each other and `self`, a link to the
/// root itself.
fn tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write_image(root.path(), "photo.png", 16, 16, image::ImageFormat::Png);
    write_image(root.path(), "file.jpg", 16, 16, image::ImageFormat::Jpeg);
    std::fs::create_dir(root.path().join("dir.png")).unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("loop-b.png", root.path().join("loop-a.png")).unwrap();
        std::os::unix::fs::symlink("loop-a.png", root.path().join("loop-b.png")).unwrap();
        std::os::unix::fs::symlink(".", root.path().join("self")).unwrap();
    }
    root
}

/// The keys tried, with the status each must answer.
fn cases() -> Vec<(String, StatusCode)> {
    let mut cases = vec![
        (long_name(), StatusCode::BAD_REQUEST),
        (format!("sub/{}", long_name()), StatusCode::BAD_REQUEST),
        (long_path(), StatusCode::NOT_FOUND),
        ("file.jpg/x.jpg".to_owned(), StatusCode::NOT_FOUND),
        ("photo.png/deeper/x.png".to_owned(), StatusCode::NOT_FOUND),
        ("dir.png".to_owned(), StatusCode::NOT_FOUND),
        // Escaped, a NUL byte is just the three characters `%00` of a missing file's name.
        ("a\0b.png".to_owned(), StatusCode::NOT_FOUND),
    ];
    if cfg!(unix) {
        cases.push(("loop-a.png".to_owned(), StatusCode::NOT_FOUND));
        // More links on the way than the system follows (40 on Linux): a loop too.
        cases.push(("self/".repeat(50) + "photo.png", StatusCode::NOT_FOUND));
    }
    cases
}

fn message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid",
        _ => "not found",
    }
}

async fn load(loader: &FileLoader, key: &str) -> Result<imagor_tower::Blob, Error> {
    loader.clone().oneshot(SourceRequest::new(key)).await
}

#[tokio::test]
async fn file_loader_maps_os_errors_to_client_statuses() {
    let root = tree();
    let loader = FileLoader::new(root.path()).unwrap();
    for (key, status) in cases() {
        let err = load(&loader, &key).await.unwrap_err();
        assert_eq!(err.status(), status, "{key:.40}: {err:?}");
        assert_eq!(
            err.to_json(),
            format!(
                r#"{{"message":"{}","status":{}}}"#,
                message(status),
                status.as_u16()
            ),
            "{key:.40}"
        );
    }
    assert!(load(&loader, "photo.png").await.is_ok());
}

#[tokio::test]
async fn file_loader_without_escaping_refuses_nul_bytes() {
    let root = tree();
    // `--` turns escaping off: the NUL byte would reach the file system as it is.
    let loader = FileLoader::new(root.path())
        .unwrap()
        .safe_chars(SafeChars::new(SafeChars::NOOP));
    for key in ["a\0b.png", "photo.png\0", &long_name()] {
        let err = load(&loader, key).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{key:.40}: {err:?}");
    }
}

/// Asks `service` for `uri` and checks the status and imagor's JSON error body.
async fn expect<S>(service: &S, uri: &str, status: StatusCode)
where
    S: tower::Service<
            http::Request<imagor_tower::body::Body>,
            Response = http::Response<imagor_tower::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync,
    S::Future: Send,
{
    let res = service.clone().oneshot(get(uri)).await.unwrap();
    let (parts, body) = body_bytes(res).await;
    assert_eq!(parts.status, status, "{uri:.60}: {body:?}");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["status"], status.as_u16(), "{uri:.60}");
    assert_eq!(json["message"], message(status), "{uri:.60}");
}

/// The URL path of `key` with `%` escapes for the bytes a URL cannot carry as they are.
fn url_path(key: &str) -> String {
    key.replace('\0', "%00")
}

#[tokio::test]
async fn image_service_answers_client_statuses_for_file_errors() {
    let root = tree();
    let service = ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(root.path()).unwrap());
    for (key, status) in cases() {
        expect(&service, &format!("/unsafe/{}", url_path(&key)), status).await;
        expect(&service, &format!("/unsafe/8x8/{}", url_path(&key)), status).await;
    }
    let ok = service.oneshot(get("/unsafe/8x8/photo.png")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn storages_on_long_and_broken_paths_never_answer_500() {
    let root = tree();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let originals = dir.path().join("originals");
    // In both storages, `file.jpg` is a file: keys below it cannot be read or written.
    for storage in [&results, &originals] {
        std::fs::create_dir_all(storage).unwrap();
        std::fs::write(storage.join("file.jpg"), b"not a directory").unwrap();
    }
    let service = ResultStorageLayer::new(FileBackend::new(&results).unwrap()).layer(
        StorageLayer::new(FileBackend::new(&originals).unwrap()).layer(
            ImageService::new()
                .unsafe_urls(true)
                .loader(FileLoader::new(root.path()).unwrap()),
        ),
    );
    for (key, status) in cases() {
        expect(&service, &format!("/unsafe/8x8/{}", url_path(&key)), status).await;
    }
    // The source exists, but neither storage can hold it under `ok/`: still served.
    write_image(root.path(), "ok/photo.png", 16, 16, image::ImageFormat::Png);
    for storage in [&results, &originals] {
        std::fs::write(storage.join("ok"), b"not a directory").unwrap();
    }
    for _ in 0..2 {
        let res = service
            .clone()
            .oneshot(get("/unsafe/8x8/ok/photo.png"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for storage in [&results, &originals] {
        for name in ["file.jpg", "ok"] {
            assert_eq!(
                std::fs::read(storage.join(name)).unwrap(),
                b"not a directory"
            );
        }
        assert_no_part_files(storage);
    }
}

/// No temporary file is left anywhere under `dir`.
fn assert_no_part_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".part"), "{name} left in {}", dir.display());
        if entry.file_type().unwrap().is_dir() {
            assert_no_part_files(&entry.path());
        }
    }
}
