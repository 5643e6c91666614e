//! [`AzureOptions`]: everything needed to reach one role's Azure Blob Storage container.

use crate::cloud::DEFAULT_BUCKET_CACHE_SIZE;
use crate::cloud::net::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, default_retry};
use crate::secret::Secret;
use crate::storage::Role;
use object_store::RetryConfig;
use std::time::Duration;

/// How requests to Azure are authorised.
#[derive(Clone, Debug, Default)]
pub(super) enum Credentials {
    /// The standard Azure chain, from the process environment: an account key or SAS token
    /// (`AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_SAS_TOKEN`), a service principal
    /// (`AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_TENANT_ID`), workload identity
    /// (`AZURE_FEDERATED_TOKEN_FILE`), then the machine's managed identity.
    #[default]
    Chain,
    /// The storage account's shared key.
    AccessKey(Secret),
    /// A shared access signature (the query string, with or without a leading `?`).
    Sas(Secret),
}

/// Settings of one Azure Blob Storage role (loader, storage or result storage), built into
/// an [`AzureBackend`](super::AzureBackend) with [`build`](Self::build).
///
/// The container is `name`, `name/dir` (the part after the first `/` is the base directory,
/// unless [`with_base_dir`](Self::with_base_dir) sets one) or `*`: the container is then
/// taken from each key, as S3 buckets are.
///
/// The endpoint is the blob service URL including the account
/// (`https://ACCOUNT.blob.core.windows.net`, the default, or Azurite's
/// `http://127.0.0.1:10000/devstoreaccount1`). The account name is
/// [`with_account`](Self::with_account)'s, else read from the endpoint (its first host label
/// on `*.blob.core.windows.net`, else its first path segment).
///
/// Network defaults: a 3 s connect timeout, a 30 s request timeout, two retries.
///
/// ```
/// use imagor_tower::azure::AzureOptions;
/// use imagor_tower::storage::Role;
///
/// let backend = AzureOptions::new("images/originals")
///     .with_role(Role::Storage)
///     .with_endpoint("http://127.0.0.1:10000/devstoreaccount1")
///     .with_access_key("a2V5")
///     .build()
///     .unwrap();
/// assert_eq!(backend.container(), Some("images"));
/// assert_eq!(backend.resolve("a/b.jpg", "").unwrap(), ("images".into(), "originals/a/b.jpg".into()));
/// ```
#[derive(Clone, Debug)]
pub struct AzureOptions {
    pub(super) container: String,
    pub(super) role: Role,
    pub(super) base_dir: Option<String>,
    pub(super) path_prefix: String,
    pub(super) safe_chars: String,
    pub(super) expiration: Option<Duration>,
    pub(super) account: Option<String>,
    pub(super) credentials: Credentials,
    pub(super) endpoint: Option<String>,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) retry: RetryConfig,
    pub(super) container_cache_size: usize,
}

impl AzureOptions {
    /// Options for `container` (`name`, `name/dir` or `*`), for the loader role, with the
    /// standard Azure credential chain.
    pub fn new(container: impl Into<String>) -> Self {
        Self {
            container: container.into(),
            role: Role::Loader,
            base_dir: None,
            path_prefix: String::new(),
            safe_chars: String::new(),
            expiration: None,
            account: None,
            credentials: Credentials::Chain,
            endpoint: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: default_retry(),
            container_cache_size: DEFAULT_BUCKET_CACHE_SIZE,
        }
    }

    /// The role these options serve; a wildcard result storage takes its container from the
    /// source image key. Default: [`Role::Loader`].
    #[must_use]
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// The directory inside the container that keys are stored under (`AZURE_*_BASE_DIR`).
    #[must_use]
    pub fn with_base_dir(mut self, base_dir: impl Into<String>) -> Self {
        self.base_dir = Some(base_dir.into());
        self
    }

    /// Only keys under this prefix are served, and the prefix is removed
    /// (`AZURE_*_PATH_PREFIX`); other keys are [`Error::Invalid`](crate::Error::Invalid).
    #[must_use]
    pub fn with_path_prefix(mut self, path_prefix: impl Into<String>) -> Self {
        self.path_prefix = path_prefix.into();
        self
    }

    /// Extra characters left unescaped in blob names; `--` turns escaping off.
    #[must_use]
    pub fn with_safe_chars(mut self, safe_chars: impl Into<String>) -> Self {
        self.safe_chars = safe_chars.into();
        self
    }

    /// Blobs last modified longer ago than this count as expired (`AZURE_*_EXPIRATION`).
    #[must_use]
    pub fn with_expiration(mut self, expiration: Duration) -> Self {
        self.expiration = Some(expiration);
        self
    }

    /// The storage account (`AZURE_STORAGE_ACCOUNT_NAME`).
    #[must_use]
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// The account's shared key (`AZURE_STORAGE_ACCOUNT_KEY`), instead of the chain.
    #[must_use]
    pub fn with_access_key(mut self, key: impl Into<String>) -> Self {
        self.credentials = Credentials::AccessKey(Secret::new(key));
        self
    }

    /// A shared access signature (`AZURE_STORAGE_SAS_TOKEN`), instead of the chain.
    #[must_use]
    pub fn with_sas_token(mut self, token: impl Into<String>) -> Self {
        self.credentials = Credentials::Sas(Secret::new(token));
        self
    }

    /// The blob service URL including the account (`AZURE_ENDPOINT`), such as Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1`. `http://` endpoints are allowed.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into().trim_end_matches('/').to_owned());
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

    /// How many wildcard containers keep their clients (at least 1). Default: 64.
    #[must_use]
    pub fn with_container_cache_size(mut self, size: usize) -> Self {
        self.container_cache_size = size.max(1);
        self
    }

    /// The account: the configured one, else the one the endpoint names.
    pub(super) fn account_name(&self) -> Option<String> {
        if let Some(account) = self.account.as_ref().filter(|a| !a.is_empty()) {
            return Some(account.clone());
        }
        let endpoint = self.endpoint.as_deref()?;
        let (_, rest) = endpoint.split_once("://")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.split(':').next().unwrap_or(host);
        if let Some(account) = host.strip_suffix(".blob.core.windows.net") {
            return Some(account.to_owned()).filter(|a| !a.is_empty());
        }
        path.split('/')
            .next()
            .filter(|segment| !segment.is_empty())
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_comes_from_the_setting_or_the_endpoint() {
        let azurite =
            AzureOptions::new("c").with_endpoint("http://127.0.0.1:10000/devstoreaccount1/");
        assert_eq!(
            azurite.endpoint.as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
        assert_eq!(azurite.account_name().as_deref(), Some("devstoreaccount1"));
        let cloud = AzureOptions::new("c").with_endpoint("https://acme.blob.core.windows.net");
        assert_eq!(cloud.account_name().as_deref(), Some("acme"));
        let named = cloud.with_account("other");
        assert_eq!(named.account_name().as_deref(), Some("other"));
        assert_eq!(AzureOptions::new("c").account_name(), None);
        let bare = AzureOptions::new("c").with_endpoint("http://blobs.local:9000");
        assert_eq!(bare.account_name(), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let key = AzureOptions::new("c").with_access_key("very-secret-key");
        let sas = AzureOptions::new("c").with_sas_token("sv=1&sig=very-secret-sig");
        for text in [format!("{key:?}"), format!("{sas:?}")] {
            assert!(!text.contains("very-secret"), "{text}");
        }
    }
}
