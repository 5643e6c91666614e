//! [`S3Options`]: everything needed to reach one role's bucket, as a builder.

use super::backend::S3Backend;
use super::credentials::AwsChainCredentials;
use crate::Error;
use crate::config::{CannedAcl, S3Config, S3Role, S3StorageClass, Secret};
use object_store::aws::{AmazonS3Builder, AwsCredentialProvider};
use object_store::client::DnsResolver;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// The default for [`S3Options::with_timeout`]: 30 seconds per request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default for [`S3Options::with_connect_timeout`]: 3 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The default for [`S3Options::with_bucket_cache_size`]: clients kept for 64 wildcard buckets.
pub const DEFAULT_BUCKET_CACHE_SIZE: usize = 64;

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

/// Which credentials sign the requests.
#[derive(Clone, Debug)]
enum Credentials {
    /// Static keys (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    Static { key_id: String, secret: Secret },
    /// The standard AWS chain through aws-config.
    Chain,
    /// A provider given by the caller.
    Provider(AwsCredentialProvider),
}

/// Settings of one S3 role (loader, storage or result storage), built into an
/// [`S3Backend`] with [`build`](Self::build).
///
/// The bucket is `name`, `name/dir` (the part after the first `/` is the base directory,
/// unless [`with_base_dir`](Self::with_base_dir) sets one) or `*`: the bucket is then taken
/// from each key (see [`S3Backend`]).
///
/// Network defaults: virtual-hosted addressing, a 3 s connect timeout, a 30 s request
/// timeout and [`default_retry`]. `http://` endpoints are allowed automatically.
///
/// ```
/// use imagor_tower::config::{CannedAcl, S3Role};
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
    endpoint: Option<String>,
    force_path_style: bool,
    region: Option<String>,
    credentials: Credentials,
    session_token: Option<Secret>,
    pub(super) acl: Option<CannedAcl>,
    pub(super) storage_class: Option<S3StorageClass>,
    pub(super) tagging: Option<String>,
    pub(super) expiration: Option<Duration>,
    allow_http: Option<bool>,
    dns_resolver: Option<Arc<dyn DnsResolver>>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryConfig,
    pool_max_idle_per_host: Option<usize>,
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
            region: None,
            credentials: Credentials::Chain,
            session_token: None,
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

    /// The options of one role from the configuration (`SERVER.md` §2 F), or `None` when
    /// that role has no bucket.
    ///
    /// Endpoint: the role's, else `S3_ENDPOINT`. Credentials: the role's `AWS_<ROLE>_*`
    /// when region, key id and secret are all set, else the global `AWS_*` when key id and
    /// secret are set, else the standard AWS chain (in the chosen region). The canned ACL,
    /// tagging and expiration come from the storage roles; the storage class is sent by
    /// both storages.
    pub fn from_config(config: &S3Config, role: S3Role) -> Option<Self> {
        let (bucket, base_dir, path_prefix, acl, expiration) = match role {
            S3Role::Loader => {
                let loader = &config.loader;
                (
                    &loader.bucket,
                    &loader.base_dir,
                    &loader.path_prefix,
                    None,
                    None,
                )
            }
            S3Role::Storage => storage_parts(&config.storage),
            S3Role::ResultStorage => storage_parts(&config.result_storage),
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
        let aws = config.credentials(role);
        if let Some(region) = &aws.region {
            options = options.with_region(region.clone());
        }
        if let Some((key_id, secret, token)) = aws.static_keys() {
            options.credentials = Credentials::Static {
                key_id: key_id.to_owned(),
                secret: secret.clone(),
            };
            options.session_token = token.cloned();
        }
        if role != S3Role::Loader {
            options.storage_class = Some(config.storage_class);
        }
        let tagging = match role {
            S3Role::Loader => None,
            S3Role::Storage => config.storage.tagging.clone(),
            S3Role::ResultStorage => config.result_storage.tagging.clone(),
        };
        options.tagging = tagging.filter(|t| !t.trim().is_empty());
        options.acl = acl;
        options.expiration = expiration;
        Some(options)
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
    /// (`*_PATH_PREFIX`); other keys are [`Error::Invalid`].
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
        self.region = Some(region.into());
        self
    }

    /// Static credentials, instead of the standard AWS chain.
    #[must_use]
    pub fn with_access_key(mut self, key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials = Credentials::Static {
            key_id: key_id.into(),
            secret: Secret::new(secret),
        };
        self
    }

    /// The session token sent with static credentials.
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Secret::new(token));
        self
    }

    /// Any credential provider, for example an [`AwsChainCredentials`] for a named profile.
    #[must_use]
    pub fn with_credentials(mut self, provider: AwsCredentialProvider) -> Self {
        self.credentials = Credentials::Provider(provider);
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

    /// Builds the backend; a fixed bucket gets its clients now, a wildcard bucket on first
    /// use of each bucket.
    ///
    /// # Errors
    ///
    /// An [`Error::Internal`] naming the problem when the bucket name or endpoint is not
    /// valid or a client cannot be built.
    pub fn build(self) -> Result<S3Backend, Error> {
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(Error::internal(format!(
                "S3 endpoint {endpoint:?}: expected an http:// or https:// URL"
            )));
        }
        S3Backend::new(self)
    }

    /// The reader and writer clients for `bucket`; the writer differs only when an ACL is
    /// set (its header goes on every request of that client).
    pub(super) fn clients(&self, bucket: &str) -> Result<super::backend::Clients, Error> {
        let reader: Arc<dyn object_store::ObjectStore> =
            Arc::new(self.store_builder(bucket, None)?.build().map_err(|err| {
                Error::internal(format!("S3 client for bucket {bucket:?}: {err}"))
            })?);
        let writer = match self.acl {
            None => Arc::clone(&reader),
            Some(acl) => Arc::new(self.store_builder(bucket, Some(acl))?.build().map_err(
                |err| Error::internal(format!("S3 client for bucket {bucket:?}: {err}")),
            )?),
        };
        Ok(super::backend::Clients { reader, writer })
    }

    fn store_builder(
        &self,
        bucket: &str,
        acl: Option<CannedAcl>,
    ) -> Result<AmazonS3Builder, Error> {
        let mut client = ClientOptions::new()
            .with_timeout(self.timeout)
            .with_connect_timeout(self.connect_timeout);
        if let Some(max) = self.pool_max_idle_per_host {
            client = client.with_pool_max_idle_per_host(max);
        }
        if let Some(resolver) = &self.dns_resolver {
            client = client.with_dns_resolver(Arc::clone(resolver));
        }
        if let Some(acl) = acl {
            let mut headers = http::HeaderMap::new();
            headers.insert("x-amz-acl", http::HeaderValue::from_static(acl.as_str()));
            client = client.with_default_headers(headers);
        }
        let allow_http = self.allow_http.unwrap_or_else(|| {
            self.endpoint
                .as_deref()
                .is_some_and(|endpoint| endpoint.starts_with("http://"))
        });
        client = client.with_allow_http(allow_http);

        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(self.region.as_deref().unwrap_or("us-east-1"))
            .with_retry(self.retry.clone())
            .with_virtual_hosted_style_request(!self.force_path_style)
            .with_client_options(client);
        if let Some(endpoint) = &self.endpoint {
            let endpoint = if self.force_path_style {
                endpoint.trim_end_matches('/').to_owned()
            } else {
                virtual_hosted_endpoint(endpoint, bucket)?
            };
            builder = builder.with_endpoint(endpoint);
        }
        builder = match &self.credentials {
            Credentials::Static { key_id, secret } => {
                let mut builder = builder
                    .with_access_key_id(key_id)
                    .with_secret_access_key(secret.expose());
                if let Some(token) = &self.session_token {
                    builder = builder.with_token(token.expose());
                }
                builder
            }
            Credentials::Provider(provider) => builder.with_credentials(Arc::clone(provider)),
            Credentials::Chain => {
                let mut chain = AwsChainCredentials::new();
                if let Some(region) = &self.region {
                    chain = chain.with_region(region.clone());
                }
                builder.with_credentials(Arc::new(chain))
            }
        };
        Ok(builder)
    }
}

/// The storage-role fields `from_config` needs.
type StorageParts<'a> = (
    &'a Option<String>,
    &'a String,
    &'a String,
    Option<CannedAcl>,
    Option<Duration>,
);

fn storage_parts(storage: &crate::config::S3StorageConfig) -> StorageParts<'_> {
    (
        &storage.bucket,
        &storage.base_dir,
        &storage.path_prefix,
        storage.acl,
        storage.expiration,
    )
}

/// `scheme://host…` with the bucket put in front of the host: the endpoint of a bucket
/// with virtual-hosted addressing.
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> Result<String, Error> {
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| {
        Error::internal(format!("S3 endpoint {endpoint:?}: expected an http(s) URL"))
    })?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(Error::internal(format!(
            "S3 endpoint {endpoint:?}: no host"
        )));
    }
    Ok(format!("{scheme}://{bucket}.{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosted_endpoints_put_the_bucket_before_the_host() {
        assert_eq!(
            virtual_hosted_endpoint("http://localhost:9000/", "images").unwrap(),
            "http://images.localhost:9000"
        );
        assert_eq!(
            virtual_hosted_endpoint("https://s3.example.com", "b").unwrap(),
            "https://b.s3.example.com"
        );
        assert!(virtual_hosted_endpoint("https://", "b").is_err());
        assert!(virtual_hosted_endpoint("localhost", "b").is_err());
    }

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
