//! Text overlays: `text(text, x, y[, font[, color[, alpha[, blend[, width[, align[, justify[,
//! wrap[, spacing[, dpi]]]]]]]]]])` and the older `label(text, x, y[, size[, color[, alpha[,
//! font]]]])`.
//!
//! The text is laid out with one of three bundled DejaVu faces (no system fonts are read):
//!
//! | Font family in the URL | Face |
//! | --- | --- |
//! | `sans`, `sans-serif`, anything unknown (`serif`, `tahoma`, ...) | DejaVu Sans |
//! | the same with a weight of `bold` or heavier (`sans-bold-24`, `semibold`, `heavy`) | DejaVu Sans Bold |
//! | a family containing `mono` (`monospace`, `mono`, `DejaVu Sans Mono`) | DejaVu Sans Mono (always regular) |
//!
//! Font descriptions are Pango style with `-` for spaces: `sans-bold-24` is "sans bold 24".
//! Sizes are points at `dpi` (default 72, where a point is a pixel); `24px` is a pixel size.
//! Glyph advances (with the font's kerning pairs) are rounded to whole pixels as Pango does,
//! lines are `ceil(ascent) + ceil(descent)` pixels apart plus `spacing`, and the text box that
//! the position refers to is the ink box: the union of the glyph outlines, as libvips' `text`
//! measures it. `text` wraps at `width` (`120`, `60p`, `0.5`, `f`, `f-40`), by word (default),
//! character, word-then-character or not at all, and aligns lines left, centre or right,
//! optionally justified.
//!
//! `label` fits the font so that the ink of the text is at most `size` pixels high (and
//! 9999 wide), then pads the box to `size` pixels high; its default is size 20, black, sans.
//!
//! The text is percent-decoded and a `b64:` prefix is base64url-decoded (unpadded); it is
//! drawn as it is (no Pango markup, no complex-script shaping or font fallback). The canvas
//! gains an alpha channel, then the text mask in its colour is composited with the alpha and
//! blend mode of the overlays ([`super::overlay`]). Animations get the text on every frame.
//!
//! Limits, answered with 400: more than [`MAX_TEXT_CHARS`] characters, a font or label size
//! beyond [`MAX_FONT_PX`] pixels, `spacing` outside 0–10000, a `dpi` below 1, or glyphs that
//! would take more than 16 Mi pixels (or four times the visible box) of rasterising. Only the part of the text box that falls
//! on the canvas is rasterised, so a huge box costs no memory.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Options};
//!
//! let mut png = Vec::new();
//! image::RgbImage::from_pixel(120, 40, image::Rgb([255, 255, 255]))
//!     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//!     .unwrap();
//! // Red 20-pixel text 10 pixels from the left and top edges.
//! let params = Params {
//!     filters: vec![Filter::new("text", "Hi,10,10,sans-20,red")],
//!     ..Default::default()
//! };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! let pixels = image::load_from_memory(output.bytes()).unwrap().to_rgba8();
//! let red = |x: u32, y: u32| {
//!     let [r, g, b, _] = pixels.get_pixel(x, y).0;
//!     r > 200 && g < 80 && b < 80
//! };
//! assert!((10..40).any(|x| (10..30).any(|y| red(x, y))));
//! assert!(!(0..120).any(|x| (0..10).any(|y| red(x, y))));
//! ```

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, Rect, point};
use image::{DynamicImage, RgbaImage};

use super::overlay::{self, Axis, Blend, Placement};
use crate::path;
use crate::processing::cancel::Cancel;
use crate::processing::error::ProcessError;
use crate::processing::paint::{self, Paint};

/// Most characters of text one `text` or `label` filter draws.
pub(crate) const MAX_TEXT_CHARS: usize = 1000;

/// Largest font size in pixels (after `dpi`), and largest `label` size.
pub(crate) const MAX_FONT_PX: f32 = 1000.0;

/// Largest `spacing` (extra pixels between lines).
const MAX_SPACING: i64 = 10_000;

/// Glyph pixels rasterised for one filter on one frame: at least this many, or four times
/// the visible part of the text box when that is more.
const MIN_GLYPH_BUDGET: u64 = 16 << 20;

/// The width of the box `label` fits its text into (imagor's constant).
const LABEL_BOX_WIDTH: f32 = 9999.0;

/// Tab stops every this many spaces.
const TAB_SPACES: f32 = 8.0;

const SANS_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
const SANS_BOLD_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");
const MONO_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansMono.ttf");

/// One of the bundled faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Face {
    Sans,
    SansBold,
    Mono,
}

impl Face {
    /// The parsed font, read once per process.
    fn font(self) -> Result<&'static FontRef<'static>, ProcessError> {
        static SANS: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
        static SANS_BOLD: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
        static MONO: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
        let (cell, data) = match self {
            Self::Sans => (&SANS, SANS_TTF),
            Self::SansBold => (&SANS_BOLD, SANS_BOLD_TTF),
            Self::Mono => (&MONO, MONO_TTF),
        };
        cell.get_or_init(|| FontRef::try_from_slice(data).ok())
            .as_ref()
            .ok_or_else(|| ProcessError::image("the bundled font cannot be read"))
    }
}

/// A font size as written in a font description.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Size {
    /// Points, scaled by the dpi.
    Points(f32),
    /// `Npx`: pixels, whatever the dpi.
    Pixels(f32),
}

/// A parsed Pango-style font description.
#[derive(Clone, Copy, Debug, PartialEq)]
struct FontSpec {
    face: Face,
    size: Option<Size>,
}

/// Reads `sans-bold-24`, `monospace 12`, `DejaVu Sans Bold 10px`, ...: the last word is the
/// size when it is a number, weights `bold` and heavier pick the bold face, a family with
/// `mono` in it the monospace face; every other word is ignored.
fn parse_font(description: &str) -> FontSpec {
    let lower = description
        .to_ascii_lowercase()
        .replace(['-', '_', ','], " ");
    let mut words: Vec<&str> = lower.split_whitespace().collect();
    let size = words.last().and_then(|last| {
        let (number, pixels) = match last.strip_suffix("px") {
            Some(number) => (number, true),
            None => (*last, false),
        };
        let value = number.parse::<f32>().ok().filter(|v| v.is_finite())?;
        Some(if pixels {
            Size::Pixels(value)
        } else {
            Size::Points(value)
        })
    });
    if size.is_some() {
        words.pop();
    }
    let bold = words.iter().any(|word| {
        matches!(
            *word,
            "bold"
                | "semibold"
                | "demibold"
                | "extrabold"
                | "ultrabold"
                | "heavy"
                | "ultraheavy"
                | "black"
        )
    });
    let mono = words.iter().any(|word| word.contains("mono"));
    let face = match (mono, bold) {
        (true, _) => Face::Mono,
        (false, true) => Face::SansBold,
        (false, false) => Face::Sans,
    };
    FontSpec { face, size }
}

/// How lines are aligned to each other (and to the wrap width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Align {
    Low,
    Centre,
    High,
}

impl Align {
    fn from_arg(arg: &str) -> Self {
        match arg.to_ascii_lowercase().as_str() {
            "centre" | "center" => Self::Centre,
            "high" | "right" => Self::High,
            _ => Self::Low,
        }
    }
}

/// Where lines may break when they are wider than the wrap width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wrap {
    /// Between words; a word wider than the width sticks out.
    Word,
    /// Between any two characters.
    Char,
    /// Between words, and inside a word that is wider than the width on its own.
    WordChar,
    /// Only at newlines.
    None,
}

impl Wrap {
    fn from_arg(arg: &str) -> Self {
        match arg.to_ascii_lowercase().as_str() {
            "char" => Self::Char,
            "wordchar" | "word_char" | "word-char" => Self::WordChar,
            "none" => Self::None,
            _ => Self::Word,
        }
    }
}

/// Line settings of a layout.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Flow {
    /// Wrap width in pixels; `None` wraps only at newlines.
    width: Option<f32>,
    wrap: Wrap,
    align: Align,
    justify: bool,
    /// Extra pixels between lines.
    spacing: f32,
}

impl Flow {
    fn unwrapped() -> Self {
        Self {
            width: None,
            wrap: Wrap::Word,
            align: Align::Low,
            justify: false,
            spacing: 0.0,
        }
    }
}

/// One character of the text, in font units.
#[derive(Clone, Copy, Debug)]
struct Item {
    id: GlyphId,
    /// Advance to the next character, kerning included; font units.
    advance: f32,
    /// Whether a line may break after it (white space); white space at a line end hangs.
    space: bool,
    /// Unscaled outline bounds (`min.y` is the top, as ab_glyph stores them); `None` when
    /// the glyph draws nothing.
    bounds: Option<Rect>,
}

/// The text turned into glyphs, one list per paragraph (newline-separated).
#[derive(Debug)]
struct Shaped {
    font: &'static FontRef<'static>,
    paragraphs: Vec<Vec<Item>>,
}

impl Shaped {
    fn new(font: &'static FontRef<'static>, text: &str) -> Self {
        let normalised = text
            .replace("\r\n", "\n")
            .replace(['\r', '\u{2028}', '\u{2029}'], "\n");
        let space_advance = font.h_advance_unscaled(font.glyph_id(' '));
        let paragraphs = normalised
            .split('\n')
            .map(|paragraph| {
                let mut items: Vec<Item> = Vec::new();
                for c in paragraph.chars() {
                    if c == '\t' {
                        items.push(Item {
                            id: font.glyph_id(' '),
                            advance: space_advance * TAB_SPACES,
                            space: true,
                            bounds: None,
                        });
                        continue;
                    }
                    if c.is_control() {
                        continue;
                    }
                    let id = font.glyph_id(c);
                    if let Some(previous) = items.last_mut()
                        && !previous.space
                    {
                        previous.advance += font.kern_unscaled(previous.id, id);
                    }
                    let space = c.is_whitespace();
                    items.push(Item {
                        id,
                        advance: font.h_advance_unscaled(id),
                        space,
                        bounds: if space {
                            None
                        } else {
                            font.outline(id).map(|outline| outline.bounds)
                        },
                    });
                }
                items
            })
            .collect();
        Self { font, paragraphs }
    }

    fn is_blank(&self) -> bool {
        self.paragraphs
            .iter()
            .all(|items| items.iter().all(|item| item.bounds.is_none()))
    }
}

/// A glyph at its pen position (x, baseline y) in layout pixels.
#[derive(Clone, Copy, Debug)]
struct Placed {
    id: GlyphId,
    x: f32,
    y: f32,
}

/// The union of the glyph outlines, in layout pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ink {
    left: f32,
    top: f32,
    right: f32,
    bottom: f32,
}

impl Ink {
    fn width(&self) -> f32 {
        self.right - self.left
    }

    fn height(&self) -> f32 {
        self.bottom - self.top
    }

    fn add(ink: &mut Option<Self>, other: Self) {
        *ink = Some(match *ink {
            None => other,
            Some(ink) => Self {
                left: ink.left.min(other.left),
                top: ink.top.min(other.top),
                right: ink.right.max(other.right),
                bottom: ink.bottom.max(other.bottom),
            },
        });
    }
}

/// Text laid out at one size.
#[derive(Debug)]
struct Layout {
    scale: PxScale,
    glyphs: Vec<Placed>,
    ink: Option<Ink>,
}

/// The line breaks of one paragraph: `(start, end)` item ranges.
fn break_lines(advances: &[f32], items: &[Item], flow: &Flow) -> Vec<(usize, usize)> {
    let count = items.len();
    let width = match flow.width {
        Some(width) if flow.wrap != Wrap::None => width,
        _ => return vec![(0, count)],
    };
    // Tokens: [start, visible end) of content, then the white space hanging after it.
    let mut tokens: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < count {
        let start = i;
        let is_space = |k: usize| items.get(k).is_some_and(|item| item.space);
        if flow.wrap == Wrap::Char {
            if !is_space(i) {
                i += 1;
            }
            // Zero-width marks stay with the character before them.
            while i < count && !is_space(i) && advances.get(i).copied().unwrap_or(0.0) <= 0.0 {
                i += 1;
            }
        } else {
            while i < count && !is_space(i) {
                i += 1;
            }
        }
        let visible = i;
        while i < count && is_space(i) {
            i += 1;
        }
        tokens.push((start, visible, i));
    }
    let sum = |range: std::ops::Range<usize>| -> f32 {
        advances.get(range).map_or(0.0, |slice| slice.iter().sum())
    };
    let mut lines = Vec::new();
    let mut line_start = 0;
    let mut line_width = 0.0;
    let mut empty = true;
    for (start, visible, end) in tokens {
        let content = sum(start..visible);
        if !empty && line_width + content > width {
            lines.push((line_start, start));
            line_start = start;
            line_width = 0.0;
            empty = true;
        }
        if flow.wrap == Wrap::WordChar && empty && content > width {
            for k in start..visible {
                let advance = advances.get(k).copied().unwrap_or(0.0);
                if !empty && advance > 0.0 && line_width + advance > width {
                    lines.push((line_start, k));
                    line_start = k;
                    line_width = 0.0;
                }
                line_width += advance;
                empty = false;
            }
            line_width += sum(visible..end);
            continue;
        }
        line_width += sum(start..end);
        empty = false;
    }
    lines.push((line_start, count));
    lines
}

/// Lays `shaped` out at `em` pixels per em.
fn layout(shaped: &Shaped, em: f32, flow: &Flow) -> Layout {
    let font = shaped.font;
    let units = font.units_per_em().unwrap_or(2048.0).max(1.0);
    let factor = em / units;
    let scale = PxScale::from(em * font.height_unscaled() / units);
    let ascent = (font.ascent_unscaled() * factor).ceil();
    let descent = (-font.descent_unscaled() * factor).ceil();
    let pitch = ascent + descent + flow.spacing;

    // Lines of every paragraph: item ranges, pixel advances and visible widths.
    struct Line<'a> {
        items: &'a [Item],
        advances: Vec<f32>,
        visible: f32,
        last: bool,
    }
    let mut lines: Vec<Line<'_>> = Vec::new();
    for items in &shaped.paragraphs {
        let advances: Vec<f32> = items
            .iter()
            .map(|item| (item.advance * factor).round())
            .collect();
        let breaks = break_lines(&advances, items, flow);
        let count = breaks.len();
        for (index, (start, end)) in breaks.into_iter().enumerate() {
            let line_items = items.get(start..end).unwrap_or_default();
            let line_advances = advances.get(start..end).unwrap_or_default().to_vec();
            let visible_end = line_items
                .iter()
                .rposition(|item| !item.space)
                .map_or(0, |k| k + 1);
            let visible = line_advances
                .get(..visible_end)
                .map_or(0.0, |slice| slice.iter().sum());
            lines.push(Line {
                items: line_items,
                advances: line_advances,
                visible,
                last: index + 1 == count,
            });
        }
    }
    let reference = flow
        .width
        .filter(|_| flow.wrap != Wrap::None)
        .unwrap_or_else(|| lines.iter().map(|line| line.visible).fold(0.0, f32::max));

    let mut glyphs = Vec::new();
    let mut ink = None;
    for (index, line) in lines.iter().enumerate() {
        let baseline = ascent + index as f32 * pitch;
        let visible_end = line
            .items
            .iter()
            .rposition(|item| !item.space)
            .map_or(0, |k| k + 1);
        // Justification widens the spaces inside the line (not the last line of a paragraph).
        let gaps = line
            .items
            .get(..visible_end)
            .map_or(0, |items| items.iter().filter(|item| item.space).count());
        let stretch = match flow.width {
            Some(width) if flow.justify && !line.last && gaps > 0 && width > line.visible => {
                (width - line.visible) / gaps as f32
            }
            _ => 0.0,
        };
        let width = if stretch > 0.0 {
            reference
        } else {
            line.visible
        };
        let mut x = match flow.align {
            Align::Low => 0.0,
            Align::Centre => ((reference - width) / 2.0).round(),
            Align::High => reference - width,
        };
        for (k, (item, advance)) in line.items.iter().zip(&line.advances).enumerate() {
            if let Some(bounds) = item.bounds {
                glyphs.push(Placed {
                    id: item.id,
                    x,
                    y: baseline,
                });
                Ink::add(
                    &mut ink,
                    Ink {
                        left: x + bounds.min.x * factor,
                        top: baseline - bounds.min.y * factor,
                        right: x + bounds.max.x * factor,
                        bottom: baseline - bounds.max.y * factor,
                    },
                );
            }
            x += advance;
            if item.space && k < visible_end {
                x += stretch;
            }
        }
    }
    Layout { scale, glyphs, ink }
}

/// A rectangle of whole pixels: left, top, right, bottom (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    left: i64,
    top: i64,
    right: i64,
    bottom: i64,
}

impl Window {
    fn width(&self) -> i64 {
        self.right - self.left
    }

    fn height(&self) -> i64 {
        self.bottom - self.top
    }
}

/// Rasterises the part `window` (box pixels, the ink's top-left at 0, 0) of the laid-out text
/// into a coverage mask of the window's size.
fn rasterise(
    font: &FontRef<'_>,
    layout: &Layout,
    ink: Ink,
    window: Window,
    cancel: &Cancel,
) -> Result<Vec<f32>, ProcessError> {
    let mut meter = cancel.meter();
    let width = usize::try_from(window.width()).unwrap_or(0);
    let height = usize::try_from(window.height()).unwrap_or(0);
    let mut mask = vec![0.0f32; width.saturating_mul(height)];
    let budget = MIN_GLYPH_BUDGET.max(
        u64::try_from(mask.len())
            .unwrap_or(u64::MAX)
            .saturating_mul(4),
    );
    let mut area = 0u64;
    for placed in &layout.glyphs {
        let glyph = placed
            .id
            .with_scale_and_position(layout.scale, point(placed.x - ink.left, placed.y - ink.top));
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outlined.px_bounds();
        let (left, top) = (bounds.min.x as i64, bounds.min.y as i64);
        let (right, bottom) = (bounds.max.x as i64, bounds.max.y as i64);
        if right <= window.left
            || left >= window.right
            || bottom <= window.top
            || top >= window.bottom
        {
            continue;
        }
        let glyph_area = u64::try_from((right - left).max(0))
            .unwrap_or(0)
            .saturating_mul(u64::try_from((bottom - top).max(0)).unwrap_or(0));
        area = area.saturating_add(glyph_area);
        if area > budget {
            return Err(ProcessError::BadRequest("text is too large to draw".into()));
        }
        // Drawing a glyph costs a few operations per pixel of its box.
        meter.tick(
            usize::try_from(glyph_area)
                .unwrap_or(usize::MAX)
                .saturating_mul(4),
        )?;
        outlined.draw(|gx, gy, coverage| {
            let x = left + i64::from(gx) - window.left;
            let y = top + i64::from(gy) - window.top;
            let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) else {
                return;
            };
            if x >= width || y >= height {
                return;
            }
            if let Some(cell) = mask.get_mut(y * width + x) {
                let c = coverage.clamp(0.0, 1.0);
                *cell = *cell + c - *cell * c;
            }
        });
    }
    Ok(mask)
}

/// The visible span along one axis of a box at `offset` of size `size` on a canvas side of
/// `canvas`, in box pixels; tiled boxes show from their start.
fn visible_span(offset: i64, size: i64, canvas: i64, tiles: u32) -> (i64, i64) {
    if tiles > 1 {
        (0, size.min(canvas))
    } else {
        let start = offset.saturating_neg().clamp(0, size);
        let end = canvas.saturating_sub(offset).clamp(0, size);
        (start, end)
    }
}

/// What to draw with: the text colour and how opaque it is (0 for `none`).
fn colour(
    arg: Option<&str>,
    canvas: &DynamicImage,
    cancel: &Cancel,
) -> Result<([u8; 3], f32), ProcessError> {
    Ok(match arg.filter(|a| !a.is_empty()).map(paint::paint) {
        None | Some(Paint::Blur) => ([0, 0, 0], 1.0),
        Some(Paint::Rgb(rgb)) => (rgb, 1.0),
        Some(Paint::Auto) => (super::canvas::average(canvas, cancel)?, 1.0),
        Some(Paint::Transparent) => ([0, 0, 0], 0.0),
    })
}

/// An integer argument as Go's `Atoi` reads it (invalid is 0); `None` when missing or empty.
fn integer(arg: Option<&str>) -> Option<i64> {
    arg.filter(|a| !a.is_empty())
        .map(|a| a.parse::<i64>().unwrap_or(0))
}

/// The wrap width of `text`: pixels, `Np`, `0.x`, `f`/`full`, `f-N`/`full-N`; `None` for 0,
/// empty or negative.
fn wrap_width(arg: &str, canvas: u32) -> Option<f32> {
    let canvas = i64::from(canvas);
    let width = if arg == "f" || arg == "full" {
        canvas
    } else if let Some(n) = arg.strip_prefix("full-").or_else(|| arg.strip_prefix("f-")) {
        canvas.saturating_sub(n.parse::<i64>().unwrap_or(0))
    } else if let Some(n) = arg.strip_suffix('p') {
        n.parse::<i64>().unwrap_or(0).saturating_mul(canvas) / 100
    } else if arg.starts_with("0.") {
        (arg.parse::<f64>().unwrap_or(0.0) * canvas as f64).trunc() as i64
    } else {
        arg.parse::<i64>().unwrap_or(0)
    };
    (width > 0).then_some(width as f32)
}

/// Refuses text beyond [`MAX_TEXT_CHARS`].
fn check_length(text: &str) -> Result<(), ProcessError> {
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ProcessError::BadRequest(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}

/// How the laid-out text goes onto the canvas.
#[derive(Clone, Copy, Debug)]
struct Draw<'a> {
    x: &'a str,
    y: &'a str,
    colour: [u8; 3],
    opacity: f32,
    alpha: f64,
    blend: Blend,
    /// The box is at least this many pixels high (label).
    min_height: u32,
}

/// Places the text's ink box on `canvas`, rasterises the visible part and
/// composites it.
fn draw(
    canvas: &mut DynamicImage,
    shaped: &Shaped,
    layout: &Layout,
    how: Draw<'_>,
    cancel: &Cancel,
) -> Result<(), ProcessError> {
    let Some(ink) = layout.ink else {
        return Ok(());
    };
    let side = |v: f32| {
        let v = v.ceil();
        if v >= u32::MAX as f32 {
            u32::MAX
        } else if v > 0.0 {
            v as u32
        } else {
            0
        }
    };
    let box_w = side(ink.width()).max(1);
    let box_h = side(ink.height()).max(how.min_height).max(1);
    if !matches!(canvas, DynamicImage::ImageRgba8(_)) {
        let taken = std::mem::replace(canvas, DynamicImage::new_luma8(0, 0));
        *canvas = DynamicImage::ImageRgba8(taken.into_rgba8());
    }
    let (cw, ch) = (canvas.width(), canvas.height());
    let (x, across) = overlay::position(how.x, Axis::X, cw, box_w);
    let (y, down) = overlay::position(how.y, Axis::Y, ch, box_h);
    let (x0, x1) = visible_span(x, i64::from(box_w), i64::from(cw), across);
    let (y0, y1) = visible_span(y, i64::from(box_h), i64::from(ch), down);
    if x0 >= x1 || y0 >= y1 {
        return Ok(());
    }
    let window = Window {
        left: x0,
        top: y0,
        right: x1,
        bottom: y1,
    };
    let mask = rasterise(shaped.font, layout, ink, window, cancel)?;
    cancel.check()?;
    let (Ok(w), Ok(h)) = (
        u32::try_from(window.width()),
        u32::try_from(window.height()),
    ) else {
        return Ok(());
    };
    let [r, g, b] = how.colour;
    let mut pixels = mask.iter();
    let overlay_image = RgbaImage::from_fn(w, h, |_, _| {
        let coverage = pixels.next().copied().unwrap_or(0.0) * how.opacity;
        let a = (coverage * 255.0).round().clamp(0.0, 255.0) as u8;
        image::Rgba([r, g, b, a])
    });
    let placement = Placement {
        x: if across > 1 { x } else { x.saturating_add(x0) },
        y: if down > 1 { y } else { y.saturating_add(y0) },
        across,
        down,
    };
    cancel.check()?;
    let blend = (how.alpha, how.blend);
    overlay::composite(canvas, &overlay_image, placement, blend, cancel)
}

/// `text(text, x, y[, font[, color[, alpha[, blend[, width[, align[, justify[, wrap[,
/// spacing[, dpi]]]]]]]]]])` on `canvas`.
///
/// Checks `cancel` while rasterising (per glyph) and compositing (per row).
pub(crate) fn text(
    canvas: &mut DynamicImage,
    args: &str,
    cancel: &Cancel,
) -> Result<(), ProcessError> {
    let args = path::split_args(args);
    let arg = |i: usize| args.get(i).copied();
    let Some(raw) = arg(0) else {
        return Ok(());
    };
    let content = overlay::decoded_text(raw);
    check_length(&content)?;
    let spec = parse_font(arg(3).filter(|a| !a.is_empty()).unwrap_or("sans-20"));
    let dpi = integer(arg(12)).unwrap_or(72);
    if dpi < 1 {
        return Err(ProcessError::BadRequest(
            "text dpi must be at least 1".into(),
        ));
    }
    let em = match spec.size {
        Some(Size::Pixels(px)) if px > 0.0 => px,
        Some(Size::Points(pt)) if pt > 0.0 => pt * dpi as f32 / 72.0,
        _ => 20.0 * dpi as f32 / 72.0,
    };
    if !em.is_finite() || em > MAX_FONT_PX {
        return Err(ProcessError::BadRequest(format!(
            "text font size must be at most {MAX_FONT_PX} pixels"
        )));
    }
    let spacing = integer(arg(11)).unwrap_or(0);
    if !(0..=MAX_SPACING).contains(&spacing) {
        return Err(ProcessError::BadRequest(format!(
            "text spacing must be between 0 and {MAX_SPACING}"
        )));
    }
    let shaped = Shaped::new(spec.face.font()?, &content);
    if shaped.is_blank() {
        return Ok(());
    }
    let flow = Flow {
        width: arg(7).and_then(|w| wrap_width(w, canvas.width())),
        wrap: Wrap::from_arg(arg(10).unwrap_or_default()),
        align: Align::from_arg(arg(8).unwrap_or_default()),
        justify: matches!(arg(9), Some("true" | "1")),
        spacing: spacing as f32,
    };
    let layout = layout(&shaped, em, &flow);
    let (colour, opacity) = colour(arg(4), canvas, cancel)?;
    let how = Draw {
        x: arg(1).unwrap_or_default(),
        y: arg(2).unwrap_or_default(),
        colour,
        opacity,
        alpha: arg(5).map_or(0.0, overlay::number),
        blend: Blend::from_name(arg(6).unwrap_or_default()),
        min_height: 0,
    };
    draw(canvas, &shaped, &layout, how, cancel)
}

/// `label(text, x, y[, size[, color[, alpha[, font]]]])` on `canvas`.
///
/// Checks `cancel` as [`text`] does.
pub(crate) fn label(
    canvas: &mut DynamicImage,
    args: &str,
    cancel: &Cancel,
) -> Result<(), ProcessError> {
    let args = path::split_args(args);
    let arg = |i: usize| args.get(i).copied();
    let Some(raw) = arg(0) else {
        return Ok(());
    };
    let content = overlay::decoded_text(raw);
    check_length(&content)?;
    let size = match integer(arg(3)) {
        Some(size) if size > 0 => size,
        _ => 20,
    };
    if size as f32 > MAX_FONT_PX {
        return Err(ProcessError::BadRequest(format!(
            "label size must be at most {MAX_FONT_PX}"
        )));
    }
    let spec = parse_font(arg(6).filter(|a| !a.is_empty()).unwrap_or("sans"));
    let shaped = Shaped::new(spec.face.font()?, &content);
    if shaped.is_blank() {
        return Ok(());
    }
    let em = fit(&shaped, size as f32, LABEL_BOX_WIDTH);
    let layout = layout(&shaped, em, &Flow::unwrapped());
    let (colour, opacity) = colour(arg(4), canvas, cancel)?;
    let how = Draw {
        x: arg(1).unwrap_or_default(),
        y: arg(2).unwrap_or_default(),
        colour,
        opacity,
        alpha: arg(5).map_or(0.0, overlay::number),
        blend: Blend::Normal,
        min_height: u32::try_from(size).unwrap_or(0),
    };
    draw(canvas, &shaped, &layout, how, cancel)
}

/// The largest em size (up to [`MAX_FONT_PX`]) whose ink fits `width` × `height` pixels, found
/// by bisection (as libvips' autofit searches its dpi).
fn fit(shaped: &Shaped, height: f32, width: f32) -> f32 {
    let fits = |em: f32| {
        layout(shaped, em, &Flow::unwrapped())
            .ink
            .is_none_or(|ink| ink.height() <= height && ink.width() <= width)
    };
    if fits(MAX_FONT_PX) {
        return MAX_FONT_PX;
    }
    let (mut low, mut high) = (0.0f32, MAX_FONT_PX);
    for _ in 0..24 {
        let middle = (low + high) / 2.0;
        if fits(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaped(face: Face, text: &str) -> Shaped {
        Shaped::new(face.font().expect("bundled font"), text)
    }

    fn ink(face: Face, text: &str, em: f32, flow: &Flow) -> Ink {
        layout(&shaped(face, text), em, flow).ink.expect("ink")
    }

    #[test]
    fn font_descriptions() {
        let cases = [
            ("sans-bold-24", Face::SansBold, Some(Size::Points(24.0))),
            ("sans 20", Face::Sans, Some(Size::Points(20.0))),
            ("monospace", Face::Mono, None),
            ("Mono-Bold-12", Face::Mono, Some(Size::Points(12.0))),
            (
                "DejaVu Sans Mono 10.5",
                Face::Mono,
                Some(Size::Points(10.5)),
            ),
            (
                "sans-serif-semibold-10px",
                Face::SansBold,
                Some(Size::Pixels(10.0)),
            ),
            ("tahoma", Face::Sans, None),
            ("serif-italic-18", Face::Sans, Some(Size::Points(18.0))),
            ("", Face::Sans, None),
            ("24", Face::Sans, Some(Size::Points(24.0))),
        ];
        for (text, face, size) in cases {
            assert_eq!(parse_font(text), FontSpec { face, size }, "{text}");
        }
    }

    #[test]
    fn text_arguments_decode() {
        assert_eq!(overlay::decoded_text("b64:SGVsbG8gV29ybGQ"), "Hello World");
        assert_eq!(overlay::decoded_text("a%20b+c"), "a b c");
        assert_eq!(overlay::decoded_text("b64:!!"), "b64:!!");
        assert_eq!(overlay::decoded_text("100%zz"), "100%zz");
        assert_eq!(overlay::decoded_text("line%0Anext"), "line\nnext");
    }

    #[test]
    fn wrap_widths() {
        for (arg, expected) in [
            ("120", Some(120.0)),
            ("60p", Some(192.0)),
            ("0.5", Some(160.0)),
            ("f", Some(320.0)),
            ("full", Some(320.0)),
            ("f-40", Some(280.0)),
            ("full-40", Some(280.0)),
            ("f-400", None),
            ("0", None),
            ("", None),
            ("-5", None),
            ("abc", None),
        ] {
            assert_eq!(wrap_width(arg, 320), expected, "{arg}");
        }
    }

    #[test]
    fn ink_follows_the_font_size() {
        // Golden: "IMAGOR" in sans 20 is about 80 pixels wide, in sans bold 24 about 108.
        let flow = Flow::unwrapped();
        let regular = ink(Face::Sans, "IMAGOR", 20.0, &flow);
        assert!((78.0..84.0).contains(&regular.width()), "{regular:?}");
        assert!((13.0..17.0).contains(&regular.height()), "{regular:?}");
        let bold = ink(Face::SansBold, "IMAGOR", 24.0, &flow);
        assert!((105.0..111.0).contains(&bold.width()), "{bold:?}");
        let double = ink(Face::Sans, "IMAGOR", 40.0, &flow);
        assert!((double.width() / regular.width() - 2.0).abs() < 0.05);
        // Monospace: every advance is the same.
        let narrow = ink(Face::Mono, "iiii", 20.0, &flow);
        let wide = ink(Face::Mono, "MMMM", 20.0, &flow);
        assert!((narrow.right - wide.right).abs() < 3.0);
    }

    #[test]
    fn lines_wrap_by_word_char_or_not_at_all() {
        // Golden: "Hello World from imagor" in sans 18 breaks after "World" at 120 pixels,
        // after "from" at 192, and not at 280; lines are 22 pixels apart.
        let text = "Hello World from imagor";
        let flow = |width: f32, wrap: Wrap| Flow {
            width: Some(width),
            wrap,
            ..Flow::unwrapped()
        };
        let one = ink(Face::Sans, text, 18.0, &flow(280.0, Wrap::Word));
        let two = ink(Face::Sans, text, 18.0, &flow(120.0, Wrap::Word));
        let wide = ink(Face::Sans, text, 18.0, &flow(192.0, Wrap::Word));
        assert!((one.height() - two.height() + 22.0).abs() < 0.01);
        assert!(two.width() <= 120.0 && two.width() > 100.0, "{two:?}");
        assert!(wide.width() > 140.0 && wide.width() <= 192.0, "{wide:?}");
        let none = ink(Face::Sans, text, 18.0, &flow(50.0, Wrap::None));
        assert!((none.width() - one.width()).abs() < 0.01);
        // A word wider than the width sticks out by word, is cut by char and wordchar.
        let long = "Supercalifragilistic";
        let word = ink(Face::Sans, long, 18.0, &flow(60.0, Wrap::Word));
        let chars = ink(Face::Sans, long, 18.0, &flow(60.0, Wrap::Char));
        let both = ink(Face::Sans, long, 18.0, &flow(60.0, Wrap::WordChar));
        assert!(word.width() > 60.0 && chars.width() <= 60.0 && both.width() <= 60.0);
        assert!(chars.height() > word.height() * 2.0);
        // Explicit newlines always break, blank lines included.
        let lines = ink(Face::Sans, "A\n\nA", 18.0, &Flow::unwrapped());
        let single = ink(Face::Sans, "A", 18.0, &Flow::unwrapped());
        assert!((lines.height() - single.height() - 44.0).abs() < 0.01);
    }

    #[test]
    fn alignment_and_justification() {
        let text = "Hello World from imagor";
        let place = |align: Align, justify: bool| {
            let flow = Flow {
                width: Some(200.0),
                align,
                justify,
                ..Flow::unwrapped()
            };
            layout(&shaped(Face::Sans, text), 18.0, &flow)
        };
        // The second line ("imagor") starts at 0 on the left, further right centred or right.
        let starts = |layout: &Layout| {
            let baseline = layout.glyphs.last().map_or(0.0, |g| g.y);
            layout
                .glyphs
                .iter()
                .find(|g| g.y == baseline)
                .map_or(0.0, |g| g.x)
        };
        let (low, centre, high) = (
            place(Align::Low, false),
            place(Align::Centre, false),
            place(Align::High, false),
        );
        assert_eq!(starts(&low), 0.0);
        assert!(starts(&centre) > 50.0 && starts(&high) > starts(&centre));
        // Justified: the first line reaches the width.
        let justified = place(Align::Low, true);
        let first_line_right = |layout: &Layout| {
            layout
                .glyphs
                .iter()
                .filter(|g| g.y == layout.glyphs.first().map_or(0.0, |f| f.y))
                .map(|g| g.x)
                .fold(0.0, f32::max)
        };
        assert!(first_line_right(&justified) > first_line_right(&low) + 20.0);
        assert!(justified.ink.is_some_and(|i| i.right <= 201.0));
    }

    #[test]
    fn labels_fit_their_size() {
        // Golden: label(IMAGOR,...,30) draws ink about 151 × 29, size 25 about 138 × 25.
        for size in [10.0, 25.0, 30.0, 80.0] {
            let imagor = shaped(Face::Sans, "IMAGOR");
            let em = fit(&imagor, size, LABEL_BOX_WIDTH);
            let ink = layout(&imagor, em, &Flow::unwrapped()).ink.expect("ink");
            assert!(ink.height() <= size && ink.height() > size - 0.5, "{size}");
        }
        let imagor = shaped(Face::Sans, "IMAGOR");
        let ink = layout(&imagor, fit(&imagor, 30.0, 9999.0), &Flow::unwrapped())
            .ink
            .expect("ink");
        assert!((145.0..162.0).contains(&ink.width()), "{ink:?}");
        // The width bound: a long line is shrunk to fit.
        let wide = "W".repeat(400);
        let shaped_wide = shaped(Face::Sans, &wide);
        let em = fit(&shaped_wide, 100.0, 9999.0);
        let ink = layout(&shaped_wide, em, &Flow::unwrapped())
            .ink
            .expect("ink");
        assert!(ink.width() <= 9999.0 && ink.height() < 100.0);
    }

    #[test]
    fn only_the_visible_window_is_rasterised() {
        let imagor = shaped(Face::Sans, "IMAGOR");
        let layout = layout(&imagor, 40.0, &Flow::unwrapped());
        let ink = layout.ink.expect("ink");
        let window = Window {
            left: 10,
            top: 5,
            right: 30,
            bottom: 15,
        };
        let mask = rasterise(imagor.font, &layout, ink, window, &Cancel::new()).expect("small");
        assert_eq!(mask.len(), 200);
        // The stem of the I covers the window's left column.
        assert!(mask.iter().any(|&c| c > 0.9));
        assert_eq!(visible_span(-20, 100, 50, 1), (20, 70));
        assert_eq!(visible_span(30, 100, 50, 1), (0, 20));
        assert_eq!(visible_span(60, 100, 50, 1), (0, 0));
        assert_eq!(visible_span(0, 10, 50, 6), (0, 10));
        assert_eq!(visible_span(i64::MIN, 10, 50, 1), (10, 10));
        assert_eq!(visible_span(i64::MAX, 10, 50, 1), (0, 0));
    }

    #[test]
    fn glyph_work_is_bounded() {
        // 1000 stacked glyphs of 1000 pixels would be far beyond the budget.
        let mut canvas = DynamicImage::new_rgba8(2000, 2000);
        let marks = "\u{0301}".repeat(999);
        let text_arg = format!("O{marks},0,0,sans-1000px");
        assert!(matches!(
            text(&mut canvas, &text_arg, &Cancel::new()),
            Err(ProcessError::BadRequest(_))
        ));
    }
}
