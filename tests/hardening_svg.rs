//! Hostile SVG sources through the whole `ImageService`: entity expansion, oversized
//! documents and nesting deeper than the renderer can recurse. Each must answer a 4xx JSON
//! error quickly, with the process's peak memory staying bounded; the deepest document that
//! is accepted must render on a pixel thread.
#![cfg(feature = "svg")]

mod support;

use bytes::Bytes;
use http::StatusCode;
use imagor_tower::loader::{SourceRequest, service_fn_loader};
use imagor_tower::processing::{MAX_SVG_BYTES, MAX_SVG_DEPTH};
use imagor_tower::{Blob, Error, ImageService};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{body_bytes, decode, get};
use tower::ServiceExt;

/// Most the process's peak resident memory may grow while one hostile request is answered.
const RSS_BOUND_KIB: u64 = 200 * 1024;
/// How long a refusal may take (debug builds on a loaded machine).
const TIME_BOUND: Duration = Duration::from_secs(20);

/// A fixture of `tests/fixtures/bad/`.
fn fixture(name: &str) -> Bytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad")
        .join(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display())))
}

/// The peak resident set of this process in KiB (`VmHWM`), where the system reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Answers `/unsafe/<path>` for an SVG served under its key, with the status, the body and
/// how much the process's peak memory grew meanwhile (`None` without `/proc`).
async fn request(key: &str, svg: Bytes, path: &str) -> (StatusCode, Bytes, Option<u64>) {
    let sources = Arc::new(HashMap::from([(key.to_owned(), svg)]));
    let loader = service_fn_loader(move |req: SourceRequest| {
        let found = sources.get(req.key()).cloned();
        async move { found.map(Blob::new).ok_or(Error::NotFound) }
    });
    let service = ImageService::new().unsafe_urls(true).loader(loader);
    let before = peak_rss_kib();
    let started = Instant::now();
    let response = service
        .oneshot(get(&format!("/unsafe/{path}")))
        .await
        .expect("infallible");
    let took = started.elapsed();
    let status = response.status();
    let (_, body) = body_bytes(response).await;
    assert!(took < TIME_BOUND, "{key} took {took:?}");
    let grown = before.zip(peak_rss_kib()).map(|(b, a)| a.saturating_sub(b));
    (status, body, grown)
}

/// Asserts a 4xx JSON error whose message contains `reason`, and bounded memory.
async fn assert_refused(key: &str, svg: Bytes, reason: &str) {
    for path in [
        key.to_owned(),
        format!("fit-in/100x100/filters:format(png)/{key}"),
    ] {
        let (status, body, grown) = request(key, svg.clone(), &path).await;
        assert_eq!(
            status,
            StatusCode::NOT_ACCEPTABLE,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON error body");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{path}: {message}");
        match grown {
            Some(kib) => assert!(kib < RSS_BOUND_KIB, "{path}: peak RSS grew by {kib} KiB"),
            None => println!("no /proc/self/status here: peak RSS not measured for {path}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_expanding_to_gigabytes_is_refused_unexpanded() {
    // The attack of issue 12: a 100 KB entity referenced 200,000 times in a `<desc>` (20 GB
    // once expanded), in a 700 KB file.
    let mut svg = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE svg [\n<!ENTITY e \"");
    svg.push_str(&"x".repeat(100_000));
    svg.push_str("\">\n]>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">");
    svg.push_str("<desc>");
    svg.push_str(&"&e;".repeat(200_000));
    svg.push_str("</desc></svg>");
    assert!(svg.len() < MAX_SVG_BYTES);
    assert_refused("entity-bomb.svg", Bytes::from(svg), "DTD").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billion_laughs_are_refused() {
    assert_refused("svg-entities.svg", fixture("svg-entities.svg"), "DTD").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_nested_groups_are_refused() {
    let svg = fixture("svg-deep.svg");
    assert_eq!(bytecount(&svg, b"<g>"), 5000);
    assert_refused("svg-deep.svg", svg, "nested too deeply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mask_chain_deeper_than_the_stack_is_refused() {
    // 3000 masks, each drawn inside the next: about 9 MiB of usvg's and resvg's stack, more
    // than a pixel thread has. Refused from the XML, before usvg recurses.
    let mut svg =
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="60" height="60">"#);
    for i in 0..3000 {
        let inner = if i > 0 {
            format!(r##" mask="url(#m{})""##, i - 1)
        } else {
            String::new()
        };
        svg.push_str(&format!(
            r#"<mask id="m{i}"><rect width="60" height="60" fill="white"{inner}/></mask>"#
        ));
    }
    svg.push_str(r##"<rect width="60" height="60" mask="url(#m2999)"/></svg>"##);
    assert_refused("masks.svg", Bytes::from(svg), "nested too deeply").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_svg_over_the_byte_limit_is_refused_unread() {
    let mut svg =
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">"#);
    while svg.len() <= MAX_SVG_BYTES {
        svg.push_str("<!-- padding padding padding padding padding padding padding -->\n");
    }
    svg.push_str("</svg>");
    assert_refused("large.svg", Bytes::from(svg), "larger than").await;
}

/// A chain of `patterns` pattern fills, each tile filled with the next pattern: the
/// costliest nesting per level measured (about 3.5 KiB of stack per element level). Its
/// depth is 2 × `patterns` + 2 (the root, the filled rectangle, then a pattern and its
/// rectangle per level).
fn pattern_chain(patterns: usize) -> Bytes {
    let mut svg =
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">"#);
    for i in 0..patterns {
        let fill = if i > 0 {
            format!("url(#p{})", i - 1)
        } else {
            "#f00".to_owned()
        };
        svg.push_str(&format!(
            r#"<pattern id="p{i}" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="{fill}"/></pattern>"#
        ));
    }
    svg.push_str(&format!(
        r##"<rect width="64" height="64" fill="url(#p{})"/></svg>"##,
        patterns - 1
    ));
    Bytes::from(svg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepest_accepted_svg_renders_on_a_pixel_thread() {
    let deepest = (MAX_SVG_DEPTH - 2) / 2;
    let (status, body, _) = request(
        "patterns.svg",
        pattern_chain(deepest),
        "filters:format(png)/patterns.svg",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(decode(&body), (image::ImageFormat::Png, 64, 64));
    let pixel = image::load_from_memory(&body)
        .expect("png")
        .to_rgba8()
        .get_pixel(3, 3)
        .0;
    assert_eq!(pixel, [255, 0, 0, 255]);

    // One level more is refused.
    assert_refused(
        "patterns.svg",
        pattern_chain(deepest + 1),
        "nested too deeply",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_doctype_still_renders() {
    let svg = r##"<?xml version="1.0" encoding="utf-8"?>
<!-- Generator: Adobe Illustrator 24.0.0, SVG Export Plug-In . SVG Version: 6.00 Build 0)  -->
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="20" height="10" viewBox="0 0 20 10">
<rect width="20" height="10" fill="#00f"/>
</svg>
"##;
    let (status, body, _) = request("ai.svg", Bytes::from(svg), "filters:format(png)/ai.svg").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(decode(&body), (image::ImageFormat::Png, 20, 10));
}

/// Occurrences of `needle` in `haystack`.
fn bytecount(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
