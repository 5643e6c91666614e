//! Animated WebP (read and write) and SVG sources, through `process`, `metadata` and the
//! service: frames, delays and loop counts kept across GIF and WebP, frame limits from the
//! header, SVG rasterising and its limits, and `/meta` for both.
//!
//! Sources are `demo3.webp` (8 frames of 100 ms, looping), `dancing-banana.gif` and
//! `test.svg` from `tests/fixtures/images/` (imagor's test pictures), the bad files of
//! `tests/fixtures/bad/`, and small animations made in memory.

mod support;

use imagor_tower::render::Stack;
use std::io::Cursor;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::{StatusCode, header};
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::webp::WebPDecoder;
use image::metadata::LoopCount;
use image::{AnimationDecoder, Delay, Frame, RgbaImage};
use imagor_tower::ImageService;
use imagor_tower::loader::{Fallback, FileLoader, NoSource};
use imagor_tower::path::{Filter, Params};
use imagor_tower::processing::{Format, Limits, Options, ProcessError, metadata, process};
use support::{body_bytes, get};
use tower::ServiceExt;

/// A generous bound for one refused source; the answers take milliseconds.
const BAD_IMAGE_BOUND: Duration = Duration::from_secs(5);

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures().join("images").join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
}

fn params(width: i64, height: i64, filters: &[(&str, &str)]) -> Params {
    Params {
        width,
        height,
        filters: filters.iter().map(|(n, a)| Filter::new(*n, *a)).collect(),
        ..Params::default()
    }
}

fn fit_in(width: i64, height: i64, filters: &[(&str, &str)]) -> Params {
    Params {
        fit_in: true,
        ..params(width, height, filters)
    }
}

/// A decoded animation: frames, delays in milliseconds, and loops (0: forever).
struct Decoded {
    frames: Vec<RgbaImage>,
    delays: Vec<u32>,
    loops: u32,
}

fn milliseconds(delay: Delay) -> u32 {
    let (numer, denom) = delay.numer_denom_ms();
    numer / denom.max(1)
}

fn loops(count: LoopCount) -> u32 {
    match count {
        LoopCount::Infinite => 0,
        LoopCount::Finite(n) => n.get(),
    }
}

fn collect(frames: image::Frames<'_>, loops: u32) -> Decoded {
    let frames: Vec<Frame> = frames.collect_frames().expect("frames decode");
    Decoded {
        delays: frames.iter().map(|f| milliseconds(f.delay())).collect(),
        frames: frames.into_iter().map(Frame::into_buffer).collect(),
        loops,
    }
}

fn decode_webp(bytes: &[u8]) -> Decoded {
    assert_eq!(Format::sniff(bytes), Some(Format::Webp));
    let decoder = WebPDecoder::new(Cursor::new(bytes)).expect("a WebP");
    assert!(decoder.has_animation(), "an animated WebP");
    let count = loops(decoder.loop_count());
    collect(decoder.into_frames(), count)
}

fn decode_gif(bytes: &[u8]) -> Decoded {
    assert_eq!(Format::sniff(bytes), Some(Format::Gif));
    let decoder = GifDecoder::new(Cursor::new(bytes)).expect("a GIF");
    let count = loops(decoder.loop_count());
    collect(decoder.into_frames(), count)
}

/// A GIF of `frames` distinct 24×16 frames, `delay_ms` apart, playing `repeat`.
fn synthetic_gif(frames: u8, delay_ms: u32, repeat: Repeat) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder.set_repeat(repeat).expect("repeat");
        for index in 0..frames {
            let frame = RgbaImage::from_fn(24, 16, |x, _| {
                if x / 3 == u32::from(index) {
                    image::Rgba([250, 20, 20, 255])
                } else {
                    image::Rgba([20, 20, 250, 255])
                }
            });
            let delay = Delay::from_numer_denom_ms(delay_ms, 1);
            encoder
                .encode_frame(Frame::from_parts(frame, 0, 0, delay))
                .expect("frame");
        }
    }
    bytes
}

fn close(a: [u8; 4], b: [u8; 4], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

// ---------------------------------------------------------------------------------------------
// Animated WebP

#[test]
fn animated_webp_keeps_its_frames_delays_and_loop() {
    let output = process(
        &fixture("demo3.webp"),
        &fit_in(50, 50, &[]),
        &Options::default(),
    )
    .expect("webp");
    assert_eq!(output.format(), Format::Webp);
    assert_eq!((output.width(), output.height()), (40, 50));
    let decoded = decode_webp(output.bytes());
    assert_eq!(decoded.frames.len(), 8);
    assert_eq!(decoded.delays, vec![100; 8]);
    assert_eq!(decoded.loops, 0);
    assert!(decoded.frames.iter().all(|f| f.dimensions() == (40, 50)));
    // The frames differ: the animation is really there.
    assert_ne!(decoded.frames[0], decoded.frames[4]);
}

#[test]
fn animated_webp_to_gif_keeps_its_frames() {
    let output = process(
        &fixture("demo3.webp"),
        &params(0, 0, &[("format", "gif")]),
        &Options::default(),
    )
    .expect("gif");
    assert_eq!(output.format(), Format::Gif);
    assert_eq!((output.width(), output.height()), (70, 87));
    let decoded = decode_gif(output.bytes());
    assert_eq!(decoded.frames.len(), 8);
    assert_eq!(decoded.delays, vec![100; 8]);
    assert_eq!(decoded.loops, 0);
}

#[test]
fn gif_to_animated_webp_keeps_delays_and_loops() {
    let gif = synthetic_gif(5, 70, Repeat::Finite(3));
    let output = process(
        &gif,
        &params(0, 0, &[("format", "webp")]),
        &Options::default(),
    )
    .expect("webp");
    assert_eq!(output.format(), Format::Webp);
    let decoded = decode_webp(output.bytes());
    assert_eq!(decoded.frames.len(), 5);
    // The last frame keeps its own delay too.
    assert_eq!(decoded.delays, vec![70; 5]);
    assert_eq!(decoded.loops, 3);
    for (index, frame) in decoded.frames.iter().enumerate() {
        let red_column = u32::try_from(index).expect("small") * 3 + 1;
        assert!(close(
            frame.get_pixel(red_column, 8).0,
            [250, 20, 20, 255],
            40
        ));
        assert!(close(frame.get_pixel(22, 8).0, [20, 20, 250, 255], 40));
    }

    // And back to GIF: the loop count survives the round trip.
    let again = process(
        output.bytes(),
        &params(0, 0, &[("format", "gif")]),
        &Options::default(),
    )
    .expect("gif");
    let decoded = decode_gif(again.bytes());
    assert_eq!(decoded.frames.len(), 5);
    assert_eq!(decoded.delays, vec![70; 5]);
    assert_eq!(decoded.loops, 3);
}

#[test]
fn real_gif_to_animated_webp_matches_the_gif_timing() {
    let source = fixture("dancing-banana.gif");
    let gif = decode_gif(&source);
    let output = process(
        &source,
        &fit_in(60, 60, &[("format", "webp"), ("quality", "90")]),
        &Options::default(),
    )
    .expect("webp");
    let decoded = decode_webp(output.bytes());
    assert_eq!(decoded.frames.len(), gif.frames.len());
    assert_eq!(decoded.delays, gif.delays);
    assert_eq!(
        (output.width(), output.height()),
        decoded.frames[0].dimensions()
    );
}

/// A GIF of 64×64 frames of 256 scattered colours each, `delays` (ms) apart, playing `repeat`:
/// resizing it mixes neighbouring colours, so its GIF output goes through the quantiser.
fn many_colour_gif(delays: &[u32], repeat: Repeat) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder.set_repeat(repeat).expect("repeat");
        for (index, &delay_ms) in (0u32..).zip(delays) {
            let frame = RgbaImage::from_fn(64, 64, |x, y| {
                let i = ((x * 7 + y * 64 + index * 37) % 256) as u8;
                image::Rgba([i, i.wrapping_mul(7), i.wrapping_mul(13), 255])
            });
            let delay = Delay::from_numer_denom_ms(delay_ms, 1);
            encoder
                .encode_frame(Frame::from_parts(frame, 0, 0, delay))
                .expect("frame");
        }
    }
    bytes
}

#[test]
fn resized_gif_keeps_its_frames_delays_and_loop_count() {
    let delays = [30, 50, 70, 90];
    let source = many_colour_gif(&delays, Repeat::Finite(2));
    let output = process(&source, &fit_in(40, 40, &[]), &Options::default()).expect("gif");
    assert_eq!(output.format(), Format::Gif);
    let decoded = decode_gif(output.bytes());
    assert_eq!(decoded.frames.len(), delays.len());
    assert_eq!(decoded.delays, delays);
    assert_eq!(decoded.loops, 2);
    assert!(decoded.frames.iter().all(|f| f.dimensions() == (40, 40)));
    // The first frame is close to the same frame written losslessly.
    let png = process(
        &source,
        &fit_in(40, 40, &[("format", "png")]),
        &Options::default(),
    )
    .expect("png");
    let exact = image::load_from_memory(png.bytes())
        .expect("png decodes")
        .to_rgba8();
    let error: u64 = exact
        .as_raw()
        .iter()
        .zip(decoded.frames[0].as_raw())
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    let mean = error as f64 / exact.as_raw().len() as f64;
    assert!(mean < 3.0, "mean error {mean:.2}");
}

#[test]
fn lossless_animated_webp_is_exact() {
    let gif = synthetic_gif(4, 40, Repeat::Infinite);
    let source = decode_gif(&gif);
    let output = process(
        &gif,
        &params(0, 0, &[("format", "webp"), ("lossless", "")]),
        &Options::default(),
    )
    .expect("webp");
    // libwebp's own decoder composites exactly (image-webp's blending may round opaque
    // pixels down by one).
    let decoded = webp::AnimDecoder::new(output.bytes())
        .decode()
        .expect("libwebp decodes it");
    assert_eq!(decoded.len(), 4);
    assert_eq!(decoded.loop_count, 0);
    for (index, expected) in source.frames.iter().enumerate() {
        let frame = decoded.get_frame(index).expect("a frame");
        assert_eq!(
            frame.get_image(),
            expected.as_raw().as_slice(),
            "frame {index}"
        );
        // libwebp reports when each frame ends.
        let end = 40 * (i32::try_from(index).expect("small") + 1);
        assert_eq!(frame.get_time_ms(), end, "frame {index}");
    }
}

#[test]
fn animated_webp_frames_follow_max_frames_and_page() {
    let input = fixture("demo3.webp");
    let all = decode_webp(&input);
    let options = Options::default();

    let three = process(&input, &params(0, 0, &[("max_frames", "3")]), &options).expect("webp");
    let decoded = decode_webp(three.bytes());
    assert_eq!(decoded.frames.len(), 3);
    assert_eq!(decoded.delays, vec![100; 3]);

    // `page(n)` keeps one frame, written as a still WebP; past the end it is the last frame.
    for (page, index) in [("2", 1), ("8", 7), ("999", 7)] {
        let output = process(
            &input,
            &params(0, 0, &[("page", page), ("lossless", "")]),
            &options,
        )
        .expect("page");
        let decoder = WebPDecoder::new(Cursor::new(output.bytes())).expect("a WebP");
        assert!(!decoder.has_animation(), "page({page})");
        let still = image::load_from_memory(output.bytes())
            .expect("decodes")
            .to_rgba8();
        assert_eq!(still, all.frames[index], "page({page})");
    }

    // A still output takes the first frame only.
    let png = process(&input, &params(0, 0, &[("format", "png")]), &options).expect("png");
    assert_eq!(Format::sniff(png.bytes()), Some(Format::Png));
}

#[test]
fn animated_webp_frame_limits_come_from_the_header() {
    let input = fixture("demo3.webp");
    // 70 × 87 is 6090 pixels a frame: seven frames fit, eight do not.
    let mut limits = Limits::default();
    limits.max_resolution = Some(70 * 87 * 7);
    let options = Options::default().limits(limits);
    assert!(matches!(
        process(&input, &Params::default(), &options),
        Err(ProcessError::MaxResolution)
    ));
    let seven = process(&input, &params(0, 0, &[("max_frames", "7")]), &options).expect("fits");
    assert_eq!(decode_webp(seven.bytes()).frames.len(), 7);
    // A still answer needs one frame only.
    let still = process(&input, &params(0, 0, &[("format", "png")]), &options).expect("fits");
    assert_eq!((still.width(), still.height()), (70, 87));

    // Frames that are never decoded: the header alone refuses the animation.
    let bomb = std::fs::read(fixtures().join("bad/frames-bomb.webp")).expect("fixture");
    let started = Instant::now();
    assert!(matches!(
        process(&bomb, &Params::default(), &Options::default()),
        Err(ProcessError::MaxResolution)
    ));
    assert!(started.elapsed() < BAD_IMAGE_BOUND);
    assert!(matches!(
        process(
            &bomb,
            &params(0, 0, &[("format", "png")]),
            &Options::default()
        ),
        Err(ProcessError::Image(_))
    ));
}

#[test]
fn meta_counts_animated_webp_pages() {
    let input = fixture("demo3.webp");
    let options = Options::default();
    let meta = metadata(&input, &fit_in(100, 100, &[]), &options).expect("meta");
    assert_eq!((meta.format(), meta.content_type()), ("webp", "image/webp"));
    assert_eq!((meta.width(), meta.height(), meta.pages()), (70, 87, 8));
    let meta = metadata(&input, &params(0, 0, &[("format", "gif")]), &options).expect("meta");
    assert_eq!((meta.format(), meta.pages()), ("gif", 8));
    let meta = metadata(&input, &params(0, 0, &[("format", "png")]), &options).expect("meta");
    assert_eq!((meta.format(), meta.pages()), ("png", 1));
    let meta = metadata(&input, &params(0, 0, &[("max_frames", "2")]), &options).expect("meta");
    assert_eq!(meta.pages(), 2);
    let gif = fixture("dancing-banana.gif");
    let meta = metadata(&gif, &params(0, 0, &[("format", "webp")]), &options).expect("meta");
    assert_eq!((meta.format(), meta.pages()), ("webp", 8));
}

// ---------------------------------------------------------------------------------------------
// SVG

#[cfg(feature = "svg")]
#[test]
fn svg_becomes_jpeg_at_its_own_size() {
    let input = fixture("test.svg");
    assert_eq!(Format::sniff(&input), Some(Format::Svg));
    let output = process(&input, &Params::default(), &Options::default()).expect("svg");
    assert_eq!(output.format(), Format::Jpeg);
    assert_eq!((output.width(), output.height()), (620, 472));
    let pixels = image::load_from_memory(output.bytes())
        .expect("decodes")
        .to_rgb8();
    // The second box of the first row is yellow, the third cyan.
    let [r, g, b] = pixels.get_pixel(115, 100).0;
    assert!(r > 230 && g > 230 && b < 40, "{:?}", [r, g, b]);
    let [r, g, b] = pixels.get_pixel(190, 100).0;
    assert!(r < 40 && g > 230 && b > 230, "{:?}", [r, g, b]);
}

#[cfg(feature = "svg")]
#[test]
fn svg_to_png_keeps_transparency_and_resizes() {
    let svg = br##"<?xml version="1.0"?>
<!-- a red square on the left, nothing on the right -->
<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">
  <rect width="20" height="20" fill="#f00"/>
</svg>"##;
    let output = process(
        svg,
        &fit_in(20, 20, &[("format", "png")]),
        &Options::default(),
    )
    .expect("png");
    assert_eq!(output.format(), Format::Png);
    assert_eq!((output.width(), output.height()), (20, 10));
    let image = image::load_from_memory(output.bytes())
        .expect("decodes")
        .to_rgba8();
    assert!(close(image.get_pixel(3, 5).0, [255, 0, 0, 255], 2));
    assert_eq!(image.get_pixel(16, 5).0[3], 0);
}

#[cfg(feature = "svg")]
#[test]
fn svg_enlargements_are_drawn_sharp() {
    // A 10×10 drawing asked at 100×100: drawn at the larger size, the edge between the halves
    // stays one pixel wide instead of a blurred ramp.
    let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">
  <rect width="5" height="10" fill="#000"/><rect x="5" width="5" height="10" fill="#fff"/>
</svg>"##;
    let output = process(
        svg,
        &params(100, 100, &[("format", "png")]),
        &Options::default(),
    )
    .expect("png");
    assert_eq!((output.width(), output.height()), (100, 100));
    let image = image::load_from_memory(output.bytes())
        .expect("decodes")
        .to_rgba8();
    let row: Vec<u8> = (0..100).map(|x| image.get_pixel(x, 50).0[0]).collect();
    let ramp = row.iter().filter(|&&v| v > 8 && v < 247).count();
    assert!(ramp <= 2, "edge ramp of {ramp} pixels: {row:?}");
    assert!(row[45] < 8 && row[55] > 247);
}

#[cfg(feature = "svg")]
#[test]
fn svg_meta_names_svg() {
    let input = fixture("test.svg");
    let meta = metadata(&input, &Params::default(), &Options::default()).expect("meta");
    assert_eq!(
        meta.to_json(),
        r#"{"format":"svg","content_type":"image/svg+xml","width":620,"height":472,"orientation":0,"pages":1,"bands":4,"exif":{}}"#
    );
    // A `format(...)` names the output instead.
    let meta = metadata(
        &input,
        &fit_in(100, 100, &[("format", "png")]),
        &Options::default(),
    )
    .expect("meta");
    assert_eq!(
        (meta.format(), meta.width(), meta.height()),
        ("png", 100, 76)
    );
}

#[test]
fn hostile_svg_is_refused_quickly() {
    let started = Instant::now();
    let huge = std::fs::read(fixtures().join("bad/bomb.svg")).expect("fixture");
    for limits in [Limits::default(), Limits::no_limits()] {
        let options = Options::default().limits(limits);
        assert!(matches!(
            process(&huge, &fit_in(100, 100, &[]), &options),
            Err(ProcessError::MaxResolution)
        ));
    }
    let complex = std::fs::read(fixtures().join("bad/complex.svg")).expect("fixture");
    assert!(matches!(
        process(&complex, &Params::default(), &Options::default()),
        Err(ProcessError::Image(_))
    ));
    assert!(started.elapsed() < BAD_IMAGE_BOUND);
}

// ---------------------------------------------------------------------------------------------
// Through the service

fn service() -> ImageService<Stack<Fallback<Fallback<NoSource, FileLoader>, FileLoader>>> {
    ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(fixtures().join("images")).expect("the images folder exists"))
        .loader(FileLoader::new(fixtures()).expect("the fixtures folder exists"))
}

async fn fetch(uri: &str) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let Ok(res) = service().oneshot(get(uri)).await;
    let (parts, bytes) = body_bytes(res).await;
    (parts.status, parts.headers, bytes)
}

#[cfg(feature = "svg")]
#[tokio::test]
async fn service_answers_animated_webp_and_svg() {
    let (status, headers, bytes) = fetch("/unsafe/fit-in/60x60/demo3.webp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/webp");
    assert_eq!(decode_webp(&bytes).frames.len(), 8);

    let (status, headers, bytes) = fetch("/unsafe/meta/demo3.webp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let meta: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(
        (meta["format"].as_str(), meta["pages"].as_u64()),
        (Some("webp"), Some(8))
    );

    let (status, headers, bytes) = fetch("/unsafe/fit-in/100x100/test.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    let image = image::load_from_memory(&bytes).expect("decodes");
    assert_eq!((image.width(), image.height()), (100, 76));

    let (status, _, bytes) = fetch("/unsafe/meta/test.svg").await;
    assert_eq!(status, StatusCode::OK);
    let meta: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(meta["content_type"], "image/svg+xml");
}

#[tokio::test]
async fn bad_svg_and_webp_answer_4xx_json_quickly() {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let not_acceptable = StatusCode::NOT_ACCEPTABLE;
    let cases = [
        ("bomb.svg", [unprocessable, unprocessable, unprocessable]),
        (
            "broken.svg",
            [not_acceptable, not_acceptable, not_acceptable],
        ),
        (
            "complex.svg",
            [not_acceptable, not_acceptable, not_acceptable],
        ),
        // Animated answers are refused from the header; a still one fails on the frame data.
        (
            "frames-bomb.webp",
            [unprocessable, not_acceptable, unprocessable],
        ),
    ];
    for (name, expected) in cases {
        let uris = [
            format!("/unsafe/bad/{name}"),
            format!("/unsafe/fit-in/100x100/filters:format(png)/bad/{name}"),
            format!("/unsafe/meta/bad/{name}"),
        ];
        for (uri, expected) in uris.iter().zip(expected) {
            let started = Instant::now();
            let (status, headers, bytes) = fetch(uri).await;
            let took = started.elapsed();
            assert!(took < BAD_IMAGE_BOUND, "{uri} took {took:?}");
            assert_eq!(
                status,
                expected,
                "{uri}: {}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{uri}");
            let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON error");
            assert_eq!(body["status"], status.as_u16(), "{uri}");
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{uri}"
            );
        }
    }
}
