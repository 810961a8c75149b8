//! The CPU permits every shard of a process shares, and the count of tasks waiting
//! for one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use idauth_core::metrics::Metrics;
use tokio::sync::Semaphore;

/// Permits for CPU-heavy work, shared by every shard of a process.
///
/// One set per process rather than per shard: four in-process shards with a permit per
/// core each would run up to four times as many CPU tasks as there are cores, and the
/// kernel's time-slicing between them shows up as tail latency (a verify preempted
/// halfway waits out other tasks' slices). With one set, surplus work queues in
/// arrival order (tokio's semaphore is fair) and each task runs to the end.
///
/// They also bound the queue by time: a task whose deadline would pass before a
/// worker could finish it (tasks waiting x mean task time / workers, plus its own) is
/// refused at once with OVERLOADED rather than left to time out in the queue, so that
/// past capacity the workers spend their time on answers that still arrive in time.
#[derive(Debug, Clone)]
pub struct CpuPermits(pub(super) Arc<Permits>);

#[derive(Debug)]
pub(super) struct Permits {
    pub(super) semaphore: Arc<Semaphore>,
    workers: u64,
    waiting: AtomicU64,
    /// Moving average of a task's time on a worker, microseconds (0 until measured).
    task_us: AtomicU64,
}

impl CpuPermits {
    /// `workers` tasks at a time (at least one).
    pub fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        Self(Arc::new(Permits {
            semaphore: Arc::new(Semaphore::new(workers)),
            workers: workers as u64,
            waiting: AtomicU64::new(0),
            task_us: AtomicU64::new(0),
        }))
    }

    /// One permit per core of this machine.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// When a task queued now would be done, by the current queue and task time.
    pub(crate) fn expected_finish(&self, now: Instant) -> Instant {
        let task = self.0.task_us.load(Ordering::Relaxed);
        let waiting = self.0.waiting.load(Ordering::Relaxed);
        now + Duration::from_micros(waiting * task / self.0.workers + task)
    }

    /// Whether a task queued `now` cannot be done by `deadline`. A queue shorter than
    /// the workers is always tried: the estimate is a moving average, and on a busy
    /// machine a few slow tasks would otherwise refuse work a free worker can do.
    pub(crate) fn cannot_finish(&self, now: Instant, deadline: Instant) -> bool {
        now >= deadline
            || (self.0.waiting.load(Ordering::Relaxed) >= self.0.workers
                && self.expected_finish(now) > deadline)
    }

    pub(crate) fn task_took(&self, took: Duration) {
        let sample = took.as_micros().min(u128::from(u32::MAX)) as u64;
        let _ = self
            .0
            .task_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mean| {
                Some(if mean == 0 {
                    sample
                } else {
                    (mean * 7 + sample) / 8
                })
            });
    }
}

/// Counts a task as waiting for as long as it is (also when its caller gives up).
pub(crate) struct Waiting<'a>(&'a CpuPermits, &'a Metrics);

impl<'a> Waiting<'a> {
    pub(crate) fn new(permits: &'a CpuPermits, metrics: &'a Metrics) -> Self {
        permits.0.waiting.fetch_add(1, Ordering::Relaxed);
        metrics.waiting(1);
        Self(permits, metrics)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.0.waiting.fetch_sub(1, Ordering::Relaxed);
        self.1.waiting(-1);
    }
}
