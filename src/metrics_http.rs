//! The Prometheus endpoint: `GET /metrics` on `metrics_listen`, in the text
//! exposition format, from the same figures `Operator.ShardStatus` summarises.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Context;
use idauth_core::command::{ShardMetricsSnapshot, ShardReport};
use idauth_gateway::service::PublicApi;
use idauth_shard::Shard;
use tokio::net::TcpListener;

/// Where the figures come from.
#[derive(Clone)]
pub enum Source {
    /// A gateway (with in-process or remote shards).
    Gateway(PublicApi),
    /// One shard process.
    Shard(Arc<Shard>),
}

impl Source {
    async fn render(&self) -> String {
        let mut text = String::new();
        match self {
            Self::Gateway(api) => {
                write_component(&mut text, "gateway", &api.metrics().snapshot());
                let reports = api.gateway().status().await;
                for (id, report) in &reports {
                    gauge(
                        &mut text,
                        "idauth_shard_up",
                        id,
                        u64::from(report.is_some()),
                    );
                }
                for report in reports.iter().filter_map(|(_, r)| r.as_ref()) {
                    write_shard(&mut text, report);
                }
            }
            Self::Shard(shard) => write_shard(&mut text, &shard.report()),
        }
        text
    }
}

fn gauge(text: &mut String, name: &str, component: &str, value: u64) {
    let _ = writeln!(text, "{name}{{component=\"{component}\"}} {value}");
}

fn write_shard(text: &mut String, report: &ShardReport) {
    let id = &report.shard_id;
    gauge(text, "idauth_residents", id, report.residents);
    gauge(text, "idauth_store_bytes", id, report.store_bytes);
    gauge(
        text,
        "idauth_template_cache_entries",
        id,
        report.cache_entries,
    );
    gauge(
        text,
        "idauth_process_resident_memory_bytes",
        id,
        report.rss_bytes,
    );
    write_component(text, id, &report.metrics);
}

fn write_component(text: &mut String, component: &str, metrics: &ShardMetricsSnapshot) {
    let latency = &metrics.verify_latency;
    let mut cumulative = 0;
    for (i, count) in latency.counts.iter().enumerate() {
        cumulative += count;
        let le = latency
            .bounds_us
            .get(i)
            .map_or("+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
        let _ = writeln!(
            text,
            "idauth_verify_duration_seconds_bucket{{component=\"{component}\",le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        text,
        "idauth_verify_duration_seconds_sum{{component=\"{component}\"}} {}\nidauth_verify_duration_seconds_count{{component=\"{component}\"}} {cumulative}",
        latency.sum_us as f64 / 1e6
    );
    for stage in &metrics.stages {
        let _ = writeln!(
            text,
            "idauth_stage_seconds_total{{component=\"{component}\",stage=\"{}\"}} {}\nidauth_stage_runs_total{{component=\"{component}\",stage=\"{}\"}} {}",
            stage.stage,
            stage.total_ns as f64 / 1e9,
            stage.stage,
            stage.count
        );
    }
    for outcome in &metrics.outcomes {
        let _ = writeln!(
            text,
            "idauth_requests_total{{component=\"{component}\",operation=\"{}\",code=\"{}\"}} {}",
            outcome.operation, outcome.code, outcome.count
        );
    }
    gauge(text, "idauth_queue_depth", component, metrics.queue_depth);
    gauge(
        text,
        "idauth_template_cache_hits_total",
        component,
        metrics.cache_hits,
    );
    gauge(
        text,
        "idauth_template_cache_misses_total",
        component,
        metrics.cache_misses,
    );
}

/// The HELP and TYPE lines, once per metric name, ahead of the samples.
const PREAMBLE: &str = "\
# HELP idauth_verify_duration_seconds Verify latency (gateway: arrival to answer; shard: decision and durable audit).
# TYPE idauth_verify_duration_seconds histogram
# HELP idauth_stage_seconds_total Time spent in each verify stage.
# TYPE idauth_stage_seconds_total counter
# HELP idauth_stage_runs_total Times each verify stage ran.
# TYPE idauth_stage_runs_total counter
# HELP idauth_requests_total Requests by operation and outcome code (0 = success).
# TYPE idauth_requests_total counter
# HELP idauth_queue_depth Requests waiting for a CPU worker.
# TYPE idauth_queue_depth gauge
# HELP idauth_template_cache_hits_total Enrolled-template lookups served from the cache.
# TYPE idauth_template_cache_hits_total counter
# HELP idauth_template_cache_misses_total Enrolled-template lookups that built the template.
# TYPE idauth_template_cache_misses_total counter
# HELP idauth_residents Records in the shard's store.
# TYPE idauth_residents gauge
# HELP idauth_store_bytes Bytes the shard's store occupies on disk (an even share of the engine when shards share one).
# TYPE idauth_store_bytes gauge
# HELP idauth_template_cache_entries Built templates in the shard's cache.
# TYPE idauth_template_cache_entries gauge
# HELP idauth_process_resident_memory_bytes Resident memory of the process serving the shard.
# TYPE idauth_process_resident_memory_bytes gauge
# HELP idauth_shard_up Whether the shard answered the gateway's status call.
# TYPE idauth_shard_up gauge
";

/// Serves `/metrics` on `address` until the process ends.
pub async fn serve(address: &str, source: Source) -> anyhow::Result<()> {
    use axum::routing::get;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("metrics: listening on {address}"))?;
    eprintln!(
        "idauth: metrics on http://{}/metrics",
        listener.local_addr()?
    );
    let router = axum::Router::new().route(
        "/metrics",
        get(move || {
            let source = source.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    format!("{PREAMBLE}{}", source.render().await),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "metrics endpoint stopped");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use idauth_core::command::{LatencyBuckets, OutcomeCount, StageTime};

    #[test]
    fn components_render_as_cumulative_histograms_and_counters() {
        let metrics = ShardMetricsSnapshot {
            verify_latency: LatencyBuckets {
                bounds_us: vec![1_000, 10_000],
                counts: vec![2, 3, 1],
                sum_us: 40_000,
            },
            stages: vec![StageTime {
                stage: "match".into(),
                total_ns: 2_000_000_000,
                count: 4,
            }],
            outcomes: vec![OutcomeCount {
                operation: "verify".into(),
                code: 100,
                count: 7,
            }],
            queue_depth: 3,
            cache_hits: 9,
            cache_misses: 1,
        };
        let mut text = String::new();
        write_component(&mut text, "shard-1", &metrics);
        for line in [
            "idauth_verify_duration_seconds_bucket{component=\"shard-1\",le=\"0.001\"} 2",
            "idauth_verify_duration_seconds_bucket{component=\"shard-1\",le=\"0.01\"} 5",
            "idauth_verify_duration_seconds_bucket{component=\"shard-1\",le=\"+Inf\"} 6",
            "idauth_verify_duration_seconds_sum{component=\"shard-1\"} 0.04",
            "idauth_verify_duration_seconds_count{component=\"shard-1\"} 6",
            "idauth_stage_seconds_total{component=\"shard-1\",stage=\"match\"} 2",
            "idauth_requests_total{component=\"shard-1\",operation=\"verify\",code=\"100\"} 7",
            "idauth_queue_depth{component=\"shard-1\"} 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
