//! Admission control for pixel work: imagor's process concurrency and queue size, on top of a
//! CPU-sized worker limit so pixel work never outnumbers the cores. Admitted work runs on the
//! service's own pixel threads ([`Workers`]).

use super::workers::Workers;
use crate::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shared by every clone of one service, so all clones draw on one budget.
#[derive(Debug)]
pub(crate) struct Admission {
    workers: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    /// `concurrency + queue` when imagor's limit is on; `None` when unlimited.
    capacity: Option<usize>,
    /// As many threads as there are worker permits.
    threads: Workers,
}

/// Held while a request is admitted; running pixel work also holds a worker permit.
#[derive(Debug)]
pub(crate) struct Ticket {
    admitted: Arc<AtomicUsize>,
    worker: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// `concurrency` ≤ 0 means imagor's "unlimited" (the worker count still caps CPU work);
    /// `queue` extra requests may wait beyond `concurrency`.
    pub(crate) fn new(concurrency: i64, queue: usize) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let (workers, capacity) = match usize::try_from(concurrency) {
            Ok(c) if c > 0 => (c, Some(c.saturating_add(queue))),
            _ => (cpus, None),
        };
        Self {
            workers: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity,
            threads: Workers::new(workers),
        }
    }

    /// Runs admitted work on a pixel thread. The ticket is held until the work ends, even when
    /// the caller stops waiting for it (a timeout), so the worker limit stays true.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        ticket: Ticket,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.threads
            .run(move || {
                let _ticket = ticket;
                work()
            })
            .await
    }

    /// Admits the request or answers 429 at once, then waits for a worker slot.
    /// Dropping the returned future while it waits gives the slot back.
    pub(crate) async fn admit(&self) -> Result<Ticket, Error> {
        let admitted = Arc::clone(&self.admitted);
        match self.capacity {
            Some(capacity) => {
                let mut current = admitted.load(Ordering::Acquire);
                loop {
                    if current >= capacity {
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
            }
            None => {
                admitted.fetch_add(1, Ordering::AcqRel);
            }
        }
        let mut ticket = Ticket {
            admitted,
            worker: None,
        };
        let permit = Arc::clone(&self.workers)
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("worker pool closed"))?;
        ticket.worker = Some(permit);
        Ok(ticket)
    }

    /// Requests admitted right now (running or waiting).
    #[cfg(test)]
    pub(crate) fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_answers_429_and_slots_come_back() {
        let admission = Admission::new(1, 1);
        let running = admission.admit().await.unwrap();
        let waiting = {
            let fut = admission.admit();
            tokio::pin!(fut);
            // The second request is admitted (queued) but waits for the worker.
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
        let admission = Admission::new(1, 0);
        let _running = admission.admit().await.unwrap();
        assert!(matches!(
            admission.admit().await,
            Err(Error::TooManyRequests)
        ));
    }

    #[tokio::test]
    async fn cancelled_waiter_gives_its_place_back() {
        let admission = Admission::new(1, 5);
        let _running = admission.admit().await.unwrap();
        {
            let fut = admission.admit();
            tokio::pin!(fut);
            assert!(futures::poll!(&mut fut).is_pending());
        }
        assert_eq!(admission.admitted(), 1);
    }
}
