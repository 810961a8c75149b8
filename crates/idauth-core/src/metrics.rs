//! Operating figures of a shard or of the gateway (both keep the same kind):
//! verify latency, time per stage, requests by operation and outcome, queue depth and
//! template-cache hits. Lock-free counters on the hot
//! path (one short lock for the outcome table); read as a [`MetricsSnapshot`] by
//! `Operator.ShardStatus` and the Prometheus endpoint.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::command::{LatencyBuckets, OutcomeCount, StageTime};

/// Upper bounds of the latency buckets, microseconds (the last bucket is unbounded).
pub const BUCKET_BOUNDS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

/// The parts of a verify that are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Opening the probe's envelope (at the gateway).
    Decrypt,
    /// Waiting for a CPU worker.
    Queue,
    /// Decoding the probe records and building their templates.
    Parse,
    /// Reading the record and getting the enrolled templates (cache or build).
    Fetch,
    /// Comparing probe and enrolled templates.
    Match,
    /// Appending the audit entry and waiting until it is durable.
    Audit,
}

impl Stage {
    /// Every stage, in the order a verify goes through them.
    pub const ALL: [Stage; 6] = [
        Self::Decrypt,
        Self::Queue,
        Self::Parse,
        Self::Fetch,
        Self::Match,
        Self::Audit,
    ];

    /// The label in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Decrypt => "decrypt",
            Self::Queue => "queue",
            Self::Parse => "parse",
            Self::Fetch => "fetch",
            Self::Match => "match",
            Self::Audit => "audit",
        }
    }
}

#[derive(Debug, Default)]
struct Timer {
    total_ns: AtomicU64,
    count: AtomicU64,
}

/// One component's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    buckets: [AtomicU64; BUCKET_BOUNDS_US.len() + 1],
    verify_sum_us: AtomicU64,
    stages: [Timer; Stage::ALL.len()],
    outcomes: Mutex<BTreeMap<(&'static str, u16), u64>>,
    waiting: AtomicI64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

impl Metrics {
    /// Records how long a whole verify took at the shard.
    pub fn verify_took(&self, elapsed: Duration) {
        let micros = elapsed.as_micros() as u64;
        let bucket = BUCKET_BOUNDS_US
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.verify_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records the time one stage took.
    pub fn stage_took(&self, stage: Stage, elapsed: Duration) {
        let timer = &self.stages[stage as usize];
        timer
            .total_ns
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        timer.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request by operation and outcome code (0 = success).
    pub fn outcome(&self, operation: &'static str, code: u16) {
        *self
            .outcomes
            .lock()
            .expect("metrics lock poisoned")
            .entry((operation, code))
            .or_default() += 1;
    }

    /// A request starts or stops waiting for a CPU worker.
    pub fn waiting(&self, delta: i64) {
        self.waiting.fetch_add(delta, Ordering::Relaxed);
    }

    /// An enrolled-template lookup hit (or missed) the cache.
    pub fn template_lookup(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            verify_latency: LatencyBuckets {
                bounds_us: BUCKET_BOUNDS_US.to_vec(),
                counts: self.buckets.iter().map(load).collect(),
                sum_us: load(&self.verify_sum_us),
            },
            stages: Stage::ALL
                .iter()
                .filter(|&&stage| load(&self.stages[stage as usize].count) > 0)
                .map(|&stage| {
                    let timer = &self.stages[stage as usize];
                    StageTime {
                        stage: stage.name().to_owned(),
                        total_ns: load(&timer.total_ns),
                        count: load(&timer.count),
                    }
                })
                .collect(),
            outcomes: self
                .outcomes
                .lock()
                .expect("metrics lock poisoned")
                .iter()
                .map(|(&(operation, code), &count)| OutcomeCount {
                    operation: operation.to_owned(),
                    code,
                    count,
                })
                .collect(),
            queue_depth: self.waiting.load(Ordering::Relaxed).max(0) as u64,
            cache_hits: load(&self.cache_hits),
            cache_misses: load(&self.cache_misses),
        }
    }
}

/// A copy of a shard's counters.
pub type MetricsSnapshot = crate::command::ShardMetricsSnapshot;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_their_buckets_and_stages_add_up() {
        let metrics = Metrics::default();
        metrics.verify_took(Duration::from_micros(90));
        metrics.verify_took(Duration::from_micros(3_000));
        metrics.verify_took(Duration::from_secs(60));
        metrics.stage_took(Stage::Match, Duration::from_micros(20));
        metrics.stage_took(Stage::Match, Duration::from_micros(40));
        metrics.outcome("verify", 0);
        metrics.outcome("verify", 0);
        metrics.outcome("verify", 100);
        metrics.template_lookup(true);
        metrics.template_lookup(false);
        metrics.waiting(1);
        let snapshot = metrics.snapshot();
        let counts = &snapshot.verify_latency.counts;
        assert_eq!(counts[0], 1);
        assert_eq!(counts[5], 1, "3 ms falls under the 5 ms bound");
        assert_eq!(
            counts[BUCKET_BOUNDS_US.len()],
            1,
            "60 s is past every bound"
        );
        assert_eq!(
            snapshot.stages.len(),
            1,
            "stages that never ran are left out"
        );
        let matching = &snapshot.stages[0];
        assert_eq!((matching.stage.as_str(), matching.count), ("match", 2));
        assert_eq!(matching.total_ns, 60_000);
        assert_eq!(snapshot.outcomes.len(), 2);
        assert_eq!(snapshot.outcomes[0].count, 2);
        assert_eq!((snapshot.cache_hits, snapshot.cache_misses), (1, 1));
        assert_eq!(snapshot.queue_depth, 1);
        assert_eq!(snapshot.verify_latency.quantile_us(0.5), 5_000);
    }
}
