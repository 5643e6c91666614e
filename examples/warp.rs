//! Hand requests from a warp filter to the image service, beside warp's own routes.
//!
//! Run with:
//!
//! ```sh
//! cargo run --example warp
//! curl -o thumb.png http://127.0.0.1:3003/img/unsafe/200x100/gopher.png
//! curl http://127.0.0.1:3003/hello
//! ```

use bytes::Bytes;
use http_body_util::BodyExt;
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;
use tower::ServiceExt;
use warp::Filter;

/// warp routes: `/hello`, and everything under `/img/` handed to the image service.
fn routes(
    dir: &std::path::Path,
) -> impl Filter<Extract = (http::Response<Bytes>,), Error = warp::Rejection> + Clone + use<> {
    let images = ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(dir).expect("images folder exists"));
    let hello = warp::path("hello").map(|| http::Response::new(Bytes::from_static(b"hello")));
    let img = warp::path("img")
        .and(warp::path::tail())
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .then(move |tail: warp::path::Tail, method, headers| {
            let images = images.clone();
            async move {
                let mut req = http::Request::new(imagor_tower::body::Body::empty());
                *req.method_mut() = method;
                *req.headers_mut() = headers;
                *req.uri_mut() = format!("/{}", tail.as_str()).parse().unwrap_or_default();
                let res = match images.oneshot(req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
                let (parts, body) = res.into_parts();
                let bytes = match body.collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(never) => match never {},
                };
                http::Response::from_parts(parts, bytes)
            }
        });
    hello.or(img).unify()
}

#[tokio::main]
async fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
    println!("listening on http://127.0.0.1:3003");
    warp::serve(routes(dir.as_ref()))
        .run(([127, 0, 0, 1], 3003))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_images_under_img() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
        let res = warp::test::request()
            .path("/img/unsafe/20x10/gopher.png")
            .reply(&routes(dir.as_ref()))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        let res = warp::test::request()
            .path("/hello")
            .reply(&routes(dir.as_ref()))
            .await;
        assert_eq!(res.body(), "hello");
    }
}
