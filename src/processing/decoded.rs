//! What decoding yields: a still [`Decoded`] image, or the frames of an [`Animation`] with
//! its [`LoopCount`]. Shared by the decoders (raster, SVG), rendering and the encoders.

use image::{Delay, DynamicImage, RgbaImage};

use super::format::Format;

/// A decoded, upright source image.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The pixels, 8 bits per sample.
    pub(crate) image: DynamicImage,
    /// The source format.
    pub(crate) format: Format,
    /// The embedded ICC profile, carried over to the output where the encoder supports it.
    pub(crate) icc_profile: Option<Vec<u8>>,
    /// The upright size of the full-scale source.
    pub(crate) source_size: (u32, u32),
    /// The source was decoded at 1/`shrink` scale (1: full size).
    pub(crate) shrink: u32,
}

/// How many times an animation plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoopCount {
    /// Over and over.
    Forever,
    /// This many times (GIF's and WebP's count, 1 or more).
    Times(u16),
}

/// The frames of an animated source, composited to full-canvas RGBA, with their delays.
#[derive(Debug)]
pub(crate) struct Animation {
    /// The frames, in order, all of one size.
    pub(crate) frames: Vec<(RgbaImage, Delay)>,
    /// How many times the source plays.
    pub(crate) loop_count: LoopCount,
    /// The source format (GIF or WebP).
    pub(crate) source: Format,
}

impl IntoIterator for Animation {
    type Item = (RgbaImage, Delay);
    type IntoIter = std::vec::IntoIter<(RgbaImage, Delay)>;

    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}
