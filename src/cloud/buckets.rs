//! [`BucketSet`]: the buckets of one role and how keys map into them, for any object store.

use super::bucket::is_bucket_name;
use super::cache::BoundedCache;
use crate::Error;
use crate::key::{self, SafeChars};
use crate::storage::Location;
use object_store::ObjectStore;
use object_store::path::Path;
use std::fmt;
use std::sync::Arc;

/// The reader and writer clients of one bucket. They differ only when writes carry a header
/// reads must not send (a canned or predefined ACL).
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    pub(crate) reader: Arc<dyn ObjectStore>,
    pub(crate) writer: Arc<dyn ObjectStore>,
}

impl Clients {
    /// One client for reads and writes.
    pub(crate) fn shared(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            reader: Arc::clone(&store),
            writer: store,
        }
    }
}

/// Builds the clients of the bucket it is given.
pub(crate) type MakeClients = Arc<dyn Fn(&str) -> Result<Clients, Error> + Send + Sync>;

/// The settings a [`BucketSet`] is built from.
#[derive(Debug)]
pub(crate) struct BucketSpec<'a> {
    /// How error messages name a bucket: `S3 bucket`, `GCS bucket`, `Azure container`.
    pub(crate) what: &'static str,
    /// `name`, `name/dir` (the part after the first `/` is the base directory) or `*`.
    pub(crate) bucket: &'a str,
    /// The base directory; it wins over one given in the bucket value.
    pub(crate) base_dir: Option<&'a str>,
    /// Only keys under this prefix are served; the prefix is removed.
    pub(crate) path_prefix: &'a str,
    /// The characters keys keep unescaped.
    pub(crate) safe_chars: SafeChars,
    /// With `*`: take the bucket from the request's source image key (result storage).
    pub(crate) bucket_from_image: bool,
    /// How many wildcard buckets keep their clients.
    pub(crate) cache_size: usize,
}

/// The bucket (or buckets, with `*`) of one role, imagor's key mapping, and the clients.
///
/// Key mapping: `"/" + normalize(key, safe chars)` must start with the path prefix, which is
/// removed; the rest is joined under the base directory, without a leading `/`. A key that
/// would climb out with `..` is [`Error::Invalid`].
///
/// With the wildcard bucket `*`, the first segment of the key (one leading `/` removed) is
/// the bucket and the rest is mapped; a result storage takes the bucket from the source
/// image key instead and maps the whole result key. A missing or implausible bucket segment
/// is [`Error::Invalid`].
pub(crate) struct BucketSet {
    buckets: Buckets,
    /// Base directory, without leading or trailing `/` (empty for the bucket root).
    base_dir: String,
    /// The path prefix in `key::normalize_prefix` form.
    prefix: String,
    safe_chars: SafeChars,
    bucket_from_image: bool,
    make: MakeClients,
}

enum Buckets {
    Fixed {
        name: String,
        clients: Clients,
    },
    /// Clients of wildcard buckets, made on first use.
    Wildcard(BoundedCache<Clients>),
}

impl BucketSet {
    /// The set for `spec`; a fixed bucket gets its clients now, wildcard buckets on first
    /// use.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when the bucket name is not valid or its clients cannot be built.
    pub(crate) fn new(spec: BucketSpec<'_>, make: MakeClients) -> Result<Self, Error> {
        let (bucket_dir, buckets) = if spec.bucket == "*" {
            (
                String::new(),
                Buckets::Wildcard(BoundedCache::new(spec.cache_size)),
            )
        } else {
            let (name, dir) = spec.bucket.split_once('/').unwrap_or((spec.bucket, ""));
            if !is_bucket_name(name) {
                return Err(Error::internal(format!(
                    "{} {:?}: not a valid name",
                    spec.what, spec.bucket
                )));
            }
            let clients = make(name)?;
            let buckets = Buckets::Fixed {
                name: name.to_owned(),
                clients,
            };
            (dir.to_owned(), buckets)
        };
        let base_dir = match spec.base_dir {
            Some(dir) if !dir.is_empty() => dir,
            _ => bucket_dir.as_str(),
        };
        let base_dir = match key::clean(base_dir).trim_matches('/') {
            "." => String::new(),
            other => other.to_owned(),
        };
        Ok(Self {
            buckets,
            base_dir,
            prefix: key::normalize_prefix(spec.path_prefix),
            safe_chars: spec.safe_chars,
            bucket_from_image: spec.bucket_from_image,
            make,
        })
    }

    /// The fixed bucket, or `None` for the wildcard bucket `*`.
    pub(crate) fn fixed(&self) -> Option<&str> {
        match &self.buckets {
            Buckets::Fixed { name, .. } => Some(name),
            Buckets::Wildcard(_) => None,
        }
    }

    /// The bucket and object key for `key`, without touching the network. `image` is the
    /// request's source image key (`""` when there is none).
    pub(crate) fn resolve(&self, key: &str, image: &str) -> Result<(String, String), Error> {
        match &self.buckets {
            Buckets::Fixed { name, .. } => Ok((name.clone(), self.object_key(key)?)),
            Buckets::Wildcard(_) => {
                if self.bucket_from_image && !image.is_empty() {
                    let (bucket, _) = split_bucket(image)?;
                    Ok((bucket.to_owned(), self.object_key(key)?))
                } else {
                    let (bucket, rest) = split_bucket(key)?;
                    Ok((bucket.to_owned(), self.object_key(rest)?))
                }
            }
        }
    }

    /// How many wildcard buckets currently have clients (always 0 for a fixed bucket).
    pub(crate) fn cached(&self) -> usize {
        match &self.buckets {
            Buckets::Fixed { .. } => 0,
            Buckets::Wildcard(cache) => cache.len(),
        }
    }

    /// The clients of `bucket`.
    pub(crate) fn clients(&self, bucket: &str) -> Result<Clients, Error> {
        match &self.buckets {
            Buckets::Fixed { clients, .. } => Ok(clients.clone()),
            Buckets::Wildcard(cache) => cache.get_or_try_insert(bucket, || (self.make)(bucket)),
        }
    }

    /// The bucket and location of `key`.
    pub(crate) fn locate(&self, key: &str, image: &str) -> Result<(String, Location), Error> {
        let (bucket, object) = self.resolve(key, image)?;
        let path = Path::parse(&object).map_err(|_| Error::Invalid)?;
        let clients = self.clients(&bucket)?;
        let location = Location {
            reader: clients.reader,
            writer: clients.writer,
            path,
        };
        Ok((bucket, location))
    }

    /// The object key of `key` inside the bucket (prefix check, base directory).
    fn object_key(&self, key: &str) -> Result<String, Error> {
        let full = format!("/{}", key::normalize(key, &self.safe_chars));
        let rest = full.strip_prefix(&self.prefix).ok_or(Error::Invalid)?;
        let rest = rest.trim_start_matches('/');
        // `normalize` cleaned the key, so only leading `..` segments can be left: they would
        // climb out of the prefix or the base directory.
        if rest.is_empty()
            || rest
                .split('/')
                .any(|segment| segment == "." || segment == "..")
        {
            return Err(Error::Invalid);
        }
        if self.base_dir.is_empty() {
            Ok(rest.to_owned())
        } else {
            Ok(format!("{}/{rest}", self.base_dir))
        }
    }
}

impl fmt::Debug for BucketSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BucketSet")
            .field("bucket", &self.fixed().unwrap_or("*"))
            .field("base_dir", &self.base_dir)
            .field("prefix", &self.prefix)
            .field("safe_chars", &self.safe_chars)
            .finish_non_exhaustive()
    }
}

/// Splits `bucket/rest` (one leading `/` removed).
pub(crate) fn split_bucket(key: &str) -> Result<(&str, &str), Error> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let (bucket, rest) = key.split_once('/').ok_or(Error::Invalid)?;
    if is_bucket_name(bucket) {
        Ok((bucket, rest))
    } else {
        Err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn set(bucket: &str, base_dir: Option<&str>, prefix: &str, from_image: bool) -> BucketSet {
        let spec = BucketSpec {
            what: "test bucket",
            bucket,
            base_dir,
            path_prefix: prefix,
            safe_chars: SafeChars::new(""),
            bucket_from_image: from_image,
            cache_size: 2,
        };
        let make: MakeClients = Arc::new(|_| Ok(Clients::shared(Arc::new(InMemory::new()))));
        BucketSet::new(spec, make).unwrap()
    }

    #[test]
    fn wildcard_split_refuses_missing_buckets() {
        assert_eq!(split_bucket("/b/k").unwrap(), ("b", "k"));
        assert_eq!(split_bucket("b/k/l").unwrap(), ("b", "k/l"));
        assert!(split_bucket("b").is_err());
        assert!(split_bucket("//k").is_err());
        assert!(split_bucket("/../k").is_err());
    }

    #[test]
    fn fixed_bucket_with_dir_prefix_and_base_dir() {
        let b = set("b/dir", None, "", false);
        assert_eq!(
            b.resolve("a b.jpg", "").unwrap(),
            ("b".into(), "dir/a+b.jpg".into())
        );
        let b = set("b/dir", Some("base"), "/p", false);
        assert_eq!(b.resolve("/p/x/../y", "").unwrap().1, "base/y");
        assert!(b.resolve("/p/../q/y", "").is_err());
        assert!(b.resolve("/q/y", "").is_err());
    }

    #[test]
    fn wildcard_buckets_from_key_or_image() {
        let loader = set("*", None, "", false);
        assert_eq!(
            loader.resolve("/site/img/a.png", "").unwrap(),
            ("site".into(), "img/a.png".into())
        );
        assert!(loader.resolve("/b/../../etc/passwd", "").is_err());
        let results = set("*", None, "", true);
        assert_eq!(
            results
                .resolve("300x200/shop/a.jpg", "/shop/a.jpg")
                .unwrap(),
            ("shop".into(), "300x200/shop/a.jpg".into())
        );
        for bucket in ["one", "two", "one", "three"] {
            loader.locate(&format!("{bucket}/k.jpg"), "").unwrap();
        }
        assert_eq!(loader.cached(), 2);
    }

    #[test]
    fn invalid_bucket_names_are_refused() {
        let make: MakeClients = Arc::new(|_| Ok(Clients::shared(Arc::new(InMemory::new()))));
        let spec = |bucket| BucketSpec {
            what: "test bucket",
            bucket,
            base_dir: None,
            path_prefix: "",
            safe_chars: SafeChars::new(""),
            bucket_from_image: false,
            cache_size: 1,
        };
        let err = BucketSet::new(spec("bad bucket"), Arc::clone(&make)).unwrap_err();
        assert!(err.message().contains("test bucket"), "{}", err.message());
        assert!(BucketSet::new(spec("/dir"), make).is_err());
    }
}
