//! JPEG shrink-on-load: decode at a fraction of the size when the output is much smaller.
//!
//! When the geometry needs at most an eighth of the source's pixels on each side (a 150×150
//! or `fit-in/300x200` thumbnail of a 12–20 megapixel photo), the decoder reads only the DC
//! coefficient of each 8×8 block: that is the block's average, so the 1/8-scale image comes
//! without any inverse DCT. For a progressive file only the DC scans are read at all (about a
//! tenth of the data), so this is where the speed-up is largest; libjpeg, and so libvips,
//! decodes every scan even at 1/8 scale. See [`dc`] for the decoder.
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
pub(crate) fn decode_reduced(
    input: &[u8],
    limits: &Limits,
    factor: u32,
) -> Option<(DynamicImage, u32)> {
    if factor < DC_FACTOR {
        let factor = if factor >= 4 { 4 } else { factor };
        if factor < 2 {
            return None;
        }
        return match scaled::decode(input, limits, factor) {
            Ok(image) => Some((image, factor)),
            Err(err) => {
                tracing::debug!(%err, "scaled JPEG decode not used");
                None
            }
        };
    }
    match dc::decode(input, limits) {
        Ok(image) => Some((image, DC_FACTOR)),
        Err(err) => {
            tracing::debug!(?err, "DC-only JPEG decode not used");
            None
        }
    }
}

/// How many scans (SOS segments) `data` has, counted by walking its marker segments and
/// stepping over each scan's entropy-coded data. A damaged file counts what was found before
/// the damage.
fn scan_count(data: &[u8]) -> usize {
    let mut scans = 0;
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
            _ => {}
        }
        let length = match (data.get(pos), data.get(pos + 1)) {
            (Some(&high), Some(&low)) => usize::from(high) << 8 | usize::from(low),
            _ => break,
        };
        pos += length;
        if marker == 0xDA {
            scans += 1;
            pos = dc::next_marker(data, pos, false);
        }
    }
    scans
}
