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
use std::io;

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
    /// An uploaded body is larger than the upload limit (413 `maximum size exceeded`; imagor
    /// answers 400).
    #[error("maximum size exceeded")]
    UploadTooLarge,
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
    /// A URL's `preset:` segments could not be expanded: an unknown or empty preset name
    /// (400), or options besides presets where only presets are allowed (403).
    #[error(transparent)]
    Preset(#[from] crate::path::PresetError),
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
            Self::UploadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedFormat | Self::Image(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Expired => StatusCode::GONE,
            Self::MaxResolutionExceeded | Self::TooExpensive => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Preset(crate::path::PresetError::OnlyPresets) => StatusCode::FORBIDDEN,
            Self::Preset(_) => StatusCode::BAD_REQUEST,
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

impl Error {
    /// The error a failed file-system call on a client-chosen path answers with.
    ///
    /// This is the one mapping of operating-system errors for the file loader and the file
    /// storages. What the client's key caused is a 4xx; only faults of the server itself
    /// (permissions, I/O errors, a full disk, …) are a 500:
    ///
    /// | OS error | Answer |
    /// | --- | --- |
    /// | missing file (`ENOENT`), a file used as a directory (`ENOTDIR`), a directory used as a file (`EISDIR`), a symbolic-link loop (`ELOOP`) | 404 `not found` |
    /// | name or path too long (`ENAMETOOLONG`), invalid name (`EINVAL`, a NUL byte, `EILSEQ`) | 400 `invalid` |
    /// | anything else | 500 with the error text |
    ///
    /// ```
    /// use imagor_tower::Error;
    /// use std::io;
    ///
    /// let missing = io::Error::from(io::ErrorKind::NotFound);
    /// assert_eq!(Error::from_io(&missing).status(), 404);
    /// let too_long = io::Error::from(io::ErrorKind::InvalidFilename);
    /// assert_eq!(Error::from_io(&too_long).status(), 400);
    /// let full = io::Error::from(io::ErrorKind::StorageFull);
    /// assert_eq!(Error::from_io(&full).status(), 500);
    /// ```
    pub fn from_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory => return Self::NotFound,
            io::ErrorKind::InvalidFilename | io::ErrorKind::InvalidInput => return Self::Invalid,
            _ => {}
        }
        #[cfg(unix)]
        match err.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR | libc::EISDIR | libc::ELOOP) => {
                return Self::NotFound;
            }
            Some(libc::ENAMETOOLONG | libc::EINVAL | libc::EILSEQ) => return Self::Invalid,
            _ => {}
        }
        Self::internal(io::Error::new(err.kind(), err.to_string()))
    }

    /// [`Error::from_io`] for the first I/O error in `err`'s chain of sources, or `None` when
    /// there is none.
    fn from_io_source(err: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut current = Some(err);
        while let Some(err) = current {
            if let Some(io) = err.downcast_ref::<io::Error>() {
                return Some(Self::from_io(io));
            }
            current = err.source();
        }
        None
    }
}

impl From<object_store::Error> for Error {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => Self::NotFound,
            object_store::Error::InvalidPath { .. } => Self::Invalid,
            // Local files: the operating system's error decides, as for the file loader.
            object_store::Error::Generic {
                store: "LocalFileSystem",
                ref source,
            } => match Self::from_io_source(source.as_ref()) {
                Some(mapped) if mapped.status().is_client_error() => mapped,
                _ => Self::internal(err),
            },
            other => Self::internal(other),
        }
    }
}

/// Errors of tower middleware in a render or source stack: an [`Error`] inside keeps its own
/// status; tower's timeout answers 408 and its load shedding 429; anything else is internal.
///
/// ```
/// use imagor_tower::Error;
///
/// let boxed: tower::BoxError = Box::new(Error::NotFound);
/// assert_eq!(Error::from(boxed).status(), 404);
/// let boxed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
/// assert_eq!(Error::from(boxed).status(), 408);
/// ```
impl From<BoxError> for Error {
    fn from(err: BoxError) -> Self {
        let err = match err.downcast::<Self>() {
            Ok(err) => return *err,
            Err(err) => err,
        };
        if err.is::<tower::timeout::error::Elapsed>() || err.is::<tokio::time::error::Elapsed>() {
            return Self::Timeout;
        }
        if err.is::<tower::load_shed::error::Overloaded>() {
            return Self::TooManyRequests;
        }
        Self::internal(err)
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
            (Error::UploadTooLarge, 413, "maximum size exceeded"),
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
            (
                Error::Preset(crate::path::PresetError::Unknown("thumb".into())),
                400,
                "unknown preset: thumb",
            ),
            (
                Error::Preset(crate::path::PresetError::EmptyName),
                400,
                "empty preset name",
            ),
            (
                Error::Preset(crate::path::PresetError::OnlyPresets),
                403,
                "only preset URLs are allowed: preset:NAME/IMAGE",
            ),
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

    #[cfg(unix)]
    #[test]
    fn os_errors_of_client_paths_are_4xx_and_server_faults_500() {
        let cases = [
            (libc::ENOENT, 404),
            (libc::ENOTDIR, 404),
            (libc::EISDIR, 404),
            (libc::ELOOP, 404),
            (libc::ENAMETOOLONG, 400),
            (libc::EINVAL, 400),
            (libc::EILSEQ, 400),
            (libc::EACCES, 500),
            (libc::EIO, 500),
            (libc::ENOSPC, 500),
            (libc::EROFS, 500),
        ];
        for (code, status) in cases {
            let err = io::Error::from_raw_os_error(code);
            assert_eq!(Error::from_io(&err).status(), status, "{err}");
        }
        let nul = std::fs::metadata("a\0b").unwrap_err();
        assert_eq!(
            Error::from_io(&nul).to_json(),
            r#"{"message":"invalid","status":400}"#
        );
        let io = Error::from_io(&io::Error::from_raw_os_error(libc::EIO));
        assert!(
            io.message().contains("Input/output error"),
            "{}",
            io.message()
        );
    }

    #[tokio::test]
    async fn local_store_errors_follow_the_os_error() {
        use object_store::ObjectStoreExt as _;
        use object_store::path::Path;

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file.jpg"), b"x").unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        for (path, status) in [
            ("n".repeat(300), 400),
            ("file.jpg/x.jpg".to_owned(), 404),
            ("missing.jpg".to_owned(), 404),
        ] {
            let err = store.get(&Path::parse(&path).unwrap()).await.unwrap_err();
            assert_eq!(Error::from(err).status(), status, "{path}");
        }
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
