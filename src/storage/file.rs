//! [`FileBackend`]: storage in a local directory (`FILE_STORAGE_*`, `FILE_RESULT_STORAGE_*`).

use super::{Backend, Location};
use crate::Error;
use crate::key::{self, SafeChars};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A directory used as a storage. Keys map to files as imagor's file storage maps them
/// (normalised, escaped, prefix checked, no dot segments); writes are atomic (written to a
/// temporary file, then renamed), so a reader never sees half an object.
///
/// # Example
///
/// ```
/// use imagor_tower::storage::{Backend, FileBackend};
///
/// let dir = tempfile::tempdir().unwrap();
/// let backend = FileBackend::new(dir.path()).unwrap().path_prefix("cache");
/// let location = backend.locate("/cache/a b.jpg", "").unwrap();
/// assert_eq!(location.path.as_ref(), "a+b.jpg");
/// assert!(backend.locate("/other/a.jpg", "").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct FileBackend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    safe_chars: SafeChars,
    expiration: Option<Duration>,
}

impl FileBackend {
    /// Stores under `base_dir`, creating it when missing.
    ///
    /// # Errors
    ///
    /// An internal error naming the directory when it cannot be created or opened.
    pub fn new(base_dir: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let base_dir = base_dir.as_ref();
        std::fs::create_dir_all(base_dir).map_err(|err| {
            Error::internal(format!("storage base dir {}: {err}", base_dir.display()))
        })?;
        let store = LocalFileSystem::new_with_prefix(base_dir)
            .map_err(|err| {
                Error::internal(format!("storage base dir {}: {err}", base_dir.display()))
            })?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            prefix: key::normalize_prefix(""),
            safe_chars: SafeChars::default(),
            expiration: None,
        })
    }

    /// Only keys under `prefix` are stored, without it (`*_PATH_PREFIX`).
    #[must_use]
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.prefix = key::normalize_prefix(prefix);
        self
    }

    /// Extra characters left unescaped in file names (`FILE_SAFE_CHARS`).
    #[must_use]
    pub fn safe_chars(mut self, safe_chars: SafeChars) -> Self {
        self.safe_chars = safe_chars;
        self
    }

    /// Files older than this count as expired (`*_EXPIRATION`).
    #[must_use]
    pub fn expiration(mut self, expiration: Option<Duration>) -> Self {
        self.expiration = expiration.filter(|d| !d.is_zero());
        self
    }
}

impl Backend for FileBackend {
    fn locate(&self, key: &str, _image: &str) -> Result<Location, Error> {
        let relative = key::file_path(key, &self.prefix, &self.safe_chars)?;
        let path = Path::parse(&relative).map_err(|_| Error::Invalid)?;
        Ok(Location::new(Arc::clone(&self.store), path))
    }

    fn expiration(&self) -> Option<Duration> {
        self.expiration
    }

    fn keeps_attributes(&self) -> bool {
        false
    }
}
