//! Fuzz target for the SVG decoder (usvg parsing under the crate's document budgets, resvg
//! rendering): the first byte picks a URL geometry, the rest is fed to
//! `processing::process` when it sniffs as SVG (see `common::decode`).
#![no_main]

use imagor_tower::processing::Format;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::decode(Format::Svg, data);
});
