//! JPEG shrink-on-load through the public API: thumbnails made from the DC-only decode must
//! look like thumbnails made from a full decode, keep orientation and ICC behaviour, and
//! damaged or oversized files must fail cleanly.

use std::io::Cursor;
use std::path::Path;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, RgbImage};
use imagor_tower::path::{Filter, Params};
use imagor_tower::processing::{Format, Limits, Options, ProcessError, process};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jpeg")
        .join(name);
    std::fs::read(path).expect("read fixture")
}

/// `fit-in/WxH/filters:format(png)`: lossless output, so only the decode and resize differ.
fn fit_in_png(width: i64, height: i64) -> Params {
    Params {
        fit_in: true,
        width,
        height,
        filters: vec![Filter::new("format", "png")],
        ..Default::default()
    }
}

/// Full decode (upright), then Lanczos3 to the given size.
fn reference(bytes: &[u8], width: u32, height: u32) -> DynamicImage {
    reference_full(bytes).resize_exact(width, height, FilterType::Lanczos3)
}

/// Full decode, upright.
fn reference_full(bytes: &[u8]) -> DynamicImage {
    let mut decoder = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .expect("guess format")
        .into_decoder()
        .expect("decoder");
    let orientation = decoder.orientation().expect("orientation");
    let mut full = DynamicImage::from_decoder(decoder).expect("full decode");
    full.apply_orientation(orientation);
    full
}

fn mean_abs_error(a: &DynamicImage, b: &DynamicImage) -> f64 {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    assert_eq!(a.color(), b.color());
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let total: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / a.len() as f64
}

fn thumbnail(bytes: &[u8], params: &Params) -> DynamicImage {
    let output = process(bytes, params, &Options::default()).expect("process");
    image::load_from_memory(output.bytes()).expect("decode output")
}

#[test]
fn fast_thumbnails_match_full_decode_and_resize() {
    // 403×301 into 50×50: 50×37, an eighth of the source, so the DC image is used. The
    // difference is the 8×8 box average before the Lanczos step (as libjpeg's 1/8 scale
    // gives libvips) and, for 4:2:0, chroma interpolated at 1/8 scale; a wrong colour
    // conversion or misplaced block gives errors of 20 and more.
    for (name, bound) in [
        ("baseline-420.jpg", 4.0),
        ("baseline-444.jpg", 2.0),
        ("progressive-420.jpg", 4.0),
        ("progressive-444.jpg", 2.0),
        ("grey-baseline.jpg", 2.0),
        ("grey-progressive.jpg", 2.0),
        ("restart-baseline.jpg", 4.0),
        ("restart-progressive.jpg", 4.0),
    ] {
        let bytes = fixture(name);
        let ours = thumbnail(&bytes, &fit_in_png(50, 50));
        assert_eq!((ours.width(), ours.height()), (50, 37), "{name}");
        let error = mean_abs_error(&ours, &reference(&bytes, 50, 37));
        assert!(error < bound, "{name}: mean abs error {error}");
    }
}

#[test]
fn reduced_idct_thumbnails_match_full_decode_and_resize() {
    // 403×301 into 100×100 (100×75: a quarter of the source) and 200×200 (200×149: a half):
    // decoded at 1/4 and 1/2 by the reduced IDCT, then resized. The reduced IDCT keeps the
    // low frequencies of each block, so the result stays close to full decode + Lanczos3.
    for name in [
        "baseline-420.jpg",
        "baseline-444.jpg",
        "progressive-420.jpg",
        "progressive-444.jpg",
        "grey-baseline.jpg",
        "grey-progressive.jpg",
        "restart-baseline.jpg",
        "restart-progressive.jpg",
    ] {
        let bytes = fixture(name);
        for (side, expected) in [(100, (100, 75)), (200, (200, 149))] {
            let ours = thumbnail(&bytes, &fit_in_png(side, side));
            assert_eq!((ours.width(), ours.height()), expected, "{name} {side}");
            let error = mean_abs_error(&ours, &reference(&bytes, expected.0, expected.1));
            assert!(error < 3.0, "{name} {side}: mean abs error {error}");
        }
    }
    // Orientation and channel layout are the same as with the full decoder (the turned file
    // is a second encode of the picture, hence the same looser bound as on the DC path).
    let turned = thumbnail(&fixture("orientation-8.jpg"), &fit_in_png(100, 100));
    assert_eq!((turned.width(), turned.height()), (100, 75));
    let upright = reference(&fixture("baseline-444.jpg"), 100, 75);
    let error = mean_abs_error(&turned, &upright);
    assert!(error < 4.0, "orientation 8: mean abs error {error}");
    let grey = thumbnail(&fixture("grey-baseline.jpg"), &fit_in_png(200, 200));
    assert!(matches!(grey, DynamicImage::ImageLuma8(_)));
}

#[test]
fn greyscale_stays_greyscale() {
    let ours = thumbnail(&fixture("grey-progressive.jpg"), &fit_in_png(50, 50));
    assert!(matches!(ours, DynamicImage::ImageLuma8(_)));
}

#[test]
fn fill_crop_and_manual_crop_use_full_scale_geometry() {
    let bytes = fixture("progressive-420.jpg");
    // Centre crop of the cover-resized image, as the full path computes it.
    let params = Params {
        width: 30,
        height: 30,
        filters: vec![Filter::new("format", "png")],
        ..Default::default()
    };
    let ours = thumbnail(&bytes, &params);
    let full = reference(&bytes, 40, 30);
    let expected = full.crop_imm(5, 0, 30, 30);
    let error = mean_abs_error(&ours, &expected);
    assert!(error < 4.0, "fill-crop: mean abs error {error}");

    // Manual crop of the left half, then 20 pixels wide: still an eighth or less.
    let params = Params {
        crop_left: 0.0,
        crop_top: 0.0,
        crop_right: 200.0,
        crop_bottom: 300.0,
        width: 20,
        height: 0,
        filters: vec![Filter::new("format", "png")],
        ..Default::default()
    };
    let ours = thumbnail(&bytes, &params);
    assert_eq!((ours.width(), ours.height()), (20, 30));
    let mut decoded = image::load_from_memory(&bytes).expect("full decode");
    let expected = decoded
        .crop(0, 0, 200, 300)
        .resize_exact(20, 30, FilterType::Lanczos3);
    let error = mean_abs_error(&ours, &expected);
    assert!(error < 4.0, "manual crop: mean abs error {error}");
}

#[test]
fn exif_orientation_is_applied_on_the_fast_path() {
    // The same picture as baseline-444.jpg, stored turned and tagged with orientation 8.
    let turned = thumbnail(&fixture("orientation-8.jpg"), &fit_in_png(50, 50));
    assert_eq!((turned.width(), turned.height()), (50, 37));
    let upright = reference(&fixture("baseline-444.jpg"), 50, 37);
    let error = mean_abs_error(&turned, &upright);
    assert!(error < 4.0, "mean abs error {error}");
}

/// A 1600×1200 photo-like picture, encoded by `jpeg-encoder` with the given options.
fn encoded(progressive: bool, restart: u16, icc: Option<&[u8]>) -> Vec<u8> {
    let picture = RgbImage::from_fn(1600, 1200, |x, y| {
        let r = (x * 255 / 1600) as u8;
        let g = (y * 255 / 1200) as u8;
        let b = if (x / 100 + y / 100) % 2 == 0 {
            40
        } else {
            220
        };
        image::Rgb([r, g, b])
    });
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
    encoder.set_progressive(progressive);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    if restart > 0 {
        encoder.set_restart_interval(restart);
    }
    if let Some(icc) = icc {
        encoder.add_icc_profile(icc).expect("icc");
    }
    encoder
        .encode(picture.as_raw(), 1600, 1200, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    bytes
}

/// A hard-edged 4:2:0 test card: the box average shows most here.
#[test]
fn other_encoders_and_restart_intervals() {
    for (progressive, restart) in [(false, 0), (true, 0), (false, 7), (true, 11)] {
        let bytes = encoded(progressive, restart, None);
        let ours = thumbnail(&bytes, &fit_in_png(150, 150));
        assert_eq!((ours.width(), ours.height()), (150, 113));
        let error = mean_abs_error(&ours, &reference(&bytes, 150, 113));
        assert!(
            error < 6.5,
            "progressive {progressive}, restart {restart}: mean abs error {error}"
        );
    }
}

#[test]
fn icc_profile_is_kept_as_before() {
    // Not a real profile: the engine carries the bytes over without reading them.
    let profile = vec![7u8; 300];
    let bytes = encoded(true, 0, Some(&profile));
    for params in [
        // Shrunk on load.
        Params {
            width: 100,
            height: 100,
            ..Default::default()
        },
        // Full decode (the output needs more than an eighth).
        Params {
            width: 800,
            height: 600,
            ..Default::default()
        },
    ] {
        let output = process(&bytes, &params, &Options::default()).expect("process");
        assert_eq!(output.format(), Format::Jpeg);
        let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(output.bytes()))
            .expect("decode output");
        assert_eq!(
            decoder.icc_profile().expect("icc"),
            Some(profile.clone()),
            "{}x{}",
            params.width,
            params.height
        );
    }
}

#[test]
fn upscale_and_large_outputs_are_not_shrunk() {
    // 403×301 to 300×224: more than an eighth, full decode; the sizes are the plan's.
    let bytes = fixture("baseline-420.jpg");
    let ours = thumbnail(&bytes, &fit_in_png(300, 300));
    assert_eq!((ours.width(), ours.height()), (300, 224));
    let error = mean_abs_error(&ours, &reference(&bytes, 300, 224));
    assert!(error < 2.0, "mean abs error {error}");
}

#[test]
fn damaged_files_answer_errors_not_panics() {
    // 50×50, 100×100 and 200×200: the DC-only, 1/4 and 1/2 paths.
    for (name, side) in [
        ("baseline-420.jpg", 50),
        ("progressive-420.jpg", 50),
        ("restart-baseline.jpg", 50),
        ("baseline-420.jpg", 100),
        ("progressive-444.jpg", 100),
        ("restart-progressive.jpg", 200),
        ("grey-baseline.jpg", 200),
    ] {
        let params = fit_in_png(side, side);
        let bytes = fixture(name);
        for cut in (0..bytes.len()).step_by(211) {
            let _ = process(&bytes[..cut], &params, &Options::default());
        }
        let mut flipped = bytes.clone();
        for at in (600..flipped.len()).step_by(53) {
            flipped[at] ^= 0x5A;
        }
        let _ = process(&flipped, &params, &Options::default());
    }
    assert!(process(b"\xFF\xD8\xFF", &fit_in_png(50, 50), &Options::default()).is_err());
}

#[test]
fn header_sizes_are_checked_against_limits() {
    let bytes = fixture("progressive-420.jpg");
    let mut limits = Limits::default();
    limits.max_width = Some(400);
    let options = Options::default().limits(limits);
    for side in [50, 100, 200] {
        assert!(matches!(
            process(&bytes, &fit_in_png(side, side), &options),
            Err(ProcessError::MaxResolution)
        ));
    }

    // A header claiming 65000 × 65000 pixels fails at once.
    let mut huge = fixture("baseline-444.jpg");
    let sof = huge
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    huge[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    assert!(matches!(
        process(&huge, &fit_in_png(50, 50), &Options::default()),
        Err(ProcessError::MaxResolution)
    ));
}
