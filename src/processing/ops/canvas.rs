//! Canvas operations: extending (`fill`, `padding`), flattening (`background_color`),
//! `round_corner`, quarter turns, the `crop(...)` filter and `proportion(...)`.
//!
//! New canvases are allocated fallibly ([`alloc`]) after the caller has checked the size
//! against the [`Limits`](crate::processing::Limits), so a hostile padding cannot abort the
//! process.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(40, 20, image::Rgb([200, 30, 30]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // `/fit-in/50x50/filters:fill(white)/...`: letterboxed onto a white 50×50 canvas.
//! let params = Params {
//!     fit_in: true,
//!     width: 50,
//!     height: 50,
//!     filters: vec![Filter::new("fill", "white")],
//!     ..Default::default()
//! };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! assert_eq!((output.width(), output.height()), (50, 50));
//! let pixels = image::load_from_memory(output.bytes()).unwrap().to_rgb8();
//! assert_eq!(pixels.get_pixel(25, 2).0, [255, 255, 255]);
//! assert_eq!(pixels.get_pixel(25, 25).0, [200, 30, 30]);
//! ```

use image::{DynamicImage, ImageBuffer, Rgb, RgbImage, RgbaImage};

use crate::processing::ProcessError;
use crate::processing::paint::Paint;

/// Sigma of the blurred background of `fill(blur)`.
const FILL_BLUR_SIGMA: f64 = 50.0;

/// A zeroed sample buffer for `width × height × channels`, or an error instead of an abort.
pub(crate) fn alloc(width: u32, height: u32, channels: usize) -> Result<Vec<u8>, ProcessError> {
    let len = usize::try_from(u64::from(width) * u64::from(height))
        .ok()
        .and_then(|pixels| pixels.checked_mul(channels))
        .ok_or(ProcessError::MaxResolution)?;
    let mut samples = Vec::new();
    samples
        .try_reserve_exact(len)
        .map_err(|_| ProcessError::MaxResolution)?;
    samples.resize(len, 0);
    Ok(samples)
}

fn rgb_canvas(width: u32, height: u32, colour: [u8; 3]) -> Result<RgbImage, ProcessError> {
    let mut samples = alloc(width, height, 3)?;
    for pixel in samples.chunks_exact_mut(3) {
        pixel.copy_from_slice(&colour);
    }
    RgbImage::from_raw(width, height, samples).ok_or_else(|| ProcessError::image("bad canvas"))
}

fn rgba_canvas(width: u32, height: u32) -> Result<RgbaImage, ProcessError> {
    RgbaImage::from_raw(width, height, alloc(width, height, 4)?)
        .ok_or_else(|| ProcessError::image("bad canvas"))
}

/// A `width × height` image of one colour: RGB, or RGBA when the alpha is below 255.
pub(crate) fn solid(width: u32, height: u32, rgba: [u8; 4]) -> Result<DynamicImage, ProcessError> {
    let [r, g, b, a] = rgba;
    if a == u8::MAX {
        return rgb_canvas(width, height, [r, g, b]).map(DynamicImage::ImageRgb8);
    }
    let mut samples = alloc(width, height, 4)?;
    for pixel in samples.chunks_exact_mut(4) {
        pixel.copy_from_slice(&rgba);
    }
    RgbaImage::from_raw(width, height, samples)
        .map(DynamicImage::ImageRgba8)
        .ok_or_else(|| ProcessError::image("bad canvas"))
}

/// The mean colour with alpha flattened onto white (`auto`).
pub(crate) fn average(image: &DynamicImage) -> [u8; 3] {
    let rgba = image.to_rgba8();
    let mut sums = [0u64; 3];
    for pixel in rgba.pixels() {
        let [r, g, b, a] = pixel.0.map(u64::from);
        for (sum, value) in sums.iter_mut().zip([r, g, b]) {
            *sum += (value * a + 255 * (255 - a) + 127) / 255;
        }
    }
    let count = u64::from(rgba.width()) * u64::from(rgba.height());
    sums.map(|sum| u8::try_from((sum + count / 2) / count.max(1)).unwrap_or(u8::MAX))
}

/// Flattens any alpha onto `colour`; images without alpha come back unchanged.
pub(crate) fn flatten(image: DynamicImage, colour: [u8; 3]) -> DynamicImage {
    if !image.color().has_alpha() {
        return image;
    }
    let rgba = image.to_rgba8();
    let rgb = ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0.map(u32::from);
        let mix = |v: u32, bg: u8| {
            u8::try_from((v * a + u32::from(bg) * (255 - a) + 127) / 255).unwrap_or(u8::MAX)
        };
        Rgb([mix(r, colour[0]), mix(g, colour[1]), mix(b, colour[2])])
    });
    DynamicImage::ImageRgb8(rgb)
}

/// Places `image` at (`x`, `y`) on a new `width × height` canvas painted with `paint`;
/// the parts outside the canvas are cut.
pub(crate) fn extend(
    image: DynamicImage,
    width: u32,
    height: u32,
    x: i64,
    y: i64,
    paint: Paint,
) -> Result<DynamicImage, ProcessError> {
    match paint {
        Paint::Rgb(colour) => {
            let mut canvas = rgb_canvas(width, height, colour)?;
            let top = flatten(image, colour).to_rgb8();
            image::imageops::replace(&mut canvas, &top, x, y);
            Ok(DynamicImage::ImageRgb8(canvas))
        }
        Paint::Auto => {
            let colour = average(&image);
            extend(image, width, height, x, y, Paint::Rgb(colour))
        }
        Paint::Transparent => {
            let mut canvas = rgba_canvas(width, height)?;
            image::imageops::replace(&mut canvas, &image.to_rgba8(), x, y);
            Ok(DynamicImage::ImageRgba8(canvas))
        }
        Paint::Blur => {
            let stretched = super::resize::scale(&image, width, height)?;
            let mut canvas = super::adjust::blur(&stretched, FILL_BLUR_SIGMA).to_rgba8();
            let has_alpha = image.color().has_alpha();
            image::imageops::overlay(&mut canvas, &image.to_rgba8(), x, y);
            // The blurred copy keeps the image's alpha (imagor blurs and composites RGBA), so
            // a transparent source gives a translucent background; opaque stays RGB.
            Ok(if has_alpha {
                DynamicImage::ImageRgba8(canvas)
            } else {
                DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(canvas).to_rgb8())
            })
        }
    }
}

/// Cuts the corners with elliptical arcs of radii `rx`, `ry` (anti-aliased) to transparent.
pub(crate) fn round_corners(image: &DynamicImage, rx: f64, ry: f64) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    let (w, h) = (f64::from(rgba.width()), f64::from(rgba.height()));
    let rx = rx.min(w / 2.0);
    let ry = ry.min(h / 2.0);
    if !(rx > 0.0 && ry > 0.0) {
        return DynamicImage::ImageRgba8(rgba);
    }
    const SAMPLES: u32 = 4;
    let step = 1.0 / f64::from(SAMPLES);
    for (px, py, pixel) in rgba.enumerate_pixels_mut() {
        let (fx, fy) = (f64::from(px), f64::from(py));
        // Distance into the corner box, mirrored to the top-left corner.
        let cx = if fx + 0.5 < w / 2.0 { fx } else { w - fx - 1.0 };
        let cy = if fy + 0.5 < h / 2.0 { fy } else { h - fy - 1.0 };
        if cx >= rx || cy >= ry {
            continue;
        }
        let mut inside = 0u32;
        for sy in 0..SAMPLES {
            for sx in 0..SAMPLES {
                let dx = (cx + (f64::from(sx) + 0.5) * step - rx) / rx;
                let dy = (cy + (f64::from(sy) + 0.5) * step - ry) / ry;
                if dx >= 0.0 || dy >= 0.0 || dx * dx + dy * dy <= 1.0 {
                    inside += 1;
                }
            }
        }
        let alpha = u32::from(pixel.0[3]) * inside / (SAMPLES * SAMPLES);
        pixel.0[3] = u8::try_from(alpha).unwrap_or(u8::MAX);
    }
    DynamicImage::ImageRgba8(rgba)
}

/// A quarter turn counter-clockwise (`rotate(90)`), half turn, or three quarters.
pub(crate) fn rotate(image: &DynamicImage, degrees: i64) -> Option<DynamicImage> {
    match degrees {
        90 => Some(image.rotate270()),
        180 => Some(image.rotate180()),
        270 => Some(image.rotate90()),
        _ => None,
    }
}

/// `crop(left, top, width, height)` values: fractions strictly between 0 and 1, else pixels.
pub(crate) fn crop_filter(image: &DynamicImage, values: [f64; 4]) -> Option<DynamicImage> {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let resolve = |v: f64, side: f64| if v > 0.0 && v < 1.0 { v * side } else { v };
    let left = resolve(values[0], w).clamp(0.0, w);
    let top = resolve(values[1], h).clamp(0.0, h);
    let width = resolve(values[2], w).min(w - left);
    let height = resolve(values[3], h).min(h - top);
    // Truncate like Go's int(); the casts saturate and never panic.
    let (left, top, width, height) = (left as u32, top as u32, width as u32, height as u32);
    if width == 0 || height == 0 {
        return None;
    }
    Some(image.crop_imm(left, top, width, height))
}

/// `proportion(p)`: the scale factor, or `None` for a no-op.
pub(crate) fn proportion(p: f64) -> Option<f64> {
    if p.is_nan() || p <= 0.0 {
        return None;
    }
    let p = p.min(100.0);
    Some(if p > 1.0 { p / 100.0 } else { p })
}

/// The alpha of one pixel (for tests).
#[cfg(test)]
fn alpha_of(image: &DynamicImage, x: u32, y: u32) -> u8 {
    image.to_rgba8().get_pixel(x, y).0[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn red(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb([255, 0, 0])))
    }

    #[test]
    fn extend_places_and_paints() {
        let out = extend(red(2, 2), 4, 4, 1, 1, Paint::Rgb([0, 0, 255])).expect("extend");
        let rgb = out.to_rgb8();
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 255]);
        assert_eq!(rgb.get_pixel(1, 1).0, [255, 0, 0]);
        assert_eq!(rgb.get_pixel(3, 3).0, [0, 0, 255]);
        // Negative offsets and oversized images are cut, not panicking.
        let out = extend(red(10, 10), 3, 3, -4, -4, Paint::Transparent).expect("cut");
        assert_eq!(out.to_rgba8().get_pixel(0, 0).0, [255, 0, 0, 255]);
        let out = extend(red(2, 2), 3, 3, 2, 2, Paint::Transparent).expect("partly outside");
        assert_eq!(alpha_of(&out, 0, 0), 0);
        assert_eq!(alpha_of(&out, 2, 2), 255);
    }

    #[test]
    fn flatten_and_average() {
        let half = DynamicImage::ImageRgba8(RgbaImage::from_pixel(2, 2, Rgba([0, 0, 0, 128])));
        assert_eq!(average(&half), [127, 127, 127]);
        let flat = flatten(half, [255, 255, 0]);
        assert_eq!(flat.to_rgb8().get_pixel(0, 0).0, [127, 127, 0]);
    }

    #[test]
    fn corners_become_transparent() {
        let out = round_corners(&red(40, 20), 10.0, 10.0);
        assert_eq!(alpha_of(&out, 0, 0), 0);
        assert_eq!(alpha_of(&out, 39, 19), 0);
        assert_eq!(alpha_of(&out, 20, 10), 255);
        assert_eq!(alpha_of(&out, 20, 0), 255);
    }

    #[test]
    fn rotations_are_counter_clockwise() {
        let mut image = RgbImage::new(2, 1);
        image.put_pixel(1, 0, Rgb([9, 9, 9]));
        let turned = rotate(&DynamicImage::ImageRgb8(image), 90).expect("turn");
        assert_eq!((turned.width(), turned.height()), (1, 2));
        // The right end goes to the top.
        assert_eq!(turned.to_rgb8().get_pixel(0, 0).0, [9, 9, 9]);
        assert!(rotate(&red(1, 1), 45).is_none());
    }

    #[test]
    fn crop_filter_goldens() {
        let image = red(300, 300);
        let size = |v| crop_filter(&image, v).map(|i| (i.width(), i.height()));
        assert_eq!(size([50.0, 50.0, 200.0, 200.0]), Some((200, 200)));
        assert_eq!(size([0.1, 0.1, 0.8, 0.8]), Some((240, 240)));
        assert_eq!(size([250.0, 250.0, 200.0, 200.0]), Some((50, 50)));
        assert_eq!(size([300.0, 0.0, 10.0, 10.0]), None);
        assert_eq!(size([f64::NAN, 0.0, f64::INFINITY, -1.0]), None);
    }

    #[test]
    fn proportion_scales() {
        assert_eq!(proportion(10.0), Some(0.1));
        assert_eq!(proportion(0.1), Some(0.1));
        assert_eq!(proportion(9999.0), Some(1.0));
        assert_eq!(proportion(0.0), None);
        assert_eq!(proportion(f64::NAN), None);
    }
}
