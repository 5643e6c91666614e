//! [`HttpLoaderBuilder`]: every setting of the HTTP loader, checked when it is built.

use super::errors::{ConfigError, config_error, root_cause};
use super::glob::Glob;
use super::guard::{Guard, Refusal, redact_userinfo};
use super::loader::{Forward, HttpLoader, Inner, Route, media_type};
use super::network::{BlockingResolver, Cidr, NetworkPolicy};
use super::source::{AllowList, UrlRules};
use crate::Error;
use crate::loader::DEFAULT_MAX_SIZE;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use regex::Regex;
use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The `User-Agent` sent upstream unless configured otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("imagor-tower/", env!("CARGO_PKG_VERSION"));

/// The most redirects followed for one request.
pub(super) const MAX_REDIRECTS: usize = 10;

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

pub(super) fn items<I, S>(list: I) -> Vec<String>
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
pub(super) fn globs(patterns: &[String], setting: &'static str) -> Result<Vec<Glob>, ConfigError> {
    patterns
        .iter()
        .map(|p| Glob::new(&p.to_ascii_lowercase()).map_err(|err| config_error(setting, err)))
        .collect()
}

/// Parses an http(s) URL with a host, naming `setting` on failure.
pub(super) fn web_url(text: &str, setting: &'static str) -> Result<Url, ConfigError> {
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
pub(super) fn client(
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
