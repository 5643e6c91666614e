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

use image::{DynamicImage, ImageBuffer, Pixel, Rgb, RgbImage, RgbaImage};

use crate::processing::cancel::Cancel;
use crate::processing::error::ProcessError;
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

/// Paints every pixel of `samples` (rows of `width` pixels) with `colour`, checking `cancel`
/// between rows.
fn paint_rows(
    samples: &mut [u8],
    width: u32,
    colour: &[u8],
    cancel: &Cancel,
) -> Result<(), ProcessError> {
    let row = (width as usize).saturating_mul(colour.len());
    if row == 0 {
        return Ok(());
    }
    let mut meter = cancel.meter();
    for line in samples.chunks_mut(row) {
        meter.tick(row)?;
        for pixel in line.chunks_exact_mut(colour.len()) {
            pixel.copy_from_slice(colour);
        }
    }
    Ok(())
}

fn rgb_canvas(
    width: u32,
    height: u32,
    colour: [u8; 3],
    cancel: &Cancel,
) -> Result<RgbImage, ProcessError> {
    let mut samples = alloc(width, height, 3)?;
    paint_rows(&mut samples, width, &colour, cancel)?;
    RgbImage::from_raw(width, height, samples).ok_or_else(|| ProcessError::image("bad canvas"))
}

fn rgba_canvas(width: u32, height: u32) -> Result<RgbaImage, ProcessError> {
    RgbaImage::from_raw(width, height, alloc(width, height, 4)?)
        .ok_or_else(|| ProcessError::image("bad canvas"))
}

/// A `width × height` image of one colour: RGB, or RGBA when the alpha is below 255.
pub(crate) fn solid(
    width: u32,
    height: u32,
    rgba: [u8; 4],
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let [r, g, b, a] = rgba;
    if a == u8::MAX {
        return rgb_canvas(width, height, [r, g, b], cancel).map(DynamicImage::ImageRgb8);
    }
    let mut samples = alloc(width, height, 4)?;
    paint_rows(&mut samples, width, &rgba, cancel)?;
    RgbaImage::from_raw(width, height, samples)
        .map(DynamicImage::ImageRgba8)
        .ok_or_else(|| ProcessError::image("bad canvas"))
}

/// The mean colour with alpha flattened onto white (`auto`).
pub(crate) fn average(image: &DynamicImage, cancel: &Cancel) -> Result<[u8; 3], ProcessError> {
    let rgba = image.to_rgba8();
    let mut sums = [0u64; 3];
    let mut meter = cancel.meter();
    let width = rgba.width() as usize;
    for row in rgba.rows() {
        meter.tick(width * 4)?;
        for pixel in row {
            let [r, g, b, a] = pixel.0.map(u64::from);
            for (sum, value) in sums.iter_mut().zip([r, g, b]) {
                *sum += (value * a + 255 * (255 - a) + 127) / 255;
            }
        }
    }
    let count = u64::from(rgba.width()) * u64::from(rgba.height());
    Ok(sums.map(|sum| u8::try_from((sum + count / 2) / count.max(1)).unwrap_or(u8::MAX)))
}

/// Flattens any alpha onto `colour`; images without alpha come back unchanged.
pub(crate) fn flatten(
    image: DynamicImage,
    colour: [u8; 3],
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    if !image.color().has_alpha() {
        return Ok(image);
    }
    let rgba = image.to_rgba8();
    let mut rgb: RgbImage = ImageBuffer::from_raw(
        rgba.width(),
        rgba.height(),
        alloc(rgba.width(), rgba.height(), 3)?,
    )
    .ok_or_else(|| ProcessError::image("bad canvas"))?;
    let mut meter = cancel.meter();
    let width = rgba.width() as usize;
    for (source, row) in rgba.rows().zip(rgb.rows_mut()) {
        meter.tick(width * 4)?;
        for (pixel, out) in source.zip(row) {
            let [r, g, b, a] = pixel.0.map(u32::from);
            let mix = |v: u32, bg: u8| {
                u8::try_from((v * a + u32::from(bg) * (255 - a) + 127) / 255).unwrap_or(u8::MAX)
            };
            *out = Rgb([mix(r, colour[0]), mix(g, colour[1]), mix(b, colour[2])]);
        }
    }
    Ok(DynamicImage::ImageRgb8(rgb))
}

/// Places `image` at `at` (x, y) on a new `size` (width × height) canvas painted with
/// `paint`; the parts outside the canvas are cut.
pub(crate) fn extend(
    image: DynamicImage,
    size: (u32, u32),
    at: (i64, i64),
    paint: Paint,
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let (width, height) = size;
    let (x, y) = at;
    match paint {
        Paint::Rgb(colour) => {
            let mut canvas = rgb_canvas(width, height, colour, cancel)?;
            let top = flatten(image, colour, cancel)?.to_rgb8();
            cancel.check()?;
            image::imageops::replace(&mut canvas, &top, x, y);
            Ok(DynamicImage::ImageRgb8(canvas))
        }
        Paint::Auto => {
            let colour = average(&image, cancel)?;
            extend(image, size, at, Paint::Rgb(colour), cancel)
        }
        Paint::Transparent => {
            let mut canvas = rgba_canvas(width, height)?;
            let top = image.to_rgba8();
            cancel.check()?;
            image::imageops::replace(&mut canvas, &top, x, y);
            Ok(DynamicImage::ImageRgba8(canvas))
        }
        Paint::Blur => {
            let stretched = super::resize::scale(&image, width, height, cancel)?;
            let blurred = super::adjust::blur(&stretched, FILL_BLUR_SIGMA, cancel)?;
            drop(stretched);
            let mut canvas = blurred.to_rgba8();
            let has_alpha = image.color().has_alpha();
            let top = image.to_rgba8();
            cancel.check()?;
            image::imageops::overlay(&mut canvas, &top, x, y);
            cancel.check()?;
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
pub(crate) fn round_corners(
    image: &DynamicImage,
    rx: f64,
    ry: f64,
    cancel: &Cancel,
) -> Result<DynamicImage, ProcessError> {
    let mut rgba = image.to_rgba8();
    let (w, h) = (f64::from(rgba.width()), f64::from(rgba.height()));
    let rx = rx.min(w / 2.0);
    let ry = ry.min(h / 2.0);
    if !(rx > 0.0 && ry > 0.0) {
        return Ok(DynamicImage::ImageRgba8(rgba));
    }
    const SAMPLES: u32 = 4;
    let step = 1.0 / f64::from(SAMPLES);
    let mut meter = cancel.meter();
    // A pixel in a corner box costs 16 samples; the others a comparison.
    let row_units = rgba.width() as usize * 4;
    for (px, py, pixel) in rgba.enumerate_pixels_mut() {
        if px == 0 {
            meter.tick(row_units)?;
        }
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
    Ok(DynamicImage::ImageRgba8(rgba))
}

/// A quarter turn counter-clockwise (`rotate(90)`), half turn, or three quarters; `None` for
/// other angles. The same pixels as `image`'s rotations, written row by row with a check of
/// `cancel` between rows.
pub(crate) fn rotate(
    image: &DynamicImage,
    degrees: i64,
    cancel: &Cancel,
) -> Result<Option<DynamicImage>, ProcessError> {
    let turn = match degrees {
        90 => Turn::Left,
        180 => Turn::Half,
        270 => Turn::Right,
        _ => return Ok(None),
    };
    let turned = match image {
        DynamicImage::ImageLuma8(buffer) => {
            DynamicImage::ImageLuma8(turn_buffer(buffer, turn, cancel)?)
        }
        DynamicImage::ImageLumaA8(buffer) => {
            DynamicImage::ImageLumaA8(turn_buffer(buffer, turn, cancel)?)
        }
        DynamicImage::ImageRgb8(buffer) => {
            DynamicImage::ImageRgb8(turn_buffer(buffer, turn, cancel)?)
        }
        DynamicImage::ImageRgba8(buffer) => {
            DynamicImage::ImageRgba8(turn_buffer(buffer, turn, cancel)?)
        }
        // Deeper samples do not reach the pipeline (sources are reduced to 8 bits on load).
        other => match turn {
            Turn::Left => other.rotate270(),
            Turn::Half => other.rotate180(),
            Turn::Right => other.rotate90(),
        },
    };
    Ok(Some(turned))
}

/// A rotation by a multiple of a quarter turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Turn {
    /// A quarter counter-clockwise.
    Left,
    /// A half turn.
    Half,
    /// A quarter clockwise.
    Right,
}

/// Rotates an 8-bit buffer by `turn`, one output row at a time.
fn turn_buffer<P>(
    image: &ImageBuffer<P, Vec<u8>>,
    turn: Turn,
    cancel: &Cancel,
) -> Result<ImageBuffer<P, Vec<u8>>, ProcessError>
where
    P: Pixel<Subpixel = u8>,
{
    let (w, h) = image.dimensions();
    let (out_w, out_h) = if turn == Turn::Half { (w, h) } else { (h, w) };
    let channels = usize::from(P::CHANNEL_COUNT);
    let mut samples = alloc(out_w, out_h, channels)?;
    let source = image.as_raw();
    let row = out_w as usize * channels;
    if row > 0 {
        let mut meter = cancel.meter();
        let (wu, hu) = (w as usize, h as usize);
        for (oy, line) in samples.chunks_exact_mut(row).enumerate() {
            // Column reads miss the cache: count four units per sample.
            meter.tick(row * 4)?;
            for (ox, pixel) in line.chunks_exact_mut(channels).enumerate() {
                let (sx, sy) = match turn {
                    Turn::Left => (wu - 1 - oy, ox),
                    Turn::Half => (wu - 1 - ox, hu - 1 - oy),
                    Turn::Right => (oy, hu - 1 - ox),
                };
                let at = (sy * wu + sx) * channels;
                if let Some(from) = source.get(at..at + channels) {
                    pixel.copy_from_slice(from);
                }
            }
        }
    }
    ImageBuffer::from_raw(out_w, out_h, samples).ok_or_else(|| ProcessError::image("bad canvas"))
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

    fn live() -> Cancel {
        Cancel::new()
    }

    fn red(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb([255, 0, 0])))
    }

    #[test]
    fn extend_places_and_paints() {
        let out =
            extend(red(2, 2), (4, 4), (1, 1), Paint::Rgb([0, 0, 255]), &live()).expect("extend");
        let rgb = out.to_rgb8();
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 255]);
        assert_eq!(rgb.get_pixel(1, 1).0, [255, 0, 0]);
        assert_eq!(rgb.get_pixel(3, 3).0, [0, 0, 255]);
        // Negative offsets and oversized images are cut, not panicking.
        let out = extend(red(10, 10), (3, 3), (-4, -4), Paint::Transparent, &live()).expect("cut");
        assert_eq!(out.to_rgba8().get_pixel(0, 0).0, [255, 0, 0, 255]);
        let out =
            extend(red(2, 2), (3, 3), (2, 2), Paint::Transparent, &live()).expect("partly outside");
        assert_eq!(alpha_of(&out, 0, 0), 0);
        assert_eq!(alpha_of(&out, 2, 2), 255);
    }

    #[test]
    fn flatten_and_average() {
        let half = DynamicImage::ImageRgba8(RgbaImage::from_pixel(2, 2, Rgba([0, 0, 0, 128])));
        assert_eq!(average(&half, &live()).expect("average"), [127, 127, 127]);
        let flat = flatten(half, [255, 255, 0], &live()).expect("flatten");
        assert_eq!(flat.to_rgb8().get_pixel(0, 0).0, [127, 127, 0]);
    }

    #[test]
    fn corners_become_transparent() {
        let out = round_corners(&red(40, 20), 10.0, 10.0, &live()).expect("corners");
        assert_eq!(alpha_of(&out, 0, 0), 0);
        assert_eq!(alpha_of(&out, 39, 19), 0);
        assert_eq!(alpha_of(&out, 20, 10), 255);
        assert_eq!(alpha_of(&out, 20, 0), 255);
    }

    #[test]
    fn rotations_are_counter_clockwise() {
        let mut image = RgbImage::new(2, 1);
        image.put_pixel(1, 0, Rgb([9, 9, 9]));
        let turned = rotate(&DynamicImage::ImageRgb8(image), 90, &live())
            .expect("turn")
            .expect("a quarter");
        assert_eq!((turned.width(), turned.height()), (1, 2));
        // The right end goes to the top.
        assert_eq!(turned.to_rgb8().get_pixel(0, 0).0, [9, 9, 9]);
        assert!(rotate(&red(1, 1), 45, &live()).expect("no turn").is_none());
    }

    #[test]
    fn turns_match_the_image_crate() {
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(7, 4, |x, y| {
            Rgba([x as u8 * 30, y as u8 * 60, (x * y) as u8, 200])
        }));
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_fn(5, 9, |x, y| {
            image::Luma([(x * 40 + y) as u8])
        }));
        for image in [rgba, grey] {
            let turn = |degrees| rotate(&image, degrees, &live()).unwrap().unwrap();
            assert!(turn(90) == image.rotate270());
            assert!(turn(180) == image.rotate180());
            assert!(turn(270) == image.rotate90());
        }
        let cancelled = Cancel::new();
        cancelled.cancel();
        let big = red(300, 300);
        assert!(matches!(
            rotate(&big, 90, &cancelled),
            Err(ProcessError::Cancelled)
        ));
        assert!(matches!(
            solid(300, 300, [1, 2, 3, 255], &cancelled),
            Err(ProcessError::Cancelled)
        ));
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
