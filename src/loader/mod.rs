//! Where source images come from: the source stack.
//!
//! A loader is a [`tower::Service`] that takes a [`SourceRequest`] (the decoded image key from
//! the URL, plus the client's request headers) and answers with a [`Blob`](crate::Blob) or an [`Error`](crate::Error).
//! Leaf loaders fetch from one place ([`FileLoader`], [`HttpLoader`]); [`Fallback`] tries a
//! second source when the first has nothing, the way imagor walks its loader list. Because
//! every piece is an ordinary service, `tower::timeout`, `retry` and `limit` apply to loading
//! without glue.
//!
//! # Example
//!
//! ```
//! use imagor_tower::loader::{Fallback, SourceRequest, service_fn_loader};
//! use imagor_tower::{Blob, Error};
//! use tower::ServiceExt;
//!
//! # tokio_test_block_on(async {
//! let empty = service_fn_loader(|_req: SourceRequest| async { Err::<Blob, _>(Error::NotFound) });
//! let memory = service_fn_loader(|req: SourceRequest| async move {
//!     Ok::<_, Error>(Blob::new(format!("bytes of {}", req.key())))
//! });
//! let stack = Fallback::new(empty, memory);
//! let blob = stack.oneshot(SourceRequest::new("a.jpg")).await.unwrap();
//! assert_eq!(&blob.bytes()[..], b"bytes of a.jpg");
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod content_type;
mod fallback;
pub mod file;
pub mod http;
mod layer;
mod limits;
mod request;
pub mod upload;

pub(crate) use content_type::with_content_type_of;
pub use content_type::{
    FALLBACK_CONTENT_TYPE, content_type_of, content_type_or_fallback, is_image_content_type,
};
pub use fallback::Fallback;
pub use file::FileLoader;
pub use http::HttpLoader;
pub use layer::LoaderLayer;
pub use limits::DEFAULT_MAX_SIZE;
pub(crate) use request::leaf_loader_service;
pub use request::{LoadFuture, NoSource, SourceRequest, service_fn_loader};
pub use upload::{DEFAULT_UPLOAD_MAX_SIZE, Upload, UploadLoader};
