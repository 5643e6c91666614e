//! Stack host middleware around the image service: an auth check, a rate limit, tower-http
//! tracing and compression, and a timeout on the loader stack only.
//!
//! Run with:
//!
//! ```sh
//! cargo run --example middleware
//! curl -H 'authorization: Bearer let-me-in' -o t.png \
//!     http://127.0.0.1:3002/unsafe/100x100/gopher.png
//! curl -i http://127.0.0.1:3002/unsafe/100x100/gopher.png      # 401
//! ```

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use http::{StatusCode, header};
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;
use std::time::Duration;
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;

/// The app: auth, rate limit, tracing and compression around the image service, whose loader
/// stack has its own timeout.
fn app(dir: &std::path::Path) -> Router {
    let loader = FileLoader::new(dir).expect("images folder exists");
    let images = ImageService::new()
        .unsafe_urls(true)
        .loader(loader)
        // Any tower layer fits the source stack: here a 2 s timeout on loading. Its errors are
        // mapped back into the crate's error type so the service can answer 408.
        .map_source(|source| {
            ServiceBuilder::new()
                .map_err(
                    |err: tower::BoxError| match err.downcast::<imagor_tower::Error>() {
                        Ok(err) => *err,
                        Err(_) => imagor_tower::Error::Timeout,
                    },
                )
                .layer(TimeoutLayer::new(Duration::from_secs(2)))
                .service(source)
        });
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(dir.as_ref())).await
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

    #[tokio::test]
    async fn auth_then_image() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
        let res = app(dir.as_ref()).oneshot(req(None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = app(dir.as_ref())
            .oneshot(req(Some("Bearer let-me-in")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "image/png");
    }
}
