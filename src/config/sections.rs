//! The typed option groups of a [`Config`](super::Config), one per section of imagor's configuration.
//!
//! Values are already *effective*: zero timeouts have become their built-in defaults, "0 means
//! unlimited" has become `None`, and empty strings that switch a feature off have become `None`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use imagor_tower::config::{ConfigBuilder, ResultStoragePathStyle, SignerType};
//!
//! let config = ConfigBuilder::new()
//!     .env([
//!         ("IMAGOR_SIGNER_TYPE", "SHA256"),
//!         ("IMAGOR_RESULT_STORAGE_PATH_STYLE", "size"),
//!         ("VIPS_MAX_ANIMATION_FRAMES", "0"),
//!     ])
//!     .build()
//!     .unwrap();
//! assert_eq!(config.imagor.signer_type, SignerType::Sha256);
//! assert_eq!(config.imagor.result_storage_path_style, ResultStoragePathStyle::Size);
//! assert_eq!(config.imagor.load_timeout, Duration::from_secs(20));
//! assert_eq!(config.processing.max_animation_frames, Some(1));
//! assert_eq!(config.processing.max_width, 9999);
//! ```

use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use crate::s3::{AwsCredentials, CannedAcl, S3Role, S3StorageClass, role_or_global};
use crate::secret::Secret;

/// Built-in request timeout (`IMAGOR_REQUEST_TIMEOUT` 0 keeps it).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Built-in load, save and process timeout (used when those options are 0).
pub const DEFAULT_STAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Built-in `Cache-Control` max-age: 7 days (`IMAGOR_CACHE_HEADER_TTL` 0 keeps it).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Built-in `stale-while-revalidate`: 24 hours (`IMAGOR_CACHE_HEADER_SWR` 0 keeps it).
pub const DEFAULT_CACHE_SWR: Duration = Duration::from_secs(24 * 3600);
/// Built-in largest width and height (used when `VIPS_MAX_WIDTH`/`VIPS_MAX_HEIGHT` are 0).
pub const DEFAULT_MAX_DIMENSION: u32 = 9999;
/// Built-in largest resolution in pixels (used when `VIPS_MAX_RESOLUTION` is 0).
pub const DEFAULT_MAX_RESOLUTION: u64 = 81_000_000;
/// Built-in AVIF encoder speed (imagor's 8, as the processor's own default).
pub const DEFAULT_AVIF_SPEED: u8 = crate::processing::Options::DEFAULT_AVIF_SPEED;
/// `VIPS_MAX_FILTER_OPS` when it is not set and unsigned (`unsafe`) URLs are accepted: 20
/// pipeline filters. imagor leaves it unlimited.
pub const DEFAULT_UNSAFE_MAX_FILTER_OPS: usize = 20;

// ===== A. Server =====

/// Process, listener and observability options (`PORT`, `BIND`, `SERVER_*`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `PORT`: TCP port, used when [`bind`](Self::bind) is not set.
    pub port: u16,
    /// `BIND`: full listen address `host:port`; replaces address and port.
    pub bind: Option<String>,
    /// `SERVER_ADDRESS`: host or IP to listen on; empty means all interfaces.
    pub address: String,
    /// `SERVER_PATH_PREFIX`: URL prefix stripped from every request.
    pub path_prefix: Option<String>,
    /// `SERVER_CORS`: permissive CORS handling.
    pub cors: bool,
    /// `SERVER_STRIP_QUERY_STRING`: redirect requests with a query string to the URL without it.
    pub strip_query_string: bool,
    /// `SERVER_ACCESS_LOG`: one log line per request.
    pub access_log: bool,
    /// `SERVER_MAX_CONNECTIONS` (imagor-tower only): most connections open at once; more wait
    /// in the listen backlog. 0 keeps the built-in 10,000.
    pub max_connections: u32,
    /// `SERVER_HEADER_TIMEOUT` (imagor-tower only): time a new connection has to send its
    /// first complete request head. 0 keeps the built-in 10 s.
    pub header_timeout: Duration,
    /// `SERVER_IDLE_TIMEOUT` (imagor-tower only): a connection with no request in flight is
    /// closed this long after its last response. 0 keeps the built-in 60 s.
    pub idle_timeout: Duration,
    /// `DEBUG`: verbose logging.
    pub debug: bool,
    /// `LOG_ECS`: JSON logs in Elastic Common Schema layout.
    pub log_ecs: bool,
    /// `VERSION`: print the version and exit.
    pub version: bool,
    /// `CONFIG`: the config file that was consulted (`None` when the option was set empty).
    pub config_file: Option<PathBuf>,
    /// `PROMETHEUS_*`: the metrics listener.
    pub prometheus: PrometheusConfig,
}

impl ServerConfig {
    /// The address to listen on, in a form `std`/tokio can bind: [`bind`](Self::bind) when
    /// set, else `address:port` (an IPv6 address is put in brackets). An empty host, Go's way
    /// of saying "all interfaces" (`:8000`), becomes `0.0.0.0`.
    pub fn listen_address(&self) -> String {
        if let Some(bind) = &self.bind {
            return bindable(bind);
        }
        if self.address.contains(':') && !self.address.starts_with('[') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            bindable(&format!("{}:{}", self.address, self.port))
        }
    }
}

/// Go's `:port` (all interfaces) as an address Rust can bind.
fn bindable(address: &str) -> String {
    if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_owned()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 8000,
            bind: None,
            address: String::new(),
            path_prefix: None,
            cors: false,
            strip_query_string: false,
            access_log: false,
            max_connections: crate::server::DEFAULT_MAX_CONNECTIONS,
            header_timeout: crate::server::DEFAULT_HEADER_TIMEOUT,
            idle_timeout: crate::server::DEFAULT_IDLE_TIMEOUT,
            debug: false,
            log_ecs: false,
            version: false,
            config_file: Some(PathBuf::from(".env")),
            prometheus: PrometheusConfig::default(),
        }
    }
}

/// The Prometheus metrics listener (`PROMETHEUS_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrometheusConfig {
    /// `PROMETHEUS_BIND`: address of the metrics listener; `None` means metrics are off.
    pub bind: Option<String>,
    /// `PROMETHEUS_PATH`: path that serves the metrics.
    pub path: String,
    /// `PROMETHEUS_NAMESPACE`: metric name prefix.
    pub namespace: String,
}

impl PrometheusConfig {
    /// The metrics listener address in a form Rust can bind (`:5000` becomes `0.0.0.0:5000`),
    /// or `None` when metrics are off.
    pub fn listen_address(&self) -> Option<String> {
        self.bind.as_deref().map(bindable)
    }
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            bind: None,
            path: "/".to_owned(),
            namespace: "imagor".to_owned(),
        }
    }
}

// ===== B. Core service =====

/// The HMAC hash of URL signatures (`IMAGOR_SIGNER_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SignerType {
    /// HMAC-SHA1 (the default, and what any unrecognised value means).
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl SignerType {
    /// imagor's reading: `sha256`/`sha512` in any case, anything else is SHA-1.
    /// Returns the type and whether the text was recognised.
    pub(crate) fn parse(text: &str) -> (Self, bool) {
        match text.to_ascii_lowercase().as_str() {
            "sha256" => (Self::Sha256, true),
            "sha512" => (Self::Sha512, true),
            "sha1" => (Self::Sha1, true),
            _ => (Self::Sha1, false),
        }
    }
}

/// Source storage key style (`IMAGOR_STORAGE_PATH_STYLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StoragePathStyle {
    /// The image key as is.
    #[default]
    Original,
    /// SHA-1 hex of the image key, split `aa/bb/rest`.
    Digest,
}

/// Result storage key style (`IMAGOR_RESULT_STORAGE_PATH_STYLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ResultStoragePathStyle {
    /// The regenerated request path.
    #[default]
    Original,
    /// SHA-1 hex of the request path, split `aa/bb/rest`.
    Digest,
    /// The image key with a hash of the request path before the extension.
    Suffix,
    /// Like suffix, plus `_<width>x<height>` of the requested size.
    Size,
}

/// Core service options (`IMAGOR_*`): signing, caching headers, limits, timeouts, key
/// styles.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImagorConfig {
    /// `IMAGOR_SECRET`: HMAC key. Empty still means signatures are checked, with an empty key.
    pub secret: Secret,
    /// `IMAGOR_UNSAFE`: accept `/unsafe/...` URLs without a signature.
    pub allow_unsafe: bool,
    /// `IMAGOR_AUTO_WEBP`: negotiate WebP from the `Accept` header.
    pub auto_webp: bool,
    /// `IMAGOR_AUTO_AVIF`: negotiate AVIF from the `Accept` header.
    pub auto_avif: bool,
    /// `IMAGOR_AUTO_JPEG`: negotiate JPEG from the `Accept` header.
    pub auto_jpeg: bool,
    /// `IMAGOR_REQUEST_TIMEOUT`, effective (0 or negative keeps 30 s).
    pub request_timeout: Duration,
    /// `IMAGOR_LOAD_TIMEOUT`, effective (0 or negative means 20 s).
    pub load_timeout: Duration,
    /// `IMAGOR_SAVE_TIMEOUT`, effective (0 or negative means 20 s).
    pub save_timeout: Duration,
    /// `IMAGOR_PROCESS_TIMEOUT`, effective (0 or negative means 20 s).
    pub process_timeout: Duration,
    /// `IMAGOR_BASE_PATH_REDIRECT`: `GET /` redirects here when set.
    pub base_path_redirect: Option<String>,
    /// `IMAGOR_BASE_PARAMS`: path fragment merged into every request.
    pub base_params: Option<String>,
    /// `IMAGOR_PROCESS_CONCURRENCY`: requests loading and processing at once; `None` means
    /// four per CPU (imagor: unlimited).
    pub process_concurrency: Option<usize>,
    /// `IMAGOR_PROCESS_QUEUE_SIZE`: requests allowed to wait for a place. With a concurrency
    /// limit 0 means none wait; without one, 0 means 1000.
    pub process_queue_size: usize,
    /// `IMAGOR_PROCESS_MEMORY`: the byte budget of pixel work in flight; 0 means a quarter
    /// of the machine's memory.
    pub process_memory: u64,
    /// `IMAGOR_CACHE_HEADER_TTL`, effective (0 or negative keeps 7 days).
    pub cache_header_ttl: Duration,
    /// `IMAGOR_CACHE_HEADER_SWR`, effective (0 or negative keeps 24 h).
    pub cache_header_swr: Duration,
    /// `IMAGOR_CACHE_HEADER_NO_CACHE`: non-cacheable headers on every success.
    pub cache_header_no_cache: bool,
    /// `IMAGOR_MODIFIED_TIME_CHECK`: serve a stored result only if not older than its source.
    pub modified_time_check: bool,
    /// `IMAGOR_DISABLE_ERROR_BODY`: errors carry the status only.
    pub disable_error_body: bool,
    /// `IMAGOR_DISABLE_PARAMS_ENDPOINT`: `/params/...` answers 200 with an empty body.
    pub disable_params_endpoint: bool,
    /// `IMAGOR_RESPONSE_RAW_ON_ERROR`: send the source bytes when processing fails.
    pub response_raw_on_error: bool,
    /// `IMAGOR_SECRET_PREVIOUS`: the secret being retired; URLs signed with it are still
    /// accepted, new signatures use [`secret`](Self::secret). `None` when not set.
    pub secret_previous: Option<Secret>,
    /// `IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE`, effective: the hash of the previous secret's
    /// signatures (unset: [`signer_type`](Self::signer_type)).
    pub secret_previous_signer_type: SignerType,
    /// `IMAGOR_SECRET_PREVIOUS_SIGNER_TRUNCATE`, effective: the previous secret's signature
    /// length, `None` for the full length (unset or -1:
    /// [`signer_truncate`](Self::signer_truncate)). Always 17 or more.
    pub secret_previous_signer_truncate: Option<usize>,
    /// `IMAGOR_PRESETS_PATH`: the YAML file of named presets, read when the service is
    /// built (see [`presets_from_file`](super::presets_from_file)).
    pub presets_path: Option<PathBuf>,
    /// `IMAGOR_ONLY_PRESETS`: refuse every URL that is not `preset:` segments plus the image.
    /// Needs [`presets_path`](Self::presets_path).
    pub only_presets: bool,
    /// `IMAGOR_SIGNER_TYPE`.
    pub signer_type: SignerType,
    /// `IMAGOR_SIGNER_TRUNCATE`: signature length kept; `None` is the full length. Always 17 or
    /// more, because shorter signatures are never recognised as a signature.
    pub signer_truncate: Option<usize>,
    /// `IMAGOR_STORAGE_PATH_STYLE`.
    pub storage_path_style: StoragePathStyle,
    /// `IMAGOR_RESULT_STORAGE_PATH_STYLE`.
    pub result_storage_path_style: ResultStoragePathStyle,
}

impl Default for ImagorConfig {
    fn default() -> Self {
        Self {
            secret: Secret::default(),
            allow_unsafe: false,
            auto_webp: false,
            auto_avif: false,
            auto_jpeg: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            load_timeout: DEFAULT_STAGE_TIMEOUT,
            save_timeout: DEFAULT_STAGE_TIMEOUT,
            process_timeout: DEFAULT_STAGE_TIMEOUT,
            base_path_redirect: None,
            base_params: None,
            process_concurrency: None,
            process_queue_size: 0,
            process_memory: 0,
            cache_header_ttl: DEFAULT_CACHE_TTL,
            cache_header_swr: DEFAULT_CACHE_SWR,
            cache_header_no_cache: false,
            modified_time_check: false,
            disable_error_body: false,
            disable_params_endpoint: false,
            response_raw_on_error: false,
            secret_previous: None,
            secret_previous_signer_type: SignerType::Sha1,
            secret_previous_signer_truncate: None,
            presets_path: None,
            only_presets: false,
            signer_type: SignerType::Sha1,
            signer_truncate: None,
            storage_path_style: StoragePathStyle::Original,
            result_storage_path_style: ResultStoragePathStyle::Original,
        }
    }
}

// ===== C. HTTP loader =====

/// HTTP loader options (`HTTP_LOADER_*`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpLoaderConfig {
    /// `HTTP_LOADER_FORWARD_HEADERS`: client request headers copied upstream.
    pub forward_headers: Vec<HeaderName>,
    /// `HTTP_LOADER_OVERRIDE_RESPONSE_HEADERS`: upstream response headers copied onto the
    /// image response.
    pub override_response_headers: Vec<HeaderName>,
    /// `HTTP_LOADER_FORWARD_CLIENT_HEADERS` (or its deprecated alias
    /// `HTTP_LOADER_FORWARD_ALL_HEADERS`): copy all client headers except `Accept-Encoding`.
    pub forward_client_headers: bool,
    /// `HTTP_LOADER_ALLOWED_SOURCE_REGEXP`, compiled as written. The loader anchors it: it
    /// must match the whole URL or the whole `host[:port]` (imagor matches anywhere in the
    /// URL).
    pub allowed_source_regexp: Option<Regex>,
    /// `HTTP_LOADER_ALLOWED_SOURCES`: host globs; empty allows any host (unless the regexp is set).
    pub allowed_sources: Vec<String>,
    /// `HTTP_LOADER_MAX_ALLOWED_SIZE`: largest source in bytes, counted after decompression;
    /// `None` (an explicit `0`) is no limit. Default
    /// [`DEFAULT_MAX_SIZE`](crate::loader::DEFAULT_MAX_SIZE) (imagor: no limit).
    pub max_allowed_size: Option<u64>,
    /// `HTTP_LOADER_INSECURE_SKIP_VERIFY_TRANSPORT`: do not verify upstream certificates.
    pub insecure_skip_verify_transport: bool,
    /// `HTTP_LOADER_BASE_URL`: absolute base URL every image path is joined under.
    pub base_url: Option<String>,
    /// `HTTP_LOADER_DEFAULT_SCHEME`: scheme for scheme-less images; `None` (the value `nil`)
    /// makes such images invalid.
    pub default_scheme: Option<String>,
    /// `HTTP_LOADER_ACCEPT`: upstream `Accept` header and allowed response types.
    pub accept: String,
    /// `HTTP_LOADER_PROXY_URLS`: proxy URLs (they may carry passwords, so they are secrets).
    pub proxy_urls: Vec<Secret>,
    /// `HTTP_LOADER_PROXY_ALLOWED_SOURCES`: host globs that use the proxy; empty means all.
    pub proxy_allowed_sources: Vec<String>,
    /// `HTTP_LOADER_BLOCK_LOOPBACK_NETWORKS`: default `true` (imagor: `false`).
    pub block_loopback_networks: bool,
    /// `HTTP_LOADER_BLOCK_PRIVATE_NETWORKS`, CGNAT and benchmarking networks included:
    /// default `true` (imagor: `false`).
    pub block_private_networks: bool,
    /// `HTTP_LOADER_BLOCK_LINK_LOCAL_NETWORKS`, cloud metadata addresses included: default
    /// `true` (imagor: `false`).
    pub block_link_local_networks: bool,
    /// `HTTP_LOADER_DISABLE`: do not install the HTTP loader.
    pub disable: bool,
    /// `HTTP_LOADER_BLOCK_NETWORKS`: networks to refuse (host bits cleared).
    pub block_networks: Vec<IpNet>,
}

impl Default for HttpLoaderConfig {
    fn default() -> Self {
        Self {
            forward_headers: Vec::new(),
            override_response_headers: Vec::new(),
            forward_client_headers: false,
            allowed_source_regexp: None,
            allowed_sources: Vec::new(),
            max_allowed_size: Some(crate::loader::DEFAULT_MAX_SIZE),
            insecure_skip_verify_transport: false,
            base_url: None,
            default_scheme: Some("https".to_owned()),
            accept: "*/*".to_owned(),
            proxy_urls: Vec::new(),
            proxy_allowed_sources: Vec::new(),
            block_loopback_networks: true,
            block_private_networks: true,
            block_link_local_networks: true,
            disable: false,
            block_networks: Vec::new(),
        }
    }
}

// ===== E. Upload loader =====

/// The upload loader (`UPLOAD_LOADER_*`): images sent in the body of a `POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadLoaderConfig {
    /// `UPLOAD_LOADER_ENABLE`: accept `POST` uploads. Unsigned ones need `IMAGOR_UNSAFE` too;
    /// without it, an upload needs a valid signature of its path (imagor refuses it).
    pub enable: bool,
    /// `UPLOAD_LOADER_MAX_ALLOWED_SIZE`: largest upload in bytes (default 32 MiB); `0` is no
    /// limit.
    pub max_allowed_size: u64,
    /// `UPLOAD_LOADER_ACCEPT`: accepted media types of the uploaded bytes (default
    /// `image/*`); empty accepts anything.
    pub accept: Vec<String>,
    /// `UPLOAD_LOADER_FORM_FIELD_NAME`: the multipart field of the image (default `image`).
    pub form_field_name: String,
}

impl Default for UploadLoaderConfig {
    fn default() -> Self {
        Self {
            enable: false,
            max_allowed_size: crate::loader::DEFAULT_UPLOAD_MAX_SIZE,
            accept: vec!["image/*".to_owned()],
            form_field_name: "image".to_owned(),
        }
    }
}

// ===== D. File =====

/// File loader, storage and result storage options (`FILE_*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FileConfig {
    /// `FILE_SAFE_CHARS`: extra characters left unescaped in keys (`--` disables escaping).
    pub safe_chars: String,
    /// `FILE_LOADER_*`.
    pub loader: FileLoaderConfig,
    /// `FILE_STORAGE_*`.
    pub storage: FileStorageConfig,
    /// `FILE_RESULT_STORAGE_*`.
    pub result_storage: FileStorageConfig,
}

/// The file loader (`FILE_LOADER_*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FileLoaderConfig {
    /// Root directory; the loader is enabled when set.
    pub base_dir: Option<PathBuf>,
    /// Only keys with this prefix are served; the prefix is removed first.
    pub path_prefix: String,
}

/// A file storage or result storage (`FILE_STORAGE_*`, `FILE_RESULT_STORAGE_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileStorageConfig {
    /// Root directory; the storage is enabled when set.
    pub base_dir: Option<PathBuf>,
    /// Key prefix filter.
    pub path_prefix: String,
    /// Mode of created directories (default `0o755`).
    pub mkdir_permission: u32,
    /// Mode of written files (default `0o666`).
    pub write_permission: u32,
    /// Age after which stored files count as expired; `None` is never.
    pub expiration: Option<Duration>,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        Self {
            base_dir: None,
            path_prefix: String::new(),
            mkdir_permission: 0o755,
            write_permission: 0o666,
            expiration: None,
        }
    }
}

// ===== F. S3 =====

/// The S3 loader (`AWS_LOADER_*`, `S3_LOADER_*`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct S3LoaderConfig {
    /// `AWS_LOADER_*`: used instead of the global settings only when complete.
    pub aws: AwsCredentials,
    /// `S3_LOADER_ENDPOINT`: falls back to `S3_ENDPOINT`.
    pub endpoint: Option<String>,
    /// `S3_LOADER_BUCKET`: enables the loader; `name/dir` and `*` forms are kept as written.
    pub bucket: Option<String>,
    /// `S3_LOADER_BASE_DIR`: key prefix inside the bucket.
    pub base_dir: String,
    /// `S3_LOADER_PATH_PREFIX`: only keys with this prefix are served.
    pub path_prefix: String,
    /// `S3_LOADER_BUCKET_ROUTER_CONFIG`: YAML routing file; replaces the single-bucket loader.
    pub bucket_router_config: Option<PathBuf>,
}

/// An S3 storage or result storage (`AWS_STORAGE_*`/`S3_STORAGE_*` and the result forms).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct S3StorageConfig {
    /// Role credentials: used instead of the global settings only when complete.
    pub aws: AwsCredentials,
    /// Role endpoint; falls back to `S3_ENDPOINT`.
    pub endpoint: Option<String>,
    /// Bucket; enables the storage.
    pub bucket: Option<String>,
    /// Key prefix inside the bucket.
    pub base_dir: String,
    /// Key prefix filter.
    pub path_prefix: String,
    /// Canned ACL sent on writes (`None`: none sent; other names are ignored with a warning).
    pub acl: Option<CannedAcl>,
    /// Object tags in query-string form (`a=b&c=d`).
    pub tagging: Option<String>,
    /// Age after which stored objects count as expired; `None` is never.
    pub expiration: Option<Duration>,
}

/// AWS S3 options (`AWS_*`, `S3_*`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct S3Config {
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub aws: AwsCredentials,
    /// `S3_ENDPOINT`: custom endpoint of all roles.
    pub endpoint: Option<String>,
    /// `S3_FORCE_PATH_STYLE`: `endpoint/bucket/key` addressing.
    pub force_path_style: bool,
    /// `S3_SAFE_CHARS`: extra unescaped key characters (`--` disables escaping).
    pub safe_chars: String,
    /// `S3_STORAGE_CLASS`: storage class of writes by both storages.
    pub storage_class: S3StorageClass,
    /// `S3_HTTP_MAX_IDLE_CONNS_PER_HOST`: keep-alive pool size per host.
    pub http_max_idle_conns_per_host: usize,
    /// The loader.
    pub loader: S3LoaderConfig,
    /// Source storage.
    pub storage: S3StorageConfig,
    /// Result storage.
    pub result_storage: S3StorageConfig,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            aws: AwsCredentials::default(),
            endpoint: None,
            force_path_style: false,
            safe_chars: String::new(),
            storage_class: S3StorageClass::Standard,
            http_max_idle_conns_per_host: 100,
            loader: S3LoaderConfig::default(),
            storage: S3StorageConfig::default(),
            result_storage: S3StorageConfig::default(),
        }
    }
}

impl S3Config {
    /// Whether any S3 role is configured (a bucket or the bucket router), the condition for
    /// setting up S3 at all.
    pub fn is_enabled(&self) -> bool {
        self.loader.bucket.is_some()
            || self.loader.bucket_router_config.is_some()
            || self.storage.bucket.is_some()
            || self.result_storage.bucket.is_some()
    }

    /// The credentials a role uses: its own when region, key id and secret are all set,
    /// else the global ones.
    pub fn credentials(&self, role: S3Role) -> &AwsCredentials {
        role_or_global(&self.aws, self.role_aws(role))
    }

    /// The endpoint a role uses: its own, else `S3_ENDPOINT`.
    pub fn endpoint(&self, role: S3Role) -> Option<&str> {
        let own = match role {
            S3Role::Loader => &self.loader.endpoint,
            S3Role::Storage => &self.storage.endpoint,
            S3Role::ResultStorage => &self.result_storage.endpoint,
        };
        own.as_deref().or(self.endpoint.as_deref())
    }

    pub(crate) fn role_aws(&self, role: S3Role) -> &AwsCredentials {
        match role {
            S3Role::Loader => &self.loader.aws,
            S3Role::Storage => &self.storage.aws,
            S3Role::ResultStorage => &self.result_storage.aws,
        }
    }
}

// ===== H. Processing =====

/// Image processor limits and encoding options (`VIPS_*`, the supported subset).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessingConfig {
    /// `VIPS_MAX_WIDTH`, effective (0 means 9999).
    pub max_width: u32,
    /// `VIPS_MAX_HEIGHT`, effective (0 means 9999).
    pub max_height: u32,
    /// `VIPS_MAX_RESOLUTION`, effective (0 means 81 000 000).
    pub max_resolution: u64,
    /// `VIPS_UNLIMITED`: skip the three limits above.
    pub unlimited: bool,
    /// `VIPS_MAX_ANIMATION_FRAMES`: `None` decodes all frames (-1); 0 and values below -1
    /// behave as 1.
    pub max_animation_frames: Option<u32>,
    /// `VIPS_DISABLE_FILTERS`: filter names ignored in processing.
    pub disable_filters: Vec<String>,
    /// `VIPS_MAX_FILTER_OPS`: the pipeline stops at this filter index; `None` is unlimited
    /// (-1 or 0). Left unset with `IMAGOR_UNSAFE` on, it is
    /// [`DEFAULT_UNSAFE_MAX_FILTER_OPS`] (20) rather than unlimited.
    pub max_filter_ops: Option<usize>,
    /// `VIPS_DISABLE_BLUR`: disable `blur`, `sharpen` and `fill(blur)`.
    pub disable_blur: bool,
    /// `VIPS_STRIP_METADATA`: drop all metadata from outputs.
    pub strip_metadata: bool,
    /// `VIPS_STRIP_COLOR_PROFILE`: convert outputs to sRGB and drop the ICC profile.
    pub strip_color_profile: bool,
    /// `VIPS_MOZJPEG`: MozJPEG-style JPEG encoding.
    pub mozjpeg: bool,
    /// `VIPS_AVIF_SPEED`: 0 (slowest) to 9 (fastest); out-of-range values keep 8.
    pub avif_speed: u8,
    /// `VIPS_MAX_WORK`: the work budget of one request (see
    /// [`Options::work_budget`](crate::processing::Options::work_budget)); `None` is
    /// unlimited (0 or -1). Not an imagor option.
    pub max_work: Option<u64>,
    /// `VIPS_AVIF_DECODE` (this crate's option, default on): with it off, AVIF sources
    /// answer 406 `unsupported format` instead of being decoded.
    pub avif_decode: bool,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            max_width: DEFAULT_MAX_DIMENSION,
            max_height: DEFAULT_MAX_DIMENSION,
            max_resolution: DEFAULT_MAX_RESOLUTION,
            unlimited: false,
            max_animation_frames: None,
            disable_filters: Vec::new(),
            max_filter_ops: None,
            disable_blur: false,
            strip_metadata: false,
            strip_color_profile: false,
            mozjpeg: false,
            avif_speed: DEFAULT_AVIF_SPEED,
            max_work: Some(crate::processing::Options::DEFAULT_WORK_BUDGET),
            avif_decode: true,
        }
    }
}
