//! A call of the service beneath that a layer makes later, once something of its own
//! (admission, a result-storage lookup) has answered.

use super::request::ImageRequest;
use crate::Error;
use tower::Service;

/// The service beneath, made ready by the layer's `poll_ready`, and the request to call it
/// with.
pub(crate) struct Deferred<S> {
    inner: Option<S>,
    /// Boxed: a request is large, and the futures that hold it move.
    req: Option<Box<ImageRequest>>,
}

impl<S: Service<ImageRequest> + Clone> Deferred<S> {
    /// Takes the ready service out of `slot` (leaving a clone there, as tower's guide
    /// recommends) to call it with `req` later.
    pub(crate) fn new(slot: &mut S, req: ImageRequest) -> Self {
        let clone = slot.clone();
        Self {
            inner: Some(std::mem::replace(slot, clone)),
            req: Some(Box::new(req)),
        }
    }
}

impl<S: Service<ImageRequest>> Deferred<S> {
    /// The request, to adjust before the call.
    pub(crate) fn request_mut(&mut self) -> Option<&mut ImageRequest> {
        self.req.as_deref_mut()
    }

    /// Calls the service. Only the first call reaches it.
    pub(crate) fn call(&mut self) -> Result<S::Future, Error> {
        match (self.inner.take(), self.req.take()) {
            (Some(mut inner), Some(req)) => Ok(inner.call(*req)),
            _ => Err(Error::internal("response future polled after it ended")),
        }
    }
}
