//! [`Overlays`]: the encoded sources the `watermark(...)` and `image(...)` filters of one
//! request draw, by image key. Processing never loads anything itself; the service loads these
//! (see [`overlay_sources`](super::overlay_sources) for the keys a URL needs) and hands them in
//! through [`Options::overlays`](super::Options::overlays).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

/// The encoded overlay sources of one request, by image key.
///
/// Cheap to clone (shared).
///
/// ```
/// use imagor_tower::processing::Overlays;
///
/// let overlays = Overlays::new().with_source("logo.png", vec![1, 2, 3]);
/// assert_eq!(overlays.get("logo.png"), Some(&[1u8, 2, 3][..]));
/// assert!(overlays.get("other.png").is_none());
/// assert_eq!(overlays.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct Overlays {
    sources: Arc<HashMap<String, Bytes>>,
}

impl std::fmt::Debug for Overlays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys and sizes only: the bytes would flood logs.
        let mut map = f.debug_map();
        for (key, bytes) in self.sources.iter() {
            map.entry(key, &bytes.len());
        }
        map.finish()
    }
}

impl Overlays {
    /// No sources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the encoded source of `key`.
    pub fn insert(&mut self, key: impl Into<String>, bytes: impl Into<Bytes>) {
        Arc::make_mut(&mut self.sources).insert(key.into(), bytes.into());
    }

    /// [`insert`](Self::insert), builder style.
    #[must_use]
    pub fn with_source(mut self, key: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        self.insert(key, bytes);
        self
    }

    /// The encoded source of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.sources.get(key).map(|b| b.as_ref())
    }

    /// How many sources there are.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no sources.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Every encoded source.
    pub(crate) fn sources(&self) -> impl Iterator<Item = &[u8]> {
        self.sources.values().map(|b| b.as_ref())
    }
}
