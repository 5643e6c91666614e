//! Entropy-coded data shared by the reduced JPEG decoders: Huffman tables, the bit reader
//! (stuffed bytes, restart markers, padding at the end of the data) and the marker search.

/// Why a reduced decoder did not produce an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReducedError {
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
pub(super) struct Huffman {
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
    pub(super) fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, ReducedError> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 || total != values.len() {
            return Err(ReducedError::Corrupt("bad Huffman table"));
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
                    return Err(ReducedError::Corrupt("bad Huffman table"));
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
    #[inline(always)]
    pub(super) fn decode(&self, bits: &mut Bits<'_>) -> Result<u8, ReducedError> {
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
        self.decode_long(bits, peek)
    }

    /// Decodes a code longer than the fast lookup covers (rare: the long codes are the
    /// unlikely symbols).
    #[cold]
    #[inline(never)]
    fn decode_long(&self, bits: &mut Bits<'_>, peek: u32) -> Result<u8, ReducedError> {
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
                    .map_err(|_| ReducedError::Corrupt("bad Huffman code"))?;
                bits.consume(length);
                return self
                    .values
                    .get(index)
                    .copied()
                    .ok_or(ReducedError::Corrupt("bad Huffman code"));
            }
        }
        Err(ReducedError::Corrupt("bad Huffman code"))
    }
}

/// Reads entropy-coded bits, removing stuffed zero bytes and stopping at markers.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    /// The next byte to read.
    pub(super) pos: usize,
    /// Buffered bits, most significant first.
    acc: u64,
    count: u32,
    /// Zero bytes made up at a marker or at the end of the data.
    padded: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            count: 0,
            padded: 0,
        }
    }

    /// Tops the buffer up from the next eight bytes when they hold no 0xFF (no stuffing, no
    /// marker), which is most of the time; says whether it could.
    #[inline(always)]
    fn fill_fast(&mut self) -> bool {
        if self.count > 56 {
            return true;
        }
        let Some(chunk) = self
            .data
            .get(self.pos..self.pos + 8)
            .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok())
        else {
            return false;
        };
        let word = u64::from_be_bytes(chunk);
        let inverted = !word;
        let has_ff =
            inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080 != 0;
        if has_ff {
            return false;
        }
        let bytes = (64 - self.count) / 8;
        let fresh = word >> (64 - 8 * bytes);
        self.acc |= fresh.checked_shl(64 - self.count - 8 * bytes).unwrap_or(0);
        self.pos += bytes as usize;
        self.count += 8 * bytes;
        true
    }

    /// Tops the buffer up byte by byte, through stuffed bytes, markers and the end of the
    /// data (which read as zero padding).
    fn fill_slow(&mut self) {
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

    #[inline(always)]
    pub(super) fn peek16(&mut self) -> Result<u32, ReducedError> {
        if self.count < 16 {
            self.refill()?;
        }
        Ok(u32::try_from(self.acc >> 48).unwrap_or(0))
    }

    /// Drops `n` (at most 16) bits already made available by `peek16`.
    #[inline(always)]
    pub(super) fn consume(&mut self, n: u32) {
        let n = n.min(self.count);
        self.acc = self.acc.checked_shl(n).unwrap_or(0);
        self.count -= n;
    }

    /// Reads `n` (at most 16) bits as an unsigned number.
    #[inline(always)]
    pub(super) fn take(&mut self, n: u32) -> Result<u32, ReducedError> {
        if n == 0 {
            return Ok(0);
        }
        let peek = self.peek16()?;
        let n = n.min(16);
        self.consume(n);
        Ok(peek >> (16 - n))
    }

    /// Reads one bit.
    #[inline(always)]
    pub(super) fn bit(&mut self) -> Result<bool, ReducedError> {
        if self.count == 0 {
            self.refill()?;
        }
        let bit = self.acc >> 63 == 1;
        self.acc <<= 1;
        self.count -= 1;
        Ok(bit)
    }

    /// Reads `n` bits (at most 56) as an unsigned number.
    #[inline(always)]
    pub(super) fn take_wide(&mut self, n: u32) -> Result<u64, ReducedError> {
        if n == 0 {
            return Ok(0);
        }
        let n = n.min(56);
        if self.count < n {
            self.refill()?;
        }
        let value = self.acc >> (64 - n);
        self.acc = self.acc.checked_shl(n).unwrap_or(0);
        self.count -= n;
        Ok(value)
    }

    /// Steps over `n` bits, any number of them.
    #[inline]
    pub(super) fn skip(&mut self, mut n: u32) -> Result<(), ReducedError> {
        while n > 0 {
            if self.count == 0 {
                self.refill()?;
            }
            let step = n.min(self.count);
            self.acc = self.acc.checked_shl(step).unwrap_or(0);
            self.count -= step;
            n -= step;
        }
        Ok(())
    }

    /// Tops the buffer up, failing once the padding made up past the data is too long.
    #[inline(always)]
    fn refill(&mut self) -> Result<(), ReducedError> {
        if self.fill_fast() {
            return Ok(());
        }
        self.refill_slow()
    }

    #[cold]
    #[inline(never)]
    fn refill_slow(&mut self) -> Result<(), ReducedError> {
        self.fill_slow();
        if self.padded > MAX_PADDING {
            return Err(ReducedError::Corrupt("truncated scan"));
        }
        Ok(())
    }

    /// Reads an `n`-bit magnitude and sign-extends it (JPEG F.2.2.1 EXTEND).
    #[inline(always)]
    pub(super) fn signed(&mut self, n: u32) -> Result<i32, ReducedError> {
        if n == 0 {
            return Ok(0);
        }
        if n > 16 {
            return Err(ReducedError::Corrupt("bad coefficient size"));
        }
        let value = i32::try_from(self.take(n)?).unwrap_or(0);
        if value < (1 << (n - 1)) {
            Ok(value - (1 << n) + 1)
        } else {
            Ok(value)
        }
    }

    /// Handles a restart marker: drops buffered bits and steps over `RSTn`.
    pub(super) fn restart(&mut self) -> Result<(), ReducedError> {
        self.acc = 0;
        self.count = 0;
        self.padded = 0;
        let at = next_marker(self.data, self.pos, true);
        match self.data.get(at + 1) {
            Some(0xD0..=0xD7) => {
                self.pos = at + 2;
                Ok(())
            }
            _ => Err(ReducedError::Corrupt("missing restart marker")),
        }
    }
}

/// Counts the units of a scan and reads the restart marker due before a unit.
pub(super) struct Restarts {
    /// Units between markers; 0 for none.
    interval: usize,
    done: usize,
}

impl Restarts {
    pub(super) fn new(interval: usize) -> Self {
        Self { interval, done: 0 }
    }

    /// Called before each unit: steps over the restart marker due there, if one is, and says
    /// so (the caller then resets its predictions and runs).
    pub(super) fn before_unit(&mut self, bits: &mut Bits<'_>) -> Result<bool, ReducedError> {
        let due = self.interval > 0 && self.done > 0 && self.done.is_multiple_of(self.interval);
        self.done += 1;
        if due {
            bits.restart()?;
        }
        Ok(due)
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

/// The position of the set bit of `bits` with `n` set bits below it, or 64 when `bits` has
/// no more than `n` set bits. Refinement scans use it to find the coefficient `n`
/// zero-history positions ahead. Branch-free over `n` (broadword: running counts per byte,
/// then a table for the byte the bit is in), since a loop over `n` was their hot spot.
#[inline(always)]
pub(super) fn select(bits: u64, n: u32) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let n = u64::from(n.min(64));
    let mut counts = bits - ((bits >> 1) & 0x5555_5555_5555_5555);
    counts = (counts & 0x3333_3333_3333_3333) + ((counts >> 2) & 0x3333_3333_3333_3333);
    counts = (counts + (counts >> 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    // Byte i: the set bits in bytes 0..=i (at most 64, so no byte overflows).
    let sums = counts.wrapping_mul(ONES);
    if sums >> 56 <= n {
        return 64;
    }
    // Bit 7 of byte i is set when byte i and all below it hold no more than `n` set bits;
    // those bytes form a run from the bottom, and are passed whole.
    let passed = (((n * ONES) | HIGHS) - sums) & HIGHS;
    let whole = ((passed >> 7).wrapping_mul(ONES) >> 56) as u32;
    let below = if whole == 0 {
        0
    } else {
        (sums >> (8 * (whole - 1))) & 0xFF
    };
    let byte = ((bits >> (8 * whole)) & 0xFF) as usize;
    let rank = (n - below) as usize;
    8 * whole as usize + usize::from(SELECT_IN_BYTE[byte][rank & 7])
}

/// `SELECT_IN_BYTE[b][r]`: the position of the set bit of byte `b` with `r` set bits below it.
static SELECT_IN_BYTE: [[u8; 8]; 256] = select_in_byte();

const fn select_in_byte() -> [[u8; 8]; 256] {
    let mut table = [[0u8; 8]; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut rank = 0;
        let mut bit = 0;
        while bit < 8 {
            if byte & (1 << bit) != 0 {
                table[byte][rank] = bit as u8;
                rank += 1;
            }
            bit += 1;
        }
        byte += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_finds_the_bit_with_n_set_bits_below_it() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bits = state & (state >> 3);
            for n in 0..=64u32 {
                let mut rest = bits;
                for _ in 0..n {
                    rest &= rest.wrapping_sub(1);
                }
                let expected = if rest == 0 {
                    64
                } else {
                    rest.trailing_zeros() as usize
                };
                assert_eq!(select(bits, n), expected, "{bits:#x} {n}");
            }
        }
        assert_eq!(select(0, 0), 64);
        assert_eq!(select(u64::MAX, 63), 63);
        assert_eq!(select(1 << 63, 0), 63);
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

    #[test]
    fn long_runs_without_stuffing_read_back_in_order() {
        let data: Vec<u8> = (1..=40).collect();
        let mut bits = Bits::new(&data, 0);
        assert_eq!(bits.take(3).unwrap(), 0);
        assert_eq!(bits.take(5).unwrap(), 1);
        for expected in 2..=30u32 {
            assert_eq!(bits.take(8).unwrap(), expected);
        }
        // Misaligned reads across the eight-byte loads.
        assert_eq!(bits.take(4).unwrap(), 31 >> 4);
        assert_eq!(bits.take_wide(36).unwrap(), 0xF_2021_2223);
        assert_eq!(bits.take(12).unwrap(), 0x242);
    }

    #[test]
    fn bits_are_read_across_stuffed_bytes_and_skipped_in_any_number() {
        // 0xFF 0x00 is a stuffed 0xFF; the marker 0xFF 0xD9 ends the data.
        let data = [0b1010_0000, 0xFF, 0x00, 0x0F, 0xFF, 0xD9];
        let mut bits = Bits::new(&data, 0);
        assert!(bits.bit().unwrap());
        assert!(!bits.bit().unwrap());
        assert_eq!(bits.take(2).unwrap(), 0b10);
        bits.skip(4).unwrap();
        assert_eq!(bits.take(8).unwrap(), 0xFF);
        bits.skip(4).unwrap();
        assert_eq!(bits.take(4).unwrap(), 0xF);
        // Past the marker: zero padding, then an error once it is too long.
        bits.skip(8).unwrap();
        assert!(bits.skip(8 * MAX_PADDING + 64).is_err());
    }
}
