//! Decoding AVIF many times keeps no memory: a counting allocator measures the bytes still
//! allocated after each decode. rav1d's C-style API leaves a small reference-counted block in
//! every released picture (48 bytes, found by the `decode_avif` fuzz target under
//! LeakSanitizer); `processing::avif` frees it, and this test keeps it that way.
//!
//! This file is its own test binary because it installs a global allocator.
#![cfg(feature = "avif")]

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
    // rav1d's frame threads may still be winding down (about 700 KB of their own) when a
    // decode returns, for longer on a busy machine, so the count is read as its lowest value
    // over a short settling time.
    let settled = || {
        let mut lowest = ALLOCATOR.allocated();
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            lowest = lowest.min(ALLOCATOR.allocated());
        }
        lowest
    };
    let before = settled();
    let rounds = 100;
    for _ in 0..rounds {
        decode();
    }
    let grown = settled().saturating_sub(before);
    // The leak this guards against was 4 blocks of 48 bytes per decode (19200 bytes here).
    // A few KB of slack cover a worker thread that a very busy machine has not reaped yet.
    assert!(
        grown < 4096,
        "{grown} bytes more allocated after {rounds} decodes"
    );
}
