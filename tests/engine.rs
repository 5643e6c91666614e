//! The image engine through the service: `/meta`, `trim`, `smart`, `focal(...)`, and the
//! bad-image fixtures of `tests/fixtures/bad/` (each must answer its 4xx JSON quickly and
//! never panic).
//!
//! Sources come from `tests/fixtures/` (imagor's test pictures and the bad files) and from
//! synthetic images made in memory, where the interesting area is known.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, StatusCode, header};
use imagor_tower::loader::{FileLoader, SourceRequest, service_fn_loader};
use imagor_tower::{Blob, Error, ImageService};
use support::{body_bytes, get};
use tower::ServiceExt;

/// A generous sanity bound for one bad image; the real answers take milliseconds.
const BAD_IMAGE_BOUND: Duration = Duration::from_secs(5);

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn png(image: &image::RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode a test PNG");
    bytes
}

/// Synthetic sources, by key.
fn synthetic() -> HashMap<String, Vec<u8>> {
    let mut images = HashMap::new();
    // White 200×100 with a red 40×30 block at (120, 50): a trim target.
    let framed = image::RgbImage::from_fn(200, 100, |x, y| {
        if (120..160).contains(&x) && (50..80).contains(&y) {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([255, 255, 255])
        }
    });
    images.insert("framed.png".to_owned(), png(&framed));
    // Flat grey 400×100 with a busy, saturated patch in columns 320..380.
    let busy = image::RgbImage::from_fn(400, 100, |x, y| {
        if (320..380).contains(&x) {
            if (x / 4 + y / 4) % 2 == 0 {
                image::Rgb([240, 200, 0])
            } else {
                image::Rgb([20, 40, 200])
            }
        } else {
            image::Rgb([128, 128, 128])
        }
    });
    images.insert("busy-right.png".to_owned(), png(&busy));
    // Left half black, right half white, 400×100: focal points pick the half.
    let halves = image::RgbImage::from_fn(400, 100, |x, _| {
        if x < 200 {
            image::Rgb([0, 0, 0])
        } else {
            image::Rgb([255, 255, 255])
        }
    });
    images.insert("halves.png".to_owned(), png(&halves));
    images
}

/// An unsafe-URL service over the synthetic images, then the fixture folder.
fn service() -> impl Clone
+ tower::Service<
    Request<imagor_tower::body::Body>,
    Response = http::Response<imagor_tower::body::Body>,
    Error = std::convert::Infallible,
    Future = imagor_tower::service::ResponseFuture,
> {
    let images = Arc::new(synthetic());
    let memory = service_fn_loader(move |req: SourceRequest| {
        let images = Arc::clone(&images);
        async move {
            images
                .get(req.key())
                .map(|bytes| Blob::new(bytes.clone()))
                .ok_or(Error::NotFound)
        }
    });
    ImageService::new()
        .unsafe_urls(true)
        .loader(memory)
        .loader(FileLoader::new(fixtures().join("images")).expect("the images folder exists"))
        .loader(FileLoader::new(fixtures()).expect("the fixtures folder exists"))
}

async fn fetch(uri: &str) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let Ok(res) = service().oneshot(get(uri)).await;
    let (parts, bytes) = body_bytes(res).await;
    (parts.status, parts.headers, bytes)
}

async fn meta(uri: &str) -> serde_json::Value {
    let (status, headers, bytes) = fetch(uri).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    serde_json::from_slice(&bytes).expect("meta JSON")
}

async fn image(uri: &str) -> image::RgbImage {
    let (status, _, bytes) = fetch(uri).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&bytes)
    );
    image::load_from_memory(&bytes)
        .expect("an image answer")
        .to_rgb8()
}

#[tokio::test]
async fn meta_reports_format_size_and_exif() {
    let value = meta("/unsafe/meta/Canon_40D.jpg").await;
    assert_eq!(value["format"], "jpeg");
    assert_eq!(value["content_type"], "image/jpeg");
    assert_eq!(
        (value["width"].as_u64(), value["height"].as_u64()),
        (Some(100), Some(68))
    );
    assert_eq!(value["orientation"], 1);
    assert_eq!(
        (value["pages"].as_u64(), value["bands"].as_u64()),
        (Some(1), Some(3))
    );
    let exif = &value["exif"];
    // Values as imagor gives them for this file.
    for (key, expected) in [
        ("Make", "Canon"),
        ("Model", "Canon EOS 40D"),
        ("DateTime", "2008:07:31 10:38:11"),
        ("Orientation", "1"),
        ("XResolution", "72/1"),
        ("ExposureTime", "1/160"),
        ("FNumber", "71/10"),
        ("ExifVersion", "Exif Version 2.21"),
        ("ComponentsConfiguration", "Y Cb Cr -"),
        ("GPSVersionID", "2.2.0.0"),
        ("InteroperabilityIndex", "R98"),
        ("Compression", "6"),
    ] {
        assert_eq!(exif[key], expected, "{key}");
    }
    // The JSON keys come in imagor's order.
    let text = serde_json::to_string(&value).expect("re-encode");
    let keys = [
        "\"format\"",
        "\"content_type\"",
        "\"width\"",
        "\"orientation\"",
        "\"exif\"",
    ];
    let positions: Vec<usize> = keys.iter().filter_map(|k| text.find(k)).collect();
    assert_eq!(positions.len(), keys.len());
}

#[tokio::test]
async fn meta_describes_the_processed_result() {
    // Golden: `{"format":"gif",...,"width":95,"height":100,"orientation":0,"pages":8,"bands":4,"exif":{}}`.
    let (status, _, bytes) = fetch("/unsafe/meta/fit-in/100x100/dancing-banana.gif").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::str::from_utf8(&bytes).expect("utf-8"),
        r#"{"format":"gif","content_type":"image/gif","width":95,"height":100,"orientation":0,"pages":8,"bands":4,"exif":{}}"#
    );
    let value = meta("/unsafe/meta/fit-in/100x100/filters:format(jpg)/dancing-banana.gif").await;
    assert_eq!(
        (value["format"].as_str(), value["pages"].as_u64()),
        (Some("jpeg"), Some(1))
    );
    let value = meta("/unsafe/meta/filters:strip_exif()/Canon_40D.jpg").await;
    assert_eq!(value["exif"], serde_json::json!({}));
    assert_eq!(value["orientation"], 1);
    let value = meta("/unsafe/meta/trim/framed.png").await;
    assert_eq!(
        (value["width"].as_u64(), value["height"].as_u64()),
        (Some(40), Some(30))
    );
    let value = meta("/unsafe/meta/10x10/filters:avgcolor():blurhash(4,3)/color:red").await;
    assert_eq!(
        value["average_color"],
        serde_json::json!({"r": 255, "g": 0, "b": 0})
    );
    assert_eq!(value["blurhash"].as_str().map(str::len), Some(6 + 2 * 11));
    let value = meta("/unsafe/meta/filters:grayscale()/color:red").await;
    assert_eq!(
        (value["format"].as_str(), value["bands"].as_u64()),
        (Some("jpeg"), Some(1))
    );
}

#[tokio::test]
async fn meta_filters_refuse_bad_arguments() {
    let (status, headers, bytes) = fetch("/unsafe/meta/filters:blurhash(0,12)/framed.png").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        &bytes[..],
        br#"{"message":"blurhash x and y components must be between 1 and 9","status":400}"#
    );
    let (status, _, _) = fetch("/unsafe/meta/filters:avgcolor(1)/framed.png").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = fetch("/unsafe/meta/missing.png").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trim_segment_and_filter_cut_the_border() {
    let out = image("/unsafe/trim/filters:format(png)/framed.png").await;
    assert_eq!(out.dimensions(), (40, 30));
    assert_eq!(out.get_pixel(20, 15).0, [220, 20, 20]);
    // The crop box and the trim box intersect.
    let out = image("/unsafe/trim/130x0:0x0/framed.png").await;
    assert_eq!(out.dimensions(), (30, 30));
    // Filter form, after a fill that keeps the border white.
    let out =
        image("/unsafe/fit-in/300x300/filters:fill(white):trim():format(png)/framed.png").await;
    assert_eq!(out.dimensions(), (40, 30));
}

#[tokio::test]
async fn smart_crop_finds_the_busy_area() {
    let out = image("/unsafe/100x100/smart/filters:format(png)/busy-right.png").await;
    assert_eq!(out.dimensions(), (100, 100));
    // Without `smart` the window is centred on flat grey; with it, the patch is in view.
    let busy = out.pixels().filter(|p| p.0 != [128, 128, 128]).count();
    assert!(busy > 100 * 100 / 3, "{busy} busy pixels");
    let centred = image("/unsafe/100x100/filters:format(png)/busy-right.png").await;
    assert!(centred.pixels().all(|p| p.0 == [128, 128, 128]));
}

#[tokio::test]
async fn focal_points_move_the_window() {
    // A point on the white half, in pixels and as a fraction; a rectangle on the black half.
    for (uri, expected) in [
        (
            "/unsafe/100x100/filters:focal(350x50):format(png)/halves.png",
            [255, 255, 255],
        ),
        (
            "/unsafe/100x100/filters:focal(0.9x0.5):format(png)/halves.png",
            [255, 255, 255],
        ),
        (
            "/unsafe/100x100/filters:focal(0x0:60x100):format(png)/halves.png",
            [0, 0, 0],
        ),
        // Focal wins over smart.
        (
            "/unsafe/100x100/smart/filters:focal(20x20):format(png)/halves.png",
            [0, 0, 0],
        ),
    ] {
        let out = image(uri).await;
        assert_eq!(out.dimensions(), (100, 100), "{uri}");
        assert!(out.pixels().all(|p| p.0 == expected), "{uri}");
    }
}

#[tokio::test]
async fn bad_images_answer_4xx_json_quickly() {
    let cases = [
        ("truncated.jpg", StatusCode::NOT_ACCEPTABLE),
        ("truncated.png", StatusCode::NOT_ACCEPTABLE),
        ("truncated.gif", StatusCode::NOT_ACCEPTABLE),
        ("truncated.webp", StatusCode::NOT_ACCEPTABLE),
        ("bad-crc.png", StatusCode::NOT_ACCEPTABLE),
        ("corrupt-sof.jpg", StatusCode::NOT_ACCEPTABLE),
        ("bomb.png", StatusCode::UNPROCESSABLE_ENTITY),
        ("bomb.jpg", StatusCode::UNPROCESSABLE_ENTITY),
        ("bomb.gif", StatusCode::UNPROCESSABLE_ENTITY),
        ("bomb.webp", StatusCode::UNPROCESSABLE_ENTITY),
        ("bomb.bmp", StatusCode::UNPROCESSABLE_ENTITY),
        ("bomb.tiff", StatusCode::UNPROCESSABLE_ENTITY),
        ("empty.jpg", StatusCode::NOT_ACCEPTABLE),
        ("random.bin", StatusCode::NOT_ACCEPTABLE),
        ("notes.txt", StatusCode::NOT_ACCEPTABLE),
    ];
    let mut wrong = Vec::new();
    for (name, expected) in cases {
        for uri in [
            format!("/unsafe/bad/{name}"),
            format!("/unsafe/fit-in/100x100/filters:format(png)/bad/{name}"),
            format!("/unsafe/meta/bad/{name}"),
        ] {
            let started = Instant::now();
            let (status, headers, bytes) = fetch(&uri).await;
            let took = started.elapsed();
            assert!(took < BAD_IMAGE_BOUND, "{uri} took {took:?}");
            assert!(status.is_client_error(), "{uri}: {status}");
            assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{uri}");
            let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON error");
            assert_eq!(body["status"], status.as_u16(), "{uri}");
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{uri}"
            );
            if status != expected {
                wrong.push(format!(
                    "{uri}: {status} {}",
                    String::from_utf8_lossy(&bytes)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected statuses:\n{}",
        wrong.join("\n")
    );
}
