//! How failures of the HTTP client and bad settings become the crate's errors.

use super::guard::Refusal;
use super::network::{Blocked, LookupFailed};
use crate::Error;
use http::StatusCode;
use std::error::Error as StdError;
use std::fmt;

/// Status ≥ 400 becomes an error with that status and its reason phrase.
pub(super) fn check_status(status: StatusCode) -> Result<(), Error> {
    if status.as_u16() >= 400 {
        Err(Error::status_message(
            status,
            status.canonical_reason().unwrap_or(""),
        ))
    } else {
        Ok(())
    }
}

/// Every error of a chain, outermost first, looking inside `io::Error`s too (their
/// `source` skips the error they wrap).
pub(super) fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut found = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        found.push(err);
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            found.extend(causes(inner));
            break;
        }
        current = err.source();
    }
    found
}

/// Finds one of our refusals in an error's source chain.
pub(super) fn refusal_in(err: &(dyn StdError + 'static)) -> Option<Refusal> {
    causes(err).into_iter().find_map(|cause| {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            Some(*refusal)
        } else if cause.is::<Blocked>() {
            Some(Refusal::Blocked)
        } else {
            None
        }
    })
}

/// The kind of the first `io::Error` in the chain.
pub(super) fn io_kind_in(err: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    causes(err)
        .into_iter()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
}

/// The innermost message of an error chain (the actual cause), for logs only.
pub(super) fn root_cause(err: &(dyn StdError + 'static)) -> String {
    causes(err)
        .last()
        .map_or_else(String::new, ToString::to_string)
}

/// A 500 with a fixed message; the cause is kept as the source, for logs only.
pub(super) fn upstream_failure(message: String, err: reqwest::Error) -> Error {
    Error::Internal {
        message,
        source: Some(Box::new(err)),
    }
}

/// Maps a failed request: refusals, timeouts, connection failures (404 `dial tcp: …`).
/// Messages carry the client's URL and a fixed reason, never an address or the system's
/// text (which can name a redirect target or a resolved address).
pub(super) fn send_error(err: reqwest::Error, image: &str) -> Error {
    if let Some(refusal) = refusal_in(&err) {
        return refusal.into_error(image);
    }
    if err.is_timeout() || io_kind_in(&err) == Some(std::io::ErrorKind::TimedOut) {
        return Error::Timeout;
    }
    tracing::debug!(url = image, cause = %root_cause(&err), "http loader request failed");
    if err.is_connect() {
        let reason = if causes(&err).iter().any(|cause| cause.is::<LookupFailed>()) {
            "no such host"
        } else if io_kind_in(&err) == Some(std::io::ErrorKind::ConnectionRefused) {
            "connection refused"
        } else {
            "connection failed"
        };
        return Error::status_message(
            StatusCode::NOT_FOUND,
            format!("dial tcp: {reason}: {image}"),
        );
    }
    upstream_failure(format!("upstream request failed: {image}"), err)
}

/// Maps a failure while reading the body.
pub(super) fn body_error(err: reqwest::Error, image: &str) -> Error {
    if err.is_timeout() {
        return Error::Timeout;
    }
    tracing::debug!(url = image, cause = %root_cause(&err), "http loader body failed");
    upstream_failure(format!("reading the upstream body failed: {image}"), err)
}

/// A setting that did not validate at [`HttpLoaderBuilder::build`](super::HttpLoaderBuilder::build).
#[derive(Debug)]
pub(super) struct ConfigError {
    setting: &'static str,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http loader setting {}: {}", self.setting, self.message)
    }
}

impl StdError for ConfigError {}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Self {
        Error::internal(err)
    }
}

pub(super) fn config_error(setting: &'static str, message: impl fmt::Display) -> ConfigError {
    ConfigError {
        setting,
        message: message.to_string(),
    }
}
