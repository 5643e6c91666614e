//! The content type of a source or stored blob, and which content types may be passed to a
//! client unprocessed.

use super::file::sniff_content_type;
use crate::blob::Blob;

/// The content type every blob falls back to when neither a declared type nor the bytes
/// tell one.
pub const FALLBACK_CONTENT_TYPE: &str = "application/octet-stream";

/// The content type of `blob`: the declared one when there is a non-empty one, else the
/// one recognised from the first bytes, else `None`.
///
/// ```
/// use imagor_tower::Blob;
/// use imagor_tower::loader::content_type_of;
///
/// assert_eq!(content_type_of(&Blob::new("x").with_content_type("image/png")), Some("image/png"));
/// assert_eq!(content_type_of(&Blob::new(&b"GIF89a..."[..])), Some("image/gif"));
/// assert_eq!(content_type_of(&Blob::new("plain text")), None);
/// ```
pub fn content_type_of(blob: &Blob) -> Option<&str> {
    blob.content_type()
        .filter(|declared| !declared.is_empty())
        .or_else(|| sniff_content_type(blob.bytes()))
}

/// [`content_type_of`], else [`FALLBACK_CONTENT_TYPE`] (`application/octet-stream`): the
/// `Content-Type` to send for a blob served as it is.
///
/// ```
/// use imagor_tower::Blob;
/// use imagor_tower::loader::content_type_or_fallback;
///
/// assert_eq!(content_type_or_fallback(&Blob::new(&b"\x89PNG\r\n\x1a\n"[..])), "image/png");
/// assert_eq!(content_type_or_fallback(&Blob::new("?")), "application/octet-stream");
/// ```
pub fn content_type_or_fallback(blob: &Blob) -> &str {
    content_type_of(blob).unwrap_or(FALLBACK_CONTENT_TYPE)
}

/// `blob` with [`content_type_of`] as its declared content type: what loaders hand out, so
/// that a source without a declared type still tells what it is.
pub(crate) fn with_content_type_of(blob: Blob) -> Blob {
    match content_type_of(&blob).map(str::to_owned) {
        Some(content_type) if blob.content_type() != Some(content_type.as_str()) => {
            blob.with_content_type(content_type)
        }
        _ => blob,
    }
}

/// Whether a `Content-Type` value names an image: `image/<subtype>`, case-insensitive,
/// parameters ignored. Anything else (HTML, JSON, text, `application/octet-stream`, a
/// malformed value) is not.
///
/// Loaders keep the upstream's content type on the [`Blob`] (the HTTP loader
/// sniffs one when the upstream sent none); check it with this function before serving a
/// source body as is (`raw()`), so the service cannot be used to relay arbitrary documents
/// from its own origin. `image/svg+xml` counts as an image: serve it with a
/// `Content-Security-Policy` that forbids scripts.
///
/// ```
/// use imagor_tower::loader::is_image_content_type;
///
/// assert!(is_image_content_type("image/png"));
/// assert!(is_image_content_type("Image/JPEG; charset=binary"));
/// assert!(!is_image_content_type("text/html; charset=utf-8"));
/// assert!(!is_image_content_type("image/"));
/// ```
pub fn is_image_content_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = media.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("image")
        && !subtype.is_empty()
        && subtype != "*"
        && subtype.bytes().all(is_token)
}

/// An RFC 9110 token character.
fn is_token(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_then_sniffed_then_fallback() {
        let declared = Blob::new(&b"GIF89a"[..]).with_content_type("image/x-custom");
        assert_eq!(content_type_of(&declared), Some("image/x-custom"));
        let empty = Blob::new(&b"GIF89a"[..]).with_content_type("");
        assert_eq!(content_type_of(&empty), Some("image/gif"));
        assert_eq!(
            content_type_or_fallback(&Blob::new("?")),
            FALLBACK_CONTENT_TYPE
        );
        let filled = with_content_type_of(Blob::new(&b"GIF89a"[..]));
        assert_eq!(filled.content_type(), Some("image/gif"));
        assert_eq!(with_content_type_of(Blob::new("?")).content_type(), None);
    }

    #[test]
    fn only_image_types_pass() {
        for image in [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/avif",
            "image/gif",
            "image/svg+xml",
            "image/x-icon",
            "IMAGE/PNG",
            " image/png ; q=1",
        ] {
            assert!(is_image_content_type(image), "{image}");
        }
        for other in [
            "",
            "image",
            "image/",
            "image/*",
            "image/png x",
            "images/png",
            "text/html",
            "text/html; image/png",
            "application/json",
            "application/octet-stream",
            "application/xml+image/png",
            "video/mp4",
        ] {
            assert!(!is_image_content_type(other), "{other}");
        }
    }
}
