//! What the fuzz targets run, shared with `tests/fuzz_regressions.rs` so that a saved crash
//! input goes through exactly the same calls as in the fuzzer.
//!
//! Only the crate's public API is used. An error is a fine answer to a broken input; a panic,
//! or an answer larger than the limits, is not.
//!
//! Decoder inputs start with one selector byte that picks the URL geometry (see
//! [`GEOMETRIES`]); the rest is the encoded image. The other targets take their input whole.

use std::sync::OnceLock;

use imagor_tower::path::{self, Params};
use imagor_tower::processing::{self, Format, Limits, Options, Overlays, ProcessError};

/// The URL parts put in front of the image for the decoder targets, chosen by the selector
/// byte. They cover the three JPEG paths (shrink-on-load by 8 from the DC coefficients,
/// by 2 or 4 with the reduced IDCT, full decode), EXIF orientation, the animated GIF path
/// (GIF output, `max_frames`, `page`) and the whole-image operations (`trim`, `smart`).
pub(crate) const GEOMETRIES: [&str; 16] = [
    // Full decode, no resize.
    "",
    // Small outputs: the 1/8 DC decoder for sources of 16 pixels and more per side.
    "1x1/",
    "16x16/",
    "fit-in/4x4/",
    // Larger outputs: 1/4 or 1/2 with the reduced IDCT, depending on the source size.
    "48x48/",
    "fit-in/100x100/",
    "0x0:64x64/8x8/",
    // Orientation and flips without a resize.
    "-0x-0/filters:orient(90)/",
    "filters:format(png):strip_icc()/",
    // The animated path (GIF sources; others ignore the filters).
    "fit-in/16x16/filters:format(gif):max_frames(64)/",
    "filters:page(2)/",
    "8x8/filters:max_frames(3):fill(red)/",
    // Whole-image operations, and other outputs.
    "trim/8x8/",
    "12x12/smart/",
    "fit-in/32x32/filters:format(webp):quality(40)/",
    "full-fit-in/20x10/filters:format(tiff)/",
];

/// The decoder targets' limits: large enough for real pictures, small enough that a header
/// claiming a huge image is refused instead of allocated.
pub(crate) fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_width = Some(4096);
    limits.max_height = Some(4096);
    limits.max_resolution = Some(16_000_000);
    limits.max_alloc = Some(256 << 20);
    limits
}

/// The `filter_args` target's limits: filters may grow the canvas (`fill`, `padding`,
/// `rotate`, `upscale`), so they are kept to a megapixel for the fuzzer's speed.
pub(crate) fn filter_limits() -> Limits {
    let mut limits = decode_limits();
    limits.max_width = Some(1024);
    limits.max_height = Some(1024);
    limits.max_resolution = Some(1 << 20);
    limits
}

/// Runs an encoded image of the `expected` format through [`processing::process`] with the
/// geometry picked by the first byte, and answers the output size or the error. Inputs of
/// another format are skipped (`None`), so that each decoder target stays on its decoder.
pub(crate) fn decode(expected: Format, data: &[u8]) -> Option<Result<(u32, u32), ProcessError>> {
    let (&selector, image) = data.split_first()?;
    if Format::sniff(image) != Some(expected) {
        return None;
    }
    let prefix = GEOMETRIES[usize::from(selector) % GEOMETRIES.len()];
    let params = path::parse(&format!("/unsafe/{prefix}source"));
    let limits = decode_limits();
    let options = Options::default().limits(limits);
    let result = processing::process(image, &params, &options)
        .map(|output| checked_size(&limits, output.width(), output.height()));
    Some(result)
}

/// Runs the JPEG shrink-on-load decoders alone: the first byte picks the factor (2, 4 or 8),
/// the rest is the file. The answer, when there is one, has the reduced size of the frame.
pub(crate) fn decode_jpeg_reduced(data: &[u8]) -> Option<(u32, u32)> {
    let (&selector, image) = data.split_first()?;
    let factor = [2, 4, 8][usize::from(selector) % 3];
    let limits = decode_limits();
    let (decoded, used) = processing::decode_jpeg_reduced(image, &limits, factor)?;
    assert!(
        used <= factor && matches!(used, 2 | 4 | 8),
        "factor {used} for {factor}"
    );
    Some(checked_size(&limits, decoded.width(), decoded.height()))
}

/// Parses a URL whose filter list is the input, then processes a small PNG with it and
/// describes the result as `/meta` does: the filter arguments are read and validated exactly
/// as for a request. Every overlay source the filters name (`watermark`, `image`) is the same
/// small PNG.
pub(crate) fn filter_args(data: &[u8]) -> Result<(u32, u32), ProcessError> {
    let text = String::from_utf8_lossy(data);
    let params = path::parse(&format!("/unsafe/fit-in/6x6/filters:{text}/source.png"));
    let limits = filter_limits();
    let source = small_png();
    let mut overlays = Overlays::new();
    for key in processing::overlay_sources(&params).unwrap_or_default() {
        overlays.insert(key, source.to_vec());
    }
    let options = Options::default().limits(limits).overlays(overlays);
    let result = processing::process(source, &params, &options)
        .map(|output| checked_size(&limits, output.width(), output.height()));
    let meta = Params {
        meta: true,
        ..params
    };
    if let Ok(described) = processing::metadata(source, &meta, &options) {
        checked_size(&limits, described.width(), described.height());
        let _ = described.to_json();
    }
    result
}

/// Describes an encoded image as `/meta` does, EXIF included, and answers the JSON.
pub(crate) fn meta(data: &[u8]) -> Result<String, ProcessError> {
    let params = path::parse("/unsafe/meta/fit-in/16x16/source");
    let limits = decode_limits();
    let options = Options::default().limits(limits);
    let described = processing::metadata(data, &params, &options)?;
    checked_size(&limits, described.width(), described.height());
    Ok(described.to_json())
}

/// A 5×3 half-transparent PNG, made once with the crate's own `color:` source.
fn small_png() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(|| {
        let params = path::parse("/unsafe/5x3/filters:format(png)/color:ff336680");
        processing::process_color(&params, &Options::default())
            .map(|output| output.into_bytes())
            .unwrap_or_default()
    })
}

/// Whatever the input, an answer is never larger than the limits.
fn checked_size(limits: &Limits, width: u32, height: u32) -> (u32, u32) {
    assert!(
        limits.check(width, height).is_ok(),
        "output {width}x{height} is over the limits"
    );
    (width, height)
}
