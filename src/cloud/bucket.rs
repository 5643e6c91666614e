//! What counts as a bucket (or container) name when one is taken from a key, a setting or a
//! routing file.

/// The longest bucket name accepted (S3's own limit is 63; other S3-compatible stores allow
/// more).
pub(crate) const MAX_BUCKET_LEN: usize = 255;

/// A plausible bucket name: 1 to [`MAX_BUCKET_LEN`] ASCII letters, digits, `.`, `-` or `_`,
/// not only dots.
pub(crate) fn is_bucket_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_BUCKET_LEN
        && name.bytes().any(|b| b != b'.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_checked() {
        for good in [
            "a",
            "my-bucket",
            "a.b_c",
            "Legacy1",
            "my-bucket.v2_x",
            &"x".repeat(255),
        ] {
            assert!(is_bucket_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "a/b",
            "*",
            "a%2F",
            "ü",
            &"x".repeat(256),
        ] {
            assert!(!is_bucket_name(bad), "{bad}");
        }
    }
}
