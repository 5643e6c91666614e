//! [`FileLoader`]: source images from a directory (imagor's `FILE_LOADER_*` settings).
//!
//! The image key is mapped to a file with [`crate::key::file_path`]: it is
//! normalised and escaped as imagor does, must sit under the path prefix, and may not name a
//! dot file. The file is then read through `object_store`'s [`LocalFileSystem`] rooted at the
//! base directory.
//!
//! Safety rules, beyond imagor's:
//!
//! * `..` is resolved lexically before anything touches the disk, and percent-encoded dots
//!   (`%2e%2e`) are just characters of a file name (they are escaped to `%252e%252e`);
//! * symbolic links are followed only when their target stays inside the (canonical) base
//!   directory and is not a dot file; a link that points outside answers [`Error::NotFound`]
//!   (the file is then opened by its resolved path, so only a link swapped in between the
//!   check and the open, by someone who can write under the root, could slip through);
//! * a directory answers [`Error::NotFound`];
//! * operating-system errors the key causes answer a 4xx, never a 500 (see
//!   [`Error::from_io`]): a name or path too long, or otherwise invalid, answers
//!   [`Error::Invalid`] (400); a file used as a directory, or a link loop, answers
//!   [`Error::NotFound`] (404);
//! * files larger than [`FileLoader::max_size`] (64 MiB unless changed) answer
//!   [`Error::MaxSizeExceeded`] before any byte is read.
//!
//! The blob carries the content type sniffed from the first bytes and a
//! [`Stat`](crate::blob::Stat) with the size and modification time (no etag, as imagor).
//!
//! # Example
//!
//! ```
//! use imagor_tower::loader::{FileLoader, SourceRequest};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("a.png"), b"\x89PNG\r\n\x1a\n...").unwrap();
//!
//! // Keys must start with `photos/`; the prefix is removed before joining with the directory.
//! let loader = FileLoader::new(dir.path()).unwrap().path_prefix("photos");
//! let blob = loader.clone().oneshot(SourceRequest::new("photos/a.png")).await.unwrap();
//! assert_eq!(blob.content_type(), Some("image/png"));
//! assert_eq!(blob.stat().unwrap().size(), Some(11));
//!
//! // Outside the prefix, or a dot file: invalid (400).
//! let err = loader.oneshot(SourceRequest::new("other/a.png")).await.unwrap_err();
//! assert_eq!(err.status(), 400);
//! # });
//! ```

use crate::Error;
use crate::blob::Blob;
use crate::key::{self, SafeChars};
use crate::storage::object::{ReadRules, read_object};
use object_store::ObjectStoreExt as _;
use object_store::local::LocalFileSystem;
use object_store::path::{Path as ObjectPath, PathPart};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The default of [`FileLoader::max_size`], shared by every loader.
pub use super::limits::DEFAULT_MAX_SIZE;

/// Loads source images from files under a base directory.
///
/// Cloning is cheap (the settings are shared). See the [module docs](self) for the rules and
/// an example.
#[derive(Clone, Debug)]
pub struct FileLoader {
    inner: Arc<Inner>,
}

#[derive(Clone, Debug)]
struct Inner {
    store: LocalFileSystem,
    /// The canonical base directory.
    root: PathBuf,
    /// The path prefix in `key::normalize_prefix` form.
    prefix: String,
    safe_chars: SafeChars,
    max_size: u64,
}

impl FileLoader {
    /// A loader serving files under `base_dir` (`FILE_LOADER_BASE_DIR`).
    ///
    /// # Errors
    ///
    /// An [`Error::Internal`] naming the directory when it does not exist, is not a
    /// directory or cannot be resolved.
    pub fn new(base_dir: impl AsRef<Path>) -> Result<Self, Error> {
        let base_dir = base_dir.as_ref();
        let root = std::fs::canonicalize(base_dir).map_err(|err| {
            Error::internal(format!(
                "file loader base dir {}: {err}",
                base_dir.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(Error::internal(format!(
                "file loader base dir {}: not a directory",
                base_dir.display()
            )));
        }
        let store = LocalFileSystem::new_with_prefix(&root).map_err(Error::internal)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                root,
                prefix: key::normalize_prefix(""),
                safe_chars: SafeChars::default(),
                max_size: DEFAULT_MAX_SIZE,
            }),
        })
    }

    /// Serves only keys under `prefix`, removing it before joining with the base directory
    /// (`FILE_LOADER_PATH_PREFIX`). Other keys answer [`Error::Invalid`].
    #[must_use]
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        Arc::make_mut(&mut self.inner).prefix = key::normalize_prefix(prefix);
        self
    }

    /// Extra characters left unescaped in file names (`FILE_SAFE_CHARS`).
    #[must_use]
    pub fn safe_chars(mut self, safe_chars: SafeChars) -> Self {
        Arc::make_mut(&mut self.inner).safe_chars = safe_chars;
        self
    }

    /// The largest file served, in bytes; larger files answer [`Error::MaxSizeExceeded`].
    /// `0` removes the limit. Default: [`DEFAULT_MAX_SIZE`] (64 MiB).
    #[must_use]
    pub fn max_size(mut self, max_size: u64) -> Self {
        Arc::make_mut(&mut self.inner).max_size = max_size;
        self
    }

    /// The canonical base directory.
    pub fn base_dir(&self) -> &Path {
        &self.inner.root
    }

    /// Loads the file for `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for keys the mapping refuses and names the system refuses (too
    /// long, invalid), [`Error::NotFound`] for missing files, directories, paths through a
    /// file and links leading out of the base directory or in a loop,
    /// [`Error::MaxSizeExceeded`] for files over the limit; see [`Error::from_io`].
    pub async fn load(&self, key: &str) -> Result<Blob, Error> {
        let inner = &self.inner;
        let relative = key::relative_file_path(key, &inner.prefix, &inner.safe_chars)?;
        let location = object_path(relative.split('/')).ok_or(Error::Invalid)?;
        let on_disk = inner.store.path_to_filesystem(&location)?;
        let target = match tokio::fs::canonicalize(&on_disk).await {
            Ok(target) => target,
            Err(err) => return Err(Error::from_io(&err)),
        };
        // Read through the resolved path, so that what was checked is what is opened.
        let checked = inner.contained(&target).ok_or(Error::NotFound)?;
        let result = inner.store.get(&checked).await?;
        // No entity tag, as imagor's file loader; the type comes from the bytes.
        let rules = ReadRules {
            max_size: inner.max_size,
            expiration: None,
            etag: false,
        };
        let blob = read_object(result, rules, Error::from).await?;
        Ok(match sniff_content_type(blob.bytes()) {
            Some(content_type) => blob.with_content_type(content_type),
            None => blob,
        })
    }
}

impl Inner {
    /// The object path of `target` (a canonical path) when it lies inside the root and no
    /// part of it below the root is a dot file.
    fn contained(&self, target: &Path) -> Option<ObjectPath> {
        let below = target.strip_prefix(&self.root).ok()?;
        let mut parts = Vec::new();
        for component in below.components() {
            match component {
                Component::Normal(name) => {
                    let name = name.to_str()?;
                    if name.starts_with('.') {
                        return None;
                    }
                    parts.push(name);
                }
                _ => return None,
            }
        }
        if parts.is_empty() {
            return None;
        }
        object_path(parts)
    }
}

/// An object_store path whose parts are exactly these file names. `PathPart::parse` keeps a
/// name as it is (`LocalFileSystem` opens a part `a%7Bb` as the file `a%7Bb`), where
/// `PathPart::from` would escape it once more. `None` for names object_store refuses
/// (control characters).
fn object_path<'a>(parts: impl IntoIterator<Item = &'a str>) -> Option<ObjectPath> {
    let parts = parts
        .into_iter()
        .map(|part| PathPart::parse(part).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(ObjectPath::from_iter(parts))
}

crate::loader::leaf_loader_service!(FileLoader, |loader, req| loader.load(req.key()));

/// The media type of an image (or a PDF) recognised from its first bytes.
///
/// Covers JPEG, PNG, GIF, WebP, AVIF, HEIF/HEIC, TIFF, BMP, JPEG XL, ICO, SVG and PDF. This
/// is the engine's sniffer, [`processing::sniff_content_type`](crate::processing::sniff_content_type):
/// loaders and processing agree on every answer (SVG needs an `<svg` root element after the
/// XML prolog).
///
/// ```
/// use imagor_tower::loader::file::sniff_content_type;
///
/// assert_eq!(sniff_content_type(b"\xFF\xD8\xFF\xE0rest"), Some("image/jpeg"));
/// assert_eq!(sniff_content_type(b"<?xml version=\"1.0\"?><svg/>"), Some("image/svg+xml"));
/// assert_eq!(sniff_content_type(b"plain text"), None);
/// ```
pub fn sniff_content_type(bytes: &[u8]) -> Option<&'static str> {
    crate::processing::sniff_content_type(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_formats() {
        let cases: [(&[u8], Option<&str>); 10] = [
            (b"\x89PNG\r\n\x1A\n\0\0", Some("image/png")),
            (b"GIF89a\x01\0", Some("image/gif")),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"RIFF\0\0\0\0WAVEfmt ", None),
            (b"\0\0\0\x1CftypavifXXXX", Some("image/avif")),
            (b"\0\0\0\x1CftypheicXXXX", Some("image/heic")),
            (b"\0\0\0\x1Cftypmp42XXXX", None),
            (b"\xEF\xBB\xBF  <svg xmlns='x'/>", Some("image/svg+xml")),
            (b"<html><body>no</body></html>", None),
            (b"", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff_content_type(bytes), expected, "{bytes:?}");
        }
    }
}
