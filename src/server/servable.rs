//! [`Servable`]: what the server runs, and how long it lets requests finish.

use crate::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::time::Duration;
use tower::Service;

/// What [`Server`](super::Server) and [`serve`](super::serve) run: a cloneable Tower
/// service of hyper requests that answers with [`Body`] responses, never fails, and can move
/// to other threads. Every such service has it (an [`ImageService`](crate::ImageService)
/// stack, an axum `Router` mapped to [`Body`], a `service_fn`); there is nothing to
/// implement.
///
/// # Example
///
/// ```
/// use imagor_tower::ImageService;
/// use imagor_tower::server::Servable;
///
/// fn check<S: Servable>(_: &S) {}
/// check(&ImageService::new().unsafe_urls(true));
/// ```
pub trait Servable:
    Service<
        Request<Incoming>,
        Response = Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Servable for S
where
    S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
}

/// How long in-flight requests may run after shutdown starts (imagor uses 10 s).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
