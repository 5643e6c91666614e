//! The pipeline filters, run in URL order on the
//! canvas left by the geometry steps.
//!
//! Geometry filters (`fill`, `padding`, `rotate`, `crop`, `proportion`, `round_corner`, `trim`)
//! change the canvas for the filters after them. `fill` extends the canvas to the target box
//! of the URL plus its padding, following any quarter turns made before it. Filters that are
//! not pipeline filters (encoder settings, `focal`, service filters, unknown names) are
//! ignored here.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(40, 20, image::Rgb([0, 0, 200]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // Turn a quarter left, then add a 5-pixel border on every side.
//! let params = Params {
//!     filters: vec![Filter::new("rotate", "90"), Filter::new("padding", "red,5")],
//!     ..Default::default()
//! };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! assert_eq!((output.width(), output.height()), (30, 50));
//! ```

use image::DynamicImage;

use super::cancel::Cancel;
use super::error::ProcessError;
use super::filter::{FilterKind, FilterSpec, lookup};
use super::limits::Limits;
use super::ops::{adjust, canvas, color, overlay, text as lettering, trim};
use super::paint::{self, Paint};
use crate::path::{Filter, TrimBy};

/// The canvas and what `fill` needs to know about the geometry.
#[derive(Debug)]
pub(crate) struct Canvas<'a> {
    /// The current image.
    pub(crate) image: DynamicImage,
    /// The target box of the URL.
    pub(crate) target: (u32, u32),
    /// URL padding: left, top, right, bottom.
    pub(crate) padding: [u32; 4],
    /// An odd number of quarter turns has been made.
    pub(crate) quarter_turned: bool,
    /// Whether the source is animated (blur and sharpen are skipped then).
    pub(crate) animated: bool,
    /// Limits for new canvases.
    pub(crate) limits: &'a Limits,
    /// What `watermark` and `image` need; `None` skips them.
    pub(crate) overlay: Option<overlay::Context<'a>>,
    /// Checked before every filter and inside the heavy ones.
    pub(crate) cancel: &'a Cancel,
}

/// Runs every pipeline filter of `filters` on `canvas`, in order.
pub(crate) fn run(canvas: &mut Canvas<'_>, filters: &[Filter]) -> Result<(), ProcessError> {
    for filter in filters {
        canvas.cancel.check()?;
        // Only the registry's pipeline operations run here; every other name is read by
        // another stage or ignored.
        if let Some(spec) = lookup(&filter.name).filter(|s| s.kind() == FilterKind::Pipeline) {
            apply(canvas, spec, &filter.args)?;
        }
    }
    canvas.cancel.check()
}

fn float(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn int(text: &str) -> Option<i64> {
    text.parse::<i64>().ok()
}

/// A non-negative pixel count from an integer argument (Atoi: invalid is 0).
fn pixels(text: &str) -> u32 {
    int(text).map_or(0, |v| u32::try_from(v.max(0)).unwrap_or(u32::MAX))
}

fn take(image: &mut DynamicImage) -> DynamicImage {
    std::mem::replace(image, DynamicImage::new_luma8(0, 0))
}

/// Runs one pipeline operation, its arguments split by the registry's parser.
fn apply(canvas: &mut Canvas<'_>, spec: &FilterSpec, text: &str) -> Result<(), ProcessError> {
    let list = spec.args(text);
    let cancel = canvas.cancel;
    let image = &mut canvas.image;
    match spec.name() {
        "grayscale" => *image = color::grayscale(take(image), cancel)?,
        "watermark" => {
            if let Some(cx) = canvas.overlay {
                overlay::watermark(image, text, cx)?;
            }
        }
        "image" => {
            if let Some(cx) = canvas.overlay {
                overlay::image(image, text, cx)?;
            }
        }
        "text" => lettering::text(image, text, cancel)?,
        "label" => lettering::label(image, text, cancel)?,
        "fill" => fill(canvas, paint::paint(text))?,
        "padding" => padding(canvas, &list)?,
        "background_color" if image.color().has_alpha() && !text.is_empty() => {
            match paint::paint(text) {
                Paint::Rgb(colour) => *image = canvas::flatten(take(image), colour, cancel)?,
                Paint::Auto => {
                    let colour = canvas::average(image, cancel)?;
                    *image = canvas::flatten(take(image), colour, cancel)?;
                }
                Paint::Blur => *image = canvas::flatten(take(image), [0, 0, 0], cancel)?,
                Paint::Transparent => {}
            }
        }
        "round_corner" => {
            let Some(rx) = list.first().and_then(|v| float(v)) else {
                return Ok(());
            };
            let ry = list.get(1).and_then(|v| float(v)).unwrap_or(rx);
            let mut rounded = canvas::round_corners(image, rx, ry, cancel)?;
            if let Some(colour) = list.get(2) {
                let colour = match paint::paint(colour) {
                    Paint::Rgb(colour) => Some(colour),
                    Paint::Auto => Some(canvas::average(image, cancel)?),
                    Paint::Blur => Some([0, 0, 0]),
                    Paint::Transparent => None,
                };
                if let Some(colour) = colour {
                    rounded = canvas::flatten(rounded, colour, cancel)?;
                }
            }
            *image = rounded;
        }
        "rotate" => {
            let degrees = int(text).unwrap_or(0);
            if let Some(turned) = canvas::rotate(image, degrees, cancel)? {
                *image = turned;
                if degrees != 180 {
                    canvas.quarter_turned = !canvas.quarter_turned;
                }
            }
        }
        "crop" => {
            if let [l, t, w, h] = list.as_slice() {
                let values = [l, t, w, h].map(|v| float(v).unwrap_or(0.0));
                if let Some(cropped) = canvas::crop_filter(image, values) {
                    *image = cropped;
                }
            }
        }
        "proportion" => {
            if let Some(scale) = float(text).and_then(canvas::proportion) {
                let w = (f64::from(image.width()) * scale).floor() as u32;
                let h = (f64::from(image.height()) * scale).floor() as u32;
                if w > 0 && h > 0 && (w, h) != (image.width(), image.height()) {
                    *image = super::ops::resize::scale(image, w, h, cancel)?;
                }
            }
        }
        "brightness" => {
            if let Some(p) = float(text) {
                *image = adjust::linear(take(image), [1.0; 3], [p * 255.0 / 100.0; 3], cancel)?;
            }
        }
        "contrast" => {
            if let Some(p) = float(text) {
                let c = (p * 255.0 / 100.0).clamp(-255.0, 255.0);
                let f = 259.0 * (c + 255.0) / (255.0 * (259.0 - c));
                *image = adjust::linear(take(image), [f; 3], [128.0 - 128.0 * f; 3], cancel)?;
            }
        }
        "rgb" => {
            if let [r, g, b] = list.as_slice() {
                let offsets = [r, g, b].map(|v| float(v).unwrap_or(0.0) * 255.0 / 100.0);
                *image = adjust::linear(take(image), [1.0; 3], offsets, cancel)?;
            }
        }
        "invert" => *image = adjust::linear(take(image), [-1.0; 3], [255.0; 3], cancel)?,
        "saturation" => {
            if let Some(p) = float(text) {
                *image = adjust::modulate(take(image), 1.0, 1.0 + p / 100.0, 0.0, cancel)?;
            }
        }
        "hue" => {
            if let Some(degrees) = float(text) {
                *image = adjust::modulate(take(image), 1.0, 1.0, degrees, cancel)?;
            }
        }
        "modulate" => {
            if let [b, s, h] = list.as_slice() {
                let [b, s, h] = [b, s, h].map(|v| float(v).unwrap_or(0.0));
                let (b, s) = (1.0 + b / 100.0, 1.0 + s / 100.0);
                *image = adjust::modulate(take(image), b, s, h, cancel)?;
            }
        }
        "blur" if !canvas.animated => {
            let sigma = match list.as_slice() {
                [radius] => float(radius).map(|r| r / 2.0),
                [_, sigma] => float(sigma),
                _ => None,
            };
            if let Some(sigma) = sigma.filter(|s| *s > 0.0) {
                *image = adjust::blur(image, sigma.min(super::cost::MAX_BLUR_SIGMA), cancel)?;
            }
        }
        "pixelate" => {
            // A non-integer or non-positive block is 10, as in imagor; 1 changes nothing.
            let block = int(text).filter(|b| *b > 0).unwrap_or(10);
            if block > 1 {
                pixelate(canvas, u32::try_from(block).unwrap_or(u32::MAX))?;
            }
        }
        "trim" if !canvas.animated => {
            // imagor's order: tolerance first (default 1), then the corner.
            let tolerance = list.first().and_then(|v| int(v)).unwrap_or(0);
            let by = if list.get(1) == Some(&"bottom-right") {
                TrimBy::BottomRight
            } else {
                TrimBy::TopLeft
            };
            if let Some(rect) = trim::find(image, by, tolerance as f64, cancel)?
                && (rect.width, rect.height) != (image.width(), image.height())
            {
                *image = image.crop_imm(rect.left, rect.top, rect.width, rect.height);
            }
        }
        "sharpen" if !canvas.animated => {
            let amount = match list.as_slice() {
                [] => Some(0.0),
                [amount] => float(amount),
                [_, radius] | [_, radius, _] => float(radius),
                _ => None,
            };
            let sigma = 1.0 + 2.0 * amount.unwrap_or(0.0);
            if sigma > 0.0 {
                *image = adjust::sharpen(image, sigma.min(super::cost::MAX_SHARPEN_SIGMA), cancel)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `fill(paint)`: the target box plus the URL padding, the image centred in the box.
fn fill(canvas: &mut Canvas<'_>, paint: Paint) -> Result<(), ProcessError> {
    let (mut w, mut h) = canvas.target;
    let [mut left, mut top, mut right, mut bottom] = canvas.padding;
    if canvas.quarter_turned {
        std::mem::swap(&mut w, &mut h);
        std::mem::swap(&mut left, &mut top);
        std::mem::swap(&mut right, &mut bottom);
    }
    let x = (i64::from(w) - i64::from(canvas.image.width())) / 2 + i64::from(left);
    let y = (i64::from(h) - i64::from(canvas.image.height())) / 2 + i64::from(top);
    let width = side([w, left, right])?;
    let height = side([h, top, bottom])?;
    canvas.limits.check(width, height)?;
    let paint = blur_or_black(paint, canvas.animated);
    let cancel = canvas.cancel;
    canvas.image = canvas::extend(
        take(&mut canvas.image),
        (width, height),
        (x, y),
        paint,
        cancel,
    )?;
    Ok(())
}

/// `padding(paint, left[, top[, right, bottom]])` around the current canvas.
fn padding(canvas: &mut Canvas<'_>, list: &[&str]) -> Result<(), ProcessError> {
    let (paint, left, top, right, bottom) = match list {
        [] | [_] => return Ok(()),
        [c, l] => (c, pixels(l), pixels(l), pixels(l), pixels(l)),
        [c, l, t] | [c, l, t, _] => (c, pixels(l), pixels(t), pixels(l), pixels(t)),
        [c, l, t, r, b, ..] => (c, pixels(l), pixels(t), pixels(r), pixels(b)),
    };
    let width = side([canvas.image.width(), left, right])?;
    let height = side([canvas.image.height(), top, bottom])?;
    canvas.limits.check(width, height)?;
    let paint = blur_or_black(paint::paint(paint), canvas.animated);
    let at = (i64::from(left), i64::from(top));
    let cancel = canvas.cancel;
    canvas.image = canvas::extend(take(&mut canvas.image), (width, height), at, paint, cancel)?;
    Ok(())
}

/// `pixelate(block)`: box-average down by `block`, then blow each pixel up to a
/// `block × block` square; each side becomes round(side / block) × block.
fn pixelate(canvas: &mut Canvas<'_>, block: u32) -> Result<(), ProcessError> {
    let cells = |side: u32| {
        let side = u64::from(side);
        let block = u64::from(block);
        ((side + block / 2) / block).max(1)
    };
    let (cols, rows) = (cells(canvas.image.width()), cells(canvas.image.height()));
    let too_big = || ProcessError::MaxResolution;
    let width = u32::try_from(cols * u64::from(block)).map_err(|_| too_big())?;
    let height = u32::try_from(rows * u64::from(block)).map_err(|_| too_big())?;
    canvas.limits.check(width, height)?;
    let cols = u32::try_from(cols).map_err(|_| too_big())?;
    let rows = u32::try_from(rows).map_err(|_| too_big())?;
    let small = super::ops::resize::box_shrink(&canvas.image, cols, rows, canvas.cancel)?;
    canvas.cancel.check()?;
    canvas.image = super::ops::resize::blow_up(&small, block, canvas.cancel)?;
    Ok(())
}

/// `blur` is not a colour on animated images: black.
fn blur_or_black(paint: Paint, animated: bool) -> Paint {
    if animated && paint == Paint::Blur {
        Paint::Rgb([0, 0, 0])
    } else {
        paint
    }
}

/// Sum of side parts, at least 1; an overflow is a resolution error.
fn side(parts: [u32; 3]) -> Result<u32, ProcessError> {
    let total: u64 = parts.iter().map(|&v| u64::from(v)).sum();
    u32::try_from(total.max(1)).map_err(|_| ProcessError::MaxResolution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn canvas(limits: &Limits, w: u32, h: u32) -> Canvas<'_> {
        Canvas {
            image: DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb([9, 9, 9]))),
            target: (w, h),
            padding: [0; 4],
            quarter_turned: false,
            animated: false,
            limits,
            overlay: None,
            cancel: &LIVE,
        }
    }

    /// A token nobody cancels.
    static LIVE: std::sync::LazyLock<Cancel> = std::sync::LazyLock::new(Cancel::new);

    fn run_filters(canvas: &mut Canvas<'_>, filters: &[(&str, &str)]) {
        let filters: Vec<Filter> = filters.iter().map(|(n, a)| Filter::new(*n, *a)).collect();
        run(canvas, &filters).expect("pipeline");
    }

    #[test]
    fn fill_follows_quarter_turns() {
        // golden: fit-in/100x210/10x20:15x3 + rotate(90):fill(yellow) on the gopher → 233×125.
        let limits = Limits::default();
        let mut c = canvas(&limits, 98, 125);
        c.target = (100, 210);
        c.padding = [10, 20, 15, 3];
        run_filters(&mut c, &[("rotate", "90"), ("fill", "yellow")]);
        assert_eq!((c.image.width(), c.image.height()), (233, 125));
    }

    #[test]
    fn padding_argument_forms() {
        let limits = Limits::default();
        for (args, size) in [
            ("white,10", (40, 40)),
            ("white,10,5", (40, 30)),
            ("white,10,5,7", (40, 30)),
            ("white,10,20,30,40", (60, 80)),
            ("white", (20, 20)),
            ("", (20, 20)),
        ] {
            let mut c = canvas(&limits, 20, 20);
            run_filters(&mut c, &[("padding", args)]);
            assert_eq!((c.image.width(), c.image.height()), size, "{args}");
        }
    }

    #[test]
    fn huge_padding_is_refused_not_allocated() {
        let limits = Limits::default();
        let mut c = canvas(&limits, 2, 2);
        let filters = [Filter::new("padding", "red,4000000000")];
        assert!(matches!(
            run(&mut c, &filters),
            Err(ProcessError::MaxResolution)
        ));
        c.padding = [u32::MAX; 4];
        assert!(matches!(
            run(&mut c, &[Filter::new("fill", "red")]),
            Err(ProcessError::MaxResolution)
        ));
    }

    #[test]
    fn colour_filters_run_and_no_ops_do_nothing() {
        let limits = Limits::default();
        let mut c = canvas(&limits, 4, 4);
        run_filters(
            &mut c,
            &[
                ("brightness", ""),
                ("rgb", "1,2"),
                ("blur", "1,2,3"),
                ("sharpen", "-1"),
                ("rotate", "45"),
                ("crop", "1,2,3"),
                ("proportion", "0"),
                ("round_corner", ""),
            ],
        );
        assert_eq!(c.image.to_rgb8().get_pixel(0, 0).0, [9, 9, 9]);
        run_filters(&mut c, &[("invert", ""), ("rgb", "10,0,-100")]);
        assert_eq!(c.image.to_rgb8().get_pixel(0, 0).0, [255, 246, 0]);
        run_filters(&mut c, &[("proportion", "50")]);
        assert_eq!((c.image.width(), c.image.height()), (2, 2));
    }

    #[test]
    fn pixelate_makes_blocks_and_rounds_the_size() {
        let limits = Limits::default();
        // golden: pixelate() on the 202×259 gopher → 200×260.
        let mut c = canvas(&limits, 202, 259);
        run_filters(&mut c, &[("pixelate", "")]);
        assert_eq!((c.image.width(), c.image.height()), (200, 260));
        let mut c = canvas(&limits, 4, 2);
        c.image = DynamicImage::ImageRgb8(RgbImage::from_fn(4, 2, |x, _| {
            if x < 2 {
                Rgb([0, 0, 0])
            } else {
                Rgb([200, 100, 50])
            }
        }));
        run_filters(&mut c, &[("pixelate", "2")]);
        let rgb = c.image.to_rgb8();
        assert_eq!((rgb.width(), rgb.height()), (4, 2));
        assert_eq!(rgb.get_pixel(0, 1).0, [0, 0, 0]);
        assert_eq!(rgb.get_pixel(3, 0).0, [200, 100, 50]);
        // Block 1 and tiny images: no change, or one block.
        let mut c = canvas(&limits, 3, 3);
        run_filters(&mut c, &[("pixelate", "1")]);
        assert_eq!(c.image.width(), 3);
        run_filters(&mut c, &[("pixelate", "x")]);
        assert_eq!((c.image.width(), c.image.height()), (10, 10));
        assert!(matches!(
            run(&mut c, &[Filter::new("pixelate", "4000000000")]),
            Err(ProcessError::MaxResolution)
        ));
    }

    #[test]
    fn trim_filter_reads_tolerance_then_corner() {
        let limits = Limits::default();
        let mut c = canvas(&limits, 30, 20);
        // White frame, a grey block with a darker block at the bottom-right corner.
        c.image = DynamicImage::ImageRgb8(RgbImage::from_fn(30, 20, |x, y| {
            if x >= 25 && y >= 15 {
                Rgb([0, 0, 0])
            } else if (5..25).contains(&x) && (3..15).contains(&y) {
                Rgb([200, 200, 200])
            } else {
                Rgb([255, 255, 255])
            }
        }));
        let mut tolerant = Canvas {
            image: c.image.clone(),
            ..canvas(&limits, 1, 1)
        };
        run_filters(&mut c, &[("trim", "")]);
        assert_eq!((c.image.width(), c.image.height()), (25, 17));
        // Tolerance 60 also swallows the grey block; only the black corner is left.
        run_filters(&mut tolerant, &[("trim", "60")]);
        assert_eq!((tolerant.image.width(), tolerant.image.height()), (5, 5));
        let mut animated = canvas(&limits, 8, 8);
        animated.animated = true;
        run_filters(&mut animated, &[("trim", "1,bottom-right")]);
        assert_eq!(animated.image.width(), 8);
    }
}
