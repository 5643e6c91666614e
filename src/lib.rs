//! imagor-compatible image URLs served as a stack of Tower layers.
//!
//! (Crate guide being written.)

pub mod blob;
pub mod body;
pub mod config;
pub mod error;
pub mod key;
pub mod loader;
pub mod metrics;
pub mod path;
pub mod processing;
pub mod s3;
mod secret;
pub mod server;
pub mod service;
pub mod storage;

pub use blob::Blob;
pub use error::Error;
pub use service::ImageService;
