//! Colour adjustments: linear ones (`brightness`, `contrast`, `rgb`,
//! `invert`), LCh ones (`saturation`, `hue`, `modulate`), and `blur` / `sharpen`.
//!
//! All of them leave alpha untouched. Grey images become RGB first, as libvips turns them
//! sRGB for these operations.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(8, 8, image::Rgb([100, 100, 100]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // `brightness(20)` adds 20 % of 255 (51) to every channel.
//! let params = Params { filters: vec![Filter::new("brightness", "20")], ..Default::default() };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! let pixel = image::load_from_memory(output.bytes()).unwrap().to_rgb8().get_pixel(4, 4).0;
//! assert_eq!(pixel, [151, 151, 151]);
//! ```

use image::{DynamicImage, ImageBuffer, Pixel};

use crate::processing::cancel::Cancel;
use crate::processing::cancel::Meter;
use crate::processing::error::ProcessError;

/// Applies `out = in × a + b` to R, G and B (rounded and clamped).
pub(crate) fn linear(
    image: DynamicImage,
    a: [f64; 3],
    b: [f64; 3],
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let apply = |rgb: &mut [u8]| {
        for ((value, a), b) in rgb.iter_mut().zip(a).zip(b) {
            *value = to_u8(f64::from(*value) * a + b);
        }
    };
    map_rgb(image, apply, cancel)
}

/// Scales lightness and chroma and rotates hue in CIE LCh (D65), like libvips' `modulate`.
pub(crate) fn modulate(
    image: DynamicImage,
    lightness: f64,
    chroma: f64,
    hue: f64,
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let (sin, cos) = hue.to_radians().sin_cos();
    let apply = |rgb: &mut [u8]| {
        let [l, a, b] = to_lab([rgb[0], rgb[1], rgb[2]]);
        let (a, b) = (a * cos - b * sin, a * sin + b * cos);
        let out = from_lab([l * lightness, a * chroma, b * chroma]);
        rgb.copy_from_slice(&out);
    };
    map_rgb(image, apply, cancel)
}

/// Gaussian blur with `sigma`, computed as libvips' `gaussblur` computes it for 8-bit images
/// (see [`gauss_mask`]): every channel (alpha included, not premultiplied) is convolved with
/// an integer mask, rows first and then columns, each pass rounded back to 8 bits, with the
/// edge pixels repeated outwards.
///
/// Checks `cancel` every [`Meter::BUDGET`](crate::processing::cancel::Meter::BUDGET) taps.
pub(crate) fn blur(
    image: &DynamicImage,
    sigma: f64,
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let mask = gauss_mask(sigma);
    if mask.len() < 2 {
        return Ok(image.clone());
    }
    Ok(match image {
        DynamicImage::ImageLuma8(buffer) => {
            DynamicImage::ImageLuma8(convolve_separable(buffer.clone(), &mask, cancel)?)
        }
        DynamicImage::ImageLumaA8(buffer) => {
            DynamicImage::ImageLumaA8(convolve_separable(buffer.clone(), &mask, cancel)?)
        }
        DynamicImage::ImageRgb8(buffer) => {
            DynamicImage::ImageRgb8(convolve_separable(buffer.clone(), &mask, cancel)?)
        }
        other => DynamicImage::ImageRgba8(convolve_separable(other.to_rgba8(), &mask, cancel)?),
    })
}

/// Smallest mask coefficient libvips keeps, relative to the centre (`min_ampl`).
const MIN_AMPL: f64 = 0.2;

/// libvips' integer Gaussian mask (`vips_gaussmat` with `min_ampl` 0.2, integer precision):
/// `round(20 · e^(−x² / 2σ²))` for `|x|` below the first distance whose value falls under
/// [`MIN_AMPL`]. A mask of one element (or an invalid sigma) means no blur.
fn gauss_mask(sigma: f64) -> Vec<u32> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return vec![1];
    }
    let sig2 = 2.0 * sigma * sigma;
    let value = |x: i64| (-((x * x) as f64) / sig2).exp();
    let max_x = (8.0 * sigma).clamp(0.0, 5000.0) as i64;
    let mut reach = 0;
    while reach < max_x && value(reach) >= MIN_AMPL {
        reach += 1;
    }
    let half = (reach - 1).max(0);
    (-half..=half)
        .map(|x| (20.0 * value(x)).round() as u32)
        .collect()
}

/// Convolves every channel of `image` with `mask` along rows, then along columns.
fn convolve_separable<P>(
    image: ImageBuffer<P, Vec<u8>>,
    mask: &[u32],
    cancel: &Cancel,
) -> Result<ImageBuffer<P, Vec<u8>>, ProcessError>
where
    P: Pixel<Subpixel = u8>,
{
    let (width, height) = image.dimensions();
    let channels = usize::from(P::CHANNEL_COUNT);
    let (w, h) = (width as usize, height as usize);
    let mut samples = image.into_raw();
    // Rows: neighbours are `channels` samples apart; columns: a whole row apart.
    let mut meter = cancel.meter();
    let rows = Lines {
        count: h,
        len: w,
        channels,
        line_step: w * channels,
        tap_step: channels,
    };
    convolve_lines(&mut samples, mask, rows, &mut meter)?;
    let columns = Lines {
        count: w * channels,
        len: h,
        channels: 1,
        line_step: 1,
        tap_step: w * channels,
    };
    convolve_lines(&mut samples, mask, columns, &mut meter)?;
    Ok(ImageBuffer::from_raw(width, height, samples).unwrap_or_else(|| ImageBuffer::new(0, 0)))
}

/// The lines of one 1-D pass: `count` lines of `len` taps each. Line `i`, channel `c` starts
/// at `i × line_step + c`, with taps `tap_step` apart.
#[derive(Clone, Copy, Debug)]
struct Lines {
    count: usize,
    len: usize,
    channels: usize,
    line_step: usize,
    tap_step: usize,
}

/// One 1-D pass over `lines` (see [`Lines`]). Out-of-range taps repeat the end pixel.
/// The meter counts every tap, checked every few output samples of a line.
fn convolve_lines(
    samples: &mut [u8],
    mask: &[u32],
    lines: Lines,
    meter: &mut Meter<'_>,
) -> Result<(), ProcessError> {
    let Lines {
        count: lines,
        len,
        channels,
        line_step,
        tap_step,
    } = lines;
    let half = mask.len() / 2;
    let scale: u64 = mask.iter().map(|&m| u64::from(m)).sum::<u64>().max(1);
    let mut line = vec![0u8; len];
    for index in 0..lines {
        for channel in 0..channels {
            let start = index * line_step + channel;
            for (i, value) in line.iter_mut().enumerate() {
                *value = samples.get(start + i * tap_step).copied().unwrap_or(0);
            }
            let last = len.saturating_sub(1);
            for i in 0..len {
                meter.tick(mask.len())?;
                let mut sum = 0u64;
                for (k, &m) in mask.iter().enumerate() {
                    let tap = (i + k).saturating_sub(half).min(last);
                    sum += u64::from(m) * u64::from(line[tap]);
                }
                let out = (sum + scale / 2) / scale;
                if let Some(sample) = samples.get_mut(start + i * tap_step) {
                    *sample = u8::try_from(out).unwrap_or(u8::MAX);
                }
            }
        }
    }
    Ok(())
}

/// Units of CIE L* per LabS step (libvips' 16-bit Lab: L 0–100 is 0–32767).
const LABS_SCALE: f64 = 32767.0 / 100.0;

/// libvips' `sharpen` as imagor calls it (`sigma`, flat-area threshold `x1` = 1, slope
/// `m2` = 2 elsewhere, defaults `m1` = 0, `y2` = 10, `y3` = 20): only the lightness changes.
/// L* is taken in 16-bit steps, blurred with the [`gauss_mask`] of `sigma`, and each pixel
/// moves by [`sharpen_curve`] of its difference from the blur. Alpha is kept.
///
/// Checks `cancel` every [`Meter::BUDGET`](crate::processing::cancel::Meter::BUDGET) units
/// (a Lab conversion counts 64, a tap 1).
pub(crate) fn sharpen(
    image: &DynamicImage,
    sigma: f64,
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let mut meter = cancel.meter();
    let mask = gauss_mask(sigma);
    let rgba = image.to_rgba8();
    let (width, height) = rgba.dimensions();
    let (w, h) = (width as usize, height as usize);
    let mut lab: Vec<[f64; 3]> = Vec::with_capacity(w * h);
    let mut lightness: Vec<i64> = Vec::with_capacity(w * h);
    // Row by row, so that a cancel stops the conversion too.
    for row in rgba.rows() {
        meter.tick(w * LAB_UNITS)?;
        for p in row {
            let [l, a, b] = to_lab([p.0[0], p.0[1], p.0[2]]);
            lightness.push((l * LABS_SCALE).round().clamp(0.0, 32767.0) as i64);
            lab.push([l, a, b]);
        }
    }
    let mut blurred = lightness.clone();
    convolve_plane(&mut blurred, &mask, [h, w, w, 1], &mut meter)?;
    convolve_plane(&mut blurred, &mask, [w, h, 1, w], &mut meter)?;
    let mut out = rgba;
    let line = w.max(1);
    let rows = out
        .rows_mut()
        .zip(lab.chunks(line))
        .zip(lightness.chunks(line))
        .zip(blurred.chunks(line));
    for (((row, lab), lightness), blurred) in rows {
        meter.tick(w * LAB_UNITS)?;
        for (((pixel, [_, a, b]), &l), &blur) in row.zip(lab).zip(lightness).zip(blurred) {
            let shifted = (l + sharpen_curve(l - blur)).clamp(0, 32767);
            let [r, g, bl] = from_lab([shifted as f64 / LABS_SCALE, *a, *b]);
            pixel.0 = [r, g, bl, pixel.0[3]];
        }
    }
    Ok(match image {
        DynamicImage::ImageLuma8(_) => {
            DynamicImage::ImageLuma8(DynamicImage::ImageRgba8(out).to_luma8())
        }
        DynamicImage::ImageLumaA8(_) => {
            DynamicImage::ImageLumaA8(DynamicImage::ImageRgba8(out).to_luma_alpha8())
        }
        DynamicImage::ImageRgb8(_) => {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(out).to_rgb8())
        }
        _ => DynamicImage::ImageRgba8(out),
    })
}

/// Work units of one Lab conversion (a few dozen floating-point operations and a cube root).
const LAB_UNITS: usize = 64;

/// The sharpening curve in LabS steps: no change within ±1 L* of the blur, slope 2 beyond,
/// at most 10 L* brighter and 20 L* darker.
fn sharpen_curve(difference: i64) -> i64 {
    const X1: f64 = 1.0;
    const M1: f64 = 0.0;
    const M2: f64 = 2.0;
    const Y2: f64 = 10.0;
    const Y3: f64 = 20.0;
    let v = difference as f64 / LABS_SCALE;
    let y = if v < -X1 {
        (v + X1) * M2 - X1 * M1
    } else if v < X1 {
        v * M1
    } else {
        (v - X1) * M2 + X1 * M1
    };
    (y.clamp(-Y3, Y2) * LABS_SCALE).round() as i64
}

/// One 1-D integer pass over a plane of single values (see [`convolve_lines`]): `shape` is
/// `[lines, len, line_step, tap_step]`.
fn convolve_plane(
    values: &mut [i64],
    mask: &[u32],
    shape: [usize; 4],
    meter: &mut Meter<'_>,
) -> Result<(), ProcessError> {
    let [lines, len, line_step, tap_step] = shape;
    let half = mask.len() / 2;
    let scale: i64 = mask.iter().map(|&m| i64::from(m)).sum::<i64>().max(1);
    let last = len.saturating_sub(1);
    let mut line = vec![0i64; len];
    for index in 0..lines {
        let start = index * line_step;
        for (i, value) in line.iter_mut().enumerate() {
            *value = values.get(start + i * tap_step).copied().unwrap_or(0);
        }
        for i in 0..len {
            meter.tick(mask.len())?;
            let mut sum = 0i64;
            for (k, &m) in mask.iter().enumerate() {
                let tap = (i + k).saturating_sub(half).min(last);
                sum += i64::from(m) * line[tap];
            }
            if let Some(value) = values.get_mut(start + i * tap_step) {
                *value = (sum + scale / 2) / scale;
            }
        }
    }
    Ok(())
}

/// Runs `apply` on the RGB part of every pixel of an 8-bit RGB(A) copy of `image`, checking
/// `cancel` between rows (a pixel counts [`LAB_UNITS`], the cost of the LCh conversions).
fn map_rgb(
    image: DynamicImage,
    apply: impl Fn(&mut [u8]),
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let mut meter = cancel.meter();
    let width = image.width() as usize;
    if image.color().has_alpha() {
        let mut rgba = image.into_rgba8();
        for row in rgba.rows_mut() {
            meter.tick(width * LAB_UNITS)?;
            row.for_each(|pixel| apply(&mut pixel.0[..3]));
        }
        Ok(DynamicImage::ImageRgba8(rgba))
    } else {
        let mut rgb = image.into_rgb8();
        for row in rgb.rows_mut() {
            meter.tick(width * LAB_UNITS)?;
            row.for_each(|pixel| apply(&mut pixel.0));
        }
        Ok(DynamicImage::ImageRgb8(rgb))
    }
}

fn to_u8(value: f64) -> u8 {
    // NaN becomes 0; the cast saturates.
    value.round().clamp(0.0, 255.0) as u8
}

const WHITE: [f64; 3] = [0.950_47, 1.0, 1.088_83];

fn srgb_to_linear(v: u8) -> f64 {
    let v = f64::from(v) / 255.0;
    if v <= 0.040_45 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(v: f64) -> u8 {
    let v = if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.max(0.0).powf(1.0 / 2.4) - 0.055
    };
    to_u8(v * 255.0)
}

fn to_lab(rgb: [u8; 3]) -> [f64; 3] {
    let [r, g, b] = rgb.map(srgb_to_linear);
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = 0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b;
    let f = |t: f64| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x / WHITE[0]), f(y / WHITE[1]), f(z / WHITE[2]));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

fn from_lab(lab: [f64; 3]) -> [u8; 3] {
    let [l, a, b] = lab;
    let fy = (l + 16.0) / 116.0;
    let (fx, fz) = (fy + a / 500.0, fy - b / 200.0);
    let inv = |t: f64| {
        let cube = t * t * t;
        if cube > 216.0 / 24389.0 {
            cube
        } else {
            (116.0 * t - 16.0) * 27.0 / 24389.0
        }
    };
    let (x, y, z) = (inv(fx) * WHITE[0], inv(fy) * WHITE[1], inv(fz) * WHITE[2]);
    let r = 3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z;
    let g = -0.969_266 * x + 1.876_010_8 * y + 0.041_556 * z;
    let b = 0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z;
    [r, g, b].map(linear_to_srgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, Rgba, RgbaImage};

    fn live() -> Cancel {
        Cancel::new()
    }

    #[test]
    fn cancelled_filters_stop() {
        let big = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(600, 600, Rgb([9, 8, 7])));
        let cancelled = Cancel::new();
        cancelled.cancel();
        let stopped = |result: Result<DynamicImage, ProcessError>| {
            matches!(result, Err(ProcessError::Cancelled))
        };
        assert!(stopped(blur(&big, 20.0, &cancelled)));
        assert!(stopped(sharpen(&big, 20.0, &cancelled)));
        assert!(stopped(linear(big.clone(), [1.0; 3], [1.0; 3], &cancelled)));
        assert!(stopped(modulate(big.clone(), 1.0, 1.0, 30.0, &cancelled)));
        // A live token changes nothing.
        assert_eq!(blur(&big, 20.0, &live()).expect("blur"), big);
    }

    #[test]
    fn linear_clamps_and_keeps_alpha() {
        let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(1, 1, Rgba([10, 200, 250, 7])));
        let out = linear(image, [1.0; 3], [20.0, 20.0, 20.0], &live()).expect("linear");
        assert_eq!(out.to_rgba8().get_pixel(0, 0).0, [30, 220, 255, 7]);
        let grey = DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([100])));
        let out = linear(grey, [-1.0; 3], [255.0; 3], &live()).expect("linear");
        assert_eq!(out.to_rgb8().get_pixel(0, 0).0, [155, 155, 155]);
    }

    #[test]
    fn gauss_mask_is_libvips_integer_mask() {
        // sigma 50 (fill(blur)): e^(-x²/5000) stays at or above 0.2 up to x = 89.
        let mask = gauss_mask(50.0);
        assert_eq!(mask.len(), 179);
        assert_eq!((mask[89], mask[0], mask[178]), (20, 4, 4));
        assert_eq!(gauss_mask(1.0), [12, 20, 12]);
        assert_eq!(gauss_mask(0.0), [1]);
        assert_eq!(gauss_mask(f64::NAN), [1]);
    }

    #[test]
    fn blur_repeats_edges_and_blurs_alpha_too() {
        // A flat image stays flat (edges repeat, no dark border).
        let flat = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(9, 4, Rgb([90, 80, 70])));
        assert_eq!(blur(&flat, 2.0, &live()).expect("blur"), flat);
        // Alpha is blurred like the colour channels, without premultiplying.
        let half = DynamicImage::ImageRgba8(RgbaImage::from_fn(8, 1, |x, _| {
            if x < 4 {
                Rgba([255, 0, 0, 0])
            } else {
                Rgba([255, 0, 0, 255])
            }
        }));
        let out = blur(&half, 1.0, &live()).expect("blur").to_rgba8();
        let alpha: Vec<u8> = out.pixels().map(|p| p.0[3]).collect();
        assert_eq!(alpha, [0, 0, 0, 70, 185, 255, 255, 255]);
        assert!(out.pixels().all(|p| p.0[..3] == [255, 0, 0]));
    }

    #[test]
    fn sharpen_curve_is_flat_then_slope_two_and_clipped() {
        let steps = |l: f64| (l * LABS_SCALE).round() as i64;
        assert_eq!(sharpen_curve(steps(0.5)), 0);
        assert_eq!(sharpen_curve(steps(-0.9)), 0);
        assert_eq!(sharpen_curve(steps(3.0)), steps(4.0));
        assert_eq!(sharpen_curve(steps(-3.0)), -steps(4.0));
        assert_eq!(sharpen_curve(steps(50.0)), steps(10.0));
        assert_eq!(sharpen_curve(steps(-50.0)), -steps(20.0));
    }

    #[test]
    fn sharpen_changes_only_edges_and_keeps_alpha() {
        let flat = DynamicImage::ImageRgba8(RgbaImage::from_pixel(6, 6, Rgba([90, 140, 200, 9])));
        assert_eq!(sharpen(&flat, 5.0, &live()).expect("sharpen"), flat);
        // A grey step: the dark side gets darker and the light side lighter next to the edge.
        let step = DynamicImage::ImageRgb8(image::RgbImage::from_fn(12, 3, |x, _| {
            if x < 6 {
                Rgb([80, 80, 80])
            } else {
                Rgb([160, 160, 160])
            }
        }));
        let out = sharpen(&step, 1.0, &live()).expect("sharpen").to_rgb8();
        assert!(out.get_pixel(5, 1).0[0] < 80, "{:?}", out.get_pixel(5, 1));
        assert!(out.get_pixel(6, 1).0[0] > 160, "{:?}", out.get_pixel(6, 1));
        assert_eq!(out.get_pixel(0, 1).0, [80, 80, 80]);
        assert_eq!(out.get_pixel(11, 1).0, [160, 160, 160]);
    }

    #[test]
    fn lab_round_trips() {
        for rgb in [[0, 0, 0], [255, 255, 255], [200, 30, 60], [12, 240, 99]] {
            assert_eq!(from_lab(to_lab(rgb)), rgb);
        }
    }

    #[test]
    fn modulate_without_change_is_identity_and_zero_chroma_is_grey() {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(1, 1, Rgb([200, 30, 60])));
        let same = modulate(image.clone(), 1.0, 1.0, 0.0, &live()).expect("modulate");
        assert_eq!(same.to_rgb8().get_pixel(0, 0).0, [200, 30, 60]);
        let grey = modulate(image, 1.0, 0.0, 0.0, &live()).expect("modulate");
        let [r, g, b] = grey.to_rgb8().get_pixel(0, 0).0;
        assert!(r.abs_diff(g) <= 1 && g.abs_diff(b) <= 1, "{r} {g} {b}");
    }
}
