//! Encoding the final image.
//!
//! One function per format; the settings each one uses are listed in the
//! [`processing`](super) module docs. Choices worth knowing when changing them:
//!
//! * JPEG chroma is box-averaged when subsampled (as libjpeg does), not point-sampled, and the
//!   output is baseline with standard Huffman tables (libvips' defaults for imagor).
//! * PNG uses the fast deflate level. On two corpus images it encoded 8 to 18 times faster
//!   than the default level, for files 13% to 60% larger.
//! * GIF quantises with NeuQuant at speed 10 (1 is slowest). Alpha is thresholded first as
//!   libvips' GIF writer does: alpha 128 and above is opaque, anything fainter transparent.
//! * Animated WebP goes through libwebp's animation encoder, which stores each frame as the
//!   smallest changed rectangle and merges a frame identical to the one before into it (adding
//!   up their delays), as libvips does.
//!
//! Metadata other than the ICC profile (EXIF, XMP) is not copied yet. Since images are turned
//! upright on load, copying the EXIF orientation tag unchanged would rotate them twice.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Format, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(64, 64, image::Rgb([90, 120, 200]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! let to_jpeg = |quality: &str| Params {
//!     filters: vec![Filter::new("format", "jpg"), Filter::new("quality", quality)],
//!     ..Default::default()
//! };
//! let small = process(&png, &to_jpeg("10"), &Options::default()).unwrap();
//! let large = process(&png, &to_jpeg("100"), &Options::default()).unwrap();
//! assert_eq!(small.format(), Format::Jpeg);
//! assert_eq!(Format::sniff(small.bytes()), Some(Format::Jpeg));
//! assert!(small.bytes().len() < large.bytes().len());
//! ```

use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::tiff::TiffEncoder;
use image::{Delay, DynamicImage, ExtendedColorType, Frame, ImageEncoder, RgbaImage};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType};

use super::decode::LoopCount;
use super::ops::color;
use super::{Cancel, Format, ProcessError};

/// Encoder settings for one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EncodeSettings<'a> {
    /// 1–100.
    pub(crate) quality: u8,
    /// Lossless WebP.
    pub(crate) lossless: bool,
    /// ICC profile to embed where the format allows.
    pub(crate) icc_profile: Option<&'a [u8]>,
    /// rav1e speed for AVIF, 1 (slowest) to 10.
    #[cfg_attr(not(feature = "avif"), allow(dead_code))]
    pub(crate) avif_speed: u8,
}

/// libwebp's largest side.
const WEBP_MAX_SIDE: u32 = 16383;

/// Quantiser speed for GIF output (1 = best and slowest, 30 = fastest).
const GIF_SPEED: i32 = 10;

/// Encodes `image` as `format`. The encoders run as one call each: `cancel` is checked
/// before and after it.
pub(crate) fn encode(
    image: &DynamicImage,
    format: Format,
    settings: &EncodeSettings<'_>,
    cancel: &Cancel,
) -> Result<Vec<u8>, ProcessError> {
    cancel.check()?;
    let bytes = match format {
        Format::Png => png(image, settings),
        Format::Webp => webp(image, settings),
        Format::Gif => gif(image, cancel),
        Format::Tiff => tiff(image),
        Format::Avif => super::avif::encode(image, settings),
        Format::Jpeg | Format::Bmp | Format::Svg => jpeg(image, settings),
    }?;
    cancel.check()?;
    Ok(bytes)
}

fn jpeg(image: &DynamicImage, settings: &EncodeSettings<'_>) -> Result<Vec<u8>, ProcessError> {
    let too_large = || ProcessError::image("image too large for JPEG (65535 pixels per side)");
    let width = u16::try_from(image.width()).map_err(|_| too_large())?;
    let height = u16::try_from(image.height()).map_err(|_| too_large())?;
    let opaque = color::without_alpha(image);
    let converted;
    let (samples, color_type) = match &*opaque {
        DynamicImage::ImageLuma8(buffer) => (buffer.as_raw().as_slice(), ColorType::Luma),
        DynamicImage::ImageRgb8(buffer) => (buffer.as_raw().as_slice(), ColorType::Rgb),
        other => {
            converted = other.to_rgb8();
            (converted.as_raw().as_slice(), ColorType::Rgb)
        }
    };
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, settings.quality.clamp(1, 100));
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    if let Some(profile) = settings.icc_profile {
        // A profile too large for APP2 segments is dropped rather than failing the image.
        let _ = encoder.add_icc_profile(profile);
    }
    encoder
        .encode(samples, width, height, color_type)
        .map_err(|err| ProcessError::image(format_args!("jpeg encode failed: {err}")))?;
    Ok(out)
}

fn png(image: &DynamicImage, settings: &EncodeSettings<'_>) -> Result<Vec<u8>, ProcessError> {
    let converted;
    let image = match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        other => {
            converted = DynamicImage::ImageRgba8(other.to_rgba8());
            &converted
        }
    };
    let mut out = Vec::new();
    let mut encoder =
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
    if let Some(profile) = settings.icc_profile {
        // Unsupported profiles are dropped rather than failing the image.
        let _ = encoder.set_icc_profile(profile.to_vec());
    }
    encoder
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .map_err(|err| ProcessError::image(format_args!("png encode failed: {err}")))?;
    Ok(out)
}

fn webp(image: &DynamicImage, settings: &EncodeSettings<'_>) -> Result<Vec<u8>, ProcessError> {
    let (width, height) = (image.width(), image.height());
    if width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE {
        return Err(ProcessError::image(
            "image too large for WebP (16383 pixels per side)",
        ));
    }
    let converted;
    let (samples, layout) = match image {
        DynamicImage::ImageRgb8(buffer) => (buffer.as_raw().as_slice(), webp::PixelLayout::Rgb),
        DynamicImage::ImageRgba8(buffer) => (buffer.as_raw().as_slice(), webp::PixelLayout::Rgba),
        other if other.color().has_alpha() => {
            converted = other.to_rgba8().into_raw();
            (converted.as_slice(), webp::PixelLayout::Rgba)
        }
        other => {
            converted = other.to_rgb8().into_raw();
            (converted.as_slice(), webp::PixelLayout::Rgb)
        }
    };
    encode_webp(samples, layout, width, height, settings)
}

fn encode_webp(
    samples: &[u8],
    layout: webp::PixelLayout,
    width: u32,
    height: u32,
    settings: &EncodeSettings<'_>,
) -> Result<Vec<u8>, ProcessError> {
    let config = webp_config(settings)?;
    let memory = webp::Encoder::new(samples, layout, width, height)
        .encode_advanced(&config)
        .map_err(|err| ProcessError::image(format_args!("webp encode failed: {err:?}")))?;
    Ok(memory.to_vec())
}

fn webp_config(settings: &EncodeSettings<'_>) -> Result<webp::WebPConfig, ProcessError> {
    let mut config = webp::WebPConfig::new()
        .map_err(|()| ProcessError::image("webp encoder configuration failed"))?;
    config.quality = f32::from(settings.quality.min(100));
    config.lossless = i32::from(settings.lossless);
    config.method = 4;
    Ok(config)
}

/// The longest frame libwebp stores, in milliseconds (24 bits).
const WEBP_MAX_DELAY_MS: u32 = (1 << 24) - 1;

/// Encodes RGBA frames of one size, with their delays, as an animated WebP that plays
/// `loop_count` times: lossy at the quality, or lossless with `settings.lossless`.
///
/// `cancel` is checked before every frame is handed to libwebp and around the final encode
/// (libwebp encodes the frames as they are added).
pub(crate) fn webp_animation(
    frames: &[(RgbaImage, Delay)],
    loop_count: LoopCount,
    settings: &EncodeSettings<'_>,
    cancel: &Cancel,
) -> Result<Vec<u8>, ProcessError> {
    let Some((first, _)) = frames.first() else {
        return Err(ProcessError::image("animation has no frames"));
    };
    let (width, height) = first.dimensions();
    if width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE {
        return Err(ProcessError::image(
            "image too large for WebP (16383 pixels per side)",
        ));
    }
    // libwebp reads width × height pixels from every frame.
    if frames
        .iter()
        .any(|(frame, _)| frame.dimensions() != (width, height))
    {
        return Err(ProcessError::image("animation frames differ in size"));
    }
    let durations: Vec<u32> = frames
        .iter()
        .map(|(_, delay)| {
            let (numer, denom) = delay.numer_denom_ms();
            (numer / denom.max(1)).min(WEBP_MAX_DELAY_MS)
        })
        .collect();
    let config = webp_config(settings)?;
    let mut encoder = webp::AnimEncoder::new(width, height, &config);
    encoder.set_loop_count(match loop_count {
        LoopCount::Forever => 0,
        LoopCount::Times(n) => i32::from(n),
    });
    for ((frame, _), start) in frames.iter().zip(webp_timestamps(&durations)) {
        cancel.check()?;
        encoder.add_frame(webp::AnimFrame::from_rgba(
            frame.as_raw(),
            width,
            height,
            start,
        ));
    }
    cancel.check()?;
    let memory = encoder
        .try_encode()
        .map_err(|err| ProcessError::image(format_args!("webp encode failed: {err:?}")))?;
    cancel.check()?;
    Ok(memory.to_vec())
}

/// Start times for frames of `durations` milliseconds, ending at 0.
///
/// libwebp learns a frame's duration from the next frame's start, and the last one's from the
/// end time given when the animation is closed, which the `webp` crate always gives as 0. So
/// the frames start at minus the total: the last one then ends at 0 and keeps its own delay
/// (libwebp counts time modulo 2³², so the negative starts are fine). An animation longer
/// than `i32::MAX` milliseconds starts at 0 instead, and libwebp gives its last frame the
/// average delay.
fn webp_timestamps(durations: &[u32]) -> Vec<i32> {
    let total: i64 = durations.iter().map(|&d| i64::from(d)).sum();
    let mut start = i32::try_from(total).map_or(0, |total| -total);
    durations
        .iter()
        .map(|&duration| {
            let at = start;
            start = start.saturating_add(i32::try_from(duration).unwrap_or(i32::MAX));
            at
        })
        .collect()
}

fn gif(image: &DynamicImage, cancel: &Cancel) -> Result<Vec<u8>, ProcessError> {
    let mut converted;
    let (samples, color) = match image {
        DynamicImage::ImageRgb8(buffer) => (buffer.as_raw().as_slice(), ExtendedColorType::Rgb8),
        other => {
            converted = other.to_rgba8();
            threshold_alpha(&mut converted, cancel)?;
            (converted.as_raw().as_slice(), ExtendedColorType::Rgba8)
        }
    };
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, GIF_SPEED);
        encoder
            .encode(samples, image.width(), image.height(), color)
            .map_err(|err| ProcessError::image(format_args!("gif encode failed: {err}")))?;
        // Dropping the encoder writes the GIF trailer.
    }
    Ok(out)
}

/// GIF has one transparent palette entry and no partial alpha. As libvips' GIF writer does,
/// a pixel at least half opaque (alpha >= 128) becomes opaque and any other pixel becomes
/// transparent black; the quantiser would otherwise turn every faint edge pixel (resampling
/// fringes of alpha 1 to 127) into an opaque dark halo.
fn threshold_alpha(buffer: &mut RgbaImage, cancel: &Cancel) -> Result<(), ProcessError> {
    let mut meter = cancel.meter();
    let width = buffer.width() as usize;
    for row in buffer.rows_mut() {
        meter.tick(width * 4)?;
        for pixel in row {
            pixel.0 = if pixel.0[3] >= 128 {
                [pixel.0[0], pixel.0[1], pixel.0[2], 255]
            } else {
                [0; 4]
            };
        }
    }
    Ok(())
}

/// Encodes RGBA frames with their delays as an animated GIF that plays `loop_count` times.
/// Each frame is quantised and compressed on its own: `cancel` is checked between frames.
pub(crate) fn gif_animation(
    frames: Vec<(RgbaImage, Delay)>,
    loop_count: LoopCount,
    cancel: &Cancel,
) -> Result<Vec<u8>, ProcessError> {
    let failed =
        |err: image::ImageError| ProcessError::image(format_args!("gif encode failed: {err}"));
    let repeat = match loop_count {
        LoopCount::Forever => Repeat::Infinite,
        LoopCount::Times(n) => Repeat::Finite(n),
    };
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, GIF_SPEED);
        encoder.set_repeat(repeat).map_err(failed)?;
        for (mut buffer, delay) in frames {
            cancel.check()?;
            threshold_alpha(&mut buffer, cancel)?;
            encoder
                .encode_frame(Frame::from_parts(buffer, 0, 0, delay))
                .map_err(failed)?;
        }
        // Dropping the encoder writes the GIF trailer.
    }
    cancel.check()?;
    Ok(out)
}

fn tiff(image: &DynamicImage) -> Result<Vec<u8>, ProcessError> {
    let converted;
    let image = match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => {
            image
        }
        other => {
            converted = DynamicImage::ImageRgba8(other.to_rgba8());
            &converted
        }
    };
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .map_err(|err| ProcessError::image(format_args!("tiff encode failed: {err}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, LumaA, Rgba};

    const SETTINGS: EncodeSettings<'static> = EncodeSettings {
        quality: 75,
        lossless: false,
        icc_profile: None,
        avif_speed: 8,
    };

    fn layouts() -> Vec<DynamicImage> {
        vec![
            DynamicImage::ImageLuma8(ImageBuffer::from_pixel(5, 3, Luma([128]))),
            DynamicImage::ImageLumaA8(ImageBuffer::from_pixel(5, 3, LumaA([128, 200]))),
            DynamicImage::ImageRgb8(ImageBuffer::from_pixel(5, 3, image::Rgb([1, 2, 3]))),
            DynamicImage::ImageRgba8(ImageBuffer::from_pixel(5, 3, Rgba([1, 2, 3, 4]))),
        ]
    }

    #[test]
    fn every_layout_encodes_to_every_format() {
        for format in [
            Format::Jpeg,
            Format::Png,
            Format::Webp,
            Format::Gif,
            Format::Tiff,
        ] {
            for image in layouts() {
                let bytes = encode(&image, format, &SETTINGS, &Cancel::new())
                    .unwrap_or_else(|err| panic!("{format} {:?}: {err}", image.color()));
                assert_eq!(Format::sniff(&bytes), Some(format));
                let decoded = image::load_from_memory(&bytes).expect("decodes");
                assert_eq!((decoded.width(), decoded.height()), (5, 3));
            }
        }
    }

    #[test]
    fn png_keeps_the_layout() {
        for image in layouts() {
            let bytes = encode(&image, Format::Png, &SETTINGS, &Cancel::new()).expect("png");
            let decoded = image::load_from_memory(&bytes).expect("decodes");
            assert_eq!(decoded, image);
        }
    }

    #[test]
    fn lossless_webp_round_trips() {
        let image = DynamicImage::ImageRgba8(ImageBuffer::from_fn(7, 5, |x, y| {
            Rgba([x as u8 * 30, y as u8 * 40, 90, 255])
        }));
        let settings = EncodeSettings {
            lossless: true,
            ..SETTINGS
        };
        let bytes = encode(&image, Format::Webp, &settings, &Cancel::new()).expect("webp");
        let decoded = image::load_from_memory(&bytes).expect("decodes").to_rgba8();
        assert_eq!(decoded.as_raw(), image.to_rgba8().as_raw());
    }

    #[test]
    fn oversized_images_fail_cleanly() {
        let wide = DynamicImage::ImageLuma8(ImageBuffer::new(70_000, 1));
        assert!(matches!(
            encode(&wide, Format::Jpeg, &SETTINGS, &Cancel::new()),
            Err(ProcessError::Image(_))
        ));
        assert!(matches!(
            encode(&wide, Format::Webp, &SETTINGS, &Cancel::new()),
            Err(ProcessError::Image(_))
        ));
        assert!(matches!(
            encode(&wide, Format::Gif, &SETTINGS, &Cancel::new()),
            Err(ProcessError::Image(_))
        ));
    }

    #[test]
    fn webp_frames_end_at_zero() {
        assert_eq!(webp_timestamps(&[100, 50, 70]), vec![-220, -120, -70]);
        assert_eq!(webp_timestamps(&[0, 0]), vec![0, 0]);
        assert!(webp_timestamps(&[]).is_empty());
        // Too long to end at 0: start at 0 instead.
        let long = [u32::MAX / 2, u32::MAX / 2];
        assert_eq!(webp_timestamps(&long)[0], 0);
    }

    #[test]
    fn webp_animation_refuses_mismatched_frames() {
        let delay = Delay::from_numer_denom_ms(10, 1);
        let frames = [(RgbaImage::new(4, 4), delay), (RgbaImage::new(4, 3), delay)];
        assert!(matches!(
            webp_animation(&frames, LoopCount::Forever, &SETTINGS, &Cancel::new()),
            Err(ProcessError::Image(_))
        ));
        assert!(webp_animation(&[], LoopCount::Forever, &SETTINGS, &Cancel::new()).is_err());
    }

    #[test]
    fn jpeg_keeps_the_icc_profile() {
        let profile = b"not really a profile, but bytes to carry".to_vec();
        let settings = EncodeSettings {
            icc_profile: Some(&profile),
            ..SETTINGS
        };
        let image = DynamicImage::ImageRgb8(ImageBuffer::new(8, 8));
        let bytes = encode(&image, Format::Jpeg, &settings, &Cancel::new()).expect("jpeg");
        assert!(bytes.windows(12).any(|w| w == b"ICC_PROFILE\0"));
    }
}
