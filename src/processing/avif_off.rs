//! AVIF in a build without the `avif` cargo feature: AVIF sources are still recognised (from
//! their `ftyp` brands) and sized (from the container), but decoding one and writing
//! `format(avif)` answer 406 with a message naming the feature.

// The container reader is shared with the AVIF codec; here only its sniffing and sizing run.
#[allow(dead_code)]
#[path = "avif/container.rs"]
mod container;

use image::DynamicImage;

use super::encode_settings::EncodeSettings;
use super::error::ProcessError;
use super::limits::Limits;

pub(crate) use container::is_avif;

/// A decoded AVIF image; never made in this build.
#[derive(Debug)]
pub(crate) struct Still {
    /// The pixels.
    pub(crate) image: DynamicImage,
    /// The ICC profile.
    pub(crate) icc_profile: Option<Vec<u8>>,
}

/// The error of any AVIF decode or encode in this build: 406, naming the feature.
pub(crate) fn not_built_in() -> ProcessError {
    ProcessError::image("AVIF support is not built in: enable the `avif` cargo feature")
}

/// The size an AVIF file shows (its `ispe` property, turned by `irot`), from the container.
pub(crate) fn header_size(input: &[u8]) -> Option<(u32, u32)> {
    container::item_info(input).shown_size()
}

/// Refuses to decode: [`not_built_in`].
pub(crate) fn decode(_input: &[u8], _limits: &Limits) -> Result<Still, ProcessError> {
    Err(not_built_in())
}

/// Refuses to encode: [`not_built_in`].
pub(crate) fn encode(
    _image: &DynamicImage,
    _settings: &EncodeSettings<'_>,
) -> Result<Vec<u8>, ProcessError> {
    Err(not_built_in())
}
