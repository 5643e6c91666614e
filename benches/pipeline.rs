//! Throughput of the image engine: decode → resize → encode on real photos.
//!
//! Reads every `*.jpg` of the folder named by `IMAGOR_BENCH_CORPUS` and prints a message and measures nothing when the folder is absent.
//! Three cases per photo, as the service would run them: `512x512` (fill-crop),
//! `fit-in/300x200` and `150x150`. Each iteration processes one image, so the reported
//! `elem/s` is images per second.
//!
//! Run with `cargo bench --bench pipeline` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quick run).
//!
//! Two plain modes skip criterion, for comparing with the peer benchmark kit's `vips-baseline`:
//!
//! * `IMAGOR_BENCH_ROUNDS=N`: N passes over the photos per case on this thread, printing
//!   images/s per case (the same unit as vips-baseline with one worker);
//! * `IMAGOR_BENCH_ONCE=FILE`: one `150x150` thumbnail of FILE, then exit (for peak memory
//!   with `/usr/bin/time -v`).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group};
use imagor_tower::path::Params;
use imagor_tower::processing::{Options, process};
use support::corpus;

mod support;

fn cases() -> [(&'static str, Params); 3] {
    [
        (
            "512x512",
            Params {
                width: 512,
                height: 512,
                ..Default::default()
            },
        ),
        (
            "fit-in-300x200",
            Params {
                fit_in: true,
                width: 300,
                height: 200,
                ..Default::default()
            },
        ),
        (
            "150x150",
            Params {
                width: 150,
                height: 150,
                ..Default::default()
            },
        ),
    ]
}

fn pipeline(c: &mut Criterion) {
    let Some(photos) = corpus() else {
        println!(
            "skipping the pipeline benchmark: no *.jpg (set IMAGOR_BENCH_CORPUS to a folder of photos)"
        );
        return;
    };
    let options = Options::default();
    for (case, params) in cases() {
        let mut group = c.benchmark_group(format!("pipeline/{case}"));
        group.throughput(Throughput::Elements(1));
        group.sample_size(10);
        for (name, bytes) in &photos {
            group.bench_function(name.as_str(), |b| {
                b.iter(|| process(black_box(bytes), black_box(&params), &options))
            });
        }
        group.finish();
    }
}

/// `IMAGOR_BENCH_ROUNDS=N`: images/s per case, N passes over the photos each.
fn rounds(count: u32) {
    let Some(photos) = corpus() else {
        println!("no photos");
        return;
    };
    let options = Options::default();
    for (case, params) in cases() {
        let start = Instant::now();
        let mut images = 0u32;
        for _ in 0..count {
            for (_, bytes) in &photos {
                black_box(process(black_box(bytes), &params, &options).map(|o| o.width())).ok();
                images += 1;
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{case}: {images} images in {seconds:.2} s = {:.2} images/s",
            f64::from(images) / seconds
        );
    }
}

criterion_group!(benches, pipeline);

fn main() {
    if let Some(path) = std::env::var_os("IMAGOR_BENCH_ONCE") {
        let bytes = std::fs::read(&path).unwrap_or_default();
        let (_, params) = cases()[2].clone();
        match process(&bytes, &params, &Options::default()) {
            Ok(output) => println!("{}x{}", output.width(), output.height()),
            Err(err) => println!("error: {err}"),
        }
        return;
    }
    support::run(rounds, benches);
}
