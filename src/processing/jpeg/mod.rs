//! JPEG shrink-on-load: decode at a fraction of the size when the output is much smaller.
//!
//! When the geometry needs at most an eighth of the source's pixels on each side (a 150×150
//! thumbnail of a 12–20 megapixel photo) and the file is progressive, the decoder reads only
//! its DC scans (about a tenth of the data): the DC coefficient of each 8×8 block is the
//! block's average, so the 1/8-scale image comes without any inverse DCT. libjpeg, and so
//! libvips, decodes every scan even at 1/8 scale. See [`dc`] for that decoder.
//!
//! Everything else that can be reduced (1/2 and 1/4, and 1/8 of a sequential file, whose
//! Huffman data has to be read in full anyway) is decoded by libjpeg's scaled IDCT: see
//! [`scaled`].
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
mod scaled;
#[cfg(test)]
mod test_support;

use image::DynamicImage;

use super::Limits;

/// The shrink factor of the DC-only path.
pub(crate) const DC_FACTOR: u32 = 8;

/// Decodes `input` at 1/`factor` scale when a fast path exists for that factor; `None`
/// means "use the full decoder" (unsupported layout, damaged data, or no fast path).
///
/// 1/2 and 1/4 go to libjpeg ([`scaled`]). At 1/8 a progressive file goes to the DC-only
/// decoder ([`dc`]), which reads its DC scans alone; a sequential file has to be
/// Huffman-decoded in full either way, and libjpeg does that faster, so it goes to [`scaled`].
/// At 1/8, when the first choice refuses a file (the DC decoder does not read RGB-coded
/// files, for one), the other is tried before giving up.
pub(crate) fn decode_reduced(
    input: &[u8],
    limits: &Limits,
    factor: u32,
) -> Option<(DynamicImage, u32)> {
    let factor = match factor {
        0 | 1 => return None,
        2 | 3 => 2,
        4..DC_FACTOR => 4,
        _ => DC_FACTOR,
    };
    let layout = survey(input);
    let from_dc = || dc::decode(input, limits).map_err(|err| format!("DC-only decoder: {err:?}"));
    let from_libjpeg = || scaled::decode(input, limits, factor, layout.scans);
    let decoded = if factor < DC_FACTOR {
        from_libjpeg()
    } else if layout.progressive {
        from_dc().or_else(|first| {
            tracing::debug!(%first, "trying libjpeg at 1/8");
            from_libjpeg()
        })
    } else {
        from_libjpeg().or_else(|first| {
            tracing::debug!(%first, "trying the DC-only decoder");
            from_dc()
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

/// What a walk over the marker segments finds out about a JPEG before decoding it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// How many scans (SOS segments) there are.
    scans: usize,
    /// Whether the frame is progressive (SOF2).
    progressive: bool,
}

/// Walks the marker segments of `data`, stepping over each scan's entropy-coded data. A
/// damaged file reports what was found before the damage.
fn survey(data: &[u8]) -> Layout {
    let mut layout = Layout::default();
    let mut pos = 2;
    while data.get(pos) == Some(&0xFF) {
        while data.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = data.get(pos) else { break };
        pos += 1;
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            0xC2 => layout.progressive = true,
            _ => {}
        }
        let length = match (data.get(pos), data.get(pos + 1)) {
            (Some(&high), Some(&low)) => usize::from(high) << 8 | usize::from(low),
            _ => break,
        };
        pos += length;
        if marker == 0xDA {
            layout.scans += 1;
            pos = dc::next_marker(data, pos, false);
        }
    }
    layout
}

#[cfg(test)]
mod tests {
    use super::test_support::fixture;
    use super::*;

    #[test]
    fn the_survey_finds_the_frame_kind_and_counts_scans() {
        let baseline = survey(&fixture("baseline-420.jpg"));
        assert_eq!(
            baseline,
            Layout {
                scans: 1,
                progressive: false
            }
        );
        let progressive = survey(&fixture("progressive-420.jpg"));
        assert!(progressive.progressive);
        assert!(progressive.scans > 2, "{progressive:?}");
        assert_eq!(survey(b""), Layout::default());
        assert_eq!(survey(b"\xFF\xD8\xFF\xDA"), Layout::default());
    }

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
