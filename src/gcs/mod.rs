//! Google Cloud Storage loader, storage and result storage over `object_store` (imagor's
//! `GCLOUD_*` settings).
//!
//! * [`GcsOptions`] holds one role's settings: bucket (`name`, `name/dir` or the wildcard
//!   `*`), base directory, path prefix, safe characters, predefined ACL, expiration,
//!   credentials or an emulator address, timeouts and retries.
//!   [`GcsOptions::from_config`] reads them from the
//!   [`GCloudConfig`](crate::config::GCloudConfig) section.
//! * [`GcsBackend`] (built by [`GcsOptions::build`]) is a storage
//!   [`Backend`](crate::storage::Backend), for [`StorageLayer`](crate::storage::StorageLayer)
//!   and [`ResultStorageLayer`](crate::storage::ResultStorageLayer).
//! * [`GcsLoader`] is a loader service reading through a backend.
//!
//! Keys map to objects exactly as for S3 (the same code), except that no characters are kept
//! unescaped by default. Credentials follow Google's application-default chain
//! (`GOOGLE_APPLICATION_CREDENTIALS`, then `gcloud`'s file, then the metadata server);
//! `STORAGE_EMULATOR_HOST` points every client at an emulator, without credentials, as
//! Google's client libraries (and so imagor) do.
//!
//! # Example
//!
//! ```
//! use imagor_tower::gcs::{GcsLoader, GcsOptions};
//! use imagor_tower::storage::{Backend, ResultStorageLayer, Role};
//!
//! // A loader for the bucket `images`, keys under `/photos` stored below `originals/`.
//! let backend = GcsOptions::new("images/originals")
//!     .with_emulator_host("127.0.0.1:4443")
//!     .with_path_prefix("/photos")
//!     .build()
//!     .unwrap();
//! let (bucket, key) = backend.resolve("/photos/2024/a b.jpg", "").unwrap();
//! assert_eq!((bucket.as_str(), key.as_str()), ("images", "originals/2024/a+b.jpg"));
//! let _loader = GcsLoader::new(backend);
//!
//! // Results in another bucket, kept for a day.
//! let results = GcsOptions::new("results")
//!     .with_role(Role::ResultStorage)
//!     .with_expiration(std::time::Duration::from_secs(24 * 3600))
//!     .with_emulator_host("127.0.0.1:4443")
//!     .build()
//!     .unwrap();
//! assert_eq!(results.locate("fit-in/100x100/a.jpg", "a.jpg").unwrap().path.as_ref(), "fit-in/100x100/a.jpg");
//! let _layer = ResultStorageLayer::new(results);
//! ```

mod backend;
mod options;

pub use crate::config::GcsAcl;
pub use backend::{GcsBackend, GcsLoader};
pub use options::{GOOGLE_APPLICATION_CREDENTIALS, GcsOptions, STORAGE_EMULATOR_HOST};
