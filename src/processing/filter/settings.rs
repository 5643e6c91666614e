//! Reading the `filters:` list: what each filter the engine acts on asks for.
//!
//! The filters read here are the decode-planning flags `upscale()`, `no_upscale()`,
//! `stretch()` and `orient(n)`, and the encoder settings `format(x)`, `autojpg()`,
//! `quality(n)`, `lossless()`, `strip_icc()`, `strip_metadata()` and `max_bytes(n)`. Pipeline
//! filters (`fill`, `rotate`, colour filters, ...) are run by the pipeline module, in URL
//! order. Every other name is ignored, as imagor ignores unknown filters (the service handles `expire`, `attachment`, `max_age`, `raw`, ...).
//! Numbers follow Go's `strconv.Atoi`: anything that is not a plain integer counts as 0.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Format, Options};
//!
//! # let mut png = Vec::new();
//! # image::RgbImage::new(4, 4)
//! #     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//! #     .unwrap();
//! let params = Params {
//!     filters: vec![
//!         Filter::new("format", "webp"),
//!         Filter::new("quality", "60"),
//!         Filter::new("no_such_filter", "ignored"),
//!     ],
//!     ..Default::default()
//! };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! assert_eq!(output.format(), Format::Webp);
//! ```

use crate::path::Filter;
use crate::processing::format::Format;

/// The output format asked for by the filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputRequest {
    /// No valid `format(...)`: use the source's default output format.
    Source,
    /// A format the engine writes.
    Format(Format),
    /// A format imagor writes but this engine cannot yet (`heif`, `jp2`, `jxl`).
    Unsupported,
}

/// Everything the engine reads from the filter list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The last valid `format(...)` or `autojpg()`.
    pub(crate) output: OutputRequest,
    /// `quality(n)` with 1 ≤ n (capped at 100); `None` for absent, 0 or invalid.
    pub(crate) quality: Option<u8>,
    /// `lossless()` was given.
    pub(crate) lossless: bool,
    /// The last `upscale()` (true) or `no_upscale()` (false).
    pub(crate) upscale: Option<bool>,
    /// `stretch()` was given.
    pub(crate) stretch: bool,
    /// The last `orient(n)` with n > 0: rotate before the geometry, ignore EXIF orientation.
    pub(crate) orient: Option<i64>,
    /// `strip_icc()` or `strip_metadata()`: drop the ICC profile.
    pub(crate) strip_icc: bool,
    /// The last `max_bytes(n)` with n > 0.
    pub(crate) max_bytes: Option<u64>,
    /// The smallest `max_frames(n)` with n > 0.
    pub(crate) max_frames: Option<u32>,
    /// The last `page(n)` with n > 0 (1-based).
    pub(crate) page: Option<u32>,
}

impl Settings {
    /// Reads the filters in URL order (later filters override earlier ones).
    pub(crate) fn from_filters(filters: &[Filter]) -> Self {
        let mut settings = Self {
            output: OutputRequest::Source,
            quality: None,
            lossless: false,
            upscale: None,
            stretch: false,
            orient: None,
            strip_icc: false,
            max_bytes: None,
            max_frames: None,
            page: None,
        };
        for filter in filters {
            match filter.name.as_str() {
                "format" => {
                    if let Some(request) = output_request(&filter.args) {
                        settings.output = request;
                    }
                }
                "autojpg" => settings.output = OutputRequest::Format(Format::Jpeg),
                "quality" => settings.quality = quality(&filter.args),
                "lossless" => settings.lossless = true,
                "upscale" => settings.upscale = Some(true),
                "no_upscale" => settings.upscale = Some(false),
                "stretch" => settings.stretch = true,
                "orient" => {
                    if let Some(angle) = filter.args.parse::<i64>().ok().filter(|v| *v > 0) {
                        settings.orient = Some(angle);
                    }
                }
                "strip_icc" | "strip_metadata" => settings.strip_icc = true,
                "max_frames" => {
                    if let Some(n) = positive(&filter.args) {
                        settings.max_frames = Some(settings.max_frames.map_or(n, |m| m.min(n)));
                    }
                }
                "page" => {
                    if let Some(n) = positive(&filter.args) {
                        settings.page = Some(n);
                    }
                }
                "max_bytes" => {
                    if let Some(limit) = filter.args.parse::<u64>().ok().filter(|v| *v > 0) {
                        settings.max_bytes = Some(limit);
                    }
                }
                _ => {}
            }
        }
        settings
    }
}

/// The focal point of every `focal(...)` filter on an upright image of
/// `width` × `height`: the centres of the rectangles weighted by their areas, in pixels.
///
/// `focal(l,t,r,b)` is a rectangle and `focal(x,y)` a point (a 1×1 rectangle); the numbers
/// may be separated by `x`, `,` or `:`. Fractions (rectangle: l, t < 1 and r, b ≤ 1; point:
/// x, y < 1) are scaled by the image size. Empty rectangles and other counts are ignored.
pub(crate) fn focal_point(filters: &[Filter], width: u32, height: u32) -> Option<(f64, f64)> {
    let (w, h) = (f64::from(width), f64::from(height));
    let mut sum = (0.0, 0.0, 0.0);
    for filter in filters.iter().filter(|f| f.name == "focal") {
        let values: Option<Vec<f64>> = filter
            .args
            .split(['x', ',', ':'])
            .map(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect();
        let rect = match values.as_deref() {
            Some(&[l, t, r, b]) => {
                let scale = l < 1.0 && t < 1.0 && r <= 1.0 && b <= 1.0;
                let (sx, sy) = if scale { (w, h) } else { (1.0, 1.0) };
                [l * sx, t * sy, r * sx, b * sy]
            }
            Some(&[x, y]) => {
                let (x, y) = if x < 1.0 && y < 1.0 {
                    (x * w, y * h)
                } else {
                    (x, y)
                };
                [x, y, x + 1.0, y + 1.0]
            }
            _ => continue,
        };
        let [l, t, r, b] = rect;
        if !(r > l && b > t) {
            continue;
        }
        let area = (r - l) * (b - t);
        sum.0 += (l + r) / 2.0 * area;
        sum.1 += (t + b) / 2.0 * area;
        sum.2 += area;
    }
    (sum.2 > 0.0 && sum.2.is_finite()).then(|| (sum.0 / sum.2, sum.1 / sum.2))
}

/// What `format(name)` asks for; `None` when imagor ignores the name.
fn output_request(name: &str) -> Option<OutputRequest> {
    match Format::from_name(name) {
        // Refused by name when processing starts (406), rather than quietly written as JPEG.
        #[cfg(not(feature = "avif"))]
        Some(Format::Avif) => Some(OutputRequest::Format(Format::Avif)),
        Some(format) if format.can_encode() => Some(OutputRequest::Format(format)),
        // Recognised but not writable (imagor: bmp, pdf, svg): written as JPEG.
        Some(_) => Some(OutputRequest::Format(Format::Jpeg)),
        None => match name {
            "pdf" | "svg" => Some(OutputRequest::Format(Format::Jpeg)),
            "heif" | "jp2" | "jxl" => Some(OutputRequest::Unsupported),
            _ => None,
        },
    }
}

/// A positive integer argument (larger values saturate).
fn positive(args: &str) -> Option<u32> {
    let value = args.parse::<i64>().ok().filter(|v| *v > 0)?;
    Some(u32::try_from(value).unwrap_or(u32::MAX))
}

/// `quality(n)`: 0, negative or unparsable means "encoder default".
fn quality(args: &str) -> Option<u8> {
    let value = args.parse::<i64>().ok()?;
    if value <= 0 {
        None
    } else {
        u8::try_from(value.min(100)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(filters: &[(&str, &str)]) -> Settings {
        let filters: Vec<Filter> = filters
            .iter()
            .map(|(name, args)| Filter::new(*name, *args))
            .collect();
        Settings::from_filters(&filters)
    }

    #[test]
    fn no_filters_means_defaults() {
        let s = settings(&[]);
        assert_eq!(s.output, OutputRequest::Source);
        assert_eq!(s.quality, None);
        assert!(!s.lossless && !s.stretch);
        assert_eq!(s.upscale, None);
        assert_eq!((s.orient, s.strip_icc, s.max_bytes), (None, false, None));
    }

    #[test]
    fn format_names_follow_imagor() {
        let cases = [
            ("jpeg", OutputRequest::Format(Format::Jpeg)),
            ("jpg", OutputRequest::Format(Format::Jpeg)),
            ("png", OutputRequest::Format(Format::Png)),
            ("gif", OutputRequest::Format(Format::Gif)),
            ("webp", OutputRequest::Format(Format::Webp)),
            ("tiff", OutputRequest::Format(Format::Tiff)),
            ("bmp", OutputRequest::Format(Format::Jpeg)),
            ("pdf", OutputRequest::Format(Format::Jpeg)),
            ("svg", OutputRequest::Format(Format::Jpeg)),
            ("avif", OutputRequest::Format(Format::Avif)),
            ("heif", OutputRequest::Unsupported),
            ("jxl", OutputRequest::Unsupported),
            ("WEBP", OutputRequest::Source),
            ("tif", OutputRequest::Source),
            ("", OutputRequest::Source),
        ];
        for (name, expected) in cases {
            assert_eq!(settings(&[("format", name)]).output, expected, "{name}");
        }
    }

    #[test]
    fn last_valid_format_wins() {
        let s = settings(&[("format", "png"), ("format", "nope"), ("format", "webp")]);
        assert_eq!(s.output, OutputRequest::Format(Format::Webp));
        let s = settings(&[("format", "webp"), ("format", "nope")]);
        assert_eq!(s.output, OutputRequest::Format(Format::Webp));
        let s = settings(&[("format", "avif"), ("format", "png")]);
        assert_eq!(s.output, OutputRequest::Format(Format::Png));
        let s = settings(&[("format", "png"), ("autojpg", "")]);
        assert_eq!(s.output, OutputRequest::Format(Format::Jpeg));
    }

    #[test]
    fn quality_parses_like_atoi() {
        let cases = [
            ("80", Some(80)),
            ("1", Some(1)),
            ("100", Some(100)),
            ("250", Some(100)),
            ("+70", Some(70)),
            ("0", None),
            ("-5", None),
            ("", None),
            (" 80", None),
            ("80.5", None),
            ("99999999999999999999999", None),
        ];
        for (args, expected) in cases {
            assert_eq!(settings(&[("quality", args)]).quality, expected, "{args}");
        }
    }

    #[test]
    fn focal_points_and_rectangles() {
        let focal = |args: &[&str]| {
            let filters: Vec<Filter> = args.iter().map(|a| Filter::new("focal", *a)).collect();
            focal_point(&filters, 1000, 500)
        };
        assert_eq!(focal(&["100x100:300x200"]), Some((200.0, 150.0)));
        assert_eq!(focal(&["100,100,300,200"]), Some((200.0, 150.0)));
        assert_eq!(focal(&["0.1x0.2:0.3x0.4"]), Some((200.0, 150.0)));
        assert_eq!(focal(&["150:150"]), Some((150.5, 150.5)));
        assert_eq!(focal(&["0.5x0.5"]), Some((500.5, 250.5)));
        // Weighted by area: the big rectangle pulls harder.
        let (x, _) = focal(&["0x0:100x100", "900x0:920x10"]).expect("two rectangles");
        assert!((x - (50.0 * 10_000.0 + 910.0 * 200.0) / 10_200.0).abs() < 1e-9);
        // Ignored: empty, inverted, wrong counts, junk.
        for args in ["", "1x2x3", "300x200:100x100", "ax1", "NaNx1", "1x2:3x4:5"] {
            assert_eq!(focal(&[args]), None, "{args}");
        }
    }

    #[test]
    fn flags_and_pipeline() {
        let s = settings(&[
            ("no_upscale", ""),
            ("grayscale", ""),
            ("upscale", ""),
            ("stretch", ""),
            ("lossless", ""),
            ("Grayscale", ""),
        ]);
        assert_eq!(s.upscale, Some(true));
        assert!(s.stretch && s.lossless);
        let s2 = settings(&[
            ("orient", "90"),
            ("orient", "-1"),
            ("strip_metadata", ""),
            ("max_bytes", "6000"),
            ("max_bytes", "0"),
        ]);
        assert_eq!(
            (s2.orient, s2.strip_icc, s2.max_bytes),
            (Some(90), true, Some(6000))
        );
        assert_eq!(
            settings(&[("upscale", ""), ("no_upscale", "")]).upscale,
            Some(false)
        );
    }
}
