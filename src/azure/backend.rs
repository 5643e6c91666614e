//! [`AzureBackend`] and [`AzureLoader`]: Azure Blob Storage containers as a storage backend
//! and a loader, with imagor's key mapping.

use super::options::{AzureOptions, Credentials};
use crate::cloud::{BucketSet, BucketSpec, Clients, MakeClients, Service, load_object};
use crate::key::SafeChars;
use crate::storage::{Backend, Location, Role};
use crate::{Blob, Error};
use object_store::ObjectStore;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How Azure failures read.
const AZURE: Service = Service {
    what: "Azure container",
    denied_hint: "check AZURE_STORAGE_ACCOUNT_NAME and the account key, SAS token or identity",
};

/// Azure Blob Storage containers as a storage backend: maps image and result keys to blobs
/// the way imagor maps them to S3 objects (`AZURE_*` settings), and hands out the clients.
///
/// Key mapping: `"/" + normalize(key, safe chars)` must start with the path prefix, which is
/// removed; the rest is joined under the base directory, without a leading `/`. With the
/// wildcard container `*` the container is the key's first segment (result storage: the
/// source image key's first segment). Each write is a single Put Blob, so a blob appears
/// whole or not at all.
///
/// Cloning is cheap. Built with [`AzureOptions::build`].
///
/// ```
/// use imagor_tower::azure::AzureOptions;
///
/// let any = AzureOptions::new("*")
///     .with_endpoint("http://127.0.0.1:10000/devstoreaccount1")
///     .build()
///     .unwrap();
/// let (container, blob) = any.resolve("/site-a/img/logo.png", "").unwrap();
/// assert_eq!((container.as_str(), blob.as_str()), ("site-a", "img/logo.png"));
/// ```
#[derive(Clone)]
pub struct AzureBackend {
    inner: Arc<Inner>,
}

struct Inner {
    options: AzureOptions,
    buckets: BucketSet,
}

impl AzureOptions {
    /// Builds the backend; a fixed container gets its client now, a wildcard container on
    /// first use of each container. No request is made.
    ///
    /// # Errors
    ///
    /// An [`Error::Internal`] naming the problem when the container name or endpoint is not
    /// valid, no account name is known, or a client cannot be built.
    pub fn build(self) -> Result<AzureBackend, Error> {
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(Error::internal(format!(
                "AZURE_ENDPOINT {endpoint:?}: expected an http:// or https:// URL"
            )));
        }
        let make: MakeClients = {
            let options = self.clone();
            Arc::new(move |container: &str| clients(&options, container))
        };
        let spec = BucketSpec {
            what: AZURE.what,
            bucket: &self.container,
            base_dir: self.base_dir.as_deref(),
            path_prefix: &self.path_prefix,
            safe_chars: SafeChars::new(&self.safe_chars),
            bucket_from_image: self.role == Role::ResultStorage,
            cache_size: self.container_cache_size,
        };
        let buckets = BucketSet::new(spec, make)?;
        Ok(AzureBackend {
            inner: Arc::new(Inner {
                options: self,
                buckets,
            }),
        })
    }
}

/// The client of `container` (reads and writes alike: Azure has no per-write ACL).
fn clients(options: &AzureOptions, container: &str) -> Result<Clients, Error> {
    let failed = |err: &dyn fmt::Display| {
        Error::internal(format!("Azure client for container {container:?}: {err}"))
    };
    let mut builder = match options.credentials {
        Credentials::Chain => MicrosoftAzureBuilder::from_env(),
        Credentials::AccessKey(_) | Credentials::Sas(_) => MicrosoftAzureBuilder::new(),
    };
    builder = builder
        .with_container_name(container)
        .with_retry(options.retry.clone())
        .with_client_options(crate::cloud::net::client_options(
            options.timeout,
            options.connect_timeout,
            options.endpoint.as_deref(),
        ));
    match options.account_name() {
        Some(account) => builder = builder.with_account(account),
        None if builder
            .get_config_value(&AzureConfigKey::AccountName)
            .is_none() =>
        {
            return Err(failed(
                &"no storage account: set AZURE_STORAGE_ACCOUNT_NAME or an AZURE_ENDPOINT that names it",
            ));
        }
        None => {}
    }
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    match &options.credentials {
        Credentials::Chain => {}
        Credentials::AccessKey(key) => builder = builder.with_access_key(key.expose()),
        Credentials::Sas(token) => {
            builder = builder.with_config(
                AzureConfigKey::SasKey,
                token.expose().trim_start_matches('?'),
            );
        }
    }
    let store = builder.build().map_err(|err| failed(&err))?;
    Ok(Clients::shared(Arc::new(store) as Arc<dyn ObjectStore>))
}

impl AzureBackend {
    /// The fixed container, or `None` for the wildcard container `*`.
    pub fn container(&self) -> Option<&str> {
        self.inner.buckets.fixed()
    }

    /// The role this backend serves.
    pub fn role(&self) -> Role {
        self.inner.options.role
    }

    /// The container and blob name for `key`, without touching the network. `image` is the
    /// request's source image key (only a wildcard result storage uses it; pass `""` when
    /// there is none).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the key is outside the path prefix, maps to nothing, or (with
    /// `*`) names no usable container.
    pub fn resolve(&self, key: &str, image: &str) -> Result<(String, String), Error> {
        self.inner.buckets.resolve(key, image)
    }

    /// How many wildcard containers currently have clients (always 0 for a fixed one).
    pub fn cached_containers(&self) -> usize {
        self.inner.buckets.cached()
    }
}

impl Backend for AzureBackend {
    fn locate(&self, key: &str, image: &str) -> Result<Location, Error> {
        self.inner
            .buckets
            .locate(key, image)
            .map(|(_, location)| location)
    }

    fn expiration(&self) -> Option<Duration> {
        self.inner.options.expiration
    }
}

impl fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options = &self.inner.options;
        f.debug_struct("AzureBackend")
            .field("containers", &self.inner.buckets)
            .field("role", &options.role)
            .field("endpoint", &options.endpoint)
            .field("expiration", &options.expiration)
            .finish_non_exhaustive()
    }
}

/// Loads source images from Azure Blob Storage (`AZURE_LOADER_*` settings).
///
/// One GET per request:
///
/// * the key is mapped by the backend ([`Error::Invalid`] when it refuses it);
/// * a missing blob or container is [`Error::NotFound`];
/// * a blob older than the backend's expiration (by last modification) is
///   [`Error::Expired`];
/// * a blob larger than [`max_size`](Self::max_size) is [`Error::MaxSizeExceeded`], found
///   from the response headers before the body is read;
/// * any other failure (refused credentials, unreachable endpoint) is an
///   [`Error::Internal`] whose message names the container and the cause.
///
/// The blob keeps its `Content-Type` (sniffed from the bytes when there is none) and a
/// [`Stat`](crate::blob::Stat) with size, ETag and last modification. Cloning is cheap.
///
/// ```
/// use imagor_tower::azure::{AzureLoader, AzureOptions};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backend = AzureOptions::new("images")
///     .with_endpoint("http://127.0.0.1:10000/devstoreaccount1")
///     .with_path_prefix("/photos")
///     .build()
///     .unwrap();
/// let loader = AzureLoader::new(backend).max_size(8 << 20);
/// // Keys outside the prefix are refused before any request is made.
/// let err = loader.oneshot(imagor_tower::loader::SourceRequest::new("other/a.jpg")).await;
/// assert_eq!(err.unwrap_err().status(), 400);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct AzureLoader {
    backend: AzureBackend,
    max_size: u64,
}

impl AzureLoader {
    /// A loader reading through `backend`.
    pub fn new(backend: AzureBackend) -> Self {
        Self {
            backend,
            max_size: crate::loader::DEFAULT_MAX_SIZE,
        }
    }

    /// The largest blob served, in bytes; larger ones answer [`Error::MaxSizeExceeded`].
    /// `0` removes the limit. Default: 64 MiB.
    #[must_use]
    pub fn max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &AzureBackend {
        &self.backend
    }

    /// Loads the blob for `key`.
    ///
    /// # Errors
    ///
    /// See the [type docs](Self).
    pub async fn load(&self, key: &str) -> Result<Blob, Error> {
        let backend = &self.backend;
        load_object(
            AZURE,
            &backend.inner.buckets,
            key,
            self.max_size,
            backend.expiration(),
        )
        .await
    }
}

crate::loader::leaf_loader_service!(AzureLoader, |loader, req| loader.load(req.key()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_endpoints_and_missing_accounts_are_refused() {
        let err = AzureOptions::new("c")
            .with_endpoint("ftp://x")
            .build()
            .unwrap_err();
        assert!(err.message().contains("ftp://x"), "{}", err.message());
        let err = AzureOptions::new("c")
            .with_access_key("a2V5")
            .build()
            .unwrap_err();
        assert!(
            err.message().contains("AZURE_STORAGE_ACCOUNT_NAME"),
            "{}",
            err.message()
        );
        assert!(AzureOptions::new("bad container").build().is_err());
    }
}
