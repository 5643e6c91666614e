//! What the S3, Google Cloud Storage and Azure Blob Storage backends share: imagor's mapping
//! of keys to buckets and objects, the clients of each bucket (one per bucket, wildcard
//! buckets in a bounded cache), and how a loader reads one object and reports failures.
//!
//! Each service adds only how its clients are built ([`MakeClients`]) and its own write
//! settings; reading, writing, expiry and errors are the same code for all three.

pub(crate) mod bucket;
mod buckets;
pub(crate) mod cache;
mod load;

pub(crate) use buckets::{BucketSet, BucketSpec, Clients, MakeClients};
pub(crate) use load::{Service, load_object};

/// The default number of wildcard buckets whose clients are kept (S3, GCS and Azure).
pub(crate) const DEFAULT_BUCKET_CACHE_SIZE: usize = 64;

/// Network defaults shared by the GCS and Azure options (S3 has its own, equal ones).
#[cfg(any(feature = "gcs", feature = "azure"))]
pub(crate) mod net {
    use object_store::{BackoffConfig, ClientOptions, RetryConfig};
    use std::time::Duration;

    /// 30 seconds per request.
    pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// 3 seconds to connect.
    pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

    /// Two retries with backoff from 100 ms to 1 s, all within 10 s: a dead endpoint fails in
    /// well under a second.
    pub(crate) fn default_retry() -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
        }
    }

    /// Client options with these timeouts, allowing plain HTTP when `url` is `http://`.
    pub(crate) fn client_options(
        timeout: Duration,
        connect_timeout: Duration,
        url: Option<&str>,
    ) -> ClientOptions {
        ClientOptions::new()
            .with_timeout(timeout)
            .with_connect_timeout(connect_timeout)
            .with_allow_http(url.is_some_and(|url| url.starts_with("http://")))
    }
}
