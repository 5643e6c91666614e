//! Overlays: `watermark(image,x,y,alpha[,w_ratio,h_ratio])` and
//! `image(path,x,y[,alpha[,blend]])`.
//!
//! Processing never loads anything: the encoded overlay sources are handed in through
//! [`Overlays`] (see [`Options::overlays`](crate::processing::Options::overlays)), keyed by
//! image key, and [`overlay_sources`] lists the keys a URL needs. An overlay whose source is
//! not there is skipped.
//!
//! `watermark` decodes its image (all frames of a GIF on an animated canvas), scales it into
//! `w_ratio`% × `h_ratio`% of the canvas when both ratios are given, and composites it.
//! `image` takes a whole imagor rest-path (`/100x100/filters:grayscale()/logo.png`,
//! `fxf/logo.png`, `color:red`), renders it with its own geometry and pipeline filters
//! (nested `image()` filters included, at most [`MAX_DEPTH`] levels deep), and composites the
//! result with a blend mode.
//!
//! Positions: pixels, negative from the right/bottom, `left`/`right`/`center`/`top`/`bottom`,
//! `left-n`/`l-n` etc. (outward), `Np` percentages, `0.x` fractions and `repeat` (tiling).
//! Alpha 0–100 is the transparency added to the overlay.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options, Overlays};
//!
//! let png = |w, h, rgb| {
//!     let mut bytes = Vec::new();
//!     image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
//!         .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
//!         .unwrap();
//!     bytes
//! };
//! let canvas = png(100, 50, [255, 255, 255]);
//! let overlays = Overlays::new().with_source("logo.png", png(10, 10, [255, 0, 0]));
//! // A red square 5 pixels from the right and bottom edges.
//! let params = Params {
//!     filters: vec![Filter::new("watermark", "logo.png,-5,-5,0")],
//!     ..Default::default()
//! };
//! let output = process(&canvas, &params, &Options::default().overlays(overlays)).unwrap();
//! let pixels = image::load_from_memory(output.bytes()).unwrap().to_rgb8();
//! assert_eq!(pixels.get_pixel(90, 40).0, [255, 0, 0]);
//! assert_eq!(pixels.get_pixel(96, 46).0, [255, 255, 255]);
//! ```

use std::borrow::Cow;

use base64::Engine as _;
use image::{DynamicImage, RgbaImage};

use crate::path::{self, Filter, Params};
use crate::processing::cancel::Cancel;
use crate::processing::decode;
use crate::processing::error::ProcessError;
use crate::processing::format::Format;
use crate::processing::options::Options;
use crate::processing::paint;

/// How many `image()` levels may nest inside each other (the URL's own image is level 0).
pub const MAX_DEPTH: u8 = 3;

/// Most overlay filters (`watermark` and `image`, nested ones included) in one URL.
const MAX_OVERLAYS: usize = 64;

/// The image keys the overlay filters of `params` load, nested `image()` paths included,
/// without duplicates and without `color:` sources, in URL order.
///
/// ```
/// use imagor_tower::path::parse;
/// use imagor_tower::processing::overlay_sources;
///
/// let params = parse("/unsafe/filters:watermark(logo.png,0,0,0):image(/50x50/filters:image(b.png)/a.png)/photo.jpg");
/// assert_eq!(overlay_sources(&params).unwrap(), ["logo.png", "a.png", "b.png"]);
/// ```
///
/// # Errors
///
/// [`ProcessError::BadRequest`] when `image()` paths nest deeper than [`MAX_DEPTH`] or the
/// URL has more than 64 overlay filters.
pub fn overlay_sources(params: &Params) -> Result<Vec<String>, ProcessError> {
    let mut keys = Vec::new();
    let mut count = 0;
    collect(&params.filters, 0, &mut keys, &mut count)?;
    Ok(keys)
}

fn collect(
    filters: &[Filter],
    depth: u8,
    keys: &mut Vec<String>,
    count: &mut usize,
) -> Result<(), ProcessError> {
    for filter in filters {
        let nested = match filter.name.as_str() {
            "watermark" => false,
            "image" => true,
            _ => continue,
        };
        let Some(first) = path::split_args(&filter.args).first().copied() else {
            continue;
        };
        *count += 1;
        if *count > MAX_OVERLAYS {
            return Err(ProcessError::BadRequest("too many overlays".into()));
        }
        if !nested {
            push_key(keys, decoded_text(first));
            continue;
        }
        let level = depth.saturating_add(1);
        if level > MAX_DEPTH {
            return Err(too_deep());
        }
        let params = nested_params(first, 1, 1);
        push_key(keys, params.image);
        collect(&params.filters, level, keys, count)?;
    }
    Ok(())
}

/// Adds a key to load, unless empty, a `color:` source or already there.
fn push_key(keys: &mut Vec<String>, key: String) {
    if !key.is_empty() && !paint::is_color_source(&key) && !keys.contains(&key) {
        keys.push(key);
    }
}

fn too_deep() -> ProcessError {
    ProcessError::BadRequest(format!(
        "image() overlays nested more than {MAX_DEPTH} levels deep"
    ))
}

/// The parsed nested path of `image()`: percent-decoded, `f`/`full` sizes resolved against
/// the parent's `width` × `height`, an optional `unsafe/` segment dropped.
pub(crate) fn nested_params(arg: &str, width: u32, height: u32) -> Params {
    let text = unescape(arg);
    let trimmed = text.trim_start_matches('/');
    let text = trimmed.strip_prefix("unsafe/").unwrap_or(trimmed);
    path::parse_rest(&resolve_full_dimensions(text, width, height))
}

/// Percent-decodes, keeping the text when it is not valid escaping.
fn unescape(text: &str) -> Cow<'_, str> {
    match path::query_unescape(text) {
        Some(decoded) => Cow::Owned(decoded),
        None => Cow::Borrowed(text),
    }
}

/// A text argument as imagor reads it (a `watermark` image key, the text of `text` and
/// `label`): percent-decoded (kept as is when invalid), then a `b64:` prefix base64url-decoded
/// (unpadded; kept as is when it does not decode to UTF-8).
pub(crate) fn decoded_text(arg: &str) -> String {
    let key = unescape(arg).into_owned();
    if let Some(encoded) = key.strip_prefix("b64:")
        && let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded)
        && let Ok(text) = String::from_utf8(bytes)
    {
        return text;
    }
    key
}

/// Replaces `f`, `full`, `f-N`, `full-N` in the first `WxH` segment of a nested path (before
/// any `filters:`) by the parent's width or page height (minus N, not below 0).
pub(crate) fn resolve_full_dimensions(path: &str, width: u32, height: u32) -> Cow<'_, str> {
    let mut start = 0;
    for segment in path.split('/') {
        if segment.starts_with("filters:") {
            break;
        }
        if let Some((w, h)) = segment.split_once('x')
            && let (Some(w), Some(h)) = (size_token(w, width), size_token(h, height))
        {
            if w.1 || h.1 {
                let end = start + segment.len();
                let head = path.get(..start).unwrap_or_default();
                let tail = path.get(end..).unwrap_or_default();
                return Cow::Owned(format!("{head}{}x{}{tail}", w.0, h.0));
            }
            break;
        }
        start += segment.len() + 1;
    }
    Cow::Borrowed(path)
}

/// One side of a size segment: its resolved text, and whether it was a `full` token.
fn size_token(text: &str, parent: u32) -> Option<(String, bool)> {
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    if body.bytes().all(|b| b.is_ascii_digit()) {
        return Some((text.to_owned(), false));
    }
    let rest = body
        .strip_prefix("full")
        .or_else(|| body.strip_prefix('f'))?;
    let minus = match rest {
        "" => 0,
        _ => {
            let digits = rest.strip_prefix('-')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<u64>().unwrap_or(u64::MAX)
        }
    };
    let value = u64::from(parent).saturating_sub(minus);
    Some((format!("{sign}{value}"), true))
}

/// Which way a position argument runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Axis {
    /// Horizontal: `left`, `right`, `l-n`, `r-n`.
    X,
    /// Vertical: `top`, `bottom`, `t-n`, `b-n`.
    Y,
}

/// The overlay's leading edge for a position argument, and how many copies
/// are laid along the axis.
pub(crate) fn position(arg: &str, axis: Axis, canvas: u32, overlay: u32) -> (i64, u32) {
    let (canvas, overlay) = (i64::from(canvas), i64::from(overlay));
    let far = canvas - overlay;
    let (near_word, far_word, near_short, far_short) = match axis {
        Axis::X => ("left", "right", "l-", "r-"),
        Axis::Y => ("top", "bottom", "t-", "b-"),
    };
    let atoi = |text: &str| text.parse::<i64>().unwrap_or(0);
    if arg == "repeat" {
        let tiles = if overlay > 0 { canvas / overlay + 1 } else { 1 };
        return (0, u32::try_from(tiles).unwrap_or(u32::MAX));
    }
    let offset = if arg.is_empty() || arg == near_word {
        0
    } else if arg == far_word {
        far
    } else if arg == "center" {
        far / 2
    } else if let Some(rest) = arg
        .strip_prefix(near_word)
        .and_then(|r| r.strip_prefix('-'))
        .or_else(|| arg.strip_prefix(near_short))
    {
        atoi(rest).saturating_neg()
    } else if let Some(rest) = arg
        .strip_prefix(far_word)
        .and_then(|r| r.strip_prefix('-'))
        .or_else(|| arg.strip_prefix(far_short))
    {
        far.saturating_add(atoi(rest))
    } else if let Some(number) = arg.strip_suffix('p') {
        from_edge(atoi(number).saturating_mul(canvas) / 100, far)
    } else if arg.starts_with("0.") || arg.starts_with("-0.") {
        let value = arg.parse::<f64>().unwrap_or(0.0) * canvas as f64;
        from_edge(value.trunc() as i64, far)
    } else {
        from_edge(atoi(arg), far)
    };
    (offset, 1)
}

/// Negative offsets count from the far edge.
fn from_edge(value: i64, far: i64) -> i64 {
    if value < 0 {
        far.saturating_add(value)
    } else {
        value
    }
}

/// Blend modes of `image()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blend {
    Normal,
    Multiply,
    Screen,
    Overlay,
    Darken,
    Lighten,
    ColorDodge,
    ColorBurn,
    HardLight,
    SoftLight,
    Difference,
    Exclusion,
    Add,
    Mask,
    MaskOut,
}

impl Blend {
    /// Case-insensitive; unknown names are `normal`.
    pub(crate) fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "multiply" => Self::Multiply,
            "screen" => Self::Screen,
            "overlay" => Self::Overlay,
            "darken" => Self::Darken,
            "lighten" => Self::Lighten,
            "color-dodge" => Self::ColorDodge,
            "color-burn" => Self::ColorBurn,
            "hard-light" => Self::HardLight,
            "soft-light" => Self::SoftLight,
            "difference" => Self::Difference,
            "exclusion" => Self::Exclusion,
            "add" => Self::Add,
            "mask" => Self::Mask,
            "mask-out" => Self::MaskOut,
            _ => Self::Normal,
        }
    }

    /// The separable blend function B(backdrop, source) on one channel.
    fn mix(self, b: f32, s: f32) -> f32 {
        let screen = |b: f32, s: f32| b + s - b * s;
        let hard = |b: f32, s: f32| {
            if s <= 0.5 {
                b * 2.0 * s
            } else {
                screen(b, 2.0 * s - 1.0)
            }
        };
        match self {
            Self::Multiply => b * s,
            Self::Screen => screen(b, s),
            Self::Overlay => hard(s, b),
            Self::Darken => b.min(s),
            Self::Lighten => b.max(s),
            Self::ColorDodge => {
                if b <= 0.0 {
                    0.0
                } else if s >= 1.0 {
                    1.0
                } else {
                    (b / (1.0 - s)).min(1.0)
                }
            }
            Self::ColorBurn => {
                if b >= 1.0 {
                    1.0
                } else if s <= 0.0 {
                    0.0
                } else {
                    1.0 - ((1.0 - b) / s).min(1.0)
                }
            }
            Self::HardLight => hard(b, s),
            Self::SoftLight => {
                if s <= 0.5 {
                    b - (1.0 - 2.0 * s) * b * (1.0 - b)
                } else {
                    let d = if b <= 0.25 {
                        ((16.0 * b - 12.0) * b + 4.0) * b
                    } else {
                        b.sqrt()
                    };
                    b + (2.0 * s - 1.0) * (d - b)
                }
            }
            Self::Difference => (b - s).abs(),
            Self::Exclusion => b + s - 2.0 * b * s,
            Self::Normal | Self::Add | Self::Mask | Self::MaskOut => s,
        }
    }

    /// Composites source `s` (alpha `sa`) onto backdrop `b` (alpha `ba`); all in 0–1.
    fn composite(self, b: [f32; 3], ba: f32, s: [f32; 3], sa: f32) -> ([f32; 3], f32) {
        match self {
            Self::Mask => (b, ba * sa),
            Self::MaskOut => (b, ba * (1.0 - sa)),
            Self::Add => {
                let alpha = (sa + ba).min(1.0);
                if alpha <= 0.0 {
                    return (b, 0.0);
                }
                let c = [0, 1, 2].map(|i| {
                    let (bi, si) = (b.get(i).copied(), s.get(i).copied());
                    let sum = bi.unwrap_or(0.0) * ba + si.unwrap_or(0.0) * sa;
                    (sum / alpha).min(1.0)
                });
                (c, alpha)
            }
            _ => {
                let alpha = sa + ba * (1.0 - sa);
                if alpha <= 0.0 {
                    return (b, 0.0);
                }
                let c = [0, 1, 2].map(|i| {
                    let bi = b.get(i).copied().unwrap_or(0.0);
                    let si = s.get(i).copied().unwrap_or(0.0);
                    let mixed = self.mix(bi, si);
                    let value = si * sa * (1.0 - ba) + bi * ba * (1.0 - sa) + sa * ba * mixed;
                    (value / alpha).clamp(0.0, 1.0)
                });
                (c, alpha)
            }
        }
    }
}

/// What an overlay filter needs to know besides the canvas.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context<'a> {
    /// Server options, the overlay sources and the nesting level.
    pub(crate) options: &'a Options,
    /// The index of the canvas frame being processed (0 for still images).
    pub(crate) frame: usize,
    /// Whether the canvas is a frame of an animation.
    pub(crate) animated: bool,
    /// Renders the nested URL of `image()`; see [`RenderNested`].
    pub(crate) render: RenderNested,
}

/// How `image()` renders its nested URL (already under the policy, at its depth): given the
/// nested parameters, the options, whether the canvas is animated and the canvas frame index,
/// the overlay's image, or `None` when its source was not handed in. The renderer is handed
/// in by the caller (it runs this module's filters in turn), so that the overlay filters do
/// not depend on rendering.
pub(crate) type RenderNested =
    fn(&Params, &Options, bool, usize) -> Result<Option<DynamicImage>, ProcessError>;

/// `watermark(image, x, y, alpha[, w_ratio, h_ratio])` on `canvas`.
pub(crate) fn watermark(
    canvas: &mut DynamicImage,
    text: &str,
    cx: Context<'_>,
) -> Result<(), ProcessError> {
    let args = path::split_args(text);
    let Some(first) = args.first() else {
        return Ok(());
    };
    let key = decoded_text(first);
    let Some(input) = cx.options.overlays.get(&key) else {
        return Ok(());
    };
    cx.options.check_decodable(input)?;
    let (limits, cancel) = (&cx.options.limits, &cx.options.cancel);
    let frame = if cx.animated && Format::sniff(input) == Some(Format::Gif) {
        match decode::gif_frames(input, limits, None, None, cancel)? {
            Some(frames) => pick(frames.into_iter().map(|(f, _)| f).collect(), cx.frame)?,
            None => decode::decode_scaled(input, limits, true, |_, _| 1, cancel)?.image,
        }
    } else {
        decode::decode_scaled(input, limits, true, |_, _| 1, cancel)?.image
    };
    let (width, height) = (canvas.width(), canvas.height());
    let frame = if let (Some(&w), Some(&h)) = (args.get(4), args.get(5)) {
        let side = |ratio: &str, full: u32| {
            if ratio == "none" {
                full
            } else {
                let ratio = ratio.parse::<i64>().unwrap_or(0);
                let value = i64::from(full).saturating_mul(ratio) / 100;
                u32::try_from(value.max(1)).unwrap_or(u32::MAX)
            }
        };
        fit(frame, side(w, width), side(h, height), true, cx.options)?
    } else {
        let max_w = limits.max_width.unwrap_or(u32::MAX);
        let max_h = limits.max_height.unwrap_or(u32::MAX);
        fit(frame, max_w, max_h, false, cx.options)?
    };
    let overlay = frame.into_rgba8();
    let alpha = args.get(3).map_or(0.0, |a| number(a));
    let placement = place(&args, width, height, &overlay);
    composite(canvas, &overlay, placement, (alpha, Blend::Normal), cancel)
}

/// `image(path, x, y[, alpha[, blend]])` on `canvas`.
pub(crate) fn image(
    canvas: &mut DynamicImage,
    text: &str,
    cx: Context<'_>,
) -> Result<(), ProcessError> {
    let args = path::split_args(text);
    let Some(first) = args.first() else {
        return Ok(());
    };
    let level = cx.options.depth.saturating_add(1);
    if level > MAX_DEPTH {
        return Err(too_deep());
    }
    let (width, height) = (canvas.width(), canvas.height());
    let nested = nested_params(first, width, height);
    let options = cx.options.clone().at_depth(level);
    let nested = options.policy.apply(&nested).into_owned();
    let Some(rendered) = (cx.render)(&nested, &options, cx.animated, cx.frame)? else {
        return Ok(());
    };
    let overlay = rendered.into_rgba8();
    let alpha = args.get(3).map_or(0.0, |a| number(a));
    let blend = args.get(4).map_or(Blend::Normal, |b| Blend::from_name(b));
    let placement = place(&args, width, height, &overlay);
    composite(
        canvas,
        &overlay,
        placement,
        (alpha, blend),
        &cx.options.cancel,
    )
}

/// A float argument; invalid is 0.
pub(crate) fn number(text: &str) -> f64 {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// Frame `index` of `frames`, cycling.
pub(crate) fn pick(mut frames: Vec<RgbaImage>, index: usize) -> Result<DynamicImage, ProcessError> {
    if frames.is_empty() {
        return Err(ProcessError::image("overlay has no frames"));
    }
    let at = index % frames.len();
    Ok(DynamicImage::ImageRgba8(frames.swap_remove(at)))
}

/// Scales `image` to fit inside `box_w × box_h`, keeping its aspect ratio; only down unless
/// `upscale`.
fn fit(
    image: DynamicImage,
    box_w: u32,
    box_h: u32,
    upscale: bool,
    options: &Options,
) -> Result<DynamicImage, ProcessError> {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let shrink = (w / f64::from(box_w.max(1))).max(h / f64::from(box_h.max(1)));
    if !shrink.is_finite() || shrink <= 0.0 || (!upscale && shrink <= 1.0) {
        return Ok(image);
    }
    let side = |v: f64| {
        let value = (v / shrink).round();
        if value >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            (value as u32).max(1)
        }
    };
    let (nw, nh) = (side(w), side(h));
    if (nw, nh) == (image.width(), image.height()) {
        return Ok(image);
    }
    options.limits.check(nw, nh)?;
    super::resize::scale(&image, nw, nh, &options.cancel)
}

/// Where the overlay goes: left, top, and the copies across and down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) x: i64,
    pub(crate) y: i64,
    pub(crate) across: u32,
    pub(crate) down: u32,
}

/// x and y are read when at least three arguments are given; else 0, 0.
fn place(args: &[&str], width: u32, height: u32, overlay: &RgbaImage) -> Placement {
    match args {
        [_, x, y, ..] => {
            let (x, across) = position(x, Axis::X, width, overlay.width());
            let (y, down) = position(y, Axis::Y, height, overlay.height());
            Placement { x, y, across, down }
        }
        _ => Placement {
            x: 0,
            y: 0,
            across: 1,
            down: 1,
        },
    }
}

/// Composites `overlay` (tiled per `placement`) onto `canvas`, with the overlay's alpha
/// multiplied by 1 − `alpha`/100 (`how` is the alpha and the blend mode). Grey canvases
/// become RGB; `mask` modes give the canvas an alpha channel and clear it outside the
/// overlay. Checks `cancel` between rows; a cancelled composite leaves the canvas empty.
pub(crate) fn composite(
    canvas: &mut DynamicImage,
    overlay: &RgbaImage,
    placement: Placement,
    how: (f64, Blend),
    cancel: &Cancel,
) -> Result<(), ProcessError> {
    let (alpha, blend) = how;
    let (ow, oh) = (i64::from(overlay.width()), i64::from(overlay.height()));
    let (cw, ch) = (i64::from(canvas.width()), i64::from(canvas.height()));
    if ow == 0 || oh == 0 || cw == 0 || ch == 0 {
        return Ok(());
    }
    let right = placement
        .x
        .saturating_add(ow.saturating_mul(i64::from(placement.across)));
    let bottom = placement
        .y
        .saturating_add(oh.saturating_mul(i64::from(placement.down)));
    let (left, top) = (placement.x.max(0), placement.y.max(0));
    let (right, bottom) = (right.min(cw), bottom.min(ch));
    if left >= right || top >= bottom {
        return Ok(());
    }
    let masking = blend == Blend::Mask;
    let keep_alpha = canvas.color().has_alpha() || matches!(blend, Blend::Mask | Blend::MaskOut);
    let opacity = (1.0 - alpha / 100.0) as f32;
    let source = |px: i64, py: i64| -> Option<([f32; 3], f32)> {
        let inside = (left..right).contains(&px) && (top..bottom).contains(&py);
        if !inside {
            return None;
        }
        let sx = u32::try_from((px - placement.x).rem_euclid(ow)).ok()?;
        let sy = u32::try_from((py - placement.y).rem_euclid(oh)).ok()?;
        let [r, g, b, a] = overlay.get_pixel_checked(sx, sy)?.0;
        let unit = |v: u8| f32::from(v) / 255.0;
        let a = (unit(a) * opacity).clamp(0.0, 1.0);
        Some(([unit(r), unit(g), unit(b)], a))
    };
    let to_byte = |v: f32| (v * 255.0).round().clamp(0.0, 255.0) as u8;
    let unit = |v: u8| f32::from(v) / 255.0;
    // The region to visit: the overlay's, or the whole canvas when masking clears the rest.
    let (x0, y0, x1, y1) = if masking {
        (0, 0, cw, ch)
    } else {
        (left, top, right, bottom)
    };
    let mut meter = cancel.meter();
    // A composited pixel costs a few dozen floating-point operations.
    let row_units = usize::try_from(x1 - x0).unwrap_or(0) * 32;
    if keep_alpha {
        let mut rgba = std::mem::replace(canvas, DynamicImage::new_luma8(0, 0)).into_rgba8();
        for py in y0..y1 {
            meter.tick(row_units)?;
            for px in x0..x1 {
                let (Ok(ux), Ok(uy)) = (u32::try_from(px), u32::try_from(py)) else {
                    continue;
                };
                let Some(pixel) = rgba.get_pixel_mut_checked(ux, uy) else {
                    continue;
                };
                let [r, g, b, a] = pixel.0;
                let (s, sa) = source(px, py).unwrap_or(([0.0; 3], 0.0));
                let (c, out_a) = blend.composite([unit(r), unit(g), unit(b)], unit(a), s, sa);
                pixel.0 = [to_byte(c[0]), to_byte(c[1]), to_byte(c[2]), to_byte(out_a)];
            }
        }
        *canvas = DynamicImage::ImageRgba8(rgba);
    } else {
        let mut rgb = std::mem::replace(canvas, DynamicImage::new_luma8(0, 0)).into_rgb8();
        for py in y0..y1 {
            meter.tick(row_units)?;
            for px in x0..x1 {
                let (Ok(ux), Ok(uy)) = (u32::try_from(px), u32::try_from(py)) else {
                    continue;
                };
                let Some((s, sa)) = source(px, py) else {
                    continue;
                };
                let Some(pixel) = rgb.get_pixel_mut_checked(ux, uy) else {
                    continue;
                };
                let [r, g, b] = pixel.0;
                let (c, _) = blend.composite([unit(r), unit(g), unit(b)], 1.0, s, sa);
                pixel.0 = [to_byte(c[0]), to_byte(c[1]), to_byte(c[2])];
            }
        }
        *canvas = DynamicImage::ImageRgb8(rgb);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_vendored_vectors() {
        let text = include_str!("../../../tests/data/conformance/filter-args-cases.json");
        let json: serde_json::Value = serde_json::from_str(text).expect("vectors parse");
        let cases = json["overlay_position"]["cases"]
            .as_array()
            .expect("overlay_position cases");
        assert!(cases.len() > 20);
        for case in cases {
            let arg = case["arg"].as_str().unwrap_or_default();
            let axis = if case["axis"] == "x" {
                Axis::X
            } else {
                Axis::Y
            };
            let canvas = case["canvas"].as_u64().unwrap_or(0) as u32;
            let overlay = case["overlay"].as_u64().unwrap_or(0) as u32;
            let expected = (
                case["expected_offset"].as_i64().unwrap_or(i64::MIN),
                case["expected_tiles"].as_u64().unwrap_or(0) as u32,
            );
            assert_eq!(position(arg, axis, canvas, overlay), expected, "{case}");
        }
    }

    #[test]
    fn full_tokens_follow_the_vendored_vectors() {
        let text = include_str!("../../../tests/data/conformance/filter-args-cases.json");
        let json: serde_json::Value = serde_json::from_str(text).expect("vectors parse");
        let cases = json["full_dimension_tokens"]["path_cases"]
            .as_array()
            .expect("path cases");
        for case in cases {
            let path = case["path"].as_str().unwrap_or_default();
            let w = case["parent_w"].as_u64().unwrap_or(0) as u32;
            let h = case["parent_h"].as_u64().unwrap_or(0) as u32;
            let expected = case["expected"].as_str().unwrap_or_default();
            assert_eq!(resolve_full_dimensions(path, w, h), expected, "{path}");
        }
        assert_eq!(
            resolve_full_dimensions("/f-900xf/a.png", 800, 600),
            "/0x600/a.png"
        );
        assert_eq!(
            resolve_full_dimensions("/fit-in/fxf/a.png", 8, 6),
            "/fit-in/8x6/a.png"
        );
    }

    #[test]
    fn watermark_keys_decode() {
        assert_eq!(decoded_text("b64:Z29waGVyLnBuZw"), "gopher.png");
        assert_eq!(decoded_text("b64:!!"), "b64:!!");
        assert_eq!(decoded_text("a%20b.png"), "a b.png");
        assert_eq!(decoded_text("100%zz"), "100%zz");
    }

    #[test]
    fn depth_and_count_are_bounded() {
        let nest = |levels: usize| {
            let mut path = "x.png".to_owned();
            for _ in 0..levels {
                path = format!("/filters:image({path})/y.png");
            }
            path::parse(&format!("/unsafe{path}"))
        };
        assert!(overlay_sources(&nest(3)).is_ok());
        assert!(matches!(
            overlay_sources(&nest(4)),
            Err(ProcessError::BadRequest(_))
        ));
        let many = Params {
            filters: (0..65)
                .map(|i| Filter::new("watermark", format!("{i}.png")))
                .collect(),
            ..Params::default()
        };
        assert!(matches!(
            overlay_sources(&many),
            Err(ProcessError::BadRequest(_))
        ));
    }

    #[test]
    fn blend_formulas() {
        let white = [1.0; 3];
        let half = [0.5; 3];
        assert_eq!(Blend::from_name("MULTIPLY"), Blend::Multiply);
        assert_eq!(Blend::from_name("invalid-mode"), Blend::Normal);
        assert_eq!(Blend::Multiply.composite(half, 1.0, half, 1.0).0, [0.25; 3]);
        assert_eq!(Blend::Normal.composite(white, 1.0, [0.0; 3], 0.5).0, half);
        assert_eq!(Blend::Mask.composite(white, 1.0, half, 0.25), (white, 0.25));
        assert_eq!(
            Blend::MaskOut.composite(white, 1.0, half, 0.25),
            (white, 0.75)
        );
        assert_eq!(Blend::Screen.composite(half, 1.0, half, 1.0).0, [0.75; 3]);
        assert_eq!(Blend::Add.composite(half, 1.0, white, 1.0).0, white);
        assert_eq!(Blend::Difference.composite(white, 1.0, half, 1.0).0, half);
        // Transparent canvas, normal: the overlay as it is.
        assert_eq!(Blend::Normal.composite(white, 0.0, half, 0.5), (half, 0.5));
    }

    #[test]
    fn clipped_and_outside_overlays() {
        let red = RgbaImage::from_pixel(4, 4, image::Rgba([255, 0, 0, 255]));
        let mut canvas =
            DynamicImage::ImageLuma8(image::GrayImage::from_pixel(10, 10, image::Luma([0])));
        let at = |x, y| Placement {
            x,
            y,
            across: 1,
            down: 1,
        };
        composite(
            &mut canvas,
            &red,
            at(8, -2),
            (0.0, Blend::Normal),
            &Cancel::new(),
        )
        .expect("composite");
        let rgb = canvas.to_rgb8();
        assert_eq!(rgb.get_pixel(9, 1).0, [255, 0, 0]);
        assert_eq!(rgb.get_pixel(9, 2).0, [0, 0, 0]);
        assert_eq!(rgb.get_pixel(7, 0).0, [0, 0, 0]);
        let before = canvas.clone();
        composite(
            &mut canvas,
            &red,
            at(5000, 0),
            (0.0, Blend::Normal),
            &Cancel::new(),
        )
        .expect("composite");
        composite(
            &mut canvas,
            &red,
            at(i64::MIN, i64::MAX),
            (0.0, Blend::Mask),
            &Cancel::new(),
        )
        .expect("composite");
        assert_eq!(canvas, before);
        // Mask: the canvas is kept only under the overlay.
        composite(
            &mut canvas,
            &red,
            at(0, 0),
            (0.0, Blend::Mask),
            &Cancel::new(),
        )
        .expect("composite");
        let rgba = canvas.to_rgba8();
        assert_eq!(rgba.get_pixel(1, 1).0[3], 255);
        assert_eq!(rgba.get_pixel(6, 6).0[3], 0);
    }
}
