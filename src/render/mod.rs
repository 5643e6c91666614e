//! The render stack: tower services from an [`ImageRequest`] to a [`Rendered`] answer.
//!
//! The HTTP face, [`ImageService`](crate::ImageService), parses and checks each URL, then
//! sends an [`ImageRequest`] down its render stack and turns the [`Rendered`] answer (or the
//! typed [`Error`](crate::Error)) into the HTTP response. The render stack is ordinary tower
//! layers around [`Render`], the core that loads sources and runs the pixel work:
//!
//! | layer | service | what it does |
//! | --- | --- | --- |
//! | [`ResultStorageLayer`] | [`ResultStorage`] | answers stored results; stores new ones |
//! | [`CoalesceLayer`] | [`Coalesce`] | identical concurrent requests share one render |
//! | [`AdmissionLayer`] | [`Admission`] | concurrency, queue (429), byte budget |
//! | [`MetricsLayer`] | [`Metered`](crate::metrics::Metered) | hands a [`Metrics`](crate::metrics::Metrics) handle to the layers beneath |
//!
//! A host stacks them, and layers of its own, in any order with `ServiceBuilder`, and hands
//! the stack to [`ImageService::from_render`](crate::ImageService::from_render). Each layer
//! accepts any `Service<ImageRequest, Response = Rendered>` whose error converts into the
//! crate's [`Error`](crate::Error), so tower's own middleware (timeouts, rate limits, load
//! shedding) fits in between too. [`ImageService::new`](crate::ImageService::new) builds
//! [`Stack`], a fixed order of the same layers.
//!
//! # Example
//!
//! ```
//! use imagor_tower::loader::FileLoader;
//! use imagor_tower::path::Signer;
//! use imagor_tower::render::{CoalesceLayer, ImageRequest, Render};
//! use imagor_tower::storage::{FileBackend, ResultStorageLayer};
//! use imagor_tower::ImageService;
//! use tower::ServiceBuilder;
//!
//! # fn main() -> Result<(), imagor_tower::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let backend = FileBackend::new(dir.path().join("results"))?;
//! # std::fs::create_dir(dir.path().join("images")).unwrap();
//! # std::env::set_current_dir(dir.path()).unwrap();
//! # let my_audit_layer = tower::layer::util::Identity::new();
//! let render = ServiceBuilder::new()
//!     .layer(ResultStorageLayer::new(backend))
//!     .layer(my_audit_layer) // between result storage and the core
//!     .layer(CoalesceLayer::new())
//!     .service(Render::new(FileLoader::new("images")?));
//! let images = ImageService::from_render(render).signer(Signer::new("secret"));
//! # let _ = images;
//! # Ok(())
//! # }
//! ```

pub mod admission;
pub mod coalesce;
mod core;
pub(crate) mod deferred;
mod limits;
pub(crate) mod rendered;
pub(crate) mod request;
mod stack;
mod workers;

pub use self::core::{Render, ResponseFuture as RenderFuture};
pub use admission::{Admission, AdmissionLayer};
pub use coalesce::{Coalesce, CoalesceLayer};
pub use rendered::Rendered;
pub use request::{ImageRequest, Output, ServiceFilters};
pub use stack::Stack;

pub use crate::metrics::MetricsLayer;
pub use crate::storage::{ResultStorage, ResultStorageLayer};
