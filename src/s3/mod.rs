//! S3 loader, storage and result storage over `object_store` (imagor's `S3_*` and `AWS_*`
//! settings).
//!
//! * [`S3Options`] holds one role's settings: bucket (`name`, `name/dir` or the wildcard
//!   `*`), base directory, path prefix, safe characters, endpoint and addressing style,
//!   region, credentials, canned ACL, storage class, expiration, timeouts and retries.
//!   [`S3Options::from_config`] reads them from the [`S3Config`](crate::config::S3Config)
//!   section with imagor's precedence rules.
//! * [`S3Backend`] (built by [`S3Options::build`]) is a storage
//!   [`Backend`](crate::storage::Backend): it maps keys to objects exactly as imagor does and
//!   hands out one reader and one writer client per bucket. The writer carries the canned
//!   ACL as a signed `x-amz-acl` header on its requests (`object_store` has no ACL field),
//!   so reads never send it.
//! * [`S3Loader`] is a loader service reading through a backend.
//! * [`BucketRouter`] routes each key to one of several buckets by a regular expression
//!   (`S3_LOADER_BUCKET_ROUTER_CONFIG`), from a YAML [`RouterConfig`], with fallback buckets
//!   and a passthrough mode.
//! * [`AwsChainCredentials`] brings aws-config's credential chain (environment, profile
//!   files, web identity, ECS, instance metadata) to `object_store`; it is used whenever no
//!   static keys are configured.
//!
//! Requests fail fast by default: a 3 s connect timeout, a 30 s request timeout and two
//! retries ([`default_retry`]).
//!
//! # Example
//!
//! ```
//! use imagor_tower::s3::S3Role;
//! use imagor_tower::s3::{S3Loader, S3Options};
//! use imagor_tower::storage::Backend;
//!
//! // A loader for the bucket `images`, keys under `/photos` stored below `originals/`.
//! let backend = S3Options::new("images/originals")
//!     .with_endpoint("http://127.0.0.1:9000")
//!     .with_force_path_style(true)
//!     .with_access_key("AKID", "secret")
//!     .with_path_prefix("/photos")
//!     .build()
//!     .unwrap();
//! let object = backend.resolve("/photos/2024/a b.jpg", "").unwrap();
//! assert_eq!(object.bucket, "images");
//! assert_eq!(object.key, "originals/2024/a+b.jpg");
//! assert_eq!(backend.locate("/photos/x.png", "").unwrap().path.as_ref(), "originals/x.png");
//! let _loader = S3Loader::new(backend);
//!
//! // With the wildcard bucket, the first segment of the key names the bucket.
//! let any = S3Options::new("*").with_role(S3Role::Storage).build().unwrap();
//! let object = any.resolve("/site-a/img/logo.png", "").unwrap();
//! assert_eq!((object.bucket.as_str(), object.key.as_str()), ("site-a", "img/logo.png"));
//! ```

mod backend;
// Shared with the other object-store services; `super::bucket` and `super::cache` in this
// module's files name them.
use crate::cloud::{bucket, cache};
mod chain;
mod client;
mod credentials;
mod loader;
mod options;
mod router;
mod settings;

pub use backend::{S3Backend, S3Object};
pub use chain::AwsChainCredentials;
pub use credentials::AwsCredentials;
pub(crate) use credentials::role_or_global;
pub use loader::{DEFAULT_MAX_SIZE, S3Loader};
pub use options::{
    DEFAULT_BUCKET_CACHE_SIZE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, S3Options, default_retry,
};
pub use router::{
    BucketConfig, BucketRouter, BucketRouterBuilder, DEFAULT_PASSTHROUGH_CACHE_SIZE,
    MAX_FALLBACK_BUCKETS, Route, RouterConfig, RouterConfigError, RoutingRule,
};
pub use settings::{CannedAcl, S3Role, S3StorageClass};
