//! [`Server`]: the accept loop with its connection cap, per-connection timeouts, HTTP/2
//! keep-alive pings and graceful shutdown.

use crate::body::Body;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::{Builder, UpgradeableConnection};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep_until};
use tower::ServiceExt;

use super::defaults::{DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
use super::servable::{SHUTDOWN_GRACE, Servable};

/// Default interval of HTTP/2 keep-alive pings.
pub const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// Default time an HTTP/2 client has to acknowledge a keep-alive ping before the connection
/// is closed.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Largest buffer for an HTTP/1 request head (imagor's 1 MiB `MaxHeaderBytes`).
const MAX_HEAD_BYTES: usize = 1024 * 1024;

/// The HTTP/1 and HTTP/2 server loop with limits on connections.
///
/// * **Connection cap** ([`max_connections`](Self::max_connections), default 10,000): when
///   that many connections are open the server stops accepting, so new connections wait in
///   the kernel's listen backlog and are served, in order, as soon as one closes (clients are
///   not refused; once the backlog is full too the kernel drops new attempts and clients
///   retry).
/// * **First-request timeout** ([`header_timeout`](Self::header_timeout), default 10 s): a
///   new connection must deliver a complete request head within this time of being accepted,
///   whether it speaks HTTP/1 or HTTP/2. A client that sends nothing, less than the HTTP/2
///   preface, or half a header line is closed when it runs out.
/// * **Idle timeout** ([`idle_timeout`](Self::idle_timeout), default 60 s): a connection with
///   no request in flight is closed this long after its last response was sent (HTTP/2 gets a
///   GOAWAY). On a kept-alive HTTP/1 connection, the next request head must also be complete
///   within this time.
/// * **HTTP/2 keep-alive pings** ([`keep_alive`](Self::keep_alive), default every 20 s, 20 s
///   to answer): a peer that stops answering is closed.
/// * **Graceful shutdown**: when the shutdown future resolves the server stops accepting,
///   asks every connection to finish (idle ones close at once), and waits for in-flight
///   requests for up to [`SHUTDOWN_GRACE`].
///
/// Request heads are limited to 1 MiB, as imagor's are.
///
/// # Example
///
/// ```no_run
/// use imagor_tower::ImageService;
/// use imagor_tower::server::{Server, shutdown_signal};
/// use std::time::Duration;
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// let service = ImageService::new().unsafe_urls(true);
/// Server::new()
///     .max_connections(2_000)
///     .header_timeout(Duration::from_secs(5))
///     .idle_timeout(Duration::from_secs(30))
///     .serve(listener, service, shutdown_signal())
///     .await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    max_connections: u32,
    timeouts: Timeouts,
}

/// The per-connection durations, copied into every connection task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timeouts {
    header: Duration,
    idle: Duration,
    keep_alive_interval: Duration,
    keep_alive_timeout: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeouts: Timeouts {
                header: DEFAULT_HEADER_TIMEOUT,
                idle: DEFAULT_IDLE_TIMEOUT,
                keep_alive_interval: DEFAULT_KEEP_ALIVE_INTERVAL,
                keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            },
        }
    }
}

impl Server {
    /// A server with the default limits (see [`Server`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` connections open at once (at least 1); more wait in the listen backlog.
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long a new connection has to deliver its first complete request head.
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.header = timeout;
        self
    }

    /// How long a connection may stay open with no request in flight.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.idle = timeout;
        self
    }

    /// Send an HTTP/2 ping after `interval` without traffic and close the connection when it
    /// is not acknowledged within `timeout`.
    #[must_use]
    pub fn keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.timeouts.keep_alive_interval = interval;
        self.timeouts.keep_alive_timeout = timeout;
        self
    }

    /// The connection cap.
    pub fn connection_limit(&self) -> u32 {
        self.max_connections
    }

    fn builder(&self) -> Builder<TokioExecutor> {
        let t = self.timeouts;
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .max_buf_size(MAX_HEAD_BYTES)
            .timer(TokioTimer::new())
            // The connection task enforces both timeouts; hyper's own head timer (which runs
            // from the moment it waits for a head, idle time included) is a backstop.
            .header_read_timeout(t.header.max(t.idle));
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(t.keep_alive_interval)
            .keep_alive_timeout(t.keep_alive_timeout);
        builder
    }

    /// Serves `service` on `listener` until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish for up to [`SHUTDOWN_GRACE`].
    pub async fn serve<S>(
        &self,
        listener: TcpListener,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) where
        S: Servable,
    {
        let builder = self.builder();
        let slots = Arc::new(Semaphore::new(self.max_connections as usize));
        let (stop_tx, stop_rx) = watch::channel(());
        tokio::pin!(shutdown);
        loop {
            // With every slot taken, nothing is accepted: new connections wait in the backlog.
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and similar: back off briefly, keep serving.
                        tracing::warn!(error = %err, "accept failed");
                        drop(permit);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let activity = Arc::new(Activity::default());
            let tracked = Tracked {
                inner: service.clone(),
                activity: Arc::clone(&activity),
            };
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), tracked)
                .into_owned();
            let timeouts = self.timeouts;
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                drive(conn, &activity, timeouts, stop, peer).await;
                drop(permit);
            });
        }
        drop(listener);
        drop(stop_rx);
        tracing::info!("shutting down: waiting for in-flight requests");
        // Every connection task returns its slot when it ends.
        let _ = stop_tx.send(());
        let all_closed = slots.acquire_many(self.max_connections);
        if tokio::time::timeout(SHUTDOWN_GRACE, all_closed)
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}");
        }
    }
}

type Conn<S> = UpgradeableConnection<'static, TokioIo<TcpStream>, Tracked<S>, TokioExecutor>;

/// Runs one connection under its timeouts until it ends, is closed, or shutdown finishes it.
async fn drive<S>(
    conn: Conn<S>,
    activity: &Activity,
    timeouts: Timeouts,
    mut stop: watch::Receiver<()>,
    peer: SocketAddr,
) where
    S: Servable,
{
    let opened = Instant::now();
    tokio::pin!(conn);
    let mut stopping = false;
    let mut closing = false;
    let mut check_at = opened + timeouts.header;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = sleep_until(check_at) => {
                if closing {
                    tracing::debug!(%peer, "connection did not close after GOAWAY: dropping it");
                    return;
                }
                let now = Instant::now();
                match activity.check(opened, now, timeouts) {
                    Check::Later(at) => check_at = at,
                    Check::NoRequest => {
                        tracing::debug!(%peer, "no request head within the header timeout: closing");
                        return;
                    }
                    Check::Idle => {
                        tracing::debug!(%peer, "idle timeout: closing");
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                        check_at = now + timeouts.header;
                    }
                }
            }
        }
    }
}

/// What a connection's timer found.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    /// Nothing to do yet; look again at this time.
    Later(Instant),
    /// No request arrived within the header timeout.
    NoRequest,
    /// No request in flight since the idle timeout.
    Idle,
}

/// Requests in flight on one connection and when the last one ended.
#[derive(Debug, Default)]
struct Activity {
    state: Mutex<ActivityState>,
}

#[derive(Debug, Default)]
struct ActivityState {
    in_flight: usize,
    last_done: Option<Instant>,
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        InFlight(Arc::clone(self))
    }

    fn check(&self, opened: Instant, now: Instant, timeouts: Timeouts) -> Check {
        let state = self.lock();
        if state.in_flight > 0 {
            // Requests carry their own deadlines; look again after an idle period.
            return Check::Later(now + timeouts.idle);
        }
        let deadline = match state.last_done {
            Some(done) => done + timeouts.idle,
            None => opened + timeouts.header,
        };
        if now < deadline {
            Check::Later(deadline)
        } else if state.last_done.is_some() {
            Check::Idle
        } else {
            Check::NoRequest
        }
    }
}

/// One request in flight, from its head until its response body is sent or dropped.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.last_done = Some(Instant::now());
    }
}

/// The service of one connection: counts its requests in flight for the idle timer.
#[derive(Clone, Debug)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: Servable,
{
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<TrackedBody>, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        let service = self.inner.clone();
        Box::pin(async move {
            let res = service.oneshot(req).await?;
            Ok(res.map(|body| TrackedBody {
                inner: body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that keeps its request counted as in flight until it is sent or dropped.
#[pin_project::pin_project]
#[derive(Debug)]
struct TrackedBody {
    #[pin]
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            keep_alive_interval: DEFAULT_KEEP_ALIVE_INTERVAL,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
        }
    }

    #[test]
    fn a_connection_without_a_request_runs_out_after_the_header_timeout() {
        let activity = Arc::new(Activity::default());
        let opened = Instant::now();
        let t = timeouts();
        assert_eq!(
            activity.check(opened, opened + Duration::from_secs(3), t),
            Check::Later(opened + t.header)
        );
        assert_eq!(
            activity.check(opened, opened + t.header, t),
            Check::NoRequest
        );
    }

    #[test]
    fn busy_and_idle_connections() {
        let activity = Arc::new(Activity::default());
        let opened = Instant::now();
        let t = timeouts();
        let request = activity.begin();
        let late = opened + Duration::from_secs(100);
        assert_eq!(activity.check(opened, late, t), Check::Later(late + t.idle));
        drop(request);
        let done = activity.lock().last_done.unwrap();
        assert_eq!(activity.check(opened, done, t), Check::Later(done + t.idle));
        assert_eq!(activity.check(opened, done + t.idle, t), Check::Idle);
    }
}
