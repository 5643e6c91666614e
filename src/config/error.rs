//! Why a configuration could not be built.
//!
//! # Example
//!
//! ```
//! use imagor_tower::config::{ConfigBuilder, ConfigError};
//!
//! let err = ConfigBuilder::new().args(["-no-such-flag"]).build().unwrap_err();
//! assert!(matches!(err, ConfigError::UnknownFlag { .. }));
//! assert_eq!(err.to_string(), "flag provided but not defined: -no-such-flag");
//! ```

use std::io;
use std::path::PathBuf;

use super::{ConfigKey, Origin};

/// Everything that stops a configuration from being built.
///
/// # Example
///
/// ```
/// use imagor_tower::config::{ConfigBuilder, ConfigError, ConfigKey};
///
/// let err = ConfigBuilder::new()
///     .env([("IMAGOR_LOAD_TIMEOUT", "abc")])
///     .build()
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"invalid value "abc" for IMAGOR_LOAD_TIMEOUT (-imagor-load-timeout): expected a duration like 30s"#
/// );
/// assert!(matches!(err, ConfigError::InvalidValue { key: ConfigKey::ImagorLoadTimeout, .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value does not parse or is not allowed. The value of a secret option is never shown.
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        /// The option.
        key: ConfigKey,
        /// The text as given (`<redacted>` for secret options).
        value: String,
        /// Where the value came from.
        origin: Origin,
        /// What was expected, or why the value is refused.
        reason: String,
    },
    /// A command-line flag that imagor does not define (as Go's `flag` package reports it).
    #[error("flag provided but not defined: {flag}")]
    UnknownFlag {
        /// The flag as written, e.g. `-imagor-sercet`.
        flag: String,
    },
    /// A non-boolean flag at the end of the command line, without its value.
    #[error("flag needs an argument: {flag}")]
    MissingArgument {
        /// The flag as written.
        flag: String,
    },
    /// An argument that starts with dashes but is not a flag, such as `---x` or `-=x`.
    #[error("bad flag syntax: {arg}")]
    BadFlagSyntax {
        /// The argument as written.
        arg: String,
    },
    /// A plain argument where a flag was expected. imagor takes no positional arguments; this
    /// usually means a boolean was written as `-name false` instead of `-name=false`.
    #[error(
        "unexpected argument {arg:?}: options are written -name value, and booleans -name or -name=false"
    )]
    UnexpectedArgument {
        /// The argument as written.
        arg: String,
    },
    /// A command-line argument or environment value that is not valid UTF-8.
    #[error("{what} is not valid UTF-8: {lossy:?}")]
    NotUnicode {
        /// Which argument or variable.
        what: String,
        /// The text with invalid bytes replaced.
        lossy: String,
    },
    /// The config file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ReadConfigFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The config file has a line that is not `NAME=value`.
    #[error("config file {}, line {line}: {message}", path.display())]
    ConfigFileSyntax {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// The bucket router's routing file (`S3_LOADER_BUCKET_ROUTER_CONFIG`) cannot be read or
    /// is not valid; the message names the file and, where YAML tells them, the line and field.
    #[cfg(feature = "s3")]
    #[error(transparent)]
    BucketRouter(#[from] crate::s3::RouterConfigError),
    /// The presets file (`IMAGOR_PRESETS_PATH`) cannot be read or is not valid; the message
    /// names the file and, for its content, the line and field.
    #[error(transparent)]
    Presets(#[from] super::PresetsFileError),
    /// An option that needs a cargo feature this build leaves out, such as
    /// `S3_LOADER_BUCKET` without the `s3` feature: refused rather than ignored, so that a
    /// deployment never runs without the loader or storage it asked for.
    #[error(
        "{key} needs the `{feature}` cargo feature, which this build of imagor-tower leaves out"
    )]
    NotBuiltIn {
        /// The option that was set.
        key: ConfigKey,
        /// The cargo feature it needs.
        feature: &'static str,
    },
    /// `-h`, `-help` or `--help` was given: print [`Config::help_text`](super::Config::help_text)
    /// and exit successfully.
    #[error("help requested")]
    HelpRequested,
}

impl ConfigError {
    /// An [`InvalidValue`](Self::InvalidValue) error, with the value redacted for secrets.
    pub(crate) fn invalid(
        key: ConfigKey,
        value: &str,
        origin: Origin,
        reason: impl Into<String>,
    ) -> Self {
        let value = if key.is_secret() {
            "<redacted>".to_owned()
        } else {
            value.to_owned()
        };
        Self::InvalidValue {
            key,
            value,
            origin,
            reason: reason.into(),
        }
    }
}

impl From<ConfigError> for crate::Error {
    fn from(err: ConfigError) -> Self {
        crate::Error::internal(err)
    }
}
