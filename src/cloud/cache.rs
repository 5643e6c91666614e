//! [`BoundedCache`]: a few values by name, the least recently used dropped past a bound.
//!
//! Used for the clients of wildcard buckets (S3, GCS and Azure backends) and of the S3 bucket
//! router's passthrough buckets, whose names come from request keys and so must not grow
//! without limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Values by name, at most `capacity` of them; inserting past it drops the least recently
/// used. Shared through `&self` (a mutex inside); cloning a value out is expected to be
/// cheap.
pub(crate) struct BoundedCache<V> {
    entries: Mutex<Entries<V>>,
}

struct Entries<V> {
    values: HashMap<String, V>,
    /// Names, least recently used first.
    order: VecDeque<String>,
    capacity: usize,
}

impl<V: Clone> BoundedCache<V> {
    /// An empty cache holding at most `capacity` values (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                values: HashMap::new(),
                order: VecDeque::new(),
                capacity: capacity.max(1),
            }),
        }
    }

    /// The value of `name`, made with `make` and kept when it is not cached yet. The lock is
    /// held while `make` runs, so one name is never made twice at once.
    ///
    /// # Errors
    ///
    /// `make`'s error; nothing is cached then.
    pub(crate) fn get_or_try_insert<E>(
        &self,
        name: &str,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let mut entries = self.lock();
        if let Some(value) = entries.values.get(name).cloned() {
            entries.touch(name);
            return Ok(value);
        }
        let value = make()?;
        while entries.values.len() >= entries.capacity {
            match entries.order.pop_front() {
                Some(oldest) => {
                    entries.values.remove(&oldest);
                }
                None => break,
            }
        }
        entries.order.push_back(name.to_owned());
        entries.values.insert(name.to_owned(), value.clone());
        Ok(value)
    }

    /// How many values are cached.
    pub(crate) fn len(&self) -> usize {
        self.lock().values.len()
    }

    /// The cached names, sorted.
    #[cfg(any(test, feature = "s3"))]
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().values.keys().cloned().collect();
        names.sort();
        names
    }

    fn lock(&self) -> MutexGuard<'_, Entries<V>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<V> Entries<V> {
    /// Marks `name` as the most recently used.
    fn touch(&mut self, name: &str) {
        if let Some(at) = self.order.iter().position(|entry| entry == name)
            && let Some(entry) = self.order.remove(at)
        {
            self.order.push_back(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(cache: &BoundedCache<usize>, names: &[&str]) {
        for (i, name) in names.iter().enumerate() {
            cache.get_or_try_insert(name, || Ok::<_, ()>(i)).unwrap();
        }
    }

    #[test]
    fn keeps_the_first_value_of_a_name() {
        let cache = BoundedCache::new(4);
        assert_eq!(cache.get_or_try_insert("a", || Ok::<_, ()>(1)), Ok(1));
        assert_eq!(cache.get_or_try_insert("a", || Ok::<_, ()>(2)), Ok(1));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn drops_the_least_recently_used_past_the_bound() {
        let cache = BoundedCache::new(2);
        fill(&cache, &["a", "b", "a", "c"]);
        assert_eq!(cache.names(), ["a", "c"]);
        fill(&cache, &["d", "e"]);
        assert_eq!(cache.names(), ["d", "e"]);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_failed_make_caches_nothing() {
        let cache: BoundedCache<usize> = BoundedCache::new(2);
        assert_eq!(cache.get_or_try_insert("a", || Err("no")), Err("no"));
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.get_or_try_insert("a", || Ok::<_, &str>(7)), Ok(7));
    }

    #[test]
    fn capacity_is_at_least_one() {
        let cache = BoundedCache::new(0);
        fill(&cache, &["a", "b"]);
        assert_eq!(cache.names(), ["b"]);
    }
}
