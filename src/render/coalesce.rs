//! [`CoalesceLayer`]: identical concurrent requests share one run of the stack beneath
//! ("single flight").
//!
//! Requests are identical when their canonical paths (their result keys) are equal and they
//! carry the same credentials a loader may forward (`Authorization`, `Cookie`), so a load
//! made with one client's credentials is never shared with a client that sent other ones (or
//! none). Only cacheable requests ([`ImageRequest::is_cacheable`]) are coalesced: `/meta`,
//! `raw()` and `preview()` requests pass straight through.
//!
//! A flight is a [`Shared`] future registered under its key. The first request for a key
//! starts it; requests that arrive while it runs join it and receive a clone of its output.
//! The registry keeps only a weak handle, so:
//!
//! * the entry is removed as soon as the work finishes (or is dropped), and a later request
//!   starts afresh;
//! * a cancelled leader strands nobody: whichever participant is still waiting keeps polling
//!   the shared work to completion;
//! * when every participant has gone, the work itself is dropped, which cancels it (and gives
//!   back its admission place).
//!
//! # Example
//!
//! ```
//! use imagor_tower::loader::FileLoader;
//! use imagor_tower::render::{CoalesceLayer, Render};
//! use tower::ServiceBuilder;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let render = ServiceBuilder::new()
//!     .layer(CoalesceLayer::new())
//!     .service(Render::new(FileLoader::new(dir.path()).unwrap()));
//! # let _ = render;
//! ```

use super::{ImageRequest, Rendered};
use crate::Error;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared, WeakShared};
use http::HeaderMap;
use http::header;
use pin_project::pin_project;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Coalesces identical concurrent requests to the stack beneath. See the
/// [module docs](self).
///
/// Every [`Coalesce`] service this layer makes, and every clone of them, shares one registry
/// of flights; [`CoalesceLayer::new`] starts a new one.
#[derive(Clone, Debug, Default)]
pub struct CoalesceLayer {
    flights: Arc<Coalescer<Flown>>,
}

/// What a flight of identical requests shares.
type Flown = Result<Rendered, SharedError>;

impl CoalesceLayer {
    /// A layer with a registry of its own.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for CoalesceLayer {
    type Service = Coalesce<S>;

    fn layer(&self, inner: S) -> Coalesce<S> {
        Coalesce {
            inner,
            flights: Arc::clone(&self.flights),
        }
    }
}

/// The service [`CoalesceLayer`] makes.
#[derive(Clone, Debug)]
pub struct Coalesce<S> {
    inner: S,
    flights: Arc<Coalescer<Flown>>,
}

impl<S> Coalesce<S> {
    /// The service beneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> Service<ImageRequest> for Coalesce<S>
where
    S: Service<ImageRequest, Response = Rendered>,
    S::Error: Into<Error>,
    S::Future: Send + 'static,
{
    type Response = Rendered;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: ImageRequest) -> Self::Future {
        if !req.is_cacheable() {
            return ResponseFuture {
                state: State::Alone {
                    fut: self.inner.call(req),
                },
            };
        }
        let key = flight_key(req.key(), req.headers());
        let metrics = req.metrics.clone();
        let inner = &mut self.inner;
        let (flight, role) = self.flights.join(&key, || {
            let fut = inner.call(req);
            async move { fut.await.map_err(|err| SharedError::from(err.into())) }.boxed()
        });
        if role == Role::Follower
            && let Some(metrics) = metrics
        {
            metrics.coalesced();
        }
        ResponseFuture {
            state: State::Flight { flight },
        }
    }
}

/// Response future of [`Coalesce`].
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    state: State<F>,
}

#[pin_project(project = StateProj)]
enum State<F> {
    /// Not coalesced: the inner future alone.
    Alone {
        #[pin]
        fut: F,
    },
    /// A share of a flight.
    Flight {
        #[pin]
        flight: Flight<Flown>,
    },
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Alone { .. } => "alone",
            State::Flight { .. } => "flight",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Rendered, E>>,
    E: Into<Error>,
{
    type Output = Result<Rendered, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Alone { fut } => fut.poll(cx).map_err(Into::into),
            StateProj::Flight { flight } => flight.poll(cx).map_err(Error::from),
        }
    }
}

/// The coalescing key of a request: its canonical path, and a digest of the credentials a
/// loader may forward (`Authorization`, `Cookie`).
fn flight_key(path: &str, headers: &HeaderMap) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    let mut any = false;
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for value in headers.get_all(&name) {
            any = true;
            digest.update(name.as_str().as_bytes());
            digest.update(b":");
            digest.update(value.as_bytes());
            digest.update(b"\n");
        }
    }
    if !any {
        return path.to_owned();
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{path}\n{hex}")
}

/// The work of one flight, as every participant sees it.
type Flight<T> = Shared<BoxFuture<'static, T>>;

type Registry<T> = Mutex<HashMap<String, Entry<T>>>;

/// Runs identical concurrent work once. Shared by every clone of one service.
struct Coalescer<T: Clone> {
    flights: Arc<Registry<T>>,
    next_id: AtomicU64,
}

struct Entry<T: Clone> {
    id: u64,
    flight: WeakShared<BoxFuture<'static, T>>,
}

/// Whether a request started its flight or joined one already running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// This request started the work.
    Leader,
    /// This request joined work another request started.
    Follower,
}

impl<T: Clone> Default for Coalescer<T> {
    fn default() -> Self {
        Self {
            flights: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<T: Clone> std::fmt::Debug for Coalescer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("in_flight", &lock(&self.flights).len())
            .finish()
    }
}

fn lock<T: Clone>(flights: &Registry<T>) -> MutexGuard<'_, HashMap<String, Entry<T>>> {
    flights.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Coalescer<T>
where
    T: Clone + Send + Sync + 'static,
{
    /// The flight for `key`: the one running, or a new one made by `start` (called only when
    /// none runs).
    fn join(&self, key: &str, start: impl FnOnce() -> BoxFuture<'static, T>) -> (Flight<T>, Role) {
        let mut flights = lock(&self.flights);
        if let Some(running) = flights.get(key).and_then(|entry| entry.flight.upgrade()) {
            return (running, Role::Follower);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cleanup = Cleanup {
            flights: Arc::clone(&self.flights),
            key: key.to_owned(),
            id,
        };
        let work = start();
        let flight = async move {
            // Dropped when the work finishes or is cancelled: either way the entry goes.
            let _cleanup = cleanup;
            work.await
        }
        .boxed()
        .shared();
        if let Some(weak) = flight.downgrade() {
            flights.insert(key.to_owned(), Entry { id, flight: weak });
        }
        (flight, Role::Leader)
    }

    /// Flights registered right now.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }
}

/// Removes its flight's entry (and only its own: a newer flight may hold the key by then).
struct Cleanup<T: Clone> {
    flights: Arc<Registry<T>>,
    key: String,
    id: u64,
}

impl<T: Clone> Drop for Cleanup<T> {
    fn drop(&mut self) {
        let mut flights = lock(&self.flights);
        if flights
            .get(&self.key)
            .is_some_and(|entry| entry.id == self.id)
        {
            flights.remove(&self.key);
        }
    }
}

/// An error as a flight shares it: every participant gets an equal [`Error`].
#[derive(Clone, Debug)]
struct SharedError(Arc<Error>);

impl From<Error> for SharedError {
    fn from(err: Error) -> Self {
        Self(Arc::new(err))
    }
}

impl From<SharedError> for Error {
    fn from(shared: SharedError) -> Self {
        Arc::try_unwrap(shared.0).unwrap_or_else(|arc| replicate(&arc))
    }
}

/// An equal error for another participant. The source of an internal error stays with the
/// original (it was logged there); status and message are kept.
fn replicate(err: &Error) -> Error {
    match err {
        Error::Invalid => Error::Invalid,
        Error::BadRequest(message) => Error::BadRequest(message.clone()),
        Error::MaxSizeExceeded => Error::MaxSizeExceeded,
        Error::UploadTooLarge => Error::UploadTooLarge,
        Error::SignatureMismatch => Error::SignatureMismatch,
        Error::SourceNotAllowed => Error::SourceNotAllowed,
        Error::UnauthorizedRequest(url) => Error::UnauthorizedRequest(url.clone()),
        Error::NotFound => Error::NotFound,
        Error::MethodNotAllowed => Error::MethodNotAllowed,
        Error::UnsupportedFormat => Error::UnsupportedFormat,
        Error::Image(message) => Error::Image(message.clone()),
        Error::Timeout => Error::Timeout,
        Error::Expired => Error::Expired,
        Error::MaxResolutionExceeded => Error::MaxResolutionExceeded,
        Error::TooExpensive => Error::TooExpensive,
        Error::TooManyRequests => Error::TooManyRequests,
        Error::Preset(err) => Error::Preset(err.clone()),
        Error::Status { status, message } => Error::Status {
            status: *status,
            message: message.clone(),
        },
        Error::Internal { message, .. } => Error::Internal {
            message: message.clone(),
            source: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    fn counted(runs: &Arc<AtomicUsize>, value: u32) -> BoxFuture<'static, u32> {
        let runs = Arc::clone(runs);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            value
        }
        .boxed()
    }

    #[tokio::test]
    async fn identical_keys_share_one_run() {
        let coalescer = Coalescer::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (a, role_a) = coalescer.join("k", || counted(&runs, 1));
        let (b, role_b) = coalescer.join("k", || counted(&runs, 2));
        let (c, role_c) = coalescer.join("other", || counted(&runs, 3));
        assert_eq!(
            (role_a, role_b, role_c),
            (Role::Leader, Role::Follower, Role::Leader)
        );
        assert_eq!(futures::join!(a, b, c), (1, 1, 3));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(coalescer.in_flight(), 0);
        // Finished flights are not reused.
        let (d, role_d) = coalescer.join("k", || counted(&runs, 4));
        assert_eq!(role_d, Role::Leader);
        assert_eq!(d.await, 4);
    }

    #[tokio::test]
    async fn a_cancelled_leader_does_not_strand_followers() {
        let coalescer = Coalescer::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (mut leader, _) = coalescer.join("k", || counted(&runs, 7));
        assert!(futures::poll!(&mut leader).is_pending());
        let (follower, role) = coalescer.join("k", || counted(&runs, 8));
        assert_eq!(role, Role::Follower);
        drop(leader);
        assert_eq!(follower.await, 7);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn work_is_dropped_when_everyone_leaves() {
        let coalescer: Coalescer<u32> = Coalescer::default();
        let (mut flight, _) = coalescer.join("k", || std::future::pending().boxed());
        assert!(futures::poll!(&mut flight).is_pending());
        assert_eq!(coalescer.in_flight(), 1);
        drop(flight);
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[test]
    fn shared_errors_keep_status_and_message() {
        let shared = SharedError::from(Error::internal("disk on fire"));
        let copy = Error::from(shared.clone());
        let original = Error::from(shared);
        assert_eq!(copy.status(), 500);
        assert_eq!(copy.message(), "disk on fire");
        assert_eq!(original.message(), "disk on fire");
        let status = Error::status_message(http::StatusCode::BAD_GATEWAY, "upstream");
        let copy = replicate(&status);
        assert_eq!(
            (copy.status(), copy.message()),
            (status.status(), status.message())
        );
    }
}
