//! [`S3Options::from_config`]: the S3 settings of one role, read from an [`S3Config`].
//!
//! The configuration builds S3 clients, never the other way round: this is the only place
//! where the two meet.

use super::sections::{S3Config, S3StorageConfig};
use crate::s3::{S3Options, S3Role};

impl S3Options {
    /// The options of one role from the configuration (imagor's `AWS_*` and `S3_*`
    /// settings), or `None` when that role has no bucket.
    ///
    /// Endpoint: the role's, else `S3_ENDPOINT`. Credentials: the role's `AWS_<ROLE>_*`
    /// when region, key id and secret are all set, else the global `AWS_*` when key id and
    /// secret are set, else the standard AWS chain (in the chosen region); see
    /// [`AwsCredentials`](crate::s3::AwsCredentials). The canned ACL, tagging and
    /// expiration come from the storage roles; the storage class is sent by both storages.
    ///
    /// ```
    /// use imagor_tower::config::ConfigBuilder;
    /// use imagor_tower::s3::{S3Options, S3Role};
    ///
    /// let config = ConfigBuilder::new()
    ///     .env([("S3_STORAGE_BUCKET", "images/originals"), ("S3_STORAGE_ACL", "public-read")])
    ///     .build()
    ///     .unwrap();
    /// let options = S3Options::from_config(&config.s3, S3Role::Storage).unwrap();
    /// let backend = options.build().unwrap();
    /// assert_eq!(backend.resolve("a.jpg", "").unwrap().key, "originals/a.jpg");
    /// assert!(S3Options::from_config(&config.s3, S3Role::Loader).is_none());
    /// ```
    pub fn from_config(config: &S3Config, role: S3Role) -> Option<Self> {
        let storage: Option<&S3StorageConfig> = match role {
            S3Role::Storage => Some(&config.storage),
            S3Role::ResultStorage => Some(&config.result_storage),
            S3Role::Loader => None,
        };
        let (bucket, base_dir, path_prefix) = match storage {
            Some(storage) => (&storage.bucket, &storage.base_dir, &storage.path_prefix),
            None => {
                let loader = &config.loader;
                (&loader.bucket, &loader.base_dir, &loader.path_prefix)
            }
        };
        let mut options = Self::new(bucket.clone()?)
            .with_role(role)
            .with_path_prefix(path_prefix.clone())
            .with_safe_chars(config.safe_chars.clone())
            .with_force_path_style(config.force_path_style)
            .with_pool_max_idle_per_host(config.http_max_idle_conns_per_host);
        if !base_dir.is_empty() {
            options = options.with_base_dir(base_dir.clone());
        }
        if let Some(endpoint) = config.endpoint(role) {
            options = options.with_endpoint(endpoint);
        }
        options =
            options.with_credential_levels(Some(&config.aws), Some(config.role_aws(role)), None);
        if let Some(storage) = storage {
            options = options.with_storage_class(config.storage_class);
            if let Some(tagging) = &storage.tagging {
                options = options.with_tagging(tagging.clone());
            }
            if let Some(acl) = storage.acl {
                options = options.with_acl(acl);
            }
            if let Some(expiration) = storage.expiration {
                options = options.with_expiration(expiration);
            }
        }
        Some(options)
    }
}
