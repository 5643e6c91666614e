//! Fuzz target for the AVIF decoder (avif-parse container, rav1d AV1, own YUV to RGB): the first
//! byte picks a URL geometry, the rest is fed to `processing::process` when it sniffs as AVIF
//! (see `common::decode`).
#![no_main]

use imagor_tower::processing::Format;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::decode(Format::Avif, data);
});
