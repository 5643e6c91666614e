//! [`GcsOptions`]: everything needed to reach one role's Google Cloud Storage bucket.

use crate::cloud::DEFAULT_BUCKET_CACHE_SIZE;
use crate::cloud::net::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, default_retry};
use crate::config::GcsAcl;
use crate::storage::Role;
use object_store::RetryConfig;
use std::path::PathBuf;
use std::time::Duration;

/// The environment variable Google's client libraries read the emulator address from.
pub const STORAGE_EMULATOR_HOST: &str = "STORAGE_EMULATOR_HOST";

/// The environment variable naming the application-default credentials file.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// Settings of one Google Cloud Storage role (loader, storage or result storage), built into
/// a [`GcsBackend`](super::GcsBackend) with [`build`](Self::build).
///
/// The bucket is `name`, `name/dir` (the part after the first `/` is the base directory,
/// unless [`with_base_dir`](Self::with_base_dir) sets one) or `*`: the bucket is then taken
/// from each key, as for S3.
///
/// Credentials follow Google's application-default chain: the file named by
/// [`with_application_credentials`](Self::with_application_credentials) (the
/// `GOOGLE_APPLICATION_CREDENTIALS` variable, see [`from_env`](Self::from_env)), else
/// `gcloud auth application-default login`'s file in the home directory, else the metadata
/// server of the machine. [`with_emulator_host`](Self::with_emulator_host) (the
/// `STORAGE_EMULATOR_HOST` variable) instead talks to an emulator at that address without
/// credentials, as Google's client libraries do.
///
/// Network defaults: a 3 s connect timeout, a 30 s request timeout, two retries.
///
/// ```
/// use imagor_tower::config::GcsAcl;
/// use imagor_tower::gcs::GcsOptions;
/// use imagor_tower::storage::Role;
///
/// let backend = GcsOptions::new("images/originals")
///     .with_role(Role::Storage)
///     .with_emulator_host("127.0.0.1:4443")
///     .with_acl(GcsAcl::PublicRead)
///     .build()
///     .unwrap();
/// assert_eq!(backend.bucket(), Some("images"));
/// assert_eq!(backend.resolve("a/b.jpg", "").unwrap(), ("images".into(), "originals/a/b.jpg".into()));
/// ```
#[derive(Clone, Debug)]
pub struct GcsOptions {
    pub(super) bucket: String,
    pub(super) role: Role,
    pub(super) base_dir: Option<String>,
    pub(super) path_prefix: String,
    pub(super) safe_chars: String,
    pub(super) acl: Option<GcsAcl>,
    pub(super) expiration: Option<Duration>,
    /// The emulator's base URL (`http://host:port`); requests are then anonymous.
    pub(super) emulator: Option<String>,
    pub(super) application_credentials: Option<PathBuf>,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) retry: RetryConfig,
    pub(super) bucket_cache_size: usize,
}

impl GcsOptions {
    /// Options for `bucket` (`name`, `name/dir` or `*`), for the loader role, with Google's
    /// application-default credentials (no file named: the home directory's file or the
    /// metadata server). Nothing is read from the environment; see
    /// [`from_env`](Self::from_env).
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            role: Role::Loader,
            base_dir: None,
            path_prefix: String::new(),
            safe_chars: String::new(),
            acl: None,
            expiration: None,
            emulator: None,
            application_credentials: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: default_retry(),
            bucket_cache_size: DEFAULT_BUCKET_CACHE_SIZE,
        }
    }

    /// [`new`](Self::new), then the process environment's `STORAGE_EMULATOR_HOST` and
    /// `GOOGLE_APPLICATION_CREDENTIALS` applied as Google's client libraries apply them.
    pub fn from_env(bucket: impl Into<String>) -> Self {
        let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
        let mut options = Self::new(bucket);
        if let Some(host) = var(STORAGE_EMULATOR_HOST) {
            options = options.with_emulator_host(host);
        }
        if let Some(path) = var(GOOGLE_APPLICATION_CREDENTIALS) {
            options = options.with_application_credentials(path);
        }
        options
    }

    /// The role these options serve; a wildcard result storage takes its bucket from the
    /// source image key. Default: [`Role::Loader`].
    #[must_use]
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// The directory inside the bucket that keys are stored under (`GCLOUD_*_BASE_DIR`).
    #[must_use]
    pub fn with_base_dir(mut self, base_dir: impl Into<String>) -> Self {
        self.base_dir = Some(base_dir.into());
        self
    }

    /// Only keys under this prefix are served, and the prefix is removed
    /// (`GCLOUD_*_PATH_PREFIX`); other keys are [`Error::Invalid`](crate::Error::Invalid).
    #[must_use]
    pub fn with_path_prefix(mut self, path_prefix: impl Into<String>) -> Self {
        self.path_prefix = path_prefix.into();
        self
    }

    /// Extra characters left unescaped in object keys (`GCLOUD_SAFE_CHARS`); unlike S3 there
    /// are no extra default ones. `--` turns escaping off.
    #[must_use]
    pub fn with_safe_chars(mut self, safe_chars: impl Into<String>) -> Self {
        self.safe_chars = safe_chars.into();
        self
    }

    /// The predefined ACL of every write (`GCLOUD_STORAGE_ACL`, `GCLOUD_RESULT_STORAGE_ACL`),
    /// sent as `x-goog-acl` by the writer client only.
    #[must_use]
    pub fn with_acl(mut self, acl: GcsAcl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Objects last updated longer ago than this count as expired (`GCLOUD_*_EXPIRATION`).
    #[must_use]
    pub fn with_expiration(mut self, expiration: Duration) -> Self {
        self.expiration = Some(expiration);
        self
    }

    /// Talk to a Cloud Storage emulator at `host` (`host:port` or `http://host:port`, the
    /// forms of `STORAGE_EMULATOR_HOST`) without credentials.
    #[must_use]
    pub fn with_emulator_host(mut self, host: impl Into<String>) -> Self {
        let host = host.into();
        let host = host.trim_end_matches('/');
        self.emulator = Some(if host.contains("://") {
            host.to_owned()
        } else {
            format!("http://{host}")
        });
        self
    }

    /// The application-default credentials file (`GOOGLE_APPLICATION_CREDENTIALS`): a
    /// service-account key or an authorized-user file.
    #[must_use]
    pub fn with_application_credentials(mut self, path: impl Into<PathBuf>) -> Self {
        self.application_credentials = Some(path.into());
        self
    }

    /// The longest a single request may take. Default: 30 s.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest connecting may take. Default: 3 s.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The retry policy. Default: two retries within 10 s.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// How many wildcard buckets keep their clients (at least 1). Default: 64.
    #[must_use]
    pub fn with_bucket_cache_size(mut self, size: usize) -> Self {
        self.bucket_cache_size = size.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_hosts_take_both_forms() {
        let bare = GcsOptions::new("b").with_emulator_host("127.0.0.1:4443");
        assert_eq!(bare.emulator.as_deref(), Some("http://127.0.0.1:4443"));
        let url = GcsOptions::new("b").with_emulator_host("https://gcs.local:9000/");
        assert_eq!(url.emulator.as_deref(), Some("https://gcs.local:9000"));
    }
}
