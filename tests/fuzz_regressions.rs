//! Replays fuzzer inputs through the same calls the fuzz targets make
//! (`fuzz/fuzz_targets/common/mod.rs`):
//!
//! * every file under `tests/fixtures/fuzz/<target>/`: inputs that once crashed, hung or ran
//!   out of memory (kept after the fix, see `fuzz/RESULTS.md`);
//! * the seeds of each target's corpus (`fuzz/corpus/<target>/seed-*`).
//!
//! A broken input may fail with an error; it must not panic, and an answer is never larger
//! than the target's limits (checked inside `common`).

#[path = "../fuzz/fuzz_targets/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use imagor_tower::processing::{Format, ProcessError};

/// The files of `dir` whose name starts with `prefix`, sorted; none when `dir` is missing.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && !name.ends_with(".md"))
        })
        .collect();
    found.sort();
    found
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The saved regressions and the corpus seeds of one target.
fn inputs(target: &str) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let regressions = files(&root().join("tests/fixtures/fuzz").join(target), "");
    let seeds = files(&root().join("fuzz/corpus").join(target), "seed-");
    (regressions, seeds)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Runs every input of a decoder target. Each one is of the target's format (none is
/// skipped); returns how many decoded, how many failed.
fn replay_decoder(target: &str, format: Format) -> (usize, usize) {
    let (regressions, seeds) = inputs(target);
    assert!(!seeds.is_empty(), "{target} has no seeds");
    let (mut ok, mut failed) = (0, 0);
    for path in regressions.iter().chain(&seeds) {
        match common::decode(format, &read(path)) {
            None => panic!("{} is not a {format:?} input", path.display()),
            Some(Ok((width, height))) => {
                assert!(width > 0 && height > 0, "{}", path.display());
                ok += 1;
            }
            Some(Err(_)) => failed += 1,
        }
    }
    (ok, failed)
}

#[test]
fn jpeg_inputs_never_panic() {
    let (ok, failed) = replay_decoder("decode_jpeg", Format::Jpeg);
    // The seeds are real pictures, except one with a corrupt frame header.
    assert!(ok >= 10, "{ok} decoded");
    assert!(failed >= 1, "{failed} failed");
}

#[test]
fn reduced_jpeg_inputs_never_panic() {
    let (regressions, seeds) = inputs("decode_jpeg_reduced");
    assert!(!seeds.is_empty(), "decode_jpeg_reduced has no seeds");
    let (mut ok, mut refused) = (0, 0);
    for path in regressions.iter().chain(&seeds) {
        let bytes = read(path);
        // Every factor for every input, whatever its selector byte says.
        for selector in 0..3u8 {
            let mut input = bytes.clone();
            if let Some(first) = input.first_mut() {
                *first = selector;
            }
            match common::decode_jpeg_reduced(&input) {
                Some((width, height)) => {
                    assert!(width > 0 && height > 0, "{}", path.display());
                    ok += 1;
                }
                None => refused += 1,
            }
        }
    }
    // Real pictures decode at every factor (sequential ones at 1/2 and 1/4 only through
    // libjpeg, the `jpeg-scaled` feature); the corrupt frame header is refused.
    let expected = if cfg!(feature = "jpeg-scaled") {
        30
    } else {
        18
    };
    assert!(ok >= expected, "{ok} decoded");
    assert!(refused >= 3, "{refused} refused");
}

#[test]
fn png_inputs_never_panic() {
    let (ok, _) = replay_decoder("decode_png", Format::Png);
    assert!(ok >= 6, "{ok} decoded");
}

#[test]
fn gif_inputs_never_panic() {
    let (ok, failed) = replay_decoder("decode_gif", Format::Gif);
    assert!(ok >= 4, "{ok} decoded");
    assert!(failed >= 1, "{failed} failed");
}

#[test]
fn webp_inputs_never_panic() {
    let (ok, failed) = replay_decoder("decode_webp", Format::Webp);
    assert!(ok >= 5, "{ok} decoded");
    assert!(failed >= 1, "{failed} failed");
}

#[test]
fn a_webp_chunk_past_the_end_is_refused() {
    let (regressions, _) = inputs("decode_webp");
    assert!(!regressions.is_empty());
    for path in &regressions {
        // Used to allocate the 3 GiB the EXIF chunk claims.
        assert!(
            matches!(
                common::decode(Format::Webp, &read(path)),
                Some(Err(ProcessError::Image(_)))
            ),
            "{}",
            path.display()
        );
        // `/meta` reads the EXIF block of the same bytes without the selector byte.
        let bytes = read(path);
        assert!(common::meta(bytes.get(1..).unwrap_or_default()).is_err());
    }
}

#[cfg(feature = "avif")]
#[test]
fn avif_inputs_never_panic() {
    let (ok, failed) = replay_decoder("decode_avif", Format::Avif);
    assert!(ok >= 4, "{ok} decoded");
    assert!(failed >= 4, "{failed} failed");
}

#[test]
fn an_avif_box_past_the_end_is_refused() {
    let (regressions, _) = inputs("decode_avif");
    assert_eq!(regressions.len(), 4);
    for path in &regressions {
        // Each used to make avif-parse allocate what a box or a count claims (up to 4 GiB).
        assert!(
            matches!(
                common::decode(Format::Avif, &read(path)),
                Some(Err(ProcessError::Image(_)))
            ),
            "{}",
            path.display()
        );
    }
}

#[cfg(feature = "svg")]
#[test]
fn svg_inputs_never_panic() {
    let (ok, _) = replay_decoder("decode_svg", Format::Svg);
    assert!(ok >= 4, "{ok} decoded");
}

#[test]
fn bmp_inputs_never_panic() {
    let (ok, failed) = replay_decoder("decode_bmp", Format::Bmp);
    assert!(ok >= 3, "{ok} decoded");
    // The 60000×60000 header is refused before any allocation.
    assert!(failed >= 1, "{failed} failed");
}

#[test]
fn tiff_inputs_never_panic() {
    let (ok, failed) = replay_decoder("decode_tiff", Format::Tiff);
    assert!(ok >= 4, "{ok} decoded");
    assert!(failed >= 1, "{failed} failed");
}

#[test]
fn a_header_over_the_limits_is_refused() {
    let bomb = read(&root().join("fuzz/corpus/decode_bmp/seed-bomb"));
    assert!(matches!(
        common::decode(Format::Bmp, &bomb),
        Some(Err(ProcessError::MaxResolution))
    ));
}

#[test]
fn filter_inputs_never_panic() {
    let (regressions, seeds) = inputs("filter_args");
    assert!(seeds.len() >= 10);
    for path in &regressions {
        let _ = common::filter_args(&read(path));
    }
    let refused: Vec<&PathBuf> = seeds
        .iter()
        .filter(|path| common::filter_args(&read(path)).is_err())
        // Without the `avif` feature, `format(avif)` is refused by design.
        .filter(|path| {
            cfg!(feature = "avif") || !read(path).windows(12).any(|w| w == b"format(avif)")
        })
        .collect();
    // Every seed is a valid filter list (`format(avif)` included, now that AVIF is written).
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn meta_inputs_never_panic() {
    let (regressions, seeds) = inputs("meta");
    let mut described = Vec::new();
    for path in regressions.iter().chain(&seeds) {
        if let Ok(json) = common::meta(&read(path)) {
            described.push(json);
        }
    }
    assert!(described.len() >= seeds.len(), "{described:?}");
    // The seeds carry EXIF blocks, read by the crate's own reader.
    let with_make = described
        .iter()
        .filter(|json| json.contains("\"Make\":\"Canon\""))
        .count();
    assert!(with_make >= 3, "{described:?}");
}

#[test]
fn geometries_parse_to_what_they_say() {
    use imagor_tower::path::parse;
    // The three JPEG paths need a small output, a middling one and none at all.
    let params = |prefix: &str| parse(&format!("/unsafe/{prefix}source"));
    assert_eq!(common::GEOMETRIES[0], "");
    assert_eq!(
        (
            params(common::GEOMETRIES[2]).width,
            params(common::GEOMETRIES[2]).height
        ),
        (16, 16)
    );
    assert!(params(common::GEOMETRIES[9]).fit_in);
    for prefix in common::GEOMETRIES {
        assert_eq!(params(prefix).image, "source", "{prefix}");
    }
}
