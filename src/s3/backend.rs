//! [`S3Backend`]: S3 buckets as a storage [`Backend`], with imagor's key mapping.

use super::client::clients;
use super::options::S3Options;
use super::settings::S3Role;
use crate::Error;
use crate::cloud::{BucketSet, BucketSpec, MakeClients};
use crate::key::SafeChars;
use crate::storage::{Backend, Location};
use object_store::{Attribute, AttributeValue, Attributes};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The characters S3 keys keep unescaped on top of the configured safe characters.
const S3_EXTRA_SAFE: &str = "!\"()*";

/// Where a key lives: a bucket and an object key inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Object {
    /// The bucket.
    pub bucket: String,
    /// The object key (never starts with `/`).
    pub key: String,
}

/// S3 buckets as a storage backend: maps image and result keys to objects the way imagor
/// does, and hands out the clients to reach them.
///
/// Key mapping: `"/" + normalize(key, safe chars + !"()*)` must start with the path prefix,
/// which is removed; the rest is joined under the base directory, without a leading `/`.
/// A key that would climb out with `..` is [`Error::Invalid`] (imagor would clean it into a
/// key outside the base directory).
///
/// With the wildcard bucket `*`, the loader and source storage take the first segment of
/// the key (one leading `/` removed) as the bucket and map the rest. The result storage
/// takes the bucket from the request's source image key and maps the whole result key;
/// without a source key it splits the result key like the loader. A missing or empty first
/// segment, or one that is not a plausible bucket name (ASCII letters, digits, `.`, `-`,
/// `_`), is [`Error::Invalid`]. Each bucket gets its own clients, made on first use and
/// kept in a bounded cache.
///
/// Cloning is cheap. Built with [`S3Options::build`].
///
/// ```
/// use imagor_tower::s3::S3Role;
/// use imagor_tower::s3::S3Options;
///
/// let results = S3Options::new("*").with_role(S3Role::ResultStorage).build().unwrap();
/// let object = results.resolve("300x200/shop/a.jpg", "/shop/a.jpg").unwrap();
/// assert_eq!((object.bucket.as_str(), object.key.as_str()), ("shop", "300x200/shop/a.jpg"));
/// assert!(results.resolve("300x200/x.jpg", "no-bucket-segment").is_err());
/// ```
#[derive(Clone)]
pub struct S3Backend {
    inner: Arc<Inner>,
}

struct Inner {
    options: S3Options,
    buckets: BucketSet,
    attributes: Attributes,
    tags: object_store::TagSet,
}

impl S3Options {
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
}

impl S3Backend {
    fn new(options: S3Options) -> Result<Self, Error> {
        let make: MakeClients = {
            let options = options.clone();
            Arc::new(move |bucket: &str| clients(&options, bucket))
        };
        let spec = BucketSpec {
            what: "S3 bucket",
            bucket: &options.bucket,
            base_dir: options.base_dir.as_deref(),
            path_prefix: &options.path_prefix,
            safe_chars: SafeChars::new(&options.safe_chars).with_extra(S3_EXTRA_SAFE),
            bucket_from_image: options.role == S3Role::ResultStorage,
            cache_size: options.bucket_cache_size,
        };
        let buckets = BucketSet::new(spec, make)?;
        let mut attributes = Attributes::new();
        if let Some(class) = options.storage_class {
            attributes.insert(
                Attribute::StorageClass,
                AttributeValue::from(class.as_str()),
            );
        }
        let tags = parse_tagging(options.tagging.as_deref().unwrap_or(""));
        let inner = Inner {
            tags,
            attributes,
            buckets,
            options,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The fixed bucket, or `None` for the wildcard bucket `*`.
    pub fn bucket(&self) -> Option<&str> {
        self.inner.buckets.fixed()
    }

    /// The role this backend serves.
    pub fn role(&self) -> S3Role {
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
    pub fn resolve(&self, key: &str, image: &str) -> Result<S3Object, Error> {
        let (bucket, key) = self.inner.buckets.resolve(key, image)?;
        Ok(S3Object { bucket, key })
    }

    /// How many wildcard buckets currently have clients (always 0 for a fixed bucket).
    pub fn cached_buckets(&self) -> usize {
        self.inner.buckets.cached()
    }

    /// The buckets of this backend (key mapping and clients).
    pub(super) fn buckets(&self) -> &BucketSet {
        &self.inner.buckets
    }
}

impl S3Backend {
    /// [`Backend::locate`], also telling the bucket (for error messages).
    pub(super) fn locate_in_bucket(
        &self,
        key: &str,
        image: &str,
    ) -> Result<(String, Location), Error> {
        self.inner.buckets.locate(key, image)
    }
}

impl Backend for S3Backend {
    fn locate(&self, key: &str, image: &str) -> Result<Location, Error> {
        self.locate_in_bucket(key, image)
            .map(|(_, location)| location)
    }

    fn expiration(&self) -> Option<Duration> {
        self.inner.options.expiration
    }

    fn put_attributes(&self) -> Attributes {
        self.inner.attributes.clone()
    }

    fn put_tags(&self) -> object_store::TagSet {
        self.inner.tags.clone()
    }
}

/// Parses S3's tagging form `k1=v1&k2=v2` (percent-encoded, `+` for space) into a tag set.
fn parse_tagging(text: &str) -> object_store::TagSet {
    let decode = |part: &str| {
        let spaced = part.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut tags = object_store::TagSet::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push(&decode(key), &decode(value));
    }
    tags
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("S3Backend")
            .field("buckets", &inner.buckets)
            .field("role", &inner.options.role)
            .field("acl", &inner.options.acl)
            .field("storage_class", &inner.options.storage_class)
            .field("expiration", &inner.options.expiration)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(options: S3Options) -> S3Backend {
        options.build().unwrap()
    }

    #[test]
    fn bad_bucket_names_are_refused() {
        assert!(S3Options::new("bad bucket").build().is_err());
        assert!(S3Options::new("/dir").build().is_err());
    }

    #[test]
    fn dot_dot_cannot_escape_the_prefix_or_base_dir() {
        let b = backend(
            S3Options::new("b")
                .with_base_dir("base")
                .with_path_prefix("/p"),
        );
        assert_eq!(b.resolve("/p/x/../y", "").unwrap().key, "base/y");
        assert!(b.resolve("/p/../q/y", "").is_err());
        let wild = backend(S3Options::new("*"));
        assert!(wild.resolve("/b/../../etc/passwd", "").is_err());
        assert!(wild.resolve("/b/", "").is_err());
    }

    #[test]
    fn storage_class_is_a_put_attribute() {
        let b = backend(
            S3Options::new("b").with_storage_class(super::super::S3StorageClass::StandardIa),
        );
        let attributes = b.put_attributes();
        let class = attributes.get(&Attribute::StorageClass).unwrap();
        assert_eq!(class.as_ref(), "STANDARD_IA");
        assert!(backend(S3Options::new("b")).put_attributes().is_empty());
        let tagged = backend(S3Options::new("b").with_tagging("team=web&note=a+b%21"));
        assert_eq!(tagged.put_tags().encoded(), "team=web&note=a+b%21");
        assert!(backend(S3Options::new("b")).put_tags().is_empty());
    }

    #[test]
    fn wildcard_clients_are_cached_and_bounded() {
        let b = backend(S3Options::new("*").with_bucket_cache_size(2));
        for bucket in ["one", "two", "one", "three", "four"] {
            b.locate(&format!("{bucket}/k.jpg"), "").unwrap();
        }
        assert_eq!(b.cached_buckets(), 2);
    }

    #[test]
    fn acl_gives_a_separate_writer_client() {
        let plain = backend(S3Options::new("b")).locate("k", "").unwrap();
        assert!(Arc::ptr_eq(&plain.reader, &plain.writer));
        let acl = backend(S3Options::new("b").with_acl(super::super::CannedAcl::PublicRead))
            .locate("k", "")
            .unwrap();
        assert!(!Arc::ptr_eq(&acl.reader, &acl.writer));
        assert_eq!(acl.path.as_ref(), "k");
    }
}
