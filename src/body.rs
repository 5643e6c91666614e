//! [`Body`]: the response body type of the crate's HTTP services.
//!
//! A crate-owned newtype keeps `http-body-util` out of the public API. Its error type is
//! [`Infallible`], so it fits axum, hyper and warp without conversion.
//!
//! # Example
//!
//! ```
//! use http_body::Body as _;
//! use imagor_tower::body::Body;
//!
//! let body = Body::from("hello");
//! assert_eq!(body.size_hint().exact(), Some(5));
//! assert!(Body::empty().is_end_stream());
//! ```

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use pin_project::pin_project;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A response body held in memory.
#[pin_project]
#[derive(Debug, Default)]
pub struct Body {
    #[pin]
    inner: Full<Bytes>,
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A body holding `bytes`.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self {
            inner: Full::new(bytes.into()),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::new(Bytes::from_static(text.as_bytes()))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.project().inner.poll_frame(cx)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
