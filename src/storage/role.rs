//! [`Role`]: which of imagor's three parts a bucket serves.

/// The part a bucket or container serves, for the Google Cloud Storage and Azure backends:
/// it decides where a wildcard bucket (`*`) is read from (result storage takes it from the
/// request's source image key, the others from the key itself) and which settings apply.
///
/// ```
/// use imagor_tower::storage::Role;
///
/// assert_eq!(Role::default(), Role::Loader);
/// assert_eq!(Role::ResultStorage.as_str(), "result storage");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Role {
    /// The loader.
    #[default]
    Loader,
    /// Source storage.
    Storage,
    /// Result storage.
    ResultStorage,
}

impl Role {
    /// A name for messages: `loader`, `storage`, `result storage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loader => "loader",
            Self::Storage => "storage",
            Self::ResultStorage => "result storage",
        }
    }
}
