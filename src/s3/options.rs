//! [`S3Options`]: everything needed to reach one role's bucket, as a builder.

use super::credentials::{AwsCredentials, Choice, Signing, Sources, choose};
use super::settings::{CannedAcl, S3Role, S3StorageClass};
use crate::secret::Secret;
use object_store::aws::AwsCredentialProvider;
use object_store::client::DnsResolver;
use object_store::{BackoffConfig, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// The default for [`S3Options::with_timeout`]: 30 seconds per request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default for [`S3Options::with_connect_timeout`]: 3 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The default for [`S3Options::with_bucket_cache_size`]: clients kept for 64 wildcard buckets.
pub const DEFAULT_BUCKET_CACHE_SIZE: usize = crate::cloud::DEFAULT_BUCKET_CACHE_SIZE;

/// The retry policy used unless [`S3Options::with_retry`] replaces it: two retries with
/// backoff from 100 ms to 1 s, all within 10 s, so that a dead endpoint fails in well under
/// a second instead of object_store's default of ten retries over up to three minutes.
pub fn default_retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
    }
}

/// Settings of one S3 role (loader, storage or result storage), built into an
/// [`S3Backend`](super::S3Backend) with [`build`](Self::build).
///
/// The bucket is `name`, `name/dir` (the part after the first `/` is the base directory,
/// unless [`with_base_dir`](Self::with_base_dir) sets one) or `*`: the bucket is then taken
/// from each key (see [`S3Backend`](super::S3Backend)).
///
/// Network defaults: virtual-hosted addressing, a 3 s connect timeout, a 30 s request
/// timeout and [`default_retry`]. `http://` endpoints are allowed automatically.
///
/// ```
/// use imagor_tower::s3::{CannedAcl, S3Role};
/// use imagor_tower::s3::S3Options;
///
/// let backend = S3Options::new("images/originals")
///     .with_role(S3Role::Storage)
///     .with_endpoint("http://127.0.0.1:9000")
///     .with_force_path_style(true)
///     .with_region("eu-west-1")
///     .with_access_key("AKID", "secret")
///     .with_acl(CannedAcl::PublicRead)
///     .build()
///     .unwrap();
/// assert_eq!(backend.bucket(), Some("images"));
/// assert_eq!(backend.resolve("a/b.jpg", "").unwrap().key, "originals/a/b.jpg");
/// ```
#[derive(Clone, Debug)]
pub struct S3Options {
    pub(super) bucket: String,
    pub(super) role: S3Role,
    pub(super) base_dir: Option<String>,
    pub(super) path_prefix: String,
    pub(super) safe_chars: String,
    pub(super) endpoint: Option<String>,
    pub(super) force_path_style: bool,
    /// Region and credentials.
    pub(super) credentials: Choice,
    pub(super) acl: Option<CannedAcl>,
    pub(super) storage_class: Option<S3StorageClass>,
    pub(super) tagging: Option<String>,
    pub(super) expiration: Option<Duration>,
    pub(super) allow_http: Option<bool>,
    pub(super) dns_resolver: Option<Arc<dyn DnsResolver>>,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) retry: RetryConfig,
    pub(super) pool_max_idle_per_host: Option<usize>,
    pub(super) bucket_cache_size: usize,
}

impl S3Options {
    /// Options for `bucket` (`name`, `name/dir` or `*`), for the loader role, with the
    /// standard AWS credential chain.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            role: S3Role::Loader,
            base_dir: None,
            path_prefix: String::new(),
            safe_chars: String::new(),
            endpoint: None,
            force_path_style: false,
            credentials: Choice::default(),
            acl: None,
            storage_class: None,
            tagging: None,
            expiration: None,
            allow_http: None,
            dns_resolver: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: default_retry(),
            pool_max_idle_per_host: None,
            bucket_cache_size: DEFAULT_BUCKET_CACHE_SIZE,
        }
    }

    /// Applies credential settings from a configuration or a bucket router entry on top of
    /// what these options carry, with the crate's one precedence rule (see
    /// [`AwsCredentials`]'s module).
    #[must_use]
    pub(crate) fn with_credential_levels(
        mut self,
        global: Option<&AwsCredentials>,
        role: Option<&AwsCredentials>,
        entry: Option<&AwsCredentials>,
    ) -> Self {
        self.credentials = choose(Sources {
            inherited: self.credentials,
            global,
            role,
            entry,
        });
        self
    }

    /// The role these options serve; it decides how a wildcard bucket is found for a key
    /// (result storage takes it from the source image key). Default: [`S3Role::Loader`].
    #[must_use]
    pub fn with_role(mut self, role: S3Role) -> Self {
        self.role = role;
        self
    }

    /// The directory inside the bucket that keys are stored under (`*_BASE_DIR`). It wins
    /// over a directory given in the bucket value (`name/dir`).
    #[must_use]
    pub fn with_base_dir(mut self, base_dir: impl Into<String>) -> Self {
        self.base_dir = Some(base_dir.into());
        self
    }

    /// Only keys under this prefix are served, and the prefix is removed
    /// (`*_PATH_PREFIX`); other keys are [`Error::Invalid`](crate::Error::Invalid).
    #[must_use]
    pub fn with_path_prefix(mut self, path_prefix: impl Into<String>) -> Self {
        self.path_prefix = path_prefix.into();
        self
    }

    /// Extra characters left unescaped in object keys (`S3_SAFE_CHARS`), on top of the
    /// always-safe set and S3's `!"()*`; `--` turns escaping off.
    #[must_use]
    pub fn with_safe_chars(mut self, safe_chars: impl Into<String>) -> Self {
        self.safe_chars = safe_chars.into();
        self
    }

    /// A custom S3-compatible endpoint such as `http://minio:9000` (`S3_ENDPOINT`, or the
    /// role's `S3_<ROLE>_ENDPOINT`).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Path-style addressing, `endpoint/bucket/key` (`S3_FORCE_PATH_STYLE`), instead of
    /// virtual-hosted style, `bucket.endpoint/key`.
    #[must_use]
    pub fn with_force_path_style(mut self, force_path_style: bool) -> Self {
        self.force_path_style = force_path_style;
        self
    }

    /// The AWS region (default `us-east-1`).
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.credentials.region = Some(region.into());
        self
    }

    /// Static credentials, instead of the standard AWS chain.
    #[must_use]
    pub fn with_access_key(mut self, key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials.signing = Signing::Static {
            key_id: key_id.into(),
            secret: Secret::new(secret),
        };
        self
    }

    /// The session token sent with static credentials.
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.credentials.session_token = Some(Secret::new(token));
        self
    }

    /// Any credential provider, for example an [`AwsChainCredentials`](super::AwsChainCredentials) for a named profile.
    #[must_use]
    pub fn with_credentials(mut self, provider: AwsCredentialProvider) -> Self {
        self.credentials.signing = Signing::Provider(provider);
        self
    }

    /// The canned ACL sent on every write as a signed `x-amz-acl` header (`S3_*_ACL`).
    #[must_use]
    pub fn with_acl(mut self, acl: CannedAcl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Object tags of writes, in S3's query form `key1=value1&key2=value2`
    /// (`S3_STORAGE_TAGGING`, `S3_RESULT_STORAGE_TAGGING`), sent as `x-amz-tagging`.
    #[must_use]
    pub fn with_tagging(mut self, tagging: impl Into<String>) -> Self {
        let tagging = tagging.into();
        self.tagging = (!tagging.trim().is_empty()).then_some(tagging);
        self
    }

    /// The storage class of writes (`S3_STORAGE_CLASS`), sent as `x-amz-storage-class`.
    #[must_use]
    pub fn with_storage_class(mut self, storage_class: S3StorageClass) -> Self {
        self.storage_class = Some(storage_class);
        self
    }

    /// Objects whose last modification is older than this count as expired
    /// (`*_EXPIRATION`).
    #[must_use]
    pub fn with_expiration(mut self, expiration: Duration) -> Self {
        self.expiration = Some(expiration);
        self
    }

    /// Whether plain `http://` endpoints are allowed. Default: allowed exactly when the
    /// endpoint starts with `http://`.
    #[must_use]
    pub fn with_allow_http(mut self, allow_http: bool) -> Self {
        self.allow_http = Some(allow_http);
        self
    }

    /// Resolves host names with this resolver instead of the system's (tests map
    /// `BUCKET.localhost` to the loopback address with one).
    #[must_use]
    pub fn with_dns_resolver(mut self, resolver: Arc<dyn DnsResolver>) -> Self {
        self.dns_resolver = Some(resolver);
        self
    }

    /// The longest a single request may take. Default: [`DEFAULT_TIMEOUT`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest connecting may take. Default: [`DEFAULT_CONNECT_TIMEOUT`].
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The retry policy. Default: [`default_retry`].
    #[must_use]
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Idle keep-alive connections kept per host (`S3_HTTP_MAX_IDLE_CONNS_PER_HOST`).
    #[must_use]
    pub fn with_pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = Some(max);
        self
    }

    /// How many wildcard buckets keep their clients; the oldest client is dropped when a
    /// new bucket would exceed it (at least 1). Default: [`DEFAULT_BUCKET_CACHE_SIZE`].
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
    fn endpoints_must_be_http_urls() {
        let err = S3Options::new("b")
            .with_endpoint("ftp://x")
            .build()
            .unwrap_err();
        assert!(err.message().contains("ftp://x"), "{}", err.message());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let options = S3Options::new("b")
            .with_access_key("AKID", "very-secret")
            .with_session_token("very-token");
        let text = format!("{options:?}");
        assert!(text.contains("AKID"));
        assert!(!text.contains("very-secret"));
        assert!(!text.contains("very-token"));
    }
}
