//! The imagor URL grammar: parse, generate, sign and verify.
//!
//! An imagor request path is a fixed sequence of optional segments followed by filters and
//! the source image (the full specification is the project's URL spec, sections 3–6):
//!
//! ```text
//! /[params/][unsafe/ | SIGNATURE/][meta/][trim[:top-left|:bottom-right][:N]/][AxB:CxD/]
//!  [adaptive-][full-]fit-in/][stretch/][[-]Wx[-]H/][GxH[:IxJ]/][left|right|center/]
//!  [top|bottom|middle/][smart/][filters:name(args):name(args)/]IMAGE
//! ```
//!
//! | Function | Does |
//! | --- | --- |
//! | [`parse`] | request path → [`Params`]; never fails, never panics |
//! | [`parse_rest`] | the part after the signature (nested `image()` paths, base params) → [`Params`] |
//! | [`Params::generate`] / `Display` | [`Params`] → canonical path without the signature segment |
//! | [`Params::to_params_json`] | the `/params` debug endpoint's JSON body |
//! | [`split_args`] | a filter's argument text → arguments |
//! | [`query_unescape`] | query-style percent-decoding (the service's "escaped retry") |
//! | [`Signer`] | HMAC signatures (SHA-1, SHA-256, SHA-512, truncation), constant-time verify against the current and any previous keys |
//! | [`Presets`] | named option sets used as `preset:NAME` segments, expanded in place |
//!
//! Parsing is first-match: each segment kind is tried once, in the order above, and a segment
//! that fits no remaining kind starts the image. Generating and parsing are inverse on the
//! canonical domain: `parse_rest(&p.generate())` gives `p` back (with `path` set to the
//! generated text) whenever `p` holds values the generator writes and the parser reads in the
//! same form (for example no `center`/`middle` alignment, no negative sizes, no images that
//! begin like a segment).
//!
//! This module depends only on `std` and the signing crates, so it can be fuzzed, benched
//! and used by clients that only build signed URLs.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{parse, Filter, Params, Signer};
//!
//! let params = Params {
//!     fit_in: true,
//!     width: 300,
//!     height: 200,
//!     filters: vec![Filter::new("format", "webp"), Filter::new("quality", "80")],
//!     image: "images/photo.jpg".into(),
//!     ..Params::default()
//! };
//! let path = params.generate();
//! assert_eq!(path, "fit-in/300x200/filters:format(webp):quality(80)/images/photo.jpg");
//!
//! let signer = Signer::new("mysecret");
//! let url = signer.sign_url(&path);
//! assert_eq!(url, format!("/Ks_rl-tHMYbG7D_F5gVNhOdI1lc=/{path}"));
//!
//! let parsed = parse(&url);
//! assert!(signer.verify(&parsed.path, &parsed.hash));
//! assert_eq!(parsed.image, "images/photo.jpg");
//! assert_eq!(parsed.filters, params.filters);
//! ```

mod escape;
mod generate;
mod json;
mod params;
mod parse;
mod preset;
mod sign;

pub use escape::query_unescape;
pub use params::{Filter, HAlign, Params, TrimBy, VAlign};
pub use parse::{parse, parse_rest, split_args};
pub use preset::{PresetDefinitionError, PresetError, Presets};
pub use sign::{Signer, SignerAlgorithm};
