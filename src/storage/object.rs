//! Reading one stored object into a [`Blob`], the same way for every store: the size limit,
//! the age limit, the stat and the declared content type.

use crate::Error;
use crate::blob::{Blob, Stat};
use object_store::{Attribute, GetResult};
use std::time::{Duration, SystemTime};

/// What a read of a stored object checks and keeps.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReadRules {
    /// The largest object read, in bytes; larger ones are [`Error::MaxSizeExceeded`]
    /// (found from the metadata, before the body is read). `0` is no limit.
    pub(crate) max_size: u64,
    /// Objects last modified longer ago than this are [`Error::Expired`].
    pub(crate) expiration: Option<Duration>,
    /// Whether the stat keeps the store's entity tag.
    pub(crate) etag: bool,
}

/// The object of a `get` as a blob: its bytes, a [`Stat`] (size, modification time and,
/// when asked, the entity tag) and its declared content type when the store has a
/// non-empty one. `failed` turns a store error while the body is read into the crate's
/// error.
///
/// # Errors
///
/// [`Error::MaxSizeExceeded`] and [`Error::Expired`] by `rules`; `failed`'s error when the
/// body cannot be read.
pub(crate) async fn read_object(
    result: GetResult,
    rules: ReadRules,
    failed: impl FnOnce(object_store::Error) -> Error,
) -> Result<Blob, Error> {
    let meta = &result.meta;
    if rules.max_size > 0 && meta.size > rules.max_size {
        return Err(Error::MaxSizeExceeded);
    }
    let modified = SystemTime::from(meta.last_modified);
    if let Some(expiration) = rules.expiration
        && SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age > expiration)
    {
        return Err(Error::Expired);
    }
    let etag = meta.e_tag.clone().filter(|_| rules.etag);
    let content_type = result
        .attributes
        .get(&Attribute::ContentType)
        .map(|value| value.as_ref().to_owned())
        .filter(|value| !value.is_empty());
    let bytes = result.bytes().await.map_err(failed)?;
    let mut stat = Stat::new()
        .with_size(u64::try_from(bytes.len()).unwrap_or(u64::MAX))
        .with_modified(modified);
    if let Some(etag) = etag {
        stat = stat.with_etag(etag);
    }
    let mut blob = Blob::new(bytes).with_stat(stat);
    if let Some(content_type) = content_type {
        blob = blob.with_content_type(content_type);
    }
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{Attributes, ObjectStore, ObjectStoreExt, PutOptions};

    async fn stored(content_type: &str) -> GetResult {
        let store = InMemory::new();
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let path = Path::from("a.png");
        store
            .put_opts(&path, b"0123456789".to_vec().into(), options)
            .await
            .unwrap();
        store.get(&path).await.unwrap()
    }

    #[tokio::test]
    async fn keeps_stat_and_declared_type() {
        let rules = ReadRules {
            etag: true,
            ..ReadRules::default()
        };
        let blob = read_object(stored("image/png").await, rules, Error::from)
            .await
            .unwrap();
        assert_eq!(blob.content_type(), Some("image/png"));
        let stat = blob.stat().unwrap();
        assert_eq!(stat.size(), Some(10));
        assert!(stat.modified().is_some() && stat.etag().is_some());
        let plain = read_object(stored("").await, ReadRules::default(), Error::from)
            .await
            .unwrap();
        assert_eq!(plain.content_type(), None);
        assert!(plain.stat().unwrap().etag().is_none());
    }

    #[tokio::test]
    async fn size_and_age_limits() {
        let small = ReadRules {
            max_size: 9,
            ..ReadRules::default()
        };
        let err = read_object(stored("").await, small, Error::from).await;
        assert!(matches!(err, Err(Error::MaxSizeExceeded)));
        let exact = ReadRules {
            max_size: 10,
            ..ReadRules::default()
        };
        assert!(
            read_object(stored("").await, exact, Error::from)
                .await
                .is_ok()
        );
        let expired = ReadRules {
            expiration: Some(Duration::ZERO),
            ..ReadRules::default()
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let err = read_object(stored("").await, expired, Error::from).await;
        assert!(matches!(err, Err(Error::Expired)), "{err:?}");
    }
}
