//! `trim`: the box inside a uniform border, measured as libvips' `find_trim` does
//! (for the `trim` URL segment and the `trim(tolerance, corner)` filter).
//!
//! The reference colour is the top-left or bottom-right pixel of a copy of the image with any
//! alpha flattened onto magenta, so transparent borders are trimmable. The copy is smoothed
//! with a 3×3 median (edges repeated); a pixel is content when one of its channels differs
//! from the reference by more than the tolerance. The result is the bounding box of the
//! content, or `None` when everything is border.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{process, Options};
//!
//! // A 60×40 white image with a 20×10 black block at (10, 5).
//! let img = image::RgbImage::from_fn(60, 40, |x, y| {
//!     let inside = (10..30).contains(&x) && (5..15).contains(&y);
//!     image::Rgb(if inside { [0, 0, 0] } else { [255, 255, 255] })
//! });
//! let mut png = Vec::new();
//! img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
//! // `/trim/...`: only the block is left.
//! let params = Params { trim: true, ..Default::default() };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! assert_eq!((output.width(), output.height()), (20, 10));
//! ```

use image::{DynamicImage, RgbImage};

use crate::path::TrimBy;
use crate::processing::cancel::Cancel;
use crate::processing::error::ProcessError;
use crate::processing::ops::canvas;
use crate::processing::plan::Rect;

/// Magenta: the colour alpha is flattened onto before measuring.
const MAGENTA: [u8; 3] = [255, 0, 255];

/// The box of `image` that is not border, judged from the corner `by` with `tolerance`
/// (0 or less means 1). `None` when the whole image is border or empty. Checks `cancel`
/// between rows.
pub(crate) fn find(
    image: &DynamicImage,
    by: TrimBy,
    tolerance: f64,
    cancel: &Cancel,
) -> Result<Option<Rect>, ProcessError> {
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Ok(None);
    }
    let rgb = if image.color().has_alpha() {
        canvas::flatten(image.clone(), MAGENTA, cancel)?.into_rgb8()
    } else {
        image.to_rgb8()
    };
    let (x, y) = match by {
        TrimBy::BottomRight => (width - 1, height - 1),
        _ => (0, 0),
    };
    let reference = rgb.get_pixel(x, y).0;
    let tolerance = if tolerance > 0.0 { tolerance } else { 1.0 };
    let smooth = median3(&rgb, cancel)?;

    let (mut left, mut top, mut right, mut bottom) = (u32::MAX, u32::MAX, 0u32, 0u32);
    let mut meter = cancel.meter();
    for (px, py, pixel) in smooth.enumerate_pixels() {
        if px == 0 {
            meter.tick(width as usize * 3)?;
        }
        let differs = pixel
            .0
            .iter()
            .zip(reference)
            .any(|(&v, r)| f64::from(v.abs_diff(r)) > tolerance);
        if differs {
            left = left.min(px);
            top = top.min(py);
            right = right.max(px);
            bottom = bottom.max(py);
        }
    }
    Ok((left <= right && top <= bottom)
        .then(|| Rect::new(left, top, right - left + 1, bottom - top + 1)))
}

/// Work units of one median pixel (27 reads and three sorts of nine).
const MEDIAN_UNITS: usize = 64;

/// 3×3 median per channel, repeating the edge pixels. Checks `cancel` between rows.
fn median3(image: &RgbImage, cancel: &Cancel) -> Result<RgbImage, ProcessError> {
    let (width, height) = image.dimensions();
    let clamp = |v: i64, max: u32| u32::try_from(v.max(0)).unwrap_or(0).min(max - 1);
    let mut out = RgbImage::from_raw(width, height, canvas::alloc(width, height, 3)?)
        .ok_or_else(|| ProcessError::image("bad canvas"))?;
    let mut meter = cancel.meter();
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        if x == 0 {
            meter.tick(width as usize * MEDIAN_UNITS)?;
        }
        *pixel = median_at(image, x, y, clamp);
    }
    Ok(out)
}

/// The 3×3 median of every channel around (`x`, `y`), `clamp` keeping taps inside.
fn median_at(image: &RgbImage, x: u32, y: u32, clamp: impl Fn(i64, u32) -> u32) -> image::Rgb<u8> {
    let (width, height) = image.dimensions();
    let mut out = [0u8; 3];
    for (channel, slot) in out.iter_mut().enumerate() {
        let mut window = [0u8; 9];
        let mut i = 0;
        for dy in -1..=1 {
            for dx in -1..=1 {
                let sx = clamp(i64::from(x) + dx, width);
                let sy = clamp(i64::from(y) + dy, height);
                window[i] = image.get_pixel(sx, sy).0[channel];
                i += 1;
            }
        }
        window.sort_unstable();
        *slot = window[4];
    }
    image::Rgb(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, Rgba, RgbaImage};

    /// 40×30 of `border` with a 10×6 block of `inside` at (12, 8).
    fn framed(border: [u8; 3], inside: [u8; 3]) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(40, 30, |x, y| {
            if (12..22).contains(&x) && (8..14).contains(&y) {
                Rgb(inside)
            } else {
                Rgb(border)
            }
        }))
    }

    #[test]
    fn finds_the_block_from_either_corner() {
        let image = framed([250, 250, 250], [10, 20, 30]);
        let expected = Some(Rect::new(12, 8, 10, 6));
        assert_eq!(
            find(&image, TrimBy::TopLeft, 0.0, &Cancel::new()).expect("trim"),
            expected
        );
        assert_eq!(
            find(&image, TrimBy::BottomRight, 1.0, &Cancel::new()).expect("trim"),
            expected
        );
    }

    #[test]
    fn tolerance_swallows_near_colours() {
        let image = framed([200, 200, 200], [210, 195, 200]);
        assert_eq!(
            find(&image, TrimBy::TopLeft, 5.0, &Cancel::new()).expect("trim"),
            Some(Rect::new(12, 8, 10, 6))
        );
        assert_eq!(
            find(&image, TrimBy::TopLeft, 10.0, &Cancel::new()).expect("trim"),
            None
        );
    }

    #[test]
    fn single_pixel_noise_is_smoothed_away() {
        let mut rgb = framed([255, 255, 255], [0, 0, 0]).into_rgb8();
        rgb.put_pixel(35, 25, Rgb([0, 0, 0]));
        let image = DynamicImage::ImageRgb8(rgb);
        assert_eq!(
            find(&image, TrimBy::TopLeft, 1.0, &Cancel::new()).expect("trim"),
            Some(Rect::new(12, 8, 10, 6))
        );
    }

    #[test]
    fn transparent_borders_are_trimmed() {
        let image = DynamicImage::ImageRgba8(RgbaImage::from_fn(20, 20, |x, y| {
            if (5..15).contains(&x) && (2..8).contains(&y) {
                Rgba([0, 128, 0, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        }));
        assert_eq!(
            find(&image, TrimBy::TopLeft, 1.0, &Cancel::new()).expect("trim"),
            Some(Rect::new(5, 2, 10, 6))
        );
    }

    #[test]
    fn uniform_and_empty_images_have_nothing_to_keep() {
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(9, 9, Rgb([1, 2, 3])));
        assert_eq!(
            find(&flat, TrimBy::BottomRight, 1.0, &Cancel::new()).expect("trim"),
            None
        );
        let empty = DynamicImage::new_rgb8(0, 0);
        assert_eq!(
            find(&empty, TrimBy::TopLeft, 1.0, &Cancel::new()).expect("trim"),
            None
        );
        let one = DynamicImage::new_rgb8(1, 1);
        assert_eq!(
            find(&one, TrimBy::TopLeft, f64::NAN, &Cancel::new()).expect("trim"),
            None
        );
    }
}
