//! The connection limits' defaults (`SERVER_MAX_CONNECTIONS`, `SERVER_HEADER_TIMEOUT`,
//! `SERVER_IDLE_TIMEOUT`). The configuration reads them whether or not the `server` feature
//! builds the server that applies them.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "server")]
//! assert_eq!(imagor_tower::server::DEFAULT_MAX_CONNECTIONS, 10_000);
//! ```

// Without the `server` feature this file is a crate-private module of its own.
#![cfg_attr(not(feature = "server"), allow(unreachable_pub))]

use std::time::Duration;

/// Default cap on open connections (`SERVER_MAX_CONNECTIONS`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
/// Default time a new connection has to deliver its first request head
/// (`SERVER_HEADER_TIMEOUT`).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may stay open with no request in flight after its last answer
/// (`SERVER_IDLE_TIMEOUT`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
