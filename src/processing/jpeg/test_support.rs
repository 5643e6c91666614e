//! Test helpers shared by the JPEG decoders' unit tests.

/// A file from `tests/fixtures/jpeg/`.
pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jpeg")
        .join(name);
    std::fs::read(path).expect("read fixture")
}

/// Where the marker `0xFF, second` first appears in `bytes`.
pub(super) fn marker(bytes: &[u8], second: u8) -> usize {
    bytes
        .windows(2)
        .position(|w| w == [0xFF, second])
        .unwrap_or_else(|| panic!("no marker FF {second:02X}"))
}

/// `count` copies of `original`, each with four bytes overwritten at pseudo-random places
/// (xorshift from `seed`, so every run tests the same files).
pub(super) fn damaged_copies(original: &[u8], count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            let mut bytes = original.to_vec();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            bytes
        })
        .collect()
}
