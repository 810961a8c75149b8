//! The Prometheus endpoint: `GET /metrics` on `metrics_listen`, from the same figures
//! `Operator.ShardStatus` summarises, encoded by the `prometheus-client` crate (text
//! format 0.0.4). The figures are read once per scrape and handed to the encoder as a
//! collector, so the counters on the hot path stay our own lock-free ones.

use std::sync::Arc;

use anyhow::Context;
use idauth_core::command::{ShardMetricsSnapshot, ShardReport};
use idauth_gateway::service::PublicApi;
use idauth_shard::Shard;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
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
    /// The figures now.
    async fn scrape(&self) -> Scrape {
        match self {
            Self::Gateway(api) => {
                let reports = api.gateway().status().await;
                Scrape {
                    components: vec![("gateway".to_owned(), api.metrics().snapshot())],
                    up: reports
                        .iter()
                        .map(|(id, report)| (id.clone(), report.is_some()))
                        .collect(),
                    shards: reports.into_iter().filter_map(|(_, r)| r).collect(),
                }
            }
            Self::Shard(shard) => Scrape {
                components: Vec::new(),
                up: Vec::new(),
                shards: vec![shard.report()],
            },
        }
    }

    async fn render(&self) -> String {
        self.scrape().await.render()
    }
}

/// One scrape's figures: components that only count requests (the gateway), the
/// shards' reports, and whether each shard answered.
#[derive(Debug, Default)]
struct Scrape {
    components: Vec<(String, ShardMetricsSnapshot)>,
    shards: Vec<ShardReport>,
    up: Vec<(String, bool)>,
}

type Labels = Vec<(&'static str, String)>;

fn component(id: &str) -> Labels {
    vec![("component", id.to_owned())]
}

/// A histogram already bucketed by the service's own counters.
#[derive(Debug)]
struct Bucketed {
    sum_seconds: f64,
    count: u64,
    /// (upper bound in seconds, count in this bucket alone), the last bound infinite.
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for Bucketed {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum_seconds, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl Bucketed {
    fn of(metrics: &ShardMetricsSnapshot) -> Self {
        let latency = &metrics.verify_latency;
        let buckets = latency
            .counts
            .iter()
            .enumerate()
            .map(|(i, &count)| {
                let bound = latency
                    .bounds_us
                    .get(i)
                    .map_or(f64::INFINITY, |&us| us as f64 / 1e6);
                (bound, count)
            })
            .collect();
        Self {
            sum_seconds: latency.sum_us as f64 / 1e6,
            count: latency.counts.iter().sum(),
            buckets,
        }
    }
}

/// Writes one metric: its help and type once, then every labelled sample.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, sample) in samples {
        sample.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(value: u64) -> ConstCounter<u64> {
    ConstCounter::new(value)
}

fn gauge(value: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let all: Vec<(&str, &ShardMetricsSnapshot)> = self
            .components
            .iter()
            .map(|(id, metrics)| (id.as_str(), metrics))
            .chain(
                self.shards
                    .iter()
                    .map(|r| (r.shard_id.as_str(), &r.metrics)),
            )
            .collect();
        family(
            &mut encoder,
            "idauth_verify_duration_seconds",
            "Verify latency (gateway: arrival to answer; shard: decision and durable audit).",
            MetricType::Histogram,
            all.iter().map(|(id, m)| (component(id), Bucketed::of(m))),
        )?;
        let stages = || {
            all.iter().flat_map(|(id, m)| {
                m.stages.iter().map(|stage| {
                    let mut labels = component(id);
                    labels.push(("stage", stage.stage.clone()));
                    (labels, stage)
                })
            })
        };
        family(
            &mut encoder,
            "idauth_stage_seconds",
            "Time spent in each verify stage.",
            MetricType::Counter,
            stages().map(|(l, s)| (l, ConstCounter::new(s.total_ns as f64 / 1e9))),
        )?;
        family(
            &mut encoder,
            "idauth_stage_runs",
            "Times each verify stage ran.",
            MetricType::Counter,
            stages().map(|(l, s)| (l, counter(s.count))),
        )?;
        family(
            &mut encoder,
            "idauth_requests",
            "Requests by operation and outcome code (0 = success).",
            MetricType::Counter,
            all.iter().flat_map(|(id, m)| {
                m.outcomes.iter().map(|outcome| {
                    let mut labels = component(id);
                    labels.push(("operation", outcome.operation.clone()));
                    labels.push(("code", outcome.code.to_string()));
                    (labels, counter(outcome.count))
                })
            }),
        )?;
        family(
            &mut encoder,
            "idauth_queue_depth",
            "Requests waiting for a CPU worker.",
            MetricType::Gauge,
            all.iter()
                .map(|(id, m)| (component(id), gauge(m.queue_depth))),
        )?;
        family(
            &mut encoder,
            "idauth_template_cache_hits",
            "Enrolled-template lookups served from the cache.",
            MetricType::Counter,
            all.iter()
                .map(|(id, m)| (component(id), counter(m.cache_hits))),
        )?;
        family(
            &mut encoder,
            "idauth_template_cache_misses",
            "Enrolled-template lookups that built the template.",
            MetricType::Counter,
            all.iter()
                .map(|(id, m)| (component(id), counter(m.cache_misses))),
        )?;
        let per_shard = |value: fn(&ShardReport) -> u64| {
            self.shards
                .iter()
                .map(move |r| (component(&r.shard_id), gauge(value(r))))
        };
        family(
            &mut encoder,
            "idauth_residents",
            "Records in the shard's store.",
            MetricType::Gauge,
            per_shard(|r| r.residents),
        )?;
        family(
            &mut encoder,
            "idauth_store_bytes",
            "Bytes the shard's store occupies on disk (an even share of the engine when shards share one).",
            MetricType::Gauge,
            per_shard(|r| r.store_bytes),
        )?;
        family(
            &mut encoder,
            "idauth_template_cache_entries",
            "Built templates in the shard's cache.",
            MetricType::Gauge,
            per_shard(|r| r.cache_entries),
        )?;
        family(
            &mut encoder,
            "idauth_process_resident_memory_bytes",
            "Resident memory of the process serving the shard.",
            MetricType::Gauge,
            per_shard(|r| r.rss_bytes),
        )?;
        family(
            &mut encoder,
            "idauth_shard_up",
            "Whether the shard answered the gateway's status call.",
            MetricType::Gauge,
            self.up
                .iter()
                .map(|(id, up)| (component(id), gauge(u64::from(*up)))),
        )
    }
}

impl Scrape {
    fn render(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .expect("writing to a String cannot fail");
        text
    }
}

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
                    source.render().await,
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
        let text = Scrape {
            components: vec![("shard-1".to_owned(), metrics)],
            ..Scrape::default()
        }
        .render();
        for line in [
            "idauth_verify_duration_seconds_bucket{component=\"shard-1\",le=\"0.001\"} 2",
            "idauth_verify_duration_seconds_bucket{component=\"shard-1\",le=\"0.01\"} 5",
            "idauth_verify_duration_seconds_bucket{component=\"shard-1\",le=\"+Inf\"} 6",
            "idauth_verify_duration_seconds_sum{component=\"shard-1\"} 0.04",
            "idauth_verify_duration_seconds_count{component=\"shard-1\"} 6",
            "idauth_stage_seconds_total{component=\"shard-1\",stage=\"match\"} 2.0",
            "idauth_requests_total{component=\"shard-1\",operation=\"verify\",code=\"100\"} 7",
            "idauth_queue_depth{component=\"shard-1\"} 3",
            "idauth_template_cache_hits_total{component=\"shard-1\"} 9",
            "# TYPE idauth_verify_duration_seconds histogram",
            "# TYPE idauth_requests_total counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
