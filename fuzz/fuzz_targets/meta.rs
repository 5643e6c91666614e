//! Fuzz target for `processing::metadata` (`/meta`), including the crate's own EXIF reader:
//! the input is the encoded image (see `common::meta`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::meta(data);
});
