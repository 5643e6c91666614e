//! Stack host middleware around and inside the image service: an auth check, a rate limit,
//! tower-http tracing and compression around it; inside it, a render stack of result storage,
//! an audit layer of the host's own, request coalescing and the core, whose loader stack has
//! its own timeout.
//!
//! Run with:
//!
//! ```sh
//! cargo run --example middleware
//! curl -H 'authorization: Bearer let-me-in' -o t.png \
//!     http://127.0.0.1:3002/unsafe/100x100/gopher.png
//! curl -i http://127.0.0.1:3002/unsafe/100x100/gopher.png      # 401
//! ```
//!
//! The audit layer logs each render that reaches the core; ask for the same URL twice and the
//! second is answered from result storage without reaching it.

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use http::{StatusCode, header};
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;
use imagor_tower::render::{CoalesceLayer, ImageRequest, Render};
use imagor_tower::storage::{FileBackend, ResultStorageLayer};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::timeout::TimeoutLayer;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;

/// A host's own render-stack layer, written the plain way of tower's guide: it counts and logs
/// every request that reaches it, then passes it on.
#[derive(Clone, Debug, Default)]
struct AuditLayer {
    renders: Arc<AtomicUsize>,
}

#[derive(Clone, Debug)]
struct Audit<S> {
    inner: S,
    renders: Arc<AtomicUsize>,
}

impl<S> Layer<S> for AuditLayer {
    type Service = Audit<S>;

    fn layer(&self, inner: S) -> Audit<S> {
        Audit {
            inner,
            renders: Arc::clone(&self.renders),
        }
    }
}

impl<S: Service<ImageRequest>> Service<ImageRequest> for Audit<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: ImageRequest) -> S::Future {
        let n = self.renders.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(key = req.key(), renders = n, "render");
        self.inner.call(req)
    }
}

/// The app: auth, rate limit, tracing and compression around the image service; result
/// storage in `results`, the audit layer, coalescing and the core inside it.
fn app(dir: &std::path::Path, results: &std::path::Path, audit: AuditLayer) -> Router {
    let loader = FileLoader::new(dir).expect("images folder exists");
    let backend = FileBackend::new(results).expect("results folder is usable");
    let core = Render::new(loader)
        // Any tower layer fits the source stack: here a 2 s timeout on loading. Its errors
        // convert into the crate's error type, so the service answers 408.
        .map_source(|source| {
            ServiceBuilder::new()
                .map_err(imagor_tower::Error::from)
                .layer(TimeoutLayer::new(Duration::from_secs(2)))
                .service(source)
        });
    let render = ServiceBuilder::new()
        .layer(ResultStorageLayer::new(backend))
        .layer(audit) // between result storage and the core: sees misses only
        .layer(CoalesceLayer::new())
        .service(core);
    let images = ImageService::from_render(render).unsafe_urls(true);
    let stack = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(CompressionLayer::new())
        .layer(ValidateRequestHeaderLayer::custom(check_auth))
        .service(images);
    Router::new().fallback_service(stack).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                StatusCode::TOO_MANY_REQUESTS
            }))
            .buffer(64)
            .rate_limit(100, Duration::from_secs(1)),
    )
}

/// The auth check: a fixed bearer token, or 401.
#[allow(
    clippy::result_large_err,
    reason = "tower-http's custom validation returns the rejection response as the error"
)]
fn check_auth(
    req: &mut http::Request<axum::body::Body>,
) -> Result<(), http::Response<imagor_tower::body::Body>> {
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v == "Bearer let-me-in");
    if ok {
        Ok(())
    } else {
        let mut res = http::Response::new(imagor_tower::body::Body::empty());
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        Err(res)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter("tower_http=debug,info")
        .init();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
    let results = std::env::temp_dir().join("imagor-tower-middleware-results");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = app(dir.as_ref(), &results, AuditLayer::default());
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn req(auth: Option<&str>) -> http::Request<axum::body::Body> {
        let mut builder =
            http::Request::get("/unsafe/30x30/gopher.png").header(header::ACCEPT_ENCODING, "gzip");
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    /// Whether a finished result (a `.png` file, not a temporary one) is under `dir`.
    fn stored(dir: &std::path::Path) -> bool {
        std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
            let path = entry.path();
            if path.is_dir() {
                stored(&path)
            } else {
                path.extension().is_some_and(|ext| ext == "png")
            }
        })
    }

    #[tokio::test]
    async fn auth_then_image_then_a_stored_result() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
        let results = tempfile::tempdir().unwrap();
        let audit = AuditLayer::default();
        let app = app(dir.as_ref(), results.path(), audit.clone());
        let res = app.clone().oneshot(req(None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(audit.renders.load(Ordering::Relaxed), 0);
        let res = app
            .clone()
            .oneshot(req(Some("Bearer let-me-in")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "image/png");
        assert_eq!(audit.renders.load(Ordering::Relaxed), 1);
        // The result is written in the background; once it is there, the same URL is a hit
        // that never reaches the audit layer.
        let started = std::time::Instant::now();
        while !stored(results.path()) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no result stored"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let res = app.oneshot(req(Some("Bearer let-me-in"))).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(audit.renders.load(Ordering::Relaxed), 1);
    }
}
