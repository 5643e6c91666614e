//! Pixel work: decode, geometry, filters, encode. Synchronous and free of HTTP and tokio.
//!
//! [`process`] turns the bytes of a source image and the parsed URL ([`Params`]) into the
//! encoded answer ([`Output`]). It is a plain blocking function: the service runs it on a worker
//! thread, never on the async runtime. The steps follow imagor (FILTERS.md §2):
//!
//! 1. read the filters (`format`, `quality`, `upscale`, ...) and fail early on an output format
//!    that cannot be written;
//! 2. decode the source under [`Limits`], checked from the header first, and turn it
//!    upright from its EXIF orientation;
//! 3. work out the geometry ([`Plan`]): manual crop, target size, fit-in / stretch / fill-crop,
//!    flips; check the output size against the limits;
//! 4. resample once (crop, resize and window in one pass), flip in place, run pipeline filters (`grayscale()`);
//! 5. encode as the requested format, or the source's default (PNG, WebP, GIF and
//!    TIFF stay themselves, everything else becomes JPEG).
//!
//! Sources are JPEG, PNG, GIF, WebP, TIFF and BMP, recognised by their magic bytes. Pixels keep
//! their channel layout (grey, grey + alpha, RGB, RGBA) through the pipeline; 16-bit and float
//! samples are reduced to 8 bits on load.
//!
//! | Output | Encoder | Settings |
//! | --- | --- | --- |
//! | JPEG | `jpeg-encoder` (SIMD) | `quality(n)`, default [`Options::default_quality`] (75, as libvips); 4:2:0 chroma below quality 90; alpha flattened onto black, as libvips does; ICC profile kept |
//! | PNG | `image` | fast deflate, adaptive row filters; ICC profile kept |
//! | WebP | `webp` (libwebp) | lossy with `quality(n)` (default 75), lossless with `lossless()`; effort 4 |
//! | GIF | `image` | one frame, NeuQuant palette; `quality` ignored |
//! | TIFF | `image` | uncompressed |
//!
//! Not implemented yet (ignored, or plainly refused): animation (GIF/WebP use their first
//! frame), `trim`, `smart` (crops at the centre), `focal`, `fill` and the other canvas,
//! overlay and colour filters except `grayscale()`, `max_bytes`, AVIF/HEIF/JPEG XL/JPEG 2000
//! output (406 `unsupported format`), metadata other than ICC profiles.
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

mod decode;
mod encode;
mod error;
mod filter;
mod format;
mod limits;
mod ops;
mod plan;

pub use error::ProcessError;
pub use format::Format;
pub use limits::Limits;
pub use plan::{Plan, Rect};

use crate::path::Params;
use filter::{OutputRequest, PipelineOp, Settings};

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
}

impl Options {
    /// The quality used when the URL gives none, as libvips does for imagor: 75.
    pub const DEFAULT_QUALITY: u8 = 75;

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
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            default_quality: Self::DEFAULT_QUALITY,
        }
    }
}

/// An encoded result: bytes, format and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    bytes: Vec<u8>,
    format: Format,
    width: u32,
    height: u32,
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
}

/// Decodes `input`, applies the geometry and filters of `params`, and encodes the result.
///
/// See the [module docs](self) for the steps.
///
/// # Errors
///
/// * [`ProcessError::UnsupportedFormat`]: the input is not JPEG, PNG, GIF, WebP, TIFF or BMP,
///   or `format(...)` names a format that cannot be written yet (AVIF, HEIF, JPEG 2000,
///   JPEG XL).
/// * [`ProcessError::MaxResolution`]: the source (from its header) or the output is larger
///   than `options`' [`Limits`].
/// * [`ProcessError::Image`]: the data is corrupt or truncated, or an encoder failed.
pub fn process(input: &[u8], params: &Params, options: &Options) -> Result<Output, ProcessError> {
    let settings = Settings::from_filters(&params.filters);
    let requested = match settings.output {
        OutputRequest::Source => None,
        OutputRequest::Format(format) => Some(format),
        OutputRequest::Unsupported => return Err(ProcessError::UnsupportedFormat),
    };

    let decoded = decode::decode(input, &options.limits)?;
    let plan = Plan::with_settings(
        decoded.image.width(),
        decoded.image.height(),
        params,
        &settings,
    );
    let (width, height) = plan.output_size();
    options.limits.check(width, height)?;

    let mut image = ops::resize::apply(decoded.image, &plan)?;
    if plan.h_flip() {
        ops::flip::horizontal(&mut image);
    }
    if plan.v_flip() {
        ops::flip::vertical(&mut image);
    }
    for op in &settings.pipeline {
        image = match op {
            PipelineOp::Grayscale => ops::color::grayscale(image),
        };
    }

    let format = requested.unwrap_or_else(|| decoded.format.default_output());
    let encode_settings = encode::EncodeSettings {
        quality: settings.quality.unwrap_or(options.default_quality),
        lossless: settings.lossless,
        icc_profile: decoded.icc_profile.as_deref(),
    };
    let bytes = encode::encode(&image, format, &encode_settings)?;
    Ok(Output {
        bytes,
        format,
        width: image.width(),
        height: image.height(),
    })
}
