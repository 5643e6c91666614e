//! [`metadata`]: the `/meta` answer — what an image request would
//! produce, described instead of encoded.
//!
//! The source is decoded and processed exactly as for an image (geometry, pipeline filters,
//! frames); the result is described by its output format and MIME type, its size (one frame),
//! the frame count, the number of channels, and the source's EXIF orientation and tags
//! (empty with `strip_exif()`). Three filters add fields: `avgcolor()` (mean colour, alpha
//! flattened onto white), `blurhash(x,y)` (a BlurHash with x × y components) and
//! `thumbhash()` (a ThumbHash of a copy of at most 100 pixels a side, standard base64).
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{metadata, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::from_pixel(400, 300, image::Rgb([250, 0, 0]))
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! // `/meta/fit-in/100x100/filters:avgcolor()/...` on a red 400×300 PNG.
//! let params = Params {
//!     meta: true,
//!     fit_in: true,
//!     width: 100,
//!     height: 100,
//!     filters: vec![Filter::new("avgcolor", "")],
//!     ..Default::default()
//! };
//! let meta = metadata(&png, &params, &Options::default()).unwrap();
//! assert_eq!((meta.width(), meta.height(), meta.pages(), meta.bands()), (100, 75, 1, 3));
//! assert_eq!(
//!     meta.to_json(),
//!     r#"{"format":"png","content_type":"image/png","width":100,"height":75,"orientation":0,"pages":1,"bands":3,"exif":{},"average_color":{"r":250,"g":0,"b":0}}"#
//! );
//! ```

use std::collections::BTreeMap;
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader};
use serde::Serialize;

use super::cancel::Cancel;
use super::error::ProcessError;
use super::filter::Settings;
use super::format::Format;
use super::options::Options;
use super::render::Rendered;
use super::render::render;
use super::render::render_color;
use super::{decode, exif, ops};
use crate::path::Params;

/// Widest reduction `avgcolor()` and `blurhash(x,y)` are computed on.
const HASH_WIDTH: u32 = 64;

/// The description of a processed image, as `/meta` answers it. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Metadata {
    format: &'static str,
    content_type: &'static str,
    width: u32,
    height: u32,
    orientation: u16,
    pages: u32,
    bands: u8,
    exif: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blurhash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbhash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    average_color: Option<AverageColor>,
}

/// `average_color` of the JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
struct AverageColor {
    r: u8,
    g: u8,
    b: u8,
}

impl Metadata {
    /// The output format's name (`jpeg`, `png`, `gif`, `webp`, `tiff`), or `svg` for an SVG
    /// source with no `format(...)`.
    pub fn format(&self) -> &str {
        self.format
    }

    /// The output format's MIME type.
    pub fn content_type(&self) -> &str {
        self.content_type
    }

    /// Width of the output.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of one frame of the output.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The EXIF orientation tag of the source (1–8), 0 when it has none.
    pub fn orientation(&self) -> u16 {
        self.orientation
    }

    /// Frames of the output (1 for still images).
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Channels of the processed canvas: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
    pub fn bands(&self) -> u8 {
        self.bands
    }

    /// The source's EXIF tags by name (empty with `strip_exif()`).
    pub fn exif(&self) -> &BTreeMap<String, String> {
        &self.exif
    }

    /// The BlurHash asked for with `blurhash(x,y)`.
    pub fn blurhash(&self) -> Option<&str> {
        self.blurhash.as_deref()
    }

    /// The ThumbHash asked for with `thumbhash()`, standard base64 with padding.
    pub fn thumbhash(&self) -> Option<&str> {
        self.thumbhash.as_deref()
    }

    /// The mean colour asked for with `avgcolor()`.
    pub fn average_color(&self) -> Option<[u8; 3]> {
        self.average_color.map(|c| [c.r, c.g, c.b])
    }

    /// The compact JSON body imagor sends, keys in its order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Decodes and processes `input` as [`process`](super::process) would, and describes the
/// result instead of encoding it.
///
/// # Errors
///
/// The errors of [`process`](super::process), and [`ProcessError::BadRequest`] for
/// `avgcolor(...)` or `thumbhash(...)` with arguments, or a `blurhash` without two integers
/// in 1..=9.
pub fn metadata(
    input: &[u8],
    params: &Params,
    options: &Options,
) -> Result<Metadata, ProcessError> {
    options.cancel.check()?;
    let params = &*options.policy.apply(params);
    let extras = MetaFilters::read(params)?;
    let settings = Settings::from_filters(&params.filters);
    let requested = super::render::requested_format(&settings)?;
    super::cost::check(&super::cost::estimate(input, params, options)?, options)?;
    let (orientation, exif) = source_exif(input);
    let (format, image, pages) = match render(input, params, &settings, requested, options)? {
        Rendered::Frames(animation) => {
            let format = match requested.unwrap_or(animation.source) {
                Format::Webp => Format::Webp,
                _ => Format::Gif,
            };
            let pages = u32::try_from(animation.frames.len()).unwrap_or(u32::MAX);
            let first = animation
                .into_iter()
                .next()
                .map(|(frame, _)| DynamicImage::ImageRgba8(frame))
                .ok_or_else(|| ProcessError::image("animation has no frames"))?;
            (format, first, pages)
        }
        // imagor names the loader for SVG when no `format(...)` converts it.
        Rendered::Still {
            image,
            source: Format::Svg,
            ..
        } if requested.is_none() => (Format::Svg, image, 1),
        Rendered::Still { image, source, .. } => (
            requested.unwrap_or_else(|| source.default_output()),
            image,
            1,
        ),
    };
    let exif = if extras.strip_exif {
        BTreeMap::new()
    } else {
        exif
    };
    let source = Source {
        pages,
        orientation,
        exif,
    };
    describe(format, &image, source, &extras, &options.cancel)
}

/// What [`describe`] reports about the source besides the image.
#[derive(Debug, Default)]
struct Source {
    pages: u32,
    orientation: u16,
    exif: BTreeMap<String, String>,
}

/// [`metadata`] for a `color:<c>` source (see [`process_color`](super::process_color)).
///
/// # Errors
///
/// The errors of [`process_color`](super::process_color) and of [`metadata`].
pub fn metadata_color(params: &Params, options: &Options) -> Result<Metadata, ProcessError> {
    options.cancel.check()?;
    let params = &*options.policy.apply(params);
    let extras = MetaFilters::read(params)?;
    let settings = Settings::from_filters(&params.filters);
    let requested = super::render::requested_format(&settings)?;
    super::cost::check(&super::cost::estimate_color(params, options)?, options)?;
    let image = render_color(params, &settings, options)?;
    let format = requested.unwrap_or(Format::Jpeg);
    let source = Source {
        pages: 1,
        ..Source::default()
    };
    describe(format, &image, source, &extras, &options.cancel)
}

fn describe(
    format: Format,
    image: &DynamicImage,
    source: Source,
    extras: &MetaFilters,
    cancel: &Cancel,
) -> Result<Metadata, ProcessError> {
    let Source {
        pages,
        orientation,
        exif,
    } = source;
    let needs_small = extras.avgcolor || extras.blurhash.is_some();
    let small = if needs_small && image.width() > HASH_WIDTH {
        let height = u32::try_from(
            u64::from(image.height()) * u64::from(HASH_WIDTH) / u64::from(image.width()),
        )
        .unwrap_or(u32::MAX)
        .max(1);
        Some(ops::resize::scale(image, HASH_WIDTH, height, cancel)?)
    } else {
        None
    };
    let small = small.as_ref().unwrap_or(image);
    let average_color = if extras.avgcolor {
        let [r, g, b] = ops::canvas::average(small, cancel)?;
        Some(AverageColor { r, g, b })
    } else {
        None
    };
    let blurhash = extras.blurhash.map(|(x, y)| {
        let rgb = ops::color::without_alpha(small).to_rgb8();
        blurhash(&rgb, x, y)
    });
    let thumbhash = if extras.thumbhash {
        let (w, h) = (image.width().max(1), image.height().max(1));
        let scale = (f64::from(THUMB_SIDE) / f64::from(w.max(h))).min(1.0);
        let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, THUMB_SIDE);
        let rgba = if scale < 1.0 {
            ops::resize::scale(image, side(w), side(h), cancel)?.to_rgba8()
        } else {
            image.to_rgba8()
        };
        let bytes = thumbhash(&rgba);
        Some(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            bytes,
        ))
    } else {
        None
    };
    Ok(Metadata {
        format: format.name(),
        content_type: format.content_type(),
        width: image.width(),
        height: image.height(),
        orientation,
        pages,
        bands: image.color().channel_count(),
        exif,
        blurhash,
        thumbhash,
        average_color,
    })
}

/// The `/meta`-only filters of a request.
#[derive(Debug, Default)]
struct MetaFilters {
    avgcolor: bool,
    blurhash: Option<(u32, u32)>,
    thumbhash: bool,
    strip_exif: bool,
}

impl MetaFilters {
    fn read(params: &Params) -> Result<Self, ProcessError> {
        let mut out = Self::default();
        for filter in &params.filters {
            let args = filter.args.as_str();
            match filter.name.as_str() {
                "avgcolor" if !args.is_empty() => {
                    return Err(ProcessError::BadRequest(
                        "avgcolor filter takes no arguments".into(),
                    ));
                }
                "avgcolor" => out.avgcolor = true,
                "thumbhash" if !args.is_empty() => {
                    return Err(ProcessError::BadRequest(
                        "thumbhash filter takes no arguments".into(),
                    ));
                }
                "thumbhash" => out.thumbhash = true,
                "blurhash" => {
                    let parts: Vec<Option<u32>> =
                        args.split(',').map(|v| v.trim().parse().ok()).collect();
                    match parts.as_slice() {
                        [Some(x @ 1..=9), Some(y @ 1..=9)] => out.blurhash = Some((*x, *y)),
                        _ => {
                            return Err(ProcessError::BadRequest(
                                "blurhash x and y components must be between 1 and 9".into(),
                            ));
                        }
                    }
                }
                "strip_exif" => out.strip_exif = true,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// The EXIF orientation and tags of the source, read from its header only.
fn source_exif(input: &[u8]) -> (u16, BTreeMap<String, String>) {
    let Some(format) = Format::sniff(input) else {
        return (0, BTreeMap::new());
    };
    // A WebP chunk past the end of the file would be allocated at its claimed size.
    if matches!(format, Format::Gif | Format::Bmp | Format::Svg)
        || (format == Format::Webp && !decode::webp_chunks_fit(input))
    {
        return (0, BTreeMap::new());
    }
    let reader = ImageReader::with_format(Cursor::new(input), format.image_format());
    let Ok(mut decoder) = reader.into_decoder() else {
        return (0, BTreeMap::new());
    };
    let block = decoder.exif_metadata().ok().flatten();
    let tags = block.as_deref().map(exif::tags).unwrap_or_default();
    let orientation = match (&block, format) {
        (Some(block), _) => exif::orientation(block),
        // TIFF keeps the orientation in its own tags.
        (None, Format::Tiff) => decoder.orientation().map_or(0, |o| u16::from(o.to_exif())),
        (None, _) => 0,
    };
    (orientation, tags)
}

/// Longest side `thumbhash()` is computed on.
const THUMB_SIDE: u32 = 100;

/// JavaScript's `Math.round`: halves go up.
fn round_half_up(v: f64) -> f64 {
    (v + 0.5).floor()
}

/// The DCT terms of one ThumbHash channel: the constant, the normalised varying terms and
/// their scale.
fn thumb_channel(
    channel: &[f64],
    w: usize,
    h: usize,
    nx: usize,
    ny: usize,
) -> (f64, Vec<f64>, f64) {
    let pi = std::f64::consts::PI;
    let (mut dc, mut ac, mut scale) = (0.0, Vec::new(), 0.0f64);
    for cy in 0..ny {
        let mut cx = 0;
        while cx * ny < nx * (ny - cy) {
            let fx: Vec<f64> = (0..w)
                .map(|x| (pi / w as f64 * cx as f64 * (x as f64 + 0.5)).cos())
                .collect();
            let mut f = 0.0;
            for y in 0..h {
                let fy = (pi / h as f64 * cy as f64 * (y as f64 + 0.5)).cos();
                for (x, fxx) in fx.iter().enumerate() {
                    f += channel.get(x + y * w).copied().unwrap_or(0.0) * fxx * fy;
                }
            }
            f /= (w * h) as f64;
            if cx > 0 || cy > 0 {
                scale = scale.max(f.abs());
                ac.push(f);
            } else {
                dc = f;
            }
            cx += 1;
        }
    }
    if scale > 0.0 {
        for v in &mut ac {
            *v = 0.5 + 0.5 / scale * *v;
        }
    }
    (dc, ac, scale)
}

/// The ThumbHash bytes of an RGBA image of at most 100×100.
fn thumbhash(image: &image::RgbaImage) -> Vec<u8> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let pixels: Vec<[f64; 4]> = image.pixels().map(|p| p.0.map(f64::from)).collect();
    let (mut avg, mut avg_a) = ([0.0f64; 3], 0.0f64);
    for [r, g, b, a] in &pixels {
        let alpha = a / 255.0;
        for (sum, v) in avg.iter_mut().zip([r, g, b]) {
            *sum += alpha / 255.0 * v;
        }
        avg_a += alpha;
    }
    if avg_a > 0.0 {
        for sum in &mut avg {
            *sum /= avg_a;
        }
    }
    let has_alpha = avg_a < (w * h) as f64;
    let limit = if has_alpha { 5.0 } else { 7.0 };
    let long = w.max(h).max(1) as f64;
    let lx = round_half_up(limit * w as f64 / long).max(1.0) as usize;
    let ly = round_half_up(limit * h as f64 / long).max(1.0) as usize;
    let (mut l, mut p, mut q, mut a) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for [r, g, b, alpha] in &pixels {
        let alpha = alpha / 255.0;
        let mix = |avg: f64, v: f64| avg * (1.0 - alpha) + alpha / 255.0 * v;
        let (r, g, b) = (mix(avg[0], *r), mix(avg[1], *g), mix(avg[2], *b));
        l.push((r + g + b) / 3.0);
        p.push((r + g) / 2.0 - b);
        q.push(r - g);
        a.push(alpha);
    }
    let (l_dc, l_ac, l_scale) = thumb_channel(&l, w, h, lx.max(3), ly.max(3));
    let (p_dc, p_ac, p_scale) = thumb_channel(&p, w, h, 3, 3);
    let (q_dc, q_ac, q_scale) = thumb_channel(&q, w, h, 3, 3);
    let alpha_terms = has_alpha.then(|| thumb_channel(&a, w, h, 5, 5));
    let landscape = w > h;
    let bits = |v: f64| round_half_up(v) as u32;
    let header24 = bits(63.0 * l_dc)
        | (bits(31.5 + 31.5 * p_dc) << 6)
        | (bits(31.5 + 31.5 * q_dc) << 12)
        | (bits(31.0 * l_scale) << 18)
        | (u32::from(has_alpha) << 23);
    let header16 = (if landscape { ly } else { lx }) as u32
        | (bits(63.0 * p_scale) << 3)
        | (bits(63.0 * q_scale) << 9)
        | (u32::from(landscape) << 15);
    let mut hash = vec![
        (header24 & 255) as u8,
        ((header24 >> 8) & 255) as u8,
        ((header24 >> 16) & 255) as u8,
        (header16 & 255) as u8,
        ((header16 >> 8) & 255) as u8,
    ];
    let mut groups = vec![l_ac, p_ac, q_ac];
    if let Some((a_dc, a_ac, a_scale)) = alpha_terms {
        hash.push((bits(15.0 * a_dc) | (bits(15.0 * a_scale) << 4)) as u8);
        groups.push(a_ac);
    }
    let start = hash.len();
    for (index, f) in groups.iter().flatten().enumerate() {
        let at = start + index / 2;
        if hash.len() <= at {
            hash.push(0);
        }
        let nibble = (bits(15.0 * f) & 15) as u8;
        if let Some(byte) = hash.get_mut(at) {
            *byte |= nibble << ((index & 1) * 4);
        }
    }
    hash
}

/// Base 83 digits of BlurHash.
const BASE83: &[u8; 83] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

fn base83(mut value: u32, digits: u32, out: &mut String) {
    let mut chars = Vec::new();
    for _ in 0..digits {
        chars.push(char::from(BASE83[(value % 83) as usize]));
        value /= 83;
    }
    out.extend(chars.iter().rev());
}

fn to_linear(value: u8) -> f64 {
    let v = f64::from(value) / 255.0;
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn to_srgb(value: f64) -> u32 {
    let v = value.clamp(0.0, 1.0);
    let encoded = if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    };
    (encoded * 255.0 + 0.5) as u32
}

/// The BlurHash of `image` with `x` × `y` components (each 1..=9).
fn blurhash(image: &image::RgbImage, x: u32, y: u32) -> String {
    let (width, height) = image.dimensions();
    let linear: Vec<[f64; 3]> = image.pixels().map(|p| p.0.map(to_linear)).collect();
    let pixels = f64::from(width.max(1)) * f64::from(height.max(1));
    let mut factors = Vec::new();
    for j in 0..y {
        for i in 0..x {
            let norm = if i == 0 && j == 0 { 1.0 } else { 2.0 };
            let mut sum = [0.0f64; 3];
            for (index, rgb) in linear.iter().enumerate() {
                let px = (index % width.max(1) as usize) as f64;
                let py = (index / width.max(1) as usize) as f64;
                let basis = (std::f64::consts::PI * f64::from(i) * px / f64::from(width)).cos()
                    * (std::f64::consts::PI * f64::from(j) * py / f64::from(height)).cos();
                for (s, c) in sum.iter_mut().zip(rgb) {
                    *s += basis * c;
                }
            }
            factors.push(sum.map(|s| s * norm / pixels));
        }
    }
    let mut out = String::new();
    base83((x - 1) + (y - 1) * 9, 1, &mut out);
    let (dc, ac) = factors
        .split_first()
        .map_or(([0.0; 3], &[][..]), |(d, a)| (*d, a));
    let max_value = if ac.is_empty() {
        base83(0, 1, &mut out);
        1.0
    } else {
        let actual = ac
            .iter()
            .flat_map(|f| f.iter().map(|v| v.abs()))
            .fold(0.0f64, f64::max);
        let quantised = (actual * 166.0 - 0.5).floor().clamp(0.0, 82.0);
        base83(quantised as u32, 1, &mut out);
        (quantised + 1.0) / 166.0
    };
    let [r, g, b] = dc.map(to_srgb);
    base83((r << 16) + (g << 8) + b, 4, &mut out);
    for factor in ac {
        let q = factor.map(|v| {
            let scaled = v / max_value;
            let signed = scaled.signum() * scaled.abs().sqrt();
            (signed * 9.0 + 9.5).floor().clamp(0.0, 18.0) as u32
        });
        base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Filter;
    use image::{Rgb, RgbImage};

    fn png(image: &DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .expect("encode");
        bytes
    }

    fn with_filters(filters: &[(&str, &str)]) -> Params {
        Params {
            meta: true,
            filters: filters.iter().map(|(n, a)| Filter::new(*n, *a)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn blurhash_of_a_flat_image_is_its_colour() {
        let flat = RgbImage::from_pixel(8, 8, Rgb([255, 0, 0]));
        // One component: size flag 0, max 0, then the DC colour #ff0000.
        let hash = blurhash(&flat, 1, 1);
        assert_eq!(hash.len(), 6);
        assert_eq!(&hash[..2], "00");
        let mut dc = String::new();
        base83(0xff0000, 4, &mut dc);
        assert_eq!(&hash[2..], dc);
        assert_eq!(blurhash(&flat, 4, 3).len(), 4 + 2 + 2 * 11);
    }

    #[test]
    fn meta_filters_check_their_arguments() {
        let image = png(&DynamicImage::ImageRgb8(RgbImage::new(4, 4)));
        let options = Options::default();
        for (name, args) in [
            ("avgcolor", "1"),
            ("thumbhash", "x"),
            ("blurhash", "0,3"),
            ("blurhash", "4"),
            ("blurhash", "10,1"),
            ("blurhash", ""),
        ] {
            let err = metadata(&image, &with_filters(&[(name, args)]), &options).unwrap_err();
            assert!(matches!(err, ProcessError::BadRequest(_)), "{name}({args})");
        }
        let meta = metadata(&image, &with_filters(&[("blurhash", "3,2")]), &options)
            .expect("valid blurhash");
        assert_eq!(meta.blurhash().map(str::len), Some(4 + 2 * 6));
        assert_eq!(meta.thumbhash(), None);
    }

    #[test]
    fn thumbhash_has_the_reference_layout() {
        // Opaque landscape: 5 header bytes, then 4-bit terms (luminance 7×4 → 7×3 − 1 … ).
        let flat = image::RgbaImage::from_pixel(100, 50, image::Rgba([255, 0, 0, 255]));
        let hash = thumbhash(&flat);
        assert!(hash.len() > 5);
        // No alpha bit; landscape bit set.
        assert_eq!(hash[2] & 0x80, 0);
        assert_eq!(hash[4] & 0x80, 0x80);
        let clear = image::RgbaImage::from_pixel(10, 20, image::Rgba([0, 0, 0, 0]));
        let hash = thumbhash(&clear);
        assert_eq!(hash[2] & 0x80, 0x80);
        assert_eq!(hash[4] & 0x80, 0);
        let image = png(&DynamicImage::ImageRgb8(RgbImage::new(300, 40)));
        let meta = metadata(
            &image,
            &with_filters(&[("thumbhash", "")]),
            &Options::default(),
        )
        .expect("thumbhash");
        let text = meta.thumbhash().expect("a thumbhash");
        assert!(text.len().is_multiple_of(4));
        assert!(meta.to_json().contains("\"thumbhash\":"));
    }

    #[test]
    fn colour_sources_are_described() {
        let params = Params {
            image: "color:00ff0080".into(),
            width: 30,
            height: 20,
            ..with_filters(&[("format", "png"), ("avgcolor", "")])
        };
        let meta = metadata_color(&params, &Options::default()).expect("colour meta");
        assert_eq!((meta.format(), meta.content_type()), ("png", "image/png"));
        assert_eq!((meta.width(), meta.height(), meta.bands()), (30, 20, 4));
        // Half-transparent green flattened onto white.
        assert_eq!(meta.average_color(), Some([127, 255, 127]));
    }
}
