//! Storage of source images and processed results over `object_store`.
//!
//! (Being written: backends, the read-through `StorageLayer` and `ResultStorageLayer`.)

mod backend;

pub use backend::{Backend, Location};
