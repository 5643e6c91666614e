//! JPEG shrink-on-load decoders on real photos, against libjpeg's scaled decode of the same
//! files at the same factors.
//!
//! For every `*.jpg` of the corpus (see `support::corpus`) and each factor (2, 4 and 8):
//! `ours` is `processing::decode_jpeg_reduced` (for a progressive photo, the low-frequency
//! decoder at 1/2 and 1/4 and the DC-only one at 1/8; for a sequential one, libjpeg), and
//! `libjpeg` is libjpeg-turbo's scaled decode through the `mozjpeg` crate (the `jpeg-scaled`
//! feature), which is what libvips does. A photo with nothing to compare prints a message.
//!
//! Run with `cargo bench --bench jpeg` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quick run, and a filter such as `jpeg/2` for one factor). `IMAGOR_BENCH_ROUNDS=N` skips
//! criterion and prints milliseconds per decode, best of N, per photo, factor and decoder.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use image::DynamicImage;
use imagor_tower::processing::{Limits, decode_jpeg_reduced};
use support::corpus;

mod support;

const FACTORS: [u32; 3] = [2, 4, 8];

fn ours(bytes: &[u8], factor: u32) -> Option<DynamicImage> {
    decode_jpeg_reduced(bytes, &Limits::default(), factor).map(|(image, _)| image)
}

/// libjpeg's scaled decode to RGB (`None` where it is not built in, or refuses the file).
#[cfg(feature = "jpeg-scaled")]
fn libjpeg(bytes: &[u8], factor: u32) -> Option<Vec<u8>> {
    let numerator = u8::try_from(8 / factor).ok()?;
    std::panic::catch_unwind(|| {
        let mut decompress = mozjpeg::Decompress::new_mem(bytes).ok()?;
        decompress.scale(numerator);
        let mut started = decompress.rgb().ok()?;
        let pixels: Vec<u8> = started.read_scanlines().ok()?;
        started.finish().ok()?;
        Some(pixels)
    })
    .ok()
    .flatten()
}

#[cfg(not(feature = "jpeg-scaled"))]
fn libjpeg(_: &[u8], _: u32) -> Option<Vec<u8>> {
    None
}

fn jpeg(c: &mut Criterion) {
    let Some(photos) = corpus() else {
        println!(
            "skipping the JPEG benchmark: no *.jpg (set IMAGOR_BENCH_CORPUS to a folder of photos)"
        );
        return;
    };
    for factor in FACTORS {
        let mut group = c.benchmark_group(format!("jpeg/{factor}"));
        group.sample_size(10);
        for (name, bytes) in &photos {
            group.bench_function(format!("{name}/ours"), |b| {
                b.iter(|| ours(black_box(bytes), factor))
            });
            if libjpeg(bytes, factor).is_some() {
                group.bench_function(format!("{name}/libjpeg"), |b| {
                    b.iter(|| libjpeg(black_box(bytes), factor))
                });
            }
        }
        group.finish();
    }
}

/// The best of `count` runs of `decode`, in milliseconds.
fn best(count: u32, mut decode: impl FnMut() -> bool) -> Option<f64> {
    let mut fastest = Duration::MAX;
    for _ in 0..count {
        let start = Instant::now();
        if !decode() {
            return None;
        }
        fastest = fastest.min(start.elapsed());
    }
    Some(fastest.as_secs_f64() * 1000.0)
}

/// `IMAGOR_BENCH_ROUNDS=N`: a table of milliseconds per decode, best of N.
fn rounds(count: u32) {
    let Some(photos) = corpus() else {
        println!("no photos");
        return;
    };
    println!("| photo | factor | ours (ms) | libjpeg (ms) | libjpeg ÷ ours |");
    println!("|---|---|---|---|---|");
    for (name, bytes) in &photos {
        for factor in FACTORS {
            let ours = best(count, || black_box(ours(bytes, factor)).is_some());
            let theirs = best(count, || black_box(libjpeg(bytes, factor)).is_some());
            let show = |ms: Option<f64>| ms.map_or("-".to_owned(), |ms| format!("{ms:.1}"));
            let ratio = ours
                .zip(theirs)
                .map_or("-".to_owned(), |(o, t)| format!("{:.2}", t / o));
            println!(
                "| {name} | 1/{factor} | {} | {} | {ratio} |",
                show(ours),
                show(theirs)
            );
        }
    }
}

criterion_group!(benches, jpeg);

fn main() {
    support::run(rounds, benches);
}
