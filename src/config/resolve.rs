//! Turning the winning raw text of every option into the typed sections.
//!
//! Every known option is validated by its [`ValueKind`] first, supported or not, so a bad value
//! fails start-up even for an option that is not implemented yet (as it would in imagor).
//! Then each supported option is converted, with its extra checks and effective defaults
//! (zero timeouts become the built-in ones, zero limits become unlimited or the built-in
//! maximum, as imagor does).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use imagor_tower::config::ConfigBuilder;
//!
//! let config = ConfigBuilder::new()
//!     .env([("IMAGOR_PROCESS_TIMEOUT", "0"), ("IMAGOR_CACHE_HEADER_TTL", "0")])
//!     .build()
//!     .unwrap();
//! assert_eq!(config.imagor.process_timeout, Duration::from_secs(20));
//! assert_eq!(config.imagor.cache_header_ttl, Duration::from_secs(7 * 24 * 3600));
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use super::cloud::{AzureConfig, AzureContainerConfig, GCloudBucketConfig, GCloudConfig, GcsAcl};
use super::sections::{
    DEFAULT_AVIF_SPEED, DEFAULT_CACHE_SWR, DEFAULT_CACHE_TTL, DEFAULT_MAX_DIMENSION,
    DEFAULT_MAX_RESOLUTION, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STAGE_TIMEOUT,
    DEFAULT_UNSAFE_MAX_FILTER_OPS, FileConfig, FileLoaderConfig, FileStorageConfig,
    HttpLoaderConfig, ImagorConfig, ProcessingConfig, PrometheusConfig, ResultStoragePathStyle,
    S3Config, S3LoaderConfig, S3StorageConfig, ServerConfig, SignerType, StoragePathStyle,
    UploadLoaderConfig,
};
use super::value::{parse_bool, parse_go_duration, parse_int, parse_list, parse_permission};
use super::{ConfigError, ConfigKey, Origin, ValueKind};
use crate::s3::{AwsCredentials, CannedAcl, S3Role, S3StorageClass};
use crate::secret::Secret;

type Result<T> = std::result::Result<T, ConfigError>;

const EXPECT_BOOL: &str = "expected a boolean (1, t, true, 0, f, false)";
const EXPECT_INT: &str = "expected an integer";
const EXPECT_DURATION: &str = "expected a duration like 30s";
const EXPECT_PERMISSION: &str = "expected an octal permission like 0755";
const EXPECT_NON_NEGATIVE: &str = "expected an integer of 0 or more";

/// The winning text of each option that was set, with where it came from.
#[derive(Debug, Default)]
pub(crate) struct Values {
    set: BTreeMap<ConfigKey, (Origin, String)>,
}

/// The typed sections plus the warnings met while building them.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) server: ServerConfig,
    pub(crate) imagor: ImagorConfig,
    pub(crate) http_loader: HttpLoaderConfig,
    pub(crate) file: FileConfig,
    pub(crate) upload: UploadLoaderConfig,
    pub(crate) s3: S3Config,
    pub(crate) gcloud: GCloudConfig,
    pub(crate) azure: AzureConfig,
    pub(crate) processing: ProcessingConfig,
    pub(crate) warnings: Vec<String>,
}

impl Values {
    /// Records `value` for `key` from `origin`, replacing a value from a lower-ranked source.
    pub(crate) fn set(&mut self, key: ConfigKey, origin: Origin, value: String) {
        match self.set.get(&key) {
            Some((existing, _)) if *existing > origin => {}
            _ => {
                self.set.insert(key, (origin, value));
            }
        }
    }

    /// Where the value of `key` comes from.
    pub(crate) fn origin(&self, key: ConfigKey) -> Origin {
        self.set
            .get(&key)
            .map_or(Origin::Default, |(origin, _)| *origin)
    }

    /// The options that were set, with their origins.
    pub(crate) fn origins(&self) -> BTreeMap<ConfigKey, Origin> {
        self.set
            .iter()
            .map(|(key, (origin, _))| (*key, *origin))
            .collect()
    }

    pub(crate) fn raw(&self, key: ConfigKey) -> &str {
        self.set
            .get(&key)
            .map_or(key.default_value(), |(_, value)| value.as_str())
    }

    fn invalid(&self, key: ConfigKey, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(key, self.raw(key), self.origin(key), reason)
    }

    fn text(&self, key: ConfigKey) -> String {
        self.raw(key).to_owned()
    }

    fn opt_text(&self, key: ConfigKey) -> Option<String> {
        Some(self.raw(key))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    fn opt_path(&self, key: ConfigKey) -> Option<PathBuf> {
        self.opt_text(key).map(PathBuf::from)
    }

    fn list(&self, key: ConfigKey) -> Vec<String> {
        parse_list(self.raw(key))
    }

    fn bool(&self, key: ConfigKey) -> Result<bool> {
        parse_bool(self.raw(key)).ok_or_else(|| self.invalid(key, EXPECT_BOOL))
    }

    fn int(&self, key: ConfigKey) -> Result<i64> {
        parse_int(self.raw(key)).ok_or_else(|| self.invalid(key, EXPECT_INT))
    }

    fn nanos(&self, key: ConfigKey) -> Result<i128> {
        parse_go_duration(self.raw(key)).ok_or_else(|| self.invalid(key, EXPECT_DURATION))
    }

    fn permission(&self, key: ConfigKey) -> Result<u32> {
        parse_permission(self.raw(key)).ok_or_else(|| self.invalid(key, EXPECT_PERMISSION))
    }

    /// Checks that the value parses as its kind says.
    fn validate(&self, key: ConfigKey) -> Result<()> {
        match key.kind() {
            ValueKind::Bool => self.bool(key).map(drop),
            ValueKind::Int => self.int(key).map(drop),
            ValueKind::Duration => self.nanos(key).map(drop),
            ValueKind::Permission => self.permission(key).map(drop),
            ValueKind::Text | ValueKind::List => Ok(()),
        }
    }

    /// A positive duration, or `None` for 0 and negative values (which imagor ignores).
    fn positive_duration(&self, key: ConfigKey) -> Result<Option<Duration>> {
        let nanos = self.nanos(key)?;
        Ok(u64::try_from(nanos)
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_nanos))
    }

    fn duration_or(&self, key: ConfigKey, fallback: Duration) -> Result<Duration> {
        Ok(self.positive_duration(key)?.unwrap_or(fallback))
    }

    fn non_negative<T: TryFrom<i64>>(&self, key: ConfigKey) -> Result<T> {
        let value = self.int(key)?;
        if value < 0 {
            return Err(self.invalid(key, EXPECT_NON_NEGATIVE));
        }
        T::try_from(value).map_err(|_| self.invalid(key, "the number is too large"))
    }

    /// A non-negative number where 0 means "use `fallback`".
    fn limit_or<T: TryFrom<i64>>(&self, key: ConfigKey, fallback: T) -> Result<T> {
        let value = self.non_negative::<T>(key)?;
        Ok(if self.int(key)? == 0 { fallback } else { value })
    }

    /// A signature truncation: `None` for 0 (the full length), refused from 1 to 16.
    fn signer_truncate(&self, key: ConfigKey) -> Result<Option<usize>> {
        match self.int(key)? {
            0 => Ok(None),
            1..=16 => Err(self.invalid(
                key,
                "a signature segment shorter than 17 characters is never recognised as a \
                 signature (imagor reads such a first segment as part of the path), so \
                 every signed URL would fail with 403 (0 keeps the full length; else 17 or \
                 more)",
            )),
            _ => Ok(Some(self.non_negative::<usize>(key)?)),
        }
    }

    fn secret(&self, key: ConfigKey) -> Option<Secret> {
        self.opt_text(key).map(Secret::from)
    }

    fn header_names(&self, key: ConfigKey) -> Result<Vec<HeaderName>> {
        self.list(key)
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    self.invalid(key, format!("{name:?} is not a valid HTTP header name"))
                })
            })
            .collect()
    }

    fn absolute_url(&self, key: ConfigKey, text: &str) -> Result<()> {
        let uri: http::Uri = text
            .parse()
            .map_err(|_| self.invalid(key, "expected an absolute URL like https://host/path"))?;
        if uri.scheme().is_none() || uri.host().is_none_or(str::is_empty) {
            return Err(self.invalid(key, "expected an absolute URL like https://host/path"));
        }
        Ok(())
    }

    fn aws(
        &self,
        region: ConfigKey,
        key_id: ConfigKey,
        secret: ConfigKey,
        token: ConfigKey,
    ) -> AwsCredentials {
        AwsCredentials {
            region: self.opt_text(region),
            access_key_id: self.opt_text(key_id),
            secret_access_key: self.secret(secret),
            session_token: self.secret(token),
        }
    }

    /// Validates every option and builds the typed sections.
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        for key in ConfigKey::ALL {
            self.validate(*key)?;
        }
        let mut warnings = Vec::new();
        let server = self.server(&mut warnings)?;
        let imagor = self.imagor(&mut warnings)?;
        let http_loader = self.http_loader(&mut warnings)?;
        let file = self.file()?;
        let upload = self.upload()?;
        let s3 = self.s3(&mut warnings)?;
        let gcloud = self.gcloud(&mut warnings)?;
        let azure = self.azure()?;
        let processing = self.processing(&mut warnings)?;
        Ok(Resolved {
            server,
            imagor,
            http_loader,
            file,
            upload,
            s3,
            gcloud,
            azure,
            processing,
            warnings,
        })
    }

    fn server(&self, warnings: &mut Vec<String>) -> Result<ServerConfig> {
        use ConfigKey as K;
        let port = self.int(K::Port)?;
        let port = u16::try_from(port)
            .map_err(|_| self.invalid(K::Port, "expected a port number from 0 to 65535"))?;
        let path_prefix = self.opt_text(K::ServerPathPrefix);
        if let Some(prefix) = path_prefix.as_deref().filter(|p| !p.starts_with('/')) {
            warnings.push(format!(
                "SERVER_PATH_PREFIX {prefix:?} does not start with '/', so no request path can match it"
            ));
        }
        Ok(ServerConfig {
            port,
            bind: self.opt_text(K::Bind),
            address: self.text(K::ServerAddress),
            path_prefix,
            cors: self.bool(K::ServerCors)?,
            strip_query_string: self.bool(K::ServerStripQueryString)?,
            access_log: self.bool(K::ServerAccessLog)?,
            max_connections: self.limit_or(
                K::ServerMaxConnections,
                crate::server::DEFAULT_MAX_CONNECTIONS,
            )?,
            header_timeout: self.duration_or(
                K::ServerHeaderTimeout,
                crate::server::DEFAULT_HEADER_TIMEOUT,
            )?,
            idle_timeout: self
                .duration_or(K::ServerIdleTimeout, crate::server::DEFAULT_IDLE_TIMEOUT)?,
            debug: self.bool(K::Debug)?,
            log_ecs: self.bool(K::LogEcs)?,
            version: self.bool(K::Version)?,
            config_file: self.opt_path(K::Config),
            prometheus: PrometheusConfig {
                bind: self.opt_text(K::PrometheusBind),
                path: self.text(K::PrometheusPath),
                namespace: self.text(K::PrometheusNamespace),
            },
        })
    }

    fn imagor(&self, warnings: &mut Vec<String>) -> Result<ImagorConfig> {
        use ConfigKey as K;
        let signer_text = self.raw(K::ImagorSignerType);
        let (signer_type, known) = SignerType::parse(signer_text);
        if !known {
            warnings.push(format!(
                "IMAGOR_SIGNER_TYPE {signer_text:?} is not sha1, sha256 or sha512; using sha1 as imagor does"
            ));
        }
        let signer_truncate = self.signer_truncate(K::ImagorSignerTruncate)?;
        let secret_previous = self.secret(K::ImagorSecretPrevious);
        let previous_type_text = self.raw(K::ImagorSecretPreviousSignerType);
        let secret_previous_signer_type = if previous_type_text.is_empty() {
            signer_type
        } else {
            let (previous_type, known) = SignerType::parse(previous_type_text);
            if !known {
                warnings.push(format!(
                    "IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE {previous_type_text:?} is not sha1, sha256 or sha512; using sha1"
                ));
            }
            previous_type
        };
        let secret_previous_signer_truncate =
            if self.int(K::ImagorSecretPreviousSignerTruncate)? == -1 {
                signer_truncate
            } else {
                self.signer_truncate(K::ImagorSecretPreviousSignerTruncate)?
            };
        if secret_previous.is_none() {
            let ignored = [
                (
                    K::ImagorSecretPreviousSignerType,
                    !previous_type_text.is_empty(),
                ),
                (
                    K::ImagorSecretPreviousSignerTruncate,
                    self.int(K::ImagorSecretPreviousSignerTruncate)? != -1,
                ),
            ];
            for (key, _) in ignored.into_iter().filter(|(_, set)| *set) {
                warnings.push(format!(
                    "{} is ignored: IMAGOR_SECRET_PREVIOUS is not set",
                    key.env_var()
                ));
            }
        }
        let presets_path = self.opt_path(K::ImagorPresetsPath);
        let only_presets = self.bool(K::ImagorOnlyPresets)?;
        if only_presets && presets_path.is_none() {
            return Err(self.invalid(
                K::ImagorOnlyPresets,
                "IMAGOR_ONLY_PRESETS needs IMAGOR_PRESETS_PATH: without presets every URL \
                 would be refused",
            ));
        }
        let storage_style_text = self.raw(K::ImagorStoragePathStyle);
        let storage_path_style = match storage_style_text {
            "original" => StoragePathStyle::Original,
            "digest" => StoragePathStyle::Digest,
            other => {
                warnings.push(format!(
                    "IMAGOR_STORAGE_PATH_STYLE {other:?} is not original or digest; using original as imagor does"
                ));
                StoragePathStyle::Original
            }
        };
        let result_style_text = self.raw(K::ImagorResultStoragePathStyle);
        let result_storage_path_style = match result_style_text {
            "original" => ResultStoragePathStyle::Original,
            "digest" => ResultStoragePathStyle::Digest,
            "suffix" => ResultStoragePathStyle::Suffix,
            "size" => ResultStoragePathStyle::Size,
            other => {
                warnings.push(format!(
                    "IMAGOR_RESULT_STORAGE_PATH_STYLE {other:?} is not original, digest, suffix or size; using original as imagor does"
                ));
                ResultStoragePathStyle::Original
            }
        };
        let concurrency = self.int(K::ImagorProcessConcurrency)?;
        let process_concurrency = if concurrency > 0 {
            Some(self.non_negative::<usize>(K::ImagorProcessConcurrency)?)
        } else {
            None
        };
        let process_queue_size = self.non_negative::<usize>(K::ImagorProcessQueueSize)?;
        let process_memory = self.non_negative::<u64>(K::ImagorProcessMemory)?;

        Ok(ImagorConfig {
            secret: Secret::new(self.text(K::ImagorSecret)),
            allow_unsafe: self.bool(K::ImagorUnsafe)?,
            auto_webp: self.bool(K::ImagorAutoWebp)?,
            auto_avif: self.bool(K::ImagorAutoAvif)?,
            auto_jpeg: self.bool(K::ImagorAutoJpeg)?,
            request_timeout: self.duration_or(K::ImagorRequestTimeout, DEFAULT_REQUEST_TIMEOUT)?,
            load_timeout: self.duration_or(K::ImagorLoadTimeout, DEFAULT_STAGE_TIMEOUT)?,
            save_timeout: self.duration_or(K::ImagorSaveTimeout, DEFAULT_STAGE_TIMEOUT)?,
            process_timeout: self.duration_or(K::ImagorProcessTimeout, DEFAULT_STAGE_TIMEOUT)?,
            base_path_redirect: self.opt_text(K::ImagorBasePathRedirect),
            base_params: self.opt_text(K::ImagorBaseParams),
            process_concurrency,
            process_queue_size,
            process_memory,
            cache_header_ttl: self.duration_or(K::ImagorCacheHeaderTtl, DEFAULT_CACHE_TTL)?,
            cache_header_swr: self.duration_or(K::ImagorCacheHeaderSwr, DEFAULT_CACHE_SWR)?,
            cache_header_no_cache: self.bool(K::ImagorCacheHeaderNoCache)?,
            modified_time_check: self.bool(K::ImagorModifiedTimeCheck)?,
            disable_error_body: self.bool(K::ImagorDisableErrorBody)?,
            disable_params_endpoint: self.bool(K::ImagorDisableParamsEndpoint)?,
            response_raw_on_error: self.bool(K::ImagorResponseRawOnError)?,
            secret_previous,
            secret_previous_signer_type,
            secret_previous_signer_truncate,
            presets_path,
            only_presets,
            signer_type,
            signer_truncate,
            storage_path_style,
            result_storage_path_style,
        })
    }

    fn http_loader(&self, warnings: &mut Vec<String>) -> Result<HttpLoaderConfig> {
        use ConfigKey as K;
        let allowed_source_regexp = match self.opt_text(K::HttpLoaderAllowedSourceRegexp) {
            None => None,
            Some(pattern) => {
                let regex = Regex::new(&pattern).map_err(|err| {
                    self.invalid(
                        K::HttpLoaderAllowedSourceRegexp,
                        format!("expected a regular expression ({})", regex_message(&err)),
                    )
                })?;
                // imagor looks for a match anywhere; here the whole URL or host must match,
                // so an imagor prefix pattern now only matches the bare prefix.
                if pattern.starts_with('^') && !(pattern.ends_with('$') || pattern.ends_with(".*"))
                {
                    warnings.push(format!(
                        "HTTP_LOADER_ALLOWED_SOURCE_REGEXP {pattern:?} must match the whole URL or host (unlike imagor, it is anchored at both ends); add `.*` to allow everything under a prefix"
                    ));
                }
                Some(regex)
            }
        };
        let block_networks = self
            .list(K::HttpLoaderBlockNetworks)
            .iter()
            .map(|item| {
                item.parse::<IpNet>().map(|net| net.trunc()).map_err(|_| {
                    self.invalid(
                        K::HttpLoaderBlockNetworks,
                        format!(
                            "{item:?} is not a CIDR network; expected a comma-separated list like 10.0.0.0/8,::1/128"
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let base_url = self.opt_text(K::HttpLoaderBaseUrl);
        if let Some(url) = &base_url {
            self.absolute_url(K::HttpLoaderBaseUrl, url)?;
        }
        let proxy_urls = self.list(K::HttpLoaderProxyUrls);
        for url in &proxy_urls {
            self.absolute_url(K::HttpLoaderProxyUrls, url)?;
        }
        let proxy_allowed_sources = self.list(K::HttpLoaderProxyAllowedSources);
        if proxy_urls.is_empty() && !proxy_allowed_sources.is_empty() {
            warnings.push(
                "HTTP_LOADER_PROXY_ALLOWED_SOURCES is ignored because HTTP_LOADER_PROXY_URLS is empty"
                    .to_owned(),
            );
        }
        let forward_all = self.bool(K::HttpLoaderForwardAllHeaders)?;
        if forward_all {
            warnings.push(
                "HTTP_LOADER_FORWARD_ALL_HEADERS is deprecated; use HTTP_LOADER_FORWARD_CLIENT_HEADERS"
                    .to_owned(),
            );
        }
        let default_scheme = Some(self.text(K::HttpLoaderDefaultScheme)).filter(|s| s != "nil");
        let max_allowed_size = self.non_negative::<u64>(K::HttpLoaderMaxAllowedSize)?;

        Ok(HttpLoaderConfig {
            forward_headers: self.header_names(K::HttpLoaderForwardHeaders)?,
            override_response_headers: self.header_names(K::HttpLoaderOverrideResponseHeaders)?,
            forward_client_headers: self.bool(K::HttpLoaderForwardClientHeaders)? || forward_all,
            allowed_source_regexp,
            allowed_sources: self.list(K::HttpLoaderAllowedSources),
            max_allowed_size: Some(max_allowed_size).filter(|size| *size > 0),
            insecure_skip_verify_transport: self.bool(K::HttpLoaderInsecureSkipVerifyTransport)?,
            base_url,
            default_scheme,
            accept: self.text(K::HttpLoaderAccept),
            proxy_urls: proxy_urls.into_iter().map(Secret::from).collect(),
            proxy_allowed_sources,
            block_loopback_networks: self.bool(K::HttpLoaderBlockLoopbackNetworks)?,
            block_private_networks: self.bool(K::HttpLoaderBlockPrivateNetworks)?,
            block_link_local_networks: self.bool(K::HttpLoaderBlockLinkLocalNetworks)?,
            disable: self.bool(K::HttpLoaderDisable)?,
            block_networks,
        })
    }

    fn file_storage(
        &self,
        base_dir: ConfigKey,
        path_prefix: ConfigKey,
        mkdir: ConfigKey,
        write: ConfigKey,
        expiration: ConfigKey,
    ) -> Result<FileStorageConfig> {
        Ok(FileStorageConfig {
            base_dir: self.opt_path(base_dir),
            path_prefix: self.text(path_prefix),
            mkdir_permission: self.permission(mkdir)?,
            write_permission: self.permission(write)?,
            expiration: self.positive_duration(expiration)?,
        })
    }

    fn upload(&self) -> Result<UploadLoaderConfig> {
        use ConfigKey as K;
        Ok(UploadLoaderConfig {
            enable: self.bool(K::UploadLoaderEnable)?,
            max_allowed_size: self.non_negative::<u64>(K::UploadLoaderMaxAllowedSize)?,
            accept: self.list(K::UploadLoaderAccept),
            form_field_name: self.text(K::UploadLoaderFormFieldName),
        })
    }

    fn file(&self) -> Result<FileConfig> {
        use ConfigKey as K;
        Ok(FileConfig {
            safe_chars: self.text(K::FileSafeChars),
            loader: FileLoaderConfig {
                base_dir: self.opt_path(K::FileLoaderBaseDir),
                path_prefix: self.text(K::FileLoaderPathPrefix),
            },
            storage: self.file_storage(
                K::FileStorageBaseDir,
                K::FileStoragePathPrefix,
                K::FileStorageMkdirPermission,
                K::FileStorageWritePermission,
                K::FileStorageExpiration,
            )?,
            result_storage: self.file_storage(
                K::FileResultStorageBaseDir,
                K::FileResultStoragePathPrefix,
                K::FileResultStorageMkdirPermission,
                K::FileResultStorageWritePermission,
                K::FileResultStorageExpiration,
            )?,
        })
    }

    fn canned_acl(&self, key: ConfigKey, warnings: &mut Vec<String>) -> Option<CannedAcl> {
        let text = self.opt_text(key)?;
        let acl = CannedAcl::parse(&text);
        if acl.is_none() {
            warnings.push(format!(
                "{} {text:?} is not a canned ACL name; no ACL will be sent",
                key.env_var()
            ));
        }
        acl
    }

    fn s3_storage(
        &self,
        keys: [ConfigKey; 11],
        warnings: &mut Vec<String>,
    ) -> Result<S3StorageConfig> {
        let [
            region,
            key_id,
            secret,
            token,
            endpoint,
            bucket,
            base_dir,
            path_prefix,
            acl,
            tagging,
            expiration,
        ] = keys;
        Ok(S3StorageConfig {
            aws: self.aws(region, key_id, secret, token),
            endpoint: self.opt_text(endpoint),
            bucket: self.opt_text(bucket),
            base_dir: self.text(base_dir),
            path_prefix: self.text(path_prefix),
            acl: self.canned_acl(acl, warnings),
            tagging: self.opt_text(tagging),
            expiration: self.positive_duration(expiration)?,
        })
    }

    fn s3(&self, warnings: &mut Vec<String>) -> Result<S3Config> {
        use ConfigKey as K;
        let loader = S3LoaderConfig {
            aws: self.aws(
                K::AwsLoaderRegion,
                K::AwsLoaderAccessKeyId,
                K::AwsLoaderSecretAccessKey,
                K::AwsLoaderSessionToken,
            ),
            endpoint: self.opt_text(K::S3LoaderEndpoint),
            bucket: self.opt_text(K::S3LoaderBucket),
            base_dir: self.text(K::S3LoaderBaseDir),
            path_prefix: self.text(K::S3LoaderPathPrefix),
            bucket_router_config: self.opt_path(K::S3LoaderBucketRouterConfig),
        };
        if loader.bucket.is_some() && loader.bucket_router_config.is_some() {
            warnings.push(
                "S3_LOADER_BUCKET is ignored because S3_LOADER_BUCKET_ROUTER_CONFIG is set"
                    .to_owned(),
            );
        }

        let storage = self.s3_storage(
            [
                K::AwsStorageRegion,
                K::AwsStorageAccessKeyId,
                K::AwsStorageSecretAccessKey,
                K::AwsStorageSessionToken,
                K::S3StorageEndpoint,
                K::S3StorageBucket,
                K::S3StorageBaseDir,
                K::S3StoragePathPrefix,
                K::S3StorageAcl,
                K::S3StorageTagging,
                K::S3StorageExpiration,
            ],
            warnings,
        )?;
        let result_storage = self.s3_storage(
            [
                K::AwsResultStorageRegion,
                K::AwsResultStorageAccessKeyId,
                K::AwsResultStorageSecretAccessKey,
                K::AwsResultStorageSessionToken,
                K::S3ResultStorageEndpoint,
                K::S3ResultStorageBucket,
                K::S3ResultStorageBaseDir,
                K::S3ResultStoragePathPrefix,
                K::S3ResultStorageAcl,
                K::S3ResultStorageTagging,
                K::S3ResultStorageExpiration,
            ],
            warnings,
        )?;

        let class_text = self.raw(K::S3StorageClass);
        let storage_class = S3StorageClass::parse(class_text).unwrap_or_else(|| {
            warnings.push(format!(
                "S3_STORAGE_CLASS {class_text:?} is not a known storage class; using STANDARD as imagor does"
            ));
            S3StorageClass::Standard
        });

        let s3 = S3Config {
            aws: self.aws(
                K::AwsRegion,
                K::AwsAccessKeyId,
                K::AwsSecretAccessKey,
                K::AwsSessionToken,
            ),
            endpoint: self.opt_text(K::S3Endpoint),
            force_path_style: self.bool(K::S3ForcePathStyle)?,
            safe_chars: self.text(K::S3SafeChars),
            storage_class,
            http_max_idle_conns_per_host: self
                .non_negative::<usize>(K::S3HttpMaxIdleConnsPerHost)?,
            loader,
            storage,
            result_storage,
        };

        if s3.aws.access_key_id.is_some() != s3.aws.secret_access_key.is_some() {
            warnings.push(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are used only together; the default AWS credential chain applies"
                    .to_owned(),
            );
        }
        for (role, prefix) in [
            (S3Role::Loader, "AWS_LOADER_"),
            (S3Role::Storage, "AWS_STORAGE_"),
            (S3Role::ResultStorage, "AWS_RESULT_STORAGE_"),
        ] {
            let aws = s3.role_aws(role);
            if aws.is_partly_set() && !aws.is_complete() {
                warnings.push(format!(
                    "{prefix}* settings are ignored: {prefix}REGION, {prefix}ACCESS_KEY_ID and {prefix}SECRET_ACCESS_KEY must all be set"
                ));
            }
        }
        Ok(s3)
    }

    fn gcloud_bucket(
        &self,
        [bucket, base_dir, path_prefix]: [ConfigKey; 3],
        storage: Option<[ConfigKey; 2]>,
        warnings: &mut Vec<String>,
    ) -> Result<GCloudBucketConfig> {
        let mut config = GCloudBucketConfig {
            bucket: self.opt_text(bucket),
            base_dir: self.text(base_dir),
            path_prefix: self.text(path_prefix),
            acl: None,
            expiration: None,
        };
        if let Some([acl, expiration]) = storage {
            if let Some(text) = self.opt_text(acl) {
                config.acl = GcsAcl::parse(&text);
                if config.acl.is_none() {
                    warnings.push(format!(
                        "{} {text:?} is not a predefined ACL name (publicRead, private, ...); no ACL will be sent",
                        acl.env_var()
                    ));
                }
            }
            config.expiration = self.positive_duration(expiration)?;
        }
        Ok(config)
    }

    fn gcloud(&self, warnings: &mut Vec<String>) -> Result<GCloudConfig> {
        use ConfigKey as K;
        Ok(GCloudConfig {
            safe_chars: self.text(K::GcloudSafeChars),
            loader: self.gcloud_bucket(
                [
                    K::GcloudLoaderBucket,
                    K::GcloudLoaderBaseDir,
                    K::GcloudLoaderPathPrefix,
                ],
                None,
                warnings,
            )?,
            storage: self.gcloud_bucket(
                [
                    K::GcloudStorageBucket,
                    K::GcloudStorageBaseDir,
                    K::GcloudStoragePathPrefix,
                ],
                Some([K::GcloudStorageAcl, K::GcloudStorageExpiration]),
                warnings,
            )?,
            result_storage: self.gcloud_bucket(
                [
                    K::GcloudResultStorageBucket,
                    K::GcloudResultStorageBaseDir,
                    K::GcloudResultStoragePathPrefix,
                ],
                Some([K::GcloudResultStorageAcl, K::GcloudResultStorageExpiration]),
                warnings,
            )?,
            // Environment-only settings, filled in by the builder.
            emulator_host: None,
            application_credentials: None,
        })
    }

    fn azure_container(
        &self,
        [container, base_dir, path_prefix]: [ConfigKey; 3],
        expiration: Option<ConfigKey>,
    ) -> Result<AzureContainerConfig> {
        Ok(AzureContainerConfig {
            container: self.opt_text(container),
            base_dir: self.text(base_dir),
            path_prefix: self.text(path_prefix),
            expiration: match expiration {
                Some(key) => self.positive_duration(key)?,
                None => None,
            },
        })
    }

    fn azure(&self) -> Result<AzureConfig> {
        use ConfigKey as K;
        let endpoint = self.opt_text(K::AzureEndpoint);
        if let Some(url) = &endpoint {
            self.absolute_url(K::AzureEndpoint, url)?;
        }
        Ok(AzureConfig {
            account_name: self.opt_text(K::AzureStorageAccountName),
            account_key: self.secret(K::AzureStorageAccountKey),
            sas_token: self.secret(K::AzureStorageSasToken),
            endpoint,
            loader: self.azure_container(
                [
                    K::AzureLoaderContainer,
                    K::AzureLoaderBaseDir,
                    K::AzureLoaderPathPrefix,
                ],
                None,
            )?,
            storage: self.azure_container(
                [
                    K::AzureStorageContainer,
                    K::AzureStorageBaseDir,
                    K::AzureStoragePathPrefix,
                ],
                Some(K::AzureStorageExpiration),
            )?,
            result_storage: self.azure_container(
                [
                    K::AzureResultStorageContainer,
                    K::AzureResultStorageBaseDir,
                    K::AzureResultStoragePathPrefix,
                ],
                Some(K::AzureResultStorageExpiration),
            )?,
        })
    }

    fn processing(&self, warnings: &mut Vec<String>) -> Result<ProcessingConfig> {
        use ConfigKey as K;
        let frames = self.int(K::VipsMaxAnimationFrames)?;
        let max_animation_frames = match frames {
            -1 => None,
            n if n < 1 => Some(1),
            n => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        };
        let ops = self.int(K::VipsMaxFilterOps)?;
        let max_filter_ops = if ops > 0 {
            Some(usize::try_from(ops).unwrap_or(usize::MAX))
        } else if self.origin(K::VipsMaxFilterOps) == Origin::Default
            && self.bool(K::ImagorUnsafe)?
        {
            // Unsigned URLs are anyone's: a finite filter count unless it is set explicitly.
            Some(DEFAULT_UNSAFE_MAX_FILTER_OPS)
        } else {
            None
        };
        let work = self.int(K::VipsMaxWork)?;
        let max_work = u64::try_from(work).ok().filter(|&w| w > 0);
        let speed = self.int(K::VipsAvifSpeed)?;
        let avif_speed = match u8::try_from(speed) {
            Ok(speed @ 0..=9) => speed,
            _ => {
                warnings.push(format!(
                    "VIPS_AVIF_SPEED {speed} is outside 0..=9; using {DEFAULT_AVIF_SPEED}"
                ));
                DEFAULT_AVIF_SPEED
            }
        };

        Ok(ProcessingConfig {
            max_width: self.limit_or(K::VipsMaxWidth, DEFAULT_MAX_DIMENSION)?,
            max_height: self.limit_or(K::VipsMaxHeight, DEFAULT_MAX_DIMENSION)?,
            max_resolution: self.limit_or(K::VipsMaxResolution, DEFAULT_MAX_RESOLUTION)?,
            unlimited: self.bool(K::VipsUnlimited)?,
            max_animation_frames,
            disable_filters: self.list(K::VipsDisableFilters),
            max_filter_ops,
            disable_blur: self.bool(K::VipsDisableBlur)?,
            strip_metadata: self.bool(K::VipsStripMetadata)?,
            strip_color_profile: self.bool(K::VipsStripColorProfile)?,
            mozjpeg: self.bool(K::VipsMozjpeg)?,
            avif_speed,
            max_work,
            avif_decode: self.bool(K::VipsAvifDecode)?,
        })
    }
}

/// The one-line summary of a regex error (its `Display` draws the pattern over several lines).
fn regex_message(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("error: "))
        .map_or_else(
            || text.split_whitespace().collect::<Vec<_>>().join(" "),
            str::to_owned,
        )
}
