//! The table of every imagor option: flag name, environment variable, value kind, default.
//!
//! [`ConfigKey`] has one variant per option imagor 1.9.5 defines (152), whether this crate
//! implements it yet or not, so that nothing a deployment sets is ever silently dropped, plus
//! the few options of imagor-tower's own: the connection limits of the standalone server
//! (`SERVER_MAX_CONNECTIONS`, `SERVER_HEADER_TIMEOUT`, `SERVER_IDLE_TIMEOUT`), the byte budget
//! of pixel work (`IMAGOR_PROCESS_MEMORY`), the work budget of one request (`VIPS_MAX_WORK`),
//! the AVIF decoding switch (`VIPS_AVIF_DECODE`), signing-key rotation
//! (`IMAGOR_SECRET_PREVIOUS`, `IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE`,
//! `IMAGOR_SECRET_PREVIOUS_SIGNER_TRUNCATE`), presets (`IMAGOR_PRESETS_PATH`,
//! `IMAGOR_ONLY_PRESETS`) and the Azure Blob Storage options (`AZURE_*`, 15): 178 in all.
//!
//! # Example
//!
//! ```
//! use imagor_tower::config::{ConfigKey, Section};
//!
//! assert_eq!(ConfigKey::ImagorSecret.env_var(), "IMAGOR_SECRET");
//! assert_eq!(ConfigKey::ImagorSecret.section(), Section::Imagor);
//! assert!(ConfigKey::ImagorSecret.is_secret());
//! ```

use std::fmt;
use std::str::FromStr;

/// How the text of an option is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// Go boolean: `1 t T TRUE true True 0 f F FALSE false False`; a bare flag means true.
    Bool,
    /// Go integer (`strconv.ParseInt` with base 0: `42`, `-1`, `0x1F`, `0o17`, `017`, `1_000`).
    Int,
    /// Go duration: `300ms`, `30s`, `1h30m`, `1.5h`, `0`.
    Duration,
    /// Free text, used as given.
    Text,
    /// Comma-separated list; items are trimmed and empty items dropped.
    List,
    /// Octal file permission such as `0755`.
    Permission,
}

impl ValueKind {
    /// The placeholder shown in help text after the flag name (empty for booleans).
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Bool => "",
            Self::Int => " <int>",
            Self::Duration => " <duration>",
            Self::Text => " <string>",
            Self::List => " <list>",
            Self::Permission => " <octal>",
        }
    }
}

/// The group an option belongs to (the sections of imagor's configuration reference: server, imagor, HTTP loader, file,
/// ..., processing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Section {
    /// A. Process, listener and observability.
    Server,
    /// B. Core service: signing, caching headers, limits, timeouts, key styles.
    Imagor,
    /// C. HTTP loader.
    HttpLoader,
    /// D. File loader, storage and result storage.
    File,
    /// E. Upload loader (POST).
    Upload,
    /// F. AWS S3 loader, storage, result storage and bucket router.
    S3,
    /// G. Google Cloud Storage loader, storage and result storage.
    GCloud,
    /// Azure Blob Storage loader, storage and result storage (imagor-tower's own).
    Azure,
    /// H. Image processor: limits, animation, encoding, caches.
    Processing,
}

impl Section {
    /// A short title for help output.
    pub fn title(self) -> &'static str {
        match self {
            Self::Server => "Process, listener and observability",
            Self::Imagor => "Core service (signing, caching headers, limits, timeouts, key styles)",
            Self::HttpLoader => "HTTP loader",
            Self::File => "File loader, storage, result storage",
            Self::Upload => "Upload loader (POST)",
            Self::S3 => "AWS S3 loader, storage, result storage, bucket router",
            Self::GCloud => "Google Cloud Storage loader, storage, result storage",
            Self::Azure => "Azure Blob Storage loader, storage, result storage",
            Self::Processing => "Image processor (limits, animation, encoding, caches)",
        }
    }
}

/// One row of the option table.
#[derive(Debug)]
struct Spec {
    flag: &'static str,
    env: &'static str,
    kind: ValueKind,
    default: &'static str,
    supported: bool,
    section: Section,
    help: &'static str,
}

macro_rules! config_keys {
    ($(
        $section:ident {
            $( $variant:ident = $flag:literal, $env:literal, $kind:ident, $default:literal,
               $supported:literal, $help:literal; )*
        }
    )*) => {
        /// Every option imagor knows, by its canonical identity.
        ///
        /// The canonical text form ([`AsRef<str>`]) is the environment variable name;
        /// [`FromStr`] also accepts the flag name with or without leading dashes.
        ///
        /// # Example
        ///
        /// ```
        /// use imagor_tower::config::{ConfigKey, ValueKind};
        ///
        /// let key: ConfigKey = "IMAGOR_LOAD_TIMEOUT".parse().unwrap();
        /// assert_eq!(key, ConfigKey::ImagorLoadTimeout);
        /// assert_eq!(key.flag_name(), "imagor-load-timeout");
        /// assert_eq!(key.kind(), ValueKind::Duration);
        /// assert_eq!("-imagor-load-timeout".parse::<ConfigKey>().unwrap(), key);
        /// assert_eq!(ConfigKey::ALL.len(), 178);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ConfigKey {
            $($(
                #[doc = concat!("`", $env, "` / `-", $flag, "` (default `", $default, "`): ", $help)]
                $variant,
            )*)*
        }

        impl ConfigKey {
            /// All options, grouped by section in the order of imagor's configuration reference.
            pub const ALL: &'static [ConfigKey] = &[$($(ConfigKey::$variant,)*)*];

            fn spec(self) -> &'static Spec {
                match self {
                    $($(
                        ConfigKey::$variant => &Spec {
                            flag: $flag,
                            env: $env,
                            kind: ValueKind::$kind,
                            default: $default,
                            supported: $supported,
                            section: Section::$section,
                            help: $help,
                        },
                    )*)*
                }
            }
        }
    };
}

config_keys! {
    Server {
        Port = "port", "PORT", Int, "8000", true,
            "TCP port to listen on (used when -bind is empty)";
        Bind = "bind", "BIND", Text, "", true,
            "full listen address host:port; replaces -server-address and -port";
        ServerAddress = "server-address", "SERVER_ADDRESS", Text, "", true,
            "host or IP to listen on (empty: all interfaces)";
        ServerPathPrefix = "server-path-prefix", "SERVER_PATH_PREFIX", Text, "", true,
            "URL prefix stripped from every request; requests without it get 404";
        ServerCors = "server-cors", "SERVER_CORS", Bool, "false", true,
            "answer with permissive CORS headers";
        ServerStripQueryString = "server-strip-query-string", "SERVER_STRIP_QUERY_STRING", Bool,
            "false", true,
            "redirect (307) requests with a query string to the same URL without it";
        ServerAccessLog = "server-access-log", "SERVER_ACCESS_LOG", Bool, "false", true,
            "log one line per request";
        ServerMaxConnections = "server-max-connections", "SERVER_MAX_CONNECTIONS", Int, "10000",
            true,
            "most connections open at once; more wait in the listen backlog (imagor-tower only; 0 keeps 10000)";
        ServerHeaderTimeout = "server-header-timeout", "SERVER_HEADER_TIMEOUT", Duration, "10s",
            true,
            "time a new connection has to send its first request head (imagor-tower only; 0 keeps 10s)";
        ServerIdleTimeout = "server-idle-timeout", "SERVER_IDLE_TIMEOUT", Duration, "60s", true,
            "close a connection this long after its last response when no request is in flight (imagor-tower only; 0 keeps 60s)";
        Debug = "debug", "DEBUG", Bool, "false", true,
            "verbose logging";
        LogEcs = "log-ecs", "LOG_ECS", Bool, "false", false,
            "write logs as JSON in Elastic Common Schema layout";
        Version = "version", "VERSION", Bool, "false", true,
            "print the version and exit";
        Gomaxprocs = "gomaxprocs", "GOMAXPROCS", Int, "0", false,
            "Go scheduler CPU limit (worker thread count)";
        Config = "config", "CONFIG", Text, ".env", true,
            "dotenv-style file of NAME=value settings; a missing file is fine";
        SentryDsn = "sentry-dsn", "SENTRY_DSN", Text, "", false,
            "report errors to Sentry";
        PrometheusBind = "prometheus-bind", "PROMETHEUS_BIND", Text, "", true,
            "address of a separate metrics listener, e.g. :5000 (empty: metrics off)";
        PrometheusPath = "prometheus-path", "PROMETHEUS_PATH", Text, "/", true,
            "path that serves the metrics";
        PrometheusNamespace = "prometheus-namespace", "PROMETHEUS_NAMESPACE", Text, "imagor", true,
            "metric name prefix";
    }
    Imagor {
        ImagorSecret = "imagor-secret", "IMAGOR_SECRET", Text, "", true,
            "HMAC key for URL signatures (empty still checks signatures, with an empty key)";
        ImagorUnsafe = "imagor-unsafe", "IMAGOR_UNSAFE", Bool, "false", true,
            "accept /unsafe/ URLs without a signature";
        ImagorAutoWebp = "imagor-auto-webp", "IMAGOR_AUTO_WEBP", Bool, "false", true,
            "serve WebP when the Accept header allows it and the URL has no format()";
        ImagorAutoAvif = "imagor-auto-avif", "IMAGOR_AUTO_AVIF", Bool, "false", false,
            "serve AVIF when the Accept header allows it and the URL has no format()";
        ImagorAutoJpeg = "imagor-auto-jpeg", "IMAGOR_AUTO_JPEG", Bool, "false", true,
            "serve JPEG when the Accept header allows it and the URL has no format()";
        ImagorRequestTimeout = "imagor-request-timeout", "IMAGOR_REQUEST_TIMEOUT", Duration, "30s",
            true, "deadline for the whole request (0 keeps 30s)";
        ImagorLoadTimeout = "imagor-load-timeout", "IMAGOR_LOAD_TIMEOUT", Duration, "0", true,
            "deadline for each load from storages and loaders (0 means 20s)";
        ImagorSaveTimeout = "imagor-save-timeout", "IMAGOR_SAVE_TIMEOUT", Duration, "0", true,
            "deadline for each save to storages and result storages (0 means 20s)";
        ImagorProcessTimeout = "imagor-process-timeout", "IMAGOR_PROCESS_TIMEOUT", Duration, "0",
            true, "deadline for processing (0 means 20s)";
        ImagorBasePathRedirect = "imagor-base-path-redirect", "IMAGOR_BASE_PATH_REDIRECT", Text,
            "", true, "answer GET / with a 307 redirect to this URL";
        ImagorBaseParams = "imagor-base-params", "IMAGOR_BASE_PARAMS", Text, "", true,
            "path fragment merged into every request, e.g. filters:watermark(logo.png)";
        ImagorProcessConcurrency = "imagor-process-concurrency", "IMAGOR_PROCESS_CONCURRENCY", Int,
            "-1", true, "requests loading and processing at once (0 or less: 4 per CPU)";
        ImagorProcessQueueSize = "imagor-process-queue-size", "IMAGOR_PROCESS_QUEUE_SIZE", Int, "0",
            true,
            "requests that may wait for a place; beyond that 429 (0: none with a concurrency, else 1000)";
        ImagorProcessMemory = "imagor-process-memory", "IMAGOR_PROCESS_MEMORY", Int, "0", true,
            "bytes of pixel work in flight; more waits (0: a quarter of the machine's memory)";
        ImagorCacheHeaderTtl = "imagor-cache-header-ttl", "IMAGOR_CACHE_HEADER_TTL", Duration,
            "168h", true, "max-age of successful responses (0 keeps 7 days)";
        ImagorCacheHeaderSwr = "imagor-cache-header-swr", "IMAGOR_CACHE_HEADER_SWR", Duration, "24h",
            true, "stale-while-revalidate, sent only when below the TTL (0 keeps 24h)";
        ImagorCacheHeaderNoCache = "imagor-cache-header-no-cache", "IMAGOR_CACHE_HEADER_NO_CACHE",
            Bool, "false", true, "send non-cacheable headers on every success";
        ImagorModifiedTimeCheck = "imagor-modified-time-check", "IMAGOR_MODIFIED_TIME_CHECK", Bool,
            "false", false, "serve a stored result only if it is not older than its source";
        ImagorDisableErrorBody = "imagor-disable-error-body", "IMAGOR_DISABLE_ERROR_BODY", Bool,
            "false", true, "error responses carry no JSON body";
        ImagorDisableParamsEndpoint = "imagor-disable-params-endpoint",
            "IMAGOR_DISABLE_PARAMS_ENDPOINT", Bool, "false", true,
            "the /params endpoint answers 200 with an empty body";
        ImagorResponseRawOnError = "imagor-response-raw-on-error", "IMAGOR_RESPONSE_RAW_ON_ERROR",
            Bool, "false", false, "send the source bytes when processing fails";
        ImagorSecretPrevious = "imagor-secret-previous", "IMAGOR_SECRET_PREVIOUS", Text, "", true,
            "the secret being retired: URLs signed with it are still accepted, new ones use IMAGOR_SECRET (imagor-tower only)";
        ImagorSecretPreviousSignerType = "imagor-secret-previous-signer-type",
            "IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE", Text, "", true,
            "signature hash of IMAGOR_SECRET_PREVIOUS (empty: as IMAGOR_SIGNER_TYPE; imagor-tower only)";
        ImagorSecretPreviousSignerTruncate = "imagor-secret-previous-signer-truncate",
            "IMAGOR_SECRET_PREVIOUS_SIGNER_TRUNCATE", Int, "-1", true,
            "signature length of IMAGOR_SECRET_PREVIOUS (-1: as IMAGOR_SIGNER_TRUNCATE; 0: full; imagor-tower only)";
        ImagorPresetsPath = "imagor-presets-path", "IMAGOR_PRESETS_PATH", Text, "", true,
            "YAML file of named presets (presets: {thumb: \"fit-in/200x200\"}), used in URLs as preset:NAME (imagor-tower only)";
        ImagorOnlyPresets = "imagor-only-presets", "IMAGOR_ONLY_PRESETS", Bool, "false", true,
            "refuse every URL that is not preset: segments plus the image (imagor-tower only)";
        ImagorSignerType = "imagor-signer-type", "IMAGOR_SIGNER_TYPE", Text, "sha1", true,
            "signature hash: sha1, sha256 or sha512";
        ImagorSignerTruncate = "imagor-signer-truncate", "IMAGOR_SIGNER_TRUNCATE", Int, "0", true,
            "keep only the first N signature characters (0: full; 1 to 16 are rejected)";
        ImagorStoragePathStyle = "imagor-storage-path-style", "IMAGOR_STORAGE_PATH_STYLE", Text,
            "original", true, "source storage key style: original or digest";
        ImagorResultStoragePathStyle = "imagor-result-storage-path-style",
            "IMAGOR_RESULT_STORAGE_PATH_STYLE", Text, "original", true,
            "result storage key style: original, digest, suffix or size";
    }
    HttpLoader {
        HttpLoaderForwardHeaders = "http-loader-forward-headers", "HTTP_LOADER_FORWARD_HEADERS",
            List, "", true, "client request headers copied to the upstream request";
        HttpLoaderOverrideResponseHeaders = "http-loader-override-response-headers",
            "HTTP_LOADER_OVERRIDE_RESPONSE_HEADERS", List, "", true,
            "upstream response headers copied onto the image response";
        HttpLoaderForwardClientHeaders = "http-loader-forward-client-headers",
            "HTTP_LOADER_FORWARD_CLIENT_HEADERS", Bool, "false", true,
            "copy all client request headers upstream except Accept-Encoding";
        HttpLoaderForwardAllHeaders = "http-loader-forward-all-headers",
            "HTTP_LOADER_FORWARD_ALL_HEADERS", Bool, "false", true,
            "deprecated alias of -http-loader-forward-client-headers";
        HttpLoaderAllowedSourceRegexp = "http-loader-allowed-source-regexp",
            "HTTP_LOADER_ALLOWED_SOURCE_REGEXP", Text, "", true,
            "regular expression the whole source URL or host must match (OR-ed with the host globs)";
        HttpLoaderAllowedSources = "http-loader-allowed-sources", "HTTP_LOADER_ALLOWED_SOURCES",
            List, "", true, "host globs sources must match, e.g. *.example.com (empty: any)";
        HttpLoaderMaxAllowedSize = "http-loader-max-allowed-size", "HTTP_LOADER_MAX_ALLOWED_SIZE",
            Int, "67108864", true,
            "largest source in bytes, counted after decompression while it streams (0: no limit)";
        HttpLoaderInsecureSkipVerifyTransport = "http-loader-insecure-skip-verify-transport",
            "HTTP_LOADER_INSECURE_SKIP_VERIFY_TRANSPORT", Bool, "false", true,
            "do not verify upstream TLS certificates";
        HttpLoaderBaseUrl = "http-loader-base-url", "HTTP_LOADER_BASE_URL", Text, "", true,
            "base URL every image path is joined under";
        HttpLoaderDefaultScheme = "http-loader-default-scheme", "HTTP_LOADER_DEFAULT_SCHEME", Text,
            "https", true, "scheme for images without one (nil: such images are invalid)";
        HttpLoaderAccept = "http-loader-accept", "HTTP_LOADER_ACCEPT", Text, "*/*", true,
            "upstream Accept header; the response Content-Type must match it";
        HttpLoaderProxyUrls = "http-loader-proxy-urls", "HTTP_LOADER_PROXY_URLS", List, "", true,
            "proxy URLs, one picked at random per upstream request";
        HttpLoaderProxyAllowedSources = "http-loader-proxy-allowed-sources",
            "HTTP_LOADER_PROXY_ALLOWED_SOURCES", List, "", true,
            "host globs that go through the proxy (empty: all)";
        HttpLoaderBlockLoopbackNetworks = "http-loader-block-loopback-networks",
            "HTTP_LOADER_BLOCK_LOOPBACK_NETWORKS", Bool, "true", true,
            "refuse loopback and unspecified addresses (127.0.0.0/8, 0.0.0.0/8, ::1, ::)";
        HttpLoaderBlockPrivateNetworks = "http-loader-block-private-networks",
            "HTTP_LOADER_BLOCK_PRIVATE_NETWORKS", Bool, "true", true,
            "refuse private addresses, CGNAT 100.64.0.0/10 and benchmarking 198.18.0.0/15";
        HttpLoaderBlockLinkLocalNetworks = "http-loader-block-link-local-networks",
            "HTTP_LOADER_BLOCK_LINK_LOCAL_NETWORKS", Bool, "true", true,
            "refuse link-local and cloud metadata addresses";
        HttpLoaderDisable = "http-loader-disable", "HTTP_LOADER_DISABLE", Bool, "false", true,
            "do not install the HTTP loader";
        HttpLoaderBlockNetworks = "http-loader-block-networks", "HTTP_LOADER_BLOCK_NETWORKS", List,
            "", true, "CIDR networks to refuse, e.g. 10.0.0.0/8,::1/128";
    }
    File {
        FileSafeChars = "file-safe-chars", "FILE_SAFE_CHARS", Text, "", true,
            "extra characters left unescaped in file keys (--: no escaping)";
        FileLoaderBaseDir = "file-loader-base-dir", "FILE_LOADER_BASE_DIR", Text, "", true,
            "root directory of the file loader; enables it";
        FileLoaderPathPrefix = "file-loader-path-prefix", "FILE_LOADER_PATH_PREFIX", Text, "", true,
            "only keys with this prefix are served by the file loader";
        FileStorageBaseDir = "file-storage-base-dir", "FILE_STORAGE_BASE_DIR", Text, "", true,
            "root directory of file source storage; enables it";
        FileStoragePathPrefix = "file-storage-path-prefix", "FILE_STORAGE_PATH_PREFIX", Text, "",
            true, "key prefix filter of file storage";
        FileStorageMkdirPermission = "file-storage-mkdir-permission",
            "FILE_STORAGE_MKDIR_PERMISSION", Permission, "0755", true,
            "mode of directories created by file storage";
        FileStorageWritePermission = "file-storage-write-permission",
            "FILE_STORAGE_WRITE_PERMISSION", Permission, "0666", true,
            "mode of files written by file storage";
        FileStorageExpiration = "file-storage-expiration", "FILE_STORAGE_EXPIRATION", Duration, "0",
            true, "stored files older than this count as expired (0: never)";
        FileResultStorageBaseDir = "file-result-storage-base-dir", "FILE_RESULT_STORAGE_BASE_DIR",
            Text, "", true, "root directory of file result storage; enables it";
        FileResultStoragePathPrefix = "file-result-storage-path-prefix",
            "FILE_RESULT_STORAGE_PATH_PREFIX", Text, "", true,
            "key prefix filter of file result storage";
        FileResultStorageMkdirPermission = "file-result-storage-mkdir-permission",
            "FILE_RESULT_STORAGE_MKDIR_PERMISSION", Permission, "0755", true,
            "mode of directories created by file result storage";
        FileResultStorageWritePermission = "file-result-storage-write-permission",
            "FILE_RESULT_STORAGE_WRITE_PERMISSION", Permission, "0666", true,
            "mode of files written by file result storage";
        FileResultStorageExpiration = "file-result-storage-expiration",
            "FILE_RESULT_STORAGE_EXPIRATION", Duration, "0", true,
            "stored results older than this count as expired (0: never)";
    }
    Upload {
        UploadLoaderMaxAllowedSize = "upload-loader-max-allowed-size",
            "UPLOAD_LOADER_MAX_ALLOWED_SIZE", Int, "33554432", true,
            "largest upload in bytes";
        UploadLoaderAccept = "upload-loader-accept", "UPLOAD_LOADER_ACCEPT", List, "image/*", true,
            "accepted upload media types";
        UploadLoaderFormFieldName = "upload-loader-form-field-name",
            "UPLOAD_LOADER_FORM_FIELD_NAME", Text, "image", true,
            "multipart field that carries the file";
        UploadLoaderEnable = "upload-loader-enable", "UPLOAD_LOADER_ENABLE", Bool, "false", true,
            "enable POST uploads (unsigned ones also need -imagor-unsafe)";
    }
    S3 {
        AwsRegion = "aws-region", "AWS_REGION", Text, "", true,
            "region of all S3 clients";
        AwsAccessKeyId = "aws-access-key-id", "AWS_ACCESS_KEY_ID", Text, "", true,
            "static access key id of all S3 clients (with the secret key)";
        AwsSecretAccessKey = "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", Text, "", true,
            "static secret key of all S3 clients";
        AwsSessionToken = "aws-session-token", "AWS_SESSION_TOKEN", Text, "", true,
            "session token for the static keys";
        S3Endpoint = "s3-endpoint", "S3_ENDPOINT", Text, "", true,
            "custom S3 endpoint URL of all S3 clients";
        AwsLoaderRegion = "aws-loader-region", "AWS_LOADER_REGION", Text, "", true,
            "loader region (loader overrides apply when region, key id and secret are all set)";
        AwsLoaderAccessKeyId = "aws-loader-access-key-id", "AWS_LOADER_ACCESS_KEY_ID", Text, "",
            true, "loader access key id";
        AwsLoaderSecretAccessKey = "aws-loader-secret-access-key", "AWS_LOADER_SECRET_ACCESS_KEY",
            Text, "", true, "loader secret key";
        AwsLoaderSessionToken = "aws-loader-session-token", "AWS_LOADER_SESSION_TOKEN", Text, "",
            true, "loader session token";
        S3LoaderEndpoint = "s3-loader-endpoint", "S3_LOADER_ENDPOINT", Text, "", true,
            "loader endpoint (else -s3-endpoint)";
        AwsStorageRegion = "aws-storage-region", "AWS_STORAGE_REGION", Text, "", true,
            "storage region (storage overrides apply when region, key id and secret are all set)";
        AwsStorageAccessKeyId = "aws-storage-access-key-id", "AWS_STORAGE_ACCESS_KEY_ID", Text, "",
            true, "storage access key id";
        AwsStorageSecretAccessKey = "aws-storage-secret-access-key",
            "AWS_STORAGE_SECRET_ACCESS_KEY", Text, "", true, "storage secret key";
        AwsStorageSessionToken = "aws-storage-session-token", "AWS_STORAGE_SESSION_TOKEN", Text, "",
            true, "storage session token";
        S3StorageEndpoint = "s3-storage-endpoint", "S3_STORAGE_ENDPOINT", Text, "", true,
            "storage endpoint (else -s3-endpoint)";
        AwsResultStorageRegion = "aws-result-storage-region", "AWS_RESULT_STORAGE_REGION", Text, "",
            true,
            "result storage region (overrides apply when region, key id and secret are all set)";
        AwsResultStorageAccessKeyId = "aws-result-storage-access-key-id",
            "AWS_RESULT_STORAGE_ACCESS_KEY_ID", Text, "", true, "result storage access key id";
        AwsResultStorageSecretAccessKey = "aws-result-storage-secret-access-key",
            "AWS_RESULT_STORAGE_SECRET_ACCESS_KEY", Text, "", true, "result storage secret key";
        AwsResultStorageSessionToken = "aws-result-storage-session-token",
            "AWS_RESULT_STORAGE_SESSION_TOKEN", Text, "", true, "result storage session token";
        S3ResultStorageEndpoint = "s3-result-storage-endpoint", "S3_RESULT_STORAGE_ENDPOINT", Text,
            "", true, "result storage endpoint (else -s3-endpoint)";
        S3ForcePathStyle = "s3-force-path-style", "S3_FORCE_PATH_STYLE", Bool, "false", true,
            "address objects as endpoint/bucket/key";
        S3SafeChars = "s3-safe-chars", "S3_SAFE_CHARS", Text, "", true,
            "extra characters left unescaped in S3 keys (--: no escaping)";
        S3LoaderBucket = "s3-loader-bucket", "S3_LOADER_BUCKET", Text, "", true,
            "bucket of the S3 loader; enables it (name/dir adds a base dir, * takes it from the key)";
        S3LoaderBaseDir = "s3-loader-base-dir", "S3_LOADER_BASE_DIR", Text, "", true,
            "key prefix inside the loader bucket";
        S3LoaderPathPrefix = "s3-loader-path-prefix", "S3_LOADER_PATH_PREFIX", Text, "", true,
            "only keys with this prefix are served by the S3 loader";
        S3LoaderBucketRouterConfig = "s3-loader-bucket-router-config",
            "S3_LOADER_BUCKET_ROUTER_CONFIG", Text, "", true,
            "YAML bucket router file; replaces the single-bucket loader";
        S3StorageBucket = "s3-storage-bucket", "S3_STORAGE_BUCKET", Text, "", true,
            "bucket of S3 source storage; enables it";
        S3StorageBaseDir = "s3-storage-base-dir", "S3_STORAGE_BASE_DIR", Text, "", true,
            "key prefix of S3 source storage";
        S3StoragePathPrefix = "s3-storage-path-prefix", "S3_STORAGE_PATH_PREFIX", Text, "", true,
            "key prefix filter of S3 source storage";
        S3StorageAcl = "s3-storage-acl", "S3_STORAGE_ACL", Text, "", true,
            "canned ACL for source storage writes";
        S3StorageTagging = "s3-storage-tagging", "S3_STORAGE_TAGGING", Text, "", true,
            "object tags for source storage writes (a=b&c=d)";
        S3StorageExpiration = "s3-storage-expiration", "S3_STORAGE_EXPIRATION", Duration, "0", true,
            "stored objects older than this count as expired (0: never)";
        S3ResultStorageBucket = "s3-result-storage-bucket", "S3_RESULT_STORAGE_BUCKET", Text, "",
            true, "bucket of S3 result storage; enables it";
        S3ResultStorageBaseDir = "s3-result-storage-base-dir", "S3_RESULT_STORAGE_BASE_DIR", Text,
            "", true, "key prefix of S3 result storage";
        S3ResultStoragePathPrefix = "s3-result-storage-path-prefix",
            "S3_RESULT_STORAGE_PATH_PREFIX", Text, "", true,
            "key prefix filter of S3 result storage";
        S3ResultStorageAcl = "s3-result-storage-acl", "S3_RESULT_STORAGE_ACL", Text, "", true,
            "canned ACL for result writes";
        S3ResultStorageTagging = "s3-result-storage-tagging", "S3_RESULT_STORAGE_TAGGING", Text, "",
            true, "object tags for result writes (a=b&c=d)";
        S3ResultStorageExpiration = "s3-result-storage-expiration", "S3_RESULT_STORAGE_EXPIRATION",
            Duration, "0", true, "stored results older than this count as expired (0: never)";
        S3StorageClass = "s3-storage-class", "S3_STORAGE_CLASS", Text, "STANDARD", true,
            "storage class of writes, e.g. STANDARD_IA or INTELLIGENT_TIERING";
        S3HttpMaxIdleConnsPerHost = "s3-http-max-idle-conns-per-host",
            "S3_HTTP_MAX_IDLE_CONNS_PER_HOST", Int, "100", true,
            "keep-alive pool size per host of the S3 HTTP client";
    }
    GCloud {
        GcloudSafeChars = "gcloud-safe-chars", "GCLOUD_SAFE_CHARS", Text, "", true,
            "extra characters left unescaped in GCS keys";
        GcloudLoaderBucket = "gcloud-loader-bucket", "GCLOUD_LOADER_BUCKET", Text, "", true,
            "GCS bucket of the loader";
        GcloudLoaderBaseDir = "gcloud-loader-base-dir", "GCLOUD_LOADER_BASE_DIR", Text, "", true,
            "key prefix inside the loader bucket";
        GcloudLoaderPathPrefix = "gcloud-loader-path-prefix", "GCLOUD_LOADER_PATH_PREFIX", Text, "",
            true, "key prefix filter of the GCS loader";
        GcloudStorageBucket = "gcloud-storage-bucket", "GCLOUD_STORAGE_BUCKET", Text, "", true,
            "GCS bucket of source storage";
        GcloudStorageBaseDir = "gcloud-storage-base-dir", "GCLOUD_STORAGE_BASE_DIR", Text, "",
            true, "key prefix of GCS source storage";
        GcloudStoragePathPrefix = "gcloud-storage-path-prefix", "GCLOUD_STORAGE_PATH_PREFIX", Text,
            "", true, "key prefix filter of GCS source storage";
        GcloudStorageAcl = "gcloud-storage-acl", "GCLOUD_STORAGE_ACL", Text, "", true,
            "predefined ACL of source storage writes";
        GcloudStorageExpiration = "gcloud-storage-expiration", "GCLOUD_STORAGE_EXPIRATION",
            Duration, "0", true, "stored objects older than this count as expired (0: never)";
        GcloudResultStorageBucket = "gcloud-result-storage-bucket", "GCLOUD_RESULT_STORAGE_BUCKET",
            Text, "", true, "GCS bucket of result storage";
        GcloudResultStorageBaseDir = "gcloud-result-storage-base-dir",
            "GCLOUD_RESULT_STORAGE_BASE_DIR", Text, "", true, "key prefix of GCS result storage";
        GcloudResultStoragePathPrefix = "gcloud-result-storage-path-prefix",
            "GCLOUD_RESULT_STORAGE_PATH_PREFIX", Text, "", true,
            "key prefix filter of GCS result storage";
        GcloudResultStorageAcl = "gcloud-result-storage-acl", "GCLOUD_RESULT_STORAGE_ACL", Text, "",
            true, "predefined ACL of result writes";
        GcloudResultStorageExpiration = "gcloud-result-storage-expiration",
            "GCLOUD_RESULT_STORAGE_EXPIRATION", Duration, "0", true,
            "stored results older than this count as expired (0: never)";
    }
    Azure {
        AzureStorageAccountName = "azure-storage-account-name", "AZURE_STORAGE_ACCOUNT_NAME", Text,
            "", true, "Azure storage account (else taken from -azure-endpoint; not in imagor)";
        AzureStorageAccountKey = "azure-storage-account-key", "AZURE_STORAGE_ACCOUNT_KEY", Text, "",
            true, "shared key of the storage account (else a SAS token, else the standard Azure credential chain)";
        AzureStorageSasToken = "azure-storage-sas-token", "AZURE_STORAGE_SAS_TOKEN", Text, "", true,
            "shared access signature, used when no account key is set";
        AzureEndpoint = "azure-endpoint", "AZURE_ENDPOINT", Text, "", true,
            "blob service URL with the account (default https://ACCOUNT.blob.core.windows.net; Azurite: http://127.0.0.1:10000/devstoreaccount1)";
        AzureLoaderContainer = "azure-loader-container", "AZURE_LOADER_CONTAINER", Text, "", true,
            "container of the Azure loader; enables it (name/dir adds a base dir, * takes it from the key)";
        AzureLoaderBaseDir = "azure-loader-base-dir", "AZURE_LOADER_BASE_DIR", Text, "", true,
            "key prefix inside the loader container";
        AzureLoaderPathPrefix = "azure-loader-path-prefix", "AZURE_LOADER_PATH_PREFIX", Text, "", true,
            "only keys with this prefix are served by the Azure loader";
        AzureStorageContainer = "azure-storage-container", "AZURE_STORAGE_CONTAINER", Text, "", true,
            "container of Azure source storage; enables it";
        AzureStorageBaseDir = "azure-storage-base-dir", "AZURE_STORAGE_BASE_DIR", Text, "", true,
            "key prefix of Azure source storage";
        AzureStoragePathPrefix = "azure-storage-path-prefix", "AZURE_STORAGE_PATH_PREFIX", Text, "",
            true, "key prefix filter of Azure source storage";
        AzureStorageExpiration = "azure-storage-expiration", "AZURE_STORAGE_EXPIRATION", Duration,
            "0", true, "stored blobs older than this count as expired (0: never)";
        AzureResultStorageContainer = "azure-result-storage-container",
            "AZURE_RESULT_STORAGE_CONTAINER", Text, "", true,
            "container of Azure result storage; enables it";
        AzureResultStorageBaseDir = "azure-result-storage-base-dir", "AZURE_RESULT_STORAGE_BASE_DIR",
            Text, "", true, "key prefix of Azure result storage";
        AzureResultStoragePathPrefix = "azure-result-storage-path-prefix",
            "AZURE_RESULT_STORAGE_PATH_PREFIX", Text, "", true,
            "key prefix filter of Azure result storage";
        AzureResultStorageExpiration = "azure-result-storage-expiration",
            "AZURE_RESULT_STORAGE_EXPIRATION", Duration, "0", true,
            "stored results older than this count as expired (0: never)";
    }
    Processing {
        VipsDisableBlur = "vips-disable-blur", "VIPS_DISABLE_BLUR", Bool, "false", true,
            "disable blur and sharpen (fill(blur) becomes black)";
        VipsMaxAnimationFrames = "vips-max-animation-frames", "VIPS_MAX_ANIMATION_FRAMES", Int, "-1",
            true, "frames decoded from animations (-1: all; 1: no animation)";
        VipsDisableFilters = "vips-disable-filters", "VIPS_DISABLE_FILTERS", List, "", true,
            "filter names ignored in processing";
        VipsMaxFilterOps = "vips-max-filter-ops", "VIPS_MAX_FILTER_OPS", Int, "-1", true,
            "the pipeline stops at this filter index (-1 or 0: unlimited; unset: 20 with IMAGOR_UNSAFE)";
        VipsMaxWork = "vips-max-work", "VIPS_MAX_WORK", Int, "10000000000", true,
            "work budget of one request, in rough nanoseconds of one core (0 or -1: unlimited; not in imagor)";
        VipsConcurrency = "vips-concurrency", "VIPS_CONCURRENCY", Int, "1", false,
            "libvips worker threads per operation";
        VipsMaxCacheFiles = "vips-max-cache-files", "VIPS_MAX_CACHE_FILES", Int, "0", false,
            "libvips operation cache: open files";
        VipsMaxCacheSize = "vips-max-cache-size", "VIPS_MAX_CACHE_SIZE", Int, "0", false,
            "libvips operation cache: operations";
        VipsMaxCacheMem = "vips-max-cache-mem", "VIPS_MAX_CACHE_MEM", Int, "0", false,
            "libvips operation cache: memory";
        VipsMaxWidth = "vips-max-width", "VIPS_MAX_WIDTH", Int, "0", true,
            "largest image width (0 means 9999)";
        VipsMaxHeight = "vips-max-height", "VIPS_MAX_HEIGHT", Int, "0", true,
            "largest frame height (0 means 9999)";
        VipsMaxResolution = "vips-max-resolution", "VIPS_MAX_RESOLUTION", Int, "0", true,
            "largest width x total height (0 means 81000000)";
        VipsMozjpeg = "vips-mozjpeg", "VIPS_MOZJPEG", Bool, "false", false,
            "MozJPEG-style JPEG encoding";
        VipsAvifSpeed = "vips-avif-speed", "VIPS_AVIF_SPEED", Int, "8", true,
            "AVIF encoder speed 0 (slowest) to 9 (fastest)";
        VipsAvifDecode = "vips-avif-decode", "VIPS_AVIF_DECODE", Bool, "true", true,
            "decode AVIF sources (not imagor's; false: they answer 406 unsupported format)";
        VipsVector = "vips-vector", "VIPS_VECTOR", Int, "0", false,
            "libvips SIMD disable bitmask";
        VipsDetectorProbeSize = "vips-detector-probe-size", "VIPS_DETECTOR_PROBE_SIZE", Int, "400",
            false, "long side of the copy given to region detectors";
        VipsStripColorProfile = "vips-strip-color-profile", "VIPS_STRIP_COLOR_PROFILE", Bool,
            "false", true, "convert outputs to sRGB and drop the ICC profile";
        VipsStripMetadata = "vips-strip-metadata", "VIPS_STRIP_METADATA", Bool, "false", true,
            "drop all metadata from outputs";
        VipsUnlimited = "vips-unlimited", "VIPS_UNLIMITED", Bool, "false", true,
            "skip the width, height and resolution limits";
        VipsCacheSize = "vips-cache-size", "VIPS_CACHE_SIZE", Int, "0", false,
            "byte budget of the decoded-image cache (0: off)";
        VipsCacheMaxWidth = "vips-cache-max-width", "VIPS_CACHE_MAX_WIDTH", Int, "2400", false,
            "cached images are reduced to fit this width";
        VipsCacheMaxHeight = "vips-cache-max-height", "VIPS_CACHE_MAX_HEIGHT", Int, "2000", false,
            "cached images are reduced to fit this height";
        VipsCacheTtl = "vips-cache-ttl", "VIPS_CACHE_TTL", Duration, "0", false,
            "lifetime of a cache entry (0: no expiry)";
        VipsCacheFormat = "vips-cache-format", "VIPS_CACHE_FORMAT", Text, "pixel", false,
            "how cached images are held: pixel, png or webp";
    }
}

impl ConfigKey {
    /// The flag name without the leading dash, e.g. `imagor-secret`.
    pub fn flag_name(self) -> &'static str {
        self.spec().flag
    }

    /// The environment variable (and config file) name, e.g. `IMAGOR_SECRET`: the flag name
    /// upper-cased with `-` replaced by `_`.
    pub fn env_var(self) -> &'static str {
        self.spec().env
    }

    /// How the value is parsed.
    pub fn kind(self) -> ValueKind {
        self.spec().kind
    }

    /// imagor's flag default, as text (the typed [`Config`](super::Config) sections say where the
    /// effective value differs).
    pub fn default_value(self) -> &'static str {
        self.spec().default
    }

    /// A one-line description.
    pub fn help(self) -> &'static str {
        self.spec().help
    }

    /// The group the option belongs to.
    pub fn section(self) -> Section {
        self.spec().section
    }

    /// Whether this crate implements the option yet. Unsupported options are still parsed and
    /// validated, and [`Config::unsupported`](super::Config::unsupported) names those that were
    /// set.
    pub fn is_supported(self) -> bool {
        self.spec().supported
    }

    /// Whether the value is a credential that must never be printed (secrets, session tokens,
    /// the Sentry DSN, proxy URLs that may carry passwords).
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Self::ImagorSecret
                | Self::ImagorSecretPrevious
                | Self::SentryDsn
                | Self::HttpLoaderProxyUrls
                | Self::AwsSecretAccessKey
                | Self::AwsSessionToken
                | Self::AwsLoaderSecretAccessKey
                | Self::AwsLoaderSessionToken
                | Self::AwsStorageSecretAccessKey
                | Self::AwsStorageSessionToken
                | Self::AwsResultStorageSecretAccessKey
                | Self::AwsResultStorageSessionToken
                | Self::AzureStorageAccountKey
                | Self::AzureStorageSasToken
        )
    }

    /// The option whose flag name is `name` (no leading dashes).
    pub fn from_flag_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|key| key.flag_name() == name)
    }

    /// The option whose environment variable is exactly `name` (case-sensitive, as the process
    /// environment is).
    pub fn from_env_var(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|key| key.env_var() == name)
    }
}

impl AsRef<str> for ConfigKey {
    fn as_ref(&self) -> &str {
        self.env_var()
    }
}

impl fmt::Display for ConfigKey {
    /// `ENV_VAR (-flag-name)`, the form used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (-{})", self.env_var(), self.flag_name())
    }
}

/// The text was not the name of any imagor option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown imagor option {0:?}")]
pub struct UnknownKey(pub String);

impl FromStr for ConfigKey {
    type Err = UnknownKey;

    /// Accepts the environment variable name (`IMAGOR_SECRET`) or the flag name with or
    /// without leading dashes (`imagor-secret`, `-imagor-secret`, `--imagor-secret`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_env_var(s)
            .or_else(|| Self::from_flag_name(s.trim_start_matches('-')))
            .ok_or_else(|| UnknownKey(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_all_152_options_per_section() {
        // imagor's 152, and the ones this crate adds: `IMAGOR_PROCESS_MEMORY`, `VIPS_MAX_WORK`,
        // `VIPS_AVIF_DECODE`, the three connection limits, the three `IMAGOR_SECRET_PREVIOUS*`,
        // the two presets options and the 15 Azure ones.
        assert_eq!(ConfigKey::ALL.len(), 178);
        let count = |section| {
            ConfigKey::ALL
                .iter()
                .filter(|key| key.section() == section)
                .count()
        };
        assert_eq!(count(Section::Server), 19);
        assert_eq!(count(Section::Imagor), 30);
        assert_eq!(count(Section::HttpLoader), 18);
        assert_eq!(count(Section::File), 13);
        assert_eq!(count(Section::Upload), 4);
        assert_eq!(count(Section::S3), 40);
        assert_eq!(count(Section::GCloud), 14);
        assert_eq!(count(Section::Azure), 15);
        assert_eq!(count(Section::Processing), 25);
    }

    #[test]
    fn env_var_is_derived_mechanically_from_flag() {
        for key in ConfigKey::ALL {
            let derived = key.flag_name().to_uppercase().replace('-', "_");
            assert_eq!(key.env_var(), derived, "{key:?}");
        }
    }

    #[test]
    fn names_are_unique_and_round_trip() {
        for key in ConfigKey::ALL {
            assert_eq!(ConfigKey::from_flag_name(key.flag_name()), Some(*key));
            assert_eq!(ConfigKey::from_env_var(key.env_var()), Some(*key));
            assert_eq!(key.as_ref().parse::<ConfigKey>(), Ok(*key));
            assert_eq!(
                format!("--{}", key.flag_name()).parse::<ConfigKey>(),
                Ok(*key)
            );
        }
        assert_eq!(
            "NOPE".parse::<ConfigKey>(),
            Err(UnknownKey("NOPE".to_owned()))
        );
        // The process environment is case-sensitive.
        assert_eq!(ConfigKey::from_env_var("imagor_secret"), None);
    }

    #[test]
    fn display_names_both_forms() {
        assert_eq!(
            ConfigKey::ImagorLoadTimeout.to_string(),
            "IMAGOR_LOAD_TIMEOUT (-imagor-load-timeout)"
        );
    }

    #[test]
    fn unsupported_groups_are_marked() {
        assert!(
            ConfigKey::ALL
                .iter()
                .filter(|k| {
                    matches!(
                        k.section(),
                        Section::HttpLoader | Section::GCloud | Section::Azure | Section::Upload
                    )
                })
                .all(|k| k.is_supported())
        );
        assert!(ConfigKey::ImagorSecret.is_supported());
        assert!(ConfigKey::S3LoaderBucket.is_supported());
        assert!(ConfigKey::S3LoaderBucketRouterConfig.is_supported());
        assert!(ConfigKey::FileLoaderBaseDir.is_supported());
        assert!(ConfigKey::FileStorageBaseDir.is_supported());
        assert!(ConfigKey::FileStorageMkdirPermission.is_supported());
        assert!(!ConfigKey::ImagorModifiedTimeCheck.is_supported());
        assert!(!ConfigKey::Gomaxprocs.is_supported());
        assert!(!ConfigKey::SentryDsn.is_supported());
        assert!(!ConfigKey::VipsCacheSize.is_supported());
        assert!(ConfigKey::VipsMaxWidth.is_supported());
        assert!(ConfigKey::PrometheusBind.is_supported());
        assert!(ConfigKey::PrometheusPath.is_supported());
        assert!(ConfigKey::PrometheusNamespace.is_supported());
    }

    #[test]
    fn http_loader_defaults_are_the_safe_ones() {
        assert_eq!(
            ConfigKey::HttpLoaderMaxAllowedSize.default_value(),
            crate::loader::DEFAULT_MAX_SIZE.to_string()
        );
        for key in [
            ConfigKey::HttpLoaderBlockLoopbackNetworks,
            ConfigKey::HttpLoaderBlockPrivateNetworks,
            ConfigKey::HttpLoaderBlockLinkLocalNetworks,
        ] {
            assert_eq!(key.default_value(), "true", "{key:?}");
        }
    }
}
