//! Encoding the final image.
//!
//! One function per format; the settings each one uses are listed in the
//! [`processing`](super) module docs. Choices worth knowing when changing them:
//!
//! * JPEG chroma is box-averaged when subsampled (as libjpeg does), not point-sampled, and the
//!   output is baseline with standard Huffman tables (libvips' defaults for imagor).
//! * PNG uses the fast deflate level. On two corpus images it encoded 8 to 18 times faster
//!   than the default level, for files 13% to 60% larger.
//! * GIF frames are quantised by our own quantiser (`quantize`: exact colours when a frame
//!   has 256 or fewer, otherwise Wu's quantiser, nearest colour, no dithering) and written as
//!   indexed frames with a local palette each. Alpha is thresholded first as libvips' GIF
//!   writer does: alpha 128 and above is opaque, anything fainter transparent.
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

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::tiff::TiffEncoder;
use image::{Delay, DynamicImage, ImageEncoder, RgbaImage};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType};

use super::cancel::Cancel;
use super::decoded::LoopCount;
use super::encode_settings::EncodeSettings;
use super::error::ProcessError;
use super::format::Format;
use super::ops::color;
use super::quantize::{self, Indexed};

/// libwebp's largest side.
const WEBP_MAX_SIDE: u32 = 16383;

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
    let (width, height) = gif_size(image.width(), image.height())?;
    let (rgb, mut rgba);
    let (samples, channels) = match image {
        DynamicImage::ImageRgb8(buffer) => (buffer.as_raw().as_slice(), 3),
        other if other.color().has_alpha() => {
            rgba = other.to_rgba8();
            threshold_alpha(&mut rgba, cancel)?;
            (rgba.as_raw().as_slice(), 4)
        }
        other => {
            rgb = other.to_rgb8();
            (rgb.as_raw().as_slice(), 3)
        }
    };
    let frame = gif_frame(samples, channels, (width, height), cancel)?;
    let mut writer =
        gif::Encoder::new(Vec::new(), width, height, &[]).map_err(|err| gif_failed(&err))?;
    writer.write_frame(&frame).map_err(|err| gif_failed(&err))?;
    // Writes the GIF trailer.
    writer.into_inner().map_err(|err| gif_failed(&err))
}

/// A GIF side: at most 65,535 pixels.
fn gif_size(width: u32, height: u32) -> Result<(u16, u16), ProcessError> {
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(width), Ok(height)) => Ok((width, height)),
        _ => Err(ProcessError::image(
            "image too large for GIF (65535 pixels per side)",
        )),
    }
}

fn gif_failed(err: &gif::EncodingError) -> ProcessError {
    ProcessError::image(format_args!("gif encode failed: {err}"))
}

/// Quantises `samples` (RGB or thresholded RGBA, `channels` per pixel) into one indexed GIF
/// frame with its own palette, to be drawn over a cleared canvas. The quantiser ticks a meter
/// on `cancel`.
fn gif_frame(
    samples: &[u8],
    channels: usize,
    (width, height): (u16, u16),
    cancel: &Cancel,
) -> Result<gif::Frame<'static>, ProcessError> {
    let Indexed {
        palette,
        indices,
        transparent,
    } = quantize::quantize(samples, channels, &mut cancel.meter())?;
    Ok(gif::Frame {
        width,
        height,
        buffer: indices.into(),
        palette: Some(palette),
        transparent,
        dispose: gif::DisposalMethod::Background,
        ..gif::Frame::default()
    })
}

/// A frame delay in GIF's hundredths of a second (rounded down, as `image` did), at most
/// 655.35 s.
fn gif_delay(delay: Delay) -> u16 {
    let (numer, denom) = delay.numer_denom_ms();
    u16::try_from(numer / denom.max(1) / 10).unwrap_or(u16::MAX)
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

/// Encodes RGBA frames with their delays as an animated GIF that plays `loop_count` times,
/// on a canvas of the first frame's size. Each frame is quantised and compressed on its own:
/// `cancel` is checked between frames and inside the quantiser.
pub(crate) fn gif_animation(
    frames: Vec<(RgbaImage, Delay)>,
    loop_count: LoopCount,
    cancel: &Cancel,
) -> Result<Vec<u8>, ProcessError> {
    let Some((first, _)) = frames.first() else {
        return Err(ProcessError::image("animation has no frames"));
    };
    let (width, height) = gif_size(first.width(), first.height())?;
    let mut writer =
        gif::Encoder::new(Vec::new(), width, height, &[]).map_err(|err| gif_failed(&err))?;
    writer
        .set_repeat(match loop_count {
            LoopCount::Forever => gif::Repeat::Infinite,
            LoopCount::Times(n) => gif::Repeat::Finite(n),
        })
        .map_err(|err| gif_failed(&err))?;
    for (mut buffer, delay) in frames {
        cancel.check()?;
        threshold_alpha(&mut buffer, cancel)?;
        let size = gif_size(buffer.width(), buffer.height())?;
        let mut frame = gif_frame(buffer.as_raw(), 4, size, cancel)?;
        frame.delay = gif_delay(delay);
        writer.write_frame(&frame).map_err(|err| gif_failed(&err))?;
    }
    cancel.check()?;
    // Writes the GIF trailer.
    writer.into_inner().map_err(|err| gif_failed(&err))
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

    #[test]
    fn gif_keeps_up_to_256_colours_and_transparency_exactly() {
        // 240 colours and transparent pixels: the decoded GIF is the image itself.
        let image = RgbaImage::from_fn(40, 30, |x, y| {
            if (x * 3 + y) % 11 == 0 {
                Rgba([0, 0, 0, 0])
            } else {
                let i = ((x + 40 * y) % 240) as u8;
                Rgba([i, 255 - i, i.wrapping_mul(3), 255])
            }
        });
        let bytes = encode(
            &DynamicImage::ImageRgba8(image.clone()),
            Format::Gif,
            &SETTINGS,
            &Cancel::new(),
        )
        .expect("gif");
        let decoded = image::load_from_memory(&bytes).expect("decodes").to_rgba8();
        assert_eq!(decoded, image);
    }

    #[test]
    fn gif_of_many_colours_keeps_the_transparent_pixels() {
        let image = RgbaImage::from_fn(64, 48, |x, y| {
            let alpha = if (x + 2 * y) % 13 == 0 { 40 } else { 230 };
            Rgba([(x * 4) as u8, (y * 5) as u8, ((x * y) % 256) as u8, alpha])
        });
        let bytes = encode(
            &DynamicImage::ImageRgba8(image.clone()),
            Format::Gif,
            &SETTINGS,
            &Cancel::new(),
        )
        .expect("gif");
        let decoded = image::load_from_memory(&bytes).expect("decodes").to_rgba8();
        let mut error = 0u32;
        for (before, after) in image.pixels().zip(decoded.pixels()) {
            if before.0[3] < 128 {
                assert_eq!(after.0[3], 0);
            } else {
                assert_eq!(after.0[3], 255);
                for channel in 0..3 {
                    let diff = before.0[channel].abs_diff(after.0[channel]);
                    assert!(diff <= 48, "{before:?} {after:?}");
                    error += u32::from(diff);
                }
            }
        }
        // 3,000 scattered colours in 255 entries: about 8 per sample on average.
        assert!(
            error / (64 * 48 * 3) <= 12,
            "mean error {}",
            error / (64 * 48 * 3)
        );
    }

    #[test]
    fn gif_animation_keeps_delays_and_loops() {
        let frames: Vec<(RgbaImage, Delay)> = [30, 120, 2_000]
            .into_iter()
            .map(|ms| {
                let frame = RgbaImage::from_fn(20, 10, |x, y| {
                    Rgba([(x * 12) as u8, (y * 25) as u8, (ms / 10) as u8, 255])
                });
                (frame, Delay::from_numer_denom_ms(ms, 1))
            })
            .collect();
        let bytes = gif_animation(frames, LoopCount::Times(4), &Cancel::new()).expect("gif");
        let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(&bytes)).expect("gif");
        use image::AnimationDecoder;
        assert!(matches!(
            decoder.loop_count(),
            image::metadata::LoopCount::Finite(n) if n.get() == 4
        ));
        let decoded = decoder.into_frames().collect_frames().expect("frames");
        let delays: Vec<_> = decoded
            .iter()
            .map(|frame| frame.delay().numer_denom_ms())
            .collect();
        assert_eq!(delays, vec![(30, 1), (120, 1), (2_000, 1)]);
        assert!(gif_animation(Vec::new(), LoopCount::Forever, &Cancel::new()).is_err());
    }

    #[test]
    fn a_cancelled_gif_animation_stops() {
        let token = Cancel::new();
        token.cancel();
        let frames = vec![(RgbaImage::new(8, 8), Delay::from_numer_denom_ms(10, 1))];
        assert!(matches!(
            gif_animation(frames, LoopCount::Forever, &token),
            Err(ProcessError::Cancelled)
        ));
    }
}
