//! Storage of source images and processed results over `object_store`.
//!
//! Two roles, as in imagor:
//!
//! * **Source storage** ([`StorageLayer`]): a read-through cache of originals around the
//!   source stack. Hits skip the loaders; what the loaders find is saved in the background.
//! * **Result storage** ([`ResultStorageLayer`]): a cache of processed outputs inside the
//!   [`ImageService`](crate::ImageService). Hits skip loading and processing.
//!
//! Both write in the background after the response is ready. Writes are atomic, so nothing
//! half-written is ever read back; a failed write is logged and leaves the key alone (an
//! object a concurrent writer stored there stays). Where objects live is a [`Backend`]: a
//! local directory ([`FileBackend`]), an S3 or Google Cloud Storage bucket, an Azure
//! container, or any `object_store` store.
//!
//! # Example
//!
//! ```
//! use imagor_tower::loader::{FileLoader, LoaderLayer};
//! use imagor_tower::storage::{FileBackend, ResultStorageLayer, StorageLayer};
//! use imagor_tower::ImageService;
//! use tower::ServiceBuilder;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(ResultStorageLayer::new(FileBackend::new(dir.path().join("results")).unwrap()))
//!     .layer(StorageLayer::new(FileBackend::new(dir.path().join("originals")).unwrap()))
//!     .layer(LoaderLayer::new(FileLoader::new(dir.path()).unwrap()))
//!     .service(ImageService::new().unsafe_urls(true));
//! # let _ = service;
//! ```

mod backend;
mod file;
#[cfg(any(unix, test))]
mod local_writer;
pub(crate) mod object;
pub mod result;
mod role;
mod source;
pub(crate) mod store;

pub use backend::{Backend, Location};
pub use file::{FileBackend, STALE_TEMPORARY_AGE};
pub use result::{ResultStorage, ResultStorageLayer};
pub use role::Role;
pub use source::{Storage, StorageLayer};
