//! Colour operations: [`grayscale`] (the `grayscale()` filter) and [`without_alpha`]
//! (flattening before a JPEG is written).
//!
//! Flattening follows libvips, which imagor uses: a JPEG cannot hold transparency, so alpha is
//! flattened onto **black** (a transparent PNG served as JPEG gets a black background unless a
//! `fill(...)` or `background_color(...)` filter chose a colour).
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options};
//!
//! // A fully transparent PNG becomes black when written as JPEG.
//! # let mut png = Vec::new();
//! # image::RgbaImage::from_pixel(8, 8, image::Rgba([255, 255, 255, 0]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! let params = Params { filters: vec![Filter::new("format", "jpeg")], ..Default::default() };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! let jpeg = image::load_from_memory(output.bytes()).unwrap().to_rgb8();
//! assert!(jpeg.get_pixel(4, 4).0.iter().all(|&c| c < 8));
//! ```

use std::borrow::Cow;
use std::sync::OnceLock;

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage};

use crate::processing::cancel::Cancel;
use crate::processing::error::ProcessError;

/// Converts to one grey channel, keeping alpha (libvips `b-w` colourspace).
///
/// As libvips does, the luminance is taken in linear light (Y = 0.2126 R + 0.7152 G +
/// 0.0722 B of the linearised sRGB values) and encoded back with the sRGB curve, which is
/// lighter for saturated colours than a weighted sum of the encoded values.
///
/// Checks `cancel` between rows.
pub(crate) fn grayscale(
    image: DynamicImage,
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let curves = Curves::get();
    let mut meter = cancel.meter();
    Ok(match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) => image,
        other if other.color().has_alpha() => {
            let rgba = other.into_rgba8();
            let (width, height) = rgba.dimensions();
            let row = (width as usize * 4).max(4);
            let mut samples = Vec::with_capacity(rgba.as_raw().len() / 2);
            for line in rgba.as_raw().chunks(row) {
                meter.tick(row)?;
                let grey = line.chunks_exact(4);
                samples.extend(grey.flat_map(|p| [curves.luminance(p[0], p[1], p[2]), p[3]]));
            }
            GrayAlphaImage::from_raw(width, height, samples)
                .map_or_else(|| DynamicImage::ImageRgba8(rgba), DynamicImage::ImageLumaA8)
        }
        other => {
            let rgb = other.into_rgb8();
            let (width, height) = rgb.dimensions();
            let row = (width as usize * 3).max(3);
            let mut samples = Vec::with_capacity(rgb.as_raw().len() / 3);
            for line in rgb.as_raw().chunks(row) {
                meter.tick(row)?;
                let grey = line.chunks_exact(3);
                samples.extend(grey.map(|p| curves.luminance(p[0], p[1], p[2])));
            }
            GrayImage::from_raw(width, height, samples)
                .map_or_else(|| DynamicImage::ImageRgb8(rgb), DynamicImage::ImageLuma8)
        }
    })
}

/// The sRGB transfer curve as tables, so that [`grayscale`] costs a few lookups per pixel
/// instead of four `powf`.
struct Curves {
    /// The linear-light value of each 8-bit sRGB code.
    linear: [f64; 256],
    /// `threshold[c]` (c ≥ 1) is the smallest linear value whose sRGB encoding rounds to c.
    threshold: [f64; 256],
}

impl Curves {
    fn get() -> &'static Self {
        static CURVES: OnceLock<Curves> = OnceLock::new();
        CURVES.get_or_init(|| {
            let mut linear = [0.0; 256];
            let mut threshold = [f64::NEG_INFINITY; 256];
            for code in 0..256_u32 {
                let index = code as usize;
                linear[index] = to_linear(f64::from(code) / 255.0);
                if code > 0 {
                    threshold[index] = to_linear((f64::from(code) - 0.5) / 255.0);
                }
            }
            Self { linear, threshold }
        })
    }

    /// The sRGB-encoded grey of the linear-light luminance of one pixel.
    fn luminance(&self, r: u8, g: u8, b: u8) -> u8 {
        let y = 0.2126 * self.linear[usize::from(r)]
            + 0.7152 * self.linear[usize::from(g)]
            + 0.0722 * self.linear[usize::from(b)];
        // The number of codes above 0 whose threshold y reaches, which is at most 255.
        let code = self.threshold[1..].partition_point(|&t| t <= y);
        u8::try_from(code).unwrap_or(u8::MAX)
    }
}

/// The sRGB decoding curve, on values in 0..=1.
fn to_linear(v: f64) -> f64 {
    if v <= 0.040_45 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// The image without its alpha channel, flattened onto black; borrowed when there is no alpha.
pub(crate) fn without_alpha(image: &DynamicImage) -> Cow<'_, DynamicImage> {
    match image {
        DynamicImage::ImageLumaA8(buffer) => {
            let samples = flatten(buffer.as_raw(), 2);
            GrayImage::from_raw(buffer.width(), buffer.height(), samples)
                .map_or(Cow::Borrowed(image), |grey| {
                    Cow::Owned(DynamicImage::ImageLuma8(grey))
                })
        }
        DynamicImage::ImageRgba8(buffer) => {
            let samples = flatten(buffer.as_raw(), 4);
            RgbImage::from_raw(buffer.width(), buffer.height(), samples)
                .map_or(Cow::Borrowed(image), |rgb| {
                    Cow::Owned(DynamicImage::ImageRgb8(rgb))
                })
        }
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => Cow::Borrowed(image),
        other if other.color().has_alpha() => {
            let rgba = other.to_rgba8();
            let samples = flatten(rgba.as_raw(), 4);
            let rgb = RgbImage::from_raw(rgba.width(), rgba.height(), samples)
                .unwrap_or_else(|| other.to_rgb8());
            Cow::Owned(DynamicImage::ImageRgb8(rgb))
        }
        other => Cow::Owned(DynamicImage::ImageRgb8(other.to_rgb8())),
    }
}

/// Drops the last of `channels` samples per pixel, multiplying the others by it (rounded).
fn flatten(samples: &[u8], channels: usize) -> Vec<u8> {
    if channels < 2 {
        return samples.to_vec();
    }
    let colour = channels - 1;
    let mut out = Vec::with_capacity(samples.len() / channels * colour);
    for pixel in samples.chunks_exact(channels) {
        let (values, alpha) = pixel.split_at(colour);
        let alpha = alpha.first().copied().map_or(255, u32::from);
        out.extend(values.iter().map(|&value| {
            // (v * a + 127) / 255 fits in u8 because v, a ≤ 255.
            u8::try_from((u32::from(value) * alpha + 127) / 255).unwrap_or(u8::MAX)
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, LumaA, Rgb, Rgba};

    #[test]
    fn grayscale_keeps_alpha_and_grey() {
        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(2, 2, Rgba([255, 0, 0, 77])));
        let DynamicImage::ImageLumaA8(grey) = grayscale(rgba, &Cancel::new()).expect("grey") else {
            panic!("expected grey + alpha");
        };
        assert_eq!(grey.get_pixel(0, 0).0[1], 77);
        let rgb = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(1, 1, Rgb([255, 255, 255])));
        let DynamicImage::ImageLuma8(grey) = grayscale(rgb, &Cancel::new()).expect("grey") else {
            panic!("expected grey");
        };
        assert_eq!(grey.get_pixel(0, 0).0, [255]);
    }

    #[test]
    fn grayscale_takes_luminance_in_linear_light() {
        // The gopher's blue: 199 as libvips gives (a weighted sum of encoded values gives 193).
        let rgb = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(1, 1, Rgb([106, 215, 229])));
        assert_eq!(
            grayscale(rgb, &Cancel::new())
                .expect("grey")
                .to_luma8()
                .get_pixel(0, 0)
                .0,
            [199]
        );
        let red = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(1, 1, Rgb([255, 0, 0])));
        assert_eq!(
            grayscale(red, &Cancel::new())
                .expect("grey")
                .to_luma8()
                .get_pixel(0, 0)
                .0,
            [127]
        );
    }

    #[test]
    fn the_tables_give_what_the_curves_give() {
        let direct = |r: u8, g: u8, b: u8| {
            let [r, g, b] = [r, g, b].map(|v| to_linear(f64::from(v) / 255.0));
            let y = (0.2126 * r + 0.7152 * g + 0.0722 * b).clamp(0.0, 1.0);
            let encoded = if y <= 0.003_130_8 {
                y * 12.92
            } else {
                1.055 * y.powf(1.0 / 2.4) - 0.055
            };
            (encoded * 255.0).round() as u8
        };
        let curves = Curves::get();
        for r in (0..=255).step_by(3) {
            for g in (0..=255).step_by(5) {
                for b in (0..=255).step_by(7) {
                    assert_eq!(curves.luminance(r, g, b), direct(r, g, b), "{r} {g} {b}");
                }
            }
        }
        for v in 0..=255 {
            assert_eq!(curves.luminance(v, v, v), v);
        }
    }

    #[test]
    fn flattens_onto_black() {
        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(3, 1, |x, _| {
            Rgba([200, 100, 255, [0, 128, 255][x as usize]])
        }));
        let flat = without_alpha(&rgba);
        let rgb = flat.as_rgb8().expect("rgb");
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(rgb.get_pixel(1, 0).0, [100, 50, 128]);
        assert_eq!(rgb.get_pixel(2, 0).0, [200, 100, 255]);

        let la = DynamicImage::ImageLumaA8(ImageBuffer::from_pixel(1, 1, LumaA([255, 51])));
        assert_eq!(
            without_alpha(&la)
                .as_luma8()
                .expect("grey")
                .get_pixel(0, 0)
                .0,
            [51]
        );
    }

    #[test]
    fn opaque_images_are_borrowed() {
        let rgb = DynamicImage::ImageRgb8(ImageBuffer::new(1, 1));
        assert!(matches!(without_alpha(&rgb), Cow::Borrowed(_)));
    }
}
