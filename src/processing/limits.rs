//! [`Limits`]: the largest images the engine agrees to decode and produce.
//!
//! # Example
//!
//! ```
//! use imagor_tower::processing::{Limits, ProcessError};
//!
//! let limits = Limits::default();
//! assert!(limits.check(9999, 8100).is_ok());
//! assert!(matches!(limits.check(10_000, 10), Err(ProcessError::MaxResolution)));
//! assert!(matches!(limits.check(9000, 9001), Err(ProcessError::MaxResolution)));
//!
//! let mut small = Limits::default();
//! small.max_width = Some(100);
//! assert!(small.check(101, 1).is_err());
//!
//! assert!(Limits::no_limits().check(u32::MAX, u32::MAX).is_ok());
//! ```

use super::error::ProcessError;

/// Size limits for decoded and produced images.
///
/// imagor rejects images wider than 9999 pixels, taller than 9999 pixels, or with more than
/// 81 000 000 pixels, answering 422 `maximum resolution exceeded`. The same defaults apply here.
/// The source size is checked from the file header **before** any pixel is decoded, and the
/// output size is checked before it is allocated, so a tiny file that claims to be
/// 100000×100000 fails at once.
///
/// Every limit is an `Option`; `None` means "no limit". Build one from [`Limits::default`] or
/// [`Limits::no_limits`] and set the fields you need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Largest allowed width in pixels (imagor `VIPS_MAX_WIDTH`, default 9999).
    pub max_width: Option<u32>,
    /// Largest allowed height in pixels (imagor `VIPS_MAX_HEIGHT`, default 9999).
    pub max_height: Option<u32>,
    /// Largest allowed width × height (imagor `VIPS_MAX_RESOLUTION`, default 81 000 000).
    pub max_resolution: Option<u64>,
    /// Most bytes a decoder may allocate for one image, passed on to the `image` crate as
    /// `max_alloc` (default 1 GiB, enough for 81 megapixels at 16 bits per RGBA channel).
    pub max_alloc: Option<u64>,
}

impl Limits {
    /// imagor's default width limit.
    pub const DEFAULT_MAX_WIDTH: u32 = 9999;
    /// imagor's default height limit.
    pub const DEFAULT_MAX_HEIGHT: u32 = 9999;
    /// imagor's default resolution limit.
    pub const DEFAULT_MAX_RESOLUTION: u64 = 81_000_000;
    /// The default decoder allocation limit (1 GiB).
    pub const DEFAULT_MAX_ALLOC: u64 = 1 << 30;

    /// No limits at all (imagor's "unlimited" mode). Only for trusted sources.
    pub const fn no_limits() -> Self {
        Self {
            max_width: None,
            max_height: None,
            max_resolution: None,
            max_alloc: None,
        }
    }

    /// Checks a width and height against the limits.
    ///
    /// # Errors
    ///
    /// [`ProcessError::MaxResolution`] when either side or their product is over its limit.
    pub fn check(&self, width: u32, height: u32) -> Result<(), ProcessError> {
        let too_wide = self.max_width.is_some_and(|max| width > max);
        let too_tall = self.max_height.is_some_and(|max| height > max);
        let too_many = self
            .max_resolution
            .is_some_and(|max| u64::from(width) * u64::from(height) > max);
        if too_wide || too_tall || too_many {
            Err(ProcessError::MaxResolution)
        } else {
            Ok(())
        }
    }

    /// Checks the bytes a decoder is about to hold against `max_alloc`, for decoders that
    /// cannot be given the limit themselves.
    pub(crate) fn check_alloc(&self, bytes: u64) -> Result<(), ProcessError> {
        if self.max_alloc.is_some_and(|max| bytes > max) {
            Err(ProcessError::MaxResolution)
        } else {
            Ok(())
        }
    }
}

impl Default for Limits {
    /// imagor's defaults: 9999 × 9999 pixels, 81 000 000 pixels in all, 1 GiB per decode.
    fn default() -> Self {
        Self {
            max_width: Some(Self::DEFAULT_MAX_WIDTH),
            max_height: Some(Self::DEFAULT_MAX_HEIGHT),
            max_resolution: Some(Self::DEFAULT_MAX_RESOLUTION),
            max_alloc: Some(Self::DEFAULT_MAX_ALLOC),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_imagor() {
        let limits = Limits::default();
        assert_eq!(limits.max_width, Some(9999));
        assert_eq!(limits.max_height, Some(9999));
        assert_eq!(limits.max_resolution, Some(81_000_000));
        assert!(limits.check(9999, 1).is_ok());
        assert!(limits.check(1, 9999).is_ok());
        assert!(limits.check(9000, 9000).is_ok());
        assert!(limits.check(10_000, 1).is_err());
        assert!(limits.check(1, 10_000).is_err());
        assert!(limits.check(9000, 9001).is_err());
    }

    #[test]
    fn each_limit_is_independent() {
        let mut limits = Limits::no_limits();
        limits.max_resolution = Some(100);
        assert!(limits.check(10, 10).is_ok());
        assert!(limits.check(10, 11).is_err());
        assert!(limits.check(100_000, 0).is_ok());
        let mut limits = Limits::no_limits();
        limits.max_height = Some(5);
        assert!(limits.check(u32::MAX, 5).is_ok());
        assert!(limits.check(1, 6).is_err());
    }

    #[test]
    fn allocation_limit() {
        assert!(Limits::no_limits().check_alloc(u64::MAX).is_ok());
        let limits = Limits::default();
        assert!(limits.check_alloc(Limits::DEFAULT_MAX_ALLOC).is_ok());
        assert!(limits.check_alloc(Limits::DEFAULT_MAX_ALLOC + 1).is_err());
    }
}
