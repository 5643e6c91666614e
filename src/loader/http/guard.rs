//! [`Guard`]: what every URL (first request and each redirect hop) must pass, and why one is
//! refused.

use super::glob::Glob;
use super::network::NetworkPolicy;
use super::source::{self, AllowList, literal_ip};
use crate::Error;
use reqwest::Url;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// `url` with any `user:password@` replaced by `<redacted>@`.
pub(super) fn redact_userinfo(url: &str) -> String {
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
pub(super) struct Guard {
    pub(super) allow: AllowList,
    pub(super) network: Arc<NetworkPolicy>,
    /// Hosts sent through the proxy; empty means all.
    pub(super) proxy_hosts: Vec<Glob>,
}

/// Why a URL is refused; travels through reqwest's redirect handling as an error source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
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
    pub(super) fn into_error(self, image: &str) -> Error {
        match self {
            Self::NotAllowed => Error::SourceNotAllowed,
            Self::Blocked => Error::UnauthorizedRequest(image.to_owned()),
            Self::TooManyRedirects => Error::internal(format!("{self}: {image}")),
        }
    }
}

impl Guard {
    /// Whether `url`'s host goes through the proxy (when there is one).
    pub(super) fn proxied(&self, url: &Url) -> bool {
        let host = source::host_port(url);
        self.proxy_hosts.is_empty() || self.proxy_hosts.iter().any(|g| g.matches(&host))
    }

    /// Checks the allow-list, and the dialled address when it is an IP literal (names are
    /// checked by the resolver).
    pub(super) fn check(&self, url: &Url, proxy: Option<&Url>) -> Result<(), Refusal> {
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
