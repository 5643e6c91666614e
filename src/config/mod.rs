//! imagor's configuration: command-line flags, environment variables and a dotenv file,
//! parsed and validated into a typed [`Config`].
//!
//! The standalone server and library users read the same names imagor does (see imagor's
//! configuration reference, <https://github.com/cshum/imagor#configuration>), so an existing deployment can switch without changing its configuration:
//!
//! * every option is a flag `-name value` (also `-name=value`, `--name value`; booleans as a
//!   bare `-name` or `-name=false`), see [`ConfigBuilder::args`];
//! * and an environment variable: the flag name upper-cased with `-` replaced by `_`
//!   (`-imagor-secret` → `IMAGOR_SECRET`); empty variables count as unset, unknown ones are
//!   ignored; see [`ConfigBuilder::env`];
//! * and a line `NAME=value` in a dotenv-style file (path from `-config`/`CONFIG`, default
//!   `.env` in the working directory; a missing file is fine); see [`ConfigBuilder::dotenv_text`]
//!   and the [`dotenv`] module for the syntax.
//!
//! Precedence: command line > environment > config file > built-in default.
//! Values set in code with [`ConfigBuilder::with_config`] win over all of them.
//!
//! All 152 imagor options are known ([`ConfigKey`]), plus imagor-tower's own (among them the
//! connection limits `SERVER_MAX_CONNECTIONS`, `SERVER_HEADER_TIMEOUT`, `SERVER_IDLE_TIMEOUT`,
//! signing-key rotation `IMAGOR_SECRET_PREVIOUS*`, presets `IMAGOR_PRESETS_PATH`,
//! `IMAGOR_ONLY_PRESETS`, and the Azure Blob Storage options `AZURE_*`, see [`AzureConfig`]).
//! Google's `STORAGE_EMULATOR_HOST` and `GOOGLE_APPLICATION_CREDENTIALS` are read from the
//! environment only, as Google's client libraries (and so imagor) read them.
//! Those this crate implements become typed fields of [`Config`], with imagor's effective defaults applied (zero timeouts become
//! 20 s or 30 s, zero size limits become 9999 / 81 000 000, a zero cache TTL keeps 7 days ...).
//! Options that are known but not implemented yet are still validated, and the ones that were
//! set are listed by [`Config::unsupported`] so the server can say so instead of ignoring them.
//! Values imagor silently replaces (an unknown signer type, storage class, key style ...)
//! keep imagor's behaviour and are reported by [`Config::warnings`].
//!
//! Parsing is deferred: builder methods never fail and [`ConfigBuilder::build`] reports the
//! first problem as a [`ConfigError`] naming the option and the value. Secrets
//! (`IMAGOR_SECRET`, AWS secret keys and session tokens, proxy URLs) are held as [`Secret`]
//! and never appear in `Debug` output or error messages.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use imagor_tower::config::{Config, ConfigKey, Origin};
//!
//! let config = Config::builder()
//!     .args(["-imagor-unsafe", "-port=9000"])
//!     .env([("PORT", "8080"), ("IMAGOR_SECRET", "mysecret"), ("VIPS_MAX_CACHE_MEM", "1")])
//!     .dotenv_text("IMAGOR_LOAD_TIMEOUT=5s\nPORT=7000\n")
//!     .build()
//!     .unwrap();
//!
//! assert_eq!(config.server.port, 9000); // command line beats environment and file
//! assert_eq!(config.origin(ConfigKey::Port), Origin::CommandLine);
//! assert!(config.imagor.allow_unsafe);
//! assert_eq!(config.imagor.load_timeout, Duration::from_secs(5)); // from the file
//! assert_eq!(config.imagor.save_timeout, Duration::from_secs(20)); // effective default
//! assert_eq!(config.unsupported(), ["VIPS_MAX_CACHE_MEM"]);
//! assert!(!format!("{config:?}").contains("mysecret"));
//! ```
//!
//! A server's `main` does:
//!
//! ```no_run
//! use imagor_tower::config::{Config, ConfigError};
//!
//! let config = match Config::from_env() {
//!     Ok(config) => config,
//!     Err(ConfigError::HelpRequested) => {
//!         print!("{}", Config::help_text());
//!         std::process::exit(0);
//!     }
//!     Err(err) => {
//!         eprintln!("imagor: {err}");
//!         std::process::exit(2);
//!     }
//! };
//! for name in config.unsupported() {
//!     eprintln!("IMAGOR option {name} is not supported yet");
//! }
//! ```

mod args;
mod cloud;
pub mod dotenv;
mod error;
mod key;
mod load;
mod origin;
mod presets;
mod resolve;
#[cfg(feature = "s3")]
mod s3;
mod sections;
mod stack;
mod value;
#[cfg(not(all(feature = "gcs", feature = "azure")))]
mod without_cloud;
#[cfg(not(feature = "s3"))]
mod without_s3;

pub use crate::s3::{AwsCredentials, CannedAcl, S3Role, S3StorageClass};
pub use crate::secret::Secret;
pub use cloud::{AzureConfig, AzureContainerConfig, GCloudBucketConfig, GCloudConfig, GcsAcl};
pub use error::ConfigError;
pub use key::{ConfigKey, Section, UnknownKey, ValueKind};
pub use load::{Config, ConfigBuilder};
pub use origin::Origin;
pub use presets::{PresetsFileError, presets_from_file, presets_from_yaml};
pub use sections::{
    DEFAULT_AVIF_SPEED, DEFAULT_CACHE_SWR, DEFAULT_CACHE_TTL, DEFAULT_MAX_DIMENSION,
    DEFAULT_MAX_RESOLUTION, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STAGE_TIMEOUT,
    DEFAULT_UNSAFE_MAX_FILTER_OPS, FileConfig, FileLoaderConfig, FileStorageConfig,
    HttpLoaderConfig, ImagorConfig, ProcessingConfig, PrometheusConfig, ResultStoragePathStyle,
    S3Config, S3LoaderConfig, S3StorageConfig, ServerConfig, SignerType, StoragePathStyle,
    UploadLoaderConfig,
};
pub use stack::BoxSource;
#[cfg(feature = "server")]
pub use stack::ConfiguredService;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn defaults_match_the_table() {
        // The hand-written `Default` impls and the table's default strings must agree.
        let built = ConfigBuilder::new().build().unwrap();
        assert_eq!(
            format!("{built:?}"),
            format!("{:?}", Config::default()),
            "Config::default() drifted from the option table"
        );
        assert!(built.unsupported().is_empty());
        assert!(built.warnings().is_empty());
    }

    #[test]
    fn every_default_value_parses() {
        // Setting each option explicitly to its default changes nothing.
        let mut builder = ConfigBuilder::new();
        for key in ConfigKey::ALL
            .iter()
            .filter(|k| !k.default_value().is_empty())
        {
            builder = builder.with_config(*key, key.default_value());
        }
        let config = builder.build().unwrap();
        let expected = Config {
            origins: config.origins.clone(),
            unsupported: config.unsupported.clone(),
            ..Config::default()
        };
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
    }

    #[test]
    fn file_cannot_redirect_itself() {
        let config = ConfigBuilder::new()
            .dotenv_text("CONFIG=other.env\nPORT=1\n")
            .build()
            .unwrap();
        assert_eq!(config.server.config_file, Some(PathBuf::from(".env")));
        assert_eq!(config.origin(ConfigKey::Config), Origin::Default);
        assert_eq!(config.server.port, 1);
    }

    #[test]
    fn builder_debug_hides_values() {
        let builder = ConfigBuilder::new()
            .args(["-imagor-secret", "topsecret"])
            .env([("AWS_SECRET_ACCESS_KEY", "alsosecret")]);
        let text = format!("{builder:?}");
        assert!(
            !text.contains("topsecret") && !text.contains("alsosecret"),
            "{text}"
        );
    }

    #[test]
    fn help_lists_every_option() {
        let help = Config::help_text();
        for key in ConfigKey::ALL {
            assert!(help.contains(&format!("  -{}", key.flag_name())), "{key:?}");
            assert!(help.contains(&format!("[{}]", key.env_var())), "{key:?}");
        }
        assert!(help.contains("-port <int>  [PORT]  (default 8000)"));
        assert!(help.contains("-gomaxprocs <int>  [GOMAXPROCS]  (default 0)  (not supported yet)"));
        assert!(help.contains("-imagor-unsafe  [IMAGOR_UNSAFE]\n"));
    }
}
