//! AVIF in and out: encoding round trips, decoding imagor's `gopher-front.avif` against its
//! PNG twin, broken and oversized files through the service (4xx JSON, no panic), `/meta`,
//! and AVIF chosen from the `Accept` header.
//!
//! The fixtures are imagor's test pictures in `tests/fixtures/images/` (Apache-2.0, see the
//! README there); broken variants are made from them in memory.
#![cfg(feature = "avif")]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use http::{Request, StatusCode, header};
use image::{DynamicImage, RgbaImage};
use imagor_tower::loader::{SourceRequest, service_fn_loader};
use imagor_tower::path::{Filter, Params};
use imagor_tower::processing::{Format, Limits, Options, Overlays, ProcessError, process};
use imagor_tower::{Blob, Error, ImageService};
use support::body_bytes;
use tower::ServiceExt;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name);
    std::fs::read(path).expect("read fixture")
}

fn with_filters(filters: &[(&str, &str)]) -> Params {
    Params {
        filters: filters
            .iter()
            .map(|(name, args)| Filter::new(*name, *args))
            .collect(),
        ..Default::default()
    }
}

/// Decodes any answer of the engine (AVIF included) to RGBA by converting it to PNG first.
fn rgba(bytes: &[u8]) -> RgbaImage {
    let png = process(
        bytes,
        &with_filters(&[("format", "png")]),
        &Options::default(),
    )
    .expect("convert to PNG");
    image::load_from_memory(png.bytes())
        .expect("decode PNG")
        .to_rgba8()
}

/// Mean absolute difference per sample, colour premultiplied by alpha (the colour of a
/// transparent pixel does not show, and encoders may change it).
fn mean_error(a: &RgbaImage, b: &RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let premultiplied = |p: &image::Rgba<u8>| {
        let [r, g, b, alpha] = p.0.map(f64::from);
        [
            r * alpha / 255.0,
            g * alpha / 255.0,
            b * alpha / 255.0,
            alpha,
        ]
    };
    let total: f64 = a
        .pixels()
        .zip(b.pixels())
        .map(|(x, y)| {
            let (x, y) = (premultiplied(x), premultiplied(y));
            x.iter().zip(&y).map(|(p, q)| (p - q).abs()).sum::<f64>()
        })
        .sum();
    total / (f64::from(a.width()) * f64::from(a.height()) * 4.0)
}

/// The `ispe` boxes of a file: offsets of their width fields.
fn ispe_offsets(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"ispe")
        .map(|(at, _)| at + 8)
        .collect()
}

fn with_ispe(bytes: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let offsets = ispe_offsets(bytes);
    assert!(!offsets.is_empty(), "the fixture has ispe boxes");
    for at in offsets {
        out[at..at + 4].copy_from_slice(&width.to_be_bytes());
        out[at + 4..at + 8].copy_from_slice(&height.to_be_bytes());
    }
    out
}

#[test]
fn fixture_decodes_close_to_its_png_twin() {
    let avif = fixture("gopher-front.avif");
    assert_eq!(Format::sniff(&avif), Some(Format::Avif));
    let ours = rgba(&avif);
    let png = image::load_from_memory(&fixture("gopher-front.png"))
        .expect("decode PNG")
        .to_rgba8();
    assert_eq!(ours.dimensions(), (202, 259));
    let error = mean_error(&ours, &png);
    assert!(error < 4.0, "mean error {error:.2} against the PNG");
    // Transparent corners stay transparent, the opaque body stays opaque.
    assert_eq!(ours.get_pixel(0, 0).0[3], png.get_pixel(0, 0).0[3]);
    assert!(ours.get_pixel(101, 130).0[3] > 250);
}

#[test]
fn avif_output_round_trips() {
    let png = fixture("gopher-front.png");
    let params = with_filters(&[("format", "avif"), ("quality", "70")]);
    let output = process(&png, &params, &Options::default()).expect("encode AVIF");
    assert_eq!(output.format(), Format::Avif);
    assert_eq!(output.content_type(), "image/avif");
    assert_eq!(Format::sniff(output.bytes()), Some(Format::Avif));
    assert_eq!((output.width(), output.height()), (202, 259));
    // Smaller than the PNG, and close to it.
    assert!(
        output.bytes().len() < png.len(),
        "{} bytes",
        output.bytes().len()
    );
    let source = image::load_from_memory(&png).expect("PNG").to_rgba8();
    let error = mean_error(&rgba(output.bytes()), &source);
    assert!(error < 4.0, "mean error {error:.2}");

    // Lower quality: smaller file.
    let low = with_filters(&[("format", "avif"), ("quality", "20")]);
    let small = process(&png, &low, &Options::default()).expect("encode AVIF");
    assert!(small.bytes().len() < output.bytes().len());
}

#[test]
fn max_bytes_lowers_avif_quality_until_the_file_fits() {
    let png = fixture("gopher-front.png");
    let full = process(
        &png,
        &with_filters(&[("format", "avif"), ("quality", "90")]),
        &Options::default(),
    )
    .expect("encode AVIF");
    let limit = full.bytes().len() / 2;
    let params = with_filters(&[
        ("format", "avif"),
        ("quality", "90"),
        ("max_bytes", &limit.to_string()),
    ]);
    let fitted = process(&png, &params, &Options::default()).expect("encode AVIF");
    assert_eq!(fitted.format(), Format::Avif);
    assert!(
        fitted.bytes().len() <= limit,
        "{} bytes for a limit of {limit} (quality 90 gave {})",
        fitted.bytes().len(),
        full.bytes().len()
    );
    assert_eq!(rgba(fitted.bytes()).dimensions(), (202, 259));

    // `lossless()` turns the loop off, as for WebP.
    let lossless = with_filters(&[("format", "avif"), ("lossless", ""), ("max_bytes", "100")]);
    let exact = process(&png, &lossless, &Options::default()).expect("encode AVIF");
    assert!(exact.bytes().len() > 100);
}

#[test]
fn avif_speed_is_applied_and_every_speed_writes_a_valid_file() {
    let png = fixture("gopher-front.png");
    let params = with_filters(&[("format", "avif"), ("quality", "60")]);
    let fast = process(&png, &params, &Options::default().avif_speed(9)).expect("speed 9");
    let default = process(&png, &params, &Options::default()).expect("speed 8");
    // Speed changes the encoder's search, so the files differ; both decode to the image.
    assert_ne!(fast.bytes(), default.bytes());
    let source = image::load_from_memory(&png).expect("PNG").to_rgba8();
    for output in [&fast, &default] {
        let error = mean_error(&rgba(output.bytes()), &source);
        assert!(error < 5.0, "mean error {error:.2}");
    }
    // Out of range values are clamped, not refused.
    let clamped = process(&png, &params, &Options::default().avif_speed(200)).expect("clamped");
    assert_eq!(clamped.bytes(), fast.bytes());
}

#[test]
fn lossless_avif_is_near_exact() {
    let source = RgbaImage::from_fn(37, 23, |x, y| {
        image::Rgba([
            (x * 7) as u8,
            (y * 11) as u8,
            (x * y) as u8,
            (255 - x * 3) as u8,
        ])
    });
    let mut png = Vec::new();
    DynamicImage::ImageRgba8(source.clone())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("PNG");
    let params = with_filters(&[("format", "avif"), ("lossless", "")]);
    let output = process(&png, &params, &Options::default()).expect("encode AVIF");
    // rav1e at quantizer 0 on RGB planes: every sample within one step of the source.
    let decoded = rgba(output.bytes());
    let worst = decoded
        .as_raw()
        .iter()
        .zip(source.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max();
    assert_eq!(decoded.dimensions(), source.dimensions());
    assert!(worst.is_some_and(|w| w <= 1), "worst difference {worst:?}");
    // Far closer than the default lossy quality.
    let lossy = process(
        &png,
        &with_filters(&[("format", "avif")]),
        &Options::default(),
    )
    .expect("encode AVIF");
    assert!(mean_error(&rgba(lossy.bytes()), &source) > mean_error(&decoded, &source));
}

#[test]
fn animated_gif_to_avif_takes_the_first_frame() {
    let gif = fixture("dancing-banana.gif");
    let avif = process(
        &gif,
        &with_filters(&[("format", "avif")]),
        &Options::default(),
    )
    .expect("encode AVIF");
    assert_eq!(avif.format(), Format::Avif);
    let first = process(
        &gif,
        &with_filters(&[("format", "png")]),
        &Options::default(),
    )
    .expect("first frame as PNG");
    let first = image::load_from_memory(first.bytes())
        .expect("PNG")
        .to_rgba8();
    let error = mean_error(&rgba(avif.bytes()), &first);
    assert!(error < 6.0, "mean error {error:.2}");
}

#[test]
fn avif_sources_keep_their_format_and_resize() {
    let avif = fixture("gopher-front.avif");
    let params = Params {
        fit_in: true,
        width: 100,
        height: 100,
        ..Default::default()
    };
    let output = process(&avif, &params, &Options::default()).expect("resize AVIF");
    assert_eq!(output.format(), Format::Avif);
    assert_eq!((output.width(), output.height()), (78, 100));
    assert_eq!(rgba(output.bytes()).dimensions(), (78, 100));
}

#[test]
fn huge_ispe_is_refused_before_decoding() {
    let avif = fixture("gopher-front.avif");
    let bomb = with_ispe(&avif, 100_000, 100_000);
    let err = process(&bomb, &Params::default(), &Options::default()).expect_err("refused");
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");

    // The AV1 payload cut off: decoding it would fail with a codec error, so a 422 means
    // the size was refused first.
    let data = bomb
        .windows(4)
        .rposition(|w| w == b"mdat")
        .expect("an mdat box");
    let mut cut = bomb[..data + 12].to_vec();
    cut.extend_from_slice(&[0xff; 32]);
    let err = process(&cut, &Params::default(), &Options::default()).expect_err("refused");
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
}

#[test]
fn the_av1_header_is_checked_when_ispe_lies_small() {
    // ispe says 1×1, the AV1 sequence header says 202×259.
    let liar = with_ispe(&fixture("gopher-front.avif"), 1, 1);
    let mut limits = Limits::default();
    limits.max_width = Some(100);
    let err = process(
        &liar,
        &Params::default(),
        &Options::default().limits(limits),
    )
    .expect_err("refused");
    assert!(matches!(err, ProcessError::MaxResolution), "{err:?}");
}

/// Sources by key, served from memory.
fn service(
    images: HashMap<String, Vec<u8>>,
) -> impl Clone
+ tower::Service<
    Request<imagor_tower::body::Body>,
    Response = http::Response<imagor_tower::body::Body>,
    Error = std::convert::Infallible,
    Future = imagor_tower::service::ResponseFuture,
> {
    let images = Arc::new(images);
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
        .auto_avif(true)
        .auto_webp(true)
        .loader(memory)
}

async fn fetch<S>(service: S, uri: &str, accept: Option<&str>) -> (http::response::Parts, Vec<u8>)
where
    S: tower::Service<
            Request<imagor_tower::body::Body>,
            Response = http::Response<imagor_tower::body::Body>,
            Error = std::convert::Infallible,
        >,
{
    let mut request = Request::get(uri);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let request = request
        .body(imagor_tower::body::Body::empty())
        .expect("request");
    let Ok(res) = service.oneshot(request).await;
    let (parts, bytes) = body_bytes(res).await;
    (parts, bytes.to_vec())
}

#[tokio::test]
async fn broken_avif_answers_4xx_json() {
    let avif = fixture("gopher-front.avif");
    let mut images = HashMap::new();
    // Truncations at every 97 bytes, and the payload with flipped bits.
    for end in (0..avif.len()).step_by(97) {
        images.insert(format!("cut-{end}.avif"), avif[..end].to_vec());
    }
    for (index, start) in [450usize, 900, 1800, 3000].into_iter().enumerate() {
        let mut flipped = avif.clone();
        for byte in flipped.iter_mut().skip(start).take(64) {
            *byte ^= 0xa5;
        }
        images.insert(format!("flipped-{index}.avif"), flipped);
    }
    images.insert("bomb.avif".to_owned(), with_ispe(&avif, 100_000, 100_000));
    let keys: Vec<String> = images.keys().cloned().collect();
    let service = service(images);
    for key in keys {
        for uri in [
            format!("/unsafe/{key}"),
            format!("/unsafe/fit-in/50x50/filters:format(png)/{key}"),
            format!("/unsafe/meta/{key}"),
        ] {
            let (parts, bytes) = fetch(service.clone(), &uri, None).await;
            if parts.status.is_success() {
                // Some flipped bits only change pixels: a picture is a fine answer then.
                assert!(key.starts_with("flipped"), "{uri} answered 200");
                continue;
            }
            assert!(parts.status.is_client_error(), "{uri}: {}", parts.status);
            assert_eq!(
                parts.headers[header::CONTENT_TYPE],
                "application/json",
                "{uri}"
            );
            let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON error");
            assert_eq!(body["status"], parts.status.as_u16(), "{uri}");
            let expected = if key == "bomb.avif" {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::NOT_ACCEPTABLE
            };
            assert_eq!(parts.status, expected, "{uri}: {body}");
        }
    }
}

#[tokio::test]
async fn meta_describes_avif_sources() {
    let mut images = HashMap::new();
    images.insert("gopher.avif".to_owned(), fixture("gopher-front.avif"));
    let service = service(images);
    let (parts, bytes) = fetch(service.clone(), "/unsafe/meta/gopher.avif", None).await;
    assert_eq!(
        parts.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let meta: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(meta["format"], "avif");
    assert_eq!(meta["content_type"], "image/avif");
    assert_eq!(
        (meta["width"].as_u64(), meta["height"].as_u64()),
        (Some(202), Some(259))
    );
    assert_eq!(meta["bands"], 4);

    let (parts, bytes) = fetch(
        service,
        "/unsafe/fit-in/67x67/filters:strip_metadata()/gopher.avif",
        None,
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_TYPE], "image/avif");
    assert_eq!(rgba(&bytes).dimensions(), (52, 67));
}

#[tokio::test]
async fn auto_avif_follows_the_accept_header() {
    let mut images = HashMap::new();
    images.insert("gopher.png".to_owned(), fixture("gopher-front.png"));
    let service = service(images);
    let uri = "/unsafe/fit-in/100x100/gopher.png";

    let (parts, bytes) = fetch(service.clone(), uri, Some("image/avif,image/webp,*/*")).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_TYPE], "image/avif");
    assert_eq!(parts.headers[header::VARY], "Accept");
    assert_eq!(Format::sniff(&bytes), Some(Format::Avif));
    assert_eq!(rgba(&bytes).dimensions(), (78, 100));

    let (parts, _) = fetch(service.clone(), uri, Some("image/webp,*/*")).await;
    assert_eq!(parts.headers[header::CONTENT_TYPE], "image/webp");

    // An explicit format wins over the header.
    let explicit = "/unsafe/fit-in/100x100/filters:format(png)/gopher.png";
    let (parts, _) = fetch(service, explicit, Some("image/avif")).await;
    assert_eq!(parts.headers[header::CONTENT_TYPE], "image/png");
}

#[test]
fn avif_decoding_can_be_turned_off() {
    let avif = fixture("gopher-front.avif");
    let params = with_filters(&[("format", "png")]);
    assert!(process(&avif, &params, &Options::default()).is_ok());
    let off = Options::default().avif_decode(false);
    let err = process(&avif, &params, &off).unwrap_err();
    assert!(matches!(err, ProcessError::UnsupportedFormat), "{err:?}");
    assert_eq!(Error::from(err).status(), 406);
    // Writing AVIF still works, and other sources are still read.
    let png = process(&avif, &params, &Options::default()).unwrap();
    let written = process(png.bytes(), &with_filters(&[("format", "avif")]), &off).unwrap();
    assert_eq!(written.format(), Format::Avif);
    // An AVIF watermark is refused too, where it would otherwise be drawn.
    let overlays = Overlays::new().with_source("logo.avif", avif);
    let mark = with_filters(&[("watermark", "logo.avif,0,0,0"), ("format", "png")]);
    assert!(
        process(
            png.bytes(),
            &mark,
            &Options::default().overlays(overlays.clone())
        )
        .is_ok()
    );
    let err = process(png.bytes(), &mark, &off.overlays(overlays)).unwrap_err();
    assert!(matches!(err, ProcessError::UnsupportedFormat), "{err:?}");
}

/// A service configured as the standalone server is, from imagor-style settings.
fn configured(dir: &std::path::Path, extra: &[(&str, &str)]) -> imagor_tower::config::Config {
    let mut env = vec![
        ("FILE_LOADER_BASE_DIR".to_owned(), dir.display().to_string()),
        ("IMAGOR_UNSAFE".to_owned(), "1".to_owned()),
        ("HTTP_LOADER_DISABLE".to_owned(), "1".to_owned()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    imagor_tower::config::Config::from_sources(Vec::<String>::new(), env, |_| {
        Err(std::io::ErrorKind::NotFound.into())
    })
    .unwrap()
}

#[tokio::test]
async fn vips_avif_decode_false_answers_406_for_avif_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.avif"), fixture("gopher-front.avif")).unwrap();
    std::fs::write(dir.path().join("a.png"), fixture("gopher-front.png")).unwrap();
    let get = |uri: &str| {
        Request::get(uri)
            .body(imagor_tower::body::Body::empty())
            .unwrap()
    };

    let on = configured(dir.path(), &[]);
    assert!(on.processing.avif_decode);
    let res = on
        .service()
        .unwrap()
        .oneshot(get("/unsafe/20x0/a.avif"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    for off in [
        configured(dir.path(), &[("VIPS_AVIF_DECODE", "false")]),
        imagor_tower::config::Config::from_sources(
            [
                "-file-loader-base-dir".to_owned(),
                dir.path().display().to_string(),
                "-imagor-unsafe".to_owned(),
                "-vips-avif-decode=false".to_owned(),
            ],
            Vec::<(String, String)>::new(),
            |_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap(),
    ] {
        assert!(!off.processing.avif_decode);
        assert!(off.unsupported().is_empty(), "{:?}", off.unsupported());
        let service = off.service().unwrap();
        let res = service
            .clone()
            .oneshot(get("/unsafe/20x0/a.avif"))
            .await
            .unwrap();
        let (parts, body) = body_bytes(res).await;
        assert_eq!(parts.status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            &body[..],
            br#"{"message":"unsupported format","status":406}"#
        );
        // Other sources, and AVIF output, are not affected.
        let res = service
            .oneshot(get("/unsafe/20x0/filters:format(avif)/a.png"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "image/avif");
    }
}
