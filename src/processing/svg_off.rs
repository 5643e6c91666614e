//! SVG in a build without the `svg` cargo feature: SVG sources are still recognised (by their
//! `<svg` root), but rasterising one answers 406 with a message naming the feature.

use super::decoded::Decoded;
use super::error::ProcessError;
use super::limits::Limits;
use super::plan::Plan;
use crate::path::Params;

/// How large to draw an SVG, relative to its own size (nothing is drawn in this build).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    dead_code,
    reason = "the callers match both variants; only `Reduce` is made here"
)]
pub(crate) enum Scale {
    /// Draw at 1/n of the SVG's size (1: its own size).
    Reduce(u32),
    /// Draw n times larger than the SVG's size.
    Enlarge(u32),
}

/// Always its own size: nothing is drawn, so there is no scale to choose.
pub(crate) fn scale_for(_plan: &Plan, _params: &Params) -> Scale {
    Scale::Reduce(1)
}

/// Refuses to rasterise: 406, naming the feature.
pub(crate) fn decode(
    _input: &[u8],
    _limits: &Limits,
    _scale: impl FnOnce(u32, u32) -> Scale,
) -> Result<Decoded, ProcessError> {
    Err(ProcessError::image(
        "SVG support is not built in: enable the `svg` cargo feature",
    ))
}
