//! Azure Blob Storage loader, storage and result storage over `object_store` (`AZURE_*`
//! settings; imagor has no Azure support, the names follow its S3 and GCS ones).
//!
//! * [`AzureOptions`] holds one role's settings: container (`name`, `name/dir` or the
//!   wildcard `*`), base directory, path prefix, expiration, account, credentials (account
//!   key, SAS token or the standard Azure chain), endpoint, timeouts and retries.
//!   [`AzureOptions::from_config`] reads them from the
//!   [`AzureConfig`](crate::config::AzureConfig) section.
//! * [`AzureBackend`] (built by [`AzureOptions::build`]) is a storage
//!   [`Backend`](crate::storage::Backend), for [`StorageLayer`](crate::storage::StorageLayer)
//!   and [`ResultStorageLayer`](crate::storage::ResultStorageLayer).
//! * [`AzureLoader`] is a loader service reading through a backend.
//!
//! Keys map to blobs exactly as they map to S3 objects (the same code); reads, atomic writes,
//! expiry and errors are the same as for every other storage.
//!
//! # Example
//!
//! ```
//! use imagor_tower::azure::{AzureLoader, AzureOptions};
//! use imagor_tower::storage::{Backend, Role, StorageLayer};
//!
//! // Azurite's well-known development account.
//! let endpoint = "http://127.0.0.1:10000/devstoreaccount1";
//! let backend = AzureOptions::new("images")
//!     .with_endpoint(endpoint)
//!     .with_path_prefix("/photos")
//!     .with_base_dir("originals")
//!     .build()
//!     .unwrap();
//! let (container, blob) = backend.resolve("/photos/2024/a b.jpg", "").unwrap();
//! assert_eq!((container.as_str(), blob.as_str()), ("images", "originals/2024/a+b.jpg"));
//! let _loader = AzureLoader::new(backend);
//!
//! let cache = AzureOptions::new("cache")
//!     .with_role(Role::Storage)
//!     .with_endpoint(endpoint)
//!     .build()
//!     .unwrap();
//! assert_eq!(cache.locate("a.jpg", "").unwrap().path.as_ref(), "a.jpg");
//! let _layer = StorageLayer::new(cache);
//! ```

mod backend;
mod options;

pub use backend::{AzureBackend, AzureLoader};
pub use options::AzureOptions;
