//! Reading and writing blobs at a [`Location`], shared by source and result storage.

use super::object::{ReadRules, read_object};
use super::{Backend, Location};
use crate::Error;
use crate::blob::Blob;
use object_store::{Attribute, AttributeValue, ObjectStoreExt, PutOptions, PutPayload};
use std::sync::Arc;
use std::time::Duration;

/// Largest object read back from a storage (a guard against a corrupt or hostile store).
const MAX_OBJECT_SIZE: u64 = 256 * 1024 * 1024;

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The object, with its stat.
    Hit(Box<Blob>),
    /// Nothing stored (or expired, or the key is not valid for this backend).
    Miss,
}

/// Reads `location`. Anything other than a clean hit is a miss, so storages never fail a
/// request; read errors are logged.
pub(crate) async fn get(backend: &dyn Backend, location: &Location, timeout: Duration) -> Lookup {
    let result = match tokio::time::timeout(timeout, location.reader.get(&location.path)).await {
        Ok(Ok(result)) => result,
        Ok(Err(object_store::Error::NotFound { .. })) => return Lookup::Miss,
        Ok(Err(err)) => {
            log_failure(location, "storage read failed", err);
            return Lookup::Miss;
        }
        Err(_) => {
            tracing::warn!(path = %location.path, "storage read timed out");
            return Lookup::Miss;
        }
    };
    let rules = ReadRules {
        max_size: MAX_OBJECT_SIZE,
        expiration: backend.expiration(),
        etag: true,
    };
    match tokio::time::timeout(timeout, read_object(result, rules, Error::from)).await {
        Ok(Ok(blob)) => Lookup::Hit(Box::new(blob)),
        Ok(Err(Error::Expired)) => Lookup::Miss,
        Ok(Err(err)) => {
            tracing::warn!(path = %location.path, error = %err, "storage read failed");
            Lookup::Miss
        }
        Err(_) => {
            tracing::warn!(path = %location.path, "storage read timed out");
            Lookup::Miss
        }
    }
}

/// Writes `blob` at `location` in the background, detached from the request (see [`put`]).
pub(crate) fn spawn_put(
    backend: Arc<dyn Backend>,
    location: Location,
    blob: Blob,
    timeout: Duration,
) {
    tokio::spawn(put(backend, location, blob, timeout));
}

/// Writes `blob` at `location`. Never fails: storing is best effort, and a failed or
/// timed-out write is only logged. The key is left alone then: the stores write atomically
/// (a file storage writes a temporary file and renames it; S3 objects appear whole), so a
/// failed write leaves nothing half-written under the key, and deleting it could remove the
/// good object of a concurrent writer.
pub(crate) async fn put(
    backend: Arc<dyn Backend>,
    location: Location,
    blob: Blob,
    timeout: Duration,
) {
    let keeps_attributes = backend.keeps_attributes();
    let mut attributes = if keeps_attributes {
        backend.put_attributes()
    } else {
        object_store::Attributes::new()
    };
    if let Some(content_type) = blob.content_type().filter(|_| keeps_attributes) {
        attributes.insert(
            Attribute::ContentType,
            AttributeValue::from(content_type.to_owned()),
        );
    }
    let options = PutOptions {
        attributes,
        tags: if keeps_attributes {
            backend.put_tags()
        } else {
            object_store::TagSet::default()
        },
        ..PutOptions::default()
    };
    let payload = PutPayload::from(blob.into_bytes());
    let written = tokio::time::timeout(
        timeout,
        location.writer.put_opts(&location.path, payload, options),
    )
    .await;
    match written {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => log_failure(&location, "storage write failed", err),
        Err(_) => tracing::warn!(path = %location.path, "storage write timed out"),
    }
}

/// Logs a failed storage call: as a warning for faults of the store, at debug level for
/// keys the store cannot hold (a name too long, a path through a file), which the client
/// chose.
fn log_failure(location: &Location, what: &str, err: object_store::Error) {
    let text = err.to_string();
    if crate::Error::from(err).status().is_client_error() {
        tracing::debug!(path = %location.path, error = %text, "{what}");
    } else {
        tracing::warn!(path = %location.path, error = %text, "{what}");
    }
}

/// A storage the way imagor's roles use one: a backend, a key style and the save deadline.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) load_timeout: Duration,
    pub(crate) save_timeout: Duration,
}

impl Store {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            load_timeout: Duration::from_secs(20),
            save_timeout: Duration::from_secs(20),
        }
    }

    /// The location of `key`, or `None` when this backend does not take the key.
    pub(crate) fn locate(&self, key: &str, image: &str) -> Option<Location> {
        match self.backend.locate(key, image) {
            Ok(location) => Some(location),
            Err(err) => {
                tracing::debug!(key, error = %err, "key not stored by this backend");
                None
            }
        }
    }

    pub(crate) async fn get(&self, location: &Location) -> Lookup {
        get(self.backend.as_ref(), location, self.load_timeout).await
    }

    pub(crate) fn spawn_put(&self, location: Location, blob: Blob) {
        spawn_put(Arc::clone(&self.backend), location, blob, self.save_timeout);
    }

    /// Writes `blob` at `location` and returns when done (see [`put`]); for a caller that
    /// spawns and times the write itself.
    pub(crate) fn put(
        &self,
        location: Location,
        blob: Blob,
    ) -> impl Future<Output = ()> + Send + 'static {
        put(Arc::clone(&self.backend), location, blob, self.save_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FileBackend;
    use crate::storage::local_writer::{LocalWriter, LocalWriterStore};
    use async_trait::async_trait;
    use object_store::PutResult;
    use object_store::local::LocalFileSystem;
    use object_store::path::Path;
    use std::fmt;

    /// A local directory whose writes fail, or hang past any deadline.
    #[derive(Debug)]
    struct BrokenWriter {
        local: LocalFileSystem,
        hang: bool,
    }

    impl fmt::Display for BrokenWriter {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "BrokenWriter({})", self.local)
        }
    }

    #[async_trait]
    impl LocalWriter for BrokenWriter {
        fn local(&self) -> &LocalFileSystem {
            &self.local
        }

        async fn put_opts(
            &self,
            _location: &Path,
            _payload: PutPayload,
            _opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            if self.hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Err(object_store::Error::Generic {
                store: "BrokenWriter",
                source: "disk on fire".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_failed_or_timed_out_write_leaves_the_stored_object() {
        for hang in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            // The good object a concurrent writer stored under the key.
            std::fs::write(dir.path().join("a.jpg"), b"good").unwrap();
            let reader = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
            let writer = Arc::new(LocalWriterStore(BrokenWriter {
                local: LocalFileSystem::new_with_prefix(dir.path()).unwrap(),
                hang,
            }));
            let location = Location {
                reader,
                writer,
                path: Path::from("a.jpg"),
            };
            let backend: Arc<dyn Backend> = Arc::new(FileBackend::new(dir.path()).unwrap());
            let blob = Blob::new(bytes::Bytes::from_static(b"new"));
            put(backend, location, blob, Duration::from_millis(50)).await;
            assert_eq!(std::fs::read(dir.path().join("a.jpg")).unwrap(), b"good");
        }
    }
}
