//! Shrink-on-load at 1/2, 1/4 and (for sequential files) 1/8 through libjpeg's scaled
//! decoding: the `mozjpeg` crate, which builds libjpeg-turbo's decoder from source with the C
//! compiler alone.
//!
//! libjpeg reads the coefficients as a full decode does, then runs a reduced inverse DCT that
//! gives 4×4 (1/2), 2×2 (1/4) or 1×1 (1/8) pixels per luma block; chroma gets the size of
//! IDCT that makes its upsampling unnecessary where it can. So the IDCT, upsampling and colour
//! conversion work on a quarter, a sixteenth or a sixty-fourth of the pixels, and the resize
//! reads a much smaller image. This is what libvips (and so imagor) does for the same shrink
//! factors, so the output is the same decode as imagor's.
//!
//! libjpeg reports a fatal error by unwinding out of the C code; the `mozjpeg` crate does
//! that without calling the panic hook, and [`decode`] turns it back into an `Err`. Warnings
//! (a truncated scan, a bad restart marker) are not fatal: libjpeg fills what is missing,
//! as libvips does. Only 8-bit greyscale and colour (YCbCr or RGB) files are read here;
//! CMYK, 12-bit and anything libjpeg refuses go back to the full decoder.
//!
//! A program built with `panic = "abort"` cannot catch that unwinding, so there this module
//! declines every file and the other decoders are used.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{ColorSpace, Decompress};

use super::header::MAX_SCANS;
use crate::processing::limits::Limits;

/// Decodes `input` at exactly 1/`factor` scale (`factor` 2, 4 or 8): the result is
/// ⌈width / factor⌉ × ⌈height / factor⌉, RGB for colour sources and grey for greyscale ones.
pub(super) fn decode(input: &[u8], limits: &Limits, factor: u32) -> Result<DynamicImage, String> {
    let numerator = match factor {
        2 => 4,
        4 => 2,
        8 => 1,
        _ => return Err(format!("no scaled decode at 1/{factor}")),
    };
    if cfg!(panic = "abort") {
        return Err("libjpeg's errors need panic = \"unwind\"".to_owned());
    }
    let scans = super::scan_count(input);
    if scans > MAX_SCANS {
        return Err(format!("{scans} scans: more than {MAX_SCANS}"));
    }
    match catch_unwind(AssertUnwindSafe(|| {
        decode_scaled(input, limits, numerator, factor)
    })) {
        Ok(result) => result,
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "libjpeg failed".to_owned())),
    }
}

/// The decode itself; a libjpeg error unwinds out of it.
fn decode_scaled(
    input: &[u8],
    limits: &Limits,
    numerator: u8,
    factor: u32,
) -> Result<DynamicImage, String> {
    let mut decompress = Decompress::new_mem(input).map_err(|err| err.to_string())?;
    let (width, height) = decompress.size();
    let (width, height) = (
        u32::try_from(width).map_err(|err| err.to_string())?,
        u32::try_from(height).map_err(|err| err.to_string())?,
    );
    // The caller checked the size from the same header with another parser; check again here,
    // together with what libjpeg will hold: for a progressive file, every coefficient of
    // every component (up to three 16-bit values per pixel).
    limits.check(width, height).map_err(|err| err.to_string())?;
    let components = decompress.components().len();
    limits
        .check_alloc(u64::from(width) * u64::from(height) * 2 * components as u64)
        .map_err(|err| err.to_string())?;
    let grey = match (decompress.color_space(), components) {
        (ColorSpace::JCS_GRAYSCALE, 1) => true,
        (ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB, 3) => false,
        (other, n) => {
            return Err(format!(
                "{other:?} with {n} components left to the full decoder"
            ));
        }
    };
    decompress.scale(numerator);
    let mut started = if grey {
        decompress.grayscale()
    } else {
        decompress.rgb()
    }
    .map_err(|err| err.to_string())?;
    let wanted = (width.div_ceil(factor), height.div_ceil(factor));
    check_size(started.width(), started.height(), wanted)?;
    let pixels: Vec<u8> = started.read_scanlines().map_err(|err| err.to_string())?;
    started.finish().map_err(|err| err.to_string())?;
    let image = if grey {
        GrayImage::from_raw(wanted.0, wanted.1, pixels).map(DynamicImage::from)
    } else {
        RgbImage::from_raw(wanted.0, wanted.1, pixels).map(DynamicImage::from)
    };
    image.ok_or_else(|| "decoded buffer does not match the scaled size".to_owned())
}

fn check_size(width: usize, height: usize, wanted: (u32, u32)) -> Result<(), String> {
    if (width, height) == (wanted.0 as usize, wanted.1 as usize) {
        Ok(())
    } else {
        Err(format!(
            "libjpeg scaled to {width}×{height}, not {wanted:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan_count;
    use super::super::test_support::{damaged_copies, fixture, marker};
    use super::*;

    /// Mean absolute difference between the scaled decode and the `factor`×`factor` block
    /// means of the full decode.
    fn error_against_full_decode(name: &str, factor: u32) -> f64 {
        let bytes = fixture(name);
        let full = image::load_from_memory(&bytes).expect("full decode");
        let scaled = decode(&bytes, &Limits::default(), factor).expect("scaled decode");
        assert_eq!(scaled.width(), full.width().div_ceil(factor), "{name}");
        assert_eq!(scaled.height(), full.height().div_ceil(factor), "{name}");
        assert_eq!(scaled.color(), full.color(), "{name}");
        let channels = usize::from(full.color().channel_count());
        let (w, h) = (full.width() as usize, full.height() as usize);
        let f = factor as usize;
        let (samples, ours) = (full.as_bytes(), scaled.as_bytes());
        let mut total = 0.0;
        for (index, &value) in ours.iter().enumerate() {
            let (pixel, c) = (index / channels, index % channels);
            let (bx, by) = (pixel % w.div_ceil(f), pixel / w.div_ceil(f));
            let (mut sum, mut n) = (0.0, 0.0);
            for y in by * f..(by * f + f).min(h) {
                for x in bx * f..(bx * f + f).min(w) {
                    sum += f64::from(samples[(y * w + x) * channels + c]);
                    n += 1.0;
                }
            }
            total += (sum / n - f64::from(value)).abs();
        }
        total / ours.len() as f64
    }

    #[test]
    fn scaled_image_matches_block_means_of_full_decode() {
        for name in [
            "baseline-444.jpg",
            "progressive-444.jpg",
            "grey-baseline.jpg",
            "grey-progressive.jpg",
            "baseline-420.jpg",
            "progressive-420.jpg",
            "restart-baseline.jpg",
            "restart-progressive.jpg",
        ] {
            for factor in [2, 4, 8] {
                let error = error_against_full_decode(name, factor);
                assert!(error < 3.0, "{name} at 1/{factor}: mean abs error {error}");
            }
        }
    }

    #[test]
    fn only_halves_quarters_and_eighths_are_decoded_here() {
        let bytes = fixture("baseline-444.jpg");
        for factor in [0, 1, 3, 16] {
            assert!(decode(&bytes, &Limits::default(), factor).is_err());
        }
    }

    #[test]
    fn libjpeg_errors_come_back_as_errors() {
        // 12-bit precision: this libjpeg is built for 8 bits and stops with a fatal error.
        let mut bytes = fixture("baseline-444.jpg");
        let sof = marker(&bytes, 0xC0);
        bytes[sof + 4] = 12;
        let err = decode(&bytes, &Limits::default(), 2).expect_err("12-bit refused");
        assert!(err.contains("libjpeg"), "{err}");
        // A Huffman table that overfills its code space.
        let mut bytes = fixture("progressive-420.jpg");
        let dht = marker(&bytes, 0xC4);
        bytes[dht + 5] = 0xFF;
        assert!(decode(&bytes, &Limits::default(), 4).is_err());
        for junk in [&b""[..], b"\xFF\xD8", b"\xFF\xD8\xFF\xC0\x00", b"GIF89a"] {
            assert!(decode(junk, &Limits::default(), 2).is_err());
        }
    }

    #[test]
    fn damaged_files_never_panic() {
        let original = fixture("restart-progressive.jpg");
        for cut in (0..original.len()).step_by(41) {
            let _ = decode(&original[..cut], &Limits::default(), 2);
        }
        for bytes in damaged_copies(&original, 300, 0x9e37_79b9_7f4a_7c15) {
            if let Ok(image) = decode(&bytes, &Limits::default(), 4) {
                assert!(image.width() > 0 && image.height() > 0);
            }
        }
    }

    #[test]
    fn limits_are_checked_before_decoding() {
        let bytes = fixture("progressive-444.jpg");
        let narrow = Limits {
            max_width: Some(16),
            ..Limits::default()
        };
        assert!(decode(&bytes, &narrow, 2).is_err());
        let small_alloc = Limits {
            max_alloc: Some(1024),
            ..Limits::default()
        };
        assert!(decode(&bytes, &small_alloc, 2).is_err());
    }

    #[test]
    fn files_with_too_many_scans_are_refused() {
        let bytes = fixture("progressive-420.jpg");
        assert!(scan_count(&bytes) > 1);
        assert!(decode(&bytes, &Limits::default(), 2).is_ok());
        // Repeat the last scan until there are more than MAX_SCANS of them.
        let last = bytes
            .windows(2)
            .rposition(|w| w == [0xFF, 0xDA])
            .expect("SOS");
        let scan = bytes[last..bytes.len() - 2].to_vec();
        let mut many = bytes[..bytes.len() - 2].to_vec();
        for _ in 0..MAX_SCANS {
            many.extend_from_slice(&scan);
        }
        many.extend_from_slice(b"\xFF\xD9");
        assert!(scan_count(&many) > MAX_SCANS);
        let err = decode(&many, &Limits::default(), 2).expect_err("refused");
        assert!(err.contains("scans"), "{err}");
    }
}
