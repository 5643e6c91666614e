//! [`HttpLoader`]: source images over HTTP(S) (imagor's `HTTP_LOADER_*` settings).
//!
//! The image key is turned into a URL as imagor does: under the base URL when one is
//! set; a full `http(s)://` key as is; otherwise the default scheme (`https`) is prefixed,
//! unless the key contains a `%XX` escape, which marks it as a file name for other loaders
//! ([`Error::Invalid`](crate::Error::Invalid)). The fragment is dropped and the path cleaned, then the allow-list
//! (host globs OR URL regexp) is checked, on the first URL and on every redirect hop (at
//! most 10): a miss answers [`Error::SourceNotAllowed`](crate::Error::SourceNotAllowed). The regexp must match the whole
//! URL or the whole `host[:port]`: `example\.com` allows `https://example.com/a.jpg` but not
//! `https://evil-example.com.attacker.net/a.jpg`.
//!
//! By default the loader never connects to loopback, private (including CGNAT
//! `100.64.0.0/10` and benchmarking `198.18.0.0/15`), link-local or cloud-metadata
//! addresses. The check runs on the address actually dialled, after DNS resolution, on the
//! first request and on every redirect hop, and IPv6 forms that carry an IPv4 address
//! (`::ffff:127.0.0.1`) are checked as that address; a refusal answers
//! [`Error::UnauthorizedRequest`](crate::Error::UnauthorizedRequest) before any connection is made. Each category is opened with
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
//! | `Content-Type` not matching the accept globs | [`Error::UnsupportedFormat`](crate::Error::UnsupportedFormat) |
//! | body over [`HttpLoaderBuilder::with_max_allowed_size`] (default [`DEFAULT_MAX_SIZE`]) | [`Error::MaxSizeExceeded`](crate::Error::MaxSizeExceeded) |
//! | connection refused, DNS failure, TLS failure | 404 `dial tcp: <reason>: <url>` |
//! | address in a blocked network | [`Error::UnauthorizedRequest`](crate::Error::UnauthorizedRequest) with the URL |
//! | deadline passed | [`Error::Timeout`](crate::Error::Timeout) |
//! | anything else | 500 with a fixed message and the URL |
//!
//! Error messages name the URL the client asked for and a fixed reason (`connection
//! refused`, `no such host`, `connection failed`), never a resolved address, a redirect
//! target or the system's error text; the details go to the `tracing` debug log.
//!
//! gzip bodies are decompressed; the blob keeps the upstream content type (sniffed when the
//! upstream sent none) and a [`Stat`](crate::blob::Stat) from `Last-Modified`, `ETag` and the body size. Use
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

mod builder;
mod errors;
mod glob;
mod guard;
mod loader;
mod network;
mod source;
#[cfg(test)]
mod tests;

pub use crate::loader::DEFAULT_MAX_SIZE;
pub use builder::{DEFAULT_USER_AGENT, HttpLoaderBuilder};
pub use loader::HttpLoader;
