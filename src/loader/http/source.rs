//! From image key to upstream URL (imagor's rules), and the allow-list.

use super::glob::Glob;
use crate::Error;
use crate::key::clean;
use regex::Regex;
use reqwest::Url;
use std::fmt;
use std::net::IpAddr;

/// How keys become URLs.
#[derive(Clone, Default)]
pub(crate) struct UrlRules {
    /// Every key is put under this URL.
    pub(crate) base_url: Option<Url>,
    /// Added to scheme-less keys; `None` makes them invalid.
    pub(crate) default_scheme: Option<String>,
}

impl fmt::Debug for UrlRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The base URL may carry credentials: show it without them.
        f.debug_struct("UrlRules")
            .field("base_url", &self.base_url.as_ref().map(shown_url))
            .field("default_scheme", &self.default_scheme)
            .finish()
    }
}

/// The parts of a key, split the way Go's `url.Parse` splits them.
#[derive(Debug, PartialEq, Eq)]
struct KeyParts<'a> {
    /// `true` when the key has a scheme followed by `//authority`.
    absolute: bool,
    /// The path (for a scheme-less key: everything before the query).
    path: &'a str,
    /// The query, without `?`.
    query: Option<&'a str>,
}

impl UrlRules {
    /// The URL fetched for `key`: base URL or default scheme applied, fragment removed,
    /// path cleaned.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for an empty or unparsable key, a scheme other than http(s), and a
    /// scheme-less key when no default scheme is set or when it contains a `%XX` escape
    /// (such keys are left to loaders that treat them as file names).
    pub(crate) fn url_for(&self, key: &str) -> Result<Url, Error> {
        if key.is_empty() || key.chars().any(|c| c.is_ascii_control()) || !valid_escapes(key) {
            return Err(Error::Invalid);
        }
        let without_fragment = key.split_once('#').map_or(key, |(before, _)| before);
        let parts = split_key(without_fragment)?;
        let mut url = if let Some(base) = &self.base_url {
            under_base(base, &parts)
        } else if parts.absolute {
            Url::parse(without_fragment).map_err(|_| Error::Invalid)?
        } else {
            if key.contains('%') {
                return Err(Error::Invalid);
            }
            let scheme = self.default_scheme.as_deref().ok_or(Error::Invalid)?;
            let joiner = if without_fragment.starts_with("//") {
                ":"
            } else {
                "://"
            };
            Url::parse(&format!("{scheme}{joiner}{without_fragment}"))
                .map_err(|_| Error::Invalid)?
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Invalid);
        }
        url.set_fragment(None);
        let cleaned = clean_url_path(url.path());
        url.set_path(&cleaned);
        Ok(url)
    }
}

/// Go's `url.Parse` split, reduced to what the loader needs.
fn split_key(key: &str) -> Result<KeyParts<'_>, Error> {
    let (before_query, query) = match key.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (key, None),
    };
    let hierarchical = |rest: &'_ str| rest.starts_with("//");
    match scheme_of(before_query)? {
        Some(rest) if hierarchical(rest) => {
            let after = rest.get(2..).unwrap_or("");
            let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            if authority.is_empty() {
                return Err(Error::Invalid);
            }
            Ok(KeyParts {
                absolute: true,
                path,
                query,
            })
        }
        // `host:port/path` reads as an opaque URL with scheme `host`; like imagor, treat it
        // as having no scheme at all.
        _ => {
            let path = if hierarchical(before_query) {
                let after = before_query.get(2..).unwrap_or("");
                after.find('/').map_or("", |i| after.split_at(i).1)
            } else {
                before_query
            };
            Ok(KeyParts {
                absolute: false,
                path,
                query,
            })
        }
    }
}

/// The text after `scheme:`, when the key starts with a scheme.
fn scheme_of(key: &str) -> Result<Option<&str>, Error> {
    for (i, byte) in key.bytes().enumerate() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(Error::Invalid),
            b':' => return Ok(key.get(i + 1..)),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Whether every `%` starts a two-hex-digit escape.
fn valid_escapes(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || matches!(
                (bytes.get(i + 1), bytes.get(i + 2)),
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
            )
    })
}

/// The key's path appended under the base URL's path, the key's query kept. The key path is
/// cleaned as a rooted path first, so `..` cannot climb above the base path.
fn under_base(base: &Url, parts: &KeyParts<'_>) -> Url {
    let mut url = base.clone();
    if !parts.path.is_empty() {
        let mut joined = base.path().trim_end_matches('/').to_owned();
        let cleaned = clean(&format!("/{}", parts.path));
        joined.push_str(&cleaned);
        if parts.path.ends_with('/') && cleaned != "/" {
            joined.push('/');
        }
        url.set_path(&joined);
    }
    url.set_query(parts.query);
    url
}

/// A URL path cleaned like Go's `URL.JoinPath()`: dot segments and repeated slashes go, a
/// trailing slash stays.
fn clean_url_path(path: &str) -> String {
    let cleaned = clean(&format!("/{path}"));
    if path.ends_with('/') && cleaned != "/" {
        format!("{cleaned}/")
    } else {
        cleaned
    }
}

/// `host[:port]` as imagor matches it against host globs (lower case; the port only when
/// it is not the scheme's default).
pub(crate) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The URL as error messages and `Debug` show it: without the credentials a base URL may
/// carry.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    // These fail only for URLs that cannot carry credentials.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.into()
}

/// The IP address of an IP-literal host (those never reach the resolver).
pub(crate) fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Host globs and regexps; a URL passes when any of them matches, or when both lists are
/// empty. A regexp (anchored by the builder) is tried on the whole URL and on `host[:port]`.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowList {
    pub(crate) hosts: Vec<Glob>,
    pub(crate) regexps: Vec<Regex>,
}

impl AllowList {
    /// Whether `url` may be fetched.
    pub(crate) fn allows(&self, url: &Url) -> bool {
        if self.hosts.is_empty() && self.regexps.is_empty() {
            return true;
        }
        let host = host_port(url);
        self.hosts.iter().any(|glob| glob.matches(&host))
            || self
                .regexps
                .iter()
                .any(|re| re.is_match(url.as_str()) || re.is_match(&host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(base: Option<&str>, scheme: Option<&str>) -> UrlRules {
        UrlRules {
            base_url: base.map(|b| Url::parse(b).unwrap()),
            default_scheme: scheme.map(str::to_owned),
        }
    }

    fn url(rules: &UrlRules, key: &str) -> Result<String, u16> {
        rules
            .url_for(key)
            .map(String::from)
            .map_err(|err| err.status().as_u16())
    }

    #[test]
    fn base_url_cases_from_imagor() {
        let r = rules(Some("https://foo.com/bar.org"), Some("https"));
        assert_eq!(
            url(&r, "some/path/ping.jpg").unwrap(),
            "https://foo.com/bar.org/some/path/ping.jpg"
        );
        assert_eq!(
            url(&r, "some/path/ping.jpg?abc=123").unwrap(),
            "https://foo.com/bar.org/some/path/ping.jpg?abc=123"
        );
        assert_eq!(
            url(&r, "https://foo.com/bar.org/some/path/ping.jpg").unwrap(),
            "https://foo.com/bar.org/bar.org/some/path/ping.jpg"
        );
        assert_eq!(
            url(&r, "host.com/a.jpg").unwrap(),
            "https://foo.com/bar.org/host.com/a.jpg"
        );
        // `..` stays under the base path.
        assert_eq!(
            url(&r, "../../etc/x.jpg").unwrap(),
            "https://foo.com/bar.org/etc/x.jpg"
        );
        // With a base URL, escapes are fine: the key is a path, not a file name.
        assert_eq!(
            url(&r, "a%20b.jpg").unwrap(),
            "https://foo.com/bar.org/a%20b.jpg"
        );
    }

    #[test]
    fn default_scheme_and_escapes() {
        let https = rules(None, Some("https"));
        assert_eq!(url(&https, "foo.bar/baz").unwrap(), "https://foo.bar/baz");
        assert_eq!(
            url(&https, "foo.bar:8080/baz").unwrap(),
            "https://foo.bar:8080/baz"
        );
        assert_eq!(url(&https, "//foo.bar/baz").unwrap(), "https://foo.bar/baz");
        assert_eq!(url(&https, "foo.bar/a%20b"), Err(400));
        assert_eq!(url(&https, "foo.bar/%zz"), Err(400));
        assert_eq!(
            url(&https, "http://foo.bar/a%20b.png").unwrap(),
            "http://foo.bar/a%20b.png"
        );
        let none = rules(None, None);
        assert_eq!(url(&none, "foo.bar/baz"), Err(400));
        assert_eq!(
            url(&none, "http://foo.bar/baz").unwrap(),
            "http://foo.bar/baz"
        );
    }

    #[test]
    fn invalid_keys() {
        let r = rules(None, Some("https"));
        for key in [
            "",
            ":foo",
            "ftp://foo.bar/x",
            "http:///x",
            "http://",
            "a\nb",
            "data:,x",
        ] {
            assert_eq!(url(&r, key), Err(400), "{key:?}");
        }
    }

    #[test]
    fn fragment_dropped_and_path_cleaned() {
        let r = rules(None, Some("https"));
        assert_eq!(
            url(&r, "https://a.com//x/./y/../z.png?q=1#frag").unwrap(),
            "https://a.com/x/z.png?q=1"
        );
        assert_eq!(url(&r, "https://a.com/dir/").unwrap(), "https://a.com/dir/");
        assert_eq!(url(&r, "https://a.com").unwrap(), "https://a.com/");
        assert_eq!(url(&r, "https://A.COM/X").unwrap(), "https://a.com/X");
    }

    #[test]
    fn allow_list_matches_host_globs_or_regexps() {
        let list = AllowList {
            hosts: vec![
                Glob::new("*.example.com").unwrap(),
                Glob::new("cdn.io").unwrap(),
            ],
            regexps: vec![Regex::new(r"^https://other\.org/public/").unwrap()],
        };
        let allowed = |u: &str| list.allows(&Url::parse(u).unwrap());
        assert!(allowed("https://img.example.com/a.jpg"));
        assert!(allowed("http://CDN.io/a.jpg"));
        assert!(!allowed("https://cdn.io:8443/a.jpg"));
        assert!(allowed("https://cdn.io:443/a.jpg")); // default port is dropped
        assert!(!allowed("https://example.com/a.jpg"));
        assert!(allowed("https://other.org/public/a.jpg"));
        assert!(!allowed("https://other.org/private/a.jpg"));
        assert!(AllowList::default().allows(&Url::parse("https://any.where/").unwrap()));
    }

    #[test]
    fn literal_hosts() {
        let ip = |u: &str| literal_ip(&Url::parse(u).unwrap());
        assert_eq!(
            ip("http://127.0.0.1:8080/"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(ip("http://[::1]/"), Some("::1".parse().unwrap()));
        assert_eq!(ip("http://2130706433/"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(ip("http://localhost/"), None);
        assert_eq!(
            host_port(&Url::parse("http://[::1]:81/").unwrap()),
            "[::1]:81"
        );
    }
}
