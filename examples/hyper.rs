//! Serve the image service with plain hyper 1 (no framework), with graceful shutdown.
//!
//! Run with:
//!
//! ```sh
//! cargo run --example hyper
//! curl -o thumb.png http://127.0.0.1:3001/unsafe/fit-in/200x200/gopher.png
//! ```

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use imagor_tower::ImageService;
use imagor_tower::loader::{Fallback, FileLoader, NoSource};
use imagor_tower::render::Stack;

/// The image service this example serves.
fn service(dir: &std::path::Path) -> ImageService<Stack<Fallback<NoSource, FileLoader>>> {
    ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(dir).expect("images folder exists"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
    let images = service(dir.as_ref());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let conn = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(images.clone()))
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    #[tokio::test]
    async fn serves_over_a_real_socket() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
        let images = service(dir.as_ref());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(images))
                .await;
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::get("/unsafe/40x30/gopher.png")
            .header("host", "localhost")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let img = image::load_from_memory(&body).unwrap();
        assert_eq!((img.width(), img.height()), (40, 30));
    }
}
