//! Pixel work: decode, geometry, filters, encode. Synchronous and free of HTTP and tokio.
//!
//! [`process`] turns the bytes of a source image and the parsed URL ([`Params`]) into the
//! encoded answer ([`Output`]). It is a plain blocking function: the service runs it on a worker
//! thread, never on the async runtime. The steps follow imagor (FILTERS.md §2):
//!
//! 1. read the filters (`format`, `quality`, `upscale`, ...) and fail early on an output format
//!    that cannot be written;
//! 2. decode the source under [`Limits`], checked from the header first, and turn it
//!    upright from its EXIF orientation (or by `orient(n)`, which ignores EXIF);
//! 3. work out the geometry ([`Plan`]): manual crop, target size, fit-in / stretch / fill-crop,
//!    flips; check the output size against the limits;
//! 4. resample once (crop, resize and window in one pass), flip in place, run the pipeline
//!    filters in URL order (`fill`, `padding`, `rotate`, `crop`, colour filters, ...; see
//!    `docs/filters.md` for the list) and check the final canvas against the limits;
//! 5. encode as the requested format, or the source's default (PNG, WebP, GIF, TIFF and
//!    AVIF stay themselves, everything else becomes JPEG).
//!
//! Sources are JPEG, PNG, GIF, WebP, TIFF, BMP, AVIF and SVG, recognised by their magic bytes
//! (SVG by its XML prolog and `<svg` root; it is rasterised on load, see `svg`). Pixels keep
//! their channel layout (grey, grey + alpha, RGB, RGBA) through the pipeline; 16-bit and float
//! samples (and 10- or 12-bit AVIF) are reduced to 8 bits on load.
//!
//! | Output | Encoder | Settings |
//! | --- | --- | --- |
//! | JPEG | `jpeg-encoder` (SIMD) | `quality(n)`, default [`Options::default_quality`] (75, as libvips); 4:2:0 chroma below quality 90; alpha flattened onto black, as libvips does; ICC profile kept |
//! | PNG | `image` | fast deflate, adaptive row filters; ICC profile kept |
//! | WebP | `webp` (libwebp) | lossy with `quality(n)` (default 75), lossless with `lossless()`; effort 4; animated for animated sources |
//! | GIF | `image` | NeuQuant palette per frame, animated for animated GIF sources; `quality` ignored |
//! | TIFF | `image` | uncompressed |
//! | AVIF | `ravif` (rav1e) | 4:4:4, 8 bits, `quality(n)` (default 75), near-lossless RGB (within ±1) with `lossless()`, speed 8 of 10; alpha kept; no ICC profile; first frame of animations |
//!
//! Animated GIF and WebP sources keep all their frames (up to `max_frames(n)`, or the one frame
//! of `page(n)`) when the output is GIF or WebP: the geometry and pipeline run per frame and
//! the result is an animation with the source's frame delays and loop count (a single WebP
//! frame is written as a still WebP). Other outputs take the first frame.
//!
//! `max_bytes(n)` re-encodes JPEG, WebP and AVIF at lower quality until the output fits.
//! [`process_color`] renders `color:<c>` sources.
//!
//! `trim` (segment and filter) measures the border on the pixels; `focal(...)` centres the
//! fill-crop window on its point; `smart` places it by a saliency search. [`metadata`]
//! describes the result instead of encoding it (`/meta`).
//!
//! Overlays (`watermark`, `image`) composite sources handed in through [`Options::overlays`];
//! processing itself never loads anything.
//!
//! A job can be stopped from another thread (a timeout, a client that went away) with a
//! [`Cancel`] token given through [`Options::cancel`]: the heavy loops check it every fraction
//! of a millisecond of work and the call returns [`ProcessError::Cancelled`].
//!
//! Not implemented yet (ignored, or plainly refused): ICC conversion (`strip_icc` only drops
//! the profile), HEIF/JPEG XL/JPEG 2000 output (406 `unsupported format`), metadata other than
//! ICC profiles in outputs.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{Filter, Params};
//! use imagor_tower::processing::{process, Format, Options};
//!
//! // Any encoded image; here a 400×300 PNG made on the spot.
//! let mut png = Vec::new();
//! image::RgbImage::from_pixel(400, 300, image::Rgb([240, 120, 0]))
//!     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//!     .unwrap();
//!
//! // `/fit-in/200x200/filters:format(webp):quality(80)/...`
//! let params = Params {
//!     fit_in: true,
//!     width: 200,
//!     height: 200,
//!     filters: vec![Filter::new("format", "webp"), Filter::new("quality", "80")],
//!     ..Default::default()
//! };
//! let output = process(&png, &params, &Options::default()).unwrap();
//! assert_eq!(output.format(), Format::Webp);
//! assert_eq!(output.content_type(), "image/webp");
//! assert_eq!((output.width(), output.height()), (200, 150));
//! ```

#[cfg_attr(not(feature = "avif"), path = "avif_off.rs")]
mod avif;
mod cancel;
mod cost;
mod decode;
mod encode;
mod error;
mod exif;
mod filter;
mod format;
mod jpeg;
mod limits;
mod meta;
mod ops;
mod paint;
mod pipeline;
mod plan;
mod policy;
#[cfg_attr(not(feature = "svg"), path = "svg_off.rs")]
mod svg;

pub use cancel::Cancel;
pub use cost::{Estimate, MAX_BLUR_SIGMA, MAX_SHARPEN_SIGMA, estimate, estimate_color};
pub use error::ProcessError;
pub use format::Format;
pub use limits::Limits;
pub use meta::{Metadata, metadata, metadata_color};
pub use ops::overlay::{MAX_DEPTH, Overlays, overlay_sources};
pub use paint::{is_color_source, source_color};
pub use plan::{Plan, Rect};
pub use policy::FilterPolicy;
#[cfg(feature = "svg")]
pub use svg::{MAX_SVG_BYTES, MAX_SVG_DEPTH};

use std::time::{Duration, Instant};

use crate::path::Params;
use filter::{OutputRequest, Settings};

/// Settings for [`process`] that come from the server, not the URL.
///
/// ```
/// use imagor_tower::processing::{Limits, Options};
///
/// let options = Options::default().limits(Limits::no_limits()).default_quality(85);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    limits: Limits,
    default_quality: u8,
    overlays: Overlays,
    policy: FilterPolicy,
    avif_speed: u8,
    work_budget: u64,
    /// Whether AVIF sources are decoded ([`Options::avif_decode`]).
    avif_decode: bool,
    /// How deep inside `image()` overlays this rendering is (0 for the URL's own image).
    depth: u8,
    /// Stops the work when cancelled; nested `image()` renderings share it.
    cancel: Cancel,
}

impl Options {
    /// The quality used when the URL gives none, as libvips does for imagor: 75.
    pub const DEFAULT_QUALITY: u8 = 75;

    /// The AVIF encoder speed when none is set, imagor's `VIPS_AVIF_SPEED` default: 8.
    pub const DEFAULT_AVIF_SPEED: u8 = 8;

    /// The default work budget of one request: 10 000 000 000, about ten seconds of one core
    /// at the rough nanosecond per unit of [`Estimate::work`]. Every ordinary request fits
    /// (a 20-megapixel photo with `fill`, `sharpen` and an overlay is about a third of it);
    /// a 9999×8100 `color:` canvas with one `blur(0,50)` is ten times over it.
    pub const DEFAULT_WORK_BUDGET: u64 = 10_000_000_000;

    /// Sets the size limits for sources and outputs (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the JPEG/WebP quality used when the URL has no `quality(n)` (1–100, default 75).
    /// Values are clamped into 1–100.
    pub fn default_quality(mut self, quality: u8) -> Self {
        self.default_quality = quality.clamp(1, 100);
        self
    }

    /// Sets the encoded sources of the `watermark(...)` and `image(...)` overlays of one
    /// request (see [`overlay_sources`] for the keys a URL needs). Overlays whose source is
    /// missing are skipped.
    pub fn overlays(mut self, overlays: Overlays) -> Self {
        self.overlays = overlays;
        self
    }

    /// Sets the server-side filter rules applied to every URL, nested `image()` paths
    /// included (default: none).
    pub fn policy(mut self, policy: FilterPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the AVIF encoder speed, imagor's `VIPS_AVIF_SPEED`: 0 (slowest, smallest files)
    /// to 9 (fastest), default [`Options::DEFAULT_AVIF_SPEED`]. rav1e counts 1 to 10, so 0
    /// and 1 both give its slowest setting and n gives rav1e speed n above that; values
    /// above 9 are clamped to 9.
    ///
    /// ```
    /// use imagor_tower::processing::Options;
    ///
    /// // Faster AVIF encodes for slightly larger files.
    /// let options = Options::default().avif_speed(9);
    /// # let _ = options;
    /// ```
    pub fn avif_speed(mut self, speed: u8) -> Self {
        self.avif_speed = speed.min(9);
        self
    }

    /// Sets the token that cancels the work (default: a token nobody cancels). Once it is
    /// cancelled, [`process`], [`process_color`] and [`metadata`] stop at their next check
    /// and return [`ProcessError::Cancelled`]; a token cancelled before the call starts stops
    /// it before anything is decoded. Nested `image()` overlays use the same token.
    ///
    /// ```
    /// use imagor_tower::path;
    /// use imagor_tower::processing::{Cancel, Options, ProcessError, process_color};
    ///
    /// let token = Cancel::new();
    /// let options = Options::default().cancel(token.clone());
    /// let params = path::parse("unsafe/64x64/color:red");
    /// assert!(process_color(&params, &options).is_ok());
    /// token.cancel();
    /// assert!(matches!(process_color(&params, &options), Err(ProcessError::Cancelled)));
    /// ```
    pub fn cancel(mut self, token: Cancel) -> Self {
        self.cancel = token;
        self
    }

    /// Sets the work budget of one request, in the units of [`Estimate::work`] (rough
    /// nanoseconds of one core; default [`Options::DEFAULT_WORK_BUDGET`]). A request whose
    /// [`estimate`] is over it is refused with [`ProcessError::TooExpensive`] (422) before
    /// any pixel is decoded. `u64::MAX` turns the check off.
    ///
    /// ```
    /// use imagor_tower::path;
    /// use imagor_tower::processing::{Options, ProcessError, process_color};
    ///
    /// let params = path::parse("unsafe/2000x2000/filters:blur(0,20)/color:red");
    /// let tight = Options::default().work_budget(1_000_000);
    /// assert!(matches!(process_color(&params, &tight), Err(ProcessError::TooExpensive)));
    /// assert!(process_color(&params, &Options::default()).is_ok());
    /// ```
    pub fn work_budget(mut self, budget: u64) -> Self {
        self.work_budget = budget;
        self
    }

    /// Turns decoding of AVIF sources (and AVIF overlays) on or off; default on. Off, they
    /// answer [`ProcessError::UnsupportedFormat`] (406), as formats the server cannot read do:
    /// a switch for deployments that do not want to run the AV1 decoder on untrusted input.
    /// Writing AVIF (`format(avif)`) is not affected.
    ///
    /// ```
    /// # #[cfg(feature = "avif")] {
    /// use imagor_tower::path::{Filter, Params};
    /// use imagor_tower::processing::{process, process_color, Options, ProcessError};
    ///
    /// let avif_params = Params {
    ///     image: "color:red".into(),
    ///     width: 8,
    ///     height: 8,
    ///     filters: vec![Filter::new("format", "avif")],
    ///     ..Default::default()
    /// };
    /// let avif = process_color(&avif_params, &Options::default()).unwrap();
    /// let params = Params { width: 4, ..Default::default() };
    /// assert!(process(avif.bytes(), &params, &Options::default()).is_ok());
    /// let off = Options::default().avif_decode(false);
    /// assert!(matches!(
    ///     process(avif.bytes(), &params, &off),
    ///     Err(ProcessError::UnsupportedFormat)
    /// ));
    /// # }
    /// ```
    pub fn avif_decode(mut self, enabled: bool) -> Self {
        self.avif_decode = enabled;
        self
    }

    /// Refuses `input` when it is in a format decoding is turned off for.
    fn check_decodable(&self, input: &[u8]) -> Result<(), ProcessError> {
        if !self.avif_decode && Format::sniff(input) == Some(Format::Avif) {
            return Err(ProcessError::UnsupportedFormat);
        }
        Ok(())
    }

    /// The encoder settings for one output: the URL's quality or the default, `lossless()`
    /// and the AVIF speed.
    fn encode_settings<'a>(
        &self,
        settings: &Settings,
        icc_profile: Option<&'a [u8]>,
    ) -> encode::EncodeSettings<'a> {
        encode::EncodeSettings {
            quality: settings.quality.unwrap_or(self.default_quality),
            lossless: settings.lossless,
            icc_profile,
            avif_speed: self.avif_speed.max(1),
        }
    }

    /// The same options one `image()` level deeper.
    fn at_depth(mut self, depth: u8) -> Self {
        self.depth = depth;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            default_quality: Self::DEFAULT_QUALITY,
            overlays: Overlays::default(),
            policy: FilterPolicy::default(),
            avif_speed: Self::DEFAULT_AVIF_SPEED,
            work_budget: Self::DEFAULT_WORK_BUDGET,
            avif_decode: true,
            depth: 0,
            cancel: Cancel::default(),
        }
    }
}

/// An encoded result: bytes, format, size and how long the work took.
#[derive(Clone, Debug)]
pub struct Output {
    bytes: Vec<u8>,
    format: Format,
    width: u32,
    height: u32,
    timings: Timings,
}

/// Where the time of one [`process`] call went.
///
/// ```
/// use imagor_tower::path;
/// use imagor_tower::processing::{Options, process_color};
///
/// let params = path::parse("unsafe/64x64/filters:format(png)/color:red");
/// let output = process_color(&params, &Options::default()).unwrap();
/// let timings = output.timings();
/// println!("rendered in {:?}, encoded in {:?}", timings.render(), timings.encode());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    render: Duration,
    encode: Duration,
}

impl Timings {
    /// Decoding the source, the geometry and the filters: everything before encoding.
    pub fn render(&self) -> Duration {
        self.render
    }

    /// Encoding the result, including `max_bytes` re-encodes.
    pub fn encode(&self) -> Duration {
        self.encode
    }
}

impl Output {
    /// The encoded image.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded image, without copying.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The format the bytes are in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The MIME type of the bytes, for `Content-Type`.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// How long rendering and encoding took.
    pub fn timings(&self) -> Timings {
        self.timings
    }
}

/// Decodes `input`, applies the geometry and filters of `params`, and encodes the result.
///
/// See the [module docs](self) for the steps.
///
/// # Errors
///
/// * [`ProcessError::UnsupportedFormat`]: the input is not JPEG, PNG, GIF, WebP, TIFF, BMP or
///   SVG, or `format(...)` names a format that cannot be written yet (HEIF, JPEG 2000,
///   JPEG XL).
/// * [`ProcessError::MaxResolution`]: the source (from its header), a canvas made by a
///   filter, or the output is larger than `options`' [`Limits`].
/// * [`ProcessError::Image`]: the data is corrupt or truncated, an SVG is too complex to draw,
///   or an encoder failed.
/// * [`ProcessError::Cancelled`]: the [`Options::cancel`] token was cancelled.
/// * [`ProcessError::TooExpensive`]: the [`estimate`] of the work is over
///   [`Options::work_budget`]; checked from the headers, before decoding.
pub fn process(input: &[u8], params: &Params, options: &Options) -> Result<Output, ProcessError> {
    options.cancel.check()?;
    let params = &*options.policy.apply(params);
    let settings = Settings::from_filters(&params.filters);
    let requested = requested_format(&settings)?;
    cost::check(&estimate(input, params, options)?, options)?;
    let started = Instant::now();
    let rendered = tracing::debug_span!("render")
        .in_scope(|| render(input, params, &settings, requested, options))?;
    options.cancel.check()?;
    let rendered_at = Instant::now();
    let mut output = tracing::debug_span!("encode").in_scope(|| match rendered {
        Rendered::Frames(animation) => encode_animation(animation, requested, &settings, options),
        Rendered::Still {
            image,
            source,
            icc_profile,
        } => {
            let format = requested.unwrap_or_else(|| source.default_output());
            let icc_profile = if settings.strip_icc {
                None
            } else {
                icc_profile.as_deref()
            };
            encode_output(&image, format, &settings, options, icc_profile)
        }
    })?;
    output.timings = Timings {
        render: rendered_at.duration_since(started),
        encode: rendered_at.elapsed(),
    };
    Ok(output)
}

/// The canvas after the geometry and the pipeline, before encoding.
#[derive(Debug)]
enum Rendered {
    /// One image, with the source format and ICC profile.
    Still {
        image: image::DynamicImage,
        source: Format,
        icc_profile: Option<Vec<u8>>,
    },
    /// The frames of an animated GIF or WebP, with their delays and loop count.
    Frames(decode::Animation),
}

/// Decodes `input` and runs the geometry and the pipeline (steps 2–10 of FILTERS.md §2).
fn render(
    input: &[u8],
    params: &Params,
    settings: &Settings,
    requested: Option<Format>,
    options: &Options,
) -> Result<Rendered, ProcessError> {
    options.check_decodable(input)?;
    let source = Format::sniff(input);
    let animated_source = matches!(source, Some(Format::Gif | Format::Webp));
    let animated_output =
        requested.is_none_or(|format| matches!(format, Format::Gif | Format::Webp));
    if animated_source && animated_output {
        let (limits, cancel) = (&options.limits, &options.cancel);
        let animation =
            decode::animation(input, limits, settings.max_frames, settings.page, cancel)?;
        if let Some(mut animation) = animation {
            animation.frames = animate(animation.frames, params, settings, options)?;
            return Ok(Rendered::Frames(animation));
        }
    }

    // Shrink-on-load: the plan for the full-size source says how far the decoder may reduce.
    let quarter_orient = settings.orient.is_some_and(|a| a == 90 || a == 270);
    let upright = |(w, h): (u32, u32)| if quarter_orient { (h, w) } else { (w, h) };
    let shrink = |w, h| {
        let (w, h) = upright((w, h));
        Plan::with_settings(w, h, params, settings).shrink_factor(params)
    };
    let decoded = if source == Some(Format::Svg) {
        // SVG may also be drawn larger than its own size when the resize enlarges it.
        svg::decode(input, &options.limits, |w, h| {
            let (w, h) = upright((w, h));
            svg::scale_for(&Plan::with_settings(w, h, params, settings), params)
        })?
    } else {
        let orient = settings.orient.is_none();
        decode::decode_scaled(input, &options.limits, orient, shrink, &options.cancel)?
    };
    options.cancel.check()?;
    let mut source = decoded.image;
    if let Some(angle) = settings.orient
        && let Some(turned) = ops::canvas::rotate(&source, angle, &options.cancel)?
    {
        source = turned;
    }
    let full_size = if decoded.shrink > 1 {
        upright(decoded.source_size)
    } else {
        (source.width(), source.height())
    };
    let image = still(source, full_size, decoded.shrink, params, settings, options)?;
    Ok(Rendered::Still {
        image,
        source: decoded.format,
        icc_profile: decoded.icc_profile,
    })
}

/// Trim, focal point, geometry (with `smart` placement), flips and pipeline on one upright
/// image.
///
/// `full_size` is the upright size of the source before shrink-on-load, and `shrink` the
/// factor the decoder reduced it by (1: not reduced). The plan is made in full-size pixels;
/// trim, focal points and `smart` never run on a reduced image (`Plan::shrink_factor`).
fn still(
    source: image::DynamicImage,
    full_size: (u32, u32),
    shrink: u32,
    params: &Params,
    settings: &Settings,
    options: &Options,
) -> Result<image::DynamicImage, ProcessError> {
    let (width, height) = full_size;
    let cancel = &options.cancel;
    let trim = if params.trim {
        let by = params.trim_by.unwrap_or_default();
        ops::trim::find(&source, by, params.trim_tolerance as f64, cancel)?
    } else {
        None
    };
    let focus = filter::focal_point(&params.filters, width, height);
    let extras = plan::Extras { trim, focus };
    let mut plan = Plan::with_extras(width, height, params, settings, extras).loaded_at(shrink);
    if params.smart && focus.is_none() {
        ops::smart::place(&source, &mut plan, cancel)?;
    }
    let (out_width, out_height) = plan.output_size();
    options.limits.check(out_width, out_height)?;
    let image = ops::resize::apply(source, &plan, cancel)?;
    finish(image, &plan, params, options, None)
}

/// Builds the image of a `color:<c>` source (FILTERS.md §7.1) and runs the URL on it: the
/// manual crop, flips and pipeline filters apply, the resize step does not. `params.image` is
/// the key (`color:red`, `color:ff000080`, ...). The default output is JPEG.
///
/// ```
/// use imagor_tower::path::Params;
/// use imagor_tower::processing::{process_color, Format, Options};
///
/// let params = Params { image: "color:blue".into(), width: 100, height: 50, ..Default::default() };
/// let output = process_color(&params, &Options::default()).unwrap();
/// assert_eq!((output.format(), output.width(), output.height()), (Format::Jpeg, 100, 50));
/// ```
///
/// # Errors
///
/// [`ProcessError::InvalidColor`] when the key names no valid colour,
/// [`ProcessError::MaxResolution`] when width × height exceeds the resolution limit, and the
/// errors of [`process`] for the filters and the encoder.
pub fn process_color(params: &Params, options: &Options) -> Result<Output, ProcessError> {
    options.cancel.check()?;
    let params = &*options.policy.apply(params);
    let settings = Settings::from_filters(&params.filters);
    let requested = requested_format(&settings)?;
    cost::check(&estimate_color(params, options)?, options)?;
    let started = Instant::now();
    let image = render_color(params, &settings, options)?;
    options.cancel.check()?;
    let rendered_at = Instant::now();
    let format = requested.unwrap_or(Format::Jpeg);
    let mut output = encode_output(&image, format, &settings, options, None)?;
    output.timings = Timings {
        render: rendered_at.duration_since(started),
        encode: rendered_at.elapsed(),
    };
    Ok(output)
}

/// The size of a `color:` canvas: the URL's width and height (one given side is used for
/// both, none gives 1 × 1), refused past the resolution limit and clamped to the width and
/// height limits, as imagor does.
fn color_canvas_size(params: &Params, limits: &Limits) -> Result<(u32, u32), ProcessError> {
    let side = |v: i64| u32::try_from(v.unsigned_abs()).unwrap_or(u32::MAX);
    let (mut width, mut height) = (side(params.width), side(params.height));
    match (width, height) {
        (0, 0) => (width, height) = (1, 1),
        (0, h) => width = h,
        (w, 0) => height = w,
        _ => {}
    }
    if limits
        .max_resolution
        .is_some_and(|max| u64::from(width) * u64::from(height) > max)
    {
        return Err(ProcessError::MaxResolution);
    }
    width = limits.max_width.map_or(width, |max| width.min(max));
    height = limits.max_height.map_or(height, |max| height.min(max));
    Ok((width, height))
}

/// The canvas of a `color:` source after crop, flips and pipeline.
fn render_color(
    params: &Params,
    settings: &Settings,
    options: &Options,
) -> Result<image::DynamicImage, ProcessError> {
    let colour = source_color(&params.image).ok_or(ProcessError::InvalidColor)?;
    let (width, height) = color_canvas_size(params, &options.limits)?;
    let image = ops::canvas::solid(width, height, colour, &options.cancel)?;

    // Only the manual crop of the geometry applies: plan without a target size.
    let crop_only = Params {
        width: 0,
        height: 0,
        fit_in: false,
        stretch: false,
        ..params.clone()
    };
    let plan = Plan::with_settings(width, height, &crop_only, settings);
    let flips = Plan::with_settings(width, height, params, settings);
    let image = ops::resize::apply(image, &plan, &options.cancel)?;
    finish(image, &flips, params, options, None)
}

/// Runs the geometry and the pipeline on every frame of an animation. `trim` and `smart`
/// do not apply to animations (FILTERS.md §10); `focal(...)` does.
fn animate(
    frames: Vec<(image::RgbaImage, image::Delay)>,
    params: &Params,
    settings: &Settings,
    options: &Options,
) -> Result<Vec<(image::RgbaImage, image::Delay)>, ProcessError> {
    let Some((first, _)) = frames.first() else {
        return Err(ProcessError::image("animation has no frames"));
    };
    let (mut width, mut height) = first.dimensions();
    if settings
        .orient
        .is_some_and(|angle| angle == 90 || angle == 270)
    {
        std::mem::swap(&mut width, &mut height);
    }
    let extras = plan::Extras {
        trim: None,
        focus: filter::focal_point(&params.filters, width, height),
    };
    let plan = Plan::with_extras(width, height, params, settings, extras);
    let (out_width, out_height) = plan.output_size();
    let count = u32::try_from(frames.len()).unwrap_or(u32::MAX);
    options
        .limits
        .check(out_width, out_height.saturating_mul(count))?;
    let animated = frames.len() > 1;
    let mut done = Vec::with_capacity(frames.len());
    let cancel = &options.cancel;
    for (buffer, delay) in frames {
        cancel.check()?;
        let mut frame = image::DynamicImage::ImageRgba8(buffer);
        if let Some(angle) = settings.orient
            && let Some(turned) = ops::canvas::rotate(&frame, angle, cancel)?
        {
            frame = turned;
        }
        let frame = ops::resize::apply(frame, &plan, cancel)?;
        let index = done.len();
        let frame = finish(frame, &plan, params, options, animated.then_some(index))?;
        done.push((frame.into_rgba8(), delay));
    }
    let (width, height) = done.first().map_or((0, 0), |(frame, _)| frame.dimensions());
    // Canvas filters give every frame the same size; guard against a mismatch anyway.
    if done
        .iter()
        .any(|(frame, _)| frame.dimensions() != (width, height))
    {
        return Err(ProcessError::image("animation frames differ in size"));
    }
    Ok(done)
}

/// Encodes processed frames as an animated GIF or WebP: the requested format, else the
/// source's. A single WebP frame (`page(n)`) is written as a still WebP.
fn encode_animation(
    animation: decode::Animation,
    requested: Option<Format>,
    settings: &Settings,
    options: &Options,
) -> Result<Output, ProcessError> {
    let format = match requested.unwrap_or(animation.source) {
        Format::Webp => Format::Webp,
        _ => Format::Gif,
    };
    let (width, height) = animation
        .frames
        .first()
        .map_or((0, 0), |(frame, _)| frame.dimensions());
    let cancel = &options.cancel;
    let bytes = if format == Format::Gif {
        encode::gif_animation(animation.frames, animation.loop_count, cancel)?
    } else if animation.frames.len() > 1 {
        let encode_settings = options.encode_settings(settings, None);
        let loop_count = animation.loop_count;
        encode::webp_animation(&animation.frames, loop_count, &encode_settings, cancel)?
    } else {
        let Some((frame, _)) = animation.into_iter().next() else {
            return Err(ProcessError::image("animation has no frames"));
        };
        let image = image::DynamicImage::ImageRgba8(frame);
        return encode_output(&image, Format::Webp, settings, options, None);
    };
    Ok(Output {
        bytes,
        format,
        width,
        height,
        timings: Timings::default(),
    })
}

fn requested_format(settings: &Settings) -> Result<Option<Format>, ProcessError> {
    match settings.output {
        OutputRequest::Source => Ok(None),
        #[cfg(not(feature = "avif"))]
        OutputRequest::Format(Format::Avif) => Err(avif::not_built_in()),
        OutputRequest::Format(format) => Ok(Some(format)),
        OutputRequest::Unsupported => Err(ProcessError::UnsupportedFormat),
    }
}

/// Flips, pipeline filters and the final size check. `frame` is the index of an animation
/// frame, `None` for a still image.
fn finish(
    mut image: image::DynamicImage,
    plan: &Plan,
    params: &Params,
    options: &Options,
    frame: Option<usize>,
) -> Result<image::DynamicImage, ProcessError> {
    options.cancel.check()?;
    if plan.h_flip() {
        ops::flip::horizontal(&mut image);
    }
    if plan.v_flip() {
        ops::flip::vertical(&mut image);
    }
    let padding = [
        params.padding_left,
        params.padding_top,
        params.padding_right,
        params.padding_bottom,
    ]
    .map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX));
    let mut canvas = pipeline::Canvas {
        image,
        target: plan.target_size(),
        padding,
        quarter_turned: false,
        animated: frame.is_some(),
        limits: &options.limits,
        overlay: Some(ops::overlay::Context {
            options,
            frame: frame.unwrap_or(0),
            animated: frame.is_some(),
        }),
        cancel: &options.cancel,
    };
    pipeline::run(&mut canvas, &params.filters)?;
    options
        .limits
        .check(canvas.image.width(), canvas.image.height())?;
    Ok(canvas.image)
}

/// Encodes, re-encoding at lower quality while `max_bytes(n)` is exceeded (FILTERS.md §6.2).
fn encode_output(
    image: &image::DynamicImage,
    format: Format,
    settings: &Settings,
    options: &Options,
    icc_profile: Option<&[u8]>,
) -> Result<Output, ProcessError> {
    let mut encode_settings = options.encode_settings(settings, icc_profile);
    let cancel = &options.cancel;
    let mut bytes = encode::encode(image, format, &encode_settings, cancel)?;
    let lossy = matches!(format, Format::Jpeg | Format::Webp | Format::Avif) && !settings.lossless;
    let low_given = settings.quality.is_some_and(|q| q <= 10);
    if let Some(limit) = settings.max_bytes.filter(|_| lossy && !low_given) {
        let mut quality = u32::from(settings.quality.unwrap_or(80));
        while bytes.len() as u64 > limit && quality > 10 {
            let ratio = bytes.len() as f64 / limit as f64;
            quality = if ratio > 3.0 {
                quality * 25 / 100
            } else if ratio > 1.5 {
                quality * 50 / 100
            } else {
                quality * 75 / 100
            };
            encode_settings.quality = u8::try_from(quality.clamp(1, 100)).unwrap_or(1);
            bytes = encode::encode(image, format, &encode_settings, cancel)?;
        }
    }
    Ok(Output {
        bytes,
        format,
        width: image.width(),
        height: image.height(),
        timings: Timings::default(),
    })
}
