//! [`EncodeSettings`]: how one output is encoded (quality, lossless, ICC profile, AVIF speed),
//! shared by the encoders and the options that build it.

/// Encoder settings for one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EncodeSettings<'a> {
    /// 1–100.
    pub(crate) quality: u8,
    /// Lossless WebP.
    pub(crate) lossless: bool,
    /// ICC profile to embed where the format allows.
    pub(crate) icc_profile: Option<&'a [u8]>,
    /// rav1e speed for AVIF, 1 (slowest) to 10.
    #[cfg_attr(not(feature = "avif"), allow(dead_code))]
    pub(crate) avif_speed: u8,
}
