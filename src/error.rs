//! The crate's error type and its single mapping to HTTP statuses.
//!
//! Every failure the service can report is an [`Error`]. Its variants name outcomes (not
//! causes), and [`Error::status`] maps each one to the status imagor uses for it, so an imagor
//! client sees the same codes. [`Error::to_json`] renders imagor's error body
//! `{"message":"…","status":N}`.
//!
//! # Example
//!
//! ```
//! use imagor_tower::Error;
//! use http::StatusCode;
//!
//! let err = Error::SignatureMismatch;
//! assert_eq!(err.status(), StatusCode::FORBIDDEN);
//! assert_eq!(err.to_json(), r#"{"message":"url signature mismatch","status":403}"#);
//!
//! let upstream = Error::status_message(StatusCode::BAD_GATEWAY, "Bad Gateway");
//! assert_eq!(upstream.status(), StatusCode::BAD_GATEWAY);
//! ```

use http::StatusCode;

/// A boxed error source kept for logging.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while answering an image request.
///
/// See the [module docs](self) for the status mapping.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key or URL is not valid for the loader or storage that was asked (400 `invalid`).
    #[error("invalid")]
    Invalid,
    /// A bad request with a specific message, e.g. a meta filter argument (400).
    #[error("{0}")]
    BadRequest(String),
    /// The source is larger than the configured maximum (400 `maximum size exceeded`).
    #[error("maximum size exceeded")]
    MaxSizeExceeded,
    /// The URL signature does not match (403 `url signature mismatch`).
    #[error("url signature mismatch")]
    SignatureMismatch,
    /// The HTTP source is not in the allow-list (403 `http source not allowed`).
    #[error("http source not allowed")]
    SourceNotAllowed,
    /// The HTTP source resolves to a blocked network (403 `unauthorized request: <url>`).
    #[error("unauthorized request: {0}")]
    UnauthorizedRequest(String),
    /// Nothing was found under the key (404 `not found`).
    #[error("not found")]
    NotFound,
    /// The request method is not GET or HEAD (405, empty body).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The source could not be decoded or the output format is not supported
    /// (406 `unsupported format`).
    #[error("unsupported format")]
    UnsupportedFormat,
    /// The image library failed with its own message (406).
    #[error("{0}")]
    Image(String),
    /// A deadline passed (408 `timeout`).
    #[error("timeout")]
    Timeout,
    /// The URL expired, or a stored object is older than its expiration (410 `expired`).
    #[error("expired")]
    Expired,
    /// The image is larger than the configured width, height or resolution
    /// (422 `maximum resolution exceeded`).
    #[error("maximum resolution exceeded")]
    MaxResolutionExceeded,
    /// The work the request would cost is over the server's work budget
    /// (422 `work budget exceeded`).
    #[error("work budget exceeded")]
    TooExpensive,
    /// The processing queue is full (429 `too many requests`).
    #[error("too many requests")]
    TooManyRequests,
    /// An error with an explicit status, such as an upstream HTTP status or a connection failure.
    #[error("{message}")]
    Status {
        /// The HTTP status to answer with.
        status: StatusCode,
        /// The message for the JSON body.
        message: String,
    },
    /// Anything else (500). The message is sent; the source is kept for logs.
    #[error("{message}")]
    Internal {
        /// The message for the JSON body.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// An error answered with `status` and `message`.
    pub fn status_message(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            message: message.into(),
        }
    }

    /// A 500 error carrying its cause.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        let source = source.into();
        Self::Internal {
            message: one_line(&source.to_string()),
            source: Some(source),
        }
    }

    /// The HTTP status imagor answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid | Self::BadRequest(_) | Self::MaxSizeExceeded => StatusCode::BAD_REQUEST,
            Self::SignatureMismatch | Self::SourceNotAllowed | Self::UnauthorizedRequest(_) => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedFormat | Self::Image(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Expired => StatusCode::GONE,
            Self::MaxResolutionExceeded | Self::TooExpensive => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Status { status, .. } => *status,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message of the JSON body (imagor's wording).
    pub fn message(&self) -> String {
        match self {
            Self::Internal { message, .. } if message.is_empty() => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    /// Whether this error means "nothing there", so that the next source may be tried.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    /// imagor's JSON error body: `{"message":"…","status":N}` (`message` left out when empty).
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            #[serde(skip_serializing_if = "str::is_empty")]
            message: &'a str,
            status: u16,
        }
        let message = self.message();
        serde_json::to_string(&Body {
            message: &message,
            status: self.status().as_u16(),
        })
        .unwrap_or_else(|_| format!("{{\"status\":{}}}", self.status().as_u16()))
    }
}

impl From<object_store::Error> for Error {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => Self::NotFound,
            object_store::Error::InvalidPath { .. } => Self::Invalid,
            other => Self::internal(other),
        }
    }
}

impl From<tokio::time::error::Elapsed> for Error {
    fn from(_: tokio::time::error::Elapsed) -> Self {
        Self::Timeout
    }
}

/// imagor removes newlines from internal error texts.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_imagor_table() {
        let cases = [
            (Error::Invalid, 400, "invalid"),
            (Error::MaxSizeExceeded, 400, "maximum size exceeded"),
            (Error::SignatureMismatch, 403, "url signature mismatch"),
            (Error::SourceNotAllowed, 403, "http source not allowed"),
            (Error::NotFound, 404, "not found"),
            (Error::UnsupportedFormat, 406, "unsupported format"),
            (Error::Timeout, 408, "timeout"),
            (Error::Expired, 410, "expired"),
            (
                Error::MaxResolutionExceeded,
                422,
                "maximum resolution exceeded",
            ),
            (Error::TooManyRequests, 429, "too many requests"),
            (Error::TooExpensive, 422, "work budget exceeded"),
        ];
        for (err, status, message) in cases {
            assert_eq!(err.status().as_u16(), status);
            assert_eq!(err.message(), message);
        }
    }

    #[test]
    fn internal_errors_lose_newlines_and_never_go_empty() {
        let err = Error::internal("disk\nfull");
        assert_eq!(err.message(), "disk full");
        let empty = Error::Internal {
            message: String::new(),
            source: None,
        };
        assert_eq!(
            empty.to_json(),
            r#"{"message":"internal error","status":500}"#
        );
    }

    #[test]
    fn json_escapes_message() {
        let err = Error::BadRequest("a \"quoted\" word".into());
        assert_eq!(
            err.to_json(),
            r#"{"message":"a \"quoted\" word","status":400}"#
        );
    }
}
