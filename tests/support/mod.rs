//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use imagor_tower::body::Body;
use std::path::Path;

/// Writes a `w`×`h` image of `format` filled with a gradient, so crops and flips are visible.
pub fn write_image(dir: &Path, name: &str, w: u32, h: u32, format: image::ImageFormat) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 128])
    });
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    img.save_with_format(&path, format).unwrap();
}

/// A GET request for `uri`.
pub fn get(uri: &str) -> Request<imagor_tower::body::Body> {
    Request::get(uri)
        .body(imagor_tower::body::Body::empty())
        .unwrap()
}

/// Collects a response body.
pub async fn body_bytes(res: Response<Body>) -> (http::response::Parts, Bytes) {
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts, bytes)
}

/// Decodes an image and returns (format, width, height).
pub fn decode(bytes: &[u8]) -> (image::ImageFormat, u32, u32) {
    let format = image::guess_format(bytes).expect("an image");
    let img = image::load_from_memory(bytes).expect("decodable");
    (format, img.width(), img.height())
}
