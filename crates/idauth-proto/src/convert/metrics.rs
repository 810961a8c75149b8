//! Conversions of shard reports and their operating figures.

use idauth_core::command::ShardReport;

use super::*;

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
        metrics: Some(metrics.into()),
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
        metrics: wire_metrics.unwrap_or_default().into(),
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
                metrics: Some(metrics.into()),
            }
        }
        None => v1::ShardState {
            shard_id: shard_id.to_owned(),
            reachable: false,
            ..Default::default()
        },
    }
}
