//! Progressive JPEGs at 1/2 and 1/4 scale, from the coefficients the scaled IDCT reads.
//!
//! A 1/2-scale decode turns each 8×8 luma block into 4×4 pixels from its 4×4 lowest
//! frequencies, and a 1/4-scale one into 2×2 pixels from the 2×2 lowest. Subsampled chroma is
//! sized as libjpeg sizes it: 4:2:0 gets the larger IDCT that makes upsampling unnecessary,
//! 4:2:2 and 4:4:0 the small one followed by 2× linear upsampling. libjpeg still keeps all
//! 64 coefficients of every block of a progressive file, and reads every correction bit one at
//! a time. Here:
//!
//! * each block keeps only its coefficients up to the last zig-zag index the IDCT reads, plus a
//!   64-bit map of which coefficients are non-zero, which is all a refinement scan needs to know
//!   about the others;
//! * the correction bits of the coefficients that are not kept are stepped over in bulk, their
//!   count read off that map, instead of bit by bit;
//! * a scan whose whole band lies above what the IDCT reads is skipped by marker, when no later
//!   refinement scan of the kept frequencies depends on which of its coefficients are non-zero.
//!
//! The pixels come out as libjpeg's scaled decode gives them (⌈w/k⌉ × ⌈h/k⌉), within
//! rounding. Colour conversion is done one MCU row at a time, so no
//! full-size plane is held. Only 8-bit greyscale and YCbCr files whose chroma is 1 or 2 (1/2) or
//! up to 4 (1/4) times subsampled are read here; everything else is
//! [`ReducedError::Unsupported`], and damaged data is [`ReducedError::Corrupt`], so the caller
//! falls back to libjpeg.

use image::{DynamicImage, GrayImage, RgbImage};

use super::entropy::{Bits, Huffman, ReducedError, Restarts, next_marker, select};
use super::header::MAX_SCANS;
use super::header::{Event, Frame, Scan, Segments};
use super::pixels::{Idct, ZIGZAG, fill, last_needed, ycc_to_rgb};
use super::upsample::{Scratch, Upsampled};
use crate::processing::limits::Limits;

/// The coefficients kept for one component.
struct Plane {
    /// Pixels per block after the scaled IDCT.
    cols: usize,
    rows: usize,
    /// How many times the plane is upsampled across and down after the IDCT (1 or 2).
    up: (usize, usize),
    /// The last zig-zag index kept: each block keeps `last + 1` coefficients.
    last: usize,
    values: Vec<i16>,
    /// Per block, bit `k` set when zig-zag coefficient `k` is non-zero so far.
    nonzero: Vec<u64>,
    /// The quantisation table in force at the component's first scan (zig-zag order).
    quant: Option<[u16; 64]>,
    /// Whether a first DC scan has been read.
    dc_seen: bool,
}

/// One scan as the plan sees it: its component (for AC scans), band and kind.
#[derive(Clone, Copy)]
struct Planned {
    component: Option<usize>,
    ss: u8,
    se: u8,
    refine: bool,
}

/// Decodes the progressive JPEG `data` at 1/`factor` scale (`factor` 2 or 4).
pub(crate) fn decode(
    data: &[u8],
    limits: &Limits,
    factor: u32,
) -> Result<DynamicImage, ReducedError> {
    let per_block = match factor {
        2 => 4,
        4 => 2,
        _ => return Err(ReducedError::Unsupported("factor")),
    };
    let mut segments = Segments::new(data)?;
    // Tables and markers before the frame header are taken in by `next`.
    let frame = match segments.next()? {
        Event::Frame(header, true) => Frame::parse(header, true, limits)?,
        Event::Frame(_, false) => return Err(ReducedError::Unsupported("sequential")),
        Event::Scan(_) | Event::End => return Err(ReducedError::Corrupt("no frame")),
    };
    let plan = plan(data, &frame)?;
    let mut planes = planes(&frame, per_block, limits)?;
    let skip = skippable(&plan, &planes);
    let mut index = 0;
    loop {
        match segments.next()? {
            Event::End => break,
            Event::Frame(..) => return Err(ReducedError::Corrupt("two frames")),
            Event::Scan(header) => {
                let scan = Scan::parse(header, &frame)?;
                segments.pos = if skip.get(index).copied().unwrap_or(false) {
                    next_marker(data, segments.pos, false)
                } else {
                    let tables = &segments.tables;
                    let decoder = ScanDecoder {
                        frame: &frame,
                        scan: &scan,
                        dc: &tables.dc,
                        ac: &tables.ac,
                        restart_interval: tables.restart_interval,
                    };
                    let end =
                        decoder.run(&mut planes, &tables.quant, Bits::new(data, segments.pos))?;
                    next_marker(data, end, false)
                };
                index += 1;
            }
        }
    }
    let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
    if frame.components.len() == 3 && segments.tables.rgb_coded(&ids) {
        return Err(ReducedError::Unsupported("RGB-coded JPEG"));
    }
    render(&frame, &planes, factor, per_block)
}

/// Reads every scan header ahead, for [`skippable`]; refuses files with too many scans.
fn plan(data: &[u8], frame: &Frame) -> Result<Vec<Planned>, ReducedError> {
    let mut segments = Segments::new(data)?;
    let mut plan = Vec::new();
    loop {
        match segments.next()? {
            Event::End => return Ok(plan),
            Event::Frame(..) => {}
            Event::Scan(header) => {
                if plan.len() == MAX_SCANS {
                    return Err(ReducedError::Unsupported("too many scans"));
                }
                let scan = Scan::parse(header, frame)?;
                plan.push(Planned {
                    component: match scan.members.as_slice() {
                        [only] if scan.ss > 0 => Some(only.component),
                        _ => None,
                    },
                    ss: scan.ss,
                    se: scan.se,
                    refine: scan.ah != 0,
                });
                segments.pos = next_marker(data, segments.pos, false);
            }
        }
    }
}

/// Which scans can be skipped: AC scans whose band starts above the component's last kept
/// coefficient, unless a later refinement scan that reaches the kept coefficients shares part
/// of the band (it needs to know which of those coefficients are non-zero to be read).
fn skippable(plan: &[Planned], planes: &[Plane]) -> Vec<bool> {
    let above = |scan: &Planned| {
        scan.component
            .and_then(|c| planes.get(c))
            .is_some_and(|plane| usize::from(scan.ss) > plane.last)
    };
    plan.iter()
        .enumerate()
        .map(|(index, scan)| {
            above(scan)
                && !plan.iter().skip(index + 1).any(|later| {
                    later.refine
                        && later.component == scan.component
                        && !above(later)
                        && later.ss <= scan.se
                        && scan.ss <= later.se
                })
        })
        .collect()
}

/// The planes for a decode at `per_block` pixels per luma block, checked against the limits.
fn planes(frame: &Frame, per_block: usize, limits: &Limits) -> Result<Vec<Plane>, ReducedError> {
    let mut bytes: u64 = 0;
    let mut planes = Vec::with_capacity(frame.components.len());
    for c in &frame.components {
        if !frame.h_max.is_multiple_of(c.h) || !frame.v_max.is_multiple_of(c.v) {
            return Err(ReducedError::Unsupported("sampling factors"));
        }
        let (across, down) = (frame.h_max / c.h, frame.v_max / c.v);
        // As libjpeg chooses: the IDCT of a subsampled component grows by the largest power
        // of two that divides both of its factors (up to 8 pixels), so 4:2:0 chroma needs no
        // upsampling; what is left (4:2:2, 4:4:0) is upsampled 2× after a small IDCT.
        let mut grow = 1;
        while per_block * grow * 2 <= 8
            && across.is_multiple_of(grow * 2)
            && down.is_multiple_of(grow * 2)
        {
            grow *= 2;
        }
        let (cols, rows, up) = if across / grow <= 2 && down / grow <= 2 {
            let size = per_block * grow;
            (size, size, (across / grow, down / grow))
        } else {
            (per_block * across, per_block * down, (1, 1))
        };
        if cols > 8 || rows > 8 {
            return Err(ReducedError::Unsupported("subsampling"));
        }
        let last = last_needed(cols, rows);
        let blocks = c.blocks();
        bytes = bytes.saturating_add((blocks as u64).saturating_mul(2 * (last as u64 + 1) + 8));
        planes.push(Plane {
            cols,
            rows,
            up,
            last,
            values: Vec::new(),
            nonzero: Vec::new(),
            quant: None,
            dc_seen: false,
        });
    }
    limits
        .check_alloc(bytes)
        .map_err(|_| ReducedError::TooLarge)?;
    for (plane, c) in planes.iter_mut().zip(&frame.components) {
        let values = c
            .blocks()
            .checked_mul(plane.last + 1)
            .ok_or(ReducedError::TooLarge)?;
        plane
            .values
            .try_reserve_exact(values)
            .map_err(|_| ReducedError::TooLarge)?;
        plane.values.resize(values, 0);
        plane
            .nonzero
            .try_reserve_exact(c.blocks())
            .map_err(|_| ReducedError::TooLarge)?;
        plane.nonzero.resize(c.blocks(), 0);
    }
    Ok(planes)
}

/// What a scan does.
#[derive(Clone, Copy)]
enum Kind {
    DcFirst,
    DcRefine,
    AcFirst,
    AcRefine,
}

/// One scan's tables and settings.
struct ScanDecoder<'a> {
    frame: &'a Frame,
    scan: &'a Scan,
    dc: &'a [Option<Huffman>; 4],
    ac: &'a [Option<Huffman>; 4],
    restart_interval: usize,
}

impl ScanDecoder<'_> {
    /// Checks the scan, decodes its data into `planes` and returns where the reading stopped.
    fn run(
        &self,
        planes: &mut [Plane],
        quant: &[Option<[u16; 64]>; 4],
        mut bits: Bits<'_>,
    ) -> Result<usize, ReducedError> {
        let scan = self.scan;
        let (ss, se, ah, al) = (scan.ss, scan.se, scan.ah, scan.al);
        if ss > se || se > 63 || al > 13 || (ah != 0 && ah != al + 1) {
            return Err(ReducedError::Corrupt("bad progression"));
        }
        let kind = match (ss, ah) {
            (0, _) if se != 0 => return Err(ReducedError::Corrupt("DC scan with AC")),
            (0, 0) => Kind::DcFirst,
            (0, _) => Kind::DcRefine,
            _ if scan.interleaved() => return Err(ReducedError::Corrupt("interleaved AC scan")),
            (_, 0) => Kind::AcFirst,
            _ => Kind::AcRefine,
        };
        let mut tables = Vec::with_capacity(scan.members.len());
        for member in &scan.members {
            let (Some(c), Some(plane)) = (
                self.frame.components.get(member.component),
                planes.get_mut(member.component),
            ) else {
                return Err(ReducedError::Corrupt("unknown scan component"));
            };
            if plane.quant.is_none() {
                plane.quant = Some(
                    quant
                        .get(c.quant_table)
                        .copied()
                        .flatten()
                        .ok_or(ReducedError::Corrupt("missing quantisation table"))?,
                );
            }
            match kind {
                Kind::DcFirst => plane.dc_seen = true,
                Kind::DcRefine if !plane.dc_seen => {
                    return Err(ReducedError::Corrupt("DC refinement first"));
                }
                _ => {}
            }
            let table = match kind {
                Kind::DcFirst => self.dc.get(member.dc).and_then(Option::as_ref),
                Kind::DcRefine => None,
                Kind::AcFirst | Kind::AcRefine => self.ac.get(member.ac).and_then(Option::as_ref),
            };
            if table.is_none() && !matches!(kind, Kind::DcRefine) {
                return Err(ReducedError::Corrupt("missing Huffman table"));
            }
            tables.push(table);
        }
        match kind {
            Kind::DcFirst | Kind::DcRefine => self.dc_scan(planes, &tables, &mut bits, kind)?,
            Kind::AcFirst | Kind::AcRefine => {
                let member = scan
                    .members
                    .first()
                    .ok_or(ReducedError::Corrupt("bad SOS"))?;
                let (Some(c), Some(plane), Some(Some(table))) = (
                    self.frame.components.get(member.component),
                    planes.get_mut(member.component),
                    tables.first(),
                ) else {
                    return Err(ReducedError::Corrupt("bad SOS"));
                };
                let band = Band {
                    ss: usize::from(ss),
                    se: usize::from(se),
                    al,
                    last: plane.last,
                };
                let refine = matches!(kind, Kind::AcRefine);
                let keep = plane.last + 1;
                let mut eobrun = 0u32;
                let mut restarts = Restarts::new(self.restart_interval);
                for y in 0..c.data_rows {
                    for x in 0..c.data_cols {
                        if restarts.before_unit(&mut bits)? {
                            eobrun = 0;
                        }
                        let block = y * c.stride + x;
                        let (Some(values), Some(nonzero)) = (
                            plane.values.get_mut(block * keep..block * keep + keep),
                            plane.nonzero.get_mut(block),
                        ) else {
                            return Err(ReducedError::Corrupt("block outside the frame"));
                        };
                        let mut coefficients = Coefficients { values, nonzero };
                        if refine {
                            band.refine(&mut bits, table, &mut coefficients, &mut eobrun)?;
                        } else {
                            band.first(&mut bits, table, &mut coefficients, &mut eobrun)?;
                        }
                    }
                }
            }
        }
        Ok(bits.pos)
    }

    /// A DC scan: interleaved MCU by MCU, or one component's blocks in order.
    fn dc_scan(
        &self,
        planes: &mut [Plane],
        tables: &[Option<&Huffman>],
        bits: &mut Bits<'_>,
        kind: Kind,
    ) -> Result<(), ReducedError> {
        let frame = self.frame;
        let scan = self.scan;
        let al = scan.al;
        let interleaved = scan.interleaved();
        let (units_x, units_y) = scan.units(frame)?;
        let mut predictors = [0i32; 4];
        let mut restarts = Restarts::new(self.restart_interval);
        for unit_y in 0..units_y {
            for unit_x in 0..units_x {
                if restarts.before_unit(bits)? {
                    predictors = [0; 4];
                }
                for (slot, member) in scan.members.iter().enumerate() {
                    let (Some(c), Some(plane)) = (
                        frame.components.get(member.component),
                        planes.get_mut(member.component),
                    ) else {
                        return Err(ReducedError::Corrupt("bad SOS"));
                    };
                    let (bh, bv) = if interleaved { (c.h, c.v) } else { (1, 1) };
                    let keep = plane.last + 1;
                    for by in 0..bv {
                        for bx in 0..bh {
                            let (x, y) = if interleaved {
                                (unit_x * c.h + bx, unit_y * c.v + by)
                            } else {
                                (unit_x, unit_y)
                            };
                            let coefficient = plane
                                .values
                                .get_mut((y * c.stride + x) * keep)
                                .ok_or(ReducedError::Corrupt("block outside the frame"))?;
                            if let Kind::DcRefine = kind {
                                if bits.bit()? {
                                    *coefficient |= 1 << al;
                                }
                                continue;
                            }
                            let table = tables
                                .get(slot)
                                .copied()
                                .flatten()
                                .ok_or(ReducedError::Corrupt("bad SOS"))?;
                            let size = u32::from(table.decode(bits)?);
                            let diff = bits.signed(size)?;
                            let predictor = predictors
                                .get_mut(slot)
                                .ok_or(ReducedError::Corrupt("bad SOS"))?;
                            *predictor = predictor.wrapping_add(diff);
                            *coefficient = saturate(i64::from(*predictor) << al);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// One block's kept coefficients and its non-zero map.
struct Coefficients<'a> {
    values: &'a mut [i16],
    nonzero: &'a mut u64,
}

/// The band of an AC scan, its bit position, and the last coefficient kept.
#[derive(Clone, Copy)]
struct Band {
    ss: usize,
    se: usize,
    al: u8,
    last: usize,
}

impl Band {
    /// The first pass over the band of one block (G.1.2.2 of the JPEG standard).
    fn first(
        self,
        bits: &mut Bits<'_>,
        table: &Huffman,
        block: &mut Coefficients<'_>,
        eobrun: &mut u32,
    ) -> Result<(), ReducedError> {
        if *eobrun > 0 {
            *eobrun -= 1;
            return Ok(());
        }
        let mut k = self.ss;
        while k <= self.se {
            let symbol = table.decode(bits)?;
            let run = u32::from(symbol >> 4);
            let size = u32::from(symbol & 15);
            if size == 0 {
                if run < 15 {
                    // An end-of-band run: this block and the next `eobrun` have no more here.
                    *eobrun = (1 << run) - 1 + bits.take(run)?;
                    break;
                }
                k += 16;
                continue;
            }
            k += run as usize;
            if k > self.se {
                return Err(ReducedError::Corrupt("coefficient past the band"));
            }
            if k <= self.last {
                let value = bits.signed(size)?;
                if let Some(slot) = block.values.get_mut(k) {
                    *slot = saturate(i64::from(value) << self.al);
                }
            } else {
                bits.skip(size)?;
            }
            *block.nonzero |= 1 << k;
            k += 1;
        }
        Ok(())
    }

    /// A refinement pass over the band of one block (G.1.2.3): one correction bit for every
    /// coefficient already non-zero, and newly non-zero coefficients of ±1 at this bit, placed
    /// by counting the coefficients still zero.
    fn refine(
        self,
        bits: &mut Bits<'_>,
        table: &Huffman,
        block: &mut Coefficients<'_>,
        eobrun: &mut u32,
    ) -> Result<(), ReducedError> {
        let bit = 1i32 << self.al;
        let band = below(self.se + 1);
        let mut k = self.ss;
        if *eobrun == 0 {
            while k <= self.se {
                let symbol = table.decode(bits)?;
                let run = u32::from(symbol >> 4);
                let size = symbol & 15;
                let mut placed = None;
                if size != 0 {
                    placed = Some(if bits.bit()? { bit } else { -bit });
                } else if run != 15 {
                    *eobrun = (1 << run) + bits.take(run)?;
                    break;
                }
                // Pass `run` coefficients that are still zero, refining the non-zero ones on
                // the way; stop at the next zero one.
                let window = (u64::MAX << k) & band;
                let target = match select(!*block.nonzero & window, run) {
                    64 => self.se + 1,
                    found => found,
                };
                self.correct(bits, block, *block.nonzero & window & below(target), bit)?;
                k = target;
                if let Some(value) = placed {
                    if k > self.se {
                        return Err(ReducedError::Corrupt("coefficient past the band"));
                    }
                    if let Some(slot) = block.values.get_mut(k) {
                        *slot = saturate(i64::from(value));
                    }
                    *block.nonzero |= 1 << k;
                }
                k += 1;
            }
        }
        if *eobrun > 0 {
            if k <= self.se {
                let window = (u64::MAX << k) & band;
                self.correct(bits, block, *block.nonzero & window, bit)?;
            }
            *eobrun -= 1;
        }
        Ok(())
    }

    /// Reads one correction bit for each coefficient in `mask` (all non-zero), in order: the
    /// kept ones are corrected, the bits of the others are stepped over together.
    fn correct(
        self,
        bits: &mut Bits<'_>,
        block: &mut Coefficients<'_>,
        mask: u64,
        bit: i32,
    ) -> Result<(), ReducedError> {
        let kept = below(self.last + 1);
        let mut low = mask & kept;
        if low != 0 {
            // At most 64 bits: read them in two goes, the first bit for the lowest position.
            let count = low.count_ones();
            let mut corrections = if count > 32 {
                let high = bits.take_wide(count - 32)?;
                (high << 32) | bits.take_wide(32)?
            } else {
                bits.take_wide(count)?
            } << (64 - count);
            while low != 0 {
                let k = low.trailing_zeros() as usize;
                low &= low - 1;
                let set = corrections >> 63 == 1;
                corrections <<= 1;
                if set && let Some(slot) = block.values.get_mut(k) {
                    let value = i32::from(*slot);
                    if value & bit == 0 {
                        let moved = if value >= 0 { value + bit } else { value - bit };
                        *slot = saturate(i64::from(moved));
                    }
                }
            }
        }
        bits.skip((mask & !kept).count_ones())
    }
}

/// The bits below `n` (all of them from 64 up).
fn below(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1 << n) - 1 }
}

fn saturate(value: i64) -> i16 {
    i16::try_from(value.clamp(i64::from(i16::MIN), i64::from(i16::MAX))).unwrap_or(0)
}

/// The scaled IDCT and colour conversion, one MCU row at a time.
///
/// Planes that are upsampled afterwards are transformed whole first (they are small: a
/// quarter or half of the output at most), so that each output row can interpolate between
/// the chroma rows on both sides of an MCU row's edge.
fn render(
    frame: &Frame,
    planes: &[Plane],
    factor: u32,
    per_block: usize,
) -> Result<DynamicImage, ReducedError> {
    if planes.iter().any(|plane| !plane.dc_seen) {
        return Err(ReducedError::Corrupt("missing scans"));
    }
    let factor = factor as usize;
    let out_w = frame.width.div_ceil(factor);
    let out_h = frame.height.div_ceil(factor);
    let strip_w = frame.mcus_x * frame.h_max * per_block;
    let strip_h = frame.v_max * per_block;
    let channels = planes.len();
    let size = out_w
        .checked_mul(out_h)
        .and_then(|n| n.checked_mul(channels))
        .ok_or(ReducedError::TooLarge)?;
    let mut out = Vec::new();
    out.try_reserve_exact(size)
        .map_err(|_| ReducedError::TooLarge)?;
    out.resize(size, 0);
    let transforms: Vec<Idct> = planes
        .iter()
        .map(|plane| Idct::new(plane.cols, plane.rows))
        .collect();
    // Per component: a strip of one MCU row at output resolution, or the whole plane at its
    // own resolution when it is upsampled.
    let mut sources = Vec::with_capacity(channels);
    for ((plane, c), idct) in planes.iter().zip(&frame.components).zip(&transforms) {
        if plane.up == (1, 1) {
            sources.push(Source::Strip(vec![0u8; strip_w * strip_h]));
            continue;
        }
        let width = c.stride * plane.cols;
        let block_rows = c.blocks() / c.stride.max(1);
        let mut pixels = Vec::new();
        pixels
            .try_reserve_exact(width * block_rows * plane.rows)
            .map_err(|_| ReducedError::TooLarge)?;
        pixels.resize(width * block_rows * plane.rows, 0);
        transform_row(plane, c.stride, 0, block_rows, idct, &mut pixels, width);
        sources.push(Source::Plane(Upsampled {
            pixels,
            width,
            used_w: out_w.div_ceil(plane.up.0).min(width),
            used_h: out_h.div_ceil(plane.up.1).min(block_rows * plane.rows),
            up: plane.up,
        }));
    }
    let mut scratch = Scratch::default();
    let mut rows_up: Vec<Vec<u8>> = planes.iter().map(|_| vec![0u8; out_w]).collect();
    let line = out_w * channels;
    for (mcu_row, rows) in out.chunks_mut(line * strip_h).enumerate() {
        for (((plane, c), source), idct) in planes
            .iter()
            .zip(&frame.components)
            .zip(&mut sources)
            .zip(&transforms)
        {
            if let Source::Strip(strip) = source {
                transform_row(plane, c.stride, c.v * mcu_row, c.v, idct, strip, strip_w);
            }
        }
        for (y, row) in rows.chunks_exact_mut(line).enumerate() {
            let at = y * strip_w;
            let image_y = mcu_row * strip_h + y;
            let mut lines: [&[u8]; 3] = [&[]; 3];
            for ((slot, source), buffer) in lines.iter_mut().zip(&sources).zip(&mut rows_up) {
                *slot = match source {
                    Source::Strip(strip) => strip
                        .get(at..at + out_w)
                        .ok_or(ReducedError::Corrupt("size mismatch"))?,
                    Source::Plane(plane) => {
                        plane.row(image_y, buffer, &mut scratch);
                        buffer
                    }
                };
            }
            match (channels, lines) {
                (1, [grey, ..]) => row.copy_from_slice(grey),
                (3, [luma, cb, cr]) => {
                    for (pixel, ((&y, &b), &r)) in
                        row.chunks_exact_mut(3).zip(luma.iter().zip(cb).zip(cr))
                    {
                        pixel.copy_from_slice(&ycc_to_rgb(y, b, r));
                    }
                }
                _ => return Err(ReducedError::Unsupported("component count")),
            }
        }
    }
    let (width, height) = (
        u32::try_from(out_w).map_err(|_| ReducedError::TooLarge)?,
        u32::try_from(out_h).map_err(|_| ReducedError::TooLarge)?,
    );
    let image = if channels == 1 {
        GrayImage::from_raw(width, height, out).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(width, height, out).map(DynamicImage::ImageRgb8)
    };
    image.ok_or(ReducedError::Corrupt("size mismatch"))
}

/// Where [`render`] reads a component's pixels from.
enum Source {
    /// One MCU row at output resolution, rewritten for each MCU row.
    Strip(Vec<u8>),
    /// The whole plane at half resolution one way or both.
    Plane(Upsampled),
}

/// Writes the pixels of block rows `first..first + count` of `plane` (`stride` blocks wide)
/// into `strip`, which is `strip_w` pixels wide.
fn transform_row(
    plane: &Plane,
    stride: usize,
    first: usize,
    count: usize,
    idct: &Idct,
    strip: &mut [u8],
    strip_w: usize,
) {
    let keep = plane.last + 1;
    let quant = plane.quant.unwrap_or([1; 64]);
    // The kept coefficients that the IDCT reads, besides DC.
    let corner = (1..keep)
        .filter(|&k| {
            let natural = usize::from(ZIGZAG[k]);
            natural % 8 < plane.cols && natural / 8 < plane.rows
        })
        .fold(0u64, |mask, k| mask | 1 << k);
    // The block handed to the IDCT: zero except where a block's coefficients are written.
    let mut coefficients = [0f32; 64];
    for by in 0..count {
        let row = first + by;
        for bx in 0..stride {
            let block = row * stride + bx;
            let at = by * plane.rows * strip_w + bx * plane.cols;
            let (Some(values), Some(&nonzero), Some(out)) = (
                plane.values.get(block * keep..block * keep + keep),
                plane.nonzero.get(block),
                strip.get_mut(at..),
            ) else {
                continue;
            };
            let dc = f32::from(values[0]) * f32::from(quant[0]);
            if nonzero & corner == 0 {
                // A flat block: its mean, as the transform would give it.
                let mean = (dc / 8.0 + 128.5).clamp(0.0, 255.0) as u8;
                fill(mean, plane.cols, plane.rows, out, strip_w);
                continue;
            }
            coefficients[0] = dc;
            let mut rest = nonzero & corner;
            while rest != 0 {
                let k = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                coefficients[usize::from(ZIGZAG[k])] = f32::from(values[k]) * f32::from(quant[k]);
            }
            idct.run(&coefficients, out, strip_w);
            // Back to all zeros for the next block, touching only what was set.
            let mut rest = nonzero & corner;
            while rest != 0 {
                let k = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                coefficients[usize::from(ZIGZAG[k])] = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{damaged_copies, fixture};
    use super::*;

    /// Mean absolute difference between our 1/`factor` decode and the `factor`×`factor` block
    /// means of a full decode.
    fn error_against_full_decode(name: &str, factor: u32) -> f64 {
        let bytes = fixture(name);
        let full = image::load_from_memory(&bytes).expect("full decode");
        let ours = decode(&bytes, &Limits::default(), factor).expect("reduced decode");
        assert_eq!(ours.width(), full.width().div_ceil(factor), "{name}");
        assert_eq!(ours.height(), full.height().div_ceil(factor), "{name}");
        assert_eq!(ours.color(), full.color(), "{name}");
        let channels = usize::from(full.color().channel_count());
        let (w, h) = (full.width() as usize, full.height() as usize);
        let f = factor as usize;
        let (samples, reduced) = (full.as_bytes(), ours.as_bytes());
        let out_w = w.div_ceil(f);
        let mut total = 0.0;
        for (index, &value) in reduced.iter().enumerate() {
            let (pixel, channel) = (index / channels, index % channels);
            let (x, y) = (pixel % out_w, pixel / out_w);
            let (mut sum, mut n) = (0.0, 0.0);
            for sy in y * f..(y * f + f).min(h) {
                for sx in x * f..(x * f + f).min(w) {
                    sum += f64::from(samples[(sy * w + sx) * channels + channel]);
                    n += 1.0;
                }
            }
            total += (sum / n - f64::from(value)).abs();
        }
        total / reduced.len() as f64
    }

    #[test]
    fn reduced_images_match_block_means_of_the_full_decode() {
        for name in [
            "progressive-420.jpg",
            "progressive-444.jpg",
            "progressive-422.jpg",
            "progressive-440.jpg",
            "grey-progressive.jpg",
            "restart-progressive.jpg",
        ] {
            for factor in [2, 4] {
                let error = error_against_full_decode(name, factor);
                assert!(error < 3.0, "{name} at 1/{factor}: mean abs error {error}");
            }
        }
    }

    /// Chroma sampled 2× one way only is transformed small and upsampled, as libjpeg does,
    /// rather than transformed at the size of the output.
    #[cfg(feature = "jpeg-scaled")]
    #[test]
    fn every_subsampling_stays_close_to_libjpegs_scaled_decode() {
        for name in [
            "progressive-420.jpg",
            "progressive-422.jpg",
            "progressive-440.jpg",
            "progressive-444.jpg",
        ] {
            let bytes = fixture(name);
            for factor in [2, 4] {
                let ours = decode(&bytes, &Limits::default(), factor).expect("ours");
                let theirs = super::super::scaled::decode(&bytes, &Limits::default(), factor)
                    .expect("libjpeg");
                let (a, b) = (ours.as_bytes(), theirs.as_bytes());
                assert_eq!(a.len(), b.len(), "{name} at 1/{factor}");
                let total: u64 = a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| u64::from(x.abs_diff(y)))
                    .sum();
                let mean = total as f64 / a.len() as f64;
                assert!(mean < 0.7, "{name} at 1/{factor}: mean difference {mean}");
            }
        }
    }

    #[test]
    fn sequential_and_odd_files_are_left_to_libjpeg() {
        let limits = Limits::default();
        assert!(matches!(
            decode(&fixture("baseline-420.jpg"), &limits, 2),
            Err(ReducedError::Unsupported(_))
        ));
        assert!(matches!(
            decode(&fixture("progressive-420.jpg"), &limits, 8),
            Err(ReducedError::Unsupported(_))
        ));
        let mut bytes = fixture("progressive-444.jpg");
        let adobe: &[u8] = b"\xFF\xEE\x00\x0EAdobe\x00\x64\x00\x00\x00\x00\x00";
        bytes.splice(2..2, adobe.iter().copied());
        assert!(matches!(
            decode(&bytes, &limits, 2),
            Err(ReducedError::Unsupported(_))
        ));
        assert!(decode(b"GIF89a", &limits, 2).is_err());
    }

    #[test]
    fn damaged_and_truncated_files_fail_or_decode_but_never_panic() {
        let original = fixture("restart-progressive.jpg");
        for bytes in damaged_copies(&original, 300, 0x9e37_79b9_7f4a_7c15) {
            let _ = decode(&bytes, &Limits::default(), 2);
            let _ = decode(&bytes, &Limits::default(), 4);
        }
        let bytes = fixture("progressive-420.jpg");
        for cut in (0..bytes.len()).step_by(53) {
            let _ = decode(&bytes[..cut], &Limits::default(), 4);
        }
    }

    #[test]
    fn the_coefficient_memory_is_checked_against_the_limits() {
        let small = Limits {
            max_alloc: Some(1024),
            ..Limits::default()
        };
        assert_eq!(
            decode(&fixture("progressive-420.jpg"), &small, 2).err(),
            Some(ReducedError::TooLarge)
        );
    }

    /// Scans above the kept band are skipped only when no later refinement needs them.
    #[test]
    fn high_bands_are_skipped_unless_a_refinement_needs_them() {
        let plane = |last| Plane {
            cols: 2,
            rows: 2,
            up: (1, 1),
            last,
            values: Vec::new(),
            nonzero: Vec::new(),
            quant: None,
            dc_seen: true,
        };
        let planes = [plane(4)];
        let scan = |ss, se, refine| Planned {
            component: Some(0),
            ss,
            se,
            refine,
        };
        let dc = Planned {
            component: None,
            ss: 0,
            se: 0,
            refine: false,
        };
        // libjpeg's script: the 6–63 pass is needed by the 1–63 refinement after it.
        let standard = [dc, scan(1, 5, false), scan(6, 63, false), scan(1, 63, true)];
        assert_eq!(skippable(&standard, &planes), [false, false, false, false]);
        // Bands split at the kept coefficients: everything above them goes.
        let split = [
            dc,
            scan(1, 4, false),
            scan(5, 63, false),
            scan(1, 4, true),
            scan(5, 63, true),
        ];
        assert_eq!(
            skippable(&split, &planes),
            [false, false, true, false, true]
        );
    }
}
