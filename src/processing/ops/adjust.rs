//! Colour adjustments (FILTERS.md §5.6–5.8): linear ones (`brightness`, `contrast`, `rgb`,
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

use image::{DynamicImage, Rgb, Rgba};

/// Applies `out = in × a + b` to R, G and B (rounded and clamped).
pub(crate) fn linear(image: DynamicImage, a: [f64; 3], b: [f64; 3]) -> DynamicImage {
    let apply = |rgb: &mut [u8]| {
        for ((value, a), b) in rgb.iter_mut().zip(a).zip(b) {
            *value = to_u8(f64::from(*value) * a + b);
        }
    };
    map_rgb(image, apply)
}

/// Scales lightness and chroma and rotates hue in CIE LCh (D65), like libvips' `modulate`.
pub(crate) fn modulate(image: DynamicImage, lightness: f64, chroma: f64, hue: f64) -> DynamicImage {
    let (sin, cos) = hue.to_radians().sin_cos();
    map_rgb(image, |rgb: &mut [u8]| {
        let [l, a, b] = to_lab([rgb[0], rgb[1], rgb[2]]);
        let (a, b) = (a * cos - b * sin, a * sin + b * cos);
        let out = from_lab([l * lightness, a * chroma, b * chroma]);
        rgb.copy_from_slice(&out);
    })
}

/// Gaussian blur with `sigma`.
pub(crate) fn blur(image: &DynamicImage, sigma: f64) -> DynamicImage {
    image.blur(sigma as f32)
}

/// Unsharp masking with `sigma` (threshold 1).
pub(crate) fn sharpen(image: &DynamicImage, sigma: f64) -> DynamicImage {
    image.unsharpen(sigma as f32, 1)
}

/// Runs `apply` on the RGB part of every pixel of an 8-bit RGB(A) copy of `image`.
fn map_rgb(image: DynamicImage, apply: impl Fn(&mut [u8])) -> DynamicImage {
    if image.color().has_alpha() {
        let mut rgba = image.into_rgba8();
        rgba.pixels_mut().for_each(|Rgba(p)| apply(&mut p[..3]));
        DynamicImage::ImageRgba8(rgba)
    } else {
        let mut rgb = image.into_rgb8();
        rgb.pixels_mut().for_each(|Rgb(p)| apply(p));
        DynamicImage::ImageRgb8(rgb)
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
    use image::{GrayImage, Luma, RgbaImage};

    #[test]
    fn linear_clamps_and_keeps_alpha() {
        let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(1, 1, Rgba([10, 200, 250, 7])));
        let out = linear(image, [1.0; 3], [20.0, 20.0, 20.0]);
        assert_eq!(out.to_rgba8().get_pixel(0, 0).0, [30, 220, 255, 7]);
        let grey = DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([100])));
        let out = linear(grey, [-1.0; 3], [255.0; 3]);
        assert_eq!(out.to_rgb8().get_pixel(0, 0).0, [155, 155, 155]);
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
        let same = modulate(image.clone(), 1.0, 1.0, 0.0);
        assert_eq!(same.to_rgb8().get_pixel(0, 0).0, [200, 30, 60]);
        let grey = modulate(image, 1.0, 0.0, 0.0);
        let [r, g, b] = grey.to_rgb8().get_pixel(0, 0).0;
        assert!(r.abs_diff(g) <= 1 && g.abs_diff(b) <= 1, "{r} {g} {b}");
    }
}
