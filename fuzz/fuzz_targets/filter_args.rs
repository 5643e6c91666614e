//! Fuzz target for filter arguments: the input is the text of a `filters:` list, parsed from
//! a URL and then run on a small PNG by `processing::process` and `processing::metadata`
//! (see `common::filter_args`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::filter_args(data);
});
