//! [`FileBackend`]: storage in a local directory (`FILE_STORAGE_*`, `FILE_RESULT_STORAGE_*`).

#[cfg(unix)]
use super::local_writer::LocalWriterStore;
use super::{Backend, Location};
use crate::Error;
use crate::key::{self, SafeChars};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A directory used as a storage. Keys map to files as imagor's file storage maps them
/// (normalised, escaped, prefix checked, no dot segments); writes are atomic (written to a
/// temporary file, then renamed), so a reader never sees half an object.
///
/// On Unix the temporary file is a dot file beside the target, named `.<name>.<pid>.<n>.part`
/// (no key can name a dot file). A failed write removes its own temporary file and nothing
/// else; temporaries a crash left behind are removed in the background when the backend is
/// created, once they are older than [`STALE_TEMPORARY_AGE`] (see
/// [`remove_stale_temporaries`](Self::remove_stale_temporaries)).
///
/// Reads and writes of keys the file system refuses (a name too long, a path through a
/// file) are misses and failed writes, never errors of the request.
///
/// On Unix, [`mkdir_permission`](Self::mkdir_permission) and
/// [`write_permission`](Self::write_permission) give the modes of created directories and
/// written files, passed to `mkdir(2)` and `open(2)` so the process umask applies, as it does
/// for imagor. Elsewhere the platform's defaults are used.
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
    /// The base directory, as given.
    base_dir: PathBuf,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    safe_chars: SafeChars,
    expiration: Option<Duration>,
    /// The writer: temporary dot file, then rename, with the configured modes.
    #[cfg(unix)]
    modes: Arc<LocalWriterStore<modes::ModeStore>>,
}

/// How old a temporary file of an unfinished write must be before
/// [`FileBackend::new`] removes it: one hour, far longer than any write takes.
pub const STALE_TEMPORARY_AGE: Duration = Duration::from_secs(60 * 60);

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
        let local = Arc::new(store);
        let backend = Self {
            base_dir: base_dir.to_path_buf(),
            store: Arc::clone(&local) as Arc<dyn ObjectStore>,
            #[cfg(unix)]
            modes: Arc::new(LocalWriterStore(modes::ModeStore::new(local))),
            prefix: key::normalize_prefix(""),
            safe_chars: SafeChars::default(),
            expiration: None,
        };
        backend.sweep_in_background();
        Ok(backend)
    }

    /// Removes the temporary files of unfinished writes (left by a crash or a kill) older
    /// than `older_than`, anywhere under the base directory, and answers how many went.
    /// Symbolic links are not followed. [`FileBackend::new`] runs this in a background
    /// thread with [`STALE_TEMPORARY_AGE`].
    ///
    /// ```
    /// use imagor_tower::storage::FileBackend;
    /// use std::time::{Duration, SystemTime};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let backend = FileBackend::new(dir.path()).unwrap();
    /// let stale = std::fs::File::create(dir.path().join(".a.jpg.1.0.part")).unwrap();
    /// stale.set_modified(SystemTime::now() - Duration::from_secs(7200)).unwrap();
    /// assert_eq!(backend.remove_stale_temporaries(Duration::from_secs(3600)).unwrap(), 1);
    /// assert!(!dir.path().join(".a.jpg.1.0.part").exists());
    /// ```
    ///
    /// # Errors
    ///
    /// The error reading the base directory itself; errors below it are skipped.
    pub fn remove_stale_temporaries(&self, older_than: Duration) -> std::io::Result<usize> {
        let mut removed = 0;
        let mut dirs = vec![self.base_dir.clone()];
        let mut first = true;
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if first => return Err(err),
                Err(_) => continue,
            };
            first = false;
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    dirs.push(entry.path());
                } else if kind.is_file()
                    && is_temporary_name(&entry.file_name())
                    && entry
                        .metadata()
                        .and_then(|meta| meta.modified())
                        .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age >= older_than))
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Runs [`remove_stale_temporaries`](Self::remove_stale_temporaries) on a thread of its
    /// own, so that a large storage does not delay start-up.
    fn sweep_in_background(&self) {
        let backend = self.clone();
        let spawned = std::thread::Builder::new()
            .name("imagor-storage-sweep".to_owned())
            .spawn(
                move || match backend.remove_stale_temporaries(STALE_TEMPORARY_AGE) {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(
                        dir = %backend.base_dir.display(),
                        removed,
                        "removed stale temporary files of unfinished writes"
                    ),
                    Err(err) => tracing::warn!(
                        dir = %backend.base_dir.display(),
                        error = %err,
                        "could not look for stale temporary files"
                    ),
                },
            );
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "could not start the storage sweep");
        }
    }

    /// Mode of the directories created when saving (`*_MKDIR_PERMISSION`, imagor's default
    /// `0o755`), before the umask.
    ///
    /// ```
    /// use imagor_tower::storage::FileBackend;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let backend = FileBackend::new(dir.path()).unwrap().mkdir_permission(0o750).write_permission(0o640);
    /// # let _ = backend;
    /// ```
    #[must_use]
    pub fn mkdir_permission(self, mode: u32) -> Self {
        self.with_modes(|modes| modes.dir_mode = mode)
    }

    /// Mode of the files written (`*_WRITE_PERMISSION`, imagor's default `0o666`), before the
    /// umask.
    #[must_use]
    pub fn write_permission(self, mode: u32) -> Self {
        self.with_modes(|modes| modes.file_mode = mode)
    }

    #[cfg(unix)]
    fn with_modes(mut self, set: impl FnOnce(&mut modes::ModeStore)) -> Self {
        set(&mut Arc::make_mut(&mut self.modes).0);
        self
    }

    #[cfg(not(unix))]
    fn with_modes(self, _set: impl FnOnce(&mut Modes)) -> Self {
        self
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
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut location = Location::new(Arc::clone(&self.store), path);
        #[cfg(unix)]
        {
            location.writer = Arc::clone(&self.modes) as Arc<dyn ObjectStore>;
        }
        Ok(location)
    }

    fn expiration(&self) -> Option<Duration> {
        self.expiration
    }

    fn keeps_attributes(&self) -> bool {
        false
    }
}

/// Whether `name` is that of a temporary file of a write: `.<name>.<pid>.<n>.part`.
fn is_temporary_name(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|name| name.starts_with('.') && name.ends_with(".part"))
}

/// Stand-in for the mode settings where the platform has no Unix modes.
#[cfg(not(unix))]
#[derive(Debug)]
struct Modes {
    dir_mode: u32,
    file_mode: u32,
}

#[cfg(unix)]
mod modes {
    //! A writer for [`FileBackend`](super::FileBackend) that creates directories and files
    //! with given modes. Reads, lists and deletes go to the `LocalFileSystem` underneath.

    use crate::storage::local_writer::LocalWriter;
    use async_trait::async_trait;
    use object_store::local::LocalFileSystem;
    use object_store::path::Path;
    use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, PutResult};
    use std::fmt;
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Tells temporary files of concurrent writes apart.
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);

    #[derive(Clone, Debug)]
    pub(super) struct ModeStore {
        local: Arc<LocalFileSystem>,
        pub(super) dir_mode: u32,
        pub(super) file_mode: u32,
    }

    impl ModeStore {
        pub(super) fn new(local: Arc<LocalFileSystem>) -> Self {
            Self {
                local,
                dir_mode: 0o755,
                file_mode: 0o666,
            }
        }

        /// Writes `payload` to `target` through a temporary file in the same directory and a
        /// rename, creating missing directories first.
        fn write(&self, target: &std::path::Path, payload: &PutPayload) -> std::io::Result<()> {
            let dir = target
                .parent()
                .ok_or_else(|| std::io::Error::other("object path has no directory"))?;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(self.dir_mode)
                .create(dir)
                .map_err(|err| {
                    // `mkdir` of a name a file already has: the key goes through a file.
                    if err.kind() == std::io::ErrorKind::AlreadyExists {
                        std::io::Error::new(std::io::ErrorKind::NotADirectory, err)
                    } else {
                        err
                    }
                })?;
            let name = target
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!(".{name}.{}.{sequence}.part", std::process::id()));
            let written = (|| {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(self.file_mode)
                    .open(&temp)?;
                for chunk in payload {
                    file.write_all(chunk)?;
                }
                file.sync_data()?;
                std::fs::rename(&temp, target)
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            written
        }
    }

    impl fmt::Display for ModeStore {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "{} (dirs {:o}, files {:o})",
                self.local, self.dir_mode, self.file_mode
            )
        }
    }

    /// A failed write, keeping the operating system's error as its source so that
    /// [`crate::Error::from_io`] can classify it.
    #[derive(Debug, thiserror::Error)]
    #[error("writing {path}: {source}")]
    struct WriteError {
        path: String,
        source: std::io::Error,
    }

    fn io_error(path: &Path, source: std::io::Error) -> object_store::Error {
        object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(WriteError {
                path: path.to_string(),
                source,
            }),
        }
    }

    #[async_trait]
    impl LocalWriter for ModeStore {
        fn local(&self) -> &LocalFileSystem {
            &self.local
        }

        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            // Conditional writes keep object_store's own semantics.
            if !matches!(opts.mode, PutMode::Overwrite) {
                return self.local.put_opts(location, payload, opts).await;
            }
            let target = self.local.path_to_filesystem(location)?;
            let this = self.clone();
            let path = location.clone();
            tokio::task::spawn_blocking(move || this.write(&target, &payload))
                .await
                .map_err(|join| io_error(&path, std::io::Error::other(join)))?
                .map_err(|err| io_error(&path, err))?;
            Ok(PutResult {
                e_tag: None,
                version: None,
                extensions: Default::default(),
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::{Backend as _, FileBackend};
        use object_store::ObjectStoreExt as _;
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};

        fn mode(path: &std::path::Path) -> u32 {
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777
        }

        #[tokio::test]
        async fn writes_use_the_configured_modes_under_the_umask() {
            let dir = tempfile::tempdir().unwrap();
            let backend = FileBackend::new(dir.path())
                .unwrap()
                .mkdir_permission(0o750)
                .write_permission(0o640);
            let location = backend.locate("a/b/c.png", "").unwrap();
            location
                .writer
                .put(&location.path, bytes::Bytes::from_static(b"png").into())
                .await
                .unwrap();
            // The same modes given to mkdir/open directly: whatever the umask does to them.
            let reference = tempfile::tempdir().unwrap();
            let ref_dir = reference.path().join("d");
            std::fs::DirBuilder::new()
                .mode(0o750)
                .create(&ref_dir)
                .unwrap();
            let ref_file = reference.path().join("f");
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .open(&ref_file)
                .unwrap();
            assert_eq!(mode(&dir.path().join("a")), mode(&ref_dir));
            assert_eq!(mode(&dir.path().join("a/b")), mode(&ref_dir));
            assert_eq!(mode(&dir.path().join("a/b/c.png")), mode(&ref_file));
            assert_eq!(std::fs::read(dir.path().join("a/b/c.png")).unwrap(), b"png");
            // Overwrites replace the file whole; no temporary files are left behind.
            location
                .writer
                .put(&location.path, bytes::Bytes::from_static(b"png2").into())
                .await
                .unwrap();
            let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            assert_eq!(names, ["c.png"]);
            // Reads go through the same backend.
            let read = location
                .reader
                .get(&location.path)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(&read[..], b"png2");
        }

        /// The names in `dir`, sorted.
        fn names(dir: &std::path::Path) -> Vec<String> {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }

        #[tokio::test]
        async fn a_failed_write_removes_only_its_own_temporary_file() {
            let dir = tempfile::tempdir().unwrap();
            let backend = FileBackend::new(dir.path()).unwrap();
            // The key names a directory that is not empty: the final rename fails.
            std::fs::create_dir_all(dir.path().join("a/b.jpg/inner")).unwrap();
            // The temporary file of another write in progress.
            std::fs::write(dir.path().join("a/.b.jpg.1.7.part"), b"half").unwrap();
            let location = backend.locate("a/b.jpg", "").unwrap();
            let err = location
                .writer
                .put(&location.path, bytes::Bytes::from_static(b"png").into())
                .await
                .unwrap_err();
            assert!(err.to_string().contains("a/b.jpg"), "{err}");
            assert_eq!(names(&dir.path().join("a")), [".b.jpg.1.7.part", "b.jpg"]);
            assert_eq!(
                std::fs::read(dir.path().join("a/.b.jpg.1.7.part")).unwrap(),
                b"half"
            );
        }

        #[tokio::test]
        async fn writes_of_names_too_long_fail_as_client_errors() {
            let dir = tempfile::tempdir().unwrap();
            let backend = FileBackend::new(dir.path()).unwrap();
            std::fs::write(dir.path().join("file.jpg"), b"kept").unwrap();
            for key in ["n".repeat(300), "file.jpg/x.jpg".to_owned()] {
                let location = backend.locate(&key, "").unwrap();
                let err = location
                    .writer
                    .put(&location.path, bytes::Bytes::from_static(b"png").into())
                    .await
                    .unwrap_err();
                let status = crate::Error::from(err).status();
                assert!(status.is_client_error(), "{key:.20}: {status}");
                let err = location.reader.get(&location.path).await.unwrap_err();
                let status = crate::Error::from(err).status();
                assert!(status.is_client_error(), "{key:.20}: {status}");
            }
            assert_eq!(names(dir.path()), ["file.jpg"]);
            assert_eq!(std::fs::read(dir.path().join("file.jpg")).unwrap(), b"kept");
        }

        #[test]
        fn stale_temporary_files_are_removed_at_start_up() {
            use std::time::{Duration, SystemTime};

            let dir = tempfile::tempdir().unwrap();
            let file = |rel: &str, age: u64| {
                let path = dir.path().join(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let file = std::fs::File::create(&path).unwrap();
                file.set_modified(SystemTime::now() - Duration::from_secs(age))
                    .unwrap();
                path
            };
            let stale = [
                file(".a.jpg.10.0.part", 7200),
                file("x/y/.c.jpg.10.1.part", 3 * 3600),
            ];
            let kept = [
                // A write still in progress.
                file("x/.d.jpg.11.0.part", 5),
                // Objects, whatever their names and ages.
                file("x/e.jpg", 7200),
                file("x/f.part", 7200),
                file("x/y/.hidden", 7200),
            ];
            let _backend = FileBackend::new(dir.path()).unwrap();
            for _ in 0..500 {
                if stale.iter().all(|path| !path.exists()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            for path in &stale {
                assert!(!path.exists(), "{} was kept", path.display());
            }
            for path in &kept {
                assert!(path.exists(), "{} was removed", path.display());
            }
        }
    }
}
