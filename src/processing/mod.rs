//! Pixel work: decode, geometry, filters, encode. Synchronous and free of HTTP and tokio.
//!
//! [`process`] turns the bytes of a source image and the parsed URL ([`Params`]) into the
//! encoded answer ([`Output`]). It is a plain blocking function: the service runs it on a worker
//! thread, never on the async runtime. The steps follow imagor:
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
//! | GIF | `gif` | own palette per frame: exact up to 256 colours, else Wu's quantiser, nearest colour, no dithering; animated for animated GIF sources; `quality` ignored |
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
mod decoded;
mod encode;
mod encode_settings;
mod error;
mod exif;
pub mod filter;
mod format;
mod jpeg;
mod limits;
mod meta;
mod ops;
mod options;
mod overlays;
mod paint;
mod pipeline;
mod plan;
mod policy;
pub(crate) mod quantize;
mod render;
#[cfg_attr(not(feature = "svg"), path = "svg_off.rs")]
mod svg;

pub use cancel::Cancel;
pub use cost::{Estimate, MAX_BLUR_SIGMA, MAX_SHARPEN_SIGMA, estimate, estimate_color};
pub use error::ProcessError;
pub use format::{Format, sniff_content_type};
pub use jpeg::decode_reduced as decode_jpeg_reduced;
pub use limits::Limits;
pub use meta::{Metadata, metadata, metadata_color};
pub use ops::overlay::{MAX_DEPTH, overlay_sources};
pub use options::Options;
pub use overlays::Overlays;
pub use paint::{is_color_source, source_color};
pub use plan::{Plan, Rect};
pub use policy::FilterPolicy;
#[cfg(feature = "svg")]
#[cfg(feature = "svg")]
pub use svg::{MAX_SVG_BYTES, MAX_SVG_DEPTH};

use std::time::{Duration, Instant};

use crate::path::Params;
use filter::Settings;
use render::{Rendered, render, render_color, requested_format};

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

/// Builds the image of a `color:<c>` source and runs the URL on it: the
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

/// Encodes processed frames as an animated GIF or WebP: the requested format, else the
/// source's. A single WebP frame (`page(n)`) is written as a still WebP.
fn encode_animation(
    animation: decoded::Animation,
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

/// Encodes, re-encoding at lower quality while `max_bytes(n)` is exceeded.
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
