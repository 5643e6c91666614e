//! The Google Cloud Storage (`GCLOUD_*`) and Azure Blob Storage (`AZURE_*`) sections of a
//! [`Config`](super::Config), and how each role's options are read from them.
//!
//! # Example
//!
//! ```
//! # #[cfg(all(feature = "gcs", feature = "azure"))]
//! # {
//! use imagor_tower::config::{ConfigBuilder, GcsAcl};
//!
//! let config = ConfigBuilder::new()
//!     .env([
//!         ("GCLOUD_STORAGE_BUCKET", "originals"),
//!         ("GCLOUD_STORAGE_ACL", "publicRead"),
//!         ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
//!         ("AZURE_RESULT_STORAGE_CONTAINER", "results"),
//!         ("AZURE_RESULT_STORAGE_EXPIRATION", "24h"),
//!     ])
//!     .build()
//!     .unwrap();
//! assert_eq!(config.gcloud.storage.bucket.as_deref(), Some("originals"));
//! assert_eq!(config.gcloud.storage.acl, Some(GcsAcl::PublicRead));
//! assert_eq!(config.gcloud.emulator_host.as_deref(), Some("127.0.0.1:4443"));
//! assert_eq!(config.azure.result_storage.container.as_deref(), Some("results"));
//! assert_eq!(config.azure.result_storage.expiration.unwrap().as_secs(), 24 * 3600);
//! # }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// A Google Cloud Storage predefined ACL for writes (`GCLOUD_STORAGE_ACL`,
/// `GCLOUD_RESULT_STORAGE_ACL`).
///
/// imagor passes the value to Google's client as the JSON API's `predefinedAcl`
/// (`publicRead`); the XML API's header spelling (`public-read`) is accepted too. Writes send
/// it as `x-goog-acl`.
///
/// ```
/// use imagor_tower::config::GcsAcl;
///
/// assert_eq!(GcsAcl::parse("publicRead"), Some(GcsAcl::PublicRead));
/// assert_eq!(GcsAcl::parse("public-read"), Some(GcsAcl::PublicRead));
/// assert_eq!(GcsAcl::PublicRead.as_str(), "publicRead");
/// assert_eq!(GcsAcl::PublicRead.header_value(), "public-read");
/// assert_eq!(GcsAcl::parse("everyone"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GcsAcl {
    /// `authenticatedRead`.
    AuthenticatedRead,
    /// `bucketOwnerFullControl`.
    BucketOwnerFullControl,
    /// `bucketOwnerRead`.
    BucketOwnerRead,
    /// `private`.
    Private,
    /// `projectPrivate`.
    ProjectPrivate,
    /// `publicRead`.
    PublicRead,
}

impl GcsAcl {
    const ALL: [Self; 6] = [
        Self::AuthenticatedRead,
        Self::BucketOwnerFullControl,
        Self::BucketOwnerRead,
        Self::Private,
        Self::ProjectPrivate,
        Self::PublicRead,
    ];

    /// The JSON API name imagor uses, e.g. `publicRead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthenticatedRead => "authenticatedRead",
            Self::BucketOwnerFullControl => "bucketOwnerFullControl",
            Self::BucketOwnerRead => "bucketOwnerRead",
            Self::Private => "private",
            Self::ProjectPrivate => "projectPrivate",
            Self::PublicRead => "publicRead",
        }
    }

    /// The value of the `x-goog-acl` header, e.g. `public-read`.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::AuthenticatedRead => "authenticated-read",
            Self::BucketOwnerFullControl => "bucket-owner-full-control",
            Self::BucketOwnerRead => "bucket-owner-read",
            Self::Private => "private",
            Self::ProjectPrivate => "project-private",
            Self::PublicRead => "public-read",
        }
    }

    /// The ACL named `text` in either spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|acl| acl.as_str() == text || acl.header_value() == text)
    }
}

/// One role's Google Cloud Storage bucket (`GCLOUD_LOADER_*`, `GCLOUD_STORAGE_*`,
/// `GCLOUD_RESULT_STORAGE_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GCloudBucketConfig {
    /// `*_BUCKET`: enables the role; `name/dir` and `*` forms are kept as written.
    pub bucket: Option<String>,
    /// `*_BASE_DIR`: key prefix inside the bucket.
    pub base_dir: String,
    /// `*_PATH_PREFIX`: only keys with this prefix are served.
    pub path_prefix: String,
    /// `*_ACL` (storages only): predefined ACL of writes; `None`: none sent (names that are
    /// not predefined ACLs are ignored with a warning).
    pub acl: Option<GcsAcl>,
    /// `*_EXPIRATION` (storages only): age after which stored objects count as expired.
    pub expiration: Option<Duration>,
}

/// Google Cloud Storage options (`GCLOUD_*`), plus the two environment variables Google's
/// client libraries read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GCloudConfig {
    /// `GCLOUD_SAFE_CHARS`: extra unescaped key characters (`--` disables escaping).
    pub safe_chars: String,
    /// The loader.
    pub loader: GCloudBucketConfig,
    /// Source storage.
    pub storage: GCloudBucketConfig,
    /// Result storage.
    pub result_storage: GCloudBucketConfig,
    /// `STORAGE_EMULATOR_HOST` (environment only, as for Google's libraries): every client
    /// talks to this emulator (`host:port` or `http://host:port`) without credentials.
    pub emulator_host: Option<String>,
    /// `GOOGLE_APPLICATION_CREDENTIALS` (environment only): the credentials file.
    pub application_credentials: Option<PathBuf>,
}

impl GCloudConfig {
    /// Whether any role has a bucket.
    pub fn is_enabled(&self) -> bool {
        [&self.loader, &self.storage, &self.result_storage]
            .iter()
            .any(|role| role.bucket.is_some())
    }
}

/// One role's Azure container (`AZURE_LOADER_*`, `AZURE_STORAGE_*`,
/// `AZURE_RESULT_STORAGE_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AzureContainerConfig {
    /// `*_CONTAINER`: enables the role; `name/dir` and `*` forms are kept as written.
    pub container: Option<String>,
    /// `*_BASE_DIR`: key prefix inside the container.
    pub base_dir: String,
    /// `*_PATH_PREFIX`: only keys with this prefix are served.
    pub path_prefix: String,
    /// `*_EXPIRATION` (storages only): age after which stored blobs count as expired.
    pub expiration: Option<Duration>,
}

/// Azure Blob Storage options (`AZURE_*`; imagor-tower's own, named after imagor's S3 and
/// GCS options).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AzureConfig {
    /// `AZURE_STORAGE_ACCOUNT_NAME`: the storage account (else read from the endpoint).
    pub account_name: Option<String>,
    /// `AZURE_STORAGE_ACCOUNT_KEY`: the account's shared key.
    pub account_key: Option<Secret>,
    /// `AZURE_STORAGE_SAS_TOKEN`: a shared access signature, used when no key is set.
    pub sas_token: Option<Secret>,
    /// `AZURE_ENDPOINT`: the blob service URL including the account.
    pub endpoint: Option<String>,
    /// The loader.
    pub loader: AzureContainerConfig,
    /// Source storage.
    pub storage: AzureContainerConfig,
    /// Result storage.
    pub result_storage: AzureContainerConfig,
}

impl AzureConfig {
    /// Whether any role has a container.
    pub fn is_enabled(&self) -> bool {
        [&self.loader, &self.storage, &self.result_storage]
            .iter()
            .any(|role| role.container.is_some())
    }
}

#[cfg(feature = "gcs")]
impl crate::gcs::GcsOptions {
    /// The options of one role from the configuration (imagor's `GCLOUD_*` settings), or
    /// `None` when that role has no bucket. `STORAGE_EMULATOR_HOST` and
    /// `GOOGLE_APPLICATION_CREDENTIALS` come from the configuration's environment.
    ///
    /// ```
    /// use imagor_tower::config::ConfigBuilder;
    /// use imagor_tower::gcs::GcsOptions;
    /// use imagor_tower::storage::Role;
    ///
    /// let config = ConfigBuilder::new()
    ///     .env([
    ///         ("GCLOUD_STORAGE_BUCKET", "images"),
    ///         ("GCLOUD_STORAGE_BASE_DIR", "originals"),
    ///         ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
    ///     ])
    ///     .build()
    ///     .unwrap();
    /// let backend = GcsOptions::from_config(&config.gcloud, Role::Storage).unwrap().build().unwrap();
    /// assert_eq!(backend.resolve("a.jpg", "").unwrap().1, "originals/a.jpg");
    /// assert!(GcsOptions::from_config(&config.gcloud, Role::Loader).is_none());
    /// ```
    pub fn from_config(config: &GCloudConfig, role: crate::storage::Role) -> Option<Self> {
        use crate::storage::Role;
        let bucket = match role {
            Role::Storage => &config.storage,
            Role::ResultStorage => &config.result_storage,
            _ => &config.loader,
        };
        let mut options = Self::new(bucket.bucket.clone()?)
            .with_role(role)
            .with_path_prefix(bucket.path_prefix.clone())
            .with_safe_chars(config.safe_chars.clone());
        if !bucket.base_dir.is_empty() {
            options = options.with_base_dir(bucket.base_dir.clone());
        }
        if let Some(acl) = bucket.acl {
            options = options.with_acl(acl);
        }
        if let Some(expiration) = bucket.expiration {
            options = options.with_expiration(expiration);
        }
        if let Some(host) = &config.emulator_host {
            options = options.with_emulator_host(host.clone());
        }
        if let Some(path) = &config.application_credentials {
            options = options.with_application_credentials(path.clone());
        }
        Some(options)
    }
}

#[cfg(feature = "azure")]
impl crate::azure::AzureOptions {
    /// The options of one role from the configuration (`AZURE_*`), or `None` when that role
    /// has no container. Credentials: `AZURE_STORAGE_ACCOUNT_KEY`, else
    /// `AZURE_STORAGE_SAS_TOKEN`, else the standard Azure chain.
    ///
    /// ```
    /// use imagor_tower::config::ConfigBuilder;
    /// use imagor_tower::azure::AzureOptions;
    /// use imagor_tower::storage::Role;
    ///
    /// let config = ConfigBuilder::new()
    ///     .env([
    ///         ("AZURE_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1"),
    ///         ("AZURE_LOADER_CONTAINER", "images"),
    ///         ("AZURE_LOADER_PATH_PREFIX", "/photos"),
    ///     ])
    ///     .build()
    ///     .unwrap();
    /// let backend = AzureOptions::from_config(&config.azure, Role::Loader).unwrap().build().unwrap();
    /// assert_eq!(backend.resolve("/photos/a.jpg", "").unwrap(), ("images".into(), "a.jpg".into()));
    /// assert!(AzureOptions::from_config(&config.azure, Role::Storage).is_none());
    /// ```
    pub fn from_config(config: &AzureConfig, role: crate::storage::Role) -> Option<Self> {
        use crate::storage::Role;
        let container = match role {
            Role::Storage => &config.storage,
            Role::ResultStorage => &config.result_storage,
            _ => &config.loader,
        };
        let mut options = Self::new(container.container.clone()?)
            .with_role(role)
            .with_path_prefix(container.path_prefix.clone());
        if !container.base_dir.is_empty() {
            options = options.with_base_dir(container.base_dir.clone());
        }
        if let Some(expiration) = container.expiration {
            options = options.with_expiration(expiration);
        }
        if let Some(account) = &config.account_name {
            options = options.with_account(account.clone());
        }
        if let Some(endpoint) = &config.endpoint {
            options = options.with_endpoint(endpoint.clone());
        }
        if let Some(key) = &config.account_key {
            options = options.with_access_key(key.expose());
        } else if let Some(token) = &config.sas_token {
            options = options.with_sas_token(token.expose());
        }
        Some(options)
    }
}
