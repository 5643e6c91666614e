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
    /// GIF (only the first frame is processed for now).
    Gif,
    /// WebP (only the first frame is processed for now).
    Webp,
    /// TIFF.
    Tiff,
    /// Windows bitmap. Read only: output falls back to JPEG, as in imagor.
    Bmp,
    /// AVIF (AV1 in HEIF): the primary image is read, still images are written.
    Avif,
}

impl Format {
    /// The format named `name` in imagor's `format(...)` filter: `jpeg` or `jpg`, `png`, `gif`,
    /// `webp`, `tiff`, `bmp`, `avif`.
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
            "avif" => Some(Self::Avif),
            _ => None,
        }
    }

    /// The canonical lower-case name (`jpeg`, `png`, `gif`, `webp`, `tiff`, `bmp`, `avif`), as
    /// used in imagor's `/meta` output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Tiff => "tiff",
            Self::Bmp => "bmp",
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
        } else if super::avif::is_avif(bytes) {
            Some(Self::Avif)
        } else {
            None
        }
    }

    /// Whether the engine can write this format. Formats it cannot write are answered as JPEG.
    pub fn can_encode(self) -> bool {
        !matches!(self, Self::Bmp)
    }

    /// The format imagor answers with when the URL names none: the source format if it can be
    /// written and is not JPEG-like, otherwise JPEG (FILTERS.md 6.1).
    pub(crate) fn default_output(self) -> Self {
        match self {
            Self::Png | Self::Webp | Self::Tiff | Self::Gif => self,
            Self::Jpeg | Self::Bmp => Self::Jpeg,
            Self::Avif => self,
        }
    }

    /// The `image` crate's name for this format (used to pick the decoder).
    pub(crate) fn image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::Gif => image::ImageFormat::Gif,
            Self::Webp => image::ImageFormat::WebP,
            Self::Tiff => image::ImageFormat::Tiff,
            Self::Bmp => image::ImageFormat::Bmp,
            Self::Avif => image::ImageFormat::Avif,
        }
    }
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
    fn names_round_trip() {
        for format in [
            Format::Jpeg,
            Format::Png,
            Format::Gif,
            Format::Webp,
            Format::Tiff,
            Format::Bmp,
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
        assert!(Format::Avif.can_encode());
        assert!(!Format::Bmp.can_encode());
        assert!(Format::Webp.can_encode());
    }
}
