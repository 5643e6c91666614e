//! [`Format`]: the image formats the engine reads and writes, their imagor names, content types,
//! and detection from the first bytes of a file.
//!
//! Detection looks only at magic bytes, never at a file name or a declared content type, so a
//! source stored as `photo.jpg` that really holds a PNG is treated as a PNG (as imagor does).
//!
//! # Example
//!
//! ```
//! use imagor_tower::processing::Format;
//!
//! assert_eq!(Format::sniff(b"\x89PNG\r\n\x1a\n...."), Some(Format::Png));
//! assert_eq!(Format::sniff(b"not an image"), None);
//!
//! let jpeg = Format::from_name("jpg").unwrap();
//! assert_eq!(jpeg, Format::Jpeg);
//! assert_eq!(jpeg.name(), "jpeg");
//! assert_eq!(jpeg.content_type(), "image/jpeg");
//!
//! // Names are case-sensitive, as in imagor's `format(...)` filter.
//! assert_eq!(Format::from_name("WEBP"), None);
//! ```

use std::fmt;

/// An image format known to the engine.
///
/// New formats (HEIF, JPEG XL, ...) will be added as variants, so matches on this enum
/// need a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JPEG (`jpeg`, also named `jpg`).
    Jpeg,
    /// PNG.
    Png,
    /// GIF, still or animated.
    Gif,
    /// WebP, still or animated.
    Webp,
    /// TIFF.
    Tiff,
    /// Windows bitmap. Read only: output falls back to JPEG, as in imagor.
    Bmp,
    /// SVG, rasterised on load. Read only: output falls back to JPEG, as in imagor.
    Svg,
    /// AVIF (AV1 in HEIF): the primary image is read, still images are written.
    Avif,
}

impl Format {
    /// The format named `name` in imagor's `format(...)` filter: `jpeg` or `jpg`, `png`, `gif`,
    /// `webp`, `tiff`, `bmp`, `svg`, `avif`.
    ///
    /// The match is exact and case-sensitive (`WEBP` and `tif` are not names), as in imagor.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "gif" => Some(Self::Gif),
            "webp" => Some(Self::Webp),
            "tiff" => Some(Self::Tiff),
            "bmp" => Some(Self::Bmp),
            "svg" => Some(Self::Svg),
            "avif" => Some(Self::Avif),
            _ => None,
        }
    }

    /// The canonical lower-case name (`jpeg`, `png`, `gif`, `webp`, `tiff`, `bmp`, `svg`,
    /// `avif`), as
    /// used in imagor's `/meta` output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Tiff => "tiff",
            Self::Bmp => "bmp",
            Self::Svg => "svg",
            Self::Avif => "avif",
        }
    }

    /// The MIME type sent as `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Tiff => "image/tiff",
            Self::Bmp => "image/bmp",
            Self::Svg => "image/svg+xml",
            Self::Avif => "image/avif",
        }
    }

    /// Detects the format from the leading magic bytes; `None` when no known signature matches.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
            Some(Self::Webp)
        } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
            Some(Self::Tiff)
        } else if bytes.starts_with(b"BM") {
            Some(Self::Bmp)
        } else if is_svg(bytes) {
            Some(Self::Svg)
        } else if super::avif::is_avif(bytes) {
            Some(Self::Avif)
        } else {
            None
        }
    }

    /// Whether the engine can write this format. Formats it cannot write are answered as JPEG,
    /// except AVIF in a build without the `avif` cargo feature: `format(avif)` then answers
    /// 406 naming the feature, and `Accept` negotiation never picks it.
    pub fn can_encode(self) -> bool {
        !matches!(self, Self::Bmp | Self::Svg) && (cfg!(feature = "avif") || self != Self::Avif)
    }

    /// The format imagor answers with when the URL names none: the source format if it can be
    /// written and is not JPEG-like, otherwise JPEG.
    pub(crate) fn default_output(self) -> Self {
        match self {
            Self::Png | Self::Webp | Self::Tiff | Self::Gif => self,
            Self::Jpeg | Self::Bmp | Self::Svg => Self::Jpeg,
            Self::Avif => self,
        }
    }

    /// The `image` crate's name for this format (used to pick the decoder).
    ///
    /// SVG has no decoder there: it is rasterised by `processing::svg` and never reaches an
    /// `image` decoder. It maps to PNG, whose decoder refuses XML text cleanly should it ever
    /// be asked to.
    pub(crate) fn image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::Gif => image::ImageFormat::Gif,
            Self::Webp => image::ImageFormat::WebP,
            Self::Tiff => image::ImageFormat::Tiff,
            Self::Bmp => image::ImageFormat::Bmp,
            Self::Svg => image::ImageFormat::Png,
            Self::Avif => image::ImageFormat::Avif,
        }
    }
}

/// The media type of an image (or a PDF) recognised from its first bytes: one byte sniffer
/// for the engine and the loaders.
///
/// The formats the engine reads answer as [`Format::sniff`] recognises them (SVG only with
/// an `<svg` root element after the XML prolog); HEIF/HEIC, JPEG XL, ICO and PDF, which it
/// does not read, are recognised by their signatures so that loaders can still label them.
///
/// ```
/// use imagor_tower::processing::sniff_content_type;
///
/// assert_eq!(sniff_content_type(b"\xFF\xD8\xFF\xE0rest"), Some("image/jpeg"));
/// assert_eq!(sniff_content_type(b"<?xml version=\"1.0\"?><svg/>"), Some("image/svg+xml"));
/// assert_eq!(sniff_content_type(b"<html><svg/></html>"), None);
/// assert_eq!(sniff_content_type(b"%PDF-1.7"), Some("application/pdf"));
/// assert_eq!(sniff_content_type(b"plain text"), None);
/// ```
pub fn sniff_content_type(bytes: &[u8]) -> Option<&'static str> {
    if let Some(format) = Format::sniff(bytes) {
        return Some(format.content_type());
    }
    const OTHERS: &[(&[u8], &str)] = &[
        (b"\xFF\x0A", "image/jxl"),
        (b"\0\0\0\x0CJXL \r\n\x87\n", "image/jxl"),
        (b"\0\0\x01\0", "image/x-icon"),
        (b"%PDF-", "application/pdf"),
    ];
    if let Some((_, media_type)) = OTHERS.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Some(media_type);
    }
    if bytes.get(4..8) != Some(b"ftyp".as_slice()) {
        return None;
    }
    match bytes.get(8..12)? {
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"hevm" | b"hevs" => {
            Some("image/heic")
        }
        b"mif1" | b"msf1" => Some("image/heif"),
        _ => None,
    }
}

/// Whether `bytes` is SVG text: an `<svg` root element, possibly after a UTF-8 byte order
/// mark, whitespace, an XML declaration, processing instructions, comments and a document type
/// declaration. Each step moves forward, so the scan is linear in the prolog's length.
fn is_svg(bytes: &[u8]) -> bool {
    let mut rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    loop {
        rest = rest.trim_ascii_start();
        if let Some(after) = rest.strip_prefix(b"<svg") {
            return after
                .first()
                .is_some_and(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/');
        }
        let skipped = if rest.starts_with(b"<?") {
            after_marker(rest, b"?>")
        } else if rest.starts_with(b"<!--") {
            after_marker(rest, b"-->")
        } else if rest.starts_with(b"<!DOCTYPE") {
            after_doctype(rest)
        } else {
            None
        };
        match skipped {
            Some(next) => rest = next,
            None => return false,
        }
    }
}

/// The bytes after the first `marker` in `text` (skipping the two-byte opener), if any.
fn after_marker<'a>(text: &'a [u8], marker: &[u8]) -> Option<&'a [u8]> {
    let body = text.get(2..)?;
    let at = body.windows(marker.len()).position(|w| w == marker)?;
    body.get(at + marker.len()..)
}

/// The bytes after a `<!DOCTYPE ...>` declaration, whose internal subset (`[...]`) may hold
/// `>` characters of its own.
fn after_doctype(text: &[u8]) -> Option<&[u8]> {
    let mut in_subset = false;
    for (index, &byte) in text.iter().enumerate() {
        match byte {
            b'[' => in_subset = true,
            b']' => in_subset = false,
            b'>' if !in_subset => return text.get(index + 1..),
            _ => {}
        }
    }
    None
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_one_sniffer() {
        let cases: [(&[u8], Option<&str>); 14] = [
            (b"\x89PNG\r\n\x1A\n\0\0", Some("image/png")),
            (b"\0\0\0\x1CftypavifXXXX", Some("image/avif")),
            (b"\0\0\0\x1CftypheicXXXX", Some("image/heic")),
            (b"\0\0\0\x10ftypmif1\0\0\0\0", Some("image/heif")),
            (b"\0\0\0\x1Cftypmp42XXXX", None),
            (b"\xFF\x0A....", Some("image/jxl")),
            (b"\0\0\x01\0....", Some("image/x-icon")),
            (b"%PDF-1.4", Some("application/pdf")),
            // SVG: the strict rule (an `<svg` root after the prolog), for both answers.
            (b"\xEF\xBB\xBF  <svg xmlns='x'/>", Some("image/svg+xml")),
            (
                b"<?xml version=\"1.0\"?>\n<!-- c --><svg/>",
                Some("image/svg+xml"),
            ),
            (b"<html><svg/></html>", None),
            (b"<?xml?><rss><svg/></rss>", None),
            (b"<svgfoo/>", None),
            (b"", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff_content_type(bytes), expected, "{bytes:?}");
            let format = Format::sniff(bytes).map(Format::content_type);
            if expected.is_some_and(|t| t.starts_with("image/svg")) || format.is_some() {
                assert_eq!(format, expected, "{bytes:?}");
            }
        }
    }

    #[test]
    fn sniffs_each_signature() {
        let cases: [(&[u8], Option<Format>); 10] = [
            (b"\xFF\xD8\xFF\xE0rest", Some(Format::Jpeg)),
            (b"\x89PNG\r\n\x1a\nrest", Some(Format::Png)),
            (b"GIF89a....", Some(Format::Gif)),
            (b"GIF87a....", Some(Format::Gif)),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some(Format::Webp)),
            (b"RIFF\0\0\0\0WAVEfmt ", None),
            (b"II*\0....", Some(Format::Tiff)),
            (b"MM\0*....", Some(Format::Tiff)),
            (b"BM......", Some(Format::Bmp)),
            (b"", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Format::sniff(bytes), expected, "{bytes:?}");
        }
        assert_eq!(Format::sniff(b"RIFF"), None);
        assert_eq!(
            Format::sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            Some(Format::Avif)
        );
        assert_eq!(Format::sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), None);
        assert_eq!(Format::sniff(b"\xFF\xD8"), None);
    }

    #[test]
    fn sniffs_svg_after_the_prolog() {
        let svgs: [&[u8]; 6] = [
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"<svg>",
            b"\xEF\xBB\xBF  \n<svg/>",
            b"<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<svg width=\"1\"/>",
            b"<?xml version=\"1.0\"?><!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \
              \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<svg id=\"a\">",
            b"<!DOCTYPE svg [ <!ENTITY e \"<x>\"> ]><?pi x?><svg\t/>",
        ];
        for bytes in svgs {
            assert_eq!(Format::sniff(bytes), Some(Format::Svg), "{bytes:?}");
        }
        let not_svgs: [&[u8]; 8] = [
            b"<html><svg/></html>",
            b"<svgfoo/>",
            b"<svg",
            b"<?xml version=\"1.0\"?>",
            b"<!-- <svg> never closed",
            b"<!DOCTYPE svg",
            b"text <svg/>",
            b"<?xml?><rss><svg/></rss>",
        ];
        for bytes in not_svgs {
            assert_eq!(Format::sniff(bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for format in [
            Format::Jpeg,
            Format::Png,
            Format::Gif,
            Format::Webp,
            Format::Tiff,
            Format::Bmp,
            Format::Svg,
            Format::Avif,
        ] {
            assert_eq!(Format::from_name(format.name()), Some(format));
            assert_eq!(format.to_string(), format.name());
            assert!(format.content_type().starts_with("image/"));
        }
        assert_eq!(Format::from_name("jpg"), Some(Format::Jpeg));
        for not_a_name in ["JPEG", "tif", "heif", "AVIF", "", " png"] {
            assert_eq!(Format::from_name(not_a_name), None, "{not_a_name}");
        }
    }

    #[test]
    fn default_output_follows_imagor() {
        assert_eq!(Format::Jpeg.default_output(), Format::Jpeg);
        assert_eq!(Format::Bmp.default_output(), Format::Jpeg);
        assert_eq!(Format::Png.default_output(), Format::Png);
        assert_eq!(Format::Gif.default_output(), Format::Gif);
        assert_eq!(Format::Webp.default_output(), Format::Webp);
        assert_eq!(Format::Tiff.default_output(), Format::Tiff);
        assert_eq!(Format::Avif.default_output(), Format::Avif);
        #[cfg(feature = "avif")]
        assert!(Format::Avif.can_encode());
        assert!(!Format::Bmp.can_encode());
        assert_eq!(Format::Svg.default_output(), Format::Jpeg);
        assert!(!Format::Svg.can_encode());
        assert_eq!(Format::Svg.content_type(), "image/svg+xml");
        assert!(Format::Webp.can_encode());
    }
}
