//! What a request will cost, worked out from the headers before any pixel is decoded.
//!
//! [`estimate`] (and [`estimate_color`] for `color:` sources) reads the source's header (size,
//! frames kept, format), the geometry of the URL and its filter list, and answers an
//! [`Estimate`]:
//!
//! * [`Estimate::work`]: the pixel work, in rough nanoseconds of one core: every pixel of
//!   every stage (decode, resample, each pipeline filter, overlays, encode) times a weight for
//!   the stage, for every frame of an animation. `blur` and `sharpen` weigh their mask width.
//!   The weights only need to be right within a small factor; they stop requests that would
//!   run for minutes, not ordinary ones. [`process`](super::process) refuses a request whose
//!   work is over [`Options::work_budget`](super::Options::work_budget) with
//!   [`ProcessError::TooExpensive`] (422) before decoding anything.
//! * [`Estimate::peak_bytes`]: a conservative upper bound of the bytes the request holds at
//!   once: the encoded source and overlays, the decoded frames (after shrink-on-load), the
//!   resampler's buffers, the temporaries of the costliest filter (a `sharpen` holds about
//!   50 bytes per pixel), and the encoder's buffers. A server can admit requests against a
//!   memory budget with it before loading their pixels.
//!
//! Reading headers takes microseconds; only an SVG's root element is read, not the whole
//! document.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{self, Filter, Params};
//! use imagor_tower::processing::{estimate, estimate_color, Options, ProcessError, process_color};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::new(2000, 1500)
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! let options = Options::default();
//! let plain = path::parse("unsafe/fit-in/400x300/photo.png");
//! let sharp = path::parse("unsafe/fit-in/400x300/filters:sharpen(2,3)/photo.png");
//! let a = estimate(&png, &plain, &options).unwrap();
//! let b = estimate(&png, &sharp, &options).unwrap();
//! // The sharpen adds work; its buffers, on the 400×300 output, are smaller than the
//! // decoded source, so the peak stays that of decoding and resizing.
//! assert!(b.work() > a.work() && b.peak_bytes() >= a.peak_bytes());
//! // The decoded 2000×1500 source alone is 12 MB at 4 bytes per pixel.
//! assert!(a.peak_bytes() >= 2000 * 1500 * 4);
//!
//! // A 9999×8100 canvas blurred five times is over the default work budget, and refused
//! // before a pixel is drawn.
//! let heavy = path::parse(
//!     "unsafe/9999x8100/filters:blur(0,50):blur(0,50):blur(0,50):blur(0,50):blur(0,50)/color:red",
//! );
//! assert!(estimate_color(&heavy, &options).unwrap().work() > Options::DEFAULT_WORK_BUDGET);
//! let err = process_color(&heavy, &options).unwrap_err();
//! assert!(matches!(err, ProcessError::TooExpensive));
//! ```

use std::io::Cursor;

use super::error::ProcessError;
use super::filter::{FilterSpec, OutputRequest, Settings, Weight, lookup};
use super::format::Format;
use super::options::Options;
use super::plan::Plan;
use super::{avif, paint, svg};
use crate::path::Params;

/// The largest blur sigma drawn (`blur(radius)` is sigma radius / 2, so radius 100); larger
/// ones are lowered to it. Each pass of a blur costs its mask width (about 3.6 sigma taps) per
/// sample.
pub const MAX_BLUR_SIGMA: f64 = 50.0;
/// The largest sharpen sigma drawn (`sharpen(amount, radius)`: sigma 1 + 2 × radius, so
/// radius 24.5); larger ones are lowered to it.
pub const MAX_SHARPEN_SIGMA: f64 = 50.0;

/// What a request will cost (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    peak_bytes: u64,
    work: u64,
}

impl Estimate {
    /// A conservative upper bound of the bytes the request holds at once.
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }

    /// The pixel work, in rough nanoseconds of one core; the number the work budget checks.
    pub fn work(&self) -> u64 {
        self.work
    }
}

/// Estimates processing `input` with `params` (see the [module docs](self)), from headers
/// only.
///
/// # Errors
///
/// [`ProcessError::UnsupportedFormat`] for a source or output format that cannot be handled,
/// [`ProcessError::Image`] for a header that cannot be read.
pub fn estimate(
    input: &[u8],
    params: &Params,
    options: &Options,
) -> Result<Estimate, ProcessError> {
    let params = &*options.policy.apply(params);
    let settings = Settings::from_filters(&params.filters);
    let source = Source::read(input, &settings, options)?;
    // As when processing, an output over the limits is refused as such, not as too costly.
    let (width, height) = source.size;
    let (out_width, out_height) =
        Plan::with_settings(width, height, params, &settings).output_size();
    options.limits.check(out_width, out_height)?;
    Ok(measure(&source, params, &settings, options, input.len()))
}

/// Estimates a `color:<c>` source (see [`process_color`](super::process_color)).
///
/// # Errors
///
/// [`ProcessError::InvalidColor`] when the key names no colour, and
/// [`ProcessError::UnsupportedFormat`] for an output format that cannot be written.
pub fn estimate_color(params: &Params, options: &Options) -> Result<Estimate, ProcessError> {
    let params = &*options.policy.apply(params);
    let settings = Settings::from_filters(&params.filters);
    if paint::source_color(&params.image).is_none() {
        return Err(ProcessError::InvalidColor);
    }
    let (width, height) = super::paint::color_canvas_size(params, &options.limits)?;
    let source = Source {
        format: Format::Jpeg,
        size: (width, height),
        decoded: (width, height),
        frames: 1,
        decode_weight: SOLID_WORK,
        color: true,
    };
    Ok(measure(&source, params, &settings, options, 0))
}

/// Refuses `estimate` when its work is over the budget of `options`.
pub(crate) fn check(estimate: &Estimate, options: &Options) -> Result<(), ProcessError> {
    if estimate.work > options.work_budget {
        Err(ProcessError::TooExpensive)
    } else {
        Ok(())
    }
}

/// Work per pixel of painting a solid canvas.
const SOLID_WORK: u64 = 1;
/// Work per pixel of decoding a raster format.
const DECODE_WORK: u64 = 16;
/// Work per pixel of drawing an SVG (the drawing itself is bounded by the SVG module).
const SVG_WORK: u64 = 16;
/// Work per pixel (source and output) of resampling.
const RESIZE_WORK: u64 = 8;
/// Work per pixel of a simple per-pixel filter (copies, linear colour maps, flips).
const PIXEL_WORK: u64 = 4;
/// Work per pixel of a filter through CIE Lab (`saturation`, `hue`, `modulate`).
const LAB_WORK: u64 = 60;
/// Work per pixel of compositing an overlay.
const COMPOSITE_WORK: u64 = 24;
/// The most bytes an SVG raster may take whatever the limits (as the SVG module: 4 GiB).
const SVG_MAX_BYTES: u64 = 1 << 32;
/// Bytes per pixel of a canvas (RGBA at most).
const PIXEL_BYTES: u64 = 4;
/// Bytes per pixel `sharpen` holds besides its input: RGBA, Lab as f64, two planes of i64
/// lightness, and the output.
const SHARPEN_BYTES: u64 = 4 + 24 + 8 + 8 + 4;

/// What the header says about a source.
#[derive(Debug)]
struct Source {
    format: Format,
    /// The upright size in pixels at full scale.
    size: (u32, u32),
    /// The size decoded (after shrink-on-load, or an SVG's scale).
    decoded: (u32, u32),
    /// Frames kept (1 for a still output).
    frames: u64,
    decode_weight: u64,
    /// A `color:` canvas, which has no resize step.
    color: bool,
}

impl Source {
    fn read(input: &[u8], settings: &Settings, options: &Options) -> Result<Self, ProcessError> {
        let format = Format::sniff(input).ok_or(ProcessError::UnsupportedFormat)?;
        let limits = &options.limits;
        let size = match format {
            Format::Svg => svg_size(input),
            // Every conforming AVIF gives its size (`ispe`); one that does not is broken, and
            // the decoder would refuse it as such.
            Format::Avif => avif::header_size(input)
                .ok_or_else(|| ProcessError::image("avif: the container gives no image size"))?,
            _ => image::ImageReader::with_format(Cursor::new(input), format.image_format())
                .into_dimensions()
                .map_err(ProcessError::from_decode)?,
        };
        // The limits come first, as when decoding, so that an oversized source answers
        // `MaxResolution` rather than the budget (either orientation may be the upright one).
        limits
            .check(size.0, size.1)
            .or_else(|_| limits.check(size.1, size.0))?;
        if format == Format::Svg {
            let memory = limits
                .max_alloc
                .map_or(SVG_MAX_BYTES, |max| max.min(SVG_MAX_BYTES));
            if area(size).saturating_mul(PIXEL_BYTES) > memory {
                return Err(ProcessError::MaxResolution);
            }
        }
        let size = match settings.orient {
            Some(90 | 270) => (size.1, size.0),
            _ => size,
        };
        let animated_output = match settings.output {
            OutputRequest::Format(format) => matches!(format, Format::Gif | Format::Webp),
            _ => true,
        };
        let frames = if animated_output && settings.page.is_none() {
            let total = match format {
                Format::Gif => gif_frames(input),
                Format::Webp => image_webp::WebPDecoder::new(Cursor::new(input))
                    .map_or(1, |decoder| u64::from(decoder.num_frames().max(1))),
                _ => 1,
            };
            settings
                .max_frames
                .map_or(total, |max| total.min(u64::from(max)))
                .max(1)
        } else {
            1
        };
        if frames > 1 {
            let kept = u32::try_from(frames).unwrap_or(u32::MAX);
            limits.check(size.0, size.1.saturating_mul(kept))?;
        }
        let decode_weight = if format == Format::Svg {
            SVG_WORK
        } else {
            DECODE_WORK
        };
        Ok(Self {
            format,
            size,
            decoded: size,
            frames,
            decode_weight,
            color: false,
        })
    }
}

/// Frames of a GIF, counted by walking its blocks without decompressing any (at least 1).
fn gif_frames(input: &[u8]) -> u64 {
    // Header (6), logical screen descriptor (7), then the global colour table.
    let Some(&flags) = input.get(10) else {
        return 1;
    };
    let mut at = 13usize;
    if flags & 0x80 != 0 {
        at = at.saturating_add(3 << ((flags & 7) + 1));
    }
    let skip_sub_blocks = |mut at: usize| {
        while let Some(&len) = input.get(at) {
            at = at.saturating_add(1);
            if len == 0 {
                return Some(at);
            }
            at = at.saturating_add(usize::from(len));
        }
        None
    };
    let mut frames = 0u64;
    while let Some(&kind) = input.get(at) {
        match kind {
            0x2C => {
                frames += 1;
                let Some(&local) = input.get(at + 9) else {
                    break;
                };
                at = at.saturating_add(10);
                if local & 0x80 != 0 {
                    at = at.saturating_add(3 << ((local & 7) + 1));
                }
                // The LZW minimum code size, then the data sub-blocks.
                match skip_sub_blocks(at.saturating_add(1)) {
                    Some(next) => at = next,
                    None => break,
                }
            }
            0x21 => match skip_sub_blocks(at.saturating_add(2)) {
                Some(next) => at = next,
                None => break,
            },
            _ => break,
        }
    }
    frames.max(1)
}

/// An SVG's own size from its root element's `width`, `height` and `viewBox`, as usvg
/// reads them (100 × 100 when neither is given); read from the text of the root tag only.
fn svg_size(input: &[u8]) -> (u32, u32) {
    let text = String::from_utf8_lossy(&input[..input.len().min(64 * 1024)]);
    let Some(start) = text.find("<svg") else {
        return (100, 100);
    };
    let tag = &text[start..];
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let attribute = |name: &str| {
        let mut rest = tag;
        while let Some(found) = rest.find(name) {
            let before = rest[..found].chars().last();
            let after = rest[found + name.len()..].trim_start();
            rest = &rest[found + name.len()..];
            if before.is_some_and(char::is_whitespace)
                && let Some(value) = after.strip_prefix('=')
            {
                let value = value.trim_start();
                let quote = value.chars().next()?;
                let value = value.get(1..)?;
                return value.split(quote).next();
            }
        }
        None
    };
    let view_box: Option<Vec<f64>> = attribute("viewBox").map(|v| {
        v.split([' ', ','])
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect()
    });
    let (box_w, box_h) = match view_box.as_deref() {
        Some([_, _, w, h]) => (Some(*w), Some(*h)),
        _ => (None, None),
    };
    let length = |value: Option<&str>, from_box: Option<f64>| {
        let parsed = value.and_then(|v| {
            let v = v.trim();
            let split = v
                .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
                .unwrap_or(v.len());
            let number: f64 = v[..split].parse().ok()?;
            let per_unit = match v[split..].trim() {
                "" | "px" => 1.0,
                "in" => 96.0,
                "cm" => 96.0 / 2.54,
                "mm" => 96.0 / 25.4,
                "pt" => 4.0 / 3.0,
                "pc" => 16.0,
                "em" | "ex" => 16.0,
                _ => return None,
            };
            Some(number * per_unit)
        });
        parsed.or(from_box).unwrap_or(100.0)
    };
    let width = length(attribute("width"), box_w);
    let height = length(attribute("height"), box_h);
    // Saturating casts; NaN and negatives become 0, then 1.
    ((width.ceil() as u32).max(1), (height.ceil() as u32).max(1))
}

fn area((width, height): (u32, u32)) -> u64 {
    u64::from(width) * u64::from(height)
}

/// The mask width of libvips' Gaussian for `sigma` (about 3.6 sigma taps, at least 1).
fn mask_taps(sigma: f64) -> u64 {
    if !(sigma.is_finite() && sigma > 0.0) {
        return 1;
    }
    // Coefficients at or above 0.2 of the centre: |x| < sigma × sqrt(2 ln 5).
    (2.0 * sigma * 1.794_f64).ceil().max(1.0) as u64
}

/// Walks the plan and the filters of `params` over `source` (see the [module docs](self)).
fn measure(
    source: &Source,
    params: &Params,
    settings: &Settings,
    options: &Options,
    encoded: usize,
) -> Estimate {
    let mut cost = Cost::default();
    let frames = source.frames;
    let (width, height) = source.size;
    let plan = Plan::with_settings(width, height, params, settings);
    let mut decoded = source.decoded;
    if !source.color {
        let shrink = plan.shrink_factor(params);
        match source.format {
            Format::Jpeg if shrink > 1 => {
                decoded = (width.div_ceil(shrink), height.div_ceil(shrink));
            }
            Format::Svg => match svg::scale_for(&plan, params) {
                svg::Scale::Reduce(factor) => {
                    let factor = factor.max(1);
                    decoded = (width.div_ceil(factor), height.div_ceil(factor));
                }
                svg::Scale::Enlarge(factor) => {
                    decoded = (width.saturating_mul(factor), height.saturating_mul(factor));
                }
            },
            _ => {}
        }
    }
    let decoded_px = area(decoded);
    // The decoder's canvas and frame buffer, and every frame kept.
    let held = decoded_px
        .saturating_mul(PIXEL_BYTES)
        .saturating_mul(if frames > 1 { frames + 2 } else { 1 });
    cost.base = u64::try_from(encoded).unwrap_or(u64::MAX);
    cost.stage(held);
    cost.work(decoded_px.saturating_mul(frames), source.decode_weight);
    if !source.color && (params.trim || params.smart) {
        cost.work(decoded_px, RESIZE_WORK);
    }

    // Resampling: the output and, for a two-pass resize, a buffer of the output width by
    // the source height.
    let output = if source.color {
        decoded
    } else {
        plan.output_size()
    };
    let output_px = area(output);
    let resampled = if source.color {
        0
    } else {
        cost.work(
            decoded_px.saturating_add(output_px).saturating_mul(frames),
            RESIZE_WORK,
        );
        area((output.0, decoded.1.max(output.1))).saturating_mul(PIXEL_BYTES)
    };
    let frames_out = output_px.saturating_mul(PIXEL_BYTES).saturating_mul(frames);
    cost.stage(held.saturating_add(resampled).saturating_add(frames_out));

    // The pipeline, frame by frame; the canvas size follows `fill` and `padding`.
    let mut canvas = output;
    let (target_w, target_h) = plan.target_size();
    for filter in &params.filters {
        let args: Vec<&str> = filter.args.split(',').collect();
        let number = |i: usize| args.get(i).and_then(|v| v.trim().parse::<f64>().ok());
        let before = area(canvas);
        let weight = lookup(&filter.name).map_or(Weight::Free, FilterSpec::weight);
        let (weight, extra_bytes) = match weight {
            Weight::Fill => {
                let pad = |a: i64, b: i64| {
                    u32::try_from(a.max(0).saturating_add(b.max(0))).unwrap_or(u32::MAX)
                };
                canvas = (
                    target_w.saturating_add(pad(params.padding_left, params.padding_right)),
                    target_h.saturating_add(pad(params.padding_top, params.padding_bottom)),
                );
                (PIXEL_WORK, 0)
            }
            Weight::Padding => {
                let side =
                    |i: usize| number(i).map_or(0, |v| v.clamp(0.0, f64::from(u32::MAX)) as u32);
                let (l, t) = (side(1), side(2).max(side(1)));
                let (r, b) = (side(3).max(l), side(4).max(t));
                canvas = (
                    canvas.0.saturating_add(l).saturating_add(r),
                    canvas.1.saturating_add(t).saturating_add(b),
                );
                (PIXEL_WORK, 0)
            }
            Weight::Blur if frames == 1 => {
                let sigma = match args.as_slice() {
                    [radius] => radius.trim().parse::<f64>().ok().map(|r| r / 2.0),
                    [_, sigma] => sigma.trim().parse::<f64>().ok(),
                    _ => None,
                };
                let taps = mask_taps(sigma.unwrap_or(0.0).min(MAX_BLUR_SIGMA));
                // Two passes over four channels, and a copy of the canvas.
                (8 * taps, before.saturating_mul(PIXEL_BYTES))
            }
            Weight::Sharpen if frames == 1 => {
                let amount = match args.as_slice() {
                    [_, radius] | [_, radius, _] => radius.trim().parse::<f64>().ok(),
                    [amount] => amount.trim().parse::<f64>().ok(),
                    _ => None,
                };
                let sigma = (1.0 + 2.0 * amount.unwrap_or(0.0)).min(MAX_SHARPEN_SIGMA);
                (
                    2 * LAB_WORK + 2 * mask_taps(sigma),
                    before.saturating_mul(SHARPEN_BYTES),
                )
            }
            Weight::Lab => (LAB_WORK, before.saturating_mul(PIXEL_BYTES)),
            Weight::Watermark => {
                let key = crate::path::split_args(&filter.args)
                    .first()
                    .map(|key| key.to_string())
                    .unwrap_or_default();
                let pixels = options.overlays.get(&key).map_or(0, header_pixels);
                cost.work(pixels.saturating_mul(frames), DECODE_WORK + RESIZE_WORK);
                (COMPOSITE_WORK, pixels.saturating_mul(2 * PIXEL_BYTES))
            }
            Weight::Image => {
                let nested = nested(&filter.args, canvas, options);
                cost.work(nested.work.saturating_mul(frames), 1);
                (COMPOSITE_WORK, nested.peak_bytes)
            }
            Weight::Pixel => (PIXEL_WORK, before.saturating_mul(PIXEL_BYTES)),
            Weight::Trim if frames == 1 => (PIXEL_WORK, 0),
            Weight::Free | Weight::Blur | Weight::Sharpen | Weight::Trim => (0, 0),
        };
        let after = area(canvas);
        let pixels = before.max(after);
        cost.work(pixels.saturating_mul(frames), weight);
        let frames_held = pixels.saturating_mul(PIXEL_BYTES).saturating_mul(frames);
        cost.stage(
            frames_held
                .saturating_add(after.saturating_mul(PIXEL_BYTES))
                .saturating_add(extra_bytes),
        );
    }

    // Encoding: the canvas, the encoder's own buffers, the output; `max_bytes` may encode
    // several times.
    let format = match settings.output {
        OutputRequest::Format(format) => format,
        _ => source.format.default_output(),
    };
    let encode_weight: u64 = match format {
        Format::Jpeg | Format::Tiff => 16,
        Format::Png => 32,
        Format::Webp | Format::Gif => 96,
        Format::Avif => 1500,
        _ => 64,
    };
    let passes = if settings.max_bytes.is_some() { 6 } else { 1 };
    let canvas_px = area(canvas);
    cost.work(
        canvas_px.saturating_mul(frames).saturating_mul(passes),
        encode_weight,
    );
    cost.stage(
        canvas_px
            .saturating_mul(PIXEL_BYTES)
            .saturating_mul(frames)
            .saturating_mul(3),
    );
    cost.base = cost.base.saturating_add(overlay_bytes(options));
    Estimate {
        peak_bytes: cost.base.saturating_add(cost.peak),
        work: cost.total,
    }
}

/// The pixels of an encoded overlay, from its header.
fn header_pixels(bytes: &[u8]) -> u64 {
    let size = match Format::sniff(bytes) {
        Some(Format::Svg) => Some(svg_size(bytes)),
        Some(Format::Avif) => avif::header_size(bytes),
        Some(format) => image::ImageReader::with_format(Cursor::new(bytes), format.image_format())
            .into_dimensions()
            .ok(),
        None => None,
    };
    size.map_or(0, area)
}

/// The estimate of an `image(path, ...)` overlay rendered on a canvas of `canvas`: its
/// nested URL measured like the request's own (nothing when it would be refused or skipped).
fn nested(args: &str, canvas: (u32, u32), options: &Options) -> Estimate {
    let level = options.depth.saturating_add(1);
    let Some(first) = crate::path::split_args(args).first().map(|a| a.to_string()) else {
        return Estimate::default();
    };
    if level > super::ops::overlay::MAX_DEPTH {
        return Estimate::default();
    }
    let params = super::ops::overlay::nested_params(&first, canvas.0, canvas.1);
    let options = options.clone().at_depth(level);
    let estimate = if paint::is_color_source(&params.image) {
        estimate_color(&params, &options)
    } else {
        match options.overlays.get(&params.image) {
            Some(input) => estimate(input, &params, &options),
            None => Ok(Estimate::default()),
        }
    };
    estimate.unwrap_or_default()
}

/// The encoded overlays handed in, and their decoded size from their headers.
fn overlay_bytes(options: &Options) -> u64 {
    options
        .overlays
        .sources()
        .map(|bytes| {
            u64::try_from(bytes.len())
                .unwrap_or(u64::MAX)
                .saturating_add(header_pixels(bytes).saturating_mul(PIXEL_BYTES))
        })
        .fold(0u64, u64::saturating_add)
}

/// Work and memory added up while walking a request.
#[derive(Debug, Default)]
struct Cost {
    /// Bytes held throughout (the encoded source and overlays).
    base: u64,
    /// The largest stage.
    peak: u64,
    total: u64,
}

impl Cost {
    fn work(&mut self, pixels: u64, weight: u64) {
        self.total = self.total.saturating_add(pixels.saturating_mul(weight));
    }

    fn stage(&mut self, bytes: u64) {
        self.peak = self.peak.max(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{self, Filter};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::new(width, height)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .expect("png");
        out
    }

    #[test]
    fn grows_with_size_and_filters() {
        let options = Options::default();
        let small = png(200, 100);
        let large = png(2000, 1000);
        let plain = Params::default();
        let blurred = Params {
            filters: vec![Filter::new("blur", "10")],
            ..Params::default()
        };
        let a = estimate(&small, &plain, &options).expect("estimate");
        let b = estimate(&large, &plain, &options).expect("estimate");
        let c = estimate(&large, &blurred, &options).expect("estimate");
        assert!(
            a.work() < b.work() && b.work() < c.work(),
            "{a:?} {b:?} {c:?}"
        );
        assert!(a.peak_bytes() < b.peak_bytes() && b.peak_bytes() <= c.peak_bytes());
        let sharpened = Params {
            filters: vec![Filter::new("sharpen", "1,1")],
            ..Params::default()
        };
        let d = estimate(&large, &sharpened, &options).expect("estimate");
        assert!(
            d.peak_bytes() > c.peak_bytes() && d.work() > b.work(),
            "{d:?}"
        );
        // A wider blur costs more, up to the cap.
        let wide = |sigma: f64| Params {
            filters: vec![Filter::new("blur", format!("0,{sigma}"))],
            ..Params::default()
        };
        let w10 = estimate(&large, &wide(10.0), &options)
            .expect("estimate")
            .work();
        let w40 = estimate(&large, &wide(40.0), &options)
            .expect("estimate")
            .work();
        let capped = estimate(&large, &wide(MAX_BLUR_SIGMA), &options).expect("estimate");
        let over = estimate(&large, &wide(1e9), &options).expect("estimate");
        assert!(w10 < w40 && w40 < capped.work());
        assert_eq!(capped, over);
    }

    #[test]
    fn an_81_megapixel_sharpen_holds_more_than_its_pixels() {
        let options = Options::default();
        let params = path::parse("unsafe/9000x9000/filters:sharpen(1,1)/color:white");
        let estimate = estimate_color(&params, &options).expect("estimate");
        let decoded = 9000 * 9000 * 4;
        assert!(estimate.peak_bytes() > 10 * decoded, "{estimate:?}");
        let plain = path::parse("unsafe/9000x9000/color:white");
        let plain = estimate_color(&plain, &options).expect("estimate");
        assert!(plain.peak_bytes() >= decoded && plain.peak_bytes() < estimate.peak_bytes());
    }

    #[test]
    fn shrink_on_load_and_frames_count() {
        let options = Options::default();
        let mut jpeg = Vec::new();
        image::RgbImage::new(1600, 1200)
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .expect("jpeg");
        let full = estimate(&jpeg, &Params::default(), &options).expect("estimate");
        let thumb = path::parse("unsafe/100x75/photo.jpg");
        let thumb = estimate(&jpeg, &thumb, &options).expect("estimate");
        // Decoded at 1/8: far less than the full-size decode.
        assert!(
            thumb.peak_bytes() * 8 < full.peak_bytes(),
            "{thumb:?} {full:?}"
        );

        let frames = |count: usize| {
            let mut gif = Vec::new();
            {
                let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
                for _ in 0..count {
                    let frame = image::Frame::new(image::RgbaImage::new(50, 50));
                    encoder.encode_frame(frame).expect("frame");
                }
            }
            assert_eq!(gif_frames(&gif), count as u64);
            estimate(&gif, &Params::default(), &options).expect("estimate")
        };
        let one = frames(1);
        let ten = frames(10);
        assert!(ten.work() > 5 * one.work(), "{one:?} {ten:?}");
    }

    #[test]
    fn svg_sizes_come_from_the_root_tag() {
        let size = |text: &str| svg_size(text.as_bytes());
        assert_eq!(size(r#"<svg width="120" height="80px">"#), (120, 80));
        assert_eq!(size(r#"<svg viewBox="0 0 300 150">"#), (300, 150));
        assert_eq!(size(r#"<svg width="1in" viewBox="0,0,10,20">"#), (96, 20));
        assert_eq!(size(r#"<?xml?><svg xmlns="x">"#), (100, 100));
        assert_eq!(size(r#"<svg stroke-width="5" height='7'>"#), (100, 7));
    }

    #[test]
    fn the_budget_refuses_heavy_canvases() {
        let options = Options::default();
        let heavy = path::parse("unsafe/9999x8100/filters:blur(0,50):blur(0,50)/color:red");
        let estimate = estimate_color(&heavy, &options).expect("estimate");
        assert!(check(&estimate, &options).is_err());
        let light = path::parse("unsafe/300x200/filters:blur(0,50)/color:red");
        let estimate = estimate_color(&light, &options).expect("estimate");
        assert!(check(&estimate, &options).is_ok());
        let raised = Options::default().work_budget(u64::MAX);
        assert!(check(&estimate_color(&heavy, &raised).expect("estimate"), &raised).is_ok());
    }
}
