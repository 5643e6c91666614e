//! Conformance against imagor's golden outputs.
//!
//! Every row of `golden.tsv` is a request imagor's own test suite sent, with the answer imagor
//! produced. Each supported row is sent through the real service stack (`ImageService` with a
//! file loader rooted at the corpus' `images/`, and the row's `VIPS_*` server options read by
//! `imagor_tower::config`) and the answer is compared with the golden:
//! status 200, format (sniffed from the bytes), width, height, frame count, and, for `pixels`
//! rows, the pixels of every frame (mean absolute error per channel below 3 of 255, or a
//! simple SSIM of at least 0.97, as the corpus README suggests; rows drawing `text(...)` or
//! `label(...)` get the looser [`TEXT`] tolerance, for the reason given there).
//!
//! Two suites:
//!
//! * `vendored_subset`: a handful of rows copied into `tests/fixtures/golden/` (same layout as
//!   the corpus; sources from `tests/fixtures/images/`). Always runs; every row must pass.
//! * `full_corpus`: the whole corpus from `IMAGOR_CONFORMANCE_DIR`, or
//!   `../shared/conformance` beside the crate. Skipped with a message when absent. A row that
//!   misses must be listed in `tests/golden-known-misses.txt` (one `golden_path<TAB>reason`
//!   per line), so regressions fail the test while known gaps do not. Set
//!   `GOLDEN_WRITE_MISSES=1` to rewrite that list from the current misses.
//!
//! The data is imagor's (Apache-2.0); the licence text is kept in
//! `tests/data/conformance/LICENSE-imagor-Apache-2.0.txt`.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{AnimationDecoder, RgbaImage};
use imagor_tower::ImageService;
use imagor_tower::config::Config;
use imagor_tower::loader::FileLoader;
use support::{body_bytes, get};
use tower::ServiceExt;

/// How close the pixels of a row must be: mean absolute error per channel (of 255) below
/// `max_mae`, or SSIM at least `min_ssim`.
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    max_mae: f64,
    min_ssim: f64,
}

/// Every row but text: MAE below 3 or SSIM at least 0.97 (the corpus README's suggestion).
const STRICT: Tolerance = Tolerance {
    max_mae: 3.0,
    min_ssim: 0.97,
};

/// Rows with `text(` or `label(` filters. The corpus README (§7) allows text a looser check:
/// imagor draws with Pango, FreeType hinting and the host's "sans", while this engine draws
/// unhinted DejaVu outlines with ab_glyph, so stems are softer and glyph edges move by a pixel;
/// `label` picks its font size by fitting the ink into `size` rows, and the hinted ink imagor
/// fits differs from the exact outlines by a row, which makes the label a few pixels wider or
/// narrower. Placement, colour, alpha, blend and wrapping are still compared through the
/// pixels, only with more room for those glyph-level differences.
const TEXT: Tolerance = Tolerance {
    max_mae: 6.0,
    min_ssim: 0.90,
};

/// The tolerance of a row: [`TEXT`] when its filters draw text, else [`STRICT`].
fn tolerance(row: &Row) -> Tolerance {
    if row.request_path.contains("text(") || row.request_path.contains("label(") {
        TEXT
    } else {
        STRICT
    }
}

/// One line of `golden.tsv`.
#[derive(Debug, Clone)]
struct Row {
    golden_path: String,
    request_path: String,
    config: String,
    check: String,
    format: String,
    width: u32,
    height: u32,
    frames: u32,
}

fn read_rows(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("golden.tsv")).expect("golden.tsv is readable");
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert!(cols.len() >= 8, "malformed golden.tsv row: {line}");
            let num = |i: usize| cols[i].parse::<u32>().expect("numeric column");
            Row {
                golden_path: cols[0].to_owned(),
                request_path: cols[1].to_owned(),
                config: cols[2].to_owned(),
                check: cols[3].to_owned(),
                format: cols[4].to_owned(),
                width: num(5),
                height: num(6),
                frames: num(7),
            }
        })
        .collect()
}

/// The outcome of one row.
#[derive(Debug)]
enum Outcome {
    /// Status, format, size and frames match; pixels match too (or were not compared).
    Pass,
    /// Status, format, size and frames match, but the pixels are too far off.
    PixelMiss(String),
    /// Status, format, size or frames differ.
    Miss(String),
    /// Not run.
    Skipped(String),
}

/// The format of encoded bytes, named as in `golden.tsv`.
fn sniff(bytes: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let brand = bytes.get(8..12).unwrap_or_default();
    if starts(&[0xff, 0xd8, 0xff]) {
        "jpeg"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "gif"
    } else if starts(b"RIFF") && brand == b"WEBP" {
        "webp"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "tiff"
    } else if bytes.get(4..8) == Some(b"ftyp") && (brand == b"avif" || brand == b"avis") {
        "avif"
    } else if bytes.get(4..8) == Some(b"ftyp") && brand.starts_with(b"he") || brand == b"mif1" {
        "heif"
    } else if starts(&[0xff, 0x0a]) || starts(b"\0\0\0\x0cJXL ") {
        "jxl"
    } else if starts(b"{") {
        "json"
    } else {
        "unknown"
    }
}

/// Decodes every frame to RGBA (animations composited frame by frame).
fn frames(bytes: &[u8]) -> Result<Vec<RgbaImage>, String> {
    let collect = |frames: image::Frames<'_>| -> Result<Vec<RgbaImage>, String> {
        frames
            .map(|frame| frame.map(image::Frame::into_buffer))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| err.to_string())
    };
    match sniff(bytes) {
        "gif" => {
            let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes))
                .map_err(|err| err.to_string())?;
            collect(decoder.into_frames())
        }
        "webp" => {
            let decoder = image::codecs::webp::WebPDecoder::new(Cursor::new(bytes))
                .map_err(|err| err.to_string())?;
            if decoder.has_animation() {
                collect(decoder.into_frames())
            } else {
                image::load_from_memory(bytes)
                    .map(|image| vec![image.to_rgba8()])
                    .map_err(|err| err.to_string())
            }
        }
        // The `image` crate is built without an AVIF decoder: read AVIF with the engine.
        "avif" => {
            let params = imagor_tower::path::Params {
                filters: vec![imagor_tower::path::Filter::new("format", "png")],
                ..Default::default()
            };
            let options = imagor_tower::processing::Options::default();
            let png = imagor_tower::processing::process(bytes, &params, &options)
                .map_err(|err| err.to_string())?;
            image::load_from_memory(png.bytes())
                .map(|image| vec![image.to_rgba8()])
                .map_err(|err| err.to_string())
        }
        _ => image::load_from_memory(bytes)
            .map(|image| vec![image.to_rgba8()])
            .map_err(|err| err.to_string()),
    }
}

/// Mean absolute error per channel, over all samples.
fn mae(a: &RgbaImage, b: &RgbaImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / a.as_raw().len().max(1) as f64
}

/// Luma (alpha-weighted onto black, so transparent noise does not count) of every pixel.
fn luma(image: &RgbaImage) -> Vec<f64> {
    image
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0.map(f64::from);
            (0.299 * r + 0.587 * g + 0.114 * b) * a / 255.0
        })
        .collect()
}

/// Mean SSIM over 8×8 windows (step 4) of the luma planes; both images have the same size.
fn ssim(a: &RgbaImage, b: &RgbaImage) -> f64 {
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (la, lb) = (luma(a), luma(b));
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let win = 8.min(w).min(h).max(1);
    let mut sum = 0.0;
    let mut count = 0u32;
    let mut y = 0;
    while y + win <= h {
        let mut x = 0;
        while x + win <= w {
            let n = (win * win) as f64;
            let (mut ma, mut mb) = (0.0, 0.0);
            for yy in y..y + win {
                for xx in x..x + win {
                    ma += la[yy * w + xx];
                    mb += lb[yy * w + xx];
                }
            }
            ma /= n;
            mb /= n;
            let (mut va, mut vb, mut cov) = (0.0, 0.0, 0.0);
            for yy in y..y + win {
                for xx in x..x + win {
                    let (da, db) = (la[yy * w + xx] - ma, lb[yy * w + xx] - mb);
                    va += da * da;
                    vb += db * db;
                    cov += da * db;
                }
            }
            va /= n;
            vb /= n;
            cov /= n;
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1;
            x += 4;
        }
        y += 4;
    }
    if count == 0 {
        1.0
    } else {
        sum / f64::from(count)
    }
}

/// Compares the pixels of every frame; `Ok` carries the worst frame's (MAE, SSIM).
fn compare_pixels(got: &[u8], golden: &[u8], limit: Tolerance) -> Result<(f64, f64), String> {
    let ours = frames(got).map_err(|err| format!("cannot decode our output: {err}"))?;
    let theirs = frames(golden).map_err(|err| format!("cannot decode golden: {err}"))?;
    if ours.len() != theirs.len() {
        return Err(format!(
            "decoded {} frames, golden {}",
            ours.len(),
            theirs.len()
        ));
    }
    let mut worst = (0.0f64, 1.0f64);
    for (index, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if a.dimensions() != b.dimensions() {
            return Err(format!(
                "frame {index} is {:?}, golden {:?}",
                a.dimensions(),
                b.dimensions()
            ));
        }
        let (m, s) = (mae(a, b), ssim(a, b));
        if m >= limit.max_mae && s < limit.min_ssim {
            return Err(format!("frame {index}: MAE {m:.2}, SSIM {s:.3}"));
        }
        worst = (worst.0.max(m), worst.1.min(s));
    }
    Ok(worst)
}

/// Width, height and frame count of our answer (for `json` rows, from the JSON).
fn measure(format: &str, bytes: &[u8]) -> Result<(u32, u32, u32), String> {
    if format == "json" {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|err| format!("bad JSON: {err}"))?;
        let field = |name: &str| {
            value[name]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| format!("JSON has no `{name}`"))
        };
        return Ok((field("width")?, field("height")?, field("pages")?));
    }
    if matches!(format, "heif" | "jxl") {
        return Err(format!("cannot measure {format} output in this test"));
    }
    let frames = frames(bytes)?;
    let first = frames.first().ok_or("no frames")?;
    Ok((
        first.width(),
        first.height(),
        u32::try_from(frames.len()).unwrap_or(u32::MAX),
    ))
}

/// The server settings a row asks for, as `KEY=VALUE` pairs for [`Config`], or why the row
/// cannot run here.
///
/// * `default`: no settings.
/// * `force-bmp-fallback: ...`: imagor's test swapped libvips' BMP reader for a built-in one;
///   this engine only has a built-in one, so the row runs with no settings.
/// * `VIPS_A=1; VIPS_B=2`: server options, applied through `imagor_tower::config`.
/// * anything else (detector stubs, a test loader serving raw pixels) needs a hook this
///   engine does not have.
fn row_config(row: &Row) -> Result<Vec<(String, String)>, String> {
    if row.config == "default" || row.config.starts_with("force-bmp-fallback") {
        return Ok(Vec::new());
    }
    row.config
        .split(';')
        .map(|pair| {
            let (key, value) = pair
                .trim()
                .split_once('=')
                .filter(|(key, value)| {
                    key.starts_with("VIPS_") && !value.is_empty() && !value.contains(' ')
                })
                .ok_or_else(|| format!("config not supported: {}", row.config))?;
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

async fn run_row(images: &Path, dir: &Path, row: &Row) -> Outcome {
    let settings = match row_config(row) {
        Ok(settings) => settings,
        Err(reason) => return Outcome::Skipped(reason),
    };
    let config = match Config::builder().env(settings).build() {
        Ok(config) => config,
        Err(err) => return Outcome::Miss(format!("config rejected: {err}")),
    };
    let service = ImageService::new()
        .unsafe_urls(true)
        .process_options(config.process_options())
        .loader(FileLoader::new(images).expect("the images folder exists"));
    let Ok(res) = service.oneshot(get(&row.request_path)).await;
    let (parts, bytes) = body_bytes(res).await;
    if parts.status != http::StatusCode::OK {
        let body = String::from_utf8_lossy(&bytes);
        let body: String = body.chars().take(120).collect();
        return Outcome::Miss(format!("status {}: {body}", parts.status.as_u16()));
    }
    let format = sniff(&bytes);
    if format != row.format {
        return Outcome::Miss(format!("format {format}, golden {}", row.format));
    }
    let (width, height, frame_count) = match measure(format, &bytes) {
        Ok(measured) => measured,
        Err(err) => return Outcome::Miss(err),
    };
    if (width, height) != (row.width, row.height) {
        return Outcome::Miss(format!(
            "size {width}x{height}, golden {}x{}",
            row.width, row.height
        ));
    }
    if frame_count != row.frames {
        return Outcome::Miss(format!("frames {frame_count}, golden {}", row.frames));
    }
    if row.check != "pixels" || format == "json" {
        return Outcome::Pass;
    }
    let golden = match std::fs::read(dir.join(&row.golden_path)) {
        Ok(golden) => golden,
        Err(err) => return Outcome::Skipped(format!("golden file unreadable: {err}")),
    };
    match compare_pixels(&bytes, &golden, tolerance(row)) {
        Ok(_) => Outcome::Pass,
        Err(reason) => Outcome::PixelMiss(reason),
    }
}

/// Totals of one run, and every row's outcome.
struct Report {
    outcomes: Vec<(Row, Outcome)>,
}

impl Report {
    fn misses(&self) -> impl Iterator<Item = (&Row, &str)> {
        self.outcomes
            .iter()
            .filter_map(|(row, outcome)| match outcome {
                Outcome::Miss(reason) | Outcome::PixelMiss(reason) => Some((row, reason.as_str())),
                _ => None,
            })
    }

    fn scoreboard(&self, title: &str) -> String {
        let run = self
            .outcomes
            .iter()
            .filter(|(_, o)| !matches!(o, Outcome::Skipped(_)))
            .count();
        let exact = self
            .outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Pass | Outcome::PixelMiss(_)))
            .count();
        let pixels = self
            .outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Pass))
            .count();
        let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, outcome) in &self.outcomes {
            if let Outcome::Skipped(reason) = outcome {
                *skipped.entry(reason.as_str()).or_default() += 1;
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "== golden conformance: {title} ==");
        let _ = writeln!(
            out,
            "rows in table:                      {}",
            self.outcomes.len()
        );
        let _ = writeln!(out, "rows run:                           {run}");
        let _ = writeln!(out, "exact status+format+size+frames:    {exact}");
        let _ = writeln!(out, "  ... and within pixel tolerance:   {pixels}");
        let _ = writeln!(
            out,
            "skipped:                            {}",
            self.outcomes.len() - run
        );
        for (reason, count) in skipped {
            let _ = writeln!(out, "  {count:4} {reason}");
        }
        let _ = writeln!(out, "misses:");
        for (row, reason) in self.misses() {
            let _ = writeln!(out, "  {}  ->  {reason}", row.request_path);
        }
        out
    }
}

/// Runs every row of `dir/golden.tsv` against a file loader rooted at `images`.
async fn run_suite(dir: &Path, images: &Path) -> Report {
    let mut outcomes = Vec::new();
    for row in read_rows(dir) {
        let outcome = run_row(images, dir, &row).await;
        outcomes.push((row, outcome));
    }
    Report { outcomes }
}

fn manifest_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `golden_path` → reason, from `tests/golden-known-misses.txt`.
fn known_misses() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(manifest_path("tests/golden-known-misses.txt")).unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (path, reason) = line.split_once('\t').unwrap_or((line, ""));
            (path.to_owned(), reason.to_owned())
        })
        .collect()
}

fn write_known_misses(report: &Report) {
    let mut text = String::from(
        "# Golden rows this engine does not match yet: golden_path<TAB>reason.\n\
         # tests/golden.rs fails when a row not listed here misses.\n\
         # Regenerate with GOLDEN_WRITE_MISSES=1 cargo test --test golden.\n",
    );
    for (row, reason) in report.misses() {
        let reason = reason.replace(['\t', '\n', '\r'], " ");
        let _ = writeln!(text, "{}\t{reason}", row.golden_path);
    }
    std::fs::write(manifest_path("tests/golden-known-misses.txt"), text)
        .expect("write the known-misses list");
}

#[cfg(feature = "svg")]
#[tokio::test]
async fn vendored_subset() {
    let dir = manifest_path("tests/fixtures/golden");
    let report = run_suite(&dir, &manifest_path("tests/fixtures/images")).await;
    println!("{}", report.scoreboard("vendored subset"));
    assert!(report.outcomes.len() >= 5, "the vendored subset has rows");
    let misses: Vec<_> = report.misses().collect();
    assert!(
        misses.is_empty(),
        "vendored golden rows missed: {misses:#?}"
    );
    assert!(
        report
            .outcomes
            .iter()
            .all(|(_, o)| matches!(o, Outcome::Pass)),
        "every vendored row runs"
    );
}

#[tokio::test]
async fn full_corpus() {
    if !cfg!(all(feature = "avif", feature = "svg")) {
        println!(
            "skipping the full golden corpus: its AVIF and SVG rows need the `avif` and `svg` \
             features (on by default)"
        );
        return;
    }
    let dir = std::env::var_os("IMAGOR_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_path("../shared/conformance"));
    if !dir.join("golden.tsv").is_file() {
        println!(
            "skipping the full golden corpus: no golden.tsv in {} \
             (set IMAGOR_CONFORMANCE_DIR to the conformance folder)",
            dir.display()
        );
        return;
    }
    let report = run_suite(&dir, &dir.join("images")).await;
    println!("{}", report.scoreboard(&dir.display().to_string()));
    if std::env::var_os("GOLDEN_WRITE_MISSES").is_some() {
        write_known_misses(&report);
        return;
    }
    let known = known_misses();
    let regressions: Vec<String> = report
        .misses()
        .filter(|(row, _)| !known.contains_key(&row.golden_path))
        .map(|(row, reason)| format!("{}: {reason}", row.request_path))
        .collect();
    let fixed: Vec<&String> = known
        .keys()
        .filter(|path| {
            report
                .outcomes
                .iter()
                .any(|(row, outcome)| &row.golden_path == *path && matches!(outcome, Outcome::Pass))
        })
        .collect();
    if !fixed.is_empty() {
        println!("now passing, remove from tests/golden-known-misses.txt: {fixed:#?}");
    }
    assert!(
        regressions.is_empty(),
        "golden rows that miss and are not in tests/golden-known-misses.txt:\n{}",
        regressions.join("\n")
    );
}
