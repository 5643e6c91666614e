//! AVIF, read and written in pure Rust.
//!
//! **Reading.** `avif-parse` extracts the AV1 payloads of the primary item and of its alpha
//! item from the HEIF container; the `container` module reads the properties it leaves out
//! (`ispe` size, `irot`/`imir` transforms, `colr` colour codes or ICC profile). The size is
//! checked against the [`Limits`] twice before any pixel is decoded: the declared `ispe`
//! size, then the frame size in each AV1 sequence header (what the decoder would really
//! allocate). rav1d (the Rust port of dav1d) decodes the payloads to YUV planes of 8, 10 or
//! 12 bits; `yuv` converts them to 8-bit RGB, grey, and alpha (premultiplied alpha is
//! divided out). The rotation and mirror are applied, so the pipeline sees the image as it
//! is meant to be shown. Not supported: grid (tiled) images, animated AVIF sequences without
//! a still primary image (animated files are read as their primary image), and EXIF in
//! AVIF.
//!
//! **Writing.** ravif (rav1e) encodes 4:4:4 YCbCr at 8 bits with the request's quality,
//! at `VIPS_AVIF_SPEED` (rav1e speed 8 of 1–10 by default); alpha is kept (at a quality halfway between the request's and 100)
//! and dropped when every pixel is opaque. `lossless()` switches to RGB planes at quantizer 0:
//! near-lossless (rav1e gives every sample back within one step), not bit-exact.
//! Grey images are written as RGB. The ICC profile is not embedded.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{metadata, process, Format, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(300, 200, image::Rgb([30, 60, 200]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // `/filters:format(avif):quality(60)/...`
//! let params = Params {
//!     filters: vec![Filter::new("format", "avif"), Filter::new("quality", "60")],
//!     ..Default::default()
//! };
//! let avif = process(&png, &params, &Options::default()).unwrap();
//! assert_eq!(avif.content_type(), "image/avif");
//! assert_eq!(Format::sniff(avif.bytes()), Some(Format::Avif));
//!
//! // An AVIF source stays AVIF; `/meta` describes it.
//! let meta = metadata(avif.bytes(), &Params { meta: true, ..Default::default() }, &Options::default()).unwrap();
//! assert_eq!((meta.format(), meta.width(), meta.height(), meta.bands()), ("avif", 300, 200, 3));
//! ```

mod container;
mod dav1d;
mod yuv;

use std::borrow::Cow;

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};
use ravif::{AlphaColorMode, BitDepth, ColorModel, Encoder, Img, RGB8, RGBA8};

use super::encode_settings::EncodeSettings;
use super::error::ProcessError;
use super::limits::Limits;
use container::Transform;

pub(crate) use container::is_avif;

/// A decoded AVIF image.
#[derive(Debug)]
pub(crate) struct Still {
    /// 8-bit grey, grey + alpha, RGB or RGBA, turned as the file says.
    pub(crate) image: DynamicImage,
    /// The ICC profile of a `colr` box.
    pub(crate) icc_profile: Option<Vec<u8>>,
}

fn parse_error(err: &avif_parse::Error) -> ProcessError {
    ProcessError::image(format_args!("avif: {err}"))
}

/// The size an AVIF file shows (its `ispe` property, turned by `irot`), from the container
/// only.
pub(crate) fn header_size(input: &[u8]) -> Option<(u32, u32)> {
    container::item_info(input).shown_size()
}

/// Decodes the primary image of an AVIF file under `limits` (see the [module docs](self)).
pub(crate) fn decode(input: &[u8], limits: &Limits) -> Result<Still, ProcessError> {
    let info = container::item_info(input);
    if let Some((width, height)) = info.shown_size() {
        limits.check(width, height)?;
    }
    let items = read_items(input)?;
    let colour_header = items
        .primary_item_metadata()
        .map_err(|err| parse_error(&err))?;
    let mut headers = vec![colour_header];
    headers.extend(
        items
            .alpha_item_metadata()
            .map_err(|err| parse_error(&err))?,
    );
    for header in &headers {
        limits.check(header.max_frame_width.get(), header.max_frame_height.get())?;
    }

    let picture = dav1d::decode_av1(&items.primary_item, limits.max_resolution)?;
    let (width, height) = (side(picture.width)?, side(picture.height)?);
    limits.check(width, height)?;
    let needed = u64::from(width) * u64::from(height) * 8;
    limits.check_alloc(needed)?;
    let colour = info.cicp.map_or(picture.colour, |c| yuv::Colour {
        matrix: c.matrix,
        full_range: c.full_range,
    });
    let samples = yuv::to_8bit(&picture, colour)?;
    let alpha = match items.alpha_item.as_deref() {
        Some(payload) => {
            let mask = dav1d::decode_av1(payload, limits.max_resolution)?;
            if (mask.width, mask.height) != (picture.width, picture.height) {
                return Err(ProcessError::image("avif: alpha and colour differ in size"));
            }
            Some(yuv::alpha(&mask)?)
        }
        None => None,
    };
    let mono = picture.layout == yuv::Layout::Mono;
    let image = assemble(
        width,
        height,
        mono,
        samples,
        alpha,
        items.premultiplied_alpha,
    )?;
    Ok(Still {
        image: transform(image, &info.transforms),
        icc_profile: info.icc_profile,
    })
}

fn side(v: usize) -> Result<u32, ProcessError> {
    u32::try_from(v).map_err(|_| ProcessError::MaxResolution)
}

/// Runs `avif-parse`, which insists on the `avif` major brand: files that carry it only
/// among their compatible brands (`mif1` major) or as an image sequence (`avis`) are read
/// for their primary image all the same. Files whose boxes claim more bytes than they have
/// are refused first ([`container::sizes_fit`]): avif-parse would allocate the claimed size.
fn read_items(input: &[u8]) -> Result<avif_parse::AvifData, ProcessError> {
    if !container::sizes_fit(input) {
        return Err(ProcessError::image(
            "avif: a box is larger than the file around it",
        ));
    }
    let mut bytes = Cow::Borrowed(input);
    if input.get(8..12).is_some_and(|brand| brand != b"avif")
        && let Some(brand) = bytes.to_mut().get_mut(8..12)
    {
        brand.copy_from_slice(b"avif");
    }
    avif_parse::read_avif(&mut bytes.as_ref()).map_err(|err| parse_error(&err))
}

/// Builds the image from converted samples (grey or RGB) and an optional alpha plane.
fn assemble(
    width: u32,
    height: u32,
    mono: bool,
    samples: Vec<u8>,
    alpha: Option<Vec<u8>>,
    premultiplied: bool,
) -> Result<DynamicImage, ProcessError> {
    let channels = if mono { 1 } else { 3 };
    let mismatch = || ProcessError::image("avif: decoded samples do not match the size");
    let image = match alpha {
        None if mono => GrayImage::from_raw(width, height, samples).map(DynamicImage::ImageLuma8),
        None => RgbImage::from_raw(width, height, samples).map(DynamicImage::ImageRgb8),
        Some(alpha) => {
            if alpha.len().checked_mul(channels) != Some(samples.len()) {
                return Err(mismatch());
            }
            let mut out = Vec::with_capacity(alpha.len() * (channels + 1));
            for (colour, &a) in samples.chunks_exact(channels).zip(&alpha) {
                out.extend(colour.iter().map(|&c| {
                    if premultiplied {
                        unpremultiply(c, a)
                    } else {
                        c
                    }
                }));
                out.push(a);
            }
            if mono {
                GrayAlphaImage::from_raw(width, height, out).map(DynamicImage::ImageLumaA8)
            } else {
                RgbaImage::from_raw(width, height, out).map(DynamicImage::ImageRgba8)
            }
        }
    };
    image.ok_or_else(mismatch)
}

fn unpremultiply(c: u8, a: u8) -> u8 {
    if a == 0 {
        0
    } else {
        let v = (u32::from(c) * 255 + u32::from(a) / 2) / u32::from(a);
        u8::try_from(v).unwrap_or(u8::MAX)
    }
}

/// Applies `irot` and `imir` in the order the file lists them.
fn transform(mut image: DynamicImage, transforms: &[Transform]) -> DynamicImage {
    for step in transforms {
        image = match step {
            // `irot` turns anticlockwise; `rotate90` turns clockwise.
            Transform::Rotate(1) => image.rotate270(),
            Transform::Rotate(2) => image.rotate180(),
            Transform::Rotate(3) => image.rotate90(),
            Transform::Rotate(_) => image,
            Transform::MirrorHorizontal => image.fliph(),
            Transform::MirrorVertical => image.flipv(),
        };
    }
    image
}

/// Encodes `image` as AVIF at `settings.quality` (1–100), or losslessly.
///
/// `settings.avif_speed` is rav1e's speed, 1 (slowest) to 10. At the default 8 a 300×200
/// encode takes about 0.2 s of one core (7 makes the same file more slowly; 9 halves the time
/// for files about 20% larger).
pub(crate) fn encode(
    image: &DynamicImage,
    settings: &EncodeSettings<'_>,
) -> Result<Vec<u8>, ProcessError> {
    let (quality, lossless) = (settings.quality, settings.lossless);
    let too_large = || ProcessError::image("image too large for AVIF");
    let width = usize::try_from(image.width()).map_err(|_| too_large())?;
    let height = usize::try_from(image.height()).map_err(|_| too_large())?;
    if width == 0 || height == 0 {
        return Err(ProcessError::image(
            "avif encode failed: image has no pixels",
        ));
    }
    let quality = quality.clamp(1, 100);
    let encoder = Encoder::new()
        .with_speed(settings.avif_speed.clamp(1, 10))
        .with_bit_depth(BitDepth::Eight);
    let encoder = if lossless {
        encoder
            .with_quality(100.0)
            .with_alpha_quality(100.0)
            .with_internal_color_model(ColorModel::RGB)
            .with_alpha_color_mode(AlphaColorMode::UnassociatedDirty)
    } else {
        let alpha_quality = (u16::from(quality) + 100) / 2;
        encoder
            .with_quality(f32::from(quality))
            .with_alpha_quality(f32::from(alpha_quality))
    };
    let encoded = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        let pixels: Vec<RGBA8> = rgba
            .as_raw()
            .chunks_exact(4)
            .map(|p| match *p {
                [r, g, b, a] => RGBA8::new(r, g, b, a),
                _ => RGBA8::default(),
            })
            .collect();
        encoder.encode_rgba(Img::new(pixels.as_slice(), width, height))
    } else {
        let rgb = image.to_rgb8();
        let pixels: Vec<RGB8> = rgb
            .as_raw()
            .chunks_exact(3)
            .map(|p| match *p {
                [r, g, b] => RGB8::new(r, g, b),
                _ => RGB8::default(),
            })
            .collect();
        encoder.encode_rgb(Img::new(pixels.as_slice(), width, height))
    };
    let encoded =
        encoded.map_err(|err| ProcessError::image(format_args!("avif encode failed: {err}")))?;
    Ok(encoded.avif_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb, Rgba};

    fn settings(quality: u8, lossless: bool) -> EncodeSettings<'static> {
        EncodeSettings {
            quality,
            lossless,
            icc_profile: None,
            avif_speed: 8,
        }
    }

    fn gradient() -> RgbaImage {
        RgbaImage::from_fn(48, 32, |x, y| {
            Rgba([(x * 5) as u8, (y * 7) as u8, 120, (40 + x * 4) as u8])
        })
    }

    fn max_diff(a: &[u8], b: &[u8]) -> u8 {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn lossy_round_trip_keeps_size_alpha_and_colour() {
        let source = gradient();
        let bytes = encode(
            &DynamicImage::ImageRgba8(source.clone()),
            &settings(90, false),
        )
        .expect("encode");
        assert!(is_avif(&bytes));
        let decoded = decode(&bytes, &Limits::default()).expect("decode");
        let DynamicImage::ImageRgba8(rgba) = decoded.image else {
            panic!("expected RGBA, got {:?}", decoded.image.color());
        };
        assert_eq!(rgba.dimensions(), (48, 32));
        let mean = source
            .as_raw()
            .iter()
            .zip(rgba.as_raw())
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / source.as_raw().len() as f64;
        assert!(mean < 3.0, "mean error {mean}");
    }

    #[test]
    fn lossless_round_trip_is_within_one_step() {
        let source = DynamicImage::ImageRgba8(gradient());
        let bytes = encode(&source, &settings(50, true)).expect("encode");
        let decoded = decode(&bytes, &Limits::default()).expect("decode");
        assert!(max_diff(decoded.image.as_bytes(), source.as_bytes()) <= 1);
    }

    #[test]
    fn opaque_and_grey_images_lose_no_channels_they_need() {
        let rgb = DynamicImage::ImageRgb8(RgbImage::from_pixel(9, 7, Rgb([10, 200, 90])));
        let decoded = decode(
            &encode(&rgb, &settings(80, false)).expect("encode"),
            &Limits::default(),
        )
        .expect("decode");
        assert!(matches!(decoded.image, DynamicImage::ImageRgb8(_)));
        assert!(max_diff(decoded.image.as_bytes(), rgb.as_bytes()) <= 4);

        let grey = DynamicImage::ImageLuma8(GrayImage::from_pixel(9, 7, Luma([77])));
        let decoded = decode(
            &encode(&grey, &settings(80, false)).expect("encode"),
            &Limits::default(),
        )
        .expect("decode");
        assert_eq!(decoded.image.width(), 9);
        assert!(max_diff(decoded.image.to_luma8().as_raw(), grey.as_bytes()) <= 3);
    }

    #[test]
    fn limits_apply_before_decoding() {
        let bytes =
            encode(&DynamicImage::ImageRgba8(gradient()), &settings(60, false)).expect("encode");
        let limits = Limits {
            max_width: Some(47),
            ..Limits::default()
        };
        assert!(matches!(
            decode(&bytes, &limits),
            Err(ProcessError::MaxResolution)
        ));
    }

    #[test]
    fn broken_files_are_image_errors() {
        let bytes =
            encode(&DynamicImage::ImageRgba8(gradient()), &settings(60, false)).expect("encode");
        for end in [0, 12, 40, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..end], &Limits::default()).is_err(), "{end}");
        }
        // Flipped bits inside the AV1 payload.
        let mut corrupt = bytes;
        let tail = corrupt.len() - 40;
        for byte in &mut corrupt[tail..] {
            *byte ^= 0x5a;
        }
        let _ = decode(&corrupt, &Limits::default());
    }

    #[test]
    fn transforms_turn_and_mirror() {
        let image =
            DynamicImage::ImageLuma8(GrayImage::from_fn(3, 2, |x, y| Luma([(y * 3 + x) as u8])));
        let turned = transform(image.clone(), &[Transform::Rotate(1)]);
        // Anticlockwise: the top-right pixel comes to the top-left.
        assert_eq!((turned.width(), turned.height()), (2, 3));
        assert_eq!(turned.to_luma8().get_pixel(0, 0).0, [2]);
        let mirrored = transform(image, &[Transform::MirrorHorizontal]);
        assert_eq!(mirrored.to_luma8().get_pixel(0, 0).0, [2]);
    }

    #[test]
    fn unpremultiplies() {
        assert_eq!(unpremultiply(64, 128), 128);
        assert_eq!(unpremultiply(10, 0), 0);
        assert_eq!(unpremultiply(255, 1), 255);
    }
}
