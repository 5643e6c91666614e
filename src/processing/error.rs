//! [`ProcessError`]: why processing failed, and its conversion into the crate's [`Error`].
//!
//! # Example
//!
//! ```
//! use http::StatusCode;
//! use imagor_tower::Error;
//! use imagor_tower::path::Params;
//! use imagor_tower::processing::{process, Options, ProcessError};
//!
//! let err = process(b"definitely not an image", &Params::default(), &Options::default())
//!     .unwrap_err();
//! assert!(matches!(err, ProcessError::UnsupportedFormat));
//!
//! let err: Error = err.into();
//! assert_eq!(err.status(), StatusCode::NOT_ACCEPTABLE);
//! assert_eq!(err.message(), "unsupported format");
//! ```

use crate::error::Error;

/// Why an image could not be processed.
///
/// Converts into the crate's [`Error`] with the status imagor uses:
///
/// | `ProcessError` | [`Error`] | status |
/// | --- | --- | --- |
/// | `UnsupportedFormat` | [`Error::UnsupportedFormat`] | 406 |
/// | `MaxResolution` | [`Error::MaxResolutionExceeded`] | 422 |
/// | `Image(message)` | [`Error::Image`] | 406 |
/// | `InvalidColor` | [`Error::Invalid`] | 400 |
/// | `BadRequest(message)` | [`Error::BadRequest`] | 400 |
/// | `Cancelled` | [`Error::Timeout`] | 408 |
/// | `TooExpensive` | [`Error::TooExpensive`] | 422 |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The source is not in a format the engine reads, or the requested output format cannot be
    /// written.
    #[error("unsupported format")]
    UnsupportedFormat,
    /// The source or the output is larger than the configured [`Limits`](super::Limits).
    #[error("maximum resolution exceeded")]
    MaxResolution,
    /// The codec failed (corrupt or truncated data, an encoder error), with its message.
    #[error("{0}")]
    Image(String),
    /// A `color:` source names no valid colour.
    #[error("invalid color")]
    InvalidColor,
    /// A filter's arguments are refused (the `/meta` filters `avgcolor`, `blurhash`,
    /// `thumbhash`), with the message.
    #[error("{0}")]
    BadRequest(String),
    /// The job's [`Cancel`](super::Cancel) token was cancelled (its timeout fired, or nobody
    /// waits for the result any more); the work stopped and its buffers were freed.
    #[error("cancelled")]
    Cancelled,
    /// The work the request would cost (see [`estimate`](super::estimate)) is over the
    /// [`work budget`](super::Options::work_budget).
    #[error("work budget exceeded")]
    TooExpensive,
}

impl ProcessError {
    /// Wraps a codec or resampler error message.
    pub(crate) fn image(message: impl std::fmt::Display) -> Self {
        Self::Image(message.to_string())
    }

    /// Maps an `image` crate error while reading a source.
    pub(crate) fn from_decode(err: image::ImageError) -> Self {
        match err {
            image::ImageError::Limits(_) => Self::MaxResolution,
            image::ImageError::Unsupported(_) => Self::UnsupportedFormat,
            other => Self::image(other),
        }
    }
}

impl From<ProcessError> for Error {
    fn from(err: ProcessError) -> Self {
        match err {
            ProcessError::UnsupportedFormat => Self::UnsupportedFormat,
            ProcessError::MaxResolution => Self::MaxResolutionExceeded,
            ProcessError::Image(message) => Self::Image(message),
            ProcessError::InvalidColor => Self::Invalid,
            ProcessError::BadRequest(message) => Self::BadRequest(message),
            // A job is cancelled when its time is up or its clients have gone: a timeout.
            ProcessError::Cancelled => Self::Timeout,
            ProcessError::TooExpensive => Self::TooExpensive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn maps_to_crate_errors() {
        let cases = [
            (ProcessError::UnsupportedFormat, StatusCode::NOT_ACCEPTABLE),
            (
                ProcessError::MaxResolution,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                ProcessError::Image("boom".into()),
                StatusCode::NOT_ACCEPTABLE,
            ),
            (ProcessError::TooExpensive, StatusCode::UNPROCESSABLE_ENTITY),
        ];
        for (err, status) in cases {
            let message = err.to_string();
            let err = Error::from(err);
            assert_eq!(err.status(), status);
            assert_eq!(err.message(), message);
        }
    }

    #[test]
    fn cancelled_is_a_timeout() {
        assert_eq!(ProcessError::Cancelled.to_string(), "cancelled");
        let err = Error::from(ProcessError::Cancelled);
        assert!(matches!(err, Error::Timeout));
        assert_eq!(err.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[test]
    fn limit_errors_from_the_decoder_become_max_resolution() {
        let limit = image::ImageError::Limits(image::error::LimitError::from_kind(
            image::error::LimitErrorKind::InsufficientMemory,
        ));
        assert!(matches!(
            ProcessError::from_decode(limit),
            ProcessError::MaxResolution
        ));
    }
}
