//! `smart` crop: where to put the fill-crop window, from a saliency map in the spirit of
//! libvips' *attention* strategy.
//!
//! The (cropped) source is reduced to at most [`WORK_SIDE`] pixels on its long side. Each
//! pixel scores for three things people look at:
//!
//! * **edges**: the luminance gradient (central differences);
//! * **skin tones**: reddish, moderately saturated colours in the usual skin range;
//! * **saturation**: vivid colours that are not too dark.
//!
//! A summed-area table then gives the score of every window position; the best one wins, and
//! among equal scores the one nearest the centre, so a featureless image is cut in the
//! middle as without `smart`.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{process, Options};
//!
//! // A flat grey 300×100 image with a busy red-and-yellow patch on the right.
//! let img = image::RgbImage::from_fn(300, 100, |x, y| {
//!     if x >= 220 && (x + y) % 4 < 2 { image::Rgb([230, 30, 20]) }
//!     else if x >= 220 { image::Rgb([250, 220, 0]) }
//!     else { image::Rgb([128, 128, 128]) }
//! });
//! let mut png = Vec::new();
//! img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
//! // `/100x100/smart/...`: the window lands on the patch, not in the middle.
//! let params = Params { width: 100, height: 100, smart: true, ..Default::default() };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! let out = image::load_from_memory(output.bytes()).unwrap().to_rgb8();
//! assert_ne!(out.get_pixel(90, 50).0, [128, 128, 128]);
//! ```

use image::{DynamicImage, RgbImage};

use crate::processing::cancel::Cancel;
use crate::processing::error::ProcessError;
use crate::processing::ops::resize;
use crate::processing::plan::Plan;
use crate::processing::plan::Rect;

/// Long side of the image the saliency is measured on.
const WORK_SIDE: u32 = 160;

/// Weight of a skin-coloured pixel, relative to a full-range edge (1.0).
const SKIN_WEIGHT: f64 = 0.6;
/// Weight of a fully saturated pixel.
const SATURATION_WEIGHT: f64 = 0.4;

/// Moves the window of `plan` onto the most interesting part of `source` (the upright
/// source image the plan was made for). Plans without a window are left alone.
///
/// The work on the source is one resampling to at most 160 pixels a side (checking `cancel`
/// as [`resize`] does); the search on that small map is bounded.
pub(crate) fn place(
    source: &DynamicImage,
    plan: &mut Plan,
    cancel: &Cancel,
) -> Result<(), ProcessError> {
    let Some(window) = plan.window() else {
        return Ok(());
    };
    let (sw, sh) = plan.source_size();
    let crop = plan.crop().unwrap_or(Rect::new(0, 0, sw, sh));
    let (rw, rh) = plan.resize().unwrap_or((crop.width, crop.height));
    if rw == 0 || rh == 0 || crop.width == 0 || crop.height == 0 {
        return Ok(());
    }
    let k = (f64::from(WORK_SIDE) / f64::from(rw.max(rh))).min(1.0);
    let side = |v: u32| ((f64::from(v) * k).round() as u32).max(1);
    let (work_w, work_h) = (side(rw), side(rh));
    let small = resize::scale_area(source, crop, work_w, work_h, cancel)?;
    cancel.check()?;
    let map = saliency(&small.to_rgb8());
    let (win_w, win_h) = (
        side(window.width).min(work_w),
        side(window.height).min(work_h),
    );
    // Nothing stands out: keep the plan's centred window.
    if let Some((x, y)) = best_window(&map, work_w, work_h, win_w, win_h) {
        let back = |v: u32| (f64::from(v) / k).round() as u32;
        plan.move_window(back(x), back(y));
    }
    Ok(())
}

/// The saliency score of every pixel, row by row.
fn saliency(image: &RgbImage) -> Vec<f64> {
    let (width, height) = image.dimensions();
    let luma: Vec<f64> = image
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(f64::from);
            0.299 * r + 0.587 * g + 0.114 * b
        })
        .collect();
    let at = |x: i64, y: i64| {
        let x = x.clamp(0, i64::from(width) - 1);
        let y = y.clamp(0, i64::from(height) - 1);
        usize::try_from(y * i64::from(width) + x)
            .ok()
            .and_then(|i| luma.get(i).copied())
            .unwrap_or(0.0)
    };
    image
        .enumerate_pixels()
        .map(|(x, y, pixel)| {
            let (x, y) = (i64::from(x), i64::from(y));
            let edge =
                ((at(x + 1, y) - at(x - 1, y)).abs() + (at(x, y + 1) - at(x, y - 1)).abs()) / 510.0;
            let [r, g, b] = pixel.0;
            let max = r.max(g).max(b);
            let min = r.min(g).min(b);
            let saturation = if max >= 40 {
                f64::from(max - min) / f64::from(max)
            } else {
                0.0
            };
            let skin = r > 95
                && g > 40
                && b > 20
                && r > g
                && r > b
                && max - min > 15
                && r.abs_diff(g) > 15;
            edge + SATURATION_WEIGHT * saturation + if skin { SKIN_WEIGHT } else { 0.0 }
        })
        .collect()
}

/// Top-left corner of the `win_w × win_h` window with the highest total score; ties go to
/// the position nearest the centre. `None` when no position beats the centred one.
fn best_window(map: &[f64], width: u32, height: u32, win_w: u32, win_h: u32) -> Option<(u32, u32)> {
    let (w, h) = (width as usize, height as usize);
    // Summed-area table with a zero row and column in front.
    let stride = w + 1;
    let mut table = vec![0.0f64; stride * (h + 1)];
    for y in 0..h {
        let mut row = 0.0;
        for x in 0..w {
            row += map.get(y * w + x).copied().unwrap_or(0.0);
            table[(y + 1) * stride + x + 1] = table[y * stride + x + 1] + row;
        }
    }
    let sum = |x: usize, y: usize, ww: usize, wh: usize| {
        table[(y + wh) * stride + x + ww]
            - table[y * stride + x + ww]
            - table[(y + wh) * stride + x]
            + table[y * stride + x]
    };
    let (ww, wh) = ((win_w as usize).min(w), (win_h as usize).min(h));
    let (span_x, span_y) = (w - ww, h - wh);
    let centre = (span_x as f64 / 2.0, span_y as f64 / 2.0);
    let mut best = (f64::NEG_INFINITY, f64::INFINITY, 0usize, 0usize);
    for y in 0..=span_y {
        for x in 0..=span_x {
            let score = sum(x, y, ww, wh);
            let distance = (x as f64 - centre.0).abs() + (y as f64 - centre.1).abs();
            // Scores within a rounding error count as equal.
            let better = score > best.0 + 1e-9 || (score >= best.0 - 1e-9 && distance < best.1);
            if better {
                best = (score, distance, x, y);
            }
        }
    }
    let centred = sum(span_x / 2, span_y / 2, ww, wh);
    if best.0 <= centred + 1e-6 * centred.abs().max(1.0) {
        return None;
    }
    let narrow = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Some((narrow(best.2), narrow(best.3)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Params;
    use image::Rgb;

    fn smart_plan(image: &DynamicImage, width: i64, height: i64) -> Plan {
        let params = Params {
            width,
            height,
            smart: true,
            ..Default::default()
        };
        let mut plan = Plan::new(image.width(), image.height(), &params);
        place(image, &mut plan, &Cancel::new()).expect("smart placement");
        plan
    }

    #[test]
    fn finds_a_textured_patch_horizontally() {
        // Flat blue-grey, with a checkerboard in columns 20..60 of 400.
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(400, 100, |x, y| {
            if (20..60).contains(&x) && (x / 3 + y / 3) % 2 == 0 {
                Rgb([0, 0, 0])
            } else if (20..60).contains(&x) {
                Rgb([255, 255, 255])
            } else {
                Rgb([100, 110, 120])
            }
        }));
        let plan = smart_plan(&image, 100, 100);
        let window = plan.window().expect("a window");
        assert_eq!((window.width, window.height), (100, 100));
        // The window covers the patch (columns 20..60 of the unscaled image).
        assert!(window.left <= 20, "{window:?}");
    }

    #[test]
    fn finds_skin_tones_vertically() {
        // A tall dark-green image with a skin-coloured disc near the bottom.
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(100, 400, |x, y| {
            let (dx, dy) = (f64::from(x) - 50.0, f64::from(y) - 330.0);
            if dx * dx + dy * dy < 30.0 * 30.0 {
                Rgb([224, 172, 140])
            } else {
                Rgb([20, 60, 30])
            }
        }));
        let plan = smart_plan(&image, 100, 100);
        let window = plan.window().expect("a window");
        assert!(window.top >= 250, "{window:?}");
        assert!(window.top + window.height <= 400);
    }

    #[test]
    fn flat_images_are_cut_in_the_middle() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(300, 100, Rgb([9, 9, 9])));
        let plan = smart_plan(&image, 100, 100);
        assert_eq!(plan.window(), Some(Rect::new(100, 0, 100, 100)));
    }

    #[test]
    fn windowless_plans_are_left_alone() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(30, 10, Rgb([9, 9, 9])));
        let plan = smart_plan(&image, 0, 0);
        assert!(plan.keeps_pixels());
        assert_eq!(best_window(&[], 0, 0, 0, 0), None);
        assert_eq!(best_window(&[0.0, 0.0, 5.0], 3, 1, 1, 1), Some((2, 0)));
    }
}
