//! Percent-coding used by the grammar: query-style decoding of the image text
//! and path-segment escaping when an image is written back into a path.
//!
//! # Example
//!
//! ```
//! use imagor_tower::path::{parse, query_unescape, Params};
//!
//! assert_eq!(query_unescape("filters%3Afill%28red%29/x.png").as_deref(), Some("filters:fill(red)/x.png"));
//! let p = Params { image: "a (1).jpg".into(), ..Params::default() };
//! assert_eq!(p.generate(), "a%20%281%29.jpg");
//! ```

use std::borrow::Cow;

/// Decodes `%XX` escapes and turns `+` into a space, as a URL query component is decoded.
///
/// Returns `None` when an escape is malformed (`%` not followed by two hex digits) or when the
/// decoded bytes are not UTF-8. The image text of a path goes through this decoding, and the
/// service uses it to retry a path whose image was sent percent-escaped.
///
/// # Example
///
/// ```
/// use imagor_tower::path::query_unescape;
///
/// assert_eq!(query_unescape("a%2Fb+c").as_deref(), Some("a/b c"));
/// assert_eq!(query_unescape("100%zz.jpg"), None);
/// assert_eq!(query_unescape("%ff"), None); // not UTF-8
/// ```
pub fn query_unescape(s: &str) -> Option<String> {
    query_unescape_cow(s).map(Cow::into_owned)
}

/// [`query_unescape`] without a copy when nothing needs decoding.
pub(crate) fn query_unescape_cow(s: &str) -> Option<Cow<'_, str>> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
                let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
                out.push((hi << 4) | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Bytes kept as they are by [`push_path_escaped`]: letters, digits and `-._~$&+:=@`.
fn is_path_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~$&+:=@".contains(&b)
}

/// Appends `s` escaped as one path segment: every byte outside [`is_path_safe`] becomes `%XX`
/// with upper-case hex (so `/`, `?`, `(`, `)`, `,`, `%`, spaces and non-ASCII are escaped).
pub(crate) fn push_path_escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if is_path_safe(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_query_style() {
        assert_eq!(query_unescape("plain").as_deref(), Some("plain"));
        assert_eq!(query_unescape("a+b").as_deref(), Some("a b"));
        assert_eq!(query_unescape("%2B").as_deref(), Some("+"));
        assert_eq!(query_unescape("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(query_unescape("%e5%93%88").as_deref(), Some("哈"));
        assert_eq!(query_unescape(""), Some(String::new()));
    }

    #[test]
    fn unescape_rejects_malformed() {
        for bad in ["%", "%4", "%4g", "a%", "%%41", "%C3"] {
            assert_eq!(query_unescape(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn borrowed_when_untouched() {
        assert!(matches!(
            query_unescape_cow("a/b"),
            Some(Cow::Borrowed("a/b"))
        ));
    }

    #[test]
    fn path_escape() {
        let mut out = String::new();
        push_path_escaped(&mut out, "my image (special, v2)?.jpg/é+$&:=@~");
        assert_eq!(
            out,
            "my%20image%20%28special%2C%20v2%29%3F.jpg%2F%C3%A9+$&:=@~"
        );
    }
}
