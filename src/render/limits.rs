//! The limits an [`AdmissionLayer`](super::AdmissionLayer) enforces: places for active and
//! waiting requests, and the byte budget pixel work reserves from.

use crate::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Active requests per CPU when the concurrency is not set: enough to overlap loading with
/// pixel work, few enough that loaded sources stay bounded.
pub(crate) const AUTO_ACTIVE_PER_CPU: usize = 4;

/// Requests that may wait for a place when the concurrency is not set and no queue size is
/// given. A waiting request holds no source, only its small request state.
pub(crate) const AUTO_QUEUE: usize = 1000;

/// The smallest byte budget [`default_memory_budget`] answers.
const MIN_MEMORY_BUDGET: u64 = 256 << 20;

/// The budget is counted in KiB so that it fits a semaphore's `u32` permits.
const UNIT: u64 = 1024;

/// The settings of one admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AdmissionLimits {
    /// imagor's process concurrency; ≤ 0 picks [`AUTO_ACTIVE_PER_CPU`] per CPU.
    pub(crate) concurrency: i64,
    /// Requests allowed to wait beyond the active ones.
    pub(crate) queue: usize,
    /// The byte budget; 0 picks [`default_memory_budget`].
    pub(crate) memory: u64,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        Self {
            concurrency: -1,
            queue: 0,
            memory: 0,
        }
    }
}

/// What every service of one [`AdmissionLayer`] shares.
#[derive(Debug)]
pub(crate) struct Limits {
    admitted: Arc<AtomicUsize>,
    /// Active plus waiting requests allowed.
    capacity: usize,
    active: Arc<Semaphore>,
    budget: Budget,
}

/// A request's place, held from admission to the end of its pixel work, and the budget its
/// bytes come from. [`Render`](super::Render) moves it into the pixel job, so the limits stay
/// true even when the caller stops waiting.
#[derive(Debug)]
pub(crate) struct Admitted {
    _ticket: Ticket,
    budget: Budget,
}

impl Admitted {
    /// The budget the admitted request reserves its bytes from.
    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }
}

#[derive(Debug)]
struct Ticket {
    admitted: Arc<AtomicUsize>,
    active: Option<OwnedSemaphorePermit>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // The active place goes back with the field; the count goes here.
        self.active.take();
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limits {
    pub(crate) fn new(limits: AdmissionLimits) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let (active, queue) = match usize::try_from(limits.concurrency) {
            Ok(c) if c > 0 => (c, limits.queue),
            _ => (
                cpus.saturating_mul(AUTO_ACTIVE_PER_CPU),
                if limits.queue > 0 {
                    limits.queue
                } else {
                    AUTO_QUEUE
                },
            ),
        };
        Self {
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: active.saturating_add(queue),
            active: Arc::new(Semaphore::new(active)),
            budget: Budget::new(limits.memory),
        }
    }

    /// Admits the request or answers 429 at once, then waits for an active place. Dropping
    /// the returned future while it waits gives the place back.
    pub(crate) async fn admit(&self) -> Result<Admitted, Error> {
        let admitted = Arc::clone(&self.admitted);
        let mut current = admitted.load(Ordering::Acquire);
        loop {
            if current >= self.capacity {
                return Err(Error::TooManyRequests);
            }
            match admitted.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // Counted from here: dropping the ticket (a cancelled wait) undoes the count.
        let mut ticket = Ticket {
            admitted,
            active: None,
        };
        let active = Arc::clone(&self.active)
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("admission closed"))?;
        ticket.active = Some(active);
        Ok(Admitted {
            _ticket: ticket,
            budget: self.budget.clone(),
        })
    }

    #[cfg(test)]
    fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }
}

/// A byte budget shared by the requests that reserve from it.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    memory: Arc<Semaphore>,
    /// The whole budget, in units.
    units: u32,
}

/// Bytes reserved from a [`Budget`]; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Budget {
    /// A budget of `bytes`; 0 picks [`default_memory_budget`].
    pub(crate) fn new(bytes: u64) -> Self {
        let bytes = if bytes == 0 {
            default_memory_budget()
        } else {
            bytes
        };
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Self {
            memory: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Waits until `bytes` of the budget are free and reserves them. A request larger than the
    /// whole budget reserves all of it, so it runs alone.
    pub(crate) async fn reserve(&self, bytes: u64) -> Result<Reservation, Error> {
        let units = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(self.units);
        if units == 0 {
            return Ok(Reservation { _permit: None });
        }
        let permit = Arc::clone(&self.memory)
            .acquire_many_owned(units)
            .await
            .map_err(|_| Error::internal("admission closed"))?;
        Ok(Reservation {
            _permit: Some(permit),
        })
    }
}

/// The default byte budget: a quarter of the memory this process may use (the smaller of the
/// machine's memory and its cgroup's limit), and at least 256 MiB. Where the memory cannot be
/// read, 2 GiB.
pub(crate) fn default_memory_budget() -> u64 {
    let machine = meminfo_total();
    let cgroup = cgroup_limit();
    let total = match (machine, cgroup) {
        (Some(m), Some(c)) => m.min(c),
        (Some(m), None) => m,
        (None, Some(c)) => c,
        (None, None) => return 2 << 30,
    };
    (total / 4).max(MIN_MEMORY_BUDGET)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn meminfo_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`) limit, when one is set.
fn cgroup_limit() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    .find_map(|text| text.trim().parse::<u64>().ok())
    // v1 reports "no limit" as a number near 2^63.
    .filter(|&limit| limit < (1 << 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrency: i64, queue: usize, memory: u64) -> Limits {
        Limits::new(AdmissionLimits {
            concurrency,
            queue,
            memory,
        })
    }

    #[tokio::test]
    async fn full_queue_answers_429_and_slots_come_back() {
        let admission = limits(1, 1, 0);
        let running = admission.admit().await.unwrap();
        let waiting = {
            let fut = admission.admit();
            tokio::pin!(fut);
            // The second request is admitted (queued) but waits for an active place.
            assert!(futures::poll!(&mut fut).is_pending());
            assert_eq!(admission.admitted(), 1 + 1);
            // A third is refused at once.
            assert!(matches!(
                admission.admit().await,
                Err(Error::TooManyRequests)
            ));
            drop(running);
            fut.await.unwrap()
        };
        assert_eq!(admission.admitted(), 1);
        drop(waiting);
        assert_eq!(admission.admitted(), 0);
    }

    #[tokio::test]
    async fn zero_queue_means_no_waiting() {
        let admission = limits(1, 0, 0);
        let _running = admission.admit().await.unwrap();
        assert!(matches!(
            admission.admit().await,
            Err(Error::TooManyRequests)
        ));
    }

    #[tokio::test]
    async fn cancelled_waiter_gives_its_place_back() {
        let admission = limits(1, 5, 0);
        let _running = admission.admit().await.unwrap();
        {
            let fut = admission.admit();
            tokio::pin!(fut);
            assert!(futures::poll!(&mut fut).is_pending());
        }
        assert_eq!(admission.admitted(), 1);
    }

    #[tokio::test]
    async fn the_default_queue_is_bounded() {
        let admission = Limits::new(AdmissionLimits::default());
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let active = cpus * AUTO_ACTIVE_PER_CPU;
        let mut tickets = Vec::new();
        for _ in 0..active {
            tickets.push(admission.admit().await.unwrap());
        }
        // The rest wait; AUTO_QUEUE of them fit, the next is refused.
        let mut waiting = Vec::new();
        for _ in 0..AUTO_QUEUE {
            let mut fut = Box::pin(admission.admit());
            assert!(futures::poll!(&mut fut).is_pending());
            waiting.push(fut);
        }
        assert!(matches!(
            admission.admit().await,
            Err(Error::TooManyRequests)
        ));
        drop(waiting);
        assert_eq!(admission.admitted(), active);
    }

    #[tokio::test]
    async fn reservations_wait_for_bytes_and_give_them_back() {
        let budget = Budget::new(10 * UNIT);
        let first = budget.reserve(6 * UNIT).await.unwrap();
        {
            let fut = budget.reserve(6 * UNIT);
            tokio::pin!(fut);
            // 6 + 6 > 10: the second waits.
            assert!(futures::poll!(&mut fut).is_pending());
            drop(first);
            let _second = fut.await.unwrap();
        }
        // Larger than the whole budget: reserves all of it, and runs once nothing else holds any.
        let huge = budget.reserve(1 << 40).await.unwrap();
        {
            let fut = budget.reserve(UNIT);
            tokio::pin!(fut);
            assert!(futures::poll!(&mut fut).is_pending());
        }
        drop(huge);
        let _small = budget.reserve(UNIT).await.unwrap();
    }

    #[test]
    fn the_default_budget_is_a_quarter_of_memory_at_least_256_mib() {
        let budget = default_memory_budget();
        assert!(budget >= MIN_MEMORY_BUDGET);
        if let Some(total) = meminfo_total() {
            assert!(budget <= (total / 4).max(MIN_MEMORY_BUDGET));
        }
    }
}
