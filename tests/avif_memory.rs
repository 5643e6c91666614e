//! Decoding AVIF many times keeps no memory: a counting allocator measures the bytes still
//! allocated after each round. rav1d's C-style API leaves a small reference-counted block in
//! every released picture (48 bytes, found by the `decode_avif` fuzz target under
//! LeakSanitizer); `processing::avif` frees it, and this test keeps it that way.
//!
//! This file is its own test binary because it installs a global allocator.

use std::alloc::System;
use std::path::PathBuf;

use cap::Cap;
use imagor_tower::path::{Filter, Params};
use imagor_tower::processing::{Options, process};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

#[test]
fn repeated_avif_decodes_keep_no_memory() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/gopher-front.avif");
    let avif = std::fs::read(path).expect("read fixture");
    let params = Params {
        width: 40,
        height: 40,
        filters: vec![Filter::new("format", "png")],
        ..Default::default()
    };
    let options = Options::default();
    let decode = || {
        let output = process(&avif, &params, &options).expect("decode AVIF");
        assert_eq!((output.width(), output.height()), (40, 40));
    };
    // Warm up lazily initialised tables.
    for _ in 0..3 {
        decode();
    }
    let before = ALLOCATOR.allocated();
    let rounds = 40;
    for _ in 0..rounds {
        decode();
    }
    let grown = ALLOCATOR.allocated().saturating_sub(before);
    // One leaked block per decode would be 48 × 40 = 1920 bytes.
    assert!(
        grown < 512,
        "{grown} bytes still allocated after {rounds} decodes"
    );
}
