//! [`GcsBackend`] and [`GcsLoader`]: Google Cloud Storage buckets as a storage backend and a
//! loader, with imagor's key mapping.

use super::options::GcsOptions;
use crate::cloud::{BucketSet, BucketSpec, Clients, MakeClients, Service, load_object};
use crate::config::GcsAcl;
use crate::key::SafeChars;
use crate::storage::{Backend, Location, Role};
use crate::{Blob, Error};
use object_store::ObjectStore;
use object_store::StaticCredentialProvider;
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How GCS failures read.
const GCS: Service = Service {
    what: "GCS bucket",
    denied_hint: "check the credentials: GOOGLE_APPLICATION_CREDENTIALS or the machine's service account",
};

/// Google Cloud Storage buckets as a storage backend: maps image and result keys to objects
/// the way imagor does for `GCLOUD_*`, and hands out the clients to reach them.
///
/// Key mapping: `"/" + normalize(key, safe chars)` must start with the path prefix, which is
/// removed; the rest is joined under the base directory, without a leading `/`. With the
/// wildcard bucket `*` the bucket is the key's first segment (result storage: the source
/// image key's first segment), as for S3. Writes carry the predefined ACL, when one is set,
/// as `x-goog-acl` from a separate writer client, so reads never send it. A single `PUT`
/// makes each object appear whole.
///
/// Cloning is cheap. Built with [`GcsOptions::build`].
///
/// ```
/// use imagor_tower::gcs::GcsOptions;
/// use imagor_tower::storage::Role;
///
/// let results = GcsOptions::new("*")
///     .with_role(Role::ResultStorage)
///     .with_emulator_host("127.0.0.1:4443")
///     .build()
///     .unwrap();
/// let (bucket, key) = results.resolve("300x200/shop/a.jpg", "/shop/a.jpg").unwrap();
/// assert_eq!((bucket.as_str(), key.as_str()), ("shop", "300x200/shop/a.jpg"));
/// ```
#[derive(Clone)]
pub struct GcsBackend {
    inner: Arc<Inner>,
}

struct Inner {
    options: GcsOptions,
    buckets: BucketSet,
}

impl GcsOptions {
    /// Builds the backend; a fixed bucket gets its clients now, a wildcard bucket on first
    /// use of each bucket. No request is made.
    ///
    /// # Errors
    ///
    /// An [`Error::Internal`] naming the problem when the bucket name is not valid, the
    /// emulator address is not an `http(s)://` URL, or a client cannot be built (for
    /// example, the credentials file cannot be read).
    pub fn build(self) -> Result<GcsBackend, Error> {
        if let Some(url) = &self.emulator
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::internal(format!(
                "STORAGE_EMULATOR_HOST {url:?}: expected host:port or an http:// URL"
            )));
        }
        let make: MakeClients = {
            let options = self.clone();
            Arc::new(move |bucket: &str| clients(&options, bucket))
        };
        let spec = BucketSpec {
            what: GCS.what,
            bucket: &self.bucket,
            base_dir: self.base_dir.as_deref(),
            path_prefix: &self.path_prefix,
            safe_chars: SafeChars::new(&self.safe_chars),
            bucket_from_image: self.role == Role::ResultStorage,
            cache_size: self.bucket_cache_size,
        };
        let buckets = BucketSet::new(spec, make)?;
        Ok(GcsBackend {
            inner: Arc::new(Inner {
                options: self,
                buckets,
            }),
        })
    }
}

/// The reader and writer clients of `bucket`; the writer differs only when an ACL is set.
fn clients(options: &GcsOptions, bucket: &str) -> Result<Clients, Error> {
    let build = |acl| {
        builder(options, bucket, acl)
            .build()
            .map(|store| Arc::new(store) as Arc<dyn ObjectStore>)
            .map_err(|err| Error::internal(format!("GCS client for bucket {bucket:?}: {err}")))
    };
    let reader = build(None)?;
    match options.acl {
        None => Ok(Clients::shared(reader)),
        Some(acl) => Ok(Clients {
            reader,
            writer: build(Some(acl))?,
        }),
    }
}

fn builder(options: &GcsOptions, bucket: &str, acl: Option<GcsAcl>) -> GoogleCloudStorageBuilder {
    let mut client = crate::cloud::net::client_options(
        options.timeout,
        options.connect_timeout,
        options.emulator.as_deref(),
    );
    if let Some(acl) = acl {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-goog-acl",
            http::HeaderValue::from_static(acl.header_value()),
        );
        client = client.with_default_headers(headers);
    }
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_retry(options.retry.clone())
        .with_client_options(client);
    if let Some(url) = &options.emulator {
        // As Google's libraries do with STORAGE_EMULATOR_HOST: that base URL, no credentials.
        let anonymous = StaticCredentialProvider::new(GcpCredential {
            bearer: String::new(),
        });
        builder = builder
            .with_base_url(url)
            .with_skip_signature(true)
            .with_credentials(Arc::new(anonymous));
    } else if let Some(path) = &options.application_credentials {
        builder = builder.with_application_credentials(path.to_string_lossy());
    }
    builder
}

impl GcsBackend {
    /// The fixed bucket, or `None` for the wildcard bucket `*`.
    pub fn bucket(&self) -> Option<&str> {
        self.inner.buckets.fixed()
    }

    /// The role this backend serves.
    pub fn role(&self) -> Role {
        self.inner.options.role
    }

    /// The bucket and object key for `key`, without touching the network. `image` is the
    /// request's source image key (only a wildcard result storage uses it; pass `""` when
    /// there is none).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the key is outside the path prefix, maps to nothing, or (with
    /// `*`) names no usable bucket.
    pub fn resolve(&self, key: &str, image: &str) -> Result<(String, String), Error> {
        self.inner.buckets.resolve(key, image)
    }

    /// How many wildcard buckets currently have clients (always 0 for a fixed bucket).
    pub fn cached_buckets(&self) -> usize {
        self.inner.buckets.cached()
    }
}

impl Backend for GcsBackend {
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

impl fmt::Debug for GcsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options = &self.inner.options;
        f.debug_struct("GcsBackend")
            .field("buckets", &self.inner.buckets)
            .field("role", &options.role)
            .field("acl", &options.acl)
            .field("expiration", &options.expiration)
            .field("emulator", &options.emulator)
            .finish_non_exhaustive()
    }
}

/// Loads source images from Google Cloud Storage (imagor's `GCLOUD_LOADER_*` settings).
///
/// One GET per request through the backend's reader client:
///
/// * the key is mapped by the backend ([`Error::Invalid`] when it refuses it);
/// * a missing object or bucket is [`Error::NotFound`];
/// * an object older than the backend's expiration (by its update time) is
///   [`Error::Expired`];
/// * an object larger than [`max_size`](Self::max_size) is [`Error::MaxSizeExceeded`],
///   found from the response headers before the body is read;
/// * any other failure (refused credentials, unreachable endpoint) is an
///   [`Error::Internal`] whose message names the bucket and the cause.
///
/// The blob keeps the object's `Content-Type` (sniffed from the bytes when there is none)
/// and a [`Stat`](crate::blob::Stat) with size, ETag and update time. Cloning is cheap.
///
/// ```
/// use imagor_tower::gcs::{GcsLoader, GcsOptions};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backend = GcsOptions::new("images")
///     .with_emulator_host("127.0.0.1:4443")
///     .with_path_prefix("/photos")
///     .build()
///     .unwrap();
/// let loader = GcsLoader::new(backend).max_size(8 << 20);
/// // Keys outside the prefix are refused before any request is made.
/// let err = loader.oneshot(imagor_tower::loader::SourceRequest::new("other/a.jpg")).await;
/// assert_eq!(err.unwrap_err().status(), 400);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct GcsLoader {
    backend: GcsBackend,
    max_size: u64,
}

impl GcsLoader {
    /// A loader reading through `backend`.
    pub fn new(backend: GcsBackend) -> Self {
        Self {
            backend,
            max_size: crate::loader::DEFAULT_MAX_SIZE,
        }
    }

    /// The largest object served, in bytes; larger ones answer [`Error::MaxSizeExceeded`].
    /// `0` removes the limit. Default: 64 MiB.
    #[must_use]
    pub fn max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &GcsBackend {
        &self.backend
    }

    /// Loads the object for `key`.
    ///
    /// # Errors
    ///
    /// See the [type docs](Self).
    pub async fn load(&self, key: &str) -> Result<Blob, Error> {
        let backend = &self.backend;
        load_object(
            GCS,
            &backend.inner.buckets,
            key,
            self.max_size,
            backend.expiration(),
        )
        .await
    }
}

crate::loader::leaf_loader_service!(GcsLoader, |loader, req| loader.load(req.key()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_gives_a_separate_writer_client() {
        let emulator = |options: GcsOptions| options.with_emulator_host("127.0.0.1:1");
        let plain = emulator(GcsOptions::new("b")).build().unwrap();
        let location = plain.locate("k", "").unwrap();
        assert!(Arc::ptr_eq(&location.reader, &location.writer));
        let acl = emulator(GcsOptions::new("b").with_acl(GcsAcl::PublicRead))
            .build()
            .unwrap();
        let location = acl.locate("k", "").unwrap();
        assert!(!Arc::ptr_eq(&location.reader, &location.writer));
    }

    #[test]
    fn no_extra_safe_characters_unlike_s3() {
        let backend = GcsOptions::new("b")
            .with_emulator_host("127.0.0.1:1")
            .build()
            .unwrap();
        assert_eq!(
            backend.resolve("a(1)!.jpg", "").unwrap().1,
            "a%281%29%21.jpg"
        );
        let kept = GcsOptions::new("b")
            .with_emulator_host("127.0.0.1:1")
            .with_safe_chars("()")
            .build()
            .unwrap();
        assert_eq!(kept.resolve("a(1)!.jpg", "").unwrap().1, "a(1)%21.jpg");
    }

    #[test]
    fn the_application_credentials_file_is_read_at_build() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing-key.json");
        let err = GcsOptions::new("b")
            .with_application_credentials(&missing)
            .build()
            .unwrap_err();
        assert!(
            err.message().contains("GCS client for bucket"),
            "{}",
            err.message()
        );
        // An emulator needs no credentials, so the file is not read then.
        assert!(
            GcsOptions::new("b")
                .with_application_credentials(&missing)
                .with_emulator_host("127.0.0.1:1")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn bad_emulator_urls_and_buckets_are_refused() {
        let err = GcsOptions::new("b")
            .with_emulator_host("ftp://x")
            .build()
            .unwrap_err();
        assert!(err.message().contains("ftp://x"), "{}", err.message());
        assert!(GcsOptions::new("bad bucket").build().is_err());
    }
}
