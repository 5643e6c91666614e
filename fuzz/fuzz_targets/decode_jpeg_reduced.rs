//! Fuzz target for the JPEG shrink-on-load decoders alone (the low-frequency decoder for
//! progressive files at 1/2 and 1/4, the DC-only one at 1/8, libjpeg's scaled decode): the
//! first byte picks the factor, the rest is the file (see `common::decode_jpeg_reduced`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::decode_jpeg_reduced(data);
});
