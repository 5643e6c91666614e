//! The threads that run pixel work.
//!
//! Decoding, resizing and encoding run on a small set of named threads (`imagor-pixel`)
//! owned by the render service, at most one per CPU, rather than on tokio's blocking pool.
//! The blocking pool also serves file reads and any other blocking call in the host, so it
//! can hold dozens of threads, and pixel work would land on any of them. glibc's allocator
//! gives each thread that allocates its own arena and keeps freed
//! memory there, so large image buffers spread over many threads leave memory parked in many
//! arenas: on the bench mix at 32 connections on 2 cores, peak RSS was 1207 MB on the
//! blocking pool and is 356 MB here, at the same throughput (`docs/performance.md`).
//!
//! Each thread has an explicit stack of [`PIXEL_STACK`] (8 MiB), enough for the deepest
//! SVG that is accepted.
//!
//! Threads start on demand, when a job arrives and none is idle, up to the limit, and stop
//! when the last clone of the service is dropped. A job that panics answers an internal error
//! and leaves its thread running.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use crate::Error;

type Job = Box<dyn FnOnce() + Send>;

/// The stack of each pixel thread: 8 MiB, as a main thread gets on Linux, rather than the
/// 2 MiB of spawned threads. The deepest SVG accepted
/// ([`MAX_SVG_DEPTH`](crate::processing::MAX_SVG_DEPTH) levels) was measured to need under
/// 1 MiB; the rest is margin for the decoders. Only the pages a thread touches use memory.
pub(crate) const PIXEL_STACK: usize = 8 << 20;

/// A pool of at most `limit` pixel threads (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct Workers {
    jobs: mpsc::Sender<Job>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    idle: Arc<AtomicUsize>,
    started: AtomicUsize,
    limit: usize,
}

impl Workers {
    /// A pool that starts at most `limit` threads (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        let (jobs, queue) = mpsc::channel();
        Self {
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            idle: Arc::new(AtomicUsize::new(0)),
            started: AtomicUsize::new(0),
            limit: limit.max(1),
        }
    }

    /// Runs `work` on a pixel thread and answers its result. Dropping the future does not stop
    /// the work; it only drops the answer.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let idle = Arc::clone(&self.idle);
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(work));
            // Idle again before the caller hears back, so that its next job finds this thread.
            idle.fetch_add(1, Ordering::AcqRel);
            let _ = reply.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::internal("pixel workers stopped"))?;
        self.start_if_needed();
        match answer.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(Error::internal("image processing panicked")),
            Err(_) => Err(Error::internal("pixel worker stopped")),
        }
    }

    /// The most threads this pool starts.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Threads started so far.
    #[cfg(test)]
    pub(crate) fn started(&self) -> usize {
        self.started.load(Ordering::Acquire)
    }

    /// Starts a thread when none is idle and the limit allows one. Two jobs arriving at once
    /// may both see the same idle thread; the second then waits for a thread to finish, and the
    /// next job starts the thread it lacked.
    fn start_if_needed(&self) {
        if self.idle.load(Ordering::Acquire) > 0 {
            return;
        }
        let claimed = self
            .started
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            });
        let Ok(index) = claimed else {
            return;
        };
        let queue = Arc::clone(&self.queue);
        let idle = Arc::clone(&self.idle);
        let spawned = std::thread::Builder::new()
            .name(format!("imagor-pixel-{index}"))
            .stack_size(PIXEL_STACK)
            .spawn(move || work_loop(&queue, &idle));
        if spawned.is_err() {
            // Out of threads: the jobs wait for the threads already running.
            self.started.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Takes jobs until every sender is gone. The thread counts as idle from its start and again
/// at the end of each job (the job marks it, see [`Workers::run`]).
fn work_loop(queue: &Mutex<mpsc::Receiver<Job>>, idle: &AtomicUsize) {
    idle.fetch_add(1, Ordering::AcqRel);
    loop {
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        idle.fetch_sub(1, Ordering::AcqRel);
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_reuses_threads() {
        let workers = Workers::new(2);
        for n in 0..10_u32 {
            assert_eq!(workers.run(move || n * 2).await.unwrap(), n * 2);
        }
        // One job at a time needs one thread.
        assert_eq!(workers.started(), 1);
        let name = workers
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("imagor-pixel-0"));
    }

    #[tokio::test]
    async fn never_more_threads_than_the_limit() {
        let workers = Arc::new(Workers::new(3));
        let jobs = (0..12).map(|_| {
            let workers = Arc::clone(&workers);
            tokio::spawn(async move {
                workers
                    .run(|| std::thread::sleep(std::time::Duration::from_millis(20)))
                    .await
            })
        });
        for job in futures::future::join_all(jobs).await {
            job.unwrap().unwrap();
        }
        assert!(
            (1..=3).contains(&workers.started()),
            "{}",
            workers.started()
        );
    }

    /// Uses about `kib` KiB of stack.
    fn deep(kib: usize) -> u8 {
        let frame = std::hint::black_box([1u8; 1024]);
        if kib == 0 {
            frame[0]
        } else {
            frame[kib % 1024].wrapping_add(deep(kib - 1))
        }
    }

    #[tokio::test]
    async fn pixel_threads_have_a_large_stack() {
        // 5 MiB of frames: more than the 2 MiB a spawned thread gets by default, which
        // would abort the test process with a stack overflow.
        let workers = Workers::new(1);
        let expected = u8::try_from((5 * 1024 + 1) % 256).unwrap();
        assert_eq!(workers.run(|| deep(5 * 1024)).await.unwrap(), expected);
    }

    #[tokio::test]
    async fn a_panic_is_an_internal_error_and_the_thread_survives() {
        let workers = Workers::new(1);
        let err = workers
            .run(|| -> u8 { panic!("bad pixels") })
            .await
            .unwrap_err();
        assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(workers.run(|| 7).await.unwrap(), 7);
        assert_eq!(workers.started(), 1);
    }
}
