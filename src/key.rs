//! Storage keys: how an image key from the URL becomes a file path or an object key.
//!
//! Loaders and storages that map keys onto files or objects (file, S3, GCS) do not use the
//! image text verbatim. They [`normalize`] it the way imagor does:
//!
//! 1. clean the path lexically (repeated `/`, `.` and `..` segments, trailing `/`);
//! 2. delete line-break characters (CR, LF, VT, FF, U+0085, U+2028, U+2029);
//! 3. trim `/` from both ends;
//! 4. escape every byte that is not safe as `%XX` with upper-case hex, a space as `+`.
//!    `A-Z a-z 0-9 / - _ . ~` are always safe, [`SafeChars`] adds more, and the
//!    special value `--` turns escaping off.
//!
//! [`file_path`] then maps a normalised key under a directory: the key must sit under the
//! configured path prefix, and a key with a segment starting with a dot (`.git`, `.env`,
//! `..`) is refused with [`Error::Invalid`].
//!
//! # Example
//!
//! ```
//! use imagor_tower::key::{SafeChars, file_path, normalize};
//!
//! let safe = SafeChars::default();
//! assert_eq!(normalize("/images//aa[1].gif", &safe), "images/aa%5B1%5D.gif");
//! assert_eq!(normalize("café/ü.png", &safe), "caf%C3%A9/%C3%BC.png");
//! assert_eq!(normalize("a b", &safe), "a+b");
//! assert_eq!(normalize("images/aa[1].gif", &SafeChars::new("[]")), "images/aa[1].gif");
//!
//! // Under the prefix `/assets`, the prefix is removed; elsewhere the key is invalid.
//! assert_eq!(file_path("/assets/a/b.png", "/assets", &safe).unwrap(), "a/b.png");
//! assert!(file_path("/other/b.png", "/assets", &safe).is_err());
//! assert!(file_path("/assets/.git/config", "/assets", &safe).is_err());
//! ```

use crate::Error;
use std::fmt;

/// The characters a storage leaves unescaped in its keys, on top of the always-safe
/// `A-Z a-z 0-9 / - _ . ~`.
///
/// Built from imagor's `*_SAFE_CHARS` settings: every character of the string is added to
/// the safe set, except that the exact value `--` turns escaping off entirely. A space in
/// the set keeps spaces as they are (instead of `+`).
///
/// ```
/// use imagor_tower::key::{SafeChars, normalize};
///
/// assert_eq!(normalize("a-+", &SafeChars::new("-")), "a-%2B");
/// assert_eq!(normalize("a-+", &SafeChars::new("--")), "a-+");
/// assert!(SafeChars::new("--").is_noop());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SafeChars {
    /// Extra safe ASCII bytes, one bit per byte value below 128.
    ascii: u128,
    /// Extra safe characters outside ASCII, kept whole.
    other: Vec<char>,
    /// `--`: no escaping at all.
    noop: bool,
}

impl SafeChars {
    /// The value that turns escaping off.
    pub const NOOP: &'static str = "--";

    /// The default set plus every character of `extra`; `"--"` disables escaping.
    pub fn new(extra: &str) -> Self {
        if extra == Self::NOOP {
            return Self {
                ascii: 0,
                other: Vec::new(),
                noop: true,
            };
        }
        Self::default().with_extra(extra)
    }

    /// Adds every character of `extra` to the safe set (the value `--` is not special here).
    ///
    /// The S3 storage uses this to add `!"()*` to whatever the user configured.
    #[must_use]
    pub fn with_extra(mut self, extra: &str) -> Self {
        for c in extra.chars() {
            if c.is_ascii() {
                self.ascii |= 1u128 << (c as u32);
            } else if !self.other.contains(&c) {
                self.other.push(c);
            }
        }
        self
    }

    /// Whether escaping is disabled (`--`).
    pub fn is_noop(&self) -> bool {
        self.noop
    }

    /// Whether `c` is left as it is.
    pub fn is_safe(&self, c: char) -> bool {
        if self.noop || c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~') {
            return true;
        }
        if c.is_ascii() {
            self.ascii & (1u128 << (c as u32)) != 0
        } else {
            self.other.contains(&c)
        }
    }
}

impl Default for SafeChars {
    /// Only the always-safe characters.
    fn default() -> Self {
        Self {
            ascii: 0,
            other: Vec::new(),
            noop: false,
        }
    }
}

impl fmt::Debug for SafeChars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.noop {
            return f.write_str("SafeChars(--)");
        }
        let extra: String = (0u8..128)
            .map(char::from)
            .filter(|c| self.ascii & (1u128 << (*c as u32)) != 0)
            .chain(self.other.iter().copied())
            .collect();
        f.debug_tuple("SafeChars").field(&extra).finish()
    }
}

/// The line-break characters imagor deletes from paths and keys.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\r' | '\n' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Cleans a `/`-separated path lexically, with the rules of Go's `path.Clean`.
///
/// Repeated slashes collapse, `.` segments go, `..` removes the segment before it (and is
/// dropped at the root of an absolute path), a trailing slash is removed. The empty path
/// becomes `.`.
///
/// ```
/// use imagor_tower::key::clean;
///
/// assert_eq!(clean("a//b/./c/../d.png"), "a/b/d.png");
/// assert_eq!(clean("/../../etc/passwd"), "/etc/passwd");
/// assert_eq!(clean("../a"), "../a");
/// assert_eq!(clean(""), ".");
/// ```
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    // How many leading `..` segments `out` holds (only for relative paths).
    let mut kept_parents = 0usize;
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if out.len() > kept_parents {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                    kept_parents += 1;
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Normalises an image key into a storage key (see the [module docs](self)).
///
/// ```
/// use imagor_tower::key::{SafeChars, normalize};
///
/// let key = "fit-in/1800x1800/filters:format(jpeg):quality(90)/test.jpg";
/// assert_eq!(
///     normalize(key, &SafeChars::default()),
///     "fit-in/1800x1800/filters%3Aformat%28jpeg%29%3Aquality%2890%29/test.jpg",
/// );
/// ```
pub fn normalize(key: &str, safe_chars: &SafeChars) -> String {
    let cleaned = clean(key);
    let without_breaks: String = cleaned.chars().filter(|c| !is_line_break(*c)).collect();
    let trimmed = without_breaks.trim_matches('/');
    if safe_chars.is_noop() {
        return trimmed.to_owned();
    }
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if safe_chars.is_safe(c) {
            out.push(c);
        } else if c == ' ' {
            out.push('+');
        } else {
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                push_escaped(&mut out, byte);
            }
        }
    }
    out
}

/// Appends `%XX` (upper-case hex) for `byte`.
fn push_escaped(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0F)]));
}

/// The form imagor compares keys against: `/` + trimmed prefix + `/`, or `/` when empty.
///
/// ```
/// use imagor_tower::key::normalize_prefix;
///
/// assert_eq!(normalize_prefix(""), "/");
/// assert_eq!(normalize_prefix("/"), "/");
/// assert_eq!(normalize_prefix("assets/imagor/"), "/assets/imagor/");
/// ```
pub fn normalize_prefix(path_prefix: &str) -> String {
    let trimmed = path_prefix.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

/// Maps an image key to a path relative to a storage's base directory, as imagor's file
/// loader and storages do.
///
/// The key is [normalised](normalize) and prefixed with `/`; it must then start with the
/// path prefix ([`normalize_prefix`]), which is removed. The result never starts with `/`,
/// never contains a `.` or `..` segment and never names a dot file, so joining it under the
/// base directory stays inside it.
///
/// # Errors
///
/// [`Error::Invalid`] when the key is not under the prefix, has a segment starting with a
/// dot, or names the base directory itself.
///
/// ```
/// use imagor_tower::key::{SafeChars, file_path};
///
/// let safe = SafeChars::default();
/// assert_eq!(file_path("/foo/b{:}ar", "", &safe).unwrap(), "foo/b%7B%3A%7Dar");
/// // `..` is resolved before the prefix check, so it cannot leave the prefix.
/// assert!(file_path("/foo/../../etc/passwd", "/foo", &safe).is_err());
/// assert_eq!(file_path("/../../etc/passwd", "/", &safe).unwrap(), "etc/passwd");
/// ```
pub fn file_path(key: &str, path_prefix: &str, safe_chars: &SafeChars) -> Result<String, Error> {
    relative_file_path(key, &normalize_prefix(path_prefix), safe_chars)
}

/// [`file_path`] with a prefix already in [`normalize_prefix`] form.
pub(crate) fn relative_file_path(
    key: &str,
    normalized_prefix: &str,
    safe_chars: &SafeChars,
) -> Result<String, Error> {
    let full = format!("/{}", normalize(key, safe_chars));
    if full.contains("/.") {
        return Err(Error::Invalid);
    }
    match full.strip_prefix(normalized_prefix) {
        Some(rest) if !rest.is_empty() => Ok(rest.to_owned()),
        _ => Err(Error::Invalid),
    }
}

/// How source storages name a source image (`IMAGOR_STORAGE_PATH_STYLE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StorageKeyStyle {
    /// The image key as it is.
    #[default]
    Original,
    /// SHA-1 hex of the image key, split `aa/bb/rest`.
    Digest,
}

impl StorageKeyStyle {
    /// The storage key of `image`.
    ///
    /// ```
    /// use imagor_tower::key::StorageKeyStyle;
    /// assert_eq!(StorageKeyStyle::Original.key("foobar.jpg"), "foobar.jpg");
    /// assert_eq!(
    ///     StorageKeyStyle::Digest.key("foobar.jpg"),
    ///     "e6/86/1a810ff186b4f747ef85f7c53946f0e6d8cb"
    /// );
    /// ```
    pub fn key(self, image: &str) -> String {
        match self {
            Self::Original => image.to_owned(),
            Self::Digest => digest_key(image),
        }
    }
}

/// How result storages name a processed result (`IMAGOR_RESULT_STORAGE_PATH_STYLE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ResultKeyStyle {
    /// The canonical request path, e.g. `fit-in/16x17/foobar.jpg`.
    #[default]
    Original,
    /// SHA-1 hex of the request path, split `aa/bb/rest`.
    Digest,
    /// The image key with `.` and 20 hex digits of the path's SHA-1 before the extension;
    /// the extension becomes `.json` for `/meta`, else the last `format()`, else stays.
    Suffix,
    /// Like `Suffix`, with `_WxH` of the requested size after the hash.
    Size,
}

impl ResultKeyStyle {
    /// The result key of a request whose canonical fields are `params` (`params.path` must be
    /// the regenerated path; when it is empty it is generated here).
    ///
    /// ```
    /// use imagor_tower::key::ResultKeyStyle;
    /// use imagor_tower::path::parse_rest;
    ///
    /// let params = parse_rest("166x169/top/foobar.jpg");
    /// assert_eq!(ResultKeyStyle::Suffix.key(&params), "foobar.45d8ebb31bd4ed80c26e.jpg");
    /// assert_eq!(ResultKeyStyle::Size.key(&params), "foobar.45d8ebb31bd4ed80c26e_166x169.jpg");
    /// ```
    pub fn key(self, params: &crate::path::Params) -> String {
        let generated;
        let path = if params.path.is_empty() {
            generated = params.generate();
            generated.as_str()
        } else {
            params.path.as_str()
        };
        match self {
            Self::Original => path.to_owned(),
            Self::Digest => digest_key(path),
            Self::Suffix | Self::Size => {
                let hash = sha1_hex(path);
                let short = hash.get(..20).unwrap_or(&hash);
                let image = params.image.as_str();
                let ext_at = image.rfind('.').filter(|&dot| !image[dot..].contains('/'));
                let (stem, ext) = match ext_at {
                    Some(dot) => (&image[..dot], &image[dot..]),
                    None => (image, ""),
                };
                let format_ext = params
                    .filters
                    .iter()
                    .rev()
                    .find(|f| f.name == "format" && !f.args.is_empty())
                    .map(|f| format!(".{}", f.args));
                let ext = if params.meta {
                    ".json".to_owned()
                } else {
                    format_ext.unwrap_or_else(|| ext.to_owned())
                };
                let mut key = format!("{stem}.{short}");
                if self == Self::Size && (params.width != 0 || params.height != 0) {
                    key.push_str(&format!("_{}x{}", params.width, params.height));
                }
                key.push_str(&ext);
                key
            }
        }
    }
}

fn sha1_hex(text: &str) -> String {
    use sha1::Digest as _;
    let digest = sha1::Sha1::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `aa/bb/rest` of the SHA-1 hex of `text`.
fn digest_key(text: &str) -> String {
    let hex = sha1_hex(text);
    format!("{}/{}/{}", &hex[..2], &hex[2..4], &hex[4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go_path_clean() {
        let cases = [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("//", "/"),
            ("a/", "a"),
            ("a/./b", "a/b"),
            ("a/../..", ".."),
            ("../../a", "../../a"),
            ("a/../../b", "../b"),
            ("/..", "/"),
            ("/a/../..//b/", "/b"),
            ("a/b/../../c/..", "."),
            ("abc/def/../../..", ".."),
        ];
        for (input, expected) in cases {
            assert_eq!(clean(input), expected, "clean({input:?})");
        }
    }

    #[test]
    fn line_breaks_are_deleted_after_cleaning() {
        let safe = SafeChars::default();
        assert_eq!(
            normalize("a\r\nb\u{2028}c\u{85}d\u{0B}e\u{0C}f", &safe),
            "abcdef"
        );
        // Deletion comes after cleaning, so `.\n.` turns into `..` only afterwards; the file
        // mapping still refuses it because of the dot segment.
        assert_eq!(normalize("a/.\n./b", &safe), "a/../b");
        assert!(file_path("a/.\n./b", "", &safe).is_err());
    }

    #[test]
    fn escapes_use_upper_case_hex_and_keep_utf8_whole() {
        let safe = SafeChars::default();
        assert_eq!(normalize("%2e%2e/x", &safe), "%252e%252e/x");
        assert_eq!(normalize("a+b c#?&=", &safe), "a%2Bb+c%23%3F%26%3D");
        assert_eq!(normalize("\u{1F600}", &safe), "%F0%9F%98%80");
        // A non-ASCII safe character is kept whole; others sharing its lead byte are not.
        let extra = SafeChars::new("é");
        assert_eq!(normalize("é/è", &extra), "é/%C3%A8");
    }

    #[test]
    fn safe_chars_debug_lists_the_extra_set() {
        assert_eq!(format!("{:?}", SafeChars::new("}{")), r#"SafeChars("{}")"#);
        assert_eq!(format!("{:?}", SafeChars::new("--")), "SafeChars(--)");
        assert_eq!(SafeChars::new(""), SafeChars::default());
    }

    #[test]
    fn empty_and_root_keys_are_invalid_files() {
        let safe = SafeChars::default();
        assert_eq!(normalize("", &safe), ".");
        assert!(file_path("", "", &safe).is_err());
        assert!(file_path("/", "", &safe).is_err());
        assert!(file_path("///", "/", &safe).is_err());
        assert!(file_path("foo", "foo", &safe).is_err());
    }

    #[test]
    fn dot_segments_anywhere_are_invalid() {
        let safe = SafeChars::default();
        for key in [".env", "a/.git/HEAD", "../x", "a/..", ".", "a/.hidden.png"] {
            assert!(file_path(key, "", &safe).is_err(), "{key}");
        }
        // A dot inside a name is fine.
        assert_eq!(file_path("a/b.c.png", "", &safe).unwrap(), "a/b.c.png");
    }
}
