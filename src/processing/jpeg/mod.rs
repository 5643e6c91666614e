//! JPEG shrink-on-load: decode at a fraction of the size when the output is much smaller.
//!
//! When the geometry needs at most an eighth of the source's pixels on each side (a 150×150
//! thumbnail of a 12–20 megapixel photo) and the file is progressive, the decoder reads only
//! its DC scans (about a tenth of the data): the DC coefficient of each 8×8 block is the
//! block's average, so the 1/8-scale image comes without any inverse DCT. libjpeg, and so
//! libvips, decodes every scan even at 1/8 scale. See [`dc`] for that decoder.
//!
//! At 1/2 and 1/4 a progressive file is decoded by [`progressive`]: each block keeps only the
//! coefficients the scaled IDCT reads, the correction bits of the others are stepped over in
//! bulk, and scans that only carry unneeded frequencies are skipped. Sequential files, whose
//! Huffman data has to be read in full whatever the factor, are decoded by libjpeg's scaled
//! IDCT: see [`scaled`].
//!
//! The choice of factor is made by the plan (`Plan::shrink_factor`): never below the output
//! size, and not at all for requests that look at the whole source (`trim`, `smart`,
//! `focal(...)`). Any file the fast decoder does not handle, or that it finds damaged, is
//! decoded by the normal path instead, so the result is never worse than a full decode; EXIF
//! orientation and the ICC profile are read the same way in both cases.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{process, Options};
//!
//! # let mut jpeg = Vec::new();
//! # image::RgbImage::from_fn(2400, 1600, |x, _| image::Rgb([(x / 10) as u8, 90, 160]))
//! #     .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
//! #     .unwrap();
//! // `fit-in/300x200` of a 2400×1600 photo reads the 300×200 DC image only.
//! let params = Params { fit_in: true, width: 300, height: 200, ..Default::default() };
//! let output = process(&jpeg, &params, &Options::default()).unwrap();
//! assert_eq!((output.width(), output.height()), (300, 200));
//! ```

pub(crate) mod dc;
mod entropy;
mod header;
mod pixels;
mod progressive;
#[cfg_attr(not(feature = "jpeg-scaled"), path = "scaled_off.rs")]
mod scaled;
#[cfg(test)]
mod test_support;
mod upsample;

use image::DynamicImage;

use super::limits::Limits;

/// The shrink factor of the DC-only path.
pub(crate) const DC_FACTOR: u32 = 8;

/// Decodes the JPEG `input` at a reduced scale: 1/2, 1/4 or 1/8, the largest of them not
/// above `factor`. Returns the image (⌈w/k⌉ × ⌈h/k⌉, RGB or grey) and the factor `k` used;
/// `None` means "use the full decoder" (not a JPEG, `factor` below 2, an unsupported layout
/// such as CMYK, or damaged data). The limits are checked on the header before anything large
/// is allocated.
///
/// A progressive file goes to our own decoders: at 1/2 and 1/4 to the low-frequency decoder,
/// which keeps only the coefficients the scaled IDCT reads, and at 1/8 to the DC-only decoder,
/// which reads the DC scans alone. A sequential file has to be Huffman-decoded in full
/// whatever the factor, and libjpeg does that fastest (with the `jpeg-scaled` feature). When
/// the first choice refuses a file (RGB-coded or unusually subsampled files, damaged data),
/// the other is tried before giving up.
///
/// Public as `processing::decode_jpeg_reduced`, for hosts that want the shrink-on-load decode
/// alone; [`process`](crate::processing::process) picks the factor from the request.
///
/// # Example
///
/// ```
/// use imagor_tower::processing::{Limits, decode_jpeg_reduced};
///
/// # let mut jpeg = Vec::new();
/// # image::RgbImage::from_pixel(1000, 600, image::Rgb([30, 120, 200]))
/// #     .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
/// #     .unwrap();
/// // Asking for 1/10 gives the largest supported factor below it, 1/8: 125×75.
/// let (image, factor) = decode_jpeg_reduced(&jpeg, &Limits::default(), 10).unwrap();
/// assert_eq!((factor, image.width(), image.height()), (8, 125, 75));
/// // Not a JPEG, or no reduction asked for: use the full decoder.
/// assert!(decode_jpeg_reduced(b"GIF89a", &Limits::default(), 2).is_none());
/// assert!(decode_jpeg_reduced(&jpeg, &Limits::default(), 1).is_none());
/// ```
pub fn decode_reduced(input: &[u8], limits: &Limits, factor: u32) -> Option<(DynamicImage, u32)> {
    let factor = match factor {
        0 | 1 => return None,
        2 | 3 => 2,
        4..DC_FACTOR => 4,
        _ => DC_FACTOR,
    };
    let ours = || {
        if factor == DC_FACTOR {
            dc::decode(input, limits).map_err(|err| format!("DC-only decoder: {err:?}"))
        } else {
            progressive::decode(input, limits, factor)
                .map_err(|err| format!("progressive decoder: {err:?}"))
        }
    };
    let from_libjpeg = || scaled::decode(input, limits, factor);
    let decoded = if is_progressive(input) {
        ours().or_else(|first| {
            tracing::debug!(%first, "trying libjpeg");
            from_libjpeg()
        })
    } else if factor < DC_FACTOR {
        from_libjpeg()
    } else {
        from_libjpeg().or_else(|first| {
            tracing::debug!(%first, "trying the DC-only decoder");
            ours()
        })
    };
    match decoded {
        Ok(image) => Some((image, factor)),
        Err(err) => {
            tracing::debug!(%err, "reduced JPEG decode not used");
            None
        }
    }
}

/// The markers of a JPEG's segments in order, stepping over each scan's entropy-coded data.
/// It stops at the end of the image, or where the data is damaged or ends.
struct Markers<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Markers<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 2 }
    }
}

impl Iterator for Markers<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let data = self.data;
        loop {
            if data.get(self.pos) != Some(&0xFF) {
                return None;
            }
            while data.get(self.pos) == Some(&0xFF) {
                self.pos += 1;
            }
            let marker = *data.get(self.pos)?;
            self.pos += 1;
            match marker {
                0xD9 => {
                    self.pos = data.len();
                    return None;
                }
                0x01 | 0xD0..=0xD7 => continue,
                _ => {}
            }
            let length = match (data.get(self.pos), data.get(self.pos + 1)) {
                (Some(&high), Some(&low)) => usize::from(high) << 8 | usize::from(low),
                _ => return None,
            };
            self.pos += length;
            if marker == 0xDA {
                self.pos = entropy::next_marker(data, self.pos, false);
            }
            return Some(marker);
        }
    }
}

/// Whether the frame is progressive (SOF2). Only the segments before the frame header are
/// read, so this costs nothing like a walk over the whole file.
fn is_progressive(data: &[u8]) -> bool {
    Markers::new(data)
        .find(|marker| matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF))
        == Some(0xC2)
}

/// How many scans (SOS segments) `data` has. A damaged file counts those before the damage.
#[cfg_attr(not(feature = "jpeg-scaled"), allow(dead_code))]
fn scan_count(data: &[u8]) -> usize {
    Markers::new(data).filter(|&marker| marker == 0xDA).count()
}

#[cfg(test)]
mod tests {
    use super::test_support::fixture;
    use super::*;

    #[test]
    fn the_markers_give_the_frame_kind_and_the_scan_count() {
        let baseline = fixture("baseline-420.jpg");
        assert_eq!(
            (scan_count(&baseline), is_progressive(&baseline)),
            (1, false)
        );
        let progressive = fixture("progressive-420.jpg");
        assert!(is_progressive(&progressive));
        assert!(scan_count(&progressive) > 2, "{}", scan_count(&progressive));
        assert_eq!((scan_count(b""), is_progressive(b"")), (0, false));
        let truncated = b"\xFF\xD8\xFF\xDA";
        assert_eq!(
            (scan_count(truncated), is_progressive(truncated)),
            (0, false)
        );
    }

    #[cfg(feature = "jpeg-scaled")]
    #[test]
    fn eighths_go_to_the_dc_decoder_only_for_progressive_files() {
        let limits = Limits::default();
        for name in [
            "baseline-420.jpg",
            "progressive-420.jpg",
            "grey-baseline.jpg",
        ] {
            let bytes = fixture(name);
            let (image, factor) = decode_reduced(&bytes, &limits, 8).expect(name);
            assert_eq!(factor, 8);
            let full = image::load_from_memory(&bytes).expect(name);
            assert_eq!(image.width(), full.width().div_ceil(8), "{name}");
            // Factors between the supported ones round down; 1 means no reduced decode.
            assert_eq!(decode_reduced(&bytes, &limits, 3).map(|(_, f)| f), Some(2));
            assert_eq!(decode_reduced(&bytes, &limits, 7).map(|(_, f)| f), Some(4));
            assert_eq!(decode_reduced(&bytes, &limits, 32).map(|(_, f)| f), Some(8));
            assert!(decode_reduced(&bytes, &limits, 1).is_none());
        }
    }

    #[cfg(feature = "jpeg-scaled")]
    #[test]
    fn at_an_eighth_the_other_decoder_is_tried_when_the_first_refuses() {
        // An Adobe segment saying "no transform": RGB-coded samples, which the DC-only decoder
        // leaves alone and libjpeg reads.
        let mut bytes = fixture("progressive-444.jpg");
        let adobe: &[u8] = b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x00";
        bytes.splice(2..2, adobe.iter().copied());
        assert!(dc::decode(&bytes, &Limits::default()).is_err());
        let (image, factor) = decode_reduced(&bytes, &Limits::default(), 8).expect("libjpeg");
        assert_eq!(factor, 8);
        let full = image::load_from_memory(&bytes).expect("full decode");
        assert_eq!(image.width(), full.width().div_ceil(8));
        // Nothing reads a file that is not a JPEG.
        assert!(decode_reduced(b"GIF89a", &Limits::default(), 8).is_none());
    }
}
