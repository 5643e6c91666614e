//! [`Fallback`]: try one source, and when it has nothing, another.

use super::SourceRequest;
use crate::{Blob, Error};
use futures::future::BoxFuture;
use std::task::{Context, Poll};
use tower::{Service, ServiceExt};

/// Tries `first`; if it fails, tries `second` with the same request.
///
/// When both fail, the answer is `second`'s error unless that is [`Error::NotFound`] and
/// `first` failed with something more specific, matching imagor's rule "the last error, or
/// 404 if every source returned nothing". See the [module docs](super) for an example.
#[derive(Clone, Debug)]
pub struct Fallback<A, B> {
    first: A,
    second: B,
}

impl<A, B> Fallback<A, B> {
    /// Tries `first`, then `second`.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The first source.
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The second source.
    pub fn second(&self) -> &B {
        &self.second
    }
}

impl<A, B> Service<SourceRequest> for Fallback<A, B>
where
    A: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + 'static,
    A::Future: Send,
    B: Service<SourceRequest, Response = Blob, Error = Error> + Clone + Send + 'static,
    B::Future: Send,
{
    type Response = Blob;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Blob, Error>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Readiness is awaited per call on clones, so a busy second source never blocks the
        // first one.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: SourceRequest) -> Self::Future {
        let first = self.first.clone();
        let second = self.second.clone();
        Box::pin(async move {
            let first_err = match first.oneshot(req.clone()).await {
                Ok(blob) => return Ok(blob),
                Err(err) => err,
            };
            match second.oneshot(req).await {
                Ok(blob) => Ok(blob),
                Err(err) if err.is_not_found() && !first_err.is_not_found() => Err(first_err),
                Err(err) => Err(err),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::service_fn_loader;

    fn fixed(
        result: fn() -> Result<Blob, Error>,
    ) -> impl Clone
    + Service<
        SourceRequest,
        Response = Blob,
        Error = Error,
        Future = std::future::Ready<Result<Blob, Error>>,
    > {
        service_fn_loader(move |_req| std::future::ready(result()))
    }

    #[tokio::test]
    async fn first_success_wins() {
        let stack = Fallback::new(fixed(|| Ok(Blob::new("a"))), fixed(|| Ok(Blob::new("b"))));
        let blob = stack.oneshot(SourceRequest::new("k")).await.unwrap();
        assert_eq!(&blob.bytes()[..], b"a");
    }

    #[tokio::test]
    async fn not_found_falls_through() {
        let stack = Fallback::new(fixed(|| Err(Error::NotFound)), fixed(|| Ok(Blob::new("b"))));
        let blob = stack.oneshot(SourceRequest::new("k")).await.unwrap();
        assert_eq!(&blob.bytes()[..], b"b");
    }

    #[tokio::test]
    async fn errors_fall_through_and_specific_error_beats_not_found() {
        let stack = Fallback::new(
            fixed(|| Err(Error::Invalid)),
            fixed(|| Err(Error::NotFound)),
        );
        let err = stack.oneshot(SourceRequest::new("k")).await.unwrap_err();
        assert!(matches!(err, Error::Invalid));

        let stack = Fallback::new(fixed(|| Err(Error::Invalid)), fixed(|| Err(Error::Timeout)));
        let err = stack.oneshot(SourceRequest::new("k")).await.unwrap_err();
        assert!(matches!(err, Error::Timeout));
    }
}
