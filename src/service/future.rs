//! [`ResponseFuture`]: the future returned by [`ImageService`](super::ImageService).

use crate::body::Body;
use futures::future::BoxFuture;
use http::Response;
use pin_project::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Response future of [`ImageService`](super::ImageService). It always resolves to a response:
/// errors have already become imagor's status and JSON body.
#[pin_project]
pub struct ResponseFuture {
    #[pin]
    inner: BoxFuture<'static, Response<Body>>,
}

impl ResponseFuture {
    pub(crate) fn new(inner: BoxFuture<'static, Response<Body>>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(Ok)
    }
}
