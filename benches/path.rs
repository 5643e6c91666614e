//! Throughput of the URL grammar: parse, generate and sign.
//!
//! Run with `cargo bench --bench path` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quick run). Each benchmark handles one path per iteration, so the reported `elem/s` is
//! operations per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imagor_tower::path::{Signer, SignerAlgorithm, parse};

/// Representative request paths, short to long.
const PATHS: [(&str, &str); 4] = [
    ("short", "/unsafe/300x200/photo.jpg"),
    (
        "signed",
        "/Ks_rl-tHMYbG7D_F5gVNhOdI1lc=/fit-in/300x200/filters:format(webp):quality(80)/images/photo.jpg",
    ),
    (
        "escaped",
        "/unsafe/trim:bottom-right:30/0.1x0.1:0.9x0.9/fit-in/-300x-200/10x20:30x40/left/top/smart/\
         https%3A%2F%2Fexample.com%2Fimages%2Fmy%20photo%20%281%29.jpg%3Fv%3D2",
    ),
    (
        "nested",
        "/unsafe/meta/full-fit-in/1200x800/filters:fill(white):format(jpeg):quality(85):\
         watermark(s.glbimg.com/filters:label(abc):watermark(aaa.com/fit-in/filters:aaa(bbb))/aaa.jpg,0,0,0):\
         image(/200x200/filters:image(/100x100/filters:image(/50x50/gopher.png,center,center)/demo.jpg,center,center)/base.jpg,10,10):\
         label(哈哈,1,2,3):brightness(-50):grayscale()/b64:aHR0cHM6Ly9leGFtcGxlLmNvbS9pbWFnZS5qcGc",
    ),
];

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (name, path) in PATHS {
        group.bench_function(name, |b| b.iter(|| parse(black_box(path))));
    }
    group.finish();
}

fn bench_generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(1));
    for (name, path) in PATHS {
        let params = parse(path);
        group.bench_function(name, |b| b.iter(|| black_box(&params).generate()));
    }
    group.finish();
}

fn bench_sign(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    let short = parse(PATHS[1].1).path;
    let long = parse(PATHS[3].1).path;
    for (name, algorithm) in [
        ("sha1", SignerAlgorithm::Sha1),
        ("sha256", SignerAlgorithm::Sha256),
    ] {
        let signer = Signer::new("mysecret").algorithm(algorithm);
        group.bench_function(format!("{name}/short"), |b| {
            b.iter(|| signer.sign(black_box(&short)))
        });
        group.bench_function(format!("{name}/long"), |b| {
            b.iter(|| signer.sign(black_box(&long)))
        });
        let signature = signer.sign(&short);
        group.bench_function(format!("{name}/verify"), |b| {
            b.iter(|| signer.verify(black_box(&short), black_box(&signature)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_generate, bench_sign);
criterion_main!(benches);
