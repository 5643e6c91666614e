//! Shrink-on-load at 1/2 and 1/4 through `jpeg-decoder`'s reduced inverse DCT.
//!
//! The entropy decoding is the same as a full decode; the IDCT produces 4×4 (1/2) or 2×2
//! (1/4) pixels per block, so the IDCT, upsampling and colour conversion run on a quarter or
//! a sixteenth of the pixels and the resize reads a much smaller image. Only 8-bit
//! greyscale and YCbCr/RGB results are used; CMYK, 16-bit and any error go back to the full
//! decoder (the caller falls back on `Err`).

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{Decoder, PixelFormat};

use crate::processing::Limits;

/// Decodes `input` at exactly 1/`factor` scale (`factor` 2 or 4): the result is
/// ⌈width / factor⌉ × ⌈height / factor⌉, the size libjpeg's scaled decode gives too.
pub(super) fn decode(input: &[u8], limits: &Limits, factor: u32) -> Result<DynamicImage, String> {
    if !matches!(factor, 2 | 4) {
        return Err(format!("no reduced IDCT at 1/{factor}"));
    }
    let mut decoder = Decoder::new(input);
    if let Some(max) = limits.max_alloc {
        decoder.set_max_decoding_buffer_size(usize::try_from(max).unwrap_or(usize::MAX));
    }
    decoder.read_info().map_err(|err| err.to_string())?;
    let info = decoder.info().ok_or("no frame header")?;
    // The caller checked the full-scale size against the limits from the same header; check
    // again here, since this is a second parser.
    limits
        .check(u32::from(info.width), u32::from(info.height))
        .map_err(|err| err.to_string())?;
    let step = u16::try_from(factor).map_err(|err| err.to_string())?;
    let wanted = (info.width.div_ceil(step), info.height.div_ceil(step));
    let scaled = decoder
        .scale(wanted.0, wanted.1)
        .map_err(|err| err.to_string())?;
    if scaled != wanted {
        return Err(format!("decoder scaled to {scaled:?}, not {wanted:?}"));
    }
    let pixels = decoder.decode().map_err(|err| err.to_string())?;
    let (width, height) = (u32::from(scaled.0), u32::from(scaled.1));
    let image = match info.pixel_format {
        PixelFormat::L8 => GrayImage::from_raw(width, height, pixels).map(DynamicImage::from),
        PixelFormat::RGB24 => RgbImage::from_raw(width, height, pixels).map(DynamicImage::from),
        other => return Err(format!("pixel format {other:?} left to the full decoder")),
    };
    image.ok_or_else(|| "decoded buffer does not match the scaled size".to_owned())
}
