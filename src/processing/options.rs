//! [`Options`]: the settings of one [`process`](super::process) call that come from the
//! server, not the URL (limits, default quality, overlay sources, filter policy, AVIF speed,
//! work budget, cancellation).

use super::cancel::Cancel;
use super::encode_settings::EncodeSettings;
use super::error::ProcessError;
use super::filter::Settings;
use super::format::Format;
use super::limits::Limits;
use super::overlays::Overlays;
use super::policy::FilterPolicy;

/// Settings for [`process`](super::process) that come from the server, not the URL.
///
/// ```
/// use imagor_tower::processing::{Limits, Options};
///
/// let options = Options::default().limits(Limits::no_limits()).default_quality(85);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(super) limits: Limits,
    pub(super) default_quality: u8,
    pub(super) overlays: Overlays,
    pub(super) policy: FilterPolicy,
    pub(super) avif_speed: u8,
    pub(super) work_budget: u64,
    /// Whether AVIF sources are decoded ([`Options::avif_decode`]).
    pub(super) avif_decode: bool,
    /// How deep inside `image()` overlays this rendering is (0 for the URL's own image).
    pub(super) depth: u8,
    /// Stops the work when cancelled; nested `image()` renderings share it.
    pub(super) cancel: Cancel,
}

impl Options {
    /// The quality used when the URL gives none, as libvips does for imagor: 75.
    pub const DEFAULT_QUALITY: u8 = 75;

    /// The AVIF encoder speed when none is set, imagor's `VIPS_AVIF_SPEED` default: 8.
    pub const DEFAULT_AVIF_SPEED: u8 = 8;

    /// The default work budget of one request: 10 000 000 000, about ten seconds of one core
    /// at the rough nanosecond per unit of [`Estimate::work`](super::Estimate::work). Every ordinary request fits
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
    /// request (see [`overlay_sources`](super::overlay_sources) for the keys a URL needs). Overlays whose source is
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
    /// cancelled, [`process`](super::process), [`process_color`](super::process_color) and [`metadata`](super::metadata) stop at their next check
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

    /// Sets the work budget of one request, in the units of [`Estimate::work`](super::Estimate::work) (rough
    /// nanoseconds of one core; default [`Options::DEFAULT_WORK_BUDGET`]). A request whose
    /// [`estimate`](super::estimate) is over it is refused with [`ProcessError::TooExpensive`] (422) before
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
    pub(super) fn check_decodable(&self, input: &[u8]) -> Result<(), ProcessError> {
        if !self.avif_decode && Format::sniff(input) == Some(Format::Avif) {
            return Err(ProcessError::UnsupportedFormat);
        }
        Ok(())
    }

    /// The encoder settings for one output: the URL's quality or the default, `lossless()`
    /// and the AVIF speed.
    pub(super) fn encode_settings<'a>(
        &self,
        settings: &Settings,
        icc_profile: Option<&'a [u8]>,
    ) -> EncodeSettings<'a> {
        EncodeSettings {
            quality: settings.quality.unwrap_or(self.default_quality),
            lossless: settings.lossless,
            icc_profile,
            avif_speed: self.avif_speed.max(1),
        }
    }

    /// The same options one `image()` level deeper.
    pub(super) fn at_depth(mut self, depth: u8) -> Self {
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
