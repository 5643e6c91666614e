//! imagor-compatible image URLs served as a stack of Tower layers.
//!
//! An URL such as `/HASH/fit-in/300x200/filters:quality(80)/photo.jpg` names a source image
//! and what to do with it. This crate answers such URLs the way [imagor] does (same grammar,
//! signatures, filters, options, statuses and error bodies), as ordinary [`tower`] services
//! that mount in axum, hyper or warp, and as a standalone server (`examples/standalone`).
//!
//! # The stacks
//!
//! A request travels through three typed stacks. Each is made of tower services, so a host
//! can put its own layers (auth, rate limits, tracing, caches) around or between any of them.
//!
//! ```text
//!  http::Request ─▶ ImageService<R>            the HTTP face (service)
//!                   │ parse, verify signature, base params, negotiate format
//!                   ▼ ImageRequest
//!                   R: the render stack         (render)
//!                   │ CoalesceLayer             identical requests share one render
//!                   │ ResultStorageLayer        stored results answer at once
//!                   │ AdmissionLayer            concurrency, queue (429), byte budget
//!                   │ (your layers, anywhere)
//!                   ▼ Render<Src>               load, then pixel work on pixel threads
//!                   │    │ SourceRequest
//!                   │    ▼ Src: the source stack  (loader, storage, s3)
//!                   │      StorageLayer           originals cached in a storage
//!                   │      BucketRouter           one S3 client per bucket
//!                   │      Fallback<A, B>         loaders tried in order
//!                   │      FileLoader, HttpLoader, S3, GCS and Azure loaders, or your own
//!                   ▼ Rendered
//!  http::Response ◀─ caching headers, validators, errors as imagor's JSON
//! ```
//!
//! * **The HTTP face**, [`ImageService`]: a `Service<http::Request<B>>` (any
//!   `B: http_body::Body`, read only for uploads) that never fails; every error has become
//!   imagor's status and JSON body. [`ImageService::try_call`] gives the typed [`Error`]
//!   instead. A `POST` upload ([`loader::UploadLoader`]) travels to the render stack in the
//!   [`render::ImageRequest`] in place of a source key.
//! * **The render stack** ([`render`]): `Service<ImageRequest, Response = Rendered>`.
//!   [`ImageService::new`] builds a fixed one ([`render::Stack`]);
//!   [`ImageService::from_render`] takes any.
//! * **The source stack** ([`loader`], [`storage`], [`s3`], and `gcs` and `azure` with
//!   their features): `Service<SourceRequest, Response = Blob>`.
//!
//! # Example
//!
//! The same service built twice: with the builder, and as an explicit render stack.
//!
//! ```
//! use imagor_tower::loader::FileLoader;
//! use imagor_tower::path::Signer;
//! use imagor_tower::render::{AdmissionLayer, CoalesceLayer, Render};
//! use imagor_tower::storage::{FileBackend, ResultStorageLayer};
//! use imagor_tower::ImageService;
//! use tower::ServiceBuilder;
//!
//! # fn main() -> Result<(), imagor_tower::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let (images, results) = (dir.path().join("images"), dir.path().join("results"));
//! # std::fs::create_dir(&images).unwrap();
//! let built = ImageService::new()
//!     .signer(Signer::new("secret"))
//!     .loader(FileLoader::new(&images)?)
//!     .result_storage(ResultStorageLayer::new(FileBackend::new(&results)?))
//!     .process_concurrency(8);
//!
//! let render = ServiceBuilder::new()
//!     .layer(CoalesceLayer::new())
//!     .layer(ResultStorageLayer::new(FileBackend::new(&results)?))
//!     .layer(AdmissionLayer::new().concurrency(8))
//!     .service(Render::new(FileLoader::new(&images)?));
//! let stacked = ImageService::from_render(render).signer(Signer::new("secret"));
//! # let _ = (built, stacked);
//! # Ok(())
//! # }
//! ```
//!
//! # Where to start reading
//!
//! * [`service`]: the HTTP face, `face.rs` first: routing, the signature check and the answer.
//! * [`render`]: the render stack's layers, then `core.rs`, where sources are loaded and pixel
//!   work is handed to the pixel threads.
//! * [`path`]: the URL grammar ([`path::parse`]), canonical paths and signing.
//! * [`processing`]: the engine. [`processing::process`] decodes (at a reduced scale where the
//!   output allows), plans the geometry, runs the filters in imagor's order and encodes.
//! * [`config`]: imagor's options, flags and environment variables, and how the standalone
//!   server's stacks are built from them.
//! * [`error`]: every failure and its HTTP status, in one table.
//!
//! # Adding a filter
//!
//! 1. Add one entry to the registry in `processing/filter/registry.rs`
//!    ([`processing::filter::lookup`]): the filter's name, its
//!    [`FilterKind`](processing::filter::FilterKind) (a pipeline operation, a plan input, an
//!    encoder setting, a `/meta` summary, or a setting the HTTP face acts on), how its
//!    arguments split, whether it counts toward `VIPS_MAX_FILTER_OPS`, and how the work budget
//!    weighs it. The filter-count limit, `VIPS_DISABLE_FILTERS` and the cost estimate read the
//!    registry, so none of them can miss it; a test fails when the pipeline runs a name the
//!    registry does not know.
//! 2. Implement the pixel operation under `processing/ops/` and call it from the pipeline
//!    (`processing/pipeline.rs`) under its name.
//! 3. Test it: a unit test of the operation, an end-to-end URL test, and a golden row where
//!    imagor's suite has one.
//!
//! # Adding a loader
//!
//! A loader is any `Service<SourceRequest, Response = Blob, Error = Error>` that is `Clone`:
//! write one, or wrap a closure with [`loader::service_fn_loader`]. Answer
//! [`Error::NotFound`] for keys it does not have, so the next loader is tried. Add it with
//! [`ImageService::loader`] (or [`Render::loader`](render::Render::loader)); the standalone
//! server builds its loaders in [`config`].
//!
//! # Adding a storage
//!
//! Storages keep bytes in any `object_store` backend. Implement [`storage::Backend`]: map a
//! key to a [`storage::Location`] (a store and a path) and say which write attributes and
//! expiry apply. The same backend then serves as source storage
//! ([`storage::StorageLayer`]) and result storage ([`storage::ResultStorageLayer`]); reads,
//! atomic background writes and expiry come with them.
//!
//! [imagor]: https://github.com/cshum/imagor

#[cfg(feature = "azure")]
pub mod azure;
pub mod blob;
pub mod body;
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
mod cloud;
pub mod config;
pub mod error;
#[cfg(feature = "gcs")]
pub mod gcs;
pub mod key;
pub mod loader;
pub mod metrics;
pub mod path;
pub mod processing;
pub mod render;
#[cfg(feature = "s3")]
pub mod s3;
// Without the `s3` feature only the S3 option types remain: the configuration still reads S3
// options, to refuse them by name.
#[cfg(not(feature = "s3"))]
#[path = "s3/settings_only.rs"]
mod s3;
mod secret;
#[cfg(feature = "server")]
pub mod server;
// Without the server, the connection defaults alone remain (the configuration's defaults).
#[cfg(not(feature = "server"))]
#[path = "server/defaults.rs"]
mod server;
pub mod service;
pub mod storage;

pub use blob::Blob;
pub use error::Error;
pub use service::ImageService;

/// The Rust examples of README.md, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
