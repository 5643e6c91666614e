//! Decoding a source under [`Limits`]: sniff the format, read the header, check the size,
//! then decode and turn the image upright.
//!
//! * The format comes from the magic bytes ([`Format::sniff`]); anything unknown is
//!   [`ProcessError::UnsupportedFormat`] before a decoder is even created.
//! * Width and height come from the header and are checked against the limits (after
//!   swapping them for EXIF orientations that turn the image a quarter) **before** the pixels
//!   are decoded. The decoder itself runs with `image::Limits::max_alloc`.
//! * Animations: [`animation`] reads every frame of an animated GIF or WebP (composited to
//!   full-canvas RGBA) with its delay and the loop count, when the output can animate; still
//!   outputs use the first frame. For WebP the frame count comes from the header, so
//!   width × height × frames is checked against the limits before any frame is decoded.
//! * SVG is rasterised by [`svg`](super::svg), at its own size or reduced like JPEG.
//! * Pixels stay in their channel layout (grey, grey + alpha, RGB, RGBA). Deeper samples
//!   (16-bit PNG/TIFF, float) are reduced to 8 bits, since every encoder writes 8 bits.
//! * The EXIF orientation tag (JPEG, PNG `eXIf`, WebP, TIFF) is applied, so the rest of the
//!   pipeline works on the upright image, as libvips' autorotate does for imagor.
//! * JPEG shrink-on-load ([`decode_scaled`]): when the geometry allows it, a JPEG is decoded
//!   at 1/8 scale from its DC coefficients alone, or at 1/4 or 1/2 with libjpeg's reduced
//!   IDCT (see `processing::jpeg`). Orientation and the ICC profile come from the same header
//!   parse either way.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{process, Limits, Options, ProcessError};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::new(300, 200)
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! let mut limits = Limits::default();
//! limits.max_width = Some(256);
//! let options = Options::default().limits(limits);
//! // A 300-pixel-wide source is refused from its header alone.
//! let err = process(&png, &Params::default(), &options).unwrap_err();
//! assert!(matches!(err, ProcessError::MaxResolution));
//! ```

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::metadata::Orientation;
use image::{AnimationDecoder, Delay, DynamicImage, ImageDecoder, ImageReader, RgbaImage};

use super::cancel::Cancel;
use super::decoded::{Animation, Decoded, LoopCount};
use super::error::ProcessError;
use super::format::Format;
use super::limits::Limits;
use super::{jpeg, svg};

/// Decodes `input` (see the [module docs](self)).
/// With `auto_orient` false (an `orient(n)` filter) the EXIF orientation is ignored.
///
/// JPEG sources may be decoded at a reduced scale: `shrink` gets the upright full-scale
/// size and answers the largest reduction (1, 2, 4 or 8) that still leaves enough pixels
/// for the output; the reduction actually made is in [`Decoded::shrink`] (it can be
/// smaller, down to 1, when no fast path fits the file).
///
/// `cancel` is checked before and after the decoder runs, and between the rows of PNG
/// decodes.
pub(crate) fn decode_scaled(
    input: &[u8],
    limits: &Limits,
    auto_orient: bool,
    shrink: impl FnOnce(u32, u32) -> u32,
    cancel: &Cancel,
) -> Result<Decoded, ProcessError> {
    cancel.check()?;
    let format = Format::sniff(input).ok_or(ProcessError::UnsupportedFormat)?;
    if format == Format::Svg {
        return svg::decode(input, limits, |w, h| svg::Scale::Reduce(shrink(w, h)));
    }
    if format == Format::Avif {
        return decode_avif(input, limits);
    }
    if format == Format::Webp {
        check_webp_chunks(input)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(input), format.image_format());
    let mut decoder_limits = image::Limits::no_limits();
    decoder_limits.max_alloc = limits.max_alloc;
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(ProcessError::from_decode)?;

    // A broken orientation tag is not worth failing the request: treat it as upright.
    let orientation = if auto_orient {
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let (width, height) = decoder.dimensions();
    let (width, height) = if turns_quarter(orientation) {
        (height, width)
    } else {
        (width, height)
    };
    limits.check(width, height)?;
    if width == 0 || height == 0 {
        return Err(ProcessError::image("image has no pixels"));
    }

    // Likewise, an unreadable ICC profile is dropped rather than failing the request.
    let icc_profile = decoder.icc_profile().ok().flatten();
    let wanted = if format == Format::Jpeg {
        shrink(width, height)
    } else {
        1
    };
    let reduced = if wanted > 1 {
        jpeg::decode_reduced(input, limits, wanted)
    } else {
        None
    };
    let (image, shrink) = match reduced {
        Some((image, factor)) => (image, factor),
        None => match png_rows(input, format, limits, cancel)? {
            Some(image) => (image, 1),
            None => (
                to_8bit(DynamicImage::from_decoder(decoder).map_err(ProcessError::from_decode)?),
                1,
            ),
        },
    };
    cancel.check()?;
    let mut image = image;
    image.apply_orientation(orientation);
    Ok(Decoded {
        image,
        format,
        icc_profile,
        source_size: (width, height),
        shrink,
    })
}

/// Decodes an 8-bit, non-interlaced PNG row by row with the `png` decoder `image` uses (and
/// its settings), checking `cancel` between rows: the same pixels as `image`'s decoder.
///
/// `None` for other formats, for other PNGs, and for any error: the caller then decodes the
/// file the usual way, which gives the usual error.
fn png_rows(
    input: &[u8],
    format: Format,
    limits: &Limits,
    cancel: &Cancel,
) -> Result<Option<DynamicImage>, ProcessError> {
    if format != Format::Png {
        return Ok(None);
    }
    let max_bytes = limits
        .max_alloc
        .map_or(usize::MAX, |max| usize::try_from(max).unwrap_or(usize::MAX));
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(input), png::Limits { bytes: max_bytes });
    decoder.set_transformations(png::Transformations::EXPAND);
    let Ok(mut reader) = decoder.read_info() else {
        return Ok(None);
    };
    let (width, height, interlaced) = {
        let info = reader.info();
        (info.width, info.height, info.interlaced)
    };
    let (colour, depth) = reader.output_color_type();
    if interlaced || depth != png::BitDepth::Eight {
        return Ok(None);
    }
    let Some(line) = reader.output_line_size(width).filter(|&line| line > 0) else {
        return Ok(None);
    };
    let Some(total) = line.checked_mul(height as usize) else {
        return Ok(None);
    };
    if limits.max_alloc.is_some_and(|max| total as u64 > max) {
        return Ok(None);
    }
    let mut samples = Vec::new();
    if samples.try_reserve_exact(total).is_err() {
        return Ok(None);
    }
    samples.resize(total, 0);
    let mut meter = cancel.meter();
    for row in samples.chunks_exact_mut(line) {
        // Inflating and unfiltering cost a few operations per byte.
        meter.tick(line * 4)?;
        if !matches!(reader.read_row(row), Ok(Some(_))) {
            return Ok(None);
        }
    }
    // Reads to the end of the image data, as a whole-frame decode does.
    if reader.read_row(&mut []).is_err() {
        return Ok(None);
    }
    Ok(match colour {
        png::ColorType::Grayscale => {
            image::GrayImage::from_raw(width, height, samples).map(DynamicImage::ImageLuma8)
        }
        png::ColorType::GrayscaleAlpha => {
            image::GrayAlphaImage::from_raw(width, height, samples).map(DynamicImage::ImageLumaA8)
        }
        png::ColorType::Rgb => {
            image::RgbImage::from_raw(width, height, samples).map(DynamicImage::ImageRgb8)
        }
        png::ColorType::Rgba => {
            RgbaImage::from_raw(width, height, samples).map(DynamicImage::ImageRgba8)
        }
        png::ColorType::Indexed => None,
    })
}

/// The frames of an animated GIF or WebP (see [`gif_frames`] for `max_frames` and `page`).
/// `None` for other formats and for sources of one frame (decode them as still images).
///
/// `cancel` is checked before every frame.
pub(crate) fn animation(
    input: &[u8],
    limits: &Limits,
    max_frames: Option<u32>,
    page: Option<u32>,
    cancel: &Cancel,
) -> Result<Option<Animation>, ProcessError> {
    match Format::sniff(input) {
        Some(Format::Gif) => gif_animation(input, limits, (max_frames, page), cancel),
        Some(Format::Webp) => {
            check_webp_chunks(input)?;
            webp_animation(input, limits, (max_frames, page), cancel)
        }
        _ => Ok(None),
    }
}

/// Decodes the primary image of an AVIF file (`processing::avif`), turned by its `irot` and
/// `imir` properties; AVIF has no shrink-on-load.
fn decode_avif(input: &[u8], limits: &Limits) -> Result<Decoded, ProcessError> {
    let still = super::avif::decode(input, limits)?;
    let source_size = (still.image.width(), still.image.height());
    Ok(Decoded {
        image: still.image,
        format: Format::Avif,
        icc_profile: still.icc_profile,
        source_size,
        shrink: 1,
    })
}

/// The frames of an animated GIF, composited to full-canvas RGBA, with their delays.
///
/// At most `max_frames` frames are kept; with `page` (1-based) only that frame, or the last
/// one when there are fewer. width × height × frames is checked against the limits while
/// decoding. Returns `None` for a GIF of one frame (decode it as a still image).
pub(crate) fn gif_frames(
    input: &[u8],
    limits: &Limits,
    max_frames: Option<u32>,
    page: Option<u32>,
    cancel: &Cancel,
) -> Result<Option<Vec<(RgbaImage, Delay)>>, ProcessError> {
    let frames = gif_animation(input, limits, (max_frames, page), cancel)?;
    Ok(frames.map(|animation| animation.frames))
}

/// `which` is `max_frames` and `page` (see [`gif_frames`]).
fn gif_animation(
    input: &[u8],
    limits: &Limits,
    which: (Option<u32>, Option<u32>),
    cancel: &Cancel,
) -> Result<Option<Animation>, ProcessError> {
    let (max_frames, page) = which;
    cancel.check()?;
    let mut decoder = GifDecoder::new(Cursor::new(input)).map_err(ProcessError::from_decode)?;
    let mut decoder_limits = image::Limits::no_limits();
    decoder_limits.max_alloc = limits.max_alloc;
    decoder
        .set_limits(decoder_limits)
        .map_err(ProcessError::from_decode)?;
    let (width, height) = decoder.dimensions();
    limits.check(width, height)?;
    let loop_count = match decoder.loop_count() {
        image::metadata::LoopCount::Finite(n) => {
            LoopCount::Times(u16::try_from(n.get()).unwrap_or(u16::MAX))
        }
        image::metadata::LoopCount::Infinite => LoopCount::Forever,
    };
    let keep = max_frames.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut frames = Vec::new();
    let mut seen = 0u32;
    for frame in decoder.into_frames() {
        cancel.check()?;
        let frame = frame.map_err(ProcessError::from_decode)?;
        seen = seen.saturating_add(1);
        let delay = frame.delay();
        if let Some(page) = page {
            // Keep only the latest frame until the requested page is reached.
            frames.clear();
            frames.push((frame.into_buffer(), delay));
            if seen >= page {
                break;
            }
            continue;
        }
        frames.push((frame.into_buffer(), delay));
        let count = u32::try_from(frames.len()).unwrap_or(u32::MAX);
        limits.check(width, height.saturating_mul(count))?;
        if frames.len() >= keep {
            break;
        }
    }
    cancel.check()?;
    if page.is_none() && frames.len() < 2 {
        return Ok(None);
    }
    Ok(Some(Animation {
        frames,
        loop_count,
        source: Format::Gif,
    }))
}

/// The frames of an animated WebP, like [`gif_frames`]. The frame count is read from the
/// header, so the limits (width × height × frames kept, and `max_alloc` for the frames held)
/// are checked before the first frame is decoded.
fn webp_animation(
    input: &[u8],
    limits: &Limits,
    which: (Option<u32>, Option<u32>),
    cancel: &Cancel,
) -> Result<Option<Animation>, ProcessError> {
    let (max_frames, page) = which;
    cancel.check()?;
    let mut decoder =
        image_webp::WebPDecoder::new(Cursor::new(input)).map_err(webp_decode_error)?;
    if !decoder.is_animated() {
        return Ok(None);
    }
    let (width, height) = decoder.dimensions();
    limits.check(width, height)?;
    let total = decoder.num_frames();
    let kept = match page {
        Some(_) => total.min(1),
        None => max_frames.map_or(total, |n| n.min(total)),
    };
    if kept == 0 || (page.is_none() && kept < 2) {
        return Ok(None);
    }
    limits.check(width, height.saturating_mul(kept))?;
    // The decoder's canvas and frame buffer, plus every RGBA frame kept.
    let frame_bytes = u64::from(width) * u64::from(height) * 4;
    let held = frame_bytes.saturating_mul(u64::from(kept).saturating_add(2));
    limits.check_alloc(held)?;
    let loop_count = match decoder.loop_count() {
        image_webp::LoopCount::Forever => LoopCount::Forever,
        image_webp::LoopCount::Times(n) => LoopCount::Times(n.get()),
    };
    // Frames up to the page are decoded (each is drawn over the previous ones).
    let decoded = page.map_or(kept, |page| page.clamp(1, total));
    let has_alpha = decoder.has_alpha();
    let size = decoder
        .output_buffer_size()
        .ok_or(ProcessError::MaxResolution)?;
    let mut buffer = vec![0u8; size];
    let mut frames = Vec::new();
    for index in 1..=decoded {
        cancel.check()?;
        let delay = decoder.read_frame(&mut buffer).map_err(webp_decode_error)?;
        if index < decoded && page.is_some() {
            continue;
        }
        let frame = if has_alpha {
            RgbaImage::from_raw(width, height, buffer.clone())
        } else {
            image::RgbImage::from_raw(width, height, buffer.clone())
                .map(|rgb| DynamicImage::ImageRgb8(rgb).into_rgba8())
        }
        .ok_or_else(|| ProcessError::image("webp frame has the wrong size"))?;
        frames.push((frame, Delay::from_numer_denom_ms(delay, 1)));
    }
    Ok(Some(Animation {
        frames,
        loop_count,
        source: Format::Webp,
    }))
}

/// Maps an `image-webp` error while reading a source.
fn webp_decode_error(err: image_webp::DecodingError) -> ProcessError {
    match err {
        image_webp::DecodingError::ImageTooLarge
        | image_webp::DecodingError::MemoryLimitExceeded => ProcessError::MaxResolution,
        other => ProcessError::image(format_args!("webp decode failed: {other}")),
    }
}

/// Whether every chunk of a WebP file, and every sub-chunk of its animation frames, ends
/// inside the file.
///
/// `image-webp` allocates a metadata chunk (EXIF, ICC profile, XMP) at its declared size
/// before reading it, without a limit (the `image` crate does not pass `max_alloc` on), so a
/// few bytes claiming a 3 GiB EXIF chunk allocate 3 GiB. A file that fails this check is
/// truncated or corrupt and could not be decoded anyway.
pub(crate) fn webp_chunks_fit(input: &[u8]) -> bool {
    chunks_fit(input, 12, input.len(), true)
}

/// Refuses a WebP whose chunks do not fit in the file (see [`webp_chunks_fit`]) before any
/// decoder reads it.
fn check_webp_chunks(input: &[u8]) -> Result<(), ProcessError> {
    if webp_chunks_fit(input) {
        Ok(())
    } else {
        Err(ProcessError::image(
            "webp chunk runs past the end of the file",
        ))
    }
}

/// Walks the RIFF chunks from `at` to `end`; at the top level, the sub-chunks of `ANMF`
/// frames too (after the frame's 16-byte header; frames are not nested).
fn chunks_fit(input: &[u8], mut at: usize, end: usize, top_level: bool) -> bool {
    while let Some(header) = at
        .checked_add(8)
        .filter(|&data| data <= end)
        .and_then(|data| input.get(at..data))
    {
        let Some(size) = header
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .and_then(|b| usize::try_from(u32::from_le_bytes(b)).ok())
        else {
            return false;
        };
        let Some(data_end) = at.checked_add(8).and_then(|data| data.checked_add(size)) else {
            return false;
        };
        if data_end > input.len() {
            return false;
        }
        let frame = top_level && header.starts_with(b"ANMF");
        if frame
            && !at
                .checked_add(24)
                .is_some_and(|sub| chunks_fit(input, sub, data_end, false))
        {
            return false;
        }
        at = data_end.saturating_add(size & 1);
    }
    true
}

/// Whether the orientation swaps width and height (EXIF tags 5–8).
fn turns_quarter(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Reduces deeper samples to 8 bits, keeping the channel layout.
fn to_8bit(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
        DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgb32F(_) => {
            DynamicImage::ImageRgb8(image.to_rgb8())
        }
        _ => DynamicImage::ImageRgba8(image.to_rgba8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb};

    #[test]
    fn png_rows_give_the_pixels_of_the_image_decoder() {
        let rgba = image::RgbaImage::from_fn(37, 23, |x, y| {
            image::Rgba([
                (x * 7) as u8,
                (y * 11) as u8,
                (x * y) as u8,
                (x + y * 3) as u8,
            ])
        });
        let rgba = DynamicImage::ImageRgba8(rgba);
        let mut sources: Vec<Vec<u8>> = [
            rgba.clone(),
            DynamicImage::ImageRgb8(rgba.to_rgb8()),
            DynamicImage::ImageLuma8(rgba.to_luma8()),
            DynamicImage::ImageLumaA8(rgba.to_luma_alpha8()),
        ]
        .iter()
        .map(|image| encode(image, image::ImageFormat::Png))
        .collect();
        // A palette image and a 1-bit grey image (expanded to 8 bits), written with `png`.
        for (colour, depth, data) in [
            (
                png::ColorType::Indexed,
                png::BitDepth::Eight,
                vec![0u8, 1, 2, 1],
            ),
            (
                png::ColorType::Grayscale,
                png::BitDepth::One,
                vec![0b1010_0000, 0b0101_0000],
            ),
        ] {
            let mut bytes = Vec::new();
            let mut encoder = png::Encoder::new(&mut bytes, 4, 2);
            encoder.set_color(colour);
            encoder.set_depth(depth);
            if colour == png::ColorType::Indexed {
                encoder.set_palette(vec![255, 0, 0, 0, 255, 0, 0, 0, 255]);
                encoder.set_trns(vec![255, 128, 0]);
            }
            let mut writer = encoder.write_header().expect("header");
            let data = if colour == png::ColorType::Indexed {
                data.into_iter().chain([2, 2, 1, 0]).collect()
            } else {
                data
            };
            writer.write_image_data(&data).expect("data");
            writer.finish().expect("finish");
            sources.push(bytes);
        }
        let live = Cancel::new();
        for bytes in &sources {
            let ours = png_rows(bytes, Format::Png, &Limits::default(), &live)
                .expect("not cancelled")
                .expect("decoded by rows");
            let theirs = to_8bit(image::load_from_memory(bytes).expect("decodes"));
            assert!(ours == theirs, "{:?}", theirs.color());
        }
        // Cancelled: stops.
        let cancelled = Cancel::new();
        cancelled.cancel();
        let big = encode(
            &DynamicImage::ImageRgb8(image::RgbImage::new(2000, 300)),
            image::ImageFormat::Png,
        );
        assert!(matches!(
            png_rows(&big, Format::Png, &Limits::default(), &cancelled),
            Err(ProcessError::Cancelled)
        ));
        // Truncated files are left to the usual decoder.
        let cut = &sources[0][..sources[0].len() / 2];
        assert!(matches!(
            png_rows(cut, Format::Png, &Limits::default(), &live),
            Ok(None)
        ));
    }

    fn decode(input: &[u8], limits: &Limits, auto_orient: bool) -> Result<Decoded, ProcessError> {
        decode_scaled(input, limits, auto_orient, |_, _| 1, &Cancel::new())
    }

    fn encode(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), format)
            .expect("encode test image");
        bytes
    }

    #[test]
    fn keeps_channel_layout() {
        let grey = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(3, 2, Luma([7u8])));
        let decoded = decode(
            &encode(&grey, image::ImageFormat::Png),
            &Limits::default(),
            true,
        )
        .expect("decode grey png");
        assert_eq!(decoded.format, Format::Png);
        assert!(matches!(decoded.image, DynamicImage::ImageLuma8(_)));
        assert_eq!((decoded.image.width(), decoded.image.height()), (3, 2));
    }

    #[test]
    fn reduces_16_bit_to_8_bit() {
        let deep = DynamicImage::ImageRgb16(ImageBuffer::from_pixel(2, 2, Rgb([65535u16, 0, 257])));
        let decoded = decode(
            &encode(&deep, image::ImageFormat::Png),
            &Limits::default(),
            true,
        )
        .expect("decode 16-bit png");
        let DynamicImage::ImageRgb8(rgb) = decoded.image else {
            panic!("expected 8-bit RGB");
        };
        assert_eq!(rgb.get_pixel(1, 1).0, [255, 0, 1]);
    }

    #[test]
    fn checks_limits_before_decoding() {
        let image = DynamicImage::ImageLuma8(ImageBuffer::new(20, 10));
        let bytes = encode(&image, image::ImageFormat::Png);
        let mut limits = Limits {
            max_resolution: Some(199),
            ..Limits::default()
        };
        assert!(matches!(
            decode(&bytes, &limits, true),
            Err(ProcessError::MaxResolution)
        ));
        limits.max_resolution = Some(200);
        assert!(decode(&bytes, &limits, true).is_ok());
    }

    #[test]
    fn unknown_bytes_are_unsupported() {
        for input in [&b""[..], b"hello", b"BZh91AY&SY"] {
            assert!(matches!(
                decode(input, &Limits::default(), true),
                Err(ProcessError::UnsupportedFormat)
            ));
        }
    }

    /// A RIFF/WEBP file made of the given chunks (fourcc, declared size, data).
    fn riff(chunks: &[(&[u8; 4], u32, &[u8])]) -> Vec<u8> {
        let mut body = b"WEBP".to_vec();
        for (fourcc, size, data) in chunks {
            body.extend(*fourcc);
            body.extend(size.to_le_bytes());
            body.extend(*data);
        }
        let mut out = b"RIFF".to_vec();
        out.extend(u32::try_from(body.len()).unwrap().to_le_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn webp_chunks_past_the_end_are_refused_before_allocating() {
        // VP8X with the EXIF flag, then an EXIF chunk claiming 3 GiB: found by the
        // `decode_webp` fuzzer, this used to allocate the 3 GiB.
        let vp8x = [0x08, 0, 0, 0, 9, 0, 0, 9, 0, 0];
        let huge = riff(&[(b"VP8X", 10, &vp8x), (b"EXIF", 3 << 30, b"II*\0")]);
        assert!(!webp_chunks_fit(&huge));
        assert!(matches!(
            decode(&huge, &Limits::default(), true),
            Err(ProcessError::Image(_))
        ));
        // The same inside an animation frame (image-webp reads its first sub-chunks).
        let mut frame = vec![0u8; 16];
        frame.extend(b"VP8L");
        frame.extend(u32::MAX.to_le_bytes());
        let frame_len = u32::try_from(frame.len()).unwrap();
        let animated = riff(&[(b"VP8X", 10, &vp8x), (b"ANMF", frame_len, &frame)]);
        assert!(!webp_chunks_fit(&animated));
        // Chunks that fit (odd sizes padded) pass.
        let fine = riff(&[
            (b"VP8X", 10, &vp8x),
            (b"EXIF", 3, b"abc\0"),
            (b"XMP ", 0, b""),
        ]);
        assert!(webp_chunks_fit(&fine));
        // A real file passes and decodes.
        let mut webp = Vec::new();
        image::RgbImage::new(3, 2)
            .write_to(
                &mut std::io::Cursor::new(&mut webp),
                image::ImageFormat::WebP,
            )
            .unwrap();
        assert!(webp_chunks_fit(&webp));
        assert!(decode(&webp, &Limits::default(), true).is_ok());
    }

    #[cfg(feature = "jpeg-scaled")]
    #[test]
    fn jpeg_shrinks_on_load_when_asked() {
        let fixture = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/jpeg")
                .join(name);
            std::fs::read(path).expect("read fixture")
        };
        let bytes = fixture("progressive-420.jpg");
        let mut asked = None;
        let decoded = decode_scaled(
            &bytes,
            &Limits::default(),
            true,
            |w, h| {
                asked = Some((w, h));
                8
            },
            &Cancel::new(),
        )
        .expect("decode");
        assert_eq!(asked, Some((403, 301)));
        assert_eq!(decoded.shrink, 8);
        assert_eq!(decoded.source_size, (403, 301));
        assert_eq!((decoded.image.width(), decoded.image.height()), (51, 38));

        // The EXIF orientation turns the reduced image too; the size asked about is upright.
        let bytes = fixture("orientation-8.jpg");
        let decoded = decode_scaled(
            &bytes,
            &Limits::default(),
            true,
            |w, h| {
                assert_eq!((w, h), (403, 301));
                8
            },
            &Cancel::new(),
        )
        .expect("decode");
        assert_eq!(decoded.shrink, 8);
        assert_eq!((decoded.image.width(), decoded.image.height()), (51, 38));

        // 1/4 and 1/2 come from the reduced IDCT, sides rounded up, turned as well.
        let decoded = decode_scaled(&bytes, &Limits::default(), true, |_, _| 4, &Cancel::new())
            .expect("decode");
        assert_eq!(decoded.shrink, 4);
        assert_eq!((decoded.image.width(), decoded.image.height()), (101, 76));
        let decoded = decode_scaled(&bytes, &Limits::default(), true, |_, _| 2, &Cancel::new())
            .expect("decode");
        assert_eq!(decoded.shrink, 2);
        assert_eq!((decoded.image.width(), decoded.image.height()), (202, 151));

        // No reduction asked: full size.
        let decoded = decode_scaled(&bytes, &Limits::default(), true, |_, _| 1, &Cancel::new())
            .expect("decode");
        assert_eq!(decoded.shrink, 1);
        assert_eq!((decoded.image.width(), decoded.image.height()), (403, 301));
    }

    #[test]
    fn quarter_turns_swap_sides() {
        assert!(turns_quarter(Orientation::Rotate90));
        assert!(turns_quarter(Orientation::Rotate270FlipH));
        assert!(!turns_quarter(Orientation::Rotate180));
        assert!(!turns_quarter(Orientation::FlipVertical));
    }
}
