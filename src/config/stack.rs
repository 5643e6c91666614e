//! Assembling the service stack from a [`Config`]: what the standalone server runs, available
//! to library users who configure through imagor's names.

#[cfg(feature = "s3")]
use super::S3Role;
use super::{
    Config, ConfigKey, FileStorageConfig, ResultStoragePathStyle, SignerType, StoragePathStyle,
};
#[cfg(feature = "azure")]
use crate::azure::{AzureBackend, AzureLoader, AzureOptions};
#[cfg(feature = "gcs")]
use crate::gcs::{GcsBackend, GcsLoader, GcsOptions};
use crate::key::{ResultKeyStyle, SafeChars, StorageKeyStyle};
use crate::loader::{FileLoader, HttpLoader, SourceRequest, UploadLoader};
use crate::metrics::Metrics;
use crate::path::{Presets, Signer, SignerAlgorithm};
use crate::processing::{self, Limits};
use crate::render::Stack;
#[cfg(feature = "s3")]
use crate::s3::{BucketRouter, S3Loader, S3Options};
#[cfg(feature = "server")]
use crate::server::{Frontend, FrontendLayer, Server};
#[cfg(any(feature = "gcs", feature = "azure"))]
use crate::storage::Role;
use crate::storage::{FileBackend, ResultStorageLayer, StorageLayer};
use crate::{Blob, Error, ImageService};
#[cfg(feature = "server")]
use tower::Layer;
use tower::util::BoxCloneSyncService;

/// A type-erased source stack, as the configuration builds it.
pub type BoxSource = BoxCloneSyncService<SourceRequest, Blob, Error>;

/// The HTTP stack [`Config::service`] builds.
#[cfg(feature = "server")]
pub type ConfiguredService = Frontend<ImageService<Stack<BoxSource>>>;

/// The HMAC of a configured signer type.
fn algorithm(signer_type: SignerType) -> SignerAlgorithm {
    match signer_type {
        SignerType::Sha1 => SignerAlgorithm::Sha1,
        SignerType::Sha256 => SignerAlgorithm::Sha256,
        SignerType::Sha512 => SignerAlgorithm::Sha512,
    }
}

impl Config {
    /// The URL signer from `IMAGOR_SECRET`, `IMAGOR_SIGNER_TYPE` and `IMAGOR_SIGNER_TRUNCATE`,
    /// also accepting signatures of `IMAGOR_SECRET_PREVIOUS` (with
    /// `IMAGOR_SECRET_PREVIOUS_SIGNER_TYPE` and `IMAGOR_SECRET_PREVIOUS_SIGNER_TRUNCATE`) when
    /// that is set. It signs with `IMAGOR_SECRET` only.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::config::Config;
    /// use imagor_tower::path::Signer;
    ///
    /// let config = Config::builder()
    ///     .env([("IMAGOR_SECRET", "new"), ("IMAGOR_SECRET_PREVIOUS", "old")])
    ///     .build()
    ///     .unwrap();
    /// let signer = config.signer();
    /// let path = "300x200/photo.jpg";
    /// assert!(signer.verify(path, &Signer::new("old").sign(path)));
    /// assert_eq!(signer.sign(path), Signer::new("new").sign(path));
    /// ```
    pub fn signer(&self) -> Signer {
        let i = &self.imagor;
        let signer = Signer::new(i.secret.expose())
            .algorithm(algorithm(i.signer_type))
            .truncate(i.signer_truncate.unwrap_or(0));
        match &i.secret_previous {
            Some(previous) => signer.with_previous(
                Signer::new(previous.expose())
                    .algorithm(algorithm(i.secret_previous_signer_type))
                    .truncate(i.secret_previous_signer_truncate.unwrap_or(0)),
            ),
            None => signer,
        }
    }

    /// The presets of `IMAGOR_PRESETS_PATH` (read from the file now) with
    /// `IMAGOR_ONLY_PRESETS`, or `None` when no presets file is set.
    ///
    /// # Errors
    ///
    /// A [`ConfigError::Presets`](super::ConfigError::Presets) (as an [`Error`]) naming the
    /// file, and for its content the line and field, when it cannot be read or is not valid.
    pub fn presets(&self) -> Result<Option<Presets>, Error> {
        let Some(path) = &self.imagor.presets_path else {
            return Ok(None);
        };
        let presets = super::presets_from_file(path).map_err(super::ConfigError::from)?;
        Ok(Some(presets.only_presets(self.imagor.only_presets)))
    }

    /// Processing limits, filter rules and encoder settings (`VIPS_MAX_*`, `VIPS_UNLIMITED`,
    /// `VIPS_DISABLE_*`, `VIPS_STRIP_*`, `VIPS_AVIF_SPEED`, `VIPS_AVIF_DECODE`).
    pub fn process_options(&self) -> processing::Options {
        let p = &self.processing;
        let limits = if p.unlimited {
            Limits::no_limits()
        } else {
            Limits {
                max_width: Some(p.max_width),
                max_height: Some(p.max_height),
                max_resolution: Some(p.max_resolution),
                ..Limits::default()
            }
        };
        let policy = processing::FilterPolicy::new()
            .disable_filters(p.disable_filters.iter().cloned())
            .disable_blur(p.disable_blur)
            .max_filter_ops(p.max_filter_ops)
            .max_animation_frames(p.max_animation_frames)
            .strip_metadata(p.strip_metadata)
            .strip_color_profile(p.strip_color_profile);
        processing::Options::default()
            .limits(limits)
            .policy(policy)
            .avif_speed(p.avif_speed)
            .work_budget(p.max_work.unwrap_or(u64::MAX))
            .avif_decode(p.avif_decode)
    }

    /// The file loader, when `FILE_LOADER_BASE_DIR` is set.
    pub fn file_loader(&self) -> Result<Option<FileLoader>, Error> {
        let Some(dir) = &self.file.loader.base_dir else {
            return Ok(None);
        };
        let loader = FileLoader::new(dir)
            .map_err(|err| {
                Error::internal(format!(
                    "FILE_LOADER_BASE_DIR {}: {}",
                    dir.display(),
                    err.message()
                ))
            })?
            .path_prefix(&self.file.loader.path_prefix)
            .safe_chars(SafeChars::new(&self.file.safe_chars));
        Ok(Some(loader))
    }

    /// The HTTP loader, unless `HTTP_LOADER_DISABLE` is set.
    pub fn http_loader(&self) -> Result<Option<HttpLoader>, Error> {
        let h = &self.http_loader;
        if h.disable {
            return Ok(None);
        }
        let mut builder = HttpLoader::builder()
            .with_forward_headers(h.forward_headers.iter().map(|n| n.as_str()))
            .with_forward_client_headers(h.forward_client_headers)
            .with_override_response_headers(h.override_response_headers.iter().map(|n| n.as_str()))
            .with_allowed_sources(&h.allowed_sources)
            .with_insecure_skip_verify_transport(h.insecure_skip_verify_transport)
            .with_accept(&h.accept)
            .with_proxy_urls(h.proxy_urls.iter().map(|s| s.expose()))
            .with_proxy_allowed_sources(&h.proxy_allowed_sources)
            .with_block_loopback_networks(h.block_loopback_networks)
            .with_block_private_networks(h.block_private_networks)
            .with_block_link_local_networks(h.block_link_local_networks)
            .with_block_networks(h.block_networks.iter().map(ToString::to_string))
            .with_timeout(self.imagor.load_timeout);
        if let Some(re) = &h.allowed_source_regexp {
            builder = builder.with_allowed_source_regexp(re.as_str());
        }
        // `None` is an explicit "no limit", not "the builder's default".
        builder = builder.with_max_allowed_size(h.max_allowed_size.unwrap_or(0));
        if let Some(base) = &h.base_url {
            builder = builder.with_base_url(base);
        }
        builder = builder.with_default_scheme(h.default_scheme.as_deref().unwrap_or("nil"));
        builder.build().map(Some)
    }

    /// The S3 backend of `role`, when that role's bucket is set.
    #[cfg(feature = "s3")]
    pub fn s3_backend(&self, role: S3Role) -> Result<Option<crate::s3::S3Backend>, Error> {
        match S3Options::from_config(&self.s3, role) {
            Some(options) => options.build().map(Some),
            None => Ok(None),
        }
    }

    /// The S3 bucket router, when `S3_LOADER_BUCKET_ROUTER_CONFIG` is set: the routing file
    /// read and checked, one client per configured bucket, every bucket starting from the
    /// loader's S3 settings (`S3_LOADER_*`, `AWS_LOADER_*` or the global `AWS_*`,
    /// `S3_ENDPOINT`, `S3_FORCE_PATH_STYLE`, `S3_SAFE_CHARS`). `S3_LOADER_BUCKET` is ignored.
    ///
    /// # Errors
    ///
    /// A [`ConfigError::BucketRouter`](super::ConfigError::BucketRouter) (as an [`Error`])
    /// naming the file, and where known the line and field, when the file cannot be read or
    /// is not valid.
    #[cfg(feature = "s3")]
    pub fn s3_bucket_router(&self) -> Result<Option<BucketRouter>, Error> {
        let Some(path) = &self.s3.loader.bucket_router_config else {
            return Ok(None);
        };
        let mut s3 = self.s3.clone();
        // The bucket is chosen per key; the options only carry the loader-wide settings.
        s3.loader.bucket = Some(String::new());
        let options = S3Options::from_config(&s3, S3Role::Loader)
            .ok_or_else(|| Error::internal("S3 loader settings unavailable"))?;
        let router = BucketRouter::from_file(path, options).map_err(super::ConfigError::from)?;
        Ok(Some(router))
    }

    /// The Google Cloud Storage backend of `role`, when that role's `GCLOUD_*_BUCKET` is
    /// set.
    #[cfg(feature = "gcs")]
    pub fn gcs_backend(&self, role: Role) -> Result<Option<GcsBackend>, Error> {
        match GcsOptions::from_config(&self.gcloud, role) {
            Some(options) => options.build().map(Some),
            None => Ok(None),
        }
    }

    /// The Azure Blob Storage backend of `role`, when that role's `AZURE_*_CONTAINER` is
    /// set.
    #[cfg(feature = "azure")]
    pub fn azure_backend(&self, role: Role) -> Result<Option<AzureBackend>, Error> {
        match AzureOptions::from_config(&self.azure, role) {
            Some(options) => options.build().map(Some),
            None => Ok(None),
        }
    }

    /// The source stack in imagor's order (S3, Google Cloud Storage, then Azure, file and
    /// HTTP), or `None` when no loader is on. The S3 loader is the bucket router when a
    /// routing file is set.
    pub fn source(&self) -> Result<Option<BoxSource>, Error> {
        let mut loaders: Vec<BoxSource> = Vec::new();
        #[cfg(feature = "s3")]
        if let Some(router) = self.s3_bucket_router()? {
            loaders.push(BoxSource::new(router));
        } else if let Some(backend) = self.s3_backend(S3Role::Loader)? {
            loaders.push(BoxSource::new(S3Loader::new(backend)));
        }
        #[cfg(feature = "gcs")]
        if let Some(backend) = self.gcs_backend(Role::Loader)? {
            loaders.push(BoxSource::new(GcsLoader::new(backend)));
        }
        #[cfg(feature = "azure")]
        if let Some(backend) = self.azure_backend(Role::Loader)? {
            loaders.push(BoxSource::new(AzureLoader::new(backend)));
        }
        if let Some(file) = self.file_loader()? {
            loaders.push(BoxSource::new(file));
        }
        if let Some(http) = self.http_loader()? {
            loaders.push(BoxSource::new(http));
        }
        Ok(loaders
            .into_iter()
            .reduce(|first, next| BoxSource::new(crate::loader::Fallback::new(first, next))))
    }

    fn file_backend(
        &self,
        storage: &FileStorageConfig,
        setting: &str,
    ) -> Result<Option<FileBackend>, Error> {
        let Some(dir) = &storage.base_dir else {
            return Ok(None);
        };
        let backend = FileBackend::new(dir)
            .map_err(|err| {
                Error::internal(format!("{setting} {}: {}", dir.display(), err.message()))
            })?
            .path_prefix(&storage.path_prefix)
            .safe_chars(SafeChars::new(&self.file.safe_chars))
            .expiration(storage.expiration)
            .mkdir_permission(storage.mkdir_permission)
            .write_permission(storage.write_permission);
        Ok(Some(backend))
    }

    /// Source storages: S3 (`S3_STORAGE_*`), Google Cloud Storage (`GCLOUD_STORAGE_*`), Azure
    /// (`AZURE_STORAGE_*`) then file (`FILE_STORAGE_*`), each when its bucket, container or
    /// base dir is set; the first is consulted first.
    pub fn storage_layers(&self) -> Result<Vec<StorageLayer>, Error> {
        let style = match self.imagor.storage_path_style {
            StoragePathStyle::Original => StorageKeyStyle::Original,
            StoragePathStyle::Digest => StorageKeyStyle::Digest,
        };
        let configure = |layer: StorageLayer| {
            layer
                .key_style(style)
                .load_timeout(self.imagor.load_timeout)
                .save_timeout(self.imagor.save_timeout)
        };
        let mut layers = Vec::new();
        #[cfg(feature = "s3")]
        if let Some(backend) = self.s3_backend(S3Role::Storage)? {
            layers.push(configure(StorageLayer::new(backend)));
        }
        #[cfg(feature = "gcs")]
        if let Some(backend) = self.gcs_backend(Role::Storage)? {
            layers.push(configure(StorageLayer::new(backend)));
        }
        #[cfg(feature = "azure")]
        if let Some(backend) = self.azure_backend(Role::Storage)? {
            layers.push(configure(StorageLayer::new(backend)));
        }
        if let Some(backend) = self.file_backend(&self.file.storage, "FILE_STORAGE_BASE_DIR")? {
            layers.push(configure(StorageLayer::new(backend)));
        }
        Ok(layers)
    }

    /// Result storage: the first of S3 (`S3_RESULT_STORAGE_*`), Google Cloud Storage
    /// (`GCLOUD_RESULT_STORAGE_*`), Azure (`AZURE_RESULT_STORAGE_*`) and file
    /// (`FILE_RESULT_STORAGE_*`) whose bucket, container or base dir is set. The others are
    /// not used, with a warning (imagor would write to all of them).
    pub fn result_storage_layer(&self) -> Result<Option<ResultStorageLayer>, Error> {
        let style = match self.imagor.result_storage_path_style {
            ResultStoragePathStyle::Original => ResultKeyStyle::Original,
            ResultStoragePathStyle::Digest => ResultKeyStyle::Digest,
            ResultStoragePathStyle::Suffix => ResultKeyStyle::Suffix,
            ResultStoragePathStyle::Size => ResultKeyStyle::Size,
        };
        let configure = |layer: ResultStorageLayer| {
            layer
                .key_style(style)
                .load_timeout(self.imagor.load_timeout)
                .save_timeout(self.imagor.save_timeout)
        };
        let mut found: Vec<(&str, ResultStorageLayer)> = Vec::new();
        #[cfg(feature = "s3")]
        if let Some(backend) = self.s3_backend(S3Role::ResultStorage)? {
            found.push(("S3_RESULT_STORAGE_BUCKET", ResultStorageLayer::new(backend)));
        }
        #[cfg(feature = "gcs")]
        if let Some(backend) = self.gcs_backend(Role::ResultStorage)? {
            found.push((
                "GCLOUD_RESULT_STORAGE_BUCKET",
                ResultStorageLayer::new(backend),
            ));
        }
        #[cfg(feature = "azure")]
        if let Some(backend) = self.azure_backend(Role::ResultStorage)? {
            found.push((
                "AZURE_RESULT_STORAGE_CONTAINER",
                ResultStorageLayer::new(backend),
            ));
        }
        if let Some(backend) =
            self.file_backend(&self.file.result_storage, "FILE_RESULT_STORAGE_BASE_DIR")?
        {
            found.push((
                "FILE_RESULT_STORAGE_BASE_DIR",
                ResultStorageLayer::new(backend),
            ));
        }
        let mut found = found.into_iter();
        let Some((used, layer)) = found.next() else {
            return Ok(None);
        };
        let ignored: Vec<&str> = found.map(|(name, _)| name).collect();
        if !ignored.is_empty() {
            tracing::warn!(
                "several result storages are set; results are stored by {used} only, not by {}",
                ignored.join(", ")
            );
        }
        Ok(Some(configure(layer)))
    }

    /// Metrics named by `PROMETHEUS_NAMESPACE`, when `PROMETHEUS_BIND` turns them on. Give
    /// them to [`service_with_metrics`](Self::service_with_metrics) and serve
    /// [`Metrics::exporter`] at `PROMETHEUS_PATH` on the metrics listener.
    pub fn metrics(&self) -> Option<Metrics> {
        let prometheus = &self.server.prometheus;
        prometheus
            .listen_address()
            .map(|_| Metrics::new().namespace(&prometheus.namespace))
    }

    /// The upload loader of `UPLOAD_LOADER_MAX_ALLOWED_SIZE`, `UPLOAD_LOADER_ACCEPT` and
    /// `UPLOAD_LOADER_FORM_FIELD_NAME` when `UPLOAD_LOADER_ENABLE` is on, else `None`.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::config::Config;
    ///
    /// let config = Config::builder()
    ///     .env([("UPLOAD_LOADER_ENABLE", "1"), ("UPLOAD_LOADER_ACCEPT", "image/png,image/webp")])
    ///     .build()
    ///     .unwrap();
    /// let loader = config.upload_loader().unwrap();
    /// assert!(loader.accepts("image/webp") && !loader.accepts("image/gif"));
    /// assert!(Config::builder().build().unwrap().upload_loader().is_none());
    /// ```
    pub fn upload_loader(&self) -> Option<UploadLoader> {
        let u = &self.upload;
        u.enable.then(|| {
            UploadLoader::new()
                .max_size(u.max_allowed_size)
                .accept(&u.accept)
                .form_field_name(u.form_field_name.clone())
        })
    }

    /// The core image service with every `IMAGOR_*` setting applied and the configured loaders.
    pub fn image_service(&self) -> Result<ImageService<Stack<BoxSource>>, Error> {
        self.image_service_with_metrics(None)
    }

    /// [`image_service`](Self::image_service), recording into `metrics` when given (storage
    /// hits and misses included).
    pub fn image_service_with_metrics(
        &self,
        metrics: Option<&Metrics>,
    ) -> Result<ImageService<Stack<BoxSource>>, Error> {
        let i = &self.imagor;
        let service = ImageService::new()
            .signer(self.signer())
            .unsafe_urls(i.allow_unsafe)
            .process_options(self.process_options())
            .cache_header_ttl(i.cache_header_ttl)
            .cache_header_swr(i.cache_header_swr)
            .cache_header_no_cache(i.cache_header_no_cache)
            .disable_error_body(i.disable_error_body)
            .disable_params_endpoint(i.disable_params_endpoint)
            .base_path_redirect(i.base_path_redirect.clone().unwrap_or_default())
            .base_params(i.base_params.as_deref().unwrap_or(""))
            .load_timeout(i.load_timeout)
            .process_timeout(i.process_timeout)
            .request_timeout(i.request_timeout)
            .auto_webp(i.auto_webp)
            .auto_avif(i.auto_avif)
            .auto_jpeg(i.auto_jpeg)
            .process_concurrency(
                i.process_concurrency
                    .map_or(-1, |c| i64::try_from(c).unwrap_or(i64::MAX)),
            )
            .process_queue_size(i.process_queue_size)
            .process_memory(i.process_memory)
            .upload_loader(self.upload_loader());
        let service = match self.presets()? {
            Some(presets) => service.presets(presets),
            None => service,
        };
        let source = self.source()?;
        let storages = self.storage_layers()?;
        let mut service = service.map_source(|_| {
            let mut source = source.unwrap_or_else(|| BoxSource::new(crate::loader::NoSource));
            let probe = metrics.filter(|_| !storages.is_empty());
            if let Some(metrics) = probe {
                source = BoxSource::new(metrics.loader_probe(source));
            }
            // The first storage is consulted first, so it wraps outermost.
            let source = storages
                .into_iter()
                .rev()
                .fold(source, |inner, storage| BoxSource::new(storage.wrap(inner)));
            match probe {
                Some(metrics) => BoxSource::new(metrics.storage_probe(source)),
                None => source,
            }
        });
        if let Some(results) = self.result_storage_layer()? {
            service = service.result_storage(results);
        }
        if let Some(metrics) = metrics {
            service = service.metrics(metrics.clone());
        }
        Ok(service)
    }

    /// The server-level layer from `SERVER_PATH_PREFIX`, `SERVER_STRIP_QUERY_STRING`,
    /// `SERVER_CORS` and `SERVER_ACCESS_LOG`.
    #[cfg(feature = "server")]
    pub fn frontend_layer(&self) -> FrontendLayer {
        let s = &self.server;
        FrontendLayer::new()
            .path_prefix(s.path_prefix.as_deref().unwrap_or(""))
            .strip_query_string(s.strip_query_string)
            .cors(s.cors)
            .access_log(s.access_log)
    }

    /// The connection handling of the standalone server from `SERVER_MAX_CONNECTIONS`,
    /// `SERVER_HEADER_TIMEOUT` and `SERVER_IDLE_TIMEOUT`; serve
    /// [`service`](Self::service) with it.
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::config::Config;
    ///
    /// let config = Config::builder()
    ///     .env([("SERVER_MAX_CONNECTIONS", "500"), ("IMAGOR_UNSAFE", "1")])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.http_server().connection_limit(), 500);
    /// // then: config.http_server().serve(listener, config.service()?, shutdown).await
    /// ```
    #[cfg(feature = "server")]
    pub fn http_server(&self) -> Server {
        let s = &self.server;
        Server::new()
            .max_connections(s.max_connections)
            .header_timeout(s.header_timeout)
            .idle_timeout(s.idle_timeout)
    }

    /// The whole HTTP stack: [`frontend_layer`](Self::frontend_layer) around
    /// [`image_service`](Self::image_service).
    ///
    /// # Example
    ///
    /// ```
    /// use imagor_tower::config::Config;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let env = [
    ///     ("FILE_LOADER_BASE_DIR".to_owned(), dir.path().display().to_string()),
    ///     ("IMAGOR_SECRET".to_owned(), "mysecret".to_owned()),
    /// ];
    /// let config = Config::from_sources(Vec::<String>::new(), env, |_| {
    ///     Err(std::io::ErrorKind::NotFound.into())
    /// })
    /// .unwrap();
    /// let service = config.service().unwrap();
    /// # let _ = service;
    /// ```
    #[cfg(feature = "server")]
    pub fn service(&self) -> Result<ConfiguredService, Error> {
        self.service_with_metrics(None)
    }

    /// [`service`](Self::service), recording into `metrics` when given (see
    /// [`metrics`](Self::metrics)).
    #[cfg(feature = "server")]
    pub fn service_with_metrics(
        &self,
        metrics: Option<&Metrics>,
    ) -> Result<ConfiguredService, Error> {
        Ok(self
            .frontend_layer()
            .layer(self.image_service_with_metrics(metrics)?))
    }

    /// Whether anything that chooses sources or signing was configured: a secret, unsafe mode,
    /// a file loader, or any HTTP, S3, GCS or Azure option. The standalone server uses its bundled
    /// sample folder only when this is false.
    pub fn has_source_or_signing_settings(&self) -> bool {
        ConfigKey::ALL.iter().any(|key| {
            self.is_set(*key)
                && (matches!(
                    key,
                    ConfigKey::ImagorSecret
                        | ConfigKey::ImagorSecretPrevious
                        | ConfigKey::ImagorUnsafe
                        | ConfigKey::FileLoaderBaseDir
                ) || key.env_var().starts_with("HTTP_LOADER_")
                    || key.env_var().starts_with("S3_")
                    || key.env_var().starts_with("AWS_")
                    || key.env_var().starts_with("GCLOUD_")
                    || key.env_var().starts_with("AZURE_"))
        })
    }
}
