//! The image engine end to end: geometry tables (checked by hand against imagor's golden
//! outputs), real files from imagor's test data, format conversion, pixel content, limits and
//! hostile input.

use std::io::Cursor;

use image::{DynamicImage, GenericImageView, ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};
use imagor_tower::path::{Filter, HAlign, Params, VAlign};
use imagor_tower::processing::{
    Format, Limits, Options, Output, Plan, ProcessError, Rect, process,
};

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("read {path}: {err}"))
}

fn size(width: i64, height: i64) -> Params {
    Params {
        width,
        height,
        image: "x".into(),
        ..Default::default()
    }
}

fn fit_in(width: i64, height: i64) -> Params {
    Params {
        fit_in: true,
        ..size(width, height)
    }
}

fn full_fit_in(width: i64, height: i64) -> Params {
    Params {
        full_fit_in: true,
        ..fit_in(width, height)
    }
}

fn adaptive(mut params: Params) -> Params {
    params.adaptive_fit_in = true;
    params
}

fn crop(left: f64, top: f64, right: f64, bottom: f64, params: Params) -> Params {
    Params {
        crop_left: left,
        crop_top: top,
        crop_right: right,
        crop_bottom: bottom,
        ..params
    }
}

fn aligned(h_align: Option<HAlign>, v_align: Option<VAlign>, params: Params) -> Params {
    Params {
        h_align,
        v_align,
        ..params
    }
}

fn with_filters(filters: &[(&str, &str)], params: Params) -> Params {
    Params {
        filters: filters
            .iter()
            .map(|(name, args)| Filter::new(*name, *args))
            .collect(),
        ..params
    }
}

fn run(input: &[u8], params: &Params) -> Output {
    process(input, params, &Options::default())
        .unwrap_or_else(|err| panic!("process {params:?}: {err}"))
}

fn decoded(output: &Output) -> DynamicImage {
    image::load_from_memory(output.bytes()).expect("output decodes")
}

/// Checks format (by the output's own bytes), size, and that the bytes decode to that size.
fn assert_output(output: &Output, format: Format, width: u32, height: u32) {
    assert_eq!(output.format(), format);
    assert_eq!(
        Format::sniff(output.bytes()),
        Some(format),
        "sniffed format"
    );
    assert_eq!((output.width(), output.height()), (width, height));
    assert_eq!(
        decoded(output).dimensions(),
        (width, height),
        "decoded size"
    );
}

fn encode(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encode test image");
    bytes
}

/// A `width`×`height` PNG: red on the left half, blue on the right; the top row is green.
fn halves(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        if y == 0 {
            Rgb([0, 255, 0])
        } else if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    encode(&DynamicImage::ImageRgb8(image), image::ImageFormat::Png)
}

/// Pixels within `tolerance` per channel (lossy codecs, resampling).
fn close(actual: [u8; 3], expected: [u8; 3], tolerance: u8) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(e) <= tolerance)
}

fn rgb_at(output: &Output, x: u32, y: u32) -> [u8; 3] {
    decoded(output).to_rgb8().get_pixel(x, y).0
}

// ---------------------------------------------------------------------------------------------
// Geometry tables. Each row is a golden row of imagor's corpus (`golden.tsv`) or a case worked
// out by hand from imagor's sizing rules: source size (upright), params → output size.

#[test]
fn plan_output_sizes_match_imagor_golden_rows() {
    // (golden path, source size, params, output size)
    type Row = (&'static str, (u32, u32), Params, (u32, u32));
    let rows: Vec<Row> = vec![
        // gopher.png, 1634×2224
        (
            "adaptive-fit-in/200x100",
            (1634, 2224),
            adaptive(fit_in(200, 100)),
            (100, 136),
        ),
        (
            "adaptive-fit-in/100x200",
            (1634, 2224),
            adaptive(fit_in(100, 200)),
            (100, 136),
        ),
        (
            "adaptive-full-fit-in/100x200",
            (1634, 2224),
            adaptive(full_fit_in(100, 200)),
            (147, 200),
        ),
        (
            "full-fit-in/300x200",
            (1634, 2224),
            full_fit_in(300, 200),
            (300, 408),
        ),
        (
            "100x200/left",
            (1634, 2224),
            aligned(Some(HAlign::Left), None, size(100, 200)),
            (100, 200),
        ),
        (
            "200x100/bottom",
            (1634, 2224),
            aligned(None, Some(VAlign::Bottom), size(200, 100)),
            (200, 100),
        ),
        ("300x300", (1634, 2224), size(300, 300), (300, 300)),
        (
            "100x100/10x5/top (padding needs fill)",
            (1634, 2224),
            size(100, 100),
            (100, 100),
        ),
        (
            "fit-in/-200x0/filters:upscale()",
            (1634, 2224),
            with_filters(&[("upscale", "")], fit_in(-200, 0)),
            (200, 272),
        ),
        (
            "10x20:3000x5000/stretch/100x200",
            (1634, 2224),
            crop(
                10.0,
                20.0,
                3000.0,
                5000.0,
                Params {
                    stretch: true,
                    ..size(100, 200)
                },
            ),
            (100, 200),
        ),
        // gopher-front.png, 202×259
        ("fit-in/67x67", (202, 259), fit_in(67, 67), (52, 67)),
        (
            "full-fit-in/74x11",
            (202, 259),
            full_fit_in(74, 11),
            (74, 95),
        ),
        (
            "full-fit-in/200x300",
            (202, 259),
            full_fit_in(200, 300),
            (234, 300),
        ),
        (
            "full-fit-in/30x39",
            (202, 259),
            full_fit_in(30, 39),
            (30, 39),
        ),
        (
            "full-fit-in/500x400",
            (202, 259),
            full_fit_in(500, 400),
            (500, 641),
        ),
        (
            "adaptive-full-fit-in/500x400",
            (202, 259),
            adaptive(full_fit_in(500, 400)),
            (400, 513),
        ),
        (
            "adaptive-fit-in/200x100",
            (202, 259),
            adaptive(fit_in(200, 100)),
            (100, 128),
        ),
        (
            "500x0/no_upscale()",
            (202, 259),
            with_filters(&[("no_upscale", "")], size(500, 0)),
            (202, 259),
        ),
        (
            "500x200/no_upscale()",
            (202, 259),
            with_filters(&[("no_upscale", "")], size(500, 200)),
            (202, 200),
        ),
        (
            "500x400/no_upscale()",
            (202, 259),
            with_filters(&[("no_upscale", "")], size(500, 400)),
            (202, 259),
        ),
        ("gopher-front.png", (202, 259), size(0, 0), (202, 259)),
        // dancing-banana.gif, 121×128
        (
            "30x20:100x150",
            (121, 128),
            crop(30.0, 20.0, 100.0, 150.0, size(0, 0)),
            (70, 107),
        ),
        (
            "0.1x0.2:0.89x0.72",
            (121, 128),
            crop(0.1, 0.2, 0.89, 0.72, size(0, 0)),
            (96, 66),
        ),
        ("fit-in/67x67", (121, 128), fit_in(67, 67), (63, 67)),
        ("100x100", (121, 128), size(100, 100), (100, 100)),
        (
            "stretch/100x200",
            (121, 128),
            Params {
                stretch: true,
                ..size(100, 200)
            },
            (100, 200),
        ),
        (
            "100x200/left/bottom",
            (121, 128),
            aligned(Some(HAlign::Left), Some(VAlign::Bottom), size(100, 200)),
            (100, 200),
        ),
        // demo1.jpg, 200×200
        ("fit-in/100x100", (200, 200), fit_in(100, 100), (100, 100)),
        ("fit-in/67x67", (200, 200), fit_in(67, 67), (67, 67)),
        // Canon_40D.jpg, 100×68
        (
            "full-fit-in/102x30",
            (100, 68),
            full_fit_in(102, 30),
            (102, 69),
        ),
        ("0x50", (100, 68), size(0, 50), (74, 50)),
        ("50x0", (100, 68), size(50, 0), (50, 34)),
        // jpg-24bit-icc-adobe-rgb.jpg, 1900×1263
        (
            "full-fit-in/100x65",
            (1900, 1263),
            full_fit_in(100, 65),
            (100, 66),
        ),
        // demo3.webp, 70×87: fit-in does not upscale
        ("fit-in/100x100", (70, 87), fit_in(100, 100), (70, 87)),
        // gopher.tiff, 200×100
        ("fit-in/100x100", (200, 100), fit_in(100, 100), (100, 50)),
        ("fit-in/67x67", (200, 100), fit_in(67, 67), (67, 34)),
        // gopher-landscape-exif-cw90.png: 2224×1634 stored, 1634×2224 upright
        ("fit-in/300x0", (1634, 2224), fit_in(300, 0), (300, 408)),
        (
            "adaptive-fit-in/200x300",
            (1634, 2224),
            adaptive(fit_in(200, 300)),
            (200, 272),
        ),
        (
            "adaptive-full-fit-in/200x300",
            (1634, 2224),
            adaptive(full_fit_in(200, 300)),
            (220, 300),
        ),
        // nyan-cat.gif, 500×198 (the fill box of `200x0/...` is 200×79)
        ("200x0", (500, 198), size(200, 0), (200, 79)),
    ];
    for (name, (width, height), params, expected) in rows {
        let plan = Plan::new(width, height, &params);
        assert_eq!(plan.output_size(), expected, "{name} on {width}x{height}");
    }
}

#[test]
fn plan_steps_for_hand_checked_cases() {
    // (name, source, params, crop, resize, window, flips)
    type Row = (
        &'static str,
        (u32, u32),
        Params,
        Option<Rect>,
        Option<(u32, u32)>,
        Option<Rect>,
        (bool, bool),
    );
    let rows: Vec<Row> = vec![
        (
            "100x200/left: scale to 147x200, keep the left",
            (1634, 2224),
            aligned(Some(HAlign::Left), None, size(100, 200)),
            None,
            Some((147, 200)),
            Some(Rect::new(0, 0, 100, 200)),
            (false, false),
        ),
        (
            "100x200/right",
            (1634, 2224),
            aligned(Some(HAlign::Right), None, size(100, 200)),
            None,
            Some((147, 200)),
            Some(Rect::new(47, 0, 100, 200)),
            (false, false),
        ),
        (
            "100x200: centre",
            (1634, 2224),
            size(100, 200),
            None,
            Some((147, 200)),
            Some(Rect::new(23, 0, 100, 200)),
            (false, false),
        ),
        (
            "200x100/right/top: vertical cut, top wins",
            (1634, 2224),
            aligned(Some(HAlign::Right), Some(VAlign::Top), size(200, 100)),
            None,
            Some((200, 272)),
            Some(Rect::new(0, 0, 200, 100)),
            (false, false),
        ),
        (
            "200x100/left/bottom",
            (1634, 2224),
            aligned(Some(HAlign::Left), Some(VAlign::Bottom), size(200, 100)),
            None,
            Some((200, 272)),
            Some(Rect::new(0, 172, 200, 100)),
            (false, false),
        ),
        (
            "100x100 on the banana: 100x106, centre rows",
            (121, 128),
            size(100, 100),
            None,
            Some((100, 106)),
            Some(Rect::new(0, 3, 100, 100)),
            (false, false),
        ),
        (
            "30x20:100x150 crops only",
            (121, 128),
            crop(30.0, 20.0, 100.0, 150.0, size(0, 0)),
            Some(Rect::new(30, 20, 70, 107)),
            None,
            None,
            (false, false),
        ),
        (
            "0.006120x0.008993:1.0x1.0/stretch/100x200 loses the far column and row",
            (1634, 2224),
            crop(
                0.006120,
                0.008993,
                1.0,
                1.0,
                Params {
                    stretch: true,
                    ..size(100, 200)
                },
            ),
            Some(Rect::new(10, 20, 1623, 2203)),
            Some((100, 200)),
            None,
            (false, false),
        ),
        (
            "-100x-50 flips both ways",
            (200, 100),
            Params {
                h_flip: true,
                v_flip: true,
                ..size(100, 50)
            },
            None,
            Some((100, 50)),
            None,
            (true, true),
        ),
        (
            "fit-in/-200x0 + upscale(): mirrored",
            (1634, 2224),
            with_filters(
                &[("upscale", "")],
                Params {
                    h_flip: true,
                    ..fit_in(200, 0)
                },
            ),
            None,
            Some((200, 272)),
            None,
            (true, false),
        ),
        (
            "500x200/no_upscale(): a window, no resize",
            (202, 259),
            with_filters(&[("no_upscale", "")], size(500, 200)),
            None,
            None,
            Some(Rect::new(0, 29, 202, 200)),
            (false, false),
        ),
        (
            "fit-in/stretch: fit-in wins",
            (121, 128),
            Params {
                stretch: true,
                ..fit_in(100, 200)
            },
            None,
            Some((100, 106)),
            None,
            (false, false),
        ),
    ];
    for (name, (width, height), params, crop, resize, window, flips) in rows {
        let plan = Plan::new(width, height, &params);
        assert_eq!(plan.crop(), crop, "{name}: crop");
        assert_eq!(plan.resize(), resize, "{name}: resize");
        assert_eq!(plan.window(), window, "{name}: window");
        assert_eq!((plan.h_flip(), plan.v_flip()), flips, "{name}: flips");
    }
}

#[test]
fn plan_target_box_is_what_fill_will_use() {
    // 200x0/20x20:100x20/filters:fill(...) on nyan-cat (500×198) gives a 320×119 canvas:
    // 200 + 20 + 100 by 79 + 20 + 20.
    assert_eq!(Plan::new(500, 198, &size(200, 0)).target_size(), (200, 79));
    // full-fit-in enlarges the box: 202×259 in 74x11 → 74×95.
    assert_eq!(
        Plan::new(202, 259, &full_fit_in(74, 11)).target_size(),
        (74, 95)
    );
    // Without upscaling a derived side is capped at the image.
    let no_upscale = with_filters(&[("no_upscale", "")], size(500, 0));
    assert_eq!(Plan::new(202, 259, &no_upscale).target_size(), (500, 259));
}

// ---------------------------------------------------------------------------------------------
// Real files

#[test]
fn jpeg_fit_in() {
    let output = run(&fixture("demo1.jpg"), &fit_in(100, 100));
    assert_output(&output, Format::Jpeg, 100, 100);
    assert_eq!(output.content_type(), "image/jpeg");
}

#[test]
fn jpeg_without_size_keeps_size_and_format() {
    let output = run(&fixture("demo1.jpg"), &size(0, 0));
    assert_output(&output, Format::Jpeg, 200, 200);
}

#[test]
fn jpeg_zero_width_follows_aspect_ratio() {
    let output = run(&fixture("Canon_40D.jpg"), &size(0, 50));
    assert_output(&output, Format::Jpeg, 74, 50);
}

#[test]
fn png_fit_in_keeps_transparency() {
    let output = run(&fixture("gopher-front.png"), &fit_in(67, 67));
    assert_output(&output, Format::Png, 52, 67);
    let rgba = decoded(&output).to_rgba8();
    assert_eq!(rgba.get_pixel(0, 0).0[3], 0, "corner stays transparent");
    let centre = rgba.get_pixel(26, 40).0;
    assert_eq!(centre[3], 255, "body is opaque");
    assert!(centre[2] > centre[0], "gopher is blue: {centre:?}");
}

#[test]
fn png_no_upscale_window() {
    let params = with_filters(&[("no_upscale", "")], size(500, 200));
    let output = run(&fixture("gopher-front.png"), &params);
    assert_output(&output, Format::Png, 202, 200);
}

#[test]
fn gif_manual_crop_first_frame() {
    let output = run(
        &fixture("dancing-banana.gif"),
        &crop(30.0, 20.0, 100.0, 150.0, size(0, 0)),
    );
    assert_output(&output, Format::Gif, 70, 107);
}

#[test]
fn gif_fill_crop() {
    let output = run(&fixture("dancing-banana.gif"), &size(100, 100));
    assert_output(&output, Format::Gif, 100, 100);
}

#[test]
fn gif_output_keeps_only_pixels_at_least_half_opaque() {
    // GIF has no partial alpha: like libvips' writer, alpha 128 and above is opaque and
    // anything fainter (resampling fringes) is transparent, not a dark opaque halo.
    let image = RgbaImage::from_fn(4, 2, |x, _| {
        Rgba([200, 30, 30, [1, 127, 128, 255][x as usize]])
    });
    let png = encode(&DynamicImage::ImageRgba8(image), image::ImageFormat::Png);
    let output = run(&png, &with_filters(&[("format", "gif")], size(0, 0)));
    assert_output(&output, Format::Gif, 4, 2);
    let rgba = decoded(&output).to_rgba8();
    let alpha: Vec<u8> = (0..4).map(|x| rgba.get_pixel(x, 1).0[3]).collect();
    assert_eq!(alpha, [0, 0, 255, 255]);
    assert!(close(
        [
            rgba.get_pixel(2, 0).0[0],
            rgba.get_pixel(2, 0).0[1],
            rgba.get_pixel(2, 0).0[2]
        ],
        [200, 30, 30],
        8
    ));
}

#[test]
fn fill_blur_of_a_transparent_image_keeps_a_translucent_background() {
    // imagor blurs the stretched copy with its alpha and composites the sharp image over it.
    let image = RgbaImage::from_fn(20, 20, |x, y| {
        if (5..15).contains(&x) && (5..15).contains(&y) {
            Rgba([200, 0, 0, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    let png = encode(&DynamicImage::ImageRgba8(image), image::ImageFormat::Png);
    let params = Params {
        padding_left: 10,
        padding_top: 10,
        padding_right: 10,
        padding_bottom: 10,
        ..with_filters(&[("fill", "blur"), ("format", "png")], fit_in(20, 20))
    };
    let output = run(&png, &params);
    assert_output(&output, Format::Png, 40, 40);
    let rgba = decoded(&output).to_rgba8();
    assert_eq!(rgba.get_pixel(20, 20).0, [200, 0, 0, 255]);
    let corner = rgba.get_pixel(0, 0).0[3];
    assert!(corner > 0 && corner < 128, "corner alpha {corner}");
}

#[test]
fn webp_fit_in_does_not_upscale() {
    let output = run(&fixture("demo3.webp"), &fit_in(100, 100));
    assert_output(&output, Format::Webp, 70, 87);
}

#[test]
fn webp_resize() {
    let output = run(&fixture("demo3.webp"), &size(35, 40));
    assert_output(&output, Format::Webp, 35, 40);
}

#[test]
fn exif_orientation_is_applied() {
    // Stored 1634×2224 with orientation 6: upright it is 2224×1634 (landscape).
    let output = run(
        &fixture("gopher-exif-orientation-cw90.png"),
        &fit_in(100, 100),
    );
    assert_output(&output, Format::Png, 100, 73);
}

// ---------------------------------------------------------------------------------------------
// Format conversion

#[test]
fn png_to_jpeg_flattens_onto_black() {
    let params = with_filters(&[("quality", "70"), ("format", "jpeg")], size(0, 0));
    let output = run(&fixture("gopher-front.png"), &params);
    assert_output(&output, Format::Jpeg, 202, 259);
    assert!(close(rgb_at(&output, 0, 0), [0, 0, 0], 8));
    let centre = rgb_at(&output, 101, 180);
    assert!(centre[2] > 150 && centre[2] > centre[0], "{centre:?}");
}

#[test]
fn png_to_webp_keeps_alpha() {
    let params = with_filters(&[("format", "webp")], fit_in(100, 100));
    let output = run(&fixture("gopher-front.png"), &params);
    assert_output(&output, Format::Webp, 78, 100);
    let rgba = decoded(&output).to_rgba8();
    assert_eq!(rgba.get_pixel(0, 0).0[3], 0);
    assert_eq!(rgba.get_pixel(39, 60).0[3], 255);
}

#[test]
fn lossless_webp_is_exact() {
    let source = RgbaImage::from_fn(16, 8, |x, y| Rgba([x as u8 * 16, y as u8 * 32, 7, 255]));
    let png = encode(
        &DynamicImage::ImageRgba8(source.clone()),
        image::ImageFormat::Png,
    );
    let params = with_filters(&[("format", "webp"), ("lossless", "")], size(0, 0));
    let output = run(&png, &params);
    assert_output(&output, Format::Webp, 16, 8);
    assert_eq!(decoded(&output).to_rgba8(), source);
}

#[test]
fn conversions_between_formats() {
    let cases = [
        ("demo1.jpg", "png", Format::Png),
        ("demo1.jpg", "webp", Format::Webp),
        ("demo1.jpg", "gif", Format::Gif),
        ("demo1.jpg", "tiff", Format::Tiff),
        ("gopher-front.png", "jpg", Format::Jpeg),
        ("gopher-front.png", "gif", Format::Gif),
        ("dancing-banana.gif", "png", Format::Png),
        ("dancing-banana.gif", "jpeg", Format::Jpeg),
        ("demo3.webp", "png", Format::Png),
        ("demo3.webp", "jpeg", Format::Jpeg),
        // bmp, pdf and svg are names imagor knows but cannot write: JPEG.
        ("gopher-front.png", "bmp", Format::Jpeg),
        ("gopher-front.png", "svg", Format::Jpeg),
        // Unknown or upper-case names are ignored: the source's default.
        ("gopher-front.png", "WEBP", Format::Png),
        ("gopher-front.png", "tif", Format::Png),
        ("demo1.jpg", "nope", Format::Jpeg),
    ];
    for (name, format_arg, expected) in cases {
        let params = with_filters(&[("format", format_arg)], fit_in(40, 40));
        let output = run(&fixture(name), &params);
        assert_eq!(output.format(), expected, "{name} → format({format_arg})");
        assert_eq!(Format::sniff(output.bytes()), Some(expected));
        let image = decoded(&output);
        assert_eq!(image.dimensions(), (output.width(), output.height()));
        assert!(output.width() <= 40 && output.height() <= 40);
    }
}

#[test]
fn autojpg_and_last_format_win() {
    let params = with_filters(&[("format", "webp"), ("autojpg", "")], size(0, 0));
    assert_eq!(
        run(&fixture("gopher-front.png"), &params).format(),
        Format::Jpeg
    );
    let params = with_filters(&[("format", "jpeg"), ("format", "png")], size(0, 0));
    assert_eq!(run(&fixture("demo1.jpg"), &params).format(), Format::Png);
}

#[test]
fn unwritable_formats_are_refused_before_decoding() {
    for name in ["heif", "jp2", "jxl"] {
        let params = with_filters(&[("format", name)], size(0, 0));
        // Even garbage input: the request fails on the format first.
        let err = process(b"garbage", &params, &Options::default()).unwrap_err();
        assert!(matches!(err, ProcessError::UnsupportedFormat), "{name}");
        let err = process(&fixture("demo1.jpg"), &params, &Options::default()).unwrap_err();
        assert!(matches!(err, ProcessError::UnsupportedFormat), "{name}");
    }
}

#[test]
fn quality_changes_jpeg_size() {
    // A noisy image so that quality matters.
    let noisy = RgbImage::from_fn(64, 64, |x, y| {
        let v = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) as u8;
        Rgb([v, v.wrapping_mul(3), v.wrapping_add(90)])
    });
    let png = encode(&DynamicImage::ImageRgb8(noisy), image::ImageFormat::Png);
    let jpeg = |quality: &str| {
        let params = with_filters(&[("format", "jpeg"), ("quality", quality)], size(0, 0));
        run(&png, &params).into_bytes().len()
    };
    assert!(jpeg("10") < jpeg("50"));
    assert!(jpeg("50") < jpeg("95"));
    // The server default is used when the URL has none (here raised to 95).
    let params = with_filters(&[("format", "jpeg")], size(0, 0));
    let default = process(&png, &params, &Options::default()).expect("default quality");
    let raised =
        process(&png, &params, &Options::default().default_quality(95)).expect("quality 95");
    assert!(default.bytes().len() < raised.bytes().len());
    assert_eq!(raised.bytes().len(), jpeg("95"));
}

#[test]
fn webp_quality_changes_size() {
    let photo = fixture("demo1.jpg");
    let webp = |quality: &str| {
        let params = with_filters(&[("format", "webp"), ("quality", quality)], size(0, 0));
        run(&photo, &params).into_bytes().len()
    };
    assert!(webp("10") < webp("90"));
}

// ---------------------------------------------------------------------------------------------
// Pixel content

#[test]
fn horizontal_flip_moves_colours() {
    let png = halves(20, 10);
    let plain = run(&png, &size(0, 0));
    assert!(close(rgb_at(&plain, 2, 5), [255, 0, 0], 0));
    let flipped = run(
        &png,
        &Params {
            h_flip: true,
            ..size(0, 0)
        },
    );
    assert_output(&flipped, Format::Png, 20, 10);
    assert!(close(rgb_at(&flipped, 2, 5), [0, 0, 255], 0));
    assert!(close(rgb_at(&flipped, 17, 5), [255, 0, 0], 0));
    assert!(
        close(rgb_at(&flipped, 17, 0), [0, 255, 0], 0),
        "top row stays on top"
    );
}

#[test]
fn vertical_flip_moves_colours() {
    let png = halves(20, 10);
    let flipped = run(
        &png,
        &Params {
            v_flip: true,
            ..size(0, 0)
        },
    );
    assert!(
        close(rgb_at(&flipped, 2, 9), [0, 255, 0], 0),
        "top row is now at the bottom"
    );
    assert!(
        close(rgb_at(&flipped, 2, 0), [255, 0, 0], 0),
        "left stays left"
    );
}

#[test]
fn flip_after_resize() {
    // -10x5: resize 20×10 to 10×5, then mirror.
    let output = run(
        &halves(20, 10),
        &Params {
            h_flip: true,
            ..size(10, 5)
        },
    );
    assert_output(&output, Format::Png, 10, 5);
    assert!(close(rgb_at(&output, 1, 3), [0, 0, 255], 24));
    assert!(close(rgb_at(&output, 8, 3), [255, 0, 0], 24));
}

#[test]
fn fill_crop_alignment_picks_the_right_part() {
    // 300×100: red, green and blue thirds. 100x100 keeps one third.
    let thirds = RgbImage::from_fn(300, 100, |x, _| match x / 100 {
        0 => Rgb([255, 0, 0]),
        1 => Rgb([0, 255, 0]),
        _ => Rgb([0, 0, 255]),
    });
    let png = encode(&DynamicImage::ImageRgb8(thirds), image::ImageFormat::Png);
    for (align, expected) in [
        (Some(HAlign::Left), [255, 0, 0]),
        (None, [0, 255, 0]),
        (Some(HAlign::Center), [0, 255, 0]),
        (Some(HAlign::Right), [0, 0, 255]),
    ] {
        let output = run(&png, &aligned(align, None, size(100, 100)));
        assert_output(&output, Format::Png, 100, 100);
        assert!(close(rgb_at(&output, 50, 50), expected, 0), "{align:?}");
        assert!(close(rgb_at(&output, 5, 5), expected, 0), "{align:?}");
    }
}

#[test]
fn vertical_alignment_picks_the_right_part() {
    // 100×300: red, green and blue bands from top to bottom; 100x100/top|bottom.
    let bands = RgbImage::from_fn(100, 300, |_, y| match y / 100 {
        0 => Rgb([255, 0, 0]),
        1 => Rgb([0, 255, 0]),
        _ => Rgb([0, 0, 255]),
    });
    let png = encode(&DynamicImage::ImageRgb8(bands), image::ImageFormat::Png);
    for (align, expected) in [
        (Some(VAlign::Top), [255, 0, 0]),
        (Some(VAlign::Middle), [0, 255, 0]),
        (Some(VAlign::Bottom), [0, 0, 255]),
    ] {
        let output = run(&png, &aligned(None, align, size(100, 100)));
        assert!(close(rgb_at(&output, 50, 50), expected, 0), "{align:?}");
    }
}

#[test]
fn manual_crop_takes_the_named_pixels() {
    // 40×40 with a 10×10 white square at (20,20) on black; crop exactly the square.
    let source = RgbImage::from_fn(40, 40, |x, y| {
        if (20..30).contains(&x) && (20..30).contains(&y) {
            Rgb([255, 255, 255])
        } else {
            Rgb([0, 0, 0])
        }
    });
    let png = encode(&DynamicImage::ImageRgb8(source), image::ImageFormat::Png);
    let output = run(&png, &crop(20.0, 20.0, 30.0, 30.0, size(0, 0)));
    assert_output(&output, Format::Png, 10, 10);
    let rgb = decoded(&output).to_rgb8();
    assert!(rgb.pixels().all(|p| p.0 == [255, 255, 255]));
    // The same as fractions of the 40×40 image.
    let output = run(&png, &crop(0.5, 0.5, 0.75, 0.75, size(0, 0)));
    assert_output(&output, Format::Png, 10, 10);
}

#[test]
fn grayscale_filter_writes_grey() {
    let params = with_filters(&[("grayscale", "")], size(0, 0));
    let output = run(&halves(8, 4), &params);
    assert_output(&output, Format::Png, 8, 4);
    let image = decoded(&output);
    assert_eq!(image.color(), image::ColorType::L8);
    let params = with_filters(&[("grayscale", ""), ("format", "webp")], size(0, 0));
    let output = run(&fixture("gopher-front.png"), &params);
    let rgba = decoded(&output).to_rgba8();
    let [r, g, b, _] = rgba.get_pixel(101, 180).0;
    assert!(
        r.abs_diff(g) <= 4 && g.abs_diff(b) <= 4,
        "grey: {r} {g} {b}"
    );
}

#[test]
fn unknown_filters_are_ignored() {
    let params = with_filters(
        &[
            ("expire", "1"),
            ("attachment", "a.png"),
            ("frobnicate", "1,2"),
            ("", ""),
        ],
        size(10, 10),
    );
    assert_output(&run(&halves(20, 20), &params), Format::Png, 10, 10);
}

#[test]
fn grey_and_grey_alpha_sources_stay_grey() {
    let grey = DynamicImage::ImageLumaA8(ImageBuffer::from_fn(30, 20, |x, _| {
        image::LumaA([x as u8 * 8, 255])
    }));
    let png = encode(&grey, image::ImageFormat::Png);
    let output = run(&png, &size(15, 10));
    assert_eq!(decoded(&output).color(), image::ColorType::La8);
    let params = with_filters(&[("format", "jpeg")], size(15, 10));
    let output = run(&png, &params);
    assert_eq!(decoded(&output).color(), image::ColorType::L8);
}

// ---------------------------------------------------------------------------------------------
// Limits

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).expect("chunk").to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A tiny, valid-looking PNG whose header claims `width`×`height` RGBA pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A tiny GIF whose screen and first frame claim `width`×`height` pixels.
fn gif_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0]); // global colour table of 2 entries
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.push(0x2C); // image descriptor
    gif.extend_from_slice(&[0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.push(0);
    gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]); // a few LZW bytes
    gif.push(0x3B);
    gif
}

/// A real JPEG (demo1.jpg) whose frame header is patched to claim `width`×`height`.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = fixture("demo1.jpg");
    let sof = jpeg
        .windows(2)
        .position(|marker| marker == [0xFF, 0xC0] || marker == [0xFF, 0xC2])
        .expect("frame header");
    // marker (2), length (2), precision (1), then height and width.
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

#[test]
fn huge_png_header_fails_fast_with_max_resolution() {
    let err = process(
        &png_claiming(100_000, 100_000),
        &size(0, 0),
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
    // Within each side's limit but over the pixel count.
    let err = process(
        &png_claiming(9999, 9999),
        &size(100, 100),
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
}

#[test]
fn huge_gif_header_fails_fast_with_max_resolution() {
    let err = process(
        &gif_claiming(65_535, 65_535),
        &size(0, 0),
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
}

#[test]
fn huge_jpeg_header_fails_fast_with_max_resolution() {
    let err = process(
        &jpeg_claiming(60_000, 60_000),
        &size(0, 0),
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
}

#[test]
fn limits_apply_to_the_output_too() {
    // A 20×20 source upscaled to 9999×9999 would be 99.98 megapixels.
    let err = process(&halves(20, 20), &size(9999, 9999), &Options::default()).unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
    // So would a side over 9999.
    let err = process(&halves(20, 20), &size(10_000, 1), &Options::default()).unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
    // The source is checked too: 20×20 is one pixel over this resolution limit.
    let mut limits = Limits::default();
    limits.max_resolution = Some(20 * 20 - 1);
    let err = process(
        &halves(20, 20),
        &size(0, 0),
        &Options::default().limits(limits),
    )
    .unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
}

#[test]
fn custom_and_disabled_limits() {
    let png = halves(300, 20);
    let mut narrow = Limits::default();
    narrow.max_width = Some(299);
    let err = process(&png, &size(0, 0), &Options::default().limits(narrow)).unwrap_err();
    assert!(matches!(err, ProcessError::MaxResolution));
    // The output is checked as well: a 100-pixel-wide output of a 300-pixel source is fine
    // only if the source passes.
    narrow.max_width = Some(300);
    let output = process(&png, &size(100, 0), &Options::default().limits(narrow)).unwrap();
    assert_eq!((output.width(), output.height()), (100, 7));
    // Unlimited mode accepts what the defaults refuse.
    let wide = halves(10_001, 2);
    assert!(process(&wide, &size(0, 0), &Options::default()).is_err());
    let output = process(
        &wide,
        &size(0, 0),
        &Options::default().limits(Limits::no_limits()),
    )
    .expect("no limits");
    assert_eq!(output.width(), 10_001);
}

// ---------------------------------------------------------------------------------------------
// Hostile input: errors, never panics

#[test]
fn garbage_is_unsupported() {
    for input in [
        &b""[..],
        b"\0",
        b"hello world",
        b"<html><svg xmlns='http://www.w3.org/2000/svg'/></html>",
        b"%PDF-1.4",
        b"RIFF\0\0\0\0WAVE",
    ] {
        let err = process(input, &size(10, 10), &Options::default()).unwrap_err();
        assert!(
            matches!(err, ProcessError::UnsupportedFormat),
            "{input:?}: {err:?}"
        );
    }
}

#[test]
fn bare_signatures_are_errors() {
    for input in [
        &b"\x89PNG\r\n\x1a\n"[..],
        b"\xFF\xD8\xFF",
        b"GIF89a",
        b"RIFF\x04\0\0\0WEBP",
        b"II*\0",
        b"BM",
    ] {
        assert!(
            process(input, &size(10, 10), &Options::default()).is_err(),
            "{input:?}"
        );
    }
}

#[test]
fn truncated_files_are_errors_not_panics() {
    for name in [
        "demo1.jpg",
        "Canon_40D.jpg",
        "gopher-front.png",
        "dancing-banana.gif",
        "demo3.webp",
    ] {
        let bytes = fixture(name);
        let step = (bytes.len() / 40).max(1);
        for len in (0..bytes.len()).step_by(step) {
            // Either outcome is fine (some decoders accept partial data); a panic is not.
            let _ = process(&bytes[..len], &size(20, 20), &Options::default());
        }
        // Cut in half: PNG and WebP refuse. (A JPEG decoder may pad the missing rows, and half
        // of the animated GIF still holds its whole first frame.)
        let half = &bytes[..bytes.len() / 2];
        let result = process(half, &size(20, 20), &Options::default());
        if name.ends_with(".png") || name.ends_with(".webp") {
            assert!(
                matches!(result, Err(ProcessError::Image(_))),
                "{name}: {result:?}"
            );
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    for name in [
        "demo1.jpg",
        "gopher-front.png",
        "dancing-banana.gif",
        "demo3.webp",
    ] {
        let original = fixture(name);
        // Overwrite bytes at many positions (after the signature) with varied values.
        for (i, position) in (12..original.len()).step_by(97).enumerate() {
            let mut bytes = original.clone();
            let end = (position + 8).min(bytes.len());
            for (k, byte) in bytes[position..end].iter_mut().enumerate() {
                *byte = (*byte).wrapping_mul(31).wrapping_add((i + k) as u8);
            }
            let _ = process(&bytes, &size(16, 16), &Options::default());
        }
    }
}

#[test]
fn hostile_params_never_panic() {
    let png = halves(20, 10);
    let cases = [
        size(i64::MAX, i64::MAX),
        size(i64::MIN, 1),
        full_fit_in(i64::MAX, 1),
        adaptive(full_fit_in(1, i64::MAX)),
        crop(
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e308,
            size(5, 5),
        ),
        crop(19.0, 9.0, 1e300, 1e300, size(0, 0)),
        with_filters(
            &[("quality", "-99999999999999999999"), ("format", "")],
            size(1, 1),
        ),
    ];
    for params in cases {
        match process(&png, &params, &Options::default()) {
            Ok(output) => assert_eq!(
                decoded(&output).dimensions(),
                (output.width(), output.height())
            ),
            Err(err) => assert!(matches!(err, ProcessError::MaxResolution), "{err:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Animation, canvas filters and colour sources

fn gif_frames(bytes: &[u8]) -> Vec<RgbaImage> {
    use image::AnimationDecoder;
    let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).expect("a gif");
    decoder
        .into_frames()
        .map(|frame| frame.expect("frame").into_buffer())
        .collect()
}

#[test]
fn animated_gif_keeps_every_frame_through_resize() {
    let output = process(
        &fixture("dancing-banana.gif"),
        &size(100, 100),
        &Options::default(),
    )
    .expect("animated resize");
    assert_eq!(output.format(), Format::Gif);
    let frames = gif_frames(output.bytes());
    assert_eq!(frames.len(), 8);
    assert!(frames.iter().all(|f| f.dimensions() == (100, 100)));
}

#[test]
fn max_frames_and_page_select_frames() {
    let gif = fixture("dancing-banana.gif");
    let three = process(
        &gif,
        &with_filters(&[("max_frames", "3")], Params::default()),
        &Options::default(),
    )
    .expect("max_frames");
    assert_eq!(gif_frames(three.bytes()).len(), 3);
    for page in ["5", "999"] {
        let one = process(
            &gif,
            &with_filters(&[("page", page)], Params::default()),
            &Options::default(),
        )
        .expect("page");
        assert_eq!(gif_frames(one.bytes()).len(), 1, "page({page})");
    }
    // A still output format takes the first frame only.
    let jpeg = process(
        &gif,
        &with_filters(&[("format", "jpeg")], Params::default()),
        &Options::default(),
    )
    .expect("first frame");
    assert_eq!(jpeg.format(), Format::Jpeg);
}

#[test]
fn animation_frames_count_against_max_resolution() {
    // 8 frames of 121×128 exceed 300×300 pixels in all.
    let mut limits = Limits::default();
    limits.max_resolution = Some(90_000);
    let err = process(
        &fixture("dancing-banana.gif"),
        &Params::default(),
        &Options::default().limits(limits),
    )
    .expect_err("too many frames");
    assert!(matches!(err, ProcessError::MaxResolution));
}

#[test]
fn fill_with_url_padding_matches_golden_size() {
    // golden: /0x0/40x50/filters:fill(white)/gopher-front.png → 282×359.
    let params = Params {
        padding_left: 40,
        padding_top: 50,
        padding_right: 40,
        padding_bottom: 50,
        ..with_filters(&[("fill", "white")], Params::default())
    };
    let output = process(&fixture("gopher-front.png"), &params, &Options::default()).expect("fill");
    assert_eq!((output.width(), output.height()), (282, 359));
    let pixels = image::load_from_memory(output.bytes())
        .expect("png")
        .to_rgba8();
    assert_eq!(pixels.get_pixel(0, 0).0, [255, 255, 255, 255]);
}

#[test]
fn colour_sources_follow_the_spec() {
    use imagor_tower::processing::process_color;
    let params = |image: &str, width, height| Params {
        image: image.into(),
        width,
        height,
        ..Default::default()
    };
    let output =
        process_color(&params("color:blue", -100, -50), &Options::default()).expect("color source");
    assert_eq!(
        (output.format(), output.width(), output.height()),
        (Format::Jpeg, 100, 50)
    );
    let one = process_color(&params("color:green", 0, 0), &Options::default()).expect("1x1");
    assert_eq!((one.width(), one.height()), (1, 1));
    let square = process_color(&params("color:fff", 0, 10), &Options::default()).expect("sq");
    assert_eq!((square.width(), square.height()), (10, 10));
    let mut png = params("color:ff000080", 2, 2);
    png.filters = vec![Filter::new("format", "png")];
    let output = process_color(&png, &Options::default()).expect("png");
    let pixel = image::load_from_memory(output.bytes())
        .expect("png")
        .to_rgba8()
        .get_pixel(0, 0)
        .0;
    assert_eq!(pixel, [255, 0, 0, 128]);
    assert!(matches!(
        process_color(&params("color:nope", 1, 1), &Options::default()),
        Err(ProcessError::InvalidColor)
    ));
    assert!(matches!(
        process_color(&params("color:red", 100_000, 100_000), &Options::default()),
        Err(ProcessError::MaxResolution)
    ));
}

#[test]
fn max_bytes_lowers_jpeg_and_webp_quality_until_the_file_fits() {
    // A busy picture, so quality changes the size a lot.
    let busy = DynamicImage::ImageRgb8(image::RgbImage::from_fn(320, 240, |x, y| {
        let v = (x * 7919 + y * 104_729) % 251;
        image::Rgb([v as u8, (v * 3 % 256) as u8, (x ^ y) as u8])
    }));
    let input = encode(&busy, image::ImageFormat::Png);
    for format in ["jpeg", "webp"] {
        let full = run(
            &input,
            &with_filters(&[("format", format), ("quality", "95")], Params::default()),
        );
        let limit = full.bytes().len() / 3;
        let max_bytes = limit.to_string();
        let params = with_filters(
            &[
                ("format", format),
                ("quality", "95"),
                ("max_bytes", &max_bytes),
            ],
            Params::default(),
        );
        let fitted = run(&input, &params);
        assert!(
            fitted.bytes().len() <= limit,
            "{format}: {} bytes for a limit of {limit}",
            fitted.bytes().len()
        );
        assert_eq!(decoded(&fitted).dimensions(), (320, 240));
    }
}
