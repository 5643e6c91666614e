//! GIF output: this crate's quantiser against `image`'s NeuQuant encoder at speed 10, the
//! one GIF output used before.
//!
//! Inputs, from the folder named by `IMAGOR_BENCH_CORPUS` (the benchmark prints a message and measures nothing without them):
//!
//! * `chi-267x200`: the 31 frames of `chi.gif`, composited and resized to 267×200 (what
//!   `fit-in/300x200` gives), more than 256 colours each;
//! * `chi-320x240`: the same frames unresized (256 colours or fewer: the exact path);
//! * `sunset-300x200`: a 300×200 resize of `sunset.jpg`;
//! * `demo1-200x200`: `tests/fixtures/images/demo1.jpg` as it is (the photo of the
//!   quantiser's PSNR test).
//!
//! Cases per input, one iteration encoding every frame once (so `elem/s` is frames per
//! second):
//!
//! * `neuquant10`: `GifEncoder::new_with_speed(.., 10)` on the frame (quantise, LZW, container);
//! * `ours`: `process` of the frame stored as an uncompressed TIFF with `format(gif)`
//!   (TIFF decode, threshold, quantise, LZW, container);
//! * `tiff-overhead`: `process` of the same TIFF with `format(tiff)`, the part of `ours` that is
//!   not GIF encoding.
//!
//! Run with `cargo bench --bench gif` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quick run). `IMAGOR_BENCH_ROUNDS=N cargo bench --bench gif` skips criterion and prints, per
//! input, the best of N rounds in milliseconds per frame and the PSNR of each encoder's frames
//! against the unquantised ones.

use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group};
use image::codecs::gif::{GifDecoder, GifEncoder};
use image::imageops::FilterType;
use image::{AnimationDecoder, DynamicImage, ImageFormat};
use imagor_tower::path::{Filter, Params};
use imagor_tower::processing::{Options, process};

/// One input: its frames, and each frame as an uncompressed TIFF.
struct Input {
    name: &'static str,
    frames: Vec<DynamicImage>,
    tiffs: Vec<Vec<u8>>,
}

fn corpus_file(name: &str) -> Option<Vec<u8>> {
    let dir = PathBuf::from(std::env::var_os("IMAGOR_BENCH_CORPUS")?);
    std::fs::read(dir.join(name)).ok()
}

fn input(name: &'static str, frames: Vec<DynamicImage>) -> Input {
    let tiffs = frames
        .iter()
        .map(|frame| {
            let mut bytes = Vec::new();
            frame
                .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Tiff)
                .expect("tiff");
            bytes
        })
        .collect();
    Input {
        name,
        frames,
        tiffs,
    }
}

fn inputs() -> Option<Vec<Input>> {
    let chi = corpus_file("chi.gif")?;
    let sunset = corpus_file("sunset.jpg")?;
    let decoder = GifDecoder::new(Cursor::new(chi)).ok()?;
    let chi: Vec<DynamicImage> = decoder
        .into_frames()
        .collect_frames()
        .ok()?
        .into_iter()
        .map(|frame| DynamicImage::ImageRgba8(frame.into_buffer()))
        .collect();
    let small: Vec<DynamicImage> = chi
        .iter()
        .map(|frame| frame.resize_exact(267, 200, FilterType::Triangle))
        .collect();
    let photo = image::load_from_memory(&sunset).ok()?;
    let photo =
        DynamicImage::ImageRgb8(photo.resize_exact(300, 200, FilterType::Triangle).to_rgb8());
    let demo = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/demo1.jpg"),
    )
    .ok()?;
    let demo = DynamicImage::ImageRgb8(image::load_from_memory(&demo).ok()?.to_rgb8());
    Some(vec![
        input("chi-267x200", small),
        input("chi-320x240", chi),
        input("sunset-300x200", vec![photo]),
        input("demo1-200x200", vec![demo]),
    ])
}

/// The previous GIF output: `image`'s encoder with NeuQuant at speed 10.
fn neuquant(frame: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
        encoder
            .encode(
                frame.as_bytes(),
                frame.width(),
                frame.height(),
                frame.color().into(),
            )
            .expect("gif");
    }
    out
}

fn params(format: &str) -> Params {
    Params {
        filters: vec![Filter::new("format", format)],
        ..Default::default()
    }
}

fn ours(tiff: &[u8], options: &Options) -> Vec<u8> {
    process(tiff, &params("gif"), options)
        .expect("gif")
        .bytes()
        .to_vec()
}

fn overhead(tiff: &[u8], options: &Options) -> usize {
    process(tiff, &params("tiff"), options)
        .expect("tiff")
        .bytes()
        .len()
}

/// Squared error summed over the RGB samples of opaque pixels, and their count.
fn squared_error(original: &DynamicImage, gif: &[u8]) -> (f64, f64) {
    let decoded = image::load_from_memory(gif).expect("decodes").to_rgba8();
    let original = original.to_rgba8();
    let mut error = 0.0;
    let mut samples = 0.0;
    for (a, b) in original.pixels().zip(decoded.pixels()) {
        if a.0[3] < 128 {
            continue;
        }
        for channel in 0..3 {
            let d = f64::from(a.0[channel]) - f64::from(b.0[channel]);
            error += d * d;
        }
        samples += 3.0;
    }
    (error, samples)
}

fn psnr(frames: &[DynamicImage], gifs: &[Vec<u8>]) -> (f64, f64) {
    let (error, samples) = frames
        .iter()
        .zip(gifs)
        .map(|(frame, gif)| squared_error(frame, gif))
        .fold((0.0, 0.0), |(e, s), (de, ds)| (e + de, s + ds));
    let mse = error / samples.max(1.0);
    (mse, 10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10())
}

fn gif(c: &mut Criterion) {
    let Some(inputs) = inputs() else {
        println!(
            "skipping the gif benchmark: no chi.gif and sunset.jpg \
             (set IMAGOR_BENCH_CORPUS to a folder that has them)"
        );
        return;
    };
    let options = Options::default();
    for input in &inputs {
        let mut group = c.benchmark_group(format!("gif/{}", input.name));
        group.throughput(Throughput::Elements(input.frames.len() as u64));
        group.sample_size(10);
        group.bench_function("neuquant10", |b| {
            b.iter(|| {
                for frame in &input.frames {
                    black_box(neuquant(black_box(frame)));
                }
            })
        });
        group.bench_function("ours", |b| {
            b.iter(|| {
                for tiff in &input.tiffs {
                    black_box(ours(black_box(tiff), &options));
                }
            })
        });
        group.bench_function("tiff-overhead", |b| {
            b.iter(|| {
                for tiff in &input.tiffs {
                    black_box(overhead(black_box(tiff), &options));
                }
            })
        });
        group.finish();
    }
}

/// Best of `rounds` passes over an input's frames, in milliseconds per frame.
fn best_ms(rounds: u32, frames: usize, mut pass: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let start = Instant::now();
        pass();
        best = best.min(start.elapsed().as_secs_f64());
    }
    best * 1000.0 / frames.max(1) as f64
}

/// `IMAGOR_BENCH_ROUNDS=N`: time and quality per input, without criterion.
fn report(rounds: u32) {
    let Some(inputs) = inputs() else {
        println!("no chi.gif and sunset.jpg");
        return;
    };
    let options = Options::default();
    println!("input            encoder        ms/frame   bytes/frame   MSE      PSNR (dB)");
    for input in &inputs {
        let count = input.frames.len();
        let old: Vec<Vec<u8>> = input.frames.iter().map(neuquant).collect();
        let new: Vec<Vec<u8>> = input.tiffs.iter().map(|t| ours(t, &options)).collect();
        let old_ms = best_ms(rounds, count, || {
            for frame in &input.frames {
                black_box(neuquant(black_box(frame)));
            }
        });
        let new_ms = best_ms(rounds, count, || {
            for tiff in &input.tiffs {
                black_box(ours(black_box(tiff), &options));
            }
        });
        let base_ms = best_ms(rounds, count, || {
            for tiff in &input.tiffs {
                black_box(overhead(black_box(tiff), &options));
            }
        });
        for (encoder, ms, gifs) in [("neuquant10", old_ms, &old), ("ours", new_ms, &new)] {
            let (mse, db) = psnr(&input.frames, gifs);
            let bytes = gifs.iter().map(Vec::len).sum::<usize>() / count.max(1);
            println!(
                "{:<16} {encoder:<14} {ms:>8.3}   {bytes:>11}   {mse:>6.2}   {db:>6.2}",
                input.name
            );
        }
        println!(
            "{:<16} {:<14} {base_ms:>8.3}   (TIFF in, TIFF out: the part of `ours` that is not GIF)",
            input.name, "tiff-overhead"
        );
    }
}

criterion_group!(benches, gif);

fn main() {
    if let Some(rounds) = std::env::var("IMAGOR_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        report(rounds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
