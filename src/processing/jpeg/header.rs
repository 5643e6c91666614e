//! The segments the reduced JPEG decoders read before and between scans: the frame header,
//! the Huffman and quantisation tables, the restart interval, the JFIF and Adobe markers that
//! say how colour is coded, and each scan's header.
//!
//! [`Segments`] walks them in order and hands the caller each frame header and each scan; the
//! caller decodes the scan's entropy-coded data and tells the walker where it ended.

use super::entropy::{Huffman, ReducedError};
use crate::processing::limits::Limits;

/// The most scans a file may have for the reduced decoders. Each scan can touch every block
/// of the image however few bytes it has, so thousands of tiny scans would cost thousands of
/// passes over a large image. Encoders write at most a few dozen.
pub(super) const MAX_SCANS: usize = 256;

/// A big-endian 16-bit value at `at`.
pub(super) fn be16(data: &[u8], at: usize) -> Result<usize, ReducedError> {
    match (data.get(at), data.get(at + 1)) {
        (Some(&a), Some(&b)) => Ok(usize::from(a) << 8 | usize::from(b)),
        _ => Err(ReducedError::Corrupt("truncated segment")),
    }
}

/// A frame component and the geometry of its blocks.
#[derive(Debug, Clone)]
pub(super) struct Component {
    pub(super) id: u8,
    /// Sampling factors (1 for both in a one-component frame, whatever the file says).
    pub(super) h: usize,
    pub(super) v: usize,
    pub(super) quant_table: usize,
    /// Block columns and rows of the padded plane (whole MCUs).
    pub(super) stride: usize,
    pub(super) rows: usize,
    /// Block columns and rows with image data (non-interleaved scans cover only these).
    pub(super) data_cols: usize,
    pub(super) data_rows: usize,
}

impl Component {
    /// Blocks in the padded plane.
    pub(super) fn blocks(&self) -> usize {
        self.stride * self.rows
    }
}

/// The frame header: 8-bit, one or three components, checked against the limits.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) progressive: bool,
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) mcus_x: usize,
    pub(super) mcus_y: usize,
    pub(super) h_max: usize,
    pub(super) v_max: usize,
    pub(super) components: Vec<Component>,
}

impl Frame {
    /// Parses an SOF0/1/2 segment body.
    pub(super) fn parse(
        segment: &[u8],
        progressive: bool,
        limits: &Limits,
    ) -> Result<Self, ReducedError> {
        if segment.first() != Some(&8) {
            return Err(ReducedError::Unsupported("not 8-bit"));
        }
        let height = be16(segment, 1)?;
        let width = be16(segment, 3)?;
        let count = usize::from(*segment.get(5).ok_or(ReducedError::Corrupt("short SOF"))?);
        if height == 0 {
            return Err(ReducedError::Unsupported("height from DNL"));
        }
        if width == 0 {
            return Err(ReducedError::Corrupt("zero width"));
        }
        if count != 1 && count != 3 {
            return Err(ReducedError::Unsupported("component count"));
        }
        limits
            .check(
                u32::try_from(width).unwrap_or(u32::MAX),
                u32::try_from(height).unwrap_or(u32::MAX),
            )
            .map_err(|_| ReducedError::TooLarge)?;
        let mut specs: Vec<(u8, usize, usize, usize)> = Vec::with_capacity(count);
        for index in 0..count {
            let at = 6 + index * 3;
            let (Some(&id), Some(&sampling), Some(&tq)) =
                (segment.get(at), segment.get(at + 1), segment.get(at + 2))
            else {
                return Err(ReducedError::Corrupt("short SOF"));
            };
            let (h, v) = (usize::from(sampling >> 4), usize::from(sampling & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
                return Err(ReducedError::Corrupt("bad component"));
            }
            if specs.iter().any(|&(other, ..)| other == id) {
                return Err(ReducedError::Corrupt("duplicate component"));
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
        let components = specs
            .into_iter()
            .map(|(id, h, v, quant_table)| Component {
                id,
                h,
                v,
                quant_table,
                stride: mcus_x * h,
                rows: mcus_y * v,
                data_cols: (width * h).div_ceil(h_max).div_ceil(8),
                data_rows: (height * v).div_ceil(v_max).div_ceil(8),
            })
            .collect();
        Ok(Self {
            progressive,
            width,
            height,
            mcus_x,
            mcus_y,
            h_max,
            v_max,
            components,
        })
    }
}

/// The tables and flags set by the segments read so far.
pub(super) struct Tables {
    /// Quantisation tables in zig-zag order.
    pub(super) quant: [Option<[u16; 64]>; 4],
    pub(super) dc: [Option<Huffman>; 4],
    pub(super) ac: [Option<Huffman>; 4],
    /// MCUs (or blocks, in a non-interleaved scan) between restart markers; 0 for none.
    pub(super) restart_interval: usize,
    /// The Adobe segment's colour transform, when there is one.
    pub(super) adobe_transform: Option<u8>,
    pub(super) jfif: bool,
}

impl Tables {
    fn new() -> Self {
        Self {
            quant: [None; 4],
            dc: [None, None, None, None],
            ac: [None, None, None, None],
            restart_interval: 0,
            adobe_transform: None,
            jfif: false,
        }
    }

    fn huffman(&mut self, mut segment: &[u8]) -> Result<(), ReducedError> {
        while let Some(&info) = segment.first() {
            let counts: [u8; 16] = segment
                .get(1..17)
                .and_then(|c| c.try_into().ok())
                .ok_or(ReducedError::Corrupt("short DHT"))?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let values = segment
                .get(17..17 + total)
                .ok_or(ReducedError::Corrupt("short DHT"))?;
            let table = Huffman::new(&counts, values)?;
            let id = usize::from(info & 15);
            let slot = match info >> 4 {
                0 => self.dc.get_mut(id),
                1 => self.ac.get_mut(id),
                _ => None,
            }
            .ok_or(ReducedError::Corrupt("bad DHT"))?;
            *slot = Some(table);
            segment = segment.get(17 + total..).unwrap_or(&[]);
        }
        Ok(())
    }

    fn quantisation(&mut self, mut segment: &[u8]) -> Result<(), ReducedError> {
        while let Some(&info) = segment.first() {
            let id = usize::from(info & 15);
            let wide = info >> 4 != 0;
            let size = if wide { 129 } else { 65 };
            let body = segment
                .get(1..size)
                .ok_or(ReducedError::Corrupt("short DQT"))?;
            let mut table = [0u16; 64];
            for (index, value) in table.iter_mut().enumerate() {
                *value = if wide {
                    u16::try_from(be16(body, 2 * index)?).unwrap_or(u16::MAX)
                } else {
                    u16::from(body.get(index).copied().unwrap_or(0))
                };
            }
            *self
                .quant
                .get_mut(id)
                .ok_or(ReducedError::Corrupt("bad DQT"))? = Some(table);
            segment = segment.get(size..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Whether a three-component frame with these `ids` holds RGB samples rather than YCbCr
    /// (an Adobe segment saying "no transform", or components named R, G, B without JFIF).
    pub(super) fn rgb_coded(&self, ids: &[u8]) -> bool {
        self.adobe_transform == Some(0)
            || (ids == b"RGB" && !self.jfif && self.adobe_transform.is_none())
    }
}

/// One member of a scan: the frame component and its Huffman table selectors.
#[derive(Debug, Clone, Copy)]
pub(super) struct Member {
    pub(super) component: usize,
    pub(super) dc: usize,
    pub(super) ac: usize,
}

/// A scan header: its components, spectral band and successive-approximation bits.
#[derive(Debug, Clone)]
pub(super) struct Scan {
    pub(super) members: Vec<Member>,
    /// First and last zig-zag index of the band.
    pub(super) ss: u8,
    pub(super) se: u8,
    /// The bit position of the previous pass (0 for a first pass) and of this one.
    pub(super) ah: u8,
    pub(super) al: u8,
}

impl Scan {
    /// Parses an SOS segment body against `frame`'s components.
    pub(super) fn parse(segment: &[u8], frame: &Frame) -> Result<Self, ReducedError> {
        let count = usize::from(*segment.first().ok_or(ReducedError::Corrupt("short SOS"))?);
        if count == 0 || count > 4 || segment.len() < 4 + 2 * count {
            return Err(ReducedError::Corrupt("bad SOS"));
        }
        let mut members = Vec::with_capacity(count);
        for index in 0..count {
            let id = segment.get(1 + 2 * index).copied().unwrap_or(0);
            let tables = segment.get(2 + 2 * index).copied().unwrap_or(0);
            let component = frame
                .components
                .iter()
                .position(|c| c.id == id)
                .ok_or(ReducedError::Corrupt("unknown scan component"))?;
            if members.iter().any(|m: &Member| m.component == component) {
                return Err(ReducedError::Corrupt("repeated scan component"));
            }
            members.push(Member {
                component,
                dc: usize::from(tables >> 4),
                ac: usize::from(tables & 15),
            });
        }
        let tail = 1 + 2 * count;
        let approx = segment.get(tail + 2).copied().unwrap_or(0);
        Ok(Self {
            members,
            ss: segment.get(tail).copied().unwrap_or(0),
            se: segment.get(tail + 1).copied().unwrap_or(0),
            ah: approx >> 4,
            al: approx & 15,
        })
    }

    /// Whether the scan's members are coded MCU by MCU (more than one component).
    pub(super) fn interleaved(&self) -> bool {
        self.members.len() > 1
    }

    /// The units the scan is coded in, across and down: MCUs when it is interleaved, else the
    /// blocks of its one component that hold image data.
    pub(super) fn units(&self, frame: &Frame) -> Result<(usize, usize), ReducedError> {
        if self.interleaved() {
            return Ok((frame.mcus_x, frame.mcus_y));
        }
        let c = self
            .members
            .first()
            .and_then(|member| frame.components.get(member.component))
            .ok_or(ReducedError::Corrupt("bad SOS"))?;
        Ok((c.data_cols, c.data_rows))
    }
}

/// What [`Segments::next`] found.
pub(super) enum Event<'a> {
    /// A frame header (SOF0, SOF1 or SOF2) and whether it is progressive.
    Frame(&'a [u8], bool),
    /// A scan header; its entropy-coded data starts at [`Segments::pos`].
    Scan(&'a [u8]),
    /// The end of the image.
    End,
}

/// Walks a JPEG's segments, keeping the tables up to date.
pub(super) struct Segments<'a> {
    data: &'a [u8],
    /// Where the next marker is expected. After an [`Event::Scan`], the caller sets it to the
    /// marker after the scan's data.
    pub(super) pos: usize,
    pub(super) tables: Tables,
}

impl<'a> Segments<'a> {
    /// Starts after the SOI marker; fails when `data` does not start with one.
    pub(super) fn new(data: &'a [u8]) -> Result<Self, ReducedError> {
        if data.get(..2) != Some(&[0xFF, 0xD8][..]) {
            return Err(ReducedError::Corrupt("not a JPEG"));
        }
        Ok(Self {
            data,
            pos: 2,
            tables: Tables::new(),
        })
    }

    /// Reads segments up to the next frame header, scan or end of image.
    pub(super) fn next(&mut self) -> Result<Event<'a>, ReducedError> {
        let data = self.data;
        loop {
            let mut pos = self.pos;
            if data.get(pos) != Some(&0xFF) {
                return Err(ReducedError::Corrupt("expected a marker"));
            }
            while data.get(pos) == Some(&0xFF) {
                pos += 1;
            }
            let marker = *data.get(pos).ok_or(ReducedError::Corrupt("truncated"))?;
            pos += 1;
            self.pos = pos;
            match marker {
                0xD9 => return Ok(Event::End),
                0xD0..=0xD7 | 0x01 => continue,
                0xD8 | 0x00 => return Err(ReducedError::Corrupt("unexpected marker")),
                _ => {}
            }
            let length = be16(data, pos)?;
            if length < 2 {
                return Err(ReducedError::Corrupt("bad segment length"));
            }
            let end = pos
                .checked_add(length)
                .filter(|&end| end <= data.len())
                .ok_or(ReducedError::Corrupt("truncated segment"))?;
            let segment = data.get(pos + 2..end).unwrap_or(&[]);
            self.pos = end;
            match marker {
                0xC0 | 0xC1 => return Ok(Event::Frame(segment, false)),
                0xC2 => return Ok(Event::Frame(segment, true)),
                0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                    return Err(ReducedError::Unsupported(
                        "lossless, hierarchical or arithmetic",
                    ));
                }
                0xC4 => self.tables.huffman(segment)?,
                0xDB => self.tables.quantisation(segment)?,
                0xDD => self.tables.restart_interval = be16(segment, 0)?,
                0xDC => return Err(ReducedError::Unsupported("DNL marker")),
                0xE0 if segment.starts_with(b"JFIF\0") => self.tables.jfif = true,
                0xEE if segment.starts_with(b"Adobe") => {
                    self.tables.adobe_transform = segment.get(11).copied();
                }
                0xDA => return Ok(Event::Scan(segment)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::fixture;
    use super::*;

    #[test]
    fn a_progressive_file_gives_its_frame_then_its_scans() {
        let data = fixture("progressive-420.jpg");
        let mut segments = Segments::new(&data).unwrap();
        let Event::Frame(header, true) = segments.next().unwrap() else {
            panic!("the frame comes first");
        };
        let frame = Frame::parse(header, true, &Limits::default()).unwrap();
        assert_eq!(frame.components.len(), 3);
        assert_eq!((frame.h_max, frame.v_max), (2, 2));
        let mut scans = 0;
        loop {
            match segments.next().unwrap() {
                Event::Scan(header) => {
                    let scan = Scan::parse(header, &frame).unwrap();
                    assert!(scan.ss <= scan.se);
                    scans += 1;
                    segments.pos = super::super::entropy::next_marker(&data, segments.pos, false);
                }
                Event::End => break,
                Event::Frame(..) => panic!("one frame"),
            }
        }
        assert!(scans > 2);
        assert!(segments.tables.quant[0].is_some());
        assert!(!segments.tables.rgb_coded(&[1, 2, 3]));
        assert!(Segments::new(b"GIF89a").is_err());
    }
}
