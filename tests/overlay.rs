//! `watermark(...)` and `image(...)` overlays end to end: `ImageService` with a `FileLoader`
//! over generated PNGs, output pixels sampled.

mod support;

use http::StatusCode;
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;
use support::{body_bytes, get};
use tower::ServiceExt;

const WHITE: [u8; 3] = [255, 255, 255];
const RED: [u8; 3] = [255, 0, 0];

fn save(dir: &std::path::Path, name: &str, w: u32, h: u32, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .save_with_format(dir.join(name), image::ImageFormat::Png)
        .expect("write fixture");
}

/// canvas.png 200×100 white, red.png 20×10, big.png 100×100 green, blue.png 20×20.
fn fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    save(dir.path(), "canvas.png", 200, 100, WHITE);
    save(dir.path(), "red.png", 20, 10, RED);
    save(dir.path(), "big.png", 100, 100, [0, 255, 0]);
    save(dir.path(), "blue.png", 20, 20, [0, 0, 255]);
    dir
}

/// Requests `/unsafe/{path}`; returns the status and the body.
async fn fetch(dir: &tempfile::TempDir, path: &str) -> (StatusCode, bytes::Bytes) {
    let service = ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(dir.path()).expect("loader"));
    let Ok(res) = service.oneshot(get(&format!("/unsafe/{path}"))).await;
    let (parts, bytes) = body_bytes(res).await;
    (parts.status, bytes)
}

/// The decoded RGB output of a request that must succeed.
async fn render(dir: &tempfile::TempDir, path: &str) -> image::RgbImage {
    let (status, bytes) = fetch(dir, path).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    image::load_from_memory(&bytes)
        .expect("decodable")
        .to_rgb8()
}

fn at(image: &image::RgbImage, x: u32, y: u32) -> [u8; 3] {
    image.get_pixel(x, y).0
}

#[tokio::test]
async fn watermark_corners_and_center() {
    let dir = fixtures();
    let out = render(&dir, "filters:watermark(red.png,0,0,0)/canvas.png").await;
    assert_eq!((out.width(), out.height()), (200, 100));
    assert_eq!(at(&out, 0, 0), RED);
    assert_eq!(at(&out, 19, 9), RED);
    assert_eq!(at(&out, 20, 5), WHITE);
    assert_eq!(at(&out, 5, 10), WHITE);

    let out = render(&dir, "filters:watermark(red.png,right,bottom,0)/canvas.png").await;
    assert_eq!(at(&out, 199, 99), RED);
    assert_eq!(at(&out, 180, 90), RED);
    assert_eq!(at(&out, 179, 95), WHITE);

    // (200 − 20) / 2 = 90, (100 − 10) / 2 = 45.
    let out = render(
        &dir,
        "filters:watermark(red.png,center,center,0)/canvas.png",
    )
    .await;
    assert_eq!(at(&out, 90, 45), RED);
    assert_eq!(at(&out, 109, 54), RED);
    assert_eq!(at(&out, 89, 50), WHITE);
    assert_eq!(at(&out, 110, 50), WHITE);
}

#[tokio::test]
async fn watermark_negative_and_percent_positions() {
    let dir = fixtures();
    // −10 from the right: 200 − 20 − 10 = 170; −5 from the bottom: 100 − 10 − 5 = 85.
    let out = render(&dir, "filters:watermark(red.png,-10,-5,0)/canvas.png").await;
    assert_eq!(at(&out, 170, 85), RED);
    assert_eq!(at(&out, 189, 94), RED);
    assert_eq!(at(&out, 169, 90), WHITE);
    assert_eq!(at(&out, 190, 90), WHITE);
    assert_eq!(at(&out, 180, 95), WHITE);

    // 50p of 200 = 100, 20p of 100 = 20.
    let out = render(&dir, "filters:watermark(red.png,50p,20p,0)/canvas.png").await;
    assert_eq!(at(&out, 100, 20), RED);
    assert_eq!(at(&out, 99, 20), WHITE);
    assert_eq!(at(&out, 100, 19), WHITE);

    // Outward offsets: l-5 puts the left edge 5 pixels past the canvas edge.
    let out = render(&dir, "filters:watermark(red.png,l-5,t-5,0)/canvas.png").await;
    assert_eq!(at(&out, 0, 0), RED);
    assert_eq!(at(&out, 14, 4), RED);
    assert_eq!(at(&out, 15, 0), WHITE);
    assert_eq!(at(&out, 0, 5), WHITE);
}

#[tokio::test]
async fn watermark_repeat_tiles_the_canvas() {
    let dir = fixtures();
    let out = render(
        &dir,
        "filters:watermark(red.png,repeat,bottom,0)/canvas.png",
    )
    .await;
    for x in (0..200).step_by(7) {
        assert_eq!(at(&out, x, 95), RED, "x {x}");
        assert_eq!(at(&out, x, 85), WHITE, "x {x}");
    }
    let out = render(
        &dir,
        "filters:watermark(red.png,repeat,repeat,0)/canvas.png",
    )
    .await;
    assert!(out.pixels().all(|p| p.0 == RED));
}

#[tokio::test]
async fn watermark_alpha_blends_numerically() {
    let dir = fixtures();
    // Alpha 40: the overlay is 60% opaque; red over white gives 255, 102, 102.
    let out = render(&dir, "filters:watermark(red.png,0,0,40)/canvas.png").await;
    let [r, g, b] = at(&out, 5, 5);
    assert_eq!(r, 255);
    assert!(
        (101..=103).contains(&g) && (101..=103).contains(&b),
        "{g} {b}"
    );
    assert_eq!(at(&out, 30, 5), WHITE);
    // Alpha 100 is invisible.
    let out = render(&dir, "filters:watermark(red.png,0,0,100)/canvas.png").await;
    assert_eq!(at(&out, 5, 5), WHITE);
}

#[tokio::test]
async fn watermark_ratios_scale_the_overlay() {
    let dir = fixtures();
    // 25% × 50% of 200×100 is a 50×50 box: the 100×100 overlay becomes 50×50.
    let out = render(&dir, "filters:watermark(big.png,0,0,0,25,50)/canvas.png").await;
    assert_eq!(at(&out, 45, 45), [0, 255, 0]);
    assert_eq!(at(&out, 55, 20), WHITE);
    assert_eq!(at(&out, 20, 55), WHITE);
    // `none` is the whole side: a 200×20 box, so 20×20.
    let out = render(&dir, "filters:watermark(big.png,0,0,0,none,20)/canvas.png").await;
    assert_eq!(at(&out, 17, 17), [0, 255, 0]);
    assert_eq!(at(&out, 22, 5), WHITE);
    // Five arguments: no resize; the 100×100 overlay covers the left half.
    let out = render(&dir, "filters:watermark(big.png,0,0,0,25)/canvas.png").await;
    assert_eq!(at(&out, 95, 95), [0, 255, 0]);
    assert_eq!(at(&out, 105, 5), WHITE);
}

#[tokio::test]
async fn watermark_key_in_base64() {
    let dir = fixtures();
    // b64:cmVkLnBuZw is "red.png".
    let out = render(&dir, "filters:watermark(b64:cmVkLnBuZw,0,0,0)/canvas.png").await;
    assert_eq!(at(&out, 5, 5), RED);
}

#[tokio::test]
async fn image_overlay_runs_its_own_path() {
    let dir = fixtures();
    // red.png fit into 10×10 is 10×5, made grey, placed at 5,5.
    let out = render(
        &dir,
        "filters:image(/fit-in/10x10/filters:grayscale()/red.png,5,5)/canvas.png",
    )
    .await;
    let [r, g, b] = at(&out, 7, 7);
    assert!(r == g && g == b && r < 200, "grey, got {r} {g} {b}");
    assert_eq!(at(&out, 16, 7), WHITE);
    assert_eq!(at(&out, 7, 11), WHITE);
    // Nested twice, with `unsafe/` and a generated colour source, centred by `f` sizes.
    let out = render(
        &dir,
        "filters:image(unsafe/fx20/filters:image(/10x10/color:blue,center,center)/red.png,0,0)/canvas.png",
    )
    .await;
    assert_eq!(at(&out, 100, 10), [0, 0, 255]);
    assert_eq!(at(&out, 5, 5), RED);
    assert_eq!(at(&out, 5, 25), WHITE);
}

#[tokio::test]
async fn image_overlay_blend_modes() {
    let dir = fixtures();
    // Multiply of blue over white is blue; mask keeps the canvas only under the overlay.
    let out = render(&dir, "filters:image(blue.png,10,10,0,multiply)/canvas.png").await;
    assert_eq!(at(&out, 15, 15), [0, 0, 255]);
    let (status, bytes) = fetch(&dir, "filters:image(blue.png,10,10,0,mask)/canvas.png").await;
    assert_eq!(status, StatusCode::OK);
    let rgba = image::load_from_memory(&bytes).expect("png").to_rgba8();
    assert_eq!(rgba.get_pixel(15, 15).0, [255, 255, 255, 255]);
    assert_eq!(rgba.get_pixel(100, 50).0[3], 0);
}

#[tokio::test]
async fn missing_overlay_source_is_not_found() {
    let dir = fixtures();
    for path in [
        "filters:watermark(nope.png,0,0,0)/canvas.png",
        "filters:image(/10x10/nope.png,0,0)/canvas.png",
        "filters:image(/filters:image(nope.png)/red.png)/canvas.png",
    ] {
        let (status, bytes) = fetch(&dir, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON body");
        assert_eq!(json["status"], 404);
        assert_eq!(json["message"], "not found");
    }
}

#[tokio::test]
async fn nesting_depth_is_limited() {
    let dir = fixtures();
    let nest = |levels: usize| {
        let mut path = "red.png".to_owned();
        for _ in 0..levels {
            path = format!("/filters:image({path})/red.png");
        }
        format!("filters:image({path})/canvas.png")
    };
    // The URL's image() plus two more levels inside it: three levels, allowed.
    let out = render(&dir, &nest(2)).await;
    assert_eq!(at(&out, 5, 5), RED);
    let (status, bytes) = fetch(&dir, &nest(3)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON body");
    assert_eq!(json["status"], 400);
}
