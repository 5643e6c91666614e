//! Checks shared by the Google Cloud Storage and Azure tests, run against a real emulator
//! through a storage [`Backend`].
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use imagor_tower::loader::{SourceRequest, service_fn_loader};
use imagor_tower::storage::{Backend, StorageLayer};
use imagor_tower::{Blob, Error};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// A `w`×`h` PNG.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Waits up to 10 s for `done`.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Source storage over `backend`, in front of a loader that counts its calls: the first
/// request misses and is loaded, the original is written in the background (`stored` says
/// when it is in the store), the second request is a hit served from the store with the
/// content type and a stat, and the loader is not called again.
pub async fn storage_writes_then_reads_back<B, F, Fut>(backend: B, key: &str, stored: F) -> Blob
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let body = Bytes::from(png(9, 7));
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = {
        let (calls, body) = (Arc::clone(&calls), body.clone());
        service_fn_loader(move |_req: SourceRequest| {
            calls.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { Ok::<_, Error>(Blob::new(body).with_content_type("image/png")) }
        })
    };
    let storage = StorageLayer::new(backend).wrap(loader);
    let first = storage
        .clone()
        .oneshot(SourceRequest::new(key))
        .await
        .unwrap();
    assert_eq!(first.bytes(), &body);
    eventually("the stored original", stored).await;
    let second = storage
        .clone()
        .oneshot(SourceRequest::new(key))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the second read was a hit");
    assert_eq!(second.bytes(), &body);
    assert_eq!(second.content_type(), Some("image/png"));
    let stat = second.stat().expect("a stat from the store");
    assert_eq!(stat.size(), Some(body.len() as u64));
    assert!(
        stat.etag().is_some() && stat.modified().is_some(),
        "{stat:?}"
    );
    second
}

/// Source storage over `backend`, whose expiration has passed for what `key` holds: the
/// stored object is not served, the loader is called.
pub async fn expired_objects_are_misses<B: Backend>(backend: B, key: &str) {
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = {
        let calls = Arc::clone(&calls);
        service_fn_loader(move |_req: SourceRequest| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Error>(Blob::new(Bytes::from_static(b"fresh"))) }
        })
    };
    let storage = StorageLayer::new(backend).wrap(loader);
    let blob = storage.oneshot(SourceRequest::new(key)).await.unwrap();
    assert_eq!(blob.bytes().as_ref(), b"fresh");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the expired object was not served"
    );
}

/// The standalone server as `examples/standalone` runs it: `env` read as its configuration
/// (no config file), served on 127.0.0.1:0 until dropped.
pub struct Standalone {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Standalone {
    /// Builds the configuration from `env` and starts serving it.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let config = imagor_tower::config::Config::from_sources(Vec::<String>::new(), env, |_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
        .unwrap();
        assert!(
            config.unsupported().is_empty(),
            "{:?}",
            config.unsupported()
        );
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        let service = config.service().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = config.http_server();
        let task = tokio::spawn(async move {
            server
                .serve(listener, service, std::future::pending::<()>())
                .await;
        });
        Self { url, task }
    }

    /// GETs `path` over HTTP: the status, the content type and the body.
    pub async fn get(&self, path: &str) -> (u16, String, Bytes) {
        let res = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, content_type, res.bytes().await.unwrap())
    }
}

/// The dimensions of an encoded image.
pub fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).expect("an image");
    (img.width(), img.height())
}
