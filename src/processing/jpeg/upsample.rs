//! 2× upsampling of subsampled chroma planes for the reduced progressive decoder.

/// A subsampled plane, upsampled one output row at a time by linear interpolation between
/// sample centres (weights ¾ and ¼ at 2×, as libjpeg's "fancy" upsampling), edges repeated.
pub(super) struct Upsampled {
    pub(super) pixels: Vec<u8>,
    /// Row length of `pixels`.
    pub(super) width: usize,
    /// The part of the plane that covers the image.
    pub(super) used_w: usize,
    pub(super) used_h: usize,
    /// The factors across and down, 1 or 2.
    pub(super) up: (usize, usize),
}

/// Buffers reused from row to row.
#[derive(Default)]
pub(super) struct Scratch {
    /// One plane row interpolated vertically, times 4.
    vertical: Vec<u16>,
}

impl Upsampled {
    /// Writes output row `y` (`out.len()` pixels) of this plane.
    pub(super) fn row(&self, y: usize, out: &mut [u8], scratch: &mut Scratch) {
        let used_w = self.used_w.max(1);
        let last_row = self.used_h.saturating_sub(1);
        let line = |index: usize| {
            let start = index.min(last_row) * self.width;
            self.pixels.get(start..start + used_w).unwrap_or(&[])
        };
        let vertical = &mut scratch.vertical;
        vertical.clear();
        if self.up.1 == 2 {
            // Output row y sits a quarter of a sample from the nearer row of the plane.
            let near = y / 2;
            let far = if y.is_multiple_of(2) {
                near.saturating_sub(1)
            } else {
                near + 1
            };
            vertical.extend(
                line(near)
                    .iter()
                    .zip(line(far))
                    .map(|(&n, &f)| 3 * u16::from(n) + u16::from(f)),
            );
        } else {
            vertical.extend(line(y).iter().map(|&n| 4 * u16::from(n)));
        }
        if vertical.is_empty() {
            out.fill(128);
            return;
        }
        // libjpeg's rounding: biases alternate between neighbouring output pixels so that
        // the errors do not all lean one way.
        let last = vertical.len() - 1;
        if self.up.0 == 2 {
            let (even, odd) = if self.up.1 == 2 { (8, 7) } else { (4, 8) };
            for (j, pair) in out.chunks_mut(2).enumerate() {
                let here = 3 * u32::from(vertical[j.min(last)]);
                let left = u32::from(vertical[j.saturating_sub(1).min(last)]);
                let right = u32::from(vertical[(j + 1).min(last)]);
                if let Some(first) = pair.first_mut() {
                    *first = ((here + left + even) >> 4) as u8;
                }
                if let Some(second) = pair.get_mut(1) {
                    *second = ((here + right + odd) >> 4) as u8;
                }
            }
        } else {
            let bias = if self.up.1 == 2 && y.is_multiple_of(2) {
                1
            } else {
                2
            };
            for (x, pixel) in out.iter_mut().enumerate() {
                *pixel = ((u32::from(vertical[x.min(last)]) + bias) >> 2) as u8;
            }
        }
    }
}
