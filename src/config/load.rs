//! [`Config`] and [`ConfigBuilder`]: gathering the option values from their sources and
//! resolving them into typed sections.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::path::{Path, PathBuf};

use super::cloud::{AzureConfig, GCloudConfig};
use super::error::ConfigError;
use super::key::ConfigKey;
use super::origin::Origin;
use super::resolve::Values;
use super::sections::{
    FileConfig, HttpLoaderConfig, ImagorConfig, ProcessingConfig, S3Config, ServerConfig,
    UploadLoaderConfig,
};
use super::{args, dotenv};

/// The validated, typed configuration.
///
/// Sections are public fields; see the [module docs](crate::config) for how it is built.
/// `Debug` output redacts every secret.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Config {
    /// Process, listener and observability (`PORT`, `BIND`, `SERVER_*`, ...).
    pub server: ServerConfig,
    /// Core service: signing, caching headers, limits, timeouts, key styles (`IMAGOR_*`).
    pub imagor: ImagorConfig,
    /// HTTP loader (`HTTP_LOADER_*`).
    pub http_loader: HttpLoaderConfig,
    /// File loader, storage and result storage (`FILE_*`).
    pub file: FileConfig,
    /// Upload loader (`UPLOAD_LOADER_*`).
    pub upload: UploadLoaderConfig,
    /// AWS S3 loader, storage, result storage (`AWS_*`, `S3_*`).
    pub s3: S3Config,
    /// Google Cloud Storage loader, storage, result storage (`GCLOUD_*`, and Google's
    /// `STORAGE_EMULATOR_HOST` and `GOOGLE_APPLICATION_CREDENTIALS` from the environment).
    pub gcloud: GCloudConfig,
    /// Azure Blob Storage loader, storage, result storage (`AZURE_*`).
    pub azure: AzureConfig,
    /// Image processor limits and encoding (`VIPS_*`).
    pub processing: ProcessingConfig,
    pub(super) origins: BTreeMap<ConfigKey, Origin>,
    pub(super) unsupported: Vec<&'static str>,
    pub(super) warnings: Vec<String>,
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
/// Setters never fail; every error is reported by `build`. See the [module docs](crate::config) for an
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
        // Google's client libraries read these two from the environment only.
        let google_env = |name: &str| {
            self.env
                .iter()
                .rev()
                .find(|(key, value)| key == name && !value.is_empty())
                .map(|(_, value)| value.clone())
        };
        let emulator_host = google_env("STORAGE_EMULATOR_HOST");
        let application_credentials = google_env("GOOGLE_APPLICATION_CREDENTIALS");
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
        super::without_s3::refuse_s3_options(&values)?;
        #[cfg(not(all(feature = "gcs", feature = "azure")))]
        super::without_cloud::refuse_cloud_options(&values)?;
        let mut resolved = values.resolve()?;
        resolved.gcloud.emulator_host = emulator_host;
        resolved.gcloud.application_credentials = application_credentials.map(PathBuf::from);
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
            upload: resolved.upload,
            s3: resolved.s3,
            gcloud: resolved.gcloud,
            azure: resolved.azure,
            processing: resolved.processing,
            origins: values.origins(),
            unsupported,
            warnings,
        })
    }
}
