//! [`Secret`]: a credential that never shows in `Debug` output or logs.
//!
//! Shared by the configuration (`IMAGOR_SECRET`, proxy URLs) and the S3 settings (secret
//! keys, session tokens), which is why it sits in neither.

use std::fmt;

/// A credential. Its [`Debug`] output never shows the value; read it with [`Secret::expose`].
///
/// # Example
///
/// ```
/// use imagor_tower::config::Secret;
///
/// let secret = Secret::new("s3cr3t");
/// assert_eq!(secret.expose(), "s3cr3t");
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// ```
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the credential is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
        assert_eq!(format!("{:?}", Secret::default()), "Secret(\"\")");
        assert!(Secret::default().is_empty());
        assert_eq!(Secret::from("x").expose(), "x");
    }
}
