//! A build without the `jpeg-scaled` cargo feature has no libjpeg: reductions that would go to
//! its scaled decoder fall back to the DC-only decoder (1/8) or to a full decode followed by
//! the resize, so the output sizes are the same.

use image::DynamicImage;

use crate::processing::limits::Limits;

/// Always refuses, so that the caller takes the other decoder.
pub(super) fn decode(
    _input: &[u8],
    _limits: &Limits,
    _factor: u32,
) -> Result<DynamicImage, String> {
    Err("libjpeg's scaled decoder is not built in (the `jpeg-scaled` cargo feature)".to_owned())
}
