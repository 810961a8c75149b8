//! Conversions of shard reports and their operating figures.

use idauth_core::command::{
    LatencyBuckets, OutcomeCount, ShardMetricsSnapshot, ShardReport, StageTime,
};

use super::*;

/// The wire form of stage times.
pub fn stage_time_to_wire(stage: &StageTime) -> v1::StageTime {
    let StageTime {
        stage,
        total_ns,
        count,
    } = stage;
    v1::StageTime {
        stage: stage.clone(),
        total_ns: *total_ns,
        count: *count,
    }
}

fn stage_time(stage: v1::StageTime) -> StageTime {
    let v1::StageTime {
        stage,
        total_ns,
        count,
    } = stage;
    StageTime {
        stage,
        total_ns,
        count,
    }
}

fn metrics_to_wire(metrics: &ShardMetricsSnapshot) -> v1::ShardMetrics {
    let ShardMetricsSnapshot {
        verify_latency,
        stages,
        outcomes,
        queue_depth,
        cache_hits,
        cache_misses,
    } = metrics;
    let LatencyBuckets {
        bounds_us,
        counts,
        sum_us,
    } = verify_latency;
    v1::ShardMetrics {
        verify_latency: Some(v1::LatencyBuckets {
            bounds_us: bounds_us.clone(),
            counts: counts.clone(),
            sum_us: *sum_us,
        }),
        stages: stages.iter().map(stage_time_to_wire).collect(),
        outcomes: outcomes
            .iter()
            .map(|o| {
                let OutcomeCount {
                    operation,
                    code,
                    count,
                } = o;
                v1::OutcomeCount {
                    operation: operation.clone(),
                    code: u32::from(*code),
                    count: *count,
                }
            })
            .collect(),
        queue_depth: *queue_depth,
        cache_hits: *cache_hits,
        cache_misses: *cache_misses,
    }
}

fn metrics(metrics: Option<v1::ShardMetrics>) -> ShardMetricsSnapshot {
    let v1::ShardMetrics {
        verify_latency,
        stages,
        outcomes,
        queue_depth,
        cache_hits,
        cache_misses,
    } = metrics.unwrap_or_default();
    let v1::LatencyBuckets {
        bounds_us,
        counts,
        sum_us,
    } = verify_latency.unwrap_or_default();
    ShardMetricsSnapshot {
        verify_latency: LatencyBuckets {
            bounds_us,
            counts,
            sum_us,
        },
        stages: stages.into_iter().map(stage_time).collect(),
        outcomes: outcomes
            .into_iter()
            .map(|o| {
                let v1::OutcomeCount {
                    operation,
                    code,
                    count,
                } = o;
                OutcomeCount {
                    operation,
                    code: u16::try_from(code).unwrap_or(u16::MAX),
                    count,
                }
            })
            .collect(),
        queue_depth,
        cache_hits,
        cache_misses,
    }
}

/// The shard-API form of a status report.
pub fn status_report_to_wire(report: &ShardReport) -> internal::StatusReport {
    let ShardReport {
        shard_id,
        residents,
        store_bytes,
        kernel,
        threshold,
        cache_entries,
        rss_bytes,
        metrics,
    } = report;
    internal::StatusReport {
        shard_id: shard_id.clone(),
        residents: *residents,
        store_bytes: *store_bytes,
        kernel: kernel.clone(),
        threshold: *threshold,
        cache_entries: *cache_entries,
        rss_bytes: *rss_bytes,
        metrics: Some(metrics_to_wire(metrics)),
    }
}

/// A status report from the shard API.
pub fn status_report(report: internal::StatusReport) -> ShardReport {
    let internal::StatusReport {
        shard_id,
        residents,
        store_bytes,
        kernel,
        threshold,
        cache_entries,
        rss_bytes,
        metrics: wire_metrics,
    } = report;
    ShardReport {
        shard_id,
        residents,
        store_bytes,
        kernel,
        threshold,
        cache_entries,
        rss_bytes,
        metrics: metrics(wire_metrics),
    }
}

/// The public form of a shard's state.
pub fn shard_state(report: Option<&ShardReport>, shard_id: &str) -> v1::ShardState {
    match report {
        Some(ShardReport {
            shard_id,
            residents,
            store_bytes,
            kernel,
            threshold,
            cache_entries,
            rss_bytes,
            metrics,
        }) => {
            let latency = &metrics.verify_latency;
            let lookups = metrics.cache_hits + metrics.cache_misses;
            v1::ShardState {
                shard_id: shard_id.clone(),
                reachable: true,
                residents: *residents,
                store_bytes: *store_bytes,
                kernel: kernel.clone(),
                threshold: *threshold,
                cache_entries: *cache_entries,
                rss_bytes: *rss_bytes,
                verify_p50_ms: latency.quantile_us(0.5) as f64 / 1000.0,
                verify_p99_ms: latency.quantile_us(0.99) as f64 / 1000.0,
                cache_hit_rate: if lookups == 0 {
                    0.0
                } else {
                    metrics.cache_hits as f64 / lookups as f64
                },
                metrics: Some(metrics_to_wire(metrics)),
            }
        }
        None => v1::ShardState {
            shard_id: shard_id.to_owned(),
            reachable: false,
            ..Default::default()
        },
    }
}
