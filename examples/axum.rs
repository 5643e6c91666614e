//! Mount the image service under `/img` beside an axum app's own routes.
//!
//! Run with:
//!
//! ```sh
//! cargo run --example axum
//! curl -o thumb.jpg http://127.0.0.1:3000/img/unsafe/300x200/gopher.png
//! curl http://127.0.0.1:3000/hello
//! ```
//!
//! Images are read from `examples/images` (set `IMAGES_DIR` to use another folder).

use axum::Router;
use axum::routing::get;
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;

/// The app: its own routes plus the image service under `/img`.
fn app(images_dir: &std::path::Path) -> Router {
    let images = ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(images_dir).expect("images folder exists"));
    Router::new()
        .route("/hello", get(|| async { "hello from the app" }))
        .nest_service("/img", images)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let dir = std::env::var_os("IMAGES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images").into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(&dir)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn serves_images_under_img_and_app_routes_beside_them() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
        let res = app(dir.as_ref())
            .oneshot(
                http::Request::get("/img/unsafe/30x20/gopher.png")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");

        let res = app(dir.as_ref())
            .oneshot(
                http::Request::get("/hello")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}
