//! From coefficients to pixels for the reduced decoders: the zig-zag order, the scaled
//! inverse DCT and the YCbCr to RGB conversion.

/// Zig-zag index → natural (row-major) index in an 8×8 block.
pub(super) const ZIGZAG: [u8; 64] = zigzag();

/// Walks the anti-diagonals of the block, alternating direction, as JPEG orders coefficients.
const fn zigzag() -> [u8; 64] {
    let mut order = [0u8; 64];
    let mut next = 0;
    let mut sum = 0; // row + column along one anti-diagonal
    while sum < 15 {
        // Even diagonals go up and to the right (row falling), odd ones down and to the left.
        let mut step = 0;
        while step <= sum {
            let (row, col) = if sum % 2 == 0 {
                (sum - step, step)
            } else {
                (step, sum - step)
            };
            if row < 8 && col < 8 {
                order[next] = (row * 8 + col) as u8;
                next += 1;
            }
            step += 1;
        }
        sum += 1;
    }
    order
}

/// The highest zig-zag index among the coefficients of the `cols` × `rows` top-left corner of
/// a block: the coefficients a scaled IDCT to that many pixels reads.
pub(super) fn last_needed(cols: usize, rows: usize) -> usize {
    ZIGZAG
        .iter()
        .rposition(|&natural| usize::from(natural % 8) < cols && usize::from(natural / 8) < rows)
        .unwrap_or(0)
}

/// The basis of the `n`-point inverse DCT (`n` of 1, 2, 4 or 8) scaled as JPEG's 8-point
/// one: `basis[x][u] = ½ · C(u) · cos((2x + 1)uπ / 2n)` with `C(0) = 1/√2`, else 1. Taking
/// the `n` lowest coefficients of an 8-point transform through it samples the block's
/// continuous cosines at the centres of its 8/`n`-pixel groups: the block reduced to `n`
/// pixels, with the mean kept.
fn basis(n: usize) -> [[f32; 8]; 8] {
    let mut basis = [[0f32; 8]; 8];
    for (x, row) in basis.iter_mut().enumerate().take(n) {
        for (u, value) in row.iter_mut().enumerate().take(n) {
            let c = if u == 0 {
                std::f64::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            let angle = (2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / (2 * n) as f64;
            *value = (0.5 * c * angle.cos()) as f32;
        }
    }
    basis
}

/// A scaled inverse DCT from the top-left `cols` × `rows` coefficients of a block to
/// `cols` × `rows` pixels.
pub(super) struct Idct {
    cols: usize,
    rows: usize,
    horizontal: [[f32; 8]; 8],
    vertical: [[f32; 8]; 8],
}

impl Idct {
    /// `cols` and `rows` are 1, 2, 4 or 8.
    pub(super) fn new(cols: usize, rows: usize) -> Self {
        Self {
            cols,
            rows,
            horizontal: basis(cols),
            vertical: basis(rows),
        }
    }

    /// Transforms `block` (dequantised coefficients in natural order; only the corner is read)
    /// and writes its pixels, level-shifted by 128 and clamped, `stride` apart in `out`.
    pub(super) fn run(&self, block: &[f32; 64], out: &mut [u8], stride: usize) {
        // Fixed sizes let the compiler unroll the loops.
        match (self.cols, self.rows) {
            (1, 1) => self.sized::<1, 1>(block, out, stride),
            (2, 2) => self.sized::<2, 2>(block, out, stride),
            (4, 2) => self.sized::<4, 2>(block, out, stride),
            (2, 4) => self.sized::<2, 4>(block, out, stride),
            (4, 4) => self.sized::<4, 4>(block, out, stride),
            (8, 4) => self.sized::<8, 4>(block, out, stride),
            (4, 8) => self.sized::<4, 8>(block, out, stride),
            (8, 8) => self.sized::<8, 8>(block, out, stride),
            (8, 2) => self.sized::<8, 2>(block, out, stride),
            (2, 8) => self.sized::<2, 8>(block, out, stride),
            (2, 1) => self.sized::<2, 1>(block, out, stride),
            (1, 2) => self.sized::<1, 2>(block, out, stride),
            (4, 1) => self.sized::<4, 1>(block, out, stride),
            (1, 4) => self.sized::<1, 4>(block, out, stride),
            (8, 1) => self.sized::<8, 1>(block, out, stride),
            (1, 8) => self.sized::<1, 8>(block, out, stride),
            _ => {}
        }
    }

    fn sized<const C: usize, const R: usize>(
        &self,
        block: &[f32; 64],
        out: &mut [u8],
        stride: usize,
    ) {
        // Rows first: `partial[v][x]` is row v of the coefficients transformed along x. Rows
        // of zeros (most of them, in a photo) stay zero.
        let mut partial = [[0f32; C]; R];
        for (v, line) in partial.iter_mut().enumerate() {
            let mut coefficients = [0f32; C];
            coefficients.copy_from_slice(&block[v * 8..v * 8 + C]);
            if coefficients.iter().all(|&c| c == 0.0) {
                continue;
            }
            for (x, value) in line.iter_mut().enumerate() {
                let weights = &self.horizontal[x];
                let mut sum = 0.0;
                for u in 0..C {
                    sum += coefficients[u] * weights[u];
                }
                *value = sum;
            }
        }
        for y in 0..R {
            let weights = &self.vertical[y];
            let Some(line) = out.get_mut(y * stride..y * stride + C) else {
                return;
            };
            let mut sums = [128.5f32; C];
            for (v, row) in partial.iter().enumerate() {
                let weight = weights[v];
                for (sum, &value) in sums.iter_mut().zip(row) {
                    *sum += value * weight;
                }
            }
            for (pixel, sum) in line.iter_mut().zip(sums) {
                // `as` saturates; the 128.5 above rounds to the nearest on the way down.
                *pixel = sum.clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Fills the `cols` × `rows` block at the start of `out` with one value.
pub(super) fn fill(value: u8, cols: usize, rows: usize, out: &mut [u8], stride: usize) {
    for y in 0..rows {
        if let Some(line) = out.get_mut(y * stride..y * stride + cols) {
            line.fill(value);
        }
    }
}

/// JFIF's YCbCr to RGB, in 16-bit fixed point, rounded.
#[inline]
pub(super) fn ycc_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let luma = i32::from(y);
    let cb = i32::from(cb) - 128;
    let cr = i32::from(cr) - 128;
    [
        clamp(luma + ((91_881 * cr + 32_768) >> 16)),
        clamp(luma - ((22_554 * cb + 46_802 * cr + 32_768) >> 16)),
        clamp(luma + ((116_130 * cb + 32_768) >> 16)),
    ]
}

fn clamp(value: i32) -> u8 {
    u8::try_from(value.clamp(0, 255)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zigzag_order_is_jpegs() {
        assert_eq!(
            ZIGZAG[..16],
            [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5]
        );
        assert_eq!(ZIGZAG[58..], [61, 54, 47, 55, 62, 63]);
        let mut seen = ZIGZAG;
        seen.sort_unstable();
        assert!(seen.iter().enumerate().all(|(i, &n)| usize::from(n) == i));
        assert_eq!(last_needed(1, 1), 0);
        assert_eq!(last_needed(2, 2), 4);
        assert_eq!(last_needed(4, 4), 24);
        assert_eq!(last_needed(8, 8), 63);
    }

    /// The 8-point inverse DCT, straight from its definition.
    fn reference(block: &[f32; 64]) -> [f32; 64] {
        let basis = basis(8);
        let mut out = [0f32; 64];
        for y in 0..8 {
            for x in 0..8 {
                let mut sum = 0.0;
                for v in 0..8 {
                    for u in 0..8 {
                        sum += basis[y][v] * basis[x][u] * block[v * 8 + u];
                    }
                }
                out[y * 8 + x] = sum + 128.0;
            }
        }
        out
    }

    #[test]
    fn a_flat_block_keeps_its_mean_at_every_size() {
        let mut block = [0f32; 64];
        block[0] = 800.0; // a mean of 100 above the level shift
        for n in [1, 2, 4, 8] {
            let mut out = [0u8; 64];
            Idct::new(n, n).run(&block, &mut out, 8);
            for y in 0..n {
                assert!(out[y * 8..y * 8 + n].iter().all(|&p| p == 228), "{n}");
            }
        }
    }

    #[test]
    fn the_reduced_transform_is_close_to_averaging_the_full_one() {
        // A smooth block: low frequencies only.
        let mut block = [0f32; 64];
        for (i, value) in [(0, 300.0), (1, -80.0), (8, 60.0), (9, 25.0), (2, 10.0)] {
            block[i] = value;
        }
        let full = reference(&block);
        for n in [2usize, 4] {
            let mut out = [0u8; 64];
            Idct::new(n, n).run(&block, &mut out, 8);
            let group = 8 / n;
            for y in 0..n {
                for x in 0..n {
                    let mut mean = 0.0;
                    for dy in 0..group {
                        for dx in 0..group {
                            mean += full[(y * group + dy) * 8 + x * group + dx];
                        }
                    }
                    mean /= (group * group) as f32;
                    let ours = f32::from(out[y * 8 + x]);
                    assert!((ours - mean).abs() < 3.0, "{n}: {ours} against {mean}");
                }
            }
        }
    }

    #[test]
    fn grey_stays_grey() {
        assert_eq!(ycc_to_rgb(77, 128, 128), [77, 77, 77]);
        assert_eq!(ycc_to_rgb(255, 0, 255), [255, 208, 28]);
    }
}
