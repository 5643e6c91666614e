//! [`SourceRequest`], the request every loader and storage serves, and the small services
//! and helpers around it.

use crate::{Blob, Error};
use ::http::HeaderMap;
use futures::future::BoxFuture;
use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};
use tower::Service;

/// The future returned by the crate's loaders.
pub type LoadFuture = BoxFuture<'static, Result<Blob, Error>>;

/// A request to the source stack: which image to load, and the client's headers (for loaders
/// that forward some of them upstream).
///
/// Its `Debug` output lists the header names only: values such as `Authorization` and
/// `Cookie` are credentials.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header};
/// use imagor_tower::loader::SourceRequest;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cr3t"));
/// let req = SourceRequest::new("a.jpg").with_headers(headers);
/// let shown = format!("{req:?}");
/// assert!(shown.contains("authorization") && !shown.contains("s3cr3t"));
/// ```
#[derive(Clone, Default)]
pub struct SourceRequest {
    key: String,
    headers: HeaderMap,
}

impl fmt::Debug for SourceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted<'a>(&'a HeaderMap);
        impl fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.keys().map(|name| (name.as_str(), "<redacted>")))
                    .finish()
            }
        }
        f.debug_struct("SourceRequest")
            .field("key", &self.key)
            .field("headers", &Redacted(&self.headers))
            .finish()
    }
}

impl SourceRequest {
    /// A request for the image `key` (the decoded image text of the URL).
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            headers: HeaderMap::new(),
        }
    }

    /// Attaches the client's request headers.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// The image key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The client's request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

/// A source that never has anything: every request answers [`Error::NotFound`].
///
/// This is the source stack of an [`ImageService`](crate::ImageService) before any loader is
/// added.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSource;

impl Service<SourceRequest> for NoSource {
    type Response = Blob;
    type Error = Error;
    type Future = std::future::Ready<Result<Blob, Error>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: SourceRequest) -> Self::Future {
        std::future::ready(Err(Error::NotFound))
    }
}

/// Turns an async function into a loader (a `Service<SourceRequest>` that is always ready).
pub fn service_fn_loader<F, Fut>(f: F) -> tower::util::ServiceFn<F>
where
    F: FnMut(SourceRequest) -> Fut,
    Fut: Future<Output = Result<Blob, Error>>,
{
    tower::service_fn(f)
}

/// Implements `Service<SourceRequest>` for a cheaply cloneable leaf loader: each call clones
/// the loader into a boxed future that runs `$body` (an expression producing a future of
/// `Result<Blob, Error>`, with the clone bound to `$this` and the request to `$req`).
macro_rules! leaf_loader_service {
    ($loader:ty, |$this:ident, $req:ident| $body:expr) => {
        impl ::tower::Service<$crate::loader::SourceRequest> for $loader {
            type Response = $crate::Blob;
            type Error = $crate::Error;
            type Future = $crate::loader::LoadFuture;

            #[inline]
            fn poll_ready(
                &mut self,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Result<(), $crate::Error>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, $req: $crate::loader::SourceRequest) -> Self::Future {
                let $this = self.clone();
                Box::pin(async move { $body.await })
            }
        }
    };
}
pub(crate) use leaf_loader_service;
