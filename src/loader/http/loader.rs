//! [`HttpLoader`]: the loader itself, its shared state and one fetch.

use super::errors::{body_error, check_status, send_error};
use super::glob::Glob;
use super::guard::{Guard, redact_userinfo};
use super::source::{UrlRules, shown_url};
use crate::Error;
use crate::blob::{Blob, Stat};
use crate::loader::SourceRequest;
use crate::loader::with_content_type_of;
use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Headers never copied from the client request.
pub(super) const NOT_FORWARDED: [HeaderName; 11] = [
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
/// pool. See the [module docs](super) for the rules and an example. Its `Debug` output shows
/// neither proxy credentials nor the values of the fixed override headers.
#[derive(Clone, Debug)]
pub struct HttpLoader {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    /// One client per proxy, or a single direct one.
    pub(super) routes: Vec<Route>,
    pub(super) guard: Arc<Guard>,
    pub(super) rules: UrlRules,
    pub(super) forward: Forward,
    /// Values marked sensitive, so `Debug` hides them.
    pub(super) override_headers: HeaderMap,
    pub(super) response_headers: Vec<HeaderName>,
    pub(super) user_agent: HeaderValue,
    pub(super) accept: Option<HeaderValue>,
    pub(super) accept_types: Vec<Glob>,
    pub(super) max_allowed_size: u64,
    pub(super) timeout: Option<Duration>,
    pub(super) picks: AtomicU64,
}

/// A client and the proxy it sends through (when the host matches the proxy hosts).
pub(super) struct Route {
    pub(super) client: reqwest::Client,
    pub(super) proxy: Option<Url>,
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

/// Which client headers go upstream.
#[derive(Clone, Debug)]
pub(super) enum Forward {
    Named(Vec<HeaderName>),
    All,
}

impl HttpLoader {
    /// The URL that would be fetched for `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for keys that are not URLs for this loader,
    /// [`Error::SourceNotAllowed`] for URLs outside the allow-list.
    pub fn source_url(&self, key: &str) -> Result<String, Error> {
        self.checked_url(key).map(String::from)
    }

    pub(super) fn checked_url(&self, key: &str) -> Result<Url, Error> {
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
    /// See the table in the [module docs](super).
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
    pub(super) fn prepare(&self, key: &str) -> Result<(Url, &Route), Error> {
        let url = self.checked_url(key)?;
        let route = self.pick_route();
        self.inner
            .guard
            .check(&url, route.proxy.as_ref())
            .map_err(|refusal| refusal.into_error(&shown_url(&url)))?;
        Ok((url, route))
    }

    /// One route, at random when there are several proxies.
    pub(super) fn pick_route(&self) -> &Route {
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

    pub(super) async fn fetch(&self, req: &SourceRequest) -> Result<Blob, Error> {
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
        Ok(with_content_type_of(blob))
    }

    /// The upstream request headers: user agent, accept, forwarded, overrides.
    pub(super) fn request_headers(&self, client: &HeaderMap) -> HeaderMap {
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
    pub(super) fn accepts(&self, content_type: Option<&str>) -> bool {
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
pub(super) fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

pub(super) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, &header::CONTENT_LENGTH).and_then(|text| text.trim().parse().ok())
}
