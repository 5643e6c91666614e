//! A small HTTP/1 and HTTP/2 server loop for any image stack, with a connection cap,
//! per-connection timeouts and graceful shutdown ([`Server`]).
//!
//! The standalone server (`examples/standalone`) uses it; hosts with their own server (axum,
//! hyper, warp) do not need it. [`FrontendLayer`] adds imagor's server-level options (path
//! prefix, query-string redirect, CORS, access log).
//!
//! # Example
//!
//! ```no_run
//! use imagor_tower::ImageService;
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! let service = ImageService::new().unsafe_urls(true);
//! imagor_tower::server::serve(listener, service, imagor_tower::server::shutdown_signal()).await;
//! # Ok(())
//! # }
//! ```

mod connection;
mod defaults;
mod frontend;
mod servable;

pub use connection::{DEFAULT_KEEP_ALIVE_INTERVAL, DEFAULT_KEEP_ALIVE_TIMEOUT, Server};
pub use defaults::{DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub use frontend::{Frontend, FrontendLayer};
pub use servable::{SHUTDOWN_GRACE, Servable};

use std::future::Future;
use tokio::net::TcpListener;

/// Serves `service` on `listener` with the default limits of [`Server`] until `shutdown`
/// resolves, then stops accepting and lets in-flight requests finish for up to
/// [`SHUTDOWN_GRACE`].
pub async fn serve<S>(listener: TcpListener, service: S, shutdown: impl Future<Output = ()>)
where
    S: Servable,
{
    Server::new().serve(listener, service, shutdown).await;
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
