//! `text(...)` and `label(...)`: where the ink lands, colour, alpha and blend, wrapping,
//! `b64:` text, label positions, font faces, animations, and the 400 answers for arguments
//! that are refused. Pixels are checked against the same request without the filter.

mod support;

use std::io::Cursor;
use std::time::{Duration, Instant};

use http::StatusCode;
use image::{AnimationDecoder, GenericImageView, RgbaImage};
use imagor_tower::ImageService;
use imagor_tower::loader::FileLoader;
use imagor_tower::path::{Filter, Params};
use imagor_tower::processing::{Options, ProcessError, process};
use support::{body_bytes, get};
use tower::ServiceExt;

const WHITE: [u8; 3] = [255, 255, 255];

fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb(rgb))
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("encode fixture");
    bytes
}

fn params(filters: &[(&str, &str)]) -> Params {
    Params {
        filters: filters
            .iter()
            .map(|(name, args)| Filter::new(*name, *args))
            .collect(),
        ..Params::default()
    }
}

/// Runs the filters on `input` and decodes the first frame.
fn run(input: &[u8], filters: &[(&str, &str)]) -> RgbaImage {
    let output = process(input, &params(filters), &Options::default()).expect("processed");
    image::load_from_memory(output.bytes())
        .expect("decodable")
        .to_rgba8()
}

/// The pixels where `a` and `b` differ by more than `threshold` on any channel, as an
/// inclusive box (left, top, right, bottom); `None` when they do not differ.
fn changed(a: &RgbaImage, b: &RgbaImage, threshold: u8) -> Option<(u32, u32, u32, u32)> {
    assert_eq!(a.dimensions(), b.dimensions());
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in a.enumerate_pixels() {
        let q = b.get_pixel(x, y);
        if p.0.iter().zip(q.0).any(|(&u, v)| u.abs_diff(v) > threshold) {
            found = Some(match found {
                None => (x, y, x, y),
                Some((l, t, r, bottom)) => (l.min(x), t.min(y), r.max(x), bottom.max(y)),
            });
        }
    }
    found
}

fn rgb(image: &RgbaImage, x: u32, y: u32) -> [u8; 3] {
    let [r, g, b, _] = image.get_pixel(x, y).0;
    [r, g, b]
}

/// The pixel of `image` farthest from white.
fn strongest(image: &RgbaImage) -> [u8; 3] {
    image
        .pixels()
        .map(|p| [p.0[0], p.0[1], p.0[2]])
        .max_by_key(|c| c.iter().map(|&v| 255 - u32::from(v)).sum::<u32>())
        .unwrap_or(WHITE)
}

#[test]
fn text_changes_pixels_only_inside_its_box() {
    let canvas = png(200, 100, WHITE);
    let plain = run(&canvas, &[]);
    let drawn = run(&canvas, &[("text", "IMAGOR,20,30,sans-20,black")]);
    let (left, top, right, bottom) = changed(&plain, &drawn, 0).expect("text drawn");
    // The ink box starts at the position; "IMAGOR" in 20-pixel DejaVu Sans is about 81 × 16.
    assert!(left == 20 && top == 30, "{left},{top}");
    assert!((95..=104).contains(&right), "right {right}");
    assert!((43..=47).contains(&bottom), "bottom {bottom}");
    assert_eq!(rgb(&drawn, 10, 10), WHITE);
    assert_eq!(rgb(&drawn, 150, 80), WHITE);
}

#[test]
fn colour_alpha_and_blend() {
    let canvas = png(120, 40, WHITE);
    let opaque = run(&canvas, &[("text", "IMAGOR,5,5,sans-24,red")]);
    assert_eq!(strongest(&opaque), [255, 0, 0]);
    let half = run(&canvas, &[("text", "IMAGOR,5,5,sans-24,red,50")]);
    let [r, g, b] = strongest(&half);
    assert!(r == 255 && (125..=130).contains(&g) && (125..=130).contains(&b));
    let hidden = run(&canvas, &[("text", "IMAGOR,5,5,sans-24,red,100")]);
    assert!(changed(&run(&canvas, &[]), &hidden, 0).is_none());
    let hex = run(&canvas, &[("text", "IMAGOR,5,5,sans-24,00ff00")]);
    assert_eq!(strongest(&hex), [0, 255, 0]);

    // Blue on yellow: normal gives blue, multiply gives black.
    let yellow = png(120, 40, [255, 255, 0]);
    let normal = run(&yellow, &[("text", "IMAGOR,5,5,sans-bold-24,blue")]);
    let multiply = run(
        &yellow,
        &[("text", "IMAGOR,5,5,sans-bold-24,blue,0,multiply")],
    );
    let covered = normal
        .enumerate_pixels()
        .find(|(_, _, p)| p.0[..3] == [0, 0, 255])
        .map(|(x, y, _)| (x, y))
        .expect("a fully covered pixel");
    assert_eq!(rgb(&multiply, covered.0, covered.1), [0, 0, 0]);
}

#[test]
fn text_wraps_at_the_width() {
    let canvas = png(300, 120, WHITE);
    let plain = run(&canvas, &[]);
    let text = "Hello World from imagor";
    let one_line = run(&canvas, &[("text", &format!("{text},0,0,sans-18"))]);
    let (_, _, right, bottom) = changed(&plain, &one_line, 0).expect("drawn");
    assert!(right > 200 && bottom < 20, "{right} {bottom}");

    for width in ["120", "40p", "0.4", "f-180"] {
        let args = format!("{text},0,0,sans-18,black,0,normal,{width}");
        let wrapped = run(&canvas, &[("text", &args)]);
        let (_, _, right, bottom) = changed(&plain, &wrapped, 0).expect("drawn");
        assert!(right < 120, "{width}: right {right}");
        assert!(
            (35..45).contains(&bottom),
            "{width}: two lines, bottom {bottom}"
        );
    }
    // Centred lines: the shorter first line starts right of the longer second one.
    let args = format!("{text},0,0,sans-18,black,0,normal,120,centre");
    let centred = run(&canvas, &[("text", &args)]);
    let first = changed(
        &plain.view(0, 0, 300, 17).to_image(),
        &centred.view(0, 0, 300, 17).to_image(),
        0,
    );
    assert!(first.is_some_and(|(left, ..)| left >= 3), "{first:?}");
    // Newlines break without a width.
    let lines = run(&canvas, &[("text", "one%0Atwo,0,0,sans-18")]);
    let (_, _, _, bottom) = changed(&plain, &lines, 0).expect("drawn");
    assert!((30..45).contains(&bottom));
}

#[test]
fn base64_text_draws_the_same() {
    let canvas = png(200, 60, WHITE);
    // b64 of "Hello World".
    let encoded = run(&canvas, &[("text", "b64:SGVsbG8gV29ybGQ,10,10,sans-18")]);
    let plain = run(&canvas, &[("text", "Hello World,10,10,sans-18")]);
    let escaped = run(&canvas, &[("text", "Hello%20World,10,10,sans-18")]);
    assert_eq!(encoded, plain);
    assert_eq!(escaped, plain);
    assert!(changed(&run(&canvas, &[]), &plain, 0).is_some());
}

#[test]
fn label_positions() {
    let canvas = png(320, 220, [255, 255, 0]);
    let plain = run(&canvas, &[]);
    let ink = |args: &str| {
        let drawn = run(&canvas, &[("label", args)]);
        changed(&plain, &drawn, 0).expect("label drawn")
    };
    let (left, top, right, bottom) = ink("IMAGOR,left,top,30,red");
    assert_eq!((left, top), (0, 0));
    // The ink fits in 30 rows; the box is padded to 30 rows.
    assert!((27..=29).contains(&bottom), "bottom {bottom}");
    let width = right + 1;
    assert!((140..170).contains(&width), "width {width}");

    // right-30 / bottom-20 move the box 30 and 20 pixels outward past the edges (clipped).
    let (l, t, r, b) = ink("IMAGOR,right-30,bottom-20,30,green");
    assert_eq!((l, t, r, b), (320 - width + 30, 220 - 30 + 20, 319, 219));
    let (l, t, r, _) = ink("IMAGOR,right,bottom,30,green");
    assert_eq!((l, t, r), (320 - width, 220 - 30, 319));

    let (l, t, ..) = ink("IMAGOR,center,center,30,blue");
    assert_eq!(l, (320 - width) / 2);
    assert_eq!(t, (220 - 30) / 2);

    // Outward offsets and negative numbers, as watermark positions take them.
    let (l, t, ..) = ink("IMAGOR,l-20,t-10,30,blue");
    assert_eq!((l, t), (0, 0));
    let (_, _, r, _) = ink("IMAGOR,-15,-10,30,red");
    assert_eq!(r, 320 - 15 - 1);
    let (l, t, ..) = ink("IMAGOR,10p,0.1,30,red");
    assert_eq!((l, t), (32, 22));

    // Defaults: size 20, black.
    let (_, top, _, bottom) = ink("IMAGOR,0,0");
    assert!(top == 0 && (17..=19).contains(&bottom), "{bottom}");
    let drawn = run(&canvas, &[("label", "IMAGOR,0,0")]);
    assert!(drawn.pixels().any(|p| p.0[..3] == [0, 0, 0]));
}

#[test]
fn bold_and_monospace_faces() {
    let canvas = png(300, 60, WHITE);
    let plain = run(&canvas, &[]);
    let width = |font: &str| {
        let drawn = run(&canvas, &[("text", &format!("illicit,0,0,{font}"))]);
        let (left, _, right, _) = changed(&plain, &drawn, 0).expect("drawn");
        right - left + 1
    };
    let regular = width("sans-24");
    let bold = width("sans-bold-24");
    let mono = width("monospace-24");
    assert!(bold > regular, "bold {bold}, regular {regular}");
    // Narrow letters take a whole cell in monospace.
    assert!(mono > bold, "mono {mono}, bold {bold}");
    // Unknown families are sans.
    assert_eq!(width("tahoma-24"), regular);
    // dpi 144 doubles the size.
    let doubled = run(
        &canvas,
        &[("text", "illicit,0,0,sans-12,black,0,normal,,,,,,144")],
    );
    let (left, _, right, _) = changed(&plain, &doubled, 0).expect("drawn");
    assert!((right - left + 1).abs_diff(regular) <= 2);
}

#[test]
fn grey_canvas_gains_alpha_and_blank_text_is_a_no_op() {
    let mut grey = Vec::new();
    image::GrayImage::from_pixel(60, 30, image::Luma([200]))
        .write_to(&mut Cursor::new(&mut grey), image::ImageFormat::Png)
        .expect("encode");
    let output = process(
        &grey,
        &params(&[("text", "Hi,0,0,sans-20,red")]),
        &Options::default(),
    )
    .expect("processed");
    let decoded = image::load_from_memory(output.bytes()).expect("decodable");
    assert!(decoded.color().has_alpha());
    assert!(decoded.to_rgba8().pixels().any(|p| p.0 == [255, 0, 0, 255]));

    let canvas = png(60, 30, WHITE);
    for filter in [
        ("text", "   ,0,0"),
        ("text", ""),
        ("label", "%20,0,0"),
        ("text", "Hi,500,0"),
    ] {
        let out = process(&canvas, &params(&[filter]), &Options::default()).expect("ok");
        let pixels = image::load_from_memory(out.bytes()).expect("ok").to_rgba8();
        assert!(
            changed(&run(&canvas, &[]), &pixels, 0).is_none(),
            "{filter:?}"
        );
    }
}

#[test]
fn every_frame_of_an_animation_gets_the_text() {
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        encoder
            .set_repeat(image::codecs::gif::Repeat::Infinite)
            .expect("repeat");
        for shade in [255u8, 230] {
            let frame = RgbaImage::from_pixel(80, 40, image::Rgba([shade, shade, shade, 255]));
            encoder
                .encode_frame(image::Frame::new(frame))
                .expect("frame");
        }
    }
    let output = process(
        &gif,
        &params(&[("label", "GO,0,0,30,red")]),
        &Options::default(),
    )
    .expect("processed");
    let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(output.bytes())).expect("gif");
    let frames: Vec<RgbaImage> = decoder
        .into_frames()
        .map(|f| f.expect("frame").into_buffer())
        .collect();
    assert_eq!(frames.len(), 2);
    for frame in &frames {
        let red = frame
            .pixels()
            .filter(|p| p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60)
            .count();
        assert!(red > 50, "{red} red pixels");
        assert!(rgb(frame, 70, 35)[1] > 200);
    }
}

#[test]
fn refused_arguments_are_bad_requests() {
    let canvas = png(50, 50, WHITE);
    let long = "x".repeat(1001);
    let cases = [
        ("text", format!("{long},0,0")),
        ("text", "Hi,0,0,sans-5000".to_owned()),
        ("text", "Hi,0,0,sans-20px-bold-9000px".to_owned()),
        ("text", "Hi,0,0,sans-20,black,0,normal,,,,,-1".to_owned()),
        ("text", "Hi,0,0,sans-20,black,0,normal,,,,,0,0".to_owned()),
        (
            "text",
            "Hi,0,0,sans-600,black,0,normal,,,,,0,200".to_owned(),
        ),
        ("label", "Hi,0,0,5000".to_owned()),
        ("label", format!("{long},0,0")),
    ];
    for (name, args) in cases {
        let result = process(&canvas, &params(&[(name, &args)]), &Options::default());
        assert!(
            matches!(result, Err(ProcessError::BadRequest(_))),
            "{name}({}): {result:?}",
            args.chars().take(60).collect::<String>()
        );
    }
    // The largest font size is drawn (only the visible part), quickly.
    let started = Instant::now();
    let big = run(&canvas, &[("text", "WWWWWWWWWW,0,0,sans-1000")]);
    assert!(big.pixels().any(|p| p.0[..3] == [0, 0, 0]));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_text_arguments_answer_400_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("canvas.png"), png(50, 50, WHITE)).expect("fixture");
    let service = ImageService::new()
        .unsafe_urls(true)
        .loader(FileLoader::new(dir.path()).expect("loader"));
    let started = Instant::now();
    for path in [
        "/unsafe/filters:text(IMAGOR,0,0,sans-99999999)/canvas.png",
        "/unsafe/filters:label(IMAGOR,0,0,99999999)/canvas.png",
        "/unsafe/filters:text(Hi,0,0,sans-20,red,0,normal,,,,,-5)/canvas.png",
    ] {
        let Ok(res) = service.clone().oneshot(get(path)).await;
        let (parts, body) = body_bytes(res).await;
        assert_eq!(parts.status, StatusCode::BAD_REQUEST, "{path}");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
        assert_eq!(json["status"], 400);
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let Ok(res) = service
        .oneshot(get("/unsafe/filters:text(Hi,0,0,sans-20,red)/canvas.png"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn odd_arguments_never_panic() {
    let canvas = png(64, 48, WHITE);
    let cases = [
        ("text", "Hi,0,0,sans-0.001"),
        ("text", "Hi,0,0,sans-0.3px"),
        ("text", "%0A%0A%0A,0,0"),
        ("text", "Hi,99999999999999999999,-99999999999999999999"),
        (
            "text",
            "Hi,right-99999999999999999999,b-99999999999999999999",
        ),
        (
            "text",
            "Hi,-0.99999,0.5p,sans-20,nope,nan,nope,f-99999999999999999999",
        ),
        (
            "text",
            "Hi there you,0,0,sans-20,black,inf,overlay,1,right,true,char,3",
        ),
        (
            "text",
            "Hi there,0,0,sans-20,black,-50,mask,0.5,centre,1,wordchar,0,1",
        ),
        (
            "text",
            "\u{0301}\u{0301}x\ty\u{200b}z\u{1F600},center,center,mono-bold-12",
        ),
        ("label", "Hi,0,0,1"),
        ("label", ",0,0,20"),
        ("label", "Hi,center,center,abc,auto,200,sans-bold-400"),
        ("label", "...,0,0,1000"),
    ];
    for (name, args) in cases {
        match process(&canvas, &params(&[(name, args)]), &Options::default()) {
            Ok(output) => assert!(image::load_from_memory(output.bytes()).is_ok()),
            Err(err) => assert!(
                matches!(err, ProcessError::BadRequest(_)),
                "{name}({args}): {err}"
            ),
        }
    }
}

#[test]
fn repeat_tiles_the_text() {
    let canvas = png(120, 60, WHITE);
    let plain = run(&canvas, &[]);
    let tiled = run(&canvas, &[("text", "A,repeat,repeat,sans-10,black")]);
    let (left, top, right, bottom) = changed(&plain, &tiled, 0).expect("drawn");
    assert!(left < 10 && top < 10 && right > 110 && bottom > 50);
}
