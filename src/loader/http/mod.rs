//! [`HttpLoader`]: source images over HTTP(S) (imagor's `HTTP_LOADER_*` settings).
//!
//! The image key is turned into a URL (`SERVER.md` §5.3): under the base URL when one is
//! set; a full `http(s)://` key as is; otherwise the default scheme (`https`) is prefixed,
//! unless the key contains a `%XX` escape, which marks it as a file name for other loaders
//! ([`Error::Invalid`]). The fragment is dropped and the path cleaned, then the allow-list
//! (host globs OR URL regexp) is checked, on the first URL and on every redirect hop (at
//! most 10): a miss answers [`Error::SourceNotAllowed`]. The regexp must match the whole
//! URL or the whole `host[:port]`: `example\.com` allows `https://example.com/a.jpg` but not
//! `https://evil-example.com.attacker.net/a.jpg`.
//!
//! By default the loader never connects to loopback, private (including CGNAT
//! `100.64.0.0/10` and benchmarking `198.18.0.0/15`), link-local or cloud-metadata
//! addresses. The check runs on the address actually dialled, after DNS resolution, on the
//! first request and on every redirect hop, and IPv6 forms that carry an IPv4 address
//! (`::ffff:127.0.0.1`) are checked as that address; a refusal answers
//! [`Error::UnauthorizedRequest`] before any connection is made. Each category is opened with
//! its `with_block_*_networks(false)` setting (the metadata addresses go with link-local),
//! and [`HttpLoaderBuilder::with_allowed_networks`] opens single networks.
//!
//! Requests carry `User-Agent: imagor-tower/<version>`, the configured `Accept`, the
//! forwarded client headers and the fixed override headers, in that order (later ones
//! win). Hop-by-hop headers, `Host`, `Content-Length` and `Accept-Encoding` are never
//! forwarded.
//!
//! Answers:
//!
//! | upstream | loader |
//! | --- | --- |
//! | status ≥ 400 | that status, with its reason phrase (`Not Found`) |
//! | `Content-Type` not matching the accept globs | [`Error::UnsupportedFormat`] |
//! | body over [`HttpLoaderBuilder::with_max_allowed_size`] (default [`DEFAULT_MAX_SIZE`]) | [`Error::MaxSizeExceeded`] |
//! | connection refused, DNS failure, TLS failure | 404 `dial tcp: <reason>: <url>` |
//! | address in a blocked network | [`Error::UnauthorizedRequest`] with the URL |
//! | deadline passed | [`Error::Timeout`] |
//! | anything else | 500 with a fixed message and the URL |
//!
//! Error messages name the URL the client asked for and a fixed reason (`connection
//! refused`, `no such host`, `connection failed`), never a resolved address, a redirect
//! target or the system's error text; the details go to the `tracing` debug log.
//!
//! gzip bodies are decompressed; the blob keeps the upstream content type (sniffed when the
//! upstream sent none) and a [`Stat`] from `Last-Modified`, `ETag` and the body size. Use
//! [`is_image_content_type`](crate::loader::is_image_content_type) on that content type
//! before passing a body through unprocessed.
//!
//! Differences from imagor, all on the safe side: blocking is on and the size is limited by
//! default; the maximum size is enforced on the decompressed bytes while the body streams
//! in (after a check of the declared `Content-Length`), without imagor's extra HEAD request,
//! so a server that lies (or a gzip bomb) cannot push more; the allow-list regexp is
//! anchored; `..` in a key cannot climb above the base URL's path; the loopback option also
//! covers `0.0.0.0/8`.
//!
//! # Example
//!
//! ```
//! use imagor_tower::loader::{HttpLoader, SourceRequest};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let loader = HttpLoader::builder()
//!     .with_allowed_sources(["*.example.com"])
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     loader.source_url("img.example.com/cat.jpg#x").unwrap(),
//!     "https://img.example.com/cat.jpg",
//! );
//!
//! // Refused before any connection is made.
//! let err = loader.clone().oneshot(SourceRequest::new("https://elsewhere.org/a.jpg")).await.unwrap_err();
//! assert_eq!(err.to_json(), r#"{"message":"http source not allowed","status":403}"#);
//!
//! // Internal addresses are refused by default, before any connection is made.
//! let open = HttpLoader::new().unwrap();
//! let err = open.oneshot(SourceRequest::new("http://169.254.169.254/latest")).await.unwrap_err();
//! assert_eq!(
//!     err.to_json(),
//!     r#"{"message":"unauthorized request: http://169.254.169.254/latest","status":403}"#,
//! );
//! # });
//! ```

mod glob;
mod network;
mod source;

use self::glob::Glob;
use self::network::{Blocked, BlockingResolver, Cidr, LookupFailed, NetworkPolicy};
use self::source::{AllowList, UrlRules, literal_ip, shown_url};
use super::SourceRequest;
use crate::Error;
use crate::blob::{Blob, Stat};
pub use crate::loader::file::DEFAULT_MAX_SIZE;
use crate::loader::file::sniff_content_type;
use bytes::BytesMut;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use regex::Regex;
use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};
use std::error::Error as StdError;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The `User-Agent` sent upstream unless configured otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("imagor-tower/", env!("CARGO_PKG_VERSION"));

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Headers never copied from the client request.
const NOT_FORWARDED: [HeaderName; 11] = [
    header::HOST,
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::CONTENT_LENGTH,
    header::ACCEPT_ENCODING,
    header::EXPECT,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
];

/// Loads source images over HTTP(S).
///
/// Built with [`HttpLoader::builder`]; cloning is cheap and all clones share one connection
/// pool. See the [module docs](self) for the rules and an example. Its `Debug` output shows
/// neither proxy credentials nor the values of the fixed override headers.
#[derive(Clone, Debug)]
pub struct HttpLoader {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// One client per proxy, or a single direct one.
    routes: Vec<Route>,
    guard: Arc<Guard>,
    rules: UrlRules,
    forward: Forward,
    /// Values marked sensitive, so `Debug` hides them.
    override_headers: HeaderMap,
    response_headers: Vec<HeaderName>,
    user_agent: HeaderValue,
    accept: Option<HeaderValue>,
    accept_types: Vec<Glob>,
    max_allowed_size: u64,
    timeout: Option<Duration>,
    picks: AtomicU64,
}

/// A client and the proxy it sends through (when the host matches the proxy hosts).
struct Route {
    client: reqwest::Client,
    proxy: Option<Url>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field(
                "proxy",
                &self.proxy.as_ref().map(|url| redact_userinfo(url.as_str())),
            )
            .finish_non_exhaustive()
    }
}

/// `url` with any `user:password@` replaced by `<redacted>@`.
fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let host = &authority[at + 1..];
    match scheme {
        Some(scheme) => format!("{scheme}://<redacted>@{host}{tail}"),
        None => format!("<redacted>@{host}{tail}"),
    }
}

/// What every URL (first request and each redirect hop) must pass.
#[derive(Debug)]
struct Guard {
    allow: AllowList,
    network: Arc<NetworkPolicy>,
    /// Hosts sent through the proxy; empty means all.
    proxy_hosts: Vec<Glob>,
}

/// Which client headers go upstream.
#[derive(Clone, Debug)]
enum Forward {
    Named(Vec<HeaderName>),
    All,
}

/// Why a URL is refused; travels through reqwest's redirect handling as an error source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NotAllowed,
    Blocked,
    TooManyRedirects,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAllowed => "http source not allowed",
            Self::Blocked => "unauthorized request",
            Self::TooManyRedirects => "stopped after 10 redirects",
        })
    }
}

impl StdError for Refusal {}

impl Refusal {
    fn into_error(self, image: &str) -> Error {
        match self {
            Self::NotAllowed => Error::SourceNotAllowed,
            Self::Blocked => Error::UnauthorizedRequest(image.to_owned()),
            Self::TooManyRedirects => Error::internal(format!("{self}: {image}")),
        }
    }
}

impl Guard {
    /// Whether `url`'s host goes through the proxy (when there is one).
    fn proxied(&self, url: &Url) -> bool {
        let host = source::host_port(url);
        self.proxy_hosts.is_empty() || self.proxy_hosts.iter().any(|g| g.matches(&host))
    }

    /// Checks the allow-list, and the dialled address when it is an IP literal (names are
    /// checked by the resolver).
    fn check(&self, url: &Url, proxy: Option<&Url>) -> Result<(), Refusal> {
        if !self.allow.allows(url) {
            return Err(Refusal::NotAllowed);
        }
        let dialled = match proxy {
            Some(proxy) if self.proxied(url) => proxy,
            _ => url,
        };
        match literal_ip(dialled) {
            Some(ip) if self.network.blocks(ip) => Err(Refusal::Blocked),
            _ => Ok(()),
        }
    }
}

impl HttpLoader {
    /// A builder with the default settings (see [`HttpLoaderBuilder::new`]).
    pub fn builder() -> HttpLoaderBuilder {
        HttpLoaderBuilder::new()
    }

    /// A loader with the default settings: any public host, `https` default scheme,
    /// [`DEFAULT_MAX_SIZE`], loopback, private, link-local and metadata addresses refused.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be created (TLS initialisation).
    pub fn new() -> Result<Self, Error> {
        HttpLoaderBuilder::new().build()
    }

    /// The URL that would be fetched for `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for keys that are not URLs for this loader,
    /// [`Error::SourceNotAllowed`] for URLs outside the allow-list.
    pub fn source_url(&self, key: &str) -> Result<String, Error> {
        self.checked_url(key).map(String::from)
    }

    fn checked_url(&self, key: &str) -> Result<Url, Error> {
        let url = self.inner.rules.url_for(key)?;
        if !self.inner.guard.allow.allows(&url) {
            return Err(Error::SourceNotAllowed);
        }
        Ok(url)
    }

    /// Loads the image `req.key()`, forwarding headers from `req.headers()`.
    ///
    /// # Errors
    ///
    /// See the table in the [module docs](self).
    pub async fn load(&self, req: &SourceRequest) -> Result<Blob, Error> {
        match self.inner.timeout {
            Some(limit) => tokio::time::timeout(limit, self.fetch(req)).await?,
            None => self.fetch(req).await,
        }
    }

    /// The upstream's stat for `req.key()`, from a HEAD request: only when `Last-Modified`
    /// parses (with the `ETag` and `Content-Length` when present).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is no usable `Last-Modified`; otherwise as
    /// [`HttpLoader::load`].
    pub async fn stat(&self, req: &SourceRequest) -> Result<Stat, Error> {
        let head = async {
            let (url, route) = self.prepare(req.key())?;
            let image = shown_url(&url);
            let response = route
                .client
                .head(url)
                .headers(self.request_headers(req.headers()))
                .send()
                .await
                .map_err(|err| send_error(err, &image))?;
            check_status(response.status())?;
            let headers = response.headers();
            let modified = header_str(headers, &header::LAST_MODIFIED)
                .and_then(|text| httpdate::parse_http_date(text).ok())
                .ok_or(Error::NotFound)?;
            let mut stat = Stat::new().with_modified(modified);
            if let Some(etag) = header_str(headers, &header::ETAG) {
                stat = stat.with_etag(etag);
            }
            if let Some(size) = content_length(headers) {
                stat = stat.with_size(size);
            }
            Ok(stat)
        };
        match self.inner.timeout {
            Some(limit) => tokio::time::timeout(limit, head).await?,
            None => head.await,
        }
    }

    /// The checked URL and the route (client and proxy) for `key`.
    fn prepare(&self, key: &str) -> Result<(Url, &Route), Error> {
        let url = self.checked_url(key)?;
        let route = self.pick_route();
        self.inner
            .guard
            .check(&url, route.proxy.as_ref())
            .map_err(|refusal| refusal.into_error(&shown_url(&url)))?;
        Ok((url, route))
    }

    /// One route, at random when there are several proxies.
    fn pick_route(&self) -> &Route {
        let routes = &self.inner.routes;
        let index = if routes.len() > 1 {
            let nonce = self.inner.picks.fetch_add(1, Ordering::Relaxed);
            let random = RandomState::new().hash_one(nonce);
            usize::try_from(random % routes.len() as u64).unwrap_or(0)
        } else {
            0
        };
        &routes[index.min(routes.len().saturating_sub(1))]
    }

    async fn fetch(&self, req: &SourceRequest) -> Result<Blob, Error> {
        let inner = &self.inner;
        let (url, route) = self.prepare(req.key())?;
        let image = shown_url(&url);
        let headers = self.request_headers(req.headers());

        let mut response = route
            .client
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|err| send_error(err, &image))?;
        check_status(response.status())?;
        let response_headers = response.headers().clone();
        let content_type = header_str(response.headers(), &header::CONTENT_TYPE).map(str::to_owned);
        if !self.accepts(content_type.as_deref()) {
            return Err(Error::UnsupportedFormat);
        }
        let mut stat = Stat::new();
        if let Some(modified) = header_str(response.headers(), &header::LAST_MODIFIED)
            .and_then(|text| httpdate::parse_http_date(text).ok())
        {
            stat = stat.with_modified(modified);
        }
        if let Some(etag) = header_str(response.headers(), &header::ETAG) {
            stat = stat.with_etag(etag);
        }

        // Without gzip, reqwest reports the declared length; refuse before reading. With
        // gzip it reports none, and the loop below counts decompressed bytes.
        let limit = inner.max_allowed_size;
        let declared = response.content_length();
        if limit > 0 && declared.is_some_and(|len| len > limit) {
            return Err(Error::MaxSizeExceeded);
        }
        let capacity = declared
            .unwrap_or(0)
            .min(if limit > 0 { limit } else { 1 << 20 });
        let mut body = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| body_error(err, &image))?
        {
            let total = u64::try_from(body.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
            if limit > 0 && total > limit {
                return Err(Error::MaxSizeExceeded);
            }
            body.extend_from_slice(&chunk);
        }
        let bytes = body.freeze();
        stat = stat.with_size(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        let content_type = content_type.or_else(|| sniff_content_type(&bytes).map(str::to_owned));
        let mut blob = Blob::new(bytes).with_stat(stat);
        if !inner.response_headers.is_empty() {
            let mut copied = HeaderMap::new();
            for name in &inner.response_headers {
                for value in response_headers.get_all(name) {
                    copied.append(name.clone(), value.clone());
                }
            }
            blob = blob.with_headers(copied);
        }
        if let Some(content_type) = content_type {
            blob = blob.with_content_type(content_type);
        }
        Ok(blob)
    }

    /// The upstream request headers: user agent, accept, forwarded, overrides.
    fn request_headers(&self, client: &HeaderMap) -> HeaderMap {
        let inner = &self.inner;
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, inner.user_agent.clone());
        if let Some(accept) = &inner.accept {
            headers.insert(header::ACCEPT, accept.clone());
        }
        let mut copy = |name: &HeaderName| {
            if NOT_FORWARDED.contains(name) || !client.contains_key(name) {
                return;
            }
            headers.remove(name);
            for value in client.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        };
        match &inner.forward {
            Forward::Named(names) => names.iter().for_each(&mut copy),
            Forward::All => client.keys().for_each(&mut copy),
        }
        for name in inner.override_headers.keys() {
            headers.remove(name);
            for value in inner.override_headers.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers
    }

    /// Whether the upstream content type matches the accept globs. A missing content type
    /// passes only when `*/*` is accepted.
    fn accepts(&self, content_type: Option<&str>) -> bool {
        let types = &self.inner.accept_types;
        if types.is_empty() {
            return true;
        }
        match content_type.map(media_type).filter(|t| !t.is_empty()) {
            Some(media) => types.iter().any(|glob| glob.matches(&media)),
            None => types.iter().any(|glob| glob.as_str() == "*/*"),
        }
    }
}

crate::loader::leaf_loader_service!(HttpLoader, |loader, req| loader.load(&req));

/// `type/subtype` of a `Content-Type` or accept item: parameters dropped, lower case.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, &header::CONTENT_LENGTH).and_then(|text| text.trim().parse().ok())
}

/// Status ≥ 400 becomes an error with that status and its reason phrase.
fn check_status(status: StatusCode) -> Result<(), Error> {
    if status.as_u16() >= 400 {
        Err(Error::status_message(
            status,
            status.canonical_reason().unwrap_or(""),
        ))
    } else {
        Ok(())
    }
}

/// Every error of a chain, outermost first, looking inside `io::Error`s too (their
/// `source` skips the error they wrap).
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut found = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        found.push(err);
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            found.extend(causes(inner));
            break;
        }
        current = err.source();
    }
    found
}

/// Finds one of our refusals in an error's source chain.
fn refusal_in(err: &(dyn StdError + 'static)) -> Option<Refusal> {
    causes(err).into_iter().find_map(|cause| {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            Some(*refusal)
        } else if cause.is::<Blocked>() {
            Some(Refusal::Blocked)
        } else {
            None
        }
    })
}

/// The kind of the first `io::Error` in the chain.
fn io_kind_in(err: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    causes(err)
        .into_iter()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
}

/// The innermost message of an error chain (the actual cause), for logs only.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    causes(err)
        .last()
        .map_or_else(String::new, ToString::to_string)
}

/// A 500 with a fixed message; the cause is kept as the source, for logs only.
fn upstream_failure(message: String, err: reqwest::Error) -> Error {
    Error::Internal {
        message,
        source: Some(Box::new(err)),
    }
}

/// Maps a failed request: refusals, timeouts, connection failures (404 `dial tcp: …`).
/// Messages carry the client's URL and a fixed reason, never an address or the system's
/// text (which can name a redirect target or a resolved address).
fn send_error(err: reqwest::Error, image: &str) -> Error {
    if let Some(refusal) = refusal_in(&err) {
        return refusal.into_error(image);
    }
    if err.is_timeout() || io_kind_in(&err) == Some(std::io::ErrorKind::TimedOut) {
        return Error::Timeout;
    }
    tracing::debug!(url = image, cause = %root_cause(&err), "http loader request failed");
    if err.is_connect() {
        let reason = if causes(&err).iter().any(|cause| cause.is::<LookupFailed>()) {
            "no such host"
        } else if io_kind_in(&err) == Some(std::io::ErrorKind::ConnectionRefused) {
            "connection refused"
        } else {
            "connection failed"
        };
        return Error::status_message(
            StatusCode::NOT_FOUND,
            format!("dial tcp: {reason}: {image}"),
        );
    }
    upstream_failure(format!("upstream request failed: {image}"), err)
}

/// Maps a failure while reading the body.
fn body_error(err: reqwest::Error, image: &str) -> Error {
    if err.is_timeout() {
        return Error::Timeout;
    }
    tracing::debug!(url = image, cause = %root_cause(&err), "http loader body failed");
    upstream_failure(format!("reading the upstream body failed: {image}"), err)
}

/// A setting that did not validate at [`HttpLoaderBuilder::build`].
#[derive(Debug)]
struct ConfigError {
    setting: &'static str,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http loader setting {}: {}", self.setting, self.message)
    }
}

impl StdError for ConfigError {}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Self {
        Error::internal(err)
    }
}

fn config_error(setting: &'static str, message: impl fmt::Display) -> ConfigError {
    ConfigError {
        setting,
        message: message.to_string(),
    }
}

/// Builds an [`HttpLoader`]; every setting is checked by [`build`](Self::build).
///
/// Each `with_*` method is named after an imagor setting (given in its docs). List settings
/// take the items already split; blank items are ignored and items are trimmed.
///
/// ```
/// use imagor_tower::loader::HttpLoader;
/// use std::time::Duration;
///
/// let loader = HttpLoader::builder()
///     .with_allowed_sources("*.example.com, cdn.io".split(','))
///     .with_max_allowed_size(20 << 20)
///     .with_accept("image/*")
///     .with_forward_headers(["Authorization"])
///     .with_block_private_networks(false)
///     .with_block_networks(["10.0.0.0/8"])
///     .with_allowed_networks(["10.20.0.0/16"])
///     .with_timeout(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// # let _ = loader;
///
/// let err = HttpLoader::builder().with_block_networks(["10.0.0.0/33"]).build().unwrap_err();
/// assert!(err.message().contains("HTTP_LOADER_BLOCK_NETWORKS"));
///
/// // Debug output hides proxy credentials and override header values.
/// let builder = HttpLoader::builder()
///     .with_proxy_urls(["http://user:hunter2@proxy.internal:3128"])
///     .with_override_header("Authorization", "Bearer hunter2");
/// assert!(!format!("{builder:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
pub struct HttpLoaderBuilder {
    forward_headers: Vec<String>,
    forward_client_headers: bool,
    override_headers: Vec<(String, String)>,
    response_headers: Vec<String>,
    allowed_sources: Vec<String>,
    allowed_source_regexp: Option<String>,
    max_allowed_size: u64,
    insecure_skip_verify_transport: bool,
    base_url: Option<String>,
    default_scheme: String,
    accept: String,
    proxy_urls: Vec<String>,
    proxy_allowed_sources: Vec<String>,
    block_loopback_networks: bool,
    block_private_networks: bool,
    block_link_local_networks: bool,
    block_networks: Vec<String>,
    allowed_networks: Vec<String>,
    user_agent: String,
    timeout: Option<Duration>,
}

impl fmt::Debug for HttpLoaderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy_urls: Vec<String> = self
            .proxy_urls
            .iter()
            .map(|url| redact_userinfo(url))
            .collect();
        let override_headers: Vec<(&str, &str)> = self
            .override_headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("HttpLoaderBuilder")
            .field("forward_headers", &self.forward_headers)
            .field("forward_client_headers", &self.forward_client_headers)
            .field("override_headers", &override_headers)
            .field("response_headers", &self.response_headers)
            .field("allowed_sources", &self.allowed_sources)
            .field("allowed_source_regexp", &self.allowed_source_regexp)
            .field("max_allowed_size", &self.max_allowed_size)
            .field(
                "insecure_skip_verify_transport",
                &self.insecure_skip_verify_transport,
            )
            .field("base_url", &self.base_url.as_deref().map(redact_userinfo))
            .field("default_scheme", &self.default_scheme)
            .field("accept", &self.accept)
            .field("proxy_urls", &proxy_urls)
            .field("proxy_allowed_sources", &self.proxy_allowed_sources)
            .field("block_loopback_networks", &self.block_loopback_networks)
            .field("block_private_networks", &self.block_private_networks)
            .field("block_link_local_networks", &self.block_link_local_networks)
            .field("block_networks", &self.block_networks)
            .field("allowed_networks", &self.allowed_networks)
            .field("user_agent", &self.user_agent)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for HttpLoaderBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn items<I, S>(list: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    list.into_iter()
        .map(|item| item.as_ref().trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

impl HttpLoaderBuilder {
    /// The defaults: any public host, `https` default scheme, `Accept: */*`, at most
    /// [`DEFAULT_MAX_SIZE`] bytes, loopback, private, link-local and metadata addresses
    /// refused, no timeout of its own.
    ///
    /// imagor's defaults differ: no size limit and no network blocking. Get those with
    /// `with_max_allowed_size(0)` and the three `with_block_*_networks(false)`.
    pub fn new() -> Self {
        Self {
            forward_headers: Vec::new(),
            forward_client_headers: false,
            override_headers: Vec::new(),
            response_headers: Vec::new(),
            allowed_sources: Vec::new(),
            allowed_source_regexp: None,
            max_allowed_size: DEFAULT_MAX_SIZE,
            insecure_skip_verify_transport: false,
            base_url: None,
            default_scheme: "https".to_owned(),
            accept: "*/*".to_owned(),
            proxy_urls: Vec::new(),
            proxy_allowed_sources: Vec::new(),
            block_loopback_networks: true,
            block_private_networks: true,
            block_link_local_networks: true,
            block_networks: Vec::new(),
            allowed_networks: Vec::new(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            timeout: None,
        }
    }

    /// Client request headers copied upstream when present
    /// (`HTTP_LOADER_FORWARD_HEADERS`).
    #[must_use]
    pub fn with_forward_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.forward_headers = items(names);
        self
    }

    /// Copy all client request headers upstream except `Accept-Encoding` and hop-by-hop
    /// headers; replaces the named list (`HTTP_LOADER_FORWARD_CLIENT_HEADERS`, alias
    /// `HTTP_LOADER_FORWARD_ALL_HEADERS`).
    #[must_use]
    pub fn with_forward_client_headers(mut self, enabled: bool) -> Self {
        self.forward_client_headers = enabled;
        self
    }

    /// A fixed header set on every upstream request, overriding forwarded ones (imagor's
    /// library option `WithOverrideHeaders`). Repeat for several.
    #[must_use]
    pub fn with_override_header(mut self, name: &str, value: &str) -> Self {
        self.override_headers
            .push((name.trim().to_owned(), value.to_owned()));
        self
    }

    /// Upstream response headers copied onto the final image response, overriding the
    /// service's own values (`HTTP_LOADER_OVERRIDE_RESPONSE_HEADERS`, e.g. `Cache-Control`).
    #[must_use]
    pub fn with_override_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.response_headers = items(names);
        self
    }

    /// Host globs allowed as sources, `*.example.com` style; the port is part of the host
    /// text (`HTTP_LOADER_ALLOWED_SOURCES`). Empty (with no regexp) allows any host.
    #[must_use]
    pub fn with_allowed_sources<I, S>(mut self, globs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_sources = items(globs);
        self
    }

    /// A regular expression a source must match, OR-ed with the host globs
    /// (`HTTP_LOADER_ALLOWED_SOURCE_REGEXP`). It is anchored at both ends and tried against
    /// the whole URL (`https://cdn\.example\.com/public/.*`) and the whole `host[:port]`
    /// (`(img|cdn)\.example\.com`); imagor looks for a match anywhere in the URL, so a
    /// pattern written for imagor as a prefix (`^https://cdn\.example\.com/`) needs a
    /// trailing `.*` here.
    #[must_use]
    pub fn with_allowed_source_regexp(mut self, regexp: &str) -> Self {
        let regexp = regexp.trim();
        self.allowed_source_regexp = (!regexp.is_empty()).then(|| regexp.to_owned());
        self
    }

    /// The largest source accepted, in bytes, counted after gzip decompression; `0` means no
    /// limit (`HTTP_LOADER_MAX_ALLOWED_SIZE`). Default [`DEFAULT_MAX_SIZE`] (imagor: no
    /// limit). Checked on the declared `Content-Length` before the body is read, then while
    /// it streams in; imagor's HEAD request before the GET is not sent.
    #[must_use]
    pub fn with_max_allowed_size(mut self, bytes: u64) -> Self {
        self.max_allowed_size = bytes;
        self
    }

    /// Do not verify upstream TLS certificates
    /// (`HTTP_LOADER_INSECURE_SKIP_VERIFY_TRANSPORT`).
    #[must_use]
    pub fn with_insecure_skip_verify_transport(mut self, enabled: bool) -> Self {
        self.insecure_skip_verify_transport = enabled;
        self
    }

    /// Fetch every key under this URL (`HTTP_LOADER_BASE_URL`); a scheme and host in the
    /// key are discarded, its path is appended and its query kept. Empty unsets it.
    #[must_use]
    pub fn with_base_url(mut self, base_url: &str) -> Self {
        let base_url = base_url.trim();
        self.base_url = (!base_url.is_empty()).then(|| base_url.to_owned());
        self
    }

    /// The scheme for scheme-less keys, `http` or `https` (`HTTP_LOADER_DEFAULT_SCHEME`);
    /// `nil` (or empty) makes such keys invalid.
    #[must_use]
    pub fn with_default_scheme(mut self, scheme: &str) -> Self {
        self.default_scheme = scheme.trim().to_owned();
        self
    }

    /// The upstream `Accept` header, also used to validate the upstream `Content-Type`
    /// (comma-separated media-type globs, parameters ignored) (`HTTP_LOADER_ACCEPT`).
    /// Empty sends no `Accept` and accepts anything.
    #[must_use]
    pub fn with_accept(mut self, accept: &str) -> Self {
        self.accept = accept.trim().to_owned();
        self
    }

    /// Proxy URLs (credentials allowed, never shown by `Debug`); one is picked at random per
    /// request (`HTTP_LOADER_PROXY_URLS`). With blocking on, the proxy's own address must
    /// not be in a blocked network; the target host is resolved by the proxy, so only
    /// IP-literal targets are checked.
    #[must_use]
    pub fn with_proxy_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.proxy_urls = items(urls);
        self
    }

    /// Host globs that go through the proxy; empty means all hosts
    /// (`HTTP_LOADER_PROXY_ALLOWED_SOURCES`).
    #[must_use]
    pub fn with_proxy_allowed_sources<I, S>(mut self, globs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.proxy_allowed_sources = items(globs);
        self
    }

    /// Refuse loopback and unspecified addresses: `127.0.0.0/8`, `0.0.0.0/8`, `::1`, `::`
    /// (`HTTP_LOADER_BLOCK_LOOPBACK_NETWORKS`). Default `true` (imagor: `false`).
    #[must_use]
    pub fn with_block_loopback_networks(mut self, enabled: bool) -> Self {
        self.block_loopback_networks = enabled;
        self
    }

    /// Refuse private addresses: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`,
    /// `fc00::/7`, CGNAT `100.64.0.0/10` and benchmarking `198.18.0.0/15`
    /// (`HTTP_LOADER_BLOCK_PRIVATE_NETWORKS`). Default `true` (imagor: `false`).
    #[must_use]
    pub fn with_block_private_networks(mut self, enabled: bool) -> Self {
        self.block_private_networks = enabled;
        self
    }

    /// Refuse link-local unicast and multicast addresses (`169.254.0.0/16`, `224.0.0.0/24`,
    /// `fe80::/10`, `ff02::/16`) and the cloud metadata addresses (`169.254.169.254`,
    /// `169.254.170.2`, `fd00:ec2::254`, `100.100.100.200`)
    /// (`HTTP_LOADER_BLOCK_LINK_LOCAL_NETWORKS`). Default `true` (imagor: `false`).
    #[must_use]
    pub fn with_block_link_local_networks(mut self, enabled: bool) -> Self {
        self.block_link_local_networks = enabled;
        self
    }

    /// Refuse these networks, in CIDR notation (`HTTP_LOADER_BLOCK_NETWORKS`).
    #[must_use]
    pub fn with_block_networks<I, S>(mut self, cidrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.block_networks = items(cidrs);
        self
    }

    /// Networks, in CIDR notation, that are dialled even when a blocked category or
    /// [`with_block_networks`](Self::with_block_networks) covers them: opens one internal
    /// image server (`10.20.0.0/16`) without opening all private addresses. No imagor
    /// equivalent.
    #[must_use]
    pub fn with_allowed_networks<I, S>(mut self, cidrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_networks = items(cidrs);
        self
    }

    /// The upstream `User-Agent`; default [`DEFAULT_USER_AGENT`].
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = user_agent.to_owned();
        self
    }

    /// A deadline for the whole load (HEAD, GET and body) → [`Error::Timeout`]. Zero
    /// removes it. Default: none (the service's load timeout applies).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// Checks every setting and creates the loader.
    ///
    /// # Errors
    ///
    /// An [`Error::Internal`] naming the setting (by its environment variable) for a
    /// malformed header name or value, glob, regexp, URL, scheme or CIDR, or when the HTTP
    /// client cannot be created.
    pub fn build(self) -> Result<HttpLoader, Error> {
        let forward = if self.forward_client_headers {
            Forward::All
        } else {
            let names = self
                .forward_headers
                .iter()
                .map(|name| {
                    HeaderName::from_bytes(name.as_bytes()).map_err(|err| {
                        config_error("HTTP_LOADER_FORWARD_HEADERS", format!("`{name}`: {err}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Forward::Named(names)
        };

        let mut override_headers = HeaderMap::new();
        for (name, value) in &self.override_headers {
            let setting = "override headers (with_override_header)";
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|err| config_error(setting, format!("`{name}`: {err}")))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|err| config_error(setting, format!("`{name}`: {err}")))?;
            value.set_sensitive(true);
            override_headers.append(name, value);
        }

        let response_headers = self
            .response_headers
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|err| {
                    config_error(
                        "HTTP_LOADER_OVERRIDE_RESPONSE_HEADERS",
                        format!("`{name}`: {err}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let hosts = globs(&self.allowed_sources, "HTTP_LOADER_ALLOWED_SOURCES")?;
        let regexps = self
            .allowed_source_regexp
            .iter()
            .map(|re| {
                let setting = "HTTP_LOADER_ALLOWED_SOURCE_REGEXP";
                Regex::new(re).map_err(|err| config_error(setting, err))?;
                Regex::new(&format!("^(?:{re})$")).map_err(|err| config_error(setting, err))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let base_url = self
            .base_url
            .as_deref()
            .map(|text| web_url(text, "HTTP_LOADER_BASE_URL"))
            .transpose()?;
        let default_scheme = match self.default_scheme.to_ascii_lowercase().as_str() {
            "" | "nil" => None,
            scheme @ ("http" | "https") => Some(scheme.to_owned()),
            other => {
                return Err(config_error(
                    "HTTP_LOADER_DEFAULT_SCHEME",
                    format!("`{other}` is not http, https or nil"),
                )
                .into());
            }
        };

        let (accept, accept_types) = if self.accept.is_empty() {
            (None, Vec::new())
        } else {
            let value = HeaderValue::from_str(&self.accept)
                .map_err(|err| config_error("HTTP_LOADER_ACCEPT", err))?;
            let types: Vec<String> = self
                .accept
                .split(',')
                .map(media_type)
                .filter(|t| !t.is_empty())
                .collect();
            (Some(value), globs(&types, "HTTP_LOADER_ACCEPT")?)
        };

        let cidrs = |list: &[String], setting: &'static str| {
            list.iter()
                .map(|cidr| {
                    cidr.parse::<Cidr>()
                        .map_err(|err| config_error(setting, err))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let network = Arc::new(NetworkPolicy {
            loopback: self.block_loopback_networks,
            private: self.block_private_networks,
            link_local: self.block_link_local_networks,
            networks: cidrs(&self.block_networks, "HTTP_LOADER_BLOCK_NETWORKS")?,
            allowed: cidrs(
                &self.allowed_networks,
                "allowed networks (with_allowed_networks)",
            )?,
        });

        let proxies = self
            .proxy_urls
            .iter()
            .map(|text| web_url(text, "HTTP_LOADER_PROXY_URLS"))
            .collect::<Result<Vec<_>, _>>()?;
        let guard = Arc::new(Guard {
            allow: AllowList { hosts, regexps },
            network,
            proxy_hosts: globs(
                &self.proxy_allowed_sources,
                "HTTP_LOADER_PROXY_ALLOWED_SOURCES",
            )?,
        });

        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|err| config_error("user agent (with_user_agent)", err))?;

        let proxy_choices: Vec<Option<Url>> = if proxies.is_empty() {
            vec![None]
        } else {
            proxies.into_iter().map(Some).collect()
        };
        let routes = proxy_choices
            .into_iter()
            .map(|proxy| {
                let client = client(&guard, proxy.clone(), self.insecure_skip_verify_transport)?;
                Ok(Route { client, proxy })
            })
            .collect::<Result<Vec<_>, Error>>()?;

        Ok(HttpLoader {
            inner: Arc::new(Inner {
                routes,
                guard,
                rules: UrlRules {
                    base_url,
                    default_scheme,
                },
                forward,
                override_headers,
                response_headers,
                user_agent,
                accept,
                accept_types,
                max_allowed_size: self.max_allowed_size,
                timeout: self.timeout,
                picks: AtomicU64::new(0),
            }),
        })
    }
}

/// Compiles globs (lower case), naming `setting` on failure.
fn globs(patterns: &[String], setting: &'static str) -> Result<Vec<Glob>, ConfigError> {
    patterns
        .iter()
        .map(|p| Glob::new(&p.to_ascii_lowercase()).map_err(|err| config_error(setting, err)))
        .collect()
}

/// Parses an http(s) URL with a host, naming `setting` on failure.
fn web_url(text: &str, setting: &'static str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|err| config_error(setting, format!("`{text}`: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(config_error(
            setting,
            format!("`{text}` is not an http(s) URL"),
        ));
    }
    Ok(url)
}

/// A client whose redirects pass `guard`, whose resolver drops blocked addresses, and which
/// sends through `proxy` for the hosts the guard says.
fn client(
    guard: &Arc<Guard>,
    proxy: Option<Url>,
    insecure: bool,
) -> Result<reqwest::Client, Error> {
    let hop_guard = Arc::clone(guard);
    let hop_proxy = proxy.clone();
    let redirect = Policy::custom(move |attempt: Attempt<'_>| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(Refusal::TooManyRedirects);
        }
        match hop_guard.check(attempt.url(), hop_proxy.as_ref()) {
            Ok(()) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    });
    let mut builder = reqwest::Client::builder()
        .redirect(redirect)
        .no_proxy()
        .tls_danger_accept_invalid_certs(insecure);
    if let Some(proxy) = proxy {
        let proxy_guard = Arc::clone(guard);
        builder = builder.proxy(reqwest::Proxy::custom(move |target: &Url| {
            proxy_guard.proxied(target).then(|| proxy.clone())
        }));
    }
    // Always ours: it enforces the network policy and gives DNS failures a typed error.
    builder = builder.dns_resolver(Arc::new(BlockingResolver::new(Arc::clone(&guard.network))));
    builder
        .build()
        .map_err(|err| Error::internal(format!("http loader client: {}", root_cause(&err))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loader(builder: HttpLoaderBuilder) -> HttpLoader {
        builder.build().unwrap()
    }

    #[test]
    fn headers_follow_imagor_order() {
        let l = loader(
            HttpLoader::builder()
                .with_forward_headers(["X-Token", "Accept", "Host", "Accept-Encoding"])
                .with_override_header("x-fixed", "1")
                .with_override_header("X-Token", "override"),
        );
        let mut client = HeaderMap::new();
        client.insert("x-token", HeaderValue::from_static("secret"));
        client.insert(header::ACCEPT, HeaderValue::from_static("image/webp"));
        client.insert(header::HOST, HeaderValue::from_static("me.example"));
        client.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br"));
        client.insert("x-other", HeaderValue::from_static("no"));
        let sent = l.request_headers(&client);
        assert_eq!(sent[header::USER_AGENT], DEFAULT_USER_AGENT);
        assert_eq!(sent[header::ACCEPT], "image/webp");
        assert_eq!(sent["x-token"], "override");
        assert_eq!(sent["x-fixed"], "1");
        assert!(!sent.contains_key(header::HOST));
        assert!(!sent.contains_key(header::ACCEPT_ENCODING));
        assert!(!sent.contains_key("x-other"));
    }

    #[test]
    fn forward_all_copies_every_value() {
        let l = loader(HttpLoader::builder().with_forward_client_headers(true));
        let mut client = HeaderMap::new();
        client.append("x-multi", HeaderValue::from_static("a"));
        client.append("x-multi", HeaderValue::from_static("b"));
        client.insert(header::USER_AGENT, HeaderValue::from_static("browser"));
        client.insert(header::CONNECTION, HeaderValue::from_static("close"));
        let sent = l.request_headers(&client);
        let multi: Vec<_> = sent.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["a", "b"]);
        assert_eq!(sent[header::USER_AGENT], "browser");
        assert_eq!(sent[header::ACCEPT], "*/*");
        assert!(!sent.contains_key(header::CONNECTION));
    }

    #[test]
    fn content_types_are_matched_without_parameters() {
        let images = loader(HttpLoader::builder().with_accept("image/*; q=0.9, application/pdf"));
        assert!(images.accepts(Some("image/png")));
        assert!(images.accepts(Some("IMAGE/JPEG; charset=binary")));
        assert!(images.accepts(Some("application/pdf")));
        assert!(!images.accepts(Some("text/html")));
        assert!(!images.accepts(None));
        let any = loader(HttpLoader::builder());
        assert!(any.accepts(None));
        assert!(any.accepts(Some("text/html")));
        let off = loader(HttpLoader::builder().with_accept(""));
        assert!(off.accepts(Some("anything/at-all")));
        assert!(
            off.request_headers(&HeaderMap::new())
                .get(header::ACCEPT)
                .is_none()
        );
    }

    #[test]
    fn config_errors_name_the_setting() {
        let cases = [
            (
                HttpLoader::builder().with_forward_headers(["bad header"]),
                "HTTP_LOADER_FORWARD_HEADERS",
            ),
            (
                HttpLoader::builder().with_allowed_sources(["[a-"]),
                "HTTP_LOADER_ALLOWED_SOURCES",
            ),
            (
                HttpLoader::builder().with_allowed_source_regexp("(unclosed"),
                "HTTP_LOADER_ALLOWED_SOURCE_REGEXP",
            ),
            (
                HttpLoader::builder().with_base_url("not a url"),
                "HTTP_LOADER_BASE_URL",
            ),
            (
                HttpLoader::builder().with_base_url("ftp://host/x"),
                "HTTP_LOADER_BASE_URL",
            ),
            (
                HttpLoader::builder().with_default_scheme("ftp"),
                "HTTP_LOADER_DEFAULT_SCHEME",
            ),
            (
                HttpLoader::builder().with_accept("image/[x"),
                "HTTP_LOADER_ACCEPT",
            ),
            (
                HttpLoader::builder().with_proxy_urls(["::nope"]),
                "HTTP_LOADER_PROXY_URLS",
            ),
            (
                HttpLoader::builder().with_proxy_allowed_sources(["\\"]),
                "HTTP_LOADER_PROXY_ALLOWED_SOURCES",
            ),
            (
                HttpLoader::builder().with_block_networks(["1.2.3.4"]),
                "HTTP_LOADER_BLOCK_NETWORKS",
            ),
            (
                HttpLoader::builder().with_user_agent("bad\nagent"),
                "with_user_agent",
            ),
            (
                HttpLoader::builder().with_override_header("x", "a\u{7f}"),
                "with_override_header",
            ),
        ];
        for (builder, setting) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                err.message().contains(setting),
                "{setting}: {}",
                err.message()
            );
        }
    }

    #[test]
    fn default_scheme_nil_and_source_urls() {
        let nil = loader(HttpLoader::builder().with_default_scheme("NIL"));
        assert!(matches!(nil.source_url("host/a.jpg"), Err(Error::Invalid)));
        let http = loader(HttpLoader::builder().with_default_scheme("http"));
        assert_eq!(http.source_url("host/a.jpg").unwrap(), "http://host/a.jpg");
        let listed = loader(
            HttpLoader::builder()
                .with_allowed_sources(["a.com"])
                .with_allowed_source_regexp(r"https://b\.com/ok/.*"),
        );
        assert!(listed.source_url("a.com/x.png").is_ok());
        assert!(listed.source_url("b.com/ok/x.png").is_ok());
        assert!(matches!(
            listed.source_url("b.com/no/x.png"),
            Err(Error::SourceNotAllowed)
        ));
    }

    #[test]
    fn source_regexp_is_anchored() {
        let l = loader(HttpLoader::builder().with_allowed_source_regexp(r"example\.com"));
        assert!(l.source_url("https://example.com/a.jpg").is_ok());
        assert!(l.source_url("example.com/a.jpg").is_ok());
        for refused in [
            "https://evil-example.com.attacker.net/a.jpg",
            "https://example.com.attacker.net/a.jpg",
            "https://attacker.net/example.com/a.jpg",
            "https://attacker.net/a.jpg?u=example.com",
            "https://example.com:8443/a.jpg",
        ] {
            assert!(
                matches!(l.source_url(refused), Err(Error::SourceNotAllowed)),
                "{refused}"
            );
        }
        // An imagor-style prefix pattern needs its `.*` now.
        let prefix = loader(HttpLoader::builder().with_allowed_source_regexp(r"^https://c\.io/"));
        assert!(prefix.source_url("https://c.io/").is_ok());
        assert!(prefix.source_url("https://c.io/a.jpg").is_err());
        // Alternation stays inside the anchors.
        let either = loader(HttpLoader::builder().with_allowed_source_regexp(r"a\.io|b\.io"));
        assert!(either.source_url("https://b.io/x").is_ok());
        assert!(either.source_url("https://a.io.evil.net/x").is_err());
        assert!(either.source_url("https://evil.b.io/x").is_err());
    }

    #[test]
    fn debug_hides_credentials() {
        let builder = HttpLoader::builder()
            .with_proxy_urls([
                "http://proxy-user:proxy-pass@proxy.test:3128",
                "https://only-user@proxy2.test/",
            ])
            .with_base_url("https://base-user:base-pass@cdn.test/images")
            .with_forward_headers(["Authorization", "Cookie"])
            .with_override_header("Authorization", "Bearer override-token")
            .with_override_header("X-Api-Key", "api-key-value");
        let secrets = [
            "proxy-user",
            "proxy-pass",
            "only-user",
            "base-user",
            "base-pass",
            "override-token",
            "api-key-value",
        ];
        let shown = format!("{builder:?}");
        let loader = builder.build().unwrap();
        let shown_loader = format!("{loader:?}");
        for text in [&shown, &shown_loader] {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        assert!(shown.contains("proxy.test:3128"), "{shown}");
        assert!(shown.contains("X-Api-Key"), "{shown}");
        assert!(shown_loader.contains("proxy.test:3128"), "{shown_loader}");
        assert!(shown_loader.contains("x-api-key"), "{shown_loader}");
        // The values still go upstream.
        let sent = loader.request_headers(&HeaderMap::new());
        assert_eq!(sent[header::AUTHORIZATION], "Bearer override-token");
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_userinfo("http://u:p@h:1/x?y#z"),
            "http://<redacted>@h:1/x?y#z"
        );
        assert_eq!(redact_userinfo("u:p@h:1"), "<redacted>@h:1");
        assert_eq!(redact_userinfo("http://h/a@b"), "http://h/a@b");
        assert_eq!(redact_userinfo("http://a@b@h/"), "http://<redacted>@h/");
    }

    #[test]
    fn guard_checks_the_dialled_literal() {
        let guard = Guard {
            allow: AllowList::default(),
            network: Arc::new(NetworkPolicy {
                loopback: true,
                ..NetworkPolicy::default()
            }),
            proxy_hosts: vec![Glob::new("*.via-proxy.test").unwrap()],
        };
        let url = |u: &str| Url::parse(u).unwrap();
        let loopback_proxy = url("http://127.0.0.1:3128");
        let public_proxy = url("http://203.0.113.1:3128");
        assert_eq!(
            guard.check(&url("http://127.0.0.1/a"), None),
            Err(Refusal::Blocked)
        );
        assert_eq!(
            guard.check(&url("http://[::ffff:7f00:1]/a"), None),
            Err(Refusal::Blocked)
        );
        assert_eq!(guard.check(&url("http://203.0.113.9/a"), None), Ok(()));
        // Through a proxy, the proxy's address is what is dialled.
        assert_eq!(
            guard.check(&url("http://a.via-proxy.test/x"), Some(&loopback_proxy)),
            Err(Refusal::Blocked)
        );
        assert_eq!(
            guard.check(&url("http://127.0.0.1/x"), Some(&public_proxy)),
            Err(Refusal::Blocked)
        );
        assert_eq!(
            guard.check(&url("http://a.via-proxy.test/x"), Some(&public_proxy)),
            Ok(())
        );
    }

    #[test]
    fn upstream_statuses_keep_reason_phrases() {
        let err = check_status(StatusCode::NOT_FOUND).unwrap_err();
        assert_eq!(err.to_json(), r#"{"message":"Not Found","status":404}"#);
        let teapot = check_status(StatusCode::IM_A_TEAPOT).unwrap_err();
        assert_eq!(teapot.message(), "I'm a teapot");
        let odd = check_status(StatusCode::from_u16(599).unwrap()).unwrap_err();
        assert_eq!(odd.to_json(), r#"{"status":599}"#);
        assert!(check_status(StatusCode::NOT_MODIFIED).is_ok());
    }
}
