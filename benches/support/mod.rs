//! What the benches share: the photo corpus and the choice between criterion and plain rounds.

use std::path::PathBuf;

use criterion::Criterion;

/// Every `*.jpg` of the folder named by `IMAGOR_BENCH_CORPUS`, as `(file stem, bytes)` sorted by name; `None` when there is none.
pub(crate) fn corpus() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = PathBuf::from(std::env::var_os("IMAGOR_BENCH_CORPUS")?);
    let entries = std::fs::read_dir(&dir).ok()?;
    let mut photos: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("jpg"))
        })
        .filter_map(|path| {
            let name = path.file_stem()?.to_string_lossy().into_owned();
            Some((name, std::fs::read(&path).ok()?))
        })
        .collect();
    photos.sort();
    (!photos.is_empty()).then_some(photos)
}

/// Runs `rounds(N)` when `IMAGOR_BENCH_ROUNDS=N` is set, else the criterion `benches` and
/// criterion's summary.
pub(crate) fn run(rounds: impl FnOnce(u32), benches: impl FnOnce()) {
    if let Some(count) = std::env::var("IMAGOR_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        rounds(count);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
