//! imagor's configuration: command-line flags, environment variables and a dotenv file,
//! parsed and validated into a typed [`Config`].
//!
//! The standalone server and library users read the same names imagor does (`SERVER.md` §1
//! and §2), so an existing deployment can switch without changing its configuration:
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
//! All 152 imagor options are known ([`ConfigKey`]), plus three of imagor-tower's own (the
//! connection limits `SERVER_MAX_CONNECTIONS`, `SERVER_HEADER_TIMEOUT`, `SERVER_IDLE_TIMEOUT`).
//! Those this crate implements become typed fields of [`Config`], with `SERVER.md`'s effective defaults applied (zero timeouts become
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
//!     .env([("PORT", "8080"), ("IMAGOR_SECRET", "mysecret"), ("GCLOUD_LOADER_BUCKET", "b")])
//!     .dotenv_text("IMAGOR_LOAD_TIMEOUT=5s\nPORT=7000\n")
//!     .build()
//!     .unwrap();
//!
//! assert_eq!(config.server.port, 9000); // command line beats environment and file
//! assert_eq!(config.origin(ConfigKey::Port), Origin::CommandLine);
//! assert!(config.imagor.allow_unsafe);
//! assert_eq!(config.imagor.load_timeout, Duration::from_secs(5)); // from the file
//! assert_eq!(config.imagor.save_timeout, Duration::from_secs(20)); // effective default
//! assert_eq!(config.unsupported(), ["GCLOUD_LOADER_BUCKET"]);
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
pub mod dotenv;
mod error;
mod key;
mod resolve;
mod sections;
mod stack;
mod value;
#[cfg(not(feature = "s3"))]
mod without_s3;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub use key::{ConfigKey, Section, UnknownKey, ValueKind};
pub use sections::{
    AwsCredentials, CannedAcl, DEFAULT_AVIF_SPEED, DEFAULT_CACHE_SWR, DEFAULT_CACHE_TTL,
    DEFAULT_MAX_DIMENSION, DEFAULT_MAX_RESOLUTION, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STAGE_TIMEOUT,
    DEFAULT_UNSAFE_MAX_FILTER_OPS, FileConfig, FileLoaderConfig, FileStorageConfig,
    HttpLoaderConfig, ImagorConfig, ProcessingConfig, PrometheusConfig, ResultStoragePathStyle,
    S3Config, S3LoaderConfig, S3Role, S3StorageClass, S3StorageConfig, ServerConfig, SignerType,
    StoragePathStyle,
};
pub use stack::BoxSource;
#[cfg(feature = "server")]
pub use stack::ConfiguredService;
pub use value::Secret;

use resolve::Values;

/// Where the value of an option came from. Later variants win over earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Origin {
    /// Not set anywhere: the built-in default.
    Default,
    /// The dotenv-style config file.
    File,
    /// An environment variable.
    Environment,
    /// A command-line flag.
    CommandLine,
    /// [`ConfigBuilder::with_config`].
    Code,
}

/// The validated, typed configuration.
///
/// Sections are public fields; see the [module docs](self) for how it is built.
/// `Debug` output redacts every secret.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Config {
    /// Process, listener and observability (`SERVER.md` §2 A).
    pub server: ServerConfig,
    /// Core service: signing, caching headers, limits, timeouts, key styles (§2 B).
    pub imagor: ImagorConfig,
    /// HTTP loader (§2 C).
    pub http_loader: HttpLoaderConfig,
    /// File loader, storage and result storage (§2 D).
    pub file: FileConfig,
    /// AWS S3 loader, storage, result storage (§2 F).
    pub s3: S3Config,
    /// Image processor limits and encoding (§2 H).
    pub processing: ProcessingConfig,
    origins: BTreeMap<ConfigKey, Origin>,
    unsupported: Vec<&'static str>,
    warnings: Vec<String>,
}

impl Config {
    /// Reads the process's command line (after the program name), its environment and the
    /// config file it names (default `.env`).
    pub fn from_env() -> Result<Self, ConfigError> {
        ConfigBuilder::from_env().build()
    }

    /// Builds from explicit sources: `args` without the program name, `env` as name/value
    /// pairs, and `file_reader` called with the config file path (return an
    /// [`io::ErrorKind::NotFound`] error for a missing file).
    pub fn from_sources<A, E, F>(args: A, env: E, file_reader: F) -> Result<Self, ConfigError>
    where
        A: IntoIterator<Item = String>,
        E: IntoIterator<Item = (String, String)>,
        F: FnOnce(&Path) -> io::Result<String> + Send + 'static,
    {
        ConfigBuilder::new()
            .args(args)
            .env(env)
            .dotenv_reader(file_reader)
            .build()
    }

    /// A builder with no sources (everything at its default until sources are added).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// Environment variable names of options that were set but are not implemented yet, in
    /// table order. The server should log each as "IMAGOR option X is not supported yet".
    pub fn unsupported(&self) -> &[&'static str] {
        &self.unsupported
    }

    /// Notes about values that were accepted but replaced or ignored, as imagor does (an
    /// unknown signer type becomes sha1, an incomplete per-role AWS override is ignored, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the value of `key` came from.
    pub fn origin(&self, key: ConfigKey) -> Origin {
        self.origins.get(&key).copied().unwrap_or(Origin::Default)
    }

    /// Whether `key` was set by any source (as opposed to left at its default).
    pub fn is_set(&self, key: ConfigKey) -> bool {
        self.origin(key) != Origin::Default
    }

    /// The `-h`/`-help` text: every option with its flag, environment variable, default and
    /// description, grouped by section, unsupported ones marked.
    pub fn help_text() -> String {
        let mut out = String::from(
            "imagor-compatible image server options.\n\
             \n\
             Every option is a flag (-name value, -name=value; booleans as -name or -name=false),\n\
             an environment variable (shown in brackets) or a NAME=value line in the config file\n\
             (-config, default .env). Precedence: flag > environment > config file > default.\n\
             Durations use Go syntax (300ms, 30s, 1h30m); lists are comma-separated.\n",
        );
        let mut section = None;
        for key in ConfigKey::ALL {
            if section != Some(key.section()) {
                section = Some(key.section());
                let _ = write!(out, "\n{}:\n", key.section().title());
            }
            let _ = write!(
                out,
                "  -{}{}  [{}]",
                key.flag_name(),
                key.kind().placeholder(),
                key.env_var()
            );
            let default = key.default_value();
            if !default.is_empty() && default != "false" {
                let _ = write!(out, "  (default {default})");
            }
            if !key.is_supported() {
                out.push_str("  (not supported yet)");
            }
            let _ = writeln!(out, "\n        {}", key.help());
        }
        out
    }
}

type FileReader = Box<dyn FnOnce(&Path) -> io::Result<String> + Send>;

enum FileSource {
    None,
    Text(String),
    Reader(FileReader),
}

/// Collects configuration sources; [`build`](Self::build) parses and validates them.
///
/// Setters never fail; every error is reported by `build`. See the [module docs](self) for an
/// example.
pub struct ConfigBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    code: Vec<(ConfigKey, String)>,
    file: FileSource,
    deferred: Option<ConfigError>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Arguments and variables may hold secrets: show only how many there are.
        let file = match &self.file {
            FileSource::None => "none",
            FileSource::Text(_) => "text",
            FileSource::Reader(_) => "reader",
        };
        f.debug_struct("ConfigBuilder")
            .field("args", &self.args.len())
            .field("env", &self.env.len())
            .field("code", &self.code.len())
            .field("file", &file)
            .finish_non_exhaustive()
    }
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    /// A builder with no sources: no arguments, no environment, no config file.
    pub fn new() -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            code: Vec::new(),
            file: FileSource::None,
            deferred: None,
        }
    }

    /// A builder reading the process's arguments (after the program name) and environment
    /// now, and the config file from disk when [`build`](Self::build) runs.
    pub fn from_env() -> Self {
        let mut builder = Self::new();
        for (index, arg) in std::env::args_os().skip(1).enumerate() {
            match arg.into_string() {
                Ok(arg) => builder.args.push(arg),
                Err(raw) => {
                    builder.defer(ConfigError::NotUnicode {
                        what: format!("command-line argument {}", index.saturating_add(1)),
                        lossy: raw.to_string_lossy().into_owned(),
                    });
                }
            }
        }
        for (name, value) in std::env::vars_os() {
            // Names that are not UTF-8 cannot be imagor options.
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => builder.env.push((name, value)),
                Err(raw) => {
                    if let Some(key) = ConfigKey::from_env_var(&name) {
                        let lossy = if key.is_secret() {
                            "<redacted>".to_owned()
                        } else {
                            raw.to_string_lossy().into_owned()
                        };
                        builder.defer(ConfigError::NotUnicode {
                            what: format!("environment variable {name}"),
                            lossy,
                        });
                    }
                }
            }
        }
        builder.file = FileSource::Reader(Box::new(|path| std::fs::read_to_string(path)));
        builder
    }

    fn defer(&mut self, err: ConfigError) {
        if self.deferred.is_none() {
            self.deferred = Some(err);
        }
    }

    /// Command-line arguments, without the program name, with the rules of Go's `flag`
    /// package: `-name value`, `-name=value` (or `--`), booleans as a bare `-name` or
    /// `-name=false` (`-name false` is an error here: Go would silently stop parsing at
    /// `false`), a lone `--` ends the flags, `-h`/`-help` gives
    /// [`ConfigError::HelpRequested`], and an unknown flag gives [`ConfigError::UnknownFlag`].
    /// Replaces earlier arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Environment variables as name/value pairs; names that are not imagor options are
    /// ignored and empty values count as unset. Replaces earlier variables.
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = vars
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        self
    }

    /// Uses `text` as the contents of the config file instead of reading a file (unless the
    /// config path is set to empty, which disables the file).
    pub fn dotenv_text(mut self, text: impl Into<String>) -> Self {
        self.file = FileSource::Text(text.into());
        self
    }

    /// Reads the config file with `reader`, given the path from `-config`/`CONFIG` (default
    /// `.env`). A [`io::ErrorKind::NotFound`] error means there is no file, which is fine.
    pub fn dotenv_reader<F>(mut self, reader: F) -> Self
    where
        F: FnOnce(&Path) -> io::Result<String> + Send + 'static,
    {
        self.file = FileSource::Reader(Box::new(reader));
        self
    }

    /// Sets an option in code; it wins over every other source.
    pub fn with_config(mut self, key: ConfigKey, value: impl Into<String>) -> Self {
        self.code.push((key, value.into()));
        self
    }

    /// Parses and validates all sources.
    pub fn build(self) -> Result<Config, ConfigError> {
        if let Some(err) = self.deferred {
            return Err(err);
        }
        let mut values = Values::default();
        for (key, value) in args::parse(&self.args)? {
            values.set(key, Origin::CommandLine, value);
        }
        for (name, value) in self.env {
            if let Some(key) = ConfigKey::from_env_var(&name).filter(|_| !value.is_empty()) {
                values.set(key, Origin::Environment, value);
            }
        }
        for (key, value) in self.code {
            values.set(key, Origin::Code, value);
        }

        let mut warnings = Vec::new();
        let path = PathBuf::from(values.raw(ConfigKey::Config));
        if !path.as_os_str().is_empty() {
            let text = match self.file {
                FileSource::None => None,
                FileSource::Text(text) => Some(text),
                FileSource::Reader(read) => match read(&path) {
                    Ok(text) => Some(text),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {
                        if values.origin(ConfigKey::Config) != Origin::Default {
                            warnings.push(format!("config file {} not found", path.display()));
                        }
                        None
                    }
                    Err(source) => return Err(ConfigError::ReadConfigFile { path, source }),
                },
            };
            if let Some(text) = text {
                let entries =
                    dotenv::parse(&text).map_err(|err| ConfigError::ConfigFileSyntax {
                        path: path.clone(),
                        line: err.line,
                        message: err.message,
                    })?;
                for entry in entries {
                    let key = ConfigKey::from_env_var(&entry.name)
                        .or_else(|| ConfigKey::from_flag_name(&entry.name));
                    // The file cannot name another config file; empty values count as unset.
                    if let Some(key) = key.filter(|k| *k != ConfigKey::Config)
                        && !entry.value.is_empty()
                    {
                        values.set(key, Origin::File, entry.value);
                    }
                }
            }
        }

        #[cfg(not(feature = "s3"))]
        without_s3::refuse_s3_options(&values)?;
        let resolved = values.resolve()?;
        warnings.extend(resolved.warnings);
        let unsupported = ConfigKey::ALL
            .iter()
            .filter(|key| !key.is_supported() && values.origin(**key) != Origin::Default)
            .map(|key| key.env_var())
            .collect();
        Ok(Config {
            server: resolved.server,
            imagor: resolved.imagor,
            http_loader: resolved.http_loader,
            file: resolved.file,
            s3: resolved.s3,
            processing: resolved.processing,
            origins: values.origins(),
            unsupported,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
