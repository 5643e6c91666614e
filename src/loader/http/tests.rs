//! Unit tests of the HTTP loader's parts.

use super::builder::*;
use super::errors::*;
use super::glob::Glob;
use super::guard::*;
use super::loader::*;
use super::network::NetworkPolicy;
use super::source::AllowList;
use crate::Error;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use reqwest::Url;
use std::sync::Arc;

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
