//! Decoded AV1 planes and their conversion to 8-bit RGB.
//!
//! The matrix comes from the colour codes (ITU-T H.273 matrix coefficients): BT.601 (also for
//! "unspecified"), BT.709, BT.2020, FCC, SMPTE 240M, YCgCo, or identity (planes stored as
//! G, B, R). Samples are studio range (16–235 luma, 16–240 chroma, scaled for 10 and 12 bits)
//! or full range. Subsampled chroma (4:2:0, 4:2:2) is upsampled bilinearly, at the siting the
//! AV1 sequence header gives (centred when it gives none, as libyuv assumes).
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(32, 32, image::Rgb([200, 40, 90]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // Through AVIF (colour converted to YCbCr) and back to RGB: the colour survives.
//! let to = |format: &str| Params {
//!     filters: vec![Filter::new("format", format)],
//!     ..Default::default()
//! };
//! let avif = process(&png, &to("avif"), &Options::default()).unwrap();
//! let back = process(avif.bytes(), &to("png"), &Options::default()).unwrap();
//! let pixel = image::load_from_memory(back.bytes()).unwrap().to_rgb8().get_pixel(16, 16).0;
//! assert!(pixel.iter().zip([200, 40, 90]).all(|(a, b)| a.abs_diff(b) <= 6), "{pixel:?}");
//! ```

use super::super::error::ProcessError;

/// How the chroma planes are subsampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Luma only (4:0:0).
    Mono,
    /// Half width, half height.
    Yuv420,
    /// Half width, full height.
    Yuv422,
    /// Full resolution.
    Yuv444,
}

impl Layout {
    /// The chroma plane size for a `width` × `height` picture (`None` for [`Layout::Mono`]).
    pub(crate) fn chroma_size(self, width: usize, height: usize) -> Option<(usize, usize)> {
        let half = |v: usize| v / 2 + v % 2;
        match self {
            Self::Mono => None,
            Self::Yuv420 => Some((half(width), half(height))),
            Self::Yuv422 => Some((half(width), height)),
            Self::Yuv444 => Some((width, height)),
        }
    }
}

/// Where chroma samples sit relative to luma samples, per subsampled axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Siting {
    /// Chroma is co-sited with the even luma columns (otherwise between two columns).
    pub(crate) cosited_x: bool,
    /// Chroma is co-sited with the even luma rows (otherwise between two rows).
    pub(crate) cosited_y: bool,
}

/// One plane of samples, row after row without padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plane<T> {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) samples: Vec<T>,
}

impl<T: Copy> Plane<T> {
    fn rows(&self) -> impl Iterator<Item = &[T]> {
        self.samples
            .chunks_exact(self.width.max(1))
            .take(self.height)
    }

    fn row(&self, index: usize) -> &[T] {
        let start = index.saturating_mul(self.width);
        self.samples
            .get(start..start.saturating_add(self.width))
            .unwrap_or_default()
    }

    fn is_whole(&self) -> bool {
        self.width.checked_mul(self.height) == Some(self.samples.len())
    }
}

/// The planes of one picture: luma, then the two chroma planes unless it is monochrome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Planes {
    /// 8-bit samples.
    Eight(Vec<Plane<u8>>),
    /// 10- or 12-bit samples.
    Deep(Vec<Plane<u16>>),
}

/// Colour codes: matrix coefficients (H.273) and range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Colour {
    pub(crate) matrix: u16,
    pub(crate) full_range: bool,
}

/// A decoded picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Picture {
    pub(crate) width: usize,
    pub(crate) height: usize,
    /// Bits per sample: 8, 10 or 12.
    pub(crate) depth: u8,
    pub(crate) layout: Layout,
    pub(crate) siting: Siting,
    /// The colour codes of the AV1 sequence header.
    pub(crate) colour: Colour,
    pub(crate) planes: Planes,
}

/// Samples as decoded numbers.
trait Sample: Copy {
    fn value(self) -> f32;
}

impl Sample for u8 {
    fn value(self) -> f32 {
        f32::from(self)
    }
}

impl Sample for u16 {
    fn value(self) -> f32 {
        f32::from(self)
    }
}

/// How normalised Y, Cb, Cr become R, G, B.
#[derive(Clone, Copy, Debug)]
enum Matrix {
    /// Y'CbCr with the luma weights of red and blue.
    Ycbcr { kr: f32, kb: f32 },
    /// Planes hold G, B, R.
    Identity,
    /// Y, Cg, Co.
    Ycgco,
}

impl Matrix {
    fn from_code(code: u16) -> Self {
        let ycbcr = |kr, kb| Self::Ycbcr { kr, kb };
        match code {
            0 => Self::Identity,
            1 => ycbcr(0.2126, 0.0722),
            4 => ycbcr(0.30, 0.11),
            7 => ycbcr(0.212, 0.087),
            8 => Self::Ycgco,
            9 | 10 => ycbcr(0.2627, 0.0593),
            // BT.601 (5, 6), unspecified (2) and anything exotic.
            _ => ycbcr(0.299, 0.114),
        }
    }
}

/// Maps raw samples to 0–1 (luma) and -0.5–0.5 (chroma).
#[derive(Clone, Copy, Debug)]
struct Range {
    luma_offset: f32,
    luma_scale: f32,
    chroma_offset: f32,
    chroma_scale: f32,
}

impl Range {
    fn new(depth: u8, full: bool) -> Self {
        let unit = f32::from(1u16 << (depth.clamp(8, 16) - 8));
        let max = f32::from(u16::MAX >> (16 - depth.clamp(8, 16)));
        if full {
            Self {
                luma_offset: 0.0,
                luma_scale: 1.0 / max,
                chroma_offset: 128.0 * unit,
                chroma_scale: 1.0 / max,
            }
        } else {
            Self {
                luma_offset: 16.0 * unit,
                luma_scale: 1.0 / (219.0 * unit),
                chroma_offset: 128.0 * unit,
                chroma_scale: 1.0 / (224.0 * unit),
            }
        }
    }

    fn luma(self, v: f32) -> f32 {
        (v - self.luma_offset) * self.luma_scale
    }

    fn chroma(self, v: f32) -> f32 {
        (v - self.chroma_offset) * self.chroma_scale
    }
}

fn to_byte(v: f32) -> u8 {
    // The clamp keeps the cast in range (NaN becomes 0).
    (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

/// For each output position along one axis: the two chroma samples to blend and the weight
/// of the second.
fn taps(luma: usize, chroma: usize, cosited: bool) -> Vec<(usize, usize, f32)> {
    let last = chroma.saturating_sub(1);
    if chroma == luma {
        return (0..luma).map(|i| (i, i, 0.0)).collect();
    }
    (0..luma)
        .map(|i| {
            let position = if cosited {
                i as f32 / 2.0
            } else {
                (i as f32 + 0.5) / 2.0 - 0.5
            };
            let position = position.clamp(0.0, last as f32);
            let first = (position.floor() as usize).min(last);
            let second = (first + 1).min(last);
            (first, second, position - first as f32)
        })
        .collect()
}

/// Converts the picture to 8-bit samples: grey for a monochrome picture, RGB otherwise.
/// `colour` overrides the codes of the AV1 sequence header (the container's `colr` box).
pub(crate) fn to_8bit(picture: &Picture, colour: Colour) -> Result<Vec<u8>, ProcessError> {
    match &picture.planes {
        Planes::Eight(planes) => convert(picture, planes, colour),
        Planes::Deep(planes) => convert(picture, planes, colour),
    }
}

/// The luma plane of an alpha picture as 8-bit alpha, by the picture's own range.
pub(crate) fn alpha(picture: &Picture) -> Result<Vec<u8>, ProcessError> {
    let range = Range::new(picture.depth, picture.colour.full_range);
    let convert = |v: f32| to_byte(range.luma(v));
    match &picture.planes {
        Planes::Eight(planes) => luma_only(picture, planes, convert),
        Planes::Deep(planes) => luma_only(picture, planes, convert),
    }
}

fn bad_planes() -> ProcessError {
    ProcessError::image("avif: decoded planes do not match the picture size")
}

fn luma_only<T: Sample>(
    picture: &Picture,
    planes: &[Plane<T>],
    convert: impl Fn(f32) -> u8,
) -> Result<Vec<u8>, ProcessError> {
    let luma = planes.first().ok_or_else(bad_planes)?;
    if !luma.is_whole() || (luma.width, luma.height) != (picture.width, picture.height) {
        return Err(bad_planes());
    }
    Ok(luma.samples.iter().map(|v| convert(v.value())).collect())
}

fn convert<T: Sample>(
    picture: &Picture,
    planes: &[Plane<T>],
    colour: Colour,
) -> Result<Vec<u8>, ProcessError> {
    let range = Range::new(picture.depth, colour.full_range);
    let (width, height) = (picture.width, picture.height);
    let Some((chroma_width, chroma_height)) = picture.layout.chroma_size(width, height) else {
        return luma_only(picture, planes, |v| to_byte(range.luma(v)));
    };
    let [luma, cb, cr] = planes else {
        return Err(bad_planes());
    };
    let sizes_match = (luma.width, luma.height) == (width, height)
        && [cb, cr]
            .iter()
            .all(|p| (p.width, p.height) == (chroma_width, chroma_height) && p.is_whole());
    if !sizes_match || !luma.is_whole() || chroma_width == 0 || chroma_height == 0 {
        return Err(bad_planes());
    }
    let matrix = Matrix::from_code(colour.matrix);
    let across = taps(width, chroma_width, picture.siting.cosited_x);
    let down = taps(height, chroma_height, picture.siting.cosited_y);
    let samples = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(3))
        .ok_or_else(bad_planes)?;
    let mut out = Vec::with_capacity(samples);
    let mut cb_row = vec![0f32; chroma_width];
    let mut cr_row = vec![0f32; chroma_width];
    for (luma_row, &(top, bottom, weight)) in luma.rows().zip(&down) {
        // Blend the two chroma rows around this luma row once, then walk across it.
        for (plane, row) in [(cb, &mut cb_row), (cr, &mut cr_row)] {
            let (a, b) = (plane.row(top), plane.row(bottom));
            for ((out, a), b) in row.iter_mut().zip(a).zip(b) {
                *out = range.chroma(a.value() * (1.0 - weight) + b.value() * weight);
            }
        }
        for (y, &(left, right, weight)) in luma_row.iter().zip(&across) {
            let blend = |row: &[f32]| {
                let a = row.get(left).copied().unwrap_or(0.0);
                let b = row.get(right).copied().unwrap_or(0.0);
                a * (1.0 - weight) + b * weight
            };
            let (u, v) = (blend(&cb_row), blend(&cr_row));
            let rgb = match matrix {
                Matrix::Ycbcr { kr, kb } => {
                    let y = range.luma(y.value());
                    let r = y + 2.0 * (1.0 - kr) * v;
                    let b = y + 2.0 * (1.0 - kb) * u;
                    let g = (y - kr * r - kb * b) / (1.0 - kr - kb);
                    [r, g, b]
                }
                Matrix::Identity => {
                    // Every plane is a colour channel at luma range.
                    let to_luma = |c: f32| c / range.chroma_scale + range.chroma_offset;
                    let g = range.luma(y.value());
                    let b = range.luma(to_luma(u));
                    let r = range.luma(to_luma(v));
                    [r, g, b]
                }
                Matrix::Ycgco => {
                    let y = range.luma(y.value());
                    let t = y - u;
                    [t + v, y + u, t - v]
                }
            };
            out.extend(rgb.map(to_byte));
        }
    }
    if out.len() != samples {
        return Err(bad_planes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENTRED: Siting = Siting {
        cosited_x: false,
        cosited_y: false,
    };

    fn plane<T: Copy>(width: usize, height: usize, value: T) -> Plane<T> {
        Plane {
            width,
            height,
            samples: vec![value; width * height],
        }
    }

    fn picture(layout: Layout, planes: Planes, depth: u8, full_range: bool) -> Picture {
        Picture {
            width: 4,
            height: 3,
            depth,
            layout,
            siting: CENTRED,
            colour: Colour {
                matrix: 6,
                full_range,
            },
            planes,
        }
    }

    #[test]
    fn studio_and_full_range_grey() {
        // Studio-range black and white, full-range mid grey, as 8 and 10 bits.
        let cases = [
            (Planes::Eight(vec![plane(4, 3, 16u8)]), 8, false, 0),
            (Planes::Eight(vec![plane(4, 3, 235u8)]), 8, false, 255),
            (Planes::Eight(vec![plane(4, 3, 128u8)]), 8, true, 128),
            (Planes::Deep(vec![plane(4, 3, 940u16)]), 10, false, 255),
            (Planes::Deep(vec![plane(4, 3, 2048u16)]), 12, true, 128),
        ];
        for (planes, depth, full, expected) in cases {
            let picture = picture(Layout::Mono, planes, depth, full);
            let grey = to_8bit(&picture, picture.colour).expect("convert");
            assert_eq!(grey, vec![expected; 12], "{depth} bits, full {full}");
        }
    }

    #[test]
    fn bt601_red_in_each_layout() {
        // Full-range BT.601 red: Y 76, Cb 85, Cr 255.
        for layout in [Layout::Yuv420, Layout::Yuv422, Layout::Yuv444] {
            let (cw, ch) = layout.chroma_size(4, 3).expect("chroma");
            let planes =
                Planes::Eight(vec![plane(4, 3, 76), plane(cw, ch, 85), plane(cw, ch, 255)]);
            let picture = picture(layout, planes, 8, true);
            let rgb = to_8bit(&picture, picture.colour).expect("convert");
            assert_eq!(rgb.len(), 36);
            for pixel in rgb.chunks_exact(3) {
                assert!(
                    pixel[0] >= 253 && pixel[1] <= 2 && pixel[2] <= 2,
                    "{pixel:?}"
                );
            }
        }
    }

    #[test]
    fn matrices_differ_where_they_should() {
        let planes = Planes::Eight(vec![plane(4, 3, 100), plane(4, 3, 90), plane(4, 3, 200)]);
        let picture = picture(Layout::Yuv444, planes, 8, true);
        let first = |p: &Picture, matrix| {
            let colour = Colour {
                matrix,
                full_range: true,
            };
            let rgb = to_8bit(p, colour).expect("convert");
            [rgb[0], rgb[1], rgb[2]]
        };
        // Identity: G, B, R planes.
        assert_eq!(first(&picture, 0), [200, 100, 90]);
        assert_ne!(first(&picture, 1), first(&picture, 6));
        // Unspecified is read as BT.601.
        assert_eq!(first(&picture, 2), first(&picture, 6));
        // YCgCo: G = Y + Cg.
        assert_eq!(first(&picture, 8)[1], 62);
    }

    #[test]
    fn chroma_is_blended_between_samples() {
        // Two chroma columns, Cr 128 then 255: the middle luma columns get a blend.
        let mut cr = plane(2, 1, 128u8);
        cr.samples[1] = 255;
        let planes = Planes::Eight(vec![plane(4, 1, 128), plane(2, 1, 128), cr]);
        let picture = Picture {
            width: 4,
            height: 1,
            depth: 8,
            layout: Layout::Yuv422,
            siting: CENTRED,
            colour: Colour {
                matrix: 6,
                full_range: true,
            },
            planes,
        };
        let rgb = to_8bit(&picture, picture.colour).expect("convert");
        let reds: Vec<u8> = rgb.chunks_exact(3).map(|p| p[0]).collect();
        assert_eq!(reds[0], 128);
        assert!(reds[1] > 128 && reds[1] < reds[2], "{reds:?}");
        assert_eq!(reds[3], 255);
    }

    #[test]
    fn mismatched_planes_are_an_error() {
        let planes = Planes::Eight(vec![plane(4, 3, 0), plane(1, 1, 0), plane(2, 2, 0)]);
        let picture = picture(Layout::Yuv420, planes, 8, true);
        assert!(to_8bit(&picture, picture.colour).is_err());
        let short = Planes::Eight(vec![Plane {
            width: 4,
            height: 3,
            samples: vec![0; 5],
        }]);
        let picture = self::picture(Layout::Mono, short, 8, true);
        assert!(to_8bit(&picture, picture.colour).is_err());
        assert!(alpha(&picture).is_err());
    }

    #[test]
    fn alpha_follows_its_range() {
        let studio = picture(
            Layout::Mono,
            Planes::Eight(vec![plane(4, 3, 235)]),
            8,
            false,
        );
        assert_eq!(alpha(&studio).expect("alpha"), vec![255; 12]);
        let deep = picture(
            Layout::Mono,
            Planes::Deep(vec![plane(4, 3, 1023)]),
            10,
            true,
        );
        assert_eq!(alpha(&deep).expect("alpha"), vec![255; 12]);
    }
}
