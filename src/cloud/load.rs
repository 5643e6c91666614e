//! Reading one object the way every object-store loader does, and naming failures.

use super::BucketSet;
use crate::Error;
use crate::blob::Blob;
use crate::loader::with_content_type_of;
use crate::storage::object::{ReadRules, read_object};
use object_store::{GetOptions, ObjectStore as _};
use std::time::Duration;

/// How a service's errors read: what a bucket is called and what to check when access is
/// refused.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Service {
    /// `S3 bucket`, `GCS bucket`, `Azure container`.
    pub(crate) what: &'static str,
    /// The hint after "access denied".
    pub(crate) denied_hint: &'static str,
}

/// Loads the object for `key` through `buckets`:
///
/// * the key is mapped by the set ([`Error::Invalid`] when it refuses it);
/// * a missing object, bucket or container is [`Error::NotFound`];
/// * an object older than `expiration` (by its last modification) is [`Error::Expired`];
/// * an object larger than `max_size` (`0`: no limit) is [`Error::MaxSizeExceeded`], found
///   from the response headers before the body is read;
/// * any other failure is an [`Error::Internal`] naming the bucket and the cause.
///
/// The blob keeps the object's content type (sniffed when the store has none) and a stat
/// with size, entity tag and last modification.
pub(crate) async fn load_object(
    service: Service,
    buckets: &BucketSet,
    key: &str,
    max_size: u64,
    expiration: Option<Duration>,
) -> Result<Blob, Error> {
    let (bucket, location) = buckets.locate(key, key)?;
    let failed = |err| store_error(service, &bucket, err);
    let result = location
        .reader
        .get_opts(&location.path, GetOptions::default())
        .await
        .map_err(failed)?;
    let rules = ReadRules {
        max_size,
        expiration,
        etag: true,
    };
    let blob = read_object(result, rules, failed).await?;
    Ok(with_content_type_of(blob))
}

/// A failed store call as the crate's error: not found stays not found, an invalid path is
/// invalid, the rest is a 500 naming the bucket.
pub(crate) fn store_error(service: Service, bucket: &str, err: object_store::Error) -> Error {
    let what = service.what;
    match err {
        object_store::Error::NotFound { .. } => Error::NotFound,
        object_store::Error::InvalidPath { .. } => Error::Invalid,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => with_context(
            &format!("{what} {bucket}: access denied ({})", service.denied_hint),
            err,
        ),
        other => with_context(&format!("{what} {bucket}"), other),
    }
}

fn with_context(context: &str, err: object_store::Error) -> Error {
    let detail = err.to_string();
    let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    Error::Internal {
        message: format!("{context}: {detail}"),
        source: Some(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Service = Service {
        what: "test bucket",
        denied_hint: "check the key",
    };

    #[test]
    fn errors_keep_their_meaning_and_name_the_bucket() {
        let not_found = object_store::Error::NotFound {
            path: "a".into(),
            source: "gone".into(),
        };
        assert!(matches!(store_error(TEST, "b", not_found), Error::NotFound));
        let denied = object_store::Error::PermissionDenied {
            path: "a".into(),
            source: "no".into(),
        };
        let err = store_error(TEST, "b", denied);
        assert_eq!(err.status(), 500);
        assert!(
            err.message()
                .starts_with("test bucket b: access denied (check the key)"),
            "{}",
            err.message()
        );
    }
}
