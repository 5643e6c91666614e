//! [`BucketRouter`]: imagor's S3 loader bucket router (`S3_LOADER_BUCKET_ROUTER_CONFIG`) as a loader
//! service.
//!
//! A regular expression with a named group `bucket` picks, for each image key, one of a set
//! of per-bucket [`S3Loader`]s: the rule whose `match` equals the captured text, else the
//! default bucket, else (passthrough) a client for the bucket named by the captured text
//! itself. A `path` group, when it captures something, becomes the object key. When the
//! chosen bucket answers "not found", the fallback buckets are tried in order.
//!
//! # Example
//!
//! ```
//! use imagor_tower::s3::{BucketConfig, BucketRouter, RouterConfig, RoutingRule, S3Options};
//!
//! let config = RouterConfig::new(r"^(?P<bucket>[a-z]+)/(?P<path>.+)$")
//!     .with_rule(RoutingRule::new("eu", BucketConfig::new("images-eu").with_region("eu-west-1")))
//!     .with_default_bucket(BucketConfig::new("images"))
//!     .with_fallback_bucket(BucketConfig::new("archive"));
//! let router = BucketRouter::builder(config)
//!     .with_options(S3Options::new("unused").with_region("us-east-1"))
//!     .build()
//!     .unwrap();
//! let route = router.route("/eu/cats/tom.jpg").unwrap();
//! assert_eq!((route.bucket.as_str(), route.key.as_str()), ("images-eu", "cats/tom.jpg"));
//! assert_eq!(router.route("us/a.jpg").unwrap().bucket, "images");
//! assert_eq!(router.fallbacks(), ["archive"]);
//! assert_eq!(router.buckets(), ["archive", "images", "images-eu"]);
//! ```

mod config;

pub use config::{
    BucketConfig, MAX_FALLBACK_BUCKETS, RouterConfig, RouterConfigError, RoutingRule,
};

use super::bucket::is_bucket_name;
use super::cache::BoundedCache;
use super::loader::{DEFAULT_MAX_SIZE, S3Loader};
use super::options::S3Options;
use crate::Error;
use crate::blob::Blob;
use crate::loader::{LoadFuture, SourceRequest};
use regex::Regex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// The default for [`BucketRouterBuilder::with_passthrough_cache_size`]: clients kept for 64
/// passthrough buckets.
pub const DEFAULT_PASSTHROUGH_CACHE_SIZE: usize = 64;

/// Routes each image key to one of several S3 buckets (imagor's
/// `S3_LOADER_BUCKET_ROUTER_CONFIG`), as a loader service.
///
/// Routing one key:
///
/// 1. one leading `/` is removed and the pattern is run on the rest;
/// 2. the text of the `bucket` group selects the rule with that exact `match`; no rule, or
///    no match of the pattern at all, selects the default bucket;
/// 3. without a default bucket (passthrough), the captured text itself is the bucket, with a
///    client made on first use and kept in a bounded cache; a key the pattern does not match
///    is [`Error::NotFound`], a captured text that is not a plausible bucket name is
///    [`Error::Invalid`], and a bucket outside the
///    [allow-list](BucketRouterBuilder::with_passthrough_allow_list) is [`Error::NotFound`];
/// 4. the object key is the text of the `path` group when it captured something, else the
///    original key (mapped afterwards like any S3 loader key: normalised, path prefix, base
///    directory);
/// 5. when the chosen bucket answers [`Error::NotFound`], the fallback buckets (other than
///    the one just tried) are tried in order with the same object key. Any other error is
///    returned at once. (imagor never reaches its fallbacks; this router does.)
///
/// Every configured bucket gets its client once, at [`build`](BucketRouterBuilder::build);
/// entries sharing a name share the first entry's client (default, then rules, then
/// fallbacks). Cloning is cheap: clones share the clients and the passthrough cache.
#[derive(Clone)]
pub struct BucketRouter {
    inner: Arc<Inner>,
}

struct Inner {
    pattern: Regex,
    has_path: bool,
    /// Configured buckets by name.
    buckets: BTreeMap<String, Routed>,
    /// Rule `match` → bucket name (the last rule for a `match` wins).
    rules: HashMap<String, String>,
    default: Option<String>,
    fallbacks: Vec<String>,
    template: S3Options,
    max_size: u64,
    allow_list: Option<HashSet<String>>,
    /// Loaders of passthrough buckets, made on first use.
    passthrough: BoundedCache<S3Loader>,
}

/// One configured bucket: its entry and its loader.
struct Routed {
    config: BucketConfig,
    loader: S3Loader,
}

/// Where a key was routed: the bucket, and the object key handed to its loader (before the
/// loader's key mapping, so it may still start with `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// The bucket.
    pub bucket: String,
    /// The object key as routed.
    pub key: String,
}

/// Builds a [`BucketRouter`] from a [`RouterConfig`].
///
/// ```
/// use imagor_tower::s3::{BucketRouter, RouterConfig, S3Options};
///
/// let router = BucketRouter::builder(RouterConfig::new(r"^(?P<bucket>[^/]+)/(?P<path>.+)$"))
///     .with_options(S3Options::new("unused").with_endpoint("http://127.0.0.1:9000"))
///     .with_passthrough_allow_list(["site-a", "site-b"])
///     .with_passthrough_cache_size(16)
///     .with_max_size(8 << 20)
///     .build()
///     .unwrap();
/// assert_eq!(router.route("site-a/x.jpg").unwrap().bucket, "site-a");
/// assert_eq!(router.route("site-c/x.jpg").unwrap_err().status(), 404);
/// ```
#[derive(Debug)]
pub struct BucketRouterBuilder {
    config: RouterConfig,
    template: S3Options,
    max_size: u64,
    cache_size: usize,
    allow_list: Option<HashSet<String>>,
}

impl BucketRouterBuilder {
    /// The loader-wide settings every bucket starts from: endpoint, region, credentials,
    /// addressing style, base directory, path prefix, safe characters, timeouts. The bucket
    /// these options name is ignored. Default: `S3Options::new("")` (AWS defaults).
    #[must_use]
    pub fn with_options(mut self, options: S3Options) -> Self {
        self.template = options;
        self
    }

    /// The largest object served (see [`S3Loader::max_size`]). Default: 64 MiB.
    #[must_use]
    pub fn with_max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// How many passthrough buckets keep their clients; the least recently used is dropped
    /// past it (at least 1). Default: [`DEFAULT_PASSTHROUGH_CACHE_SIZE`].
    #[must_use]
    pub fn with_passthrough_cache_size(mut self, size: usize) -> Self {
        self.cache_size = size.max(1);
        self
    }

    /// Only these buckets are reachable in passthrough mode; other captured names answer
    /// [`Error::NotFound`] without any request. Default: every bucket.
    #[must_use]
    pub fn with_passthrough_allow_list<I, S>(mut self, buckets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow_list = Some(buckets.into_iter().map(Into::into).collect());
        self
    }

    /// Validates the configuration and creates one client per configured bucket.
    ///
    /// # Errors
    ///
    /// A [`RouterConfigError`] when the pattern or a bucket entry is not valid, or an entry's
    /// client cannot be built (for example an endpoint that is not an http(s) URL).
    pub fn build(self) -> Result<BucketRouter, RouterConfigError> {
        let config = self.config;
        let pattern = config.validate()?;
        let has_path = pattern.capture_names().any(|name| name == Some("path"));
        let mut buckets = BTreeMap::new();
        let mut add = |field: &str, entry: &BucketConfig| -> Result<String, RouterConfigError> {
            if !buckets.contains_key(&entry.name) {
                let loader = bucket_options(&self.template, entry)
                    .build()
                    .map(|backend| S3Loader::new(backend).max_size(self.max_size))
                    .map_err(|err| RouterConfigError::Invalid {
                        path: None,
                        line: None,
                        field: Some(field.to_owned()),
                        message: err.message(),
                    })?;
                let routed = Routed {
                    config: entry.clone(),
                    loader,
                };
                buckets.insert(entry.name.clone(), routed);
            }
            Ok(entry.name.clone())
        };
        let default = match &config.default_bucket {
            Some(entry) => Some(add("default_bucket", entry)?),
            None => None,
        };
        let mut rules = HashMap::new();
        for rule in &config.rules {
            let name = add("rules.bucket", &rule.bucket)?;
            rules.insert(rule.matches.clone(), name);
        }
        let mut fallbacks = Vec::new();
        for entry in config.fallback_buckets.iter().take(MAX_FALLBACK_BUCKETS) {
            fallbacks.push(add("fallback_buckets", entry)?);
        }
        let inner = Inner {
            pattern,
            has_path,
            buckets,
            rules,
            default,
            fallbacks,
            template: self.template,
            max_size: self.max_size,
            allow_list: self.allow_list,
            passthrough: BoundedCache::new(self.cache_size),
        };
        Ok(BucketRouter {
            inner: Arc::new(inner),
        })
    }
}

/// The options of one configured bucket: the template with the entry's settings on top.
fn bucket_options(template: &S3Options, entry: &BucketConfig) -> S3Options {
    let mut options = template.clone();
    options.bucket.clone_from(&entry.name);
    if let Some(endpoint) = entry.endpoint.as_deref().filter(|e| !e.is_empty()) {
        options = options.with_endpoint(endpoint);
    }
    // The entry's keys come with the entry's session token only, never the loader-wide one.
    options.with_credential_levels(None, None, Some(&entry.credentials()))
}

/// Which loader serves a key.
enum Target<'a> {
    Configured(&'a str),
    Passthrough(String),
}

impl BucketRouter {
    /// A builder for `config`.
    pub fn builder(config: RouterConfig) -> BucketRouterBuilder {
        BucketRouterBuilder {
            config,
            template: S3Options::new(""),
            max_size: DEFAULT_MAX_SIZE,
            cache_size: DEFAULT_PASSTHROUGH_CACHE_SIZE,
            allow_list: None,
        }
    }

    /// A router for the routing file at `path`, with the loader-wide `options`.
    ///
    /// # Errors
    ///
    /// See [`RouterConfig::from_file`] and [`BucketRouterBuilder::build`]; errors name the
    /// file.
    pub fn from_file(
        path: impl AsRef<Path>,
        options: S3Options,
    ) -> Result<Self, RouterConfigError> {
        let path = path.as_ref();
        Self::builder(RouterConfig::from_file(path)?)
            .with_options(options)
            .build()
            .map_err(|err| err.in_file(path))
    }

    /// The text captured by the `bucket` group for `key` (one leading `/` removed), or `""`
    /// when the pattern does not match.
    pub fn bucket_name_for<'k>(&self, key: &'k str) -> &'k str {
        let trimmed = key.strip_prefix('/').unwrap_or(key);
        self.inner
            .pattern
            .captures(trimmed)
            .and_then(|captures| captures.name("bucket"))
            .map_or("", |group| group.as_str())
    }

    /// The configured bucket `key` routes to: its rule's, else the default. `None` means
    /// passthrough (no rule matched and there is no default bucket).
    pub fn config_for(&self, key: &str) -> Option<&BucketConfig> {
        self.configured_name(key).and_then(|name| self.bucket(name))
    }

    /// The object key for `key`: the `path` group's text when it captured something, else
    /// `key` unchanged.
    pub fn key_for<'k>(&self, key: &'k str) -> &'k str {
        if !self.inner.has_path {
            return key;
        }
        let trimmed = key.strip_prefix('/').unwrap_or(key);
        self.inner
            .pattern
            .captures(trimmed)
            .and_then(|captures| captures.name("path"))
            .map(|group| group.as_str())
            .filter(|path| !path.is_empty())
            .unwrap_or(key)
    }

    /// The configured entry of bucket `name`.
    pub fn bucket(&self, name: &str) -> Option<&BucketConfig> {
        self.inner.buckets.get(name).map(|routed| &routed.config)
    }

    /// The names of the configured buckets (each has its client), sorted.
    pub fn buckets(&self) -> Vec<&str> {
        self.inner.buckets.keys().map(String::as_str).collect()
    }

    /// The fallback buckets, in the order they are tried.
    pub fn fallbacks(&self) -> Vec<&str> {
        self.inner.fallbacks.iter().map(String::as_str).collect()
    }

    /// The passthrough buckets that currently have a client, sorted.
    pub fn passthrough_buckets(&self) -> Vec<String> {
        self.inner.passthrough.names()
    }

    /// Routes `key` without fetching: the bucket and the object key (before the loader's
    /// key mapping). In passthrough mode this creates (and caches) the bucket's client.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the key routes nowhere or to a bucket outside the
    /// passthrough allow-list; [`Error::Invalid`] when the captured bucket is not a
    /// plausible bucket name; an [`Error::Internal`] when its client cannot be built.
    pub fn route(&self, key: &str) -> Result<Route, Error> {
        let (target, object_key) = self.target(key)?;
        let bucket = match target {
            Target::Configured(name) => name.to_owned(),
            Target::Passthrough(name) => {
                self.passthrough_loader(&name)?;
                name
            }
        };
        Ok(Route {
            bucket,
            key: object_key.to_owned(),
        })
    }

    /// Loads the object for `key` (see the [type docs](Self)).
    ///
    /// # Errors
    ///
    /// [`route`](Self::route)'s errors, and the bucket loaders' (see [`S3Loader`]);
    /// [`Error::NotFound`] when neither the chosen bucket nor any fallback has the object.
    pub async fn load(&self, key: &str) -> Result<Blob, Error> {
        let (target, object_key) = self.target(key)?;
        let (tried, loader) = match target {
            Target::Configured(name) => match self.inner.buckets.get(name) {
                Some(routed) => (name.to_owned(), routed.loader.clone()),
                None => return Err(Error::NotFound),
            },
            Target::Passthrough(name) => {
                let loader = self.passthrough_loader(&name)?;
                (name, loader)
            }
        };
        match loader.load(object_key).await {
            Err(Error::NotFound) => {}
            other => return other,
        }
        for fallback in self.inner.fallbacks.iter().filter(|name| **name != tried) {
            let Some(routed) = self.inner.buckets.get(fallback) else {
                continue;
            };
            match routed.loader.load(object_key).await {
                Err(Error::NotFound) => {
                    tracing::debug!(bucket = %fallback, key = %object_key, "not in fallback bucket");
                }
                other => return other,
            }
        }
        Err(Error::NotFound)
    }

    /// The configured bucket name chosen by rule or default, or `None` for passthrough.
    fn configured_name(&self, key: &str) -> Option<&str> {
        let captured = self.bucket_name_for(key);
        let inner = &self.inner;
        let by_rule = if self.matches(key) {
            inner.rules.get(captured)
        } else {
            None
        };
        by_rule.or(inner.default.as_ref()).map(String::as_str)
    }

    fn matches(&self, key: &str) -> bool {
        let trimmed = key.strip_prefix('/').unwrap_or(key);
        self.inner.pattern.is_match(trimmed)
    }

    fn target<'k>(&self, key: &'k str) -> Result<(Target<'_>, &'k str), Error> {
        let object_key = self.key_for(key);
        if let Some(name) = self.configured_name(key) {
            return Ok((Target::Configured(name), object_key));
        }
        let captured = self.bucket_name_for(key);
        if captured.is_empty() {
            return Err(Error::NotFound);
        }
        if !is_bucket_name(captured) {
            return Err(Error::Invalid);
        }
        if let Some(allowed) = &self.inner.allow_list
            && !allowed.contains(captured)
        {
            return Err(Error::NotFound);
        }
        Ok((Target::Passthrough(captured.to_owned()), object_key))
    }

    /// The cached passthrough loader of `bucket`, created on first use.
    fn passthrough_loader(&self, bucket: &str) -> Result<S3Loader, Error> {
        let inner = &self.inner;
        inner.passthrough.get_or_try_insert(bucket, || {
            let mut options = inner.template.clone();
            options.bucket = bucket.to_owned();
            Ok(S3Loader::new(options.build()?).max_size(inner.max_size))
        })
    }
}

impl fmt::Debug for BucketRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("BucketRouter")
            .field("pattern", &inner.pattern.as_str())
            .field("buckets", &inner.buckets.keys().collect::<Vec<_>>())
            .field("rules", &inner.rules)
            .field("default", &inner.default)
            .field("fallbacks", &inner.fallbacks)
            .field("allow_list", &inner.allow_list)
            .finish_non_exhaustive()
    }
}

impl Service<SourceRequest> for BucketRouter {
    type Response = Blob;
    type Error = Error;
    type Future = LoadFuture;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: SourceRequest) -> Self::Future {
        let router = self.clone();
        Box::pin(async move { router.load(req.key()).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(config: RouterConfig) -> BucketRouter {
        BucketRouter::builder(config).build().unwrap()
    }

    #[test]
    fn rules_default_and_passthrough() {
        let routed = router(
            RouterConfig::new("^[a-f0-9]{4}-(?P<bucket>[A-Z]{2})-")
                .with_rule(RoutingRule::new("SG", BucketConfig::new("sg")))
                .with_default_bucket(BucketConfig::new("main")),
        );
        assert_eq!(routed.route("abc1-SG-x.jpg").unwrap().bucket, "sg");
        assert_eq!(
            routed.route("/abc1-SG-x.jpg").unwrap().key,
            "/abc1-SG-x.jpg"
        );
        assert_eq!(routed.route("abc1-JP-x.jpg").unwrap().bucket, "main");
        assert_eq!(routed.route("x.jpg").unwrap().bucket, "main");

        let pass = router(RouterConfig::new(r"^(?P<bucket>[^/]+)/(?P<path>.+)$"));
        assert_eq!(pass.buckets(), Vec::<&str>::new());
        let route = pass.route("/site/a/b.jpg").unwrap();
        assert_eq!(
            (route.bucket.as_str(), route.key.as_str()),
            ("site", "a/b.jpg")
        );
        assert_eq!(pass.passthrough_buckets(), ["site"]);
        assert!(matches!(pass.route("nothing"), Err(Error::NotFound)));
        assert!(matches!(pass.route("bad name/x.jpg"), Err(Error::Invalid)));
    }

    #[test]
    fn rules_may_exist_in_passthrough_mode() {
        let routed = router(
            RouterConfig::new(r"^(?P<bucket>[^/]+)/(?P<path>.+)$")
                .with_rule(RoutingRule::new("a", BucketConfig::new("bucket-a"))),
        );
        assert_eq!(routed.route("a/x.jpg").unwrap().bucket, "bucket-a");
        assert_eq!(routed.route("b/x.jpg").unwrap().bucket, "b");
        assert!(routed.config_for("b/x.jpg").is_none());
    }

    #[test]
    fn last_rule_wins_and_first_entry_names_the_client() {
        let routed = router(
            RouterConfig::new("^(?P<bucket>[A-Z]+)-")
                .with_default_bucket(BucketConfig::new("one").with_region("us-east-1"))
                .with_rule(RoutingRule::new("X", BucketConfig::new("two")))
                .with_rule(RoutingRule::new("X", BucketConfig::new("three")))
                .with_rule(RoutingRule::new(
                    "Y",
                    BucketConfig::new("one").with_region("eu-west-1"),
                )),
        );
        assert_eq!(routed.route("X-a").unwrap().bucket, "three");
        assert_eq!(routed.buckets(), ["one", "three", "two"]);
        let one = routed.bucket("one").unwrap();
        assert_eq!(one.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn empty_path_capture_keeps_the_key() {
        let routed = router(
            RouterConfig::new(r"^(?P<bucket>[a-z]+)/?(?P<path>.*)$")
                .with_default_bucket(BucketConfig::new("d")),
        );
        assert_eq!(routed.key_for("abc"), "abc");
        assert_eq!(routed.key_for("/abc/x"), "x");
    }

    #[test]
    fn passthrough_cache_is_bounded_and_allow_list_refuses() {
        let routed = BucketRouter::builder(RouterConfig::new(r"^(?P<bucket>[^/]+)/"))
            .with_passthrough_cache_size(2)
            .build()
            .unwrap();
        for bucket in ["a", "b", "a", "c", "d"] {
            routed.route(&format!("{bucket}/k.jpg")).unwrap();
        }
        assert_eq!(routed.passthrough_buckets(), ["c", "d"]);

        let allowed = BucketRouter::builder(RouterConfig::new(r"^(?P<bucket>[^/]+)/"))
            .with_passthrough_allow_list(["ok"])
            .build()
            .unwrap();
        assert!(allowed.route("ok/k.jpg").is_ok());
        assert!(matches!(allowed.route("other/k.jpg"), Err(Error::NotFound)));
        assert_eq!(allowed.passthrough_buckets(), ["ok"]);
    }

    #[test]
    fn lru_keeps_recently_used_clients() {
        let routed = BucketRouter::builder(RouterConfig::new(r"^(?P<bucket>[^/]+)/"))
            .with_passthrough_cache_size(2)
            .build()
            .unwrap();
        for bucket in ["a", "b", "a", "c"] {
            routed.route(&format!("{bucket}/k.jpg")).unwrap();
        }
        assert_eq!(routed.passthrough_buckets(), ["a", "c"]);
    }

    #[test]
    fn configurations_built_in_code_are_validated() {
        let err = BucketRouter::builder(RouterConfig::new("^(x"))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), Some("routing_pattern"));
        let err = BucketRouter::builder(RouterConfig::new("^x"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("(?P<bucket>...)"), "{err}");
        let err = BucketRouter::builder(
            RouterConfig::new("^(?P<bucket>x)").with_fallback_bucket(BucketConfig::new("")),
        )
        .build()
        .unwrap_err();
        assert_eq!(err.field(), Some("fallback_buckets.name"));
        let err = BucketRouter::builder(
            RouterConfig::new("^(?P<bucket>x)")
                .with_default_bucket(BucketConfig::new("b").with_endpoint("ftp://x")),
        )
        .build()
        .unwrap_err();
        assert_eq!(err.field(), Some("default_bucket"));
        assert!(err.to_string().contains("ftp://x"), "{err}");
    }

    #[test]
    fn entry_credentials_need_id_and_secret() {
        let mut half = BucketConfig::new("b");
        half.access_key_id = Some("id".to_owned());
        assert!(half.credentials().static_keys().is_none());
        let full = BucketConfig::new("b")
            .with_access_key("id", "secret")
            .with_session_token("token");
        let credentials = full.credentials();
        let (id, secret, token) = credentials.static_keys().unwrap();
        assert_eq!(
            (id, secret.expose(), token.map(|token| token.expose())),
            ("id", "secret", Some("token"))
        );
        let debug = format!("{full:?}");
        assert!(
            !debug.contains("secret\"") && !debug.contains("token\""),
            "{debug}"
        );
    }
}
