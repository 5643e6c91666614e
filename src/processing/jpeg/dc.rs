//! The DC-only JPEG decoder: one pixel per 8×8 block, from the block's DC coefficient.
//!
//! The average of an 8×8 block is its DC coefficient times the quantiser, divided by 8, plus
//! 128: no inverse DCT is needed for a 1/8-scale image. Baseline (sequential) scans are
//! Huffman-decoded in full, but the AC codes are only stepped over; progressive files are
//! read for their DC scans alone, the AC scans are skipped by looking for the next marker,
//! and parsing stops as soon as every component has its full DC precision.
//!
//! Everything that is not 8-bit Huffman-coded YCbCr or greyscale (CMYK, Adobe RGB, 12-bit,
//! lossless, arithmetic coding, hierarchical frames, a height given by DNL) is
//! [`ReducedError::Unsupported`]; damaged data is [`ReducedError::Corrupt`]. Every length and index is
//! checked, and the size is checked against [`Limits`] before anything is allocated.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{process, Options};
//!
//! # let mut jpeg = Vec::new();
//! # image::RgbImage::from_pixel(1600, 1200, image::Rgb([200, 40, 40]))
//! #     .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
//! #     .unwrap();
//! // 1600×1200 to 150×150: the 1/8-scale image (200×150) is enough, so only DC is read.
//! let params = Params { width: 150, height: 150, ..Default::default() };
//! let output = process(&jpeg, &params, &Options::default()).unwrap();
//! assert_eq!((output.width(), output.height()), (150, 150));
//! ```

use image::{DynamicImage, GrayImage, RgbImage};

use super::entropy::{Bits, Huffman, ReducedError, Restarts, next_marker};
use super::header::{Event, Frame, Scan, Segments};
use super::pixels::ycc_to_rgb;
use crate::processing::limits::Limits;

/// The DC coefficients of one component and how far its scans have got.
struct Plane {
    /// One DC coefficient per block of the padded plane.
    dc: Vec<i32>,
    /// The DC quantiser captured at the component's first scan.
    quant: Option<u16>,
    /// Sequential: scanned. Progressive: the successive-approximation bit reached.
    scanned: bool,
    dc_al: Option<u8>,
}

/// What a scan does to the DC coefficients.
#[derive(Clone, Copy)]
enum Pass {
    Sequential,
    First(u8),
    Refine(u8),
}

/// The decoder state while walking the markers.
struct Decoder<'a> {
    data: &'a [u8],
    limits: &'a Limits,
    segments: Segments<'a>,
    frame: Option<Frame>,
    planes: Vec<Plane>,
}

/// Decodes `data` at 1/8 scale: `ceil(width / 8) × ceil(height / 8)` pixels, RGB for YCbCr
/// sources and grey for one-component sources.
pub(crate) fn decode(data: &[u8], limits: &Limits) -> Result<DynamicImage, ReducedError> {
    let mut decoder = Decoder {
        data,
        limits,
        segments: Segments::new(data)?,
        frame: None,
        planes: Vec::new(),
    };
    decoder.run()?;
    decoder.finish()
}

impl Decoder<'_> {
    fn run(&mut self) -> Result<(), ReducedError> {
        loop {
            match self.segments.next()? {
                Event::End => return Ok(()),
                Event::Frame(segment, progressive) => self.start_frame(segment, progressive)?,
                Event::Scan(segment) => {
                    self.segments.pos = self.scan(segment, self.segments.pos)?;
                    if self.complete() {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn start_frame(&mut self, segment: &[u8], progressive: bool) -> Result<(), ReducedError> {
        if self.frame.is_some() {
            return Err(ReducedError::Corrupt("two frames"));
        }
        let frame = Frame::parse(segment, progressive, self.limits)?;
        let mut planes = Vec::with_capacity(frame.components.len());
        for component in &frame.components {
            let mut dc = Vec::new();
            dc.try_reserve_exact(component.blocks())
                .map_err(|_| ReducedError::TooLarge)?;
            dc.resize(component.blocks(), 0);
            planes.push(Plane {
                dc,
                quant: None,
                scanned: false,
                dc_al: None,
            });
        }
        self.planes = planes;
        self.frame = Some(frame);
        Ok(())
    }

    /// Whether every component has all the DC data it will get.
    fn complete(&self) -> bool {
        self.frame.as_ref().is_some_and(|frame| {
            self.planes.iter().all(|plane| {
                if frame.progressive {
                    plane.dc_al == Some(0)
                } else {
                    plane.scanned
                }
            })
        })
    }

    /// Reads the SOS header in `segment` and the entropy-coded data from `pos`; returns the
    /// position of the marker after the scan.
    fn scan(&mut self, segment: &[u8], pos: usize) -> Result<usize, ReducedError> {
        let frame = self
            .frame
            .as_ref()
            .ok_or(ReducedError::Corrupt("scan before frame"))?;
        let scan = Scan::parse(segment, frame)?;
        let (ah, al) = (scan.ah, scan.al);
        let pass = if frame.progressive {
            if scan.ss != 0 {
                // An AC scan: nothing in it changes a DC coefficient.
                return Ok(next_marker(self.data, pos, false));
            }
            if scan.se != 0 || al > 13 {
                return Err(ReducedError::Corrupt("bad progressive DC scan"));
            }
            if ah == 0 {
                Pass::First(al)
            } else {
                Pass::Refine(al)
            }
        } else {
            if scan.ss != 0 || scan.se != 63 || ah != 0 || al != 0 {
                return Err(ReducedError::Unsupported("odd sequential scan"));
            }
            Pass::Sequential
        };

        // Check every table and the refinement order before decoding anything.
        let tables = &self.segments.tables;
        let mut dc_tables = Vec::with_capacity(scan.members.len());
        let mut ac_tables = Vec::with_capacity(scan.members.len());
        for member in &scan.members {
            let component = frame
                .components
                .get(member.component)
                .ok_or(ReducedError::Corrupt("unknown scan component"))?;
            let plane = self
                .planes
                .get_mut(member.component)
                .ok_or(ReducedError::Corrupt("unknown scan component"))?;
            match pass {
                Pass::Sequential => {
                    ac_tables.push(
                        tables
                            .ac
                            .get(member.ac)
                            .and_then(Option::as_ref)
                            .ok_or(ReducedError::Corrupt("missing AC table"))?,
                    );
                }
                Pass::First(_) => {
                    if plane.dc_al.is_some() {
                        return Err(ReducedError::Corrupt("repeated DC scan"));
                    }
                }
                Pass::Refine(al) => {
                    if plane.dc_al != Some(ah) || al.checked_add(1) != Some(ah) {
                        return Err(ReducedError::Corrupt("bad DC refinement"));
                    }
                }
            }
            if !matches!(pass, Pass::Refine(_)) {
                dc_tables.push(
                    tables
                        .dc
                        .get(member.dc)
                        .and_then(Option::as_ref)
                        .ok_or(ReducedError::Corrupt("missing DC table"))?,
                );
            }
            if plane.quant.is_none() {
                plane.quant = Some(
                    tables
                        .quant
                        .get(component.quant_table)
                        .copied()
                        .flatten()
                        .map(|table| table[0])
                        .ok_or(ReducedError::Corrupt("missing quantisation table"))?,
                );
            }
        }

        let mut bits = Bits::new(self.data, pos);
        let mut predictors = [0i32; 4];
        let interleaved = scan.interleaved();
        let (units_x, units_y) = scan.units(frame)?;
        let mut restarts = Restarts::new(tables.restart_interval);
        for unit_y in 0..units_y {
            for unit_x in 0..units_x {
                if restarts.before_unit(&mut bits)? {
                    predictors = [0; 4];
                }
                for (slot, member) in scan.members.iter().enumerate() {
                    let (Some(c), Some(plane)) = (
                        frame.components.get(member.component),
                        self.planes.get_mut(member.component),
                    ) else {
                        return Err(ReducedError::Corrupt("bad SOS"));
                    };
                    let (bh, bv) = if interleaved { (c.h, c.v) } else { (1, 1) };
                    for by in 0..bv {
                        for bx in 0..bh {
                            let (x, y) = if interleaved {
                                (unit_x * c.h + bx, unit_y * c.v + by)
                            } else {
                                (unit_x, unit_y)
                            };
                            let index = y * c.stride + x;
                            let coefficient = plane
                                .dc
                                .get_mut(index)
                                .ok_or(ReducedError::Corrupt("block outside the frame"))?;
                            let predictor = predictors
                                .get_mut(slot)
                                .ok_or(ReducedError::Corrupt("bad SOS"))?;
                            match pass {
                                Pass::Refine(al) => {
                                    if bits.bit()? {
                                        *coefficient |= 1 << al;
                                    }
                                }
                                Pass::First(_) | Pass::Sequential => {
                                    let table = dc_tables
                                        .get(slot)
                                        .ok_or(ReducedError::Corrupt("bad SOS"))?;
                                    let size = u32::from(table.decode(&mut bits)?);
                                    let diff = bits.signed(size)?;
                                    *predictor = predictor.wrapping_add(diff);
                                    let shift = if let Pass::First(al) = pass { al } else { 0 };
                                    let value = i64::from(*predictor) << shift;
                                    *coefficient = i32::try_from(
                                        value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)),
                                    )
                                    .unwrap_or(0);
                                    if let Pass::Sequential = pass {
                                        let ac = ac_tables
                                            .get(slot)
                                            .ok_or(ReducedError::Corrupt("bad SOS"))?;
                                        skip_ac(ac, &mut bits)?;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for member in &scan.members {
            if let Some(plane) = self.planes.get_mut(member.component) {
                plane.scanned = true;
                match pass {
                    Pass::First(al) | Pass::Refine(al) => plane.dc_al = Some(al),
                    Pass::Sequential => {}
                }
            }
        }
        Ok(next_marker(self.data, bits.pos, false))
    }

    /// Turns the DC coefficients into pixels.
    fn finish(self) -> Result<DynamicImage, ReducedError> {
        let frame = self.frame.ok_or(ReducedError::Corrupt("no frame"))?;
        if !self.planes.iter().all(|plane| plane.scanned) {
            return Err(ReducedError::Corrupt("missing scans"));
        }
        let out_w = frame.width.div_ceil(8);
        let out_h = frame.height.div_ceil(8);
        let width = u32::try_from(out_w).map_err(|_| ReducedError::TooLarge)?;
        let height = u32::try_from(out_h).map_err(|_| ReducedError::TooLarge)?;
        let (h_max, v_max) = (frame.h_max, frame.v_max);
        let planes: Vec<Vec<u8>> = self
            .planes
            .iter()
            .map(|plane| {
                let quant = i64::from(plane.quant.unwrap_or(1));
                plane
                    .dc
                    .iter()
                    .map(|&coefficient| {
                        // Block mean = DC × Q / 8, level-shifted by 128, rounded.
                        let value = (i64::from(coefficient) * quant + 4).div_euclid(8) + 128;
                        u8::try_from(value.clamp(0, 255)).unwrap_or(0)
                    })
                    .collect()
            })
            .collect();
        // Per component and axis: the two blocks around each output pixel's centre and the
        // weight of the second (in 1/256), so subsampled chroma is interpolated, not repeated.
        let taps = |size: usize, factor: usize, max: usize, valid: usize| -> Vec<Tap> {
            (0..size)
                .map(|i| {
                    let centre = ((i as f64 + 0.5) * factor as f64 / max as f64 - 0.5).max(0.0);
                    let last = valid.saturating_sub(1);
                    let first = (centre.floor() as usize).min(last);
                    let weight = ((centre - centre.floor()) * 256.0).round() as u32;
                    Tap {
                        first,
                        second: (first + 1).min(last),
                        weight: weight.min(256),
                    }
                })
                .collect()
        };
        let columns: Vec<Vec<Tap>> = frame
            .components
            .iter()
            .map(|c| taps(out_w, c.h, h_max, c.data_cols))
            .collect();
        let rows: Vec<Vec<Tap>> = frame
            .components
            .iter()
            .map(|c| taps(out_h, c.v, v_max, c.data_rows))
            .collect();
        let sample = |component: usize, x: usize, y: usize| -> u8 {
            let (Some(c), Some(plane), Some(tx), Some(ty)) = (
                frame.components.get(component),
                planes.get(component),
                columns.get(component).and_then(|taps| taps.get(x)),
                rows.get(component).and_then(|taps| taps.get(y)),
            ) else {
                return 0;
            };
            let at = |row: usize, col: usize| -> u32 {
                u32::from(plane.get(row * c.stride + col).copied().unwrap_or(0))
            };
            let top =
                at(ty.first, tx.first) * (256 - tx.weight) + at(ty.first, tx.second) * tx.weight;
            let bottom =
                at(ty.second, tx.first) * (256 - tx.weight) + at(ty.second, tx.second) * tx.weight;
            let value = (top * (256 - ty.weight) + bottom * ty.weight + 32_768) >> 16;
            u8::try_from(value.min(255)).unwrap_or(u8::MAX)
        };

        let pixels = out_w.checked_mul(out_h).ok_or(ReducedError::TooLarge)?;
        if frame.components.len() == 1 {
            let mut grey = Vec::new();
            grey.try_reserve_exact(pixels)
                .map_err(|_| ReducedError::TooLarge)?;
            for y in 0..out_h {
                grey.extend((0..out_w).map(|x| sample(0, x, y)));
            }
            return GrayImage::from_raw(width, height, grey)
                .map(DynamicImage::ImageLuma8)
                .ok_or(ReducedError::Corrupt("size mismatch"));
        }

        let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
        if self.segments.tables.rgb_coded(&ids) {
            return Err(ReducedError::Unsupported("RGB-coded JPEG"));
        }
        let mut rgb = Vec::new();
        rgb.try_reserve_exact(pixels.checked_mul(3).ok_or(ReducedError::TooLarge)?)
            .map_err(|_| ReducedError::TooLarge)?;
        for y in 0..out_h {
            for x in 0..out_w {
                rgb.extend(ycc_to_rgb(
                    sample(0, x, y),
                    sample(1, x, y),
                    sample(2, x, y),
                ));
            }
        }
        RgbImage::from_raw(width, height, rgb)
            .map(DynamicImage::ImageRgb8)
            .ok_or(ReducedError::Corrupt("size mismatch"))
    }
}

/// One axis of a bilinear lookup: two neighbouring blocks and the second one's weight.
struct Tap {
    first: usize,
    second: usize,
    weight: u32,
}

/// Steps over the AC codes of one block of a sequential scan.
fn skip_ac(table: &Huffman, bits: &mut Bits<'_>) -> Result<(), ReducedError> {
    let mut k = 1u32;
    while k < 64 {
        let symbol = table.decode(bits)?;
        let run = u32::from(symbol >> 4);
        let size = u32::from(symbol & 15);
        if size == 0 {
            if run != 15 {
                break;
            }
            k += 16;
        } else {
            k += run + 1;
            bits.take(size)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{damaged_copies, fixture, marker};
    use super::*;

    /// The 8×8 block means of the full decode, in the layout of `dc`'s output.
    fn block_means(full: &DynamicImage) -> Vec<f64> {
        let channels = usize::from(full.color().channel_count());
        let (w, h) = (full.width() as usize, full.height() as usize);
        let samples = full.as_bytes();
        let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
        let mut means = Vec::with_capacity(bw * bh * channels);
        for by in 0..bh {
            for bx in 0..bw {
                for c in 0..channels {
                    let (mut sum, mut n) = (0.0, 0.0);
                    for y in by * 8..(by * 8 + 8).min(h) {
                        for x in bx * 8..(bx * 8 + 8).min(w) {
                            sum += f64::from(samples[(y * w + x) * channels + c]);
                            n += 1.0;
                        }
                    }
                    means.push(sum / n);
                }
            }
        }
        means
    }

    /// Mean absolute difference of the DC image against the block means of a full decode.
    fn error_against_full_decode(name: &str) -> f64 {
        let bytes = fixture(name);
        let full = image::load_from_memory(&bytes).expect("full decode");
        let reduced = decode(&bytes, &Limits::default()).expect("DC decode");
        assert_eq!(reduced.width(), full.width().div_ceil(8), "{name}");
        assert_eq!(reduced.height(), full.height().div_ceil(8), "{name}");
        assert_eq!(reduced.color(), full.color(), "{name}");
        let means = block_means(&full);
        let ours = reduced.as_bytes();
        assert_eq!(means.len(), ours.len());
        let total: f64 = means
            .iter()
            .zip(ours)
            .map(|(m, &o)| (m - f64::from(o)).abs())
            .sum();
        total / means.len() as f64
    }

    #[test]
    fn dc_image_matches_block_means_of_full_decode() {
        for (name, bound) in [
            ("baseline-444.jpg", 1.5),
            ("progressive-444.jpg", 1.5),
            ("grey-baseline.jpg", 1.0),
            ("grey-progressive.jpg", 1.0),
            // Chroma at half resolution is repeated, not interpolated: a little more error.
            ("baseline-420.jpg", 4.0),
            ("progressive-420.jpg", 4.0),
            ("restart-baseline.jpg", 4.0),
            ("restart-progressive.jpg", 4.0),
        ] {
            let error = error_against_full_decode(name);
            assert!(error < bound, "{name}: mean abs error {error}");
        }
    }

    #[test]
    fn truncated_files_fail_or_decode_but_never_panic() {
        for name in [
            "baseline-420.jpg",
            "progressive-444.jpg",
            "restart-baseline.jpg",
        ] {
            let bytes = fixture(name);
            for cut in (0..bytes.len()).step_by(37) {
                let _ = decode(bytes.get(..cut).unwrap_or(&bytes), &Limits::default());
            }
        }
        // Cut in the middle of a baseline scan: an error, not an image made of padding.
        let bytes = fixture("baseline-444.jpg");
        let half = bytes.get(..bytes.len() / 2).unwrap_or(&bytes);
        assert!(matches!(
            decode(half, &Limits::default()),
            Err(ReducedError::Corrupt(_))
        ));
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let original = fixture("restart-progressive.jpg");
        for bytes in damaged_copies(&original, 400, 0x2545_f491_4f6c_dd1d) {
            let _ = decode(&bytes, &Limits::default());
        }
        for junk in [
            &b""[..],
            b"\xFF\xD8",
            b"\xFF\xD8\xFF",
            b"\xFF\xD8\xFF\xC0\x00",
        ] {
            assert!(decode(junk, &Limits::default()).is_err());
        }
    }

    #[test]
    fn size_is_checked_before_allocating() {
        let mut bytes = fixture("baseline-444.jpg");
        // Rewrite the SOF0 size to 60000 × 60000.
        let sof = marker(&bytes, 0xC0);
        bytes[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        assert_eq!(
            decode(&bytes, &Limits::default()),
            Err(ReducedError::TooLarge)
        );
        let small = Limits {
            max_width: Some(400),
            ..Limits::default()
        };
        assert_eq!(
            decode(&fixture("grey-baseline.jpg"), &small),
            Err(ReducedError::TooLarge)
        );
    }

    #[test]
    fn odd_files_are_left_to_the_full_decoder() {
        // An Adobe segment saying "no transform" means RGB samples: not handled here.
        let mut bytes = fixture("baseline-444.jpg");
        let adobe: &[u8] = b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x00";
        bytes.splice(2..2, adobe.iter().copied());
        assert!(matches!(
            decode(&bytes, &Limits::default()),
            Err(ReducedError::Unsupported(_))
        ));
        // 12-bit precision.
        let mut bytes = fixture("baseline-444.jpg");
        let sof = marker(&bytes, 0xC0);
        bytes[sof + 4] = 12;
        assert!(matches!(
            decode(&bytes, &Limits::default()),
            Err(ReducedError::Unsupported(_))
        ));
    }
}
