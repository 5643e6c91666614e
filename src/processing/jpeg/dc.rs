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
//! [`DcError::Unsupported`]; damaged data is [`DcError::Corrupt`]. Every length and index is
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

use crate::processing::limits::Limits;

/// Why the DC-only decoder did not produce an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DcError {
    /// A valid file this decoder does not handle; the full decoder should be used.
    Unsupported(&'static str),
    /// The data is damaged or truncated.
    Corrupt(&'static str),
    /// The frame is larger than the limits allow.
    TooLarge,
}

/// How many bytes of zero padding may be read past the end of the data (or into a marker)
/// before a scan counts as truncated. The bit reader looks up to 8 bytes ahead.
const MAX_PADDING: u32 = 16;

/// Bits used by the fast Huffman lookup.
const FAST_BITS: u32 = 9;

/// A Huffman table: a fast lookup for short codes and canonical tables for the rest.
#[derive(Clone)]
struct Huffman {
    /// Indexed by the next `FAST_BITS` bits: `length << 8 | symbol`, 0 when the code is longer.
    fast: Vec<u16>,
    /// Largest code of each length (index 1..=16), -1 when there is none.
    max_code: [i32; 17],
    /// First code of each length.
    min_code: [i32; 17],
    /// Index in `values` of the first symbol of each length.
    first_value: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, DcError> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 || total != values.len() {
            return Err(DcError::Corrupt("bad Huffman table"));
        }
        let mut table = Self {
            fast: vec![0; 1 << FAST_BITS],
            max_code: [-1; 17],
            min_code: [0; 17],
            first_value: [0; 17],
            values: values.to_vec(),
        };
        let mut code: u32 = 0;
        let mut index: usize = 0;
        for (slot, &count) in counts.iter().enumerate() {
            let length = u32::try_from(slot).unwrap_or(0) + 1;
            let l = slot + 1;
            table.first_value[l] = i32::try_from(index).unwrap_or(0);
            table.min_code[l] = i32::try_from(code).unwrap_or(0);
            for _ in 0..count {
                if code >= (1 << length) {
                    return Err(DcError::Corrupt("bad Huffman table"));
                }
                if length <= FAST_BITS {
                    let symbol = u16::from(values.get(index).copied().unwrap_or(0));
                    let shift = FAST_BITS - length;
                    let start = usize::try_from(code << shift).unwrap_or(usize::MAX);
                    let end = start.saturating_add(1 << shift);
                    let entry = (u16::try_from(length).unwrap_or(0) << 8) | symbol;
                    if let Some(slots) = table.fast.get_mut(start..end) {
                        slots.fill(entry);
                    }
                }
                code += 1;
                index += 1;
            }
            if count > 0 {
                table.max_code[l] = i32::try_from(code).unwrap_or(0) - 1;
            }
            code <<= 1;
        }
        Ok(table)
    }

    /// Decodes one symbol.
    fn decode(&self, bits: &mut Bits<'_>) -> Result<u8, DcError> {
        let peek = bits.peek16()?;
        let entry = self
            .fast
            .get(usize::try_from(peek >> (16 - FAST_BITS)).unwrap_or(0))
            .copied()
            .unwrap_or(0);
        if entry != 0 {
            bits.consume(u32::from(entry >> 8));
            return Ok((entry & 0xFF) as u8);
        }
        for length in (FAST_BITS + 1)..=16 {
            let l = usize::try_from(length).unwrap_or(0);
            let code = i32::try_from(peek >> (16 - length)).unwrap_or(i32::MAX);
            let (Some(&max), Some(&min), Some(&first)) = (
                self.max_code.get(l),
                self.min_code.get(l),
                self.first_value.get(l),
            ) else {
                break;
            };
            if code <= max {
                let index = usize::try_from(first + (code - min))
                    .map_err(|_| DcError::Corrupt("bad Huffman code"))?;
                bits.consume(length);
                return self
                    .values
                    .get(index)
                    .copied()
                    .ok_or(DcError::Corrupt("bad Huffman code"));
            }
        }
        Err(DcError::Corrupt("bad Huffman code"))
    }
}

/// Reads entropy-coded bits, removing stuffed zero bytes and stopping at markers.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// Buffered bits, most significant first.
    acc: u64,
    count: u32,
    /// Zero bytes made up at a marker or at the end of the data.
    padded: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            count: 0,
            padded: 0,
        }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    self.pos += 2;
                    0xFF
                }
                Some(0xFF) => {
                    self.padded += 1;
                    0
                }
                Some(&byte) => {
                    self.pos += 1;
                    byte
                }
                None => {
                    self.padded += 1;
                    0
                }
            };
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    fn peek16(&mut self) -> Result<u32, DcError> {
        if self.count < 16 {
            self.fill();
            if self.padded > MAX_PADDING {
                return Err(DcError::Corrupt("truncated scan"));
            }
        }
        Ok(u32::try_from(self.acc >> 48).unwrap_or(0))
    }

    /// Drops `n` (at most 16) bits already made available by `peek16`.
    fn consume(&mut self, n: u32) {
        let n = n.min(self.count);
        self.acc = self.acc.checked_shl(n).unwrap_or(0);
        self.count -= n;
    }

    /// Reads `n` (at most 16) bits as an unsigned number.
    fn take(&mut self, n: u32) -> Result<u32, DcError> {
        if n == 0 {
            return Ok(0);
        }
        let peek = self.peek16()?;
        let n = n.min(16);
        self.consume(n);
        Ok(peek >> (16 - n))
    }

    /// Reads an `n`-bit magnitude and sign-extends it (JPEG F.2.2.1 EXTEND).
    fn signed(&mut self, n: u32) -> Result<i32, DcError> {
        if n == 0 {
            return Ok(0);
        }
        if n > 16 {
            return Err(DcError::Corrupt("bad coefficient size"));
        }
        let value = i32::try_from(self.take(n)?).unwrap_or(0);
        if value < (1 << (n - 1)) {
            Ok(value - (1 << n) + 1)
        } else {
            Ok(value)
        }
    }

    /// Handles a restart marker: drops buffered bits and steps over `RSTn`.
    fn restart(&mut self) -> Result<(), DcError> {
        self.acc = 0;
        self.count = 0;
        self.padded = 0;
        let at = next_marker(self.data, self.pos, true);
        match self.data.get(at + 1) {
            Some(0xD0..=0xD7) => {
                self.pos = at + 2;
                Ok(())
            }
            _ => Err(DcError::Corrupt("missing restart marker")),
        }
    }
}

/// The position of the next marker at or after `from` (skipping stuffed bytes and, unless
/// `stop_at_restart`, restart markers), or the end of the data.
pub(super) fn next_marker(data: &[u8], from: usize, stop_at_restart: bool) -> usize {
    let mut pos = from;
    while let Some(offset) = data
        .get(pos..)
        .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
    {
        pos += offset;
        match data.get(pos + 1) {
            None => return data.len(),
            Some(0x00 | 0xFF) => pos += 1,
            Some(0xD0..=0xD7) if !stop_at_restart => pos += 2,
            Some(_) => return pos,
        }
    }
    data.len()
}

/// A frame component.
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant_table: usize,
    /// The DC quantiser captured at the component's first scan.
    quant: Option<u16>,
    /// Block columns of the padded plane (whole MCUs).
    stride: usize,
    /// Block columns and rows with image data (non-interleaved scans cover only these).
    data_cols: usize,
    data_rows: usize,
    /// One DC coefficient per block.
    dc: Vec<i32>,
    /// Sequential: scanned. Progressive: the successive-approximation bit reached.
    scanned: bool,
    dc_al: Option<u8>,
}

struct Frame {
    progressive: bool,
    width: usize,
    height: usize,
    mcus_x: usize,
    mcus_y: usize,
    components: Vec<Component>,
}

/// What a scan does to the DC coefficients.
#[derive(Clone, Copy)]
enum Pass {
    Sequential,
    First(u8),
    Refine(u8),
}

fn be16(data: &[u8], at: usize) -> Result<usize, DcError> {
    match (data.get(at), data.get(at + 1)) {
        (Some(&a), Some(&b)) => Ok(usize::from(a) << 8 | usize::from(b)),
        _ => Err(DcError::Corrupt("truncated segment")),
    }
}

/// The decoder state while walking the markers.
struct Decoder<'a> {
    data: &'a [u8],
    limits: &'a Limits,
    quant: [Option<u16>; 4],
    dc_tables: [Option<Huffman>; 4],
    ac_tables: [Option<Huffman>; 4],
    restart_interval: usize,
    frame: Option<Frame>,
    adobe_transform: Option<u8>,
    jfif: bool,
}

/// Decodes `data` at 1/8 scale: `ceil(width / 8) × ceil(height / 8)` pixels, RGB for YCbCr
/// sources and grey for one-component sources.
pub(crate) fn decode(data: &[u8], limits: &Limits) -> Result<DynamicImage, DcError> {
    if data.get(..2) != Some(&[0xFF, 0xD8][..]) {
        return Err(DcError::Corrupt("not a JPEG"));
    }
    let mut decoder = Decoder {
        data,
        limits,
        quant: [None; 4],
        dc_tables: [None, None, None, None],
        ac_tables: [None, None, None, None],
        restart_interval: 0,
        frame: None,
        adobe_transform: None,
        jfif: false,
    };
    decoder.run()?;
    decoder.finish()
}

impl Decoder<'_> {
    fn run(&mut self) -> Result<(), DcError> {
        let data = self.data;
        let mut pos = 2;
        loop {
            if data.get(pos) != Some(&0xFF) {
                return Err(DcError::Corrupt("expected a marker"));
            }
            while data.get(pos) == Some(&0xFF) {
                pos += 1;
            }
            let marker = *data.get(pos).ok_or(DcError::Corrupt("truncated"))?;
            pos += 1;
            match marker {
                0xD9 => return Ok(()),
                0xD0..=0xD7 | 0x01 => continue,
                0xD8 | 0x00 => return Err(DcError::Corrupt("unexpected marker")),
                _ => {}
            }
            let length = be16(data, pos)?;
            if length < 2 {
                return Err(DcError::Corrupt("bad segment length"));
            }
            let end = pos
                .checked_add(length)
                .filter(|&end| end <= data.len())
                .ok_or(DcError::Corrupt("truncated segment"))?;
            let segment = data.get(pos + 2..end).unwrap_or(&[]);
            pos = end;
            match marker {
                0xC0 | 0xC1 => self.start_frame(segment, false)?,
                0xC2 => self.start_frame(segment, true)?,
                0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                    return Err(DcError::Unsupported("lossless, hierarchical or arithmetic"));
                }
                0xC4 => self.huffman_tables(segment)?,
                0xDB => self.quant_tables(segment)?,
                0xDD => self.restart_interval = be16(segment, 0)?,
                0xDC => return Err(DcError::Unsupported("DNL marker")),
                0xE0 if segment.starts_with(b"JFIF\0") => self.jfif = true,
                0xEE if segment.starts_with(b"Adobe") => {
                    self.adobe_transform = segment.get(11).copied();
                }
                0xDA => {
                    pos = self.scan(segment, pos)?;
                    if self.complete() {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    fn start_frame(&mut self, segment: &[u8], progressive: bool) -> Result<(), DcError> {
        if self.frame.is_some() {
            return Err(DcError::Corrupt("two frames"));
        }
        if segment.first() != Some(&8) {
            return Err(DcError::Unsupported("not 8-bit"));
        }
        let height = be16(segment, 1)?;
        let width = be16(segment, 3)?;
        let count = usize::from(*segment.get(5).ok_or(DcError::Corrupt("short SOF"))?);
        if height == 0 {
            return Err(DcError::Unsupported("height from DNL"));
        }
        if width == 0 {
            return Err(DcError::Corrupt("zero width"));
        }
        if count != 1 && count != 3 {
            return Err(DcError::Unsupported("component count"));
        }
        self.limits
            .check(
                u32::try_from(width).unwrap_or(u32::MAX),
                u32::try_from(height).unwrap_or(u32::MAX),
            )
            .map_err(|_| DcError::TooLarge)?;
        let mut specs: Vec<(u8, usize, usize, usize)> = Vec::with_capacity(count);
        for index in 0..count {
            let at = 6 + index * 3;
            let (Some(&id), Some(&sampling), Some(&tq)) =
                (segment.get(at), segment.get(at + 1), segment.get(at + 2))
            else {
                return Err(DcError::Corrupt("short SOF"));
            };
            let (h, v) = (usize::from(sampling >> 4), usize::from(sampling & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
                return Err(DcError::Corrupt("bad component"));
            }
            if specs.iter().any(|&(other, ..)| other == id) {
                return Err(DcError::Corrupt("duplicate component"));
            }
            specs.push((id, h, v, usize::from(tq)));
        }
        // A single component is one block per MCU, whatever its sampling factors say.
        if count == 1
            && let Some(spec) = specs.first_mut()
        {
            spec.1 = 1;
            spec.2 = 1;
        }
        let h_max = specs.iter().map(|s| s.1).max().unwrap_or(1);
        let v_max = specs.iter().map(|s| s.2).max().unwrap_or(1);
        let mcus_x = width.div_ceil(8 * h_max);
        let mcus_y = height.div_ceil(8 * v_max);
        let mut components = Vec::with_capacity(count);
        for (id, h, v, quant_table) in specs {
            let stride = mcus_x * h;
            let blocks = stride.checked_mul(mcus_y * v).ok_or(DcError::TooLarge)?;
            let mut dc = Vec::new();
            dc.try_reserve_exact(blocks)
                .map_err(|_| DcError::TooLarge)?;
            dc.resize(blocks, 0);
            components.push(Component {
                id,
                h,
                v,
                quant_table,
                quant: None,
                stride,
                data_cols: (width * h).div_ceil(h_max).div_ceil(8),
                data_rows: (height * v).div_ceil(v_max).div_ceil(8),
                dc,
                scanned: false,
                dc_al: None,
            });
        }
        self.frame = Some(Frame {
            progressive,
            width,
            height,
            mcus_x,
            mcus_y,
            components,
        });
        Ok(())
    }

    fn huffman_tables(&mut self, mut segment: &[u8]) -> Result<(), DcError> {
        while let Some(&info) = segment.first() {
            let counts: [u8; 16] = segment
                .get(1..17)
                .and_then(|c| c.try_into().ok())
                .ok_or(DcError::Corrupt("short DHT"))?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let values = segment
                .get(17..17 + total)
                .ok_or(DcError::Corrupt("short DHT"))?;
            let table = Huffman::new(&counts, values)?;
            let id = usize::from(info & 15);
            let slot = match info >> 4 {
                0 => self.dc_tables.get_mut(id),
                1 => self.ac_tables.get_mut(id),
                _ => None,
            }
            .ok_or(DcError::Corrupt("bad DHT"))?;
            *slot = Some(table);
            segment = segment.get(17 + total..).unwrap_or(&[]);
        }
        Ok(())
    }

    fn quant_tables(&mut self, mut segment: &[u8]) -> Result<(), DcError> {
        while let Some(&info) = segment.first() {
            let id = usize::from(info & 15);
            let (first, size) = if info >> 4 == 0 {
                (segment.get(1).map(|&q| u16::from(q)), 65)
            } else {
                (
                    be16(segment, 1).ok().and_then(|q| u16::try_from(q).ok()),
                    129,
                )
            };
            if segment.len() < size {
                return Err(DcError::Corrupt("short DQT"));
            }
            *self.quant.get_mut(id).ok_or(DcError::Corrupt("bad DQT"))? = first;
            segment = segment.get(size..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Whether every component has all the DC data it will get.
    fn complete(&self) -> bool {
        self.frame.as_ref().is_some_and(|frame| {
            frame.components.iter().all(|c| {
                if frame.progressive {
                    c.dc_al == Some(0)
                } else {
                    c.scanned
                }
            })
        })
    }

    /// Reads the SOS header in `segment` and the entropy-coded data from `pos`; returns the
    /// position of the marker after the scan.
    fn scan(&mut self, segment: &[u8], pos: usize) -> Result<usize, DcError> {
        let frame = self
            .frame
            .as_mut()
            .ok_or(DcError::Corrupt("scan before frame"))?;
        let count = usize::from(*segment.first().ok_or(DcError::Corrupt("short SOS"))?);
        if count == 0 || count > 4 || segment.len() < 4 + 2 * count {
            return Err(DcError::Corrupt("bad SOS"));
        }
        let mut members = Vec::with_capacity(count);
        for index in 0..count {
            let id = segment.get(1 + 2 * index).copied().unwrap_or(0);
            let tables = segment.get(2 + 2 * index).copied().unwrap_or(0);
            let component = frame
                .components
                .iter()
                .position(|c| c.id == id)
                .ok_or(DcError::Corrupt("unknown scan component"))?;
            members.push((
                component,
                usize::from(tables >> 4),
                usize::from(tables & 15),
            ));
        }
        let tail = 1 + 2 * count;
        let (ss, se, approx) = (
            segment.get(tail).copied().unwrap_or(0),
            segment.get(tail + 1).copied().unwrap_or(0),
            segment.get(tail + 2).copied().unwrap_or(0),
        );
        let (ah, al) = (approx >> 4, approx & 15);
        let pass = if frame.progressive {
            if ss != 0 {
                // An AC scan: nothing in it changes a DC coefficient.
                return Ok(next_marker(self.data, pos, false));
            }
            if se != 0 || al > 13 {
                return Err(DcError::Corrupt("bad progressive DC scan"));
            }
            if ah == 0 {
                Pass::First(al)
            } else {
                Pass::Refine(al)
            }
        } else {
            if ss != 0 || se != 63 || approx != 0 {
                return Err(DcError::Unsupported("odd sequential scan"));
            }
            Pass::Sequential
        };

        // Check every table and the refinement order before decoding anything.
        let mut dc_tables = Vec::with_capacity(count);
        let mut ac_tables = Vec::with_capacity(count);
        for &(component, dc, ac) in &members {
            let c = frame
                .components
                .get_mut(component)
                .ok_or(DcError::Corrupt("unknown scan component"))?;
            match pass {
                Pass::Sequential => {
                    ac_tables.push(
                        self.ac_tables
                            .get(ac)
                            .and_then(Option::as_ref)
                            .ok_or(DcError::Corrupt("missing AC table"))?,
                    );
                }
                Pass::First(_) => {
                    if c.dc_al.is_some() {
                        return Err(DcError::Corrupt("repeated DC scan"));
                    }
                }
                Pass::Refine(al) => {
                    if c.dc_al != Some(ah) || al.checked_add(1) != Some(ah) {
                        return Err(DcError::Corrupt("bad DC refinement"));
                    }
                }
            }
            if !matches!(pass, Pass::Refine(_)) {
                dc_tables.push(
                    self.dc_tables
                        .get(dc)
                        .and_then(Option::as_ref)
                        .ok_or(DcError::Corrupt("missing DC table"))?,
                );
            }
            if c.quant.is_none() {
                c.quant = Some(
                    self.quant
                        .get(c.quant_table)
                        .copied()
                        .flatten()
                        .ok_or(DcError::Corrupt("missing quantisation table"))?,
                );
            }
        }

        let mut bits = Bits::new(self.data, pos);
        let mut predictors = [0i32; 4];
        let interleaved = count > 1;
        let (units_x, units_y) = if interleaved {
            (frame.mcus_x, frame.mcus_y)
        } else {
            let c = members
                .first()
                .and_then(|&(component, ..)| frame.components.get(component))
                .ok_or(DcError::Corrupt("bad SOS"))?;
            (c.data_cols, c.data_rows)
        };
        let mut unit = 0usize;
        for unit_y in 0..units_y {
            for unit_x in 0..units_x {
                if self.restart_interval > 0
                    && unit > 0
                    && unit.is_multiple_of(self.restart_interval)
                {
                    bits.restart()?;
                    predictors = [0; 4];
                }
                unit += 1;
                for (slot, &(component, ..)) in members.iter().enumerate() {
                    let c = frame
                        .components
                        .get_mut(component)
                        .ok_or(DcError::Corrupt("bad SOS"))?;
                    let (bh, bv) = if interleaved { (c.h, c.v) } else { (1, 1) };
                    for by in 0..bv {
                        for bx in 0..bh {
                            let (x, y) = if interleaved {
                                (unit_x * c.h + bx, unit_y * c.v + by)
                            } else {
                                (unit_x, unit_y)
                            };
                            let index = y * c.stride + x;
                            let coefficient =
                                c.dc.get_mut(index)
                                    .ok_or(DcError::Corrupt("block outside the frame"))?;
                            let predictor = predictors
                                .get_mut(slot)
                                .ok_or(DcError::Corrupt("bad SOS"))?;
                            match pass {
                                Pass::Refine(al) => {
                                    if bits.take(1)? == 1 {
                                        *coefficient |= 1 << al;
                                    }
                                }
                                Pass::First(_) | Pass::Sequential => {
                                    let table =
                                        dc_tables.get(slot).ok_or(DcError::Corrupt("bad SOS"))?;
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
                                            .ok_or(DcError::Corrupt("bad SOS"))?;
                                        skip_ac(ac, &mut bits)?;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for &(component, ..) in &members {
            if let Some(c) = frame.components.get_mut(component) {
                c.scanned = true;
                match pass {
                    Pass::First(al) | Pass::Refine(al) => c.dc_al = Some(al),
                    Pass::Sequential => {}
                }
            }
        }
        Ok(next_marker(self.data, bits.pos, false))
    }

    /// Turns the DC coefficients into pixels.
    fn finish(self) -> Result<DynamicImage, DcError> {
        let frame = self.frame.ok_or(DcError::Corrupt("no frame"))?;
        if !frame.components.iter().all(|c| c.scanned) {
            return Err(DcError::Corrupt("missing scans"));
        }
        let out_w = frame.width.div_ceil(8);
        let out_h = frame.height.div_ceil(8);
        let width = u32::try_from(out_w).map_err(|_| DcError::TooLarge)?;
        let height = u32::try_from(out_h).map_err(|_| DcError::TooLarge)?;
        let h_max = frame.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = frame.components.iter().map(|c| c.v).max().unwrap_or(1);
        let planes: Vec<Vec<u8>> = frame
            .components
            .iter()
            .map(|c| {
                let quant = i64::from(c.quant.unwrap_or(1));
                c.dc.iter()
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

        let pixels = out_w.checked_mul(out_h).ok_or(DcError::TooLarge)?;
        if frame.components.len() == 1 {
            let mut grey = Vec::new();
            grey.try_reserve_exact(pixels)
                .map_err(|_| DcError::TooLarge)?;
            for y in 0..out_h {
                grey.extend((0..out_w).map(|x| sample(0, x, y)));
            }
            return GrayImage::from_raw(width, height, grey)
                .map(DynamicImage::ImageLuma8)
                .ok_or(DcError::Corrupt("size mismatch"));
        }

        let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
        let rgb_ids = ids == [b'R', b'G', b'B'] && !self.jfif && self.adobe_transform.is_none();
        if self.adobe_transform == Some(0) || rgb_ids {
            return Err(DcError::Unsupported("RGB-coded JPEG"));
        }
        let mut rgb = Vec::new();
        rgb.try_reserve_exact(pixels.checked_mul(3).ok_or(DcError::TooLarge)?)
            .map_err(|_| DcError::TooLarge)?;
        for y in 0..out_h {
            for x in 0..out_w {
                let luma = i32::from(sample(0, x, y));
                let cb = i32::from(sample(1, x, y)) - 128;
                let cr = i32::from(sample(2, x, y)) - 128;
                rgb.push(clamp(luma + ((91_881 * cr + 32_768) >> 16)));
                rgb.push(clamp(luma - ((22_554 * cb + 46_802 * cr + 32_768) >> 16)));
                rgb.push(clamp(luma + ((116_130 * cb + 32_768) >> 16)));
            }
        }
        RgbImage::from_raw(width, height, rgb)
            .map(DynamicImage::ImageRgb8)
            .ok_or(DcError::Corrupt("size mismatch"))
    }
}

/// One axis of a bilinear lookup: two neighbouring blocks and the second one's weight.
struct Tap {
    first: usize,
    second: usize,
    weight: u32,
}

fn clamp(value: i32) -> u8 {
    u8::try_from(value.clamp(0, 255)).unwrap_or(0)
}

/// Steps over the AC codes of one block of a sequential scan.
fn skip_ac(table: &Huffman, bits: &mut Bits<'_>) -> Result<(), DcError> {
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
            Err(DcError::Corrupt(_))
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
        assert_eq!(decode(&bytes, &Limits::default()), Err(DcError::TooLarge));
        let small = Limits {
            max_width: Some(400),
            ..Limits::default()
        };
        assert_eq!(
            decode(&fixture("grey-baseline.jpg"), &small),
            Err(DcError::TooLarge)
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
            Err(DcError::Unsupported(_))
        ));
        // 12-bit precision.
        let mut bytes = fixture("baseline-444.jpg");
        let sof = marker(&bytes, 0xC0);
        bytes[sof + 4] = 12;
        assert!(matches!(
            decode(&bytes, &Limits::default()),
            Err(DcError::Unsupported(_))
        ));
    }

    #[test]
    fn huffman_tables_reject_overfull_code_space() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes cannot exist
        assert!(Huffman::new(&counts, &[1, 2, 3]).is_err());
        counts[0] = 2;
        assert!(Huffman::new(&counts, &[1, 2]).is_ok());
        assert!(Huffman::new(&counts, &[1]).is_err());
    }
}
