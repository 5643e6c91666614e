//! Which content types may be passed to a client unprocessed.

/// Whether a `Content-Type` value names an image: `image/<subtype>`, case-insensitive,
/// parameters ignored. Anything else (HTML, JSON, text, `application/octet-stream`, a
/// malformed value) is not.
///
/// Loaders keep the upstream's content type on the [`Blob`](crate::Blob) (the HTTP loader
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
