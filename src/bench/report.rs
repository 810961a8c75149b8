//! Latency and outcome figures of one load phase: HDR histograms overall, per shard
//! and per operation, errors by code, and their JSON and SVG forms.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::json;

use super::workload::Kind;

/// Microsecond histograms from 1 µs to 100 s, three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds")
}

/// What one phase recorded.
#[derive(Debug)]
pub struct Stats {
    overall: Histogram<u64>,
    by_shard: BTreeMap<String, Histogram<u64>>,
    by_kind: BTreeMap<&'static str, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    matched: u64,
    not_matched: u64,
    /// Latency of the requests the service answered with a decision (admitted and
    /// done), apart from refusals, which are quick and would flatter the figures.
    decided: Histogram<u64>,
    /// Refusals that told the caller when to retry.
    retry_hinted: u64,
}

/// How one request ended.
#[derive(Debug, Default)]
pub struct Answer {
    /// The shard that decided (from the reference code), if one did.
    pub shard: Option<String>,
    /// Whether a verify matched.
    pub matched: Option<bool>,
    /// The error code name, if any.
    pub error: Option<&'static str>,
    /// Whether a refusal carried a retry delay.
    pub retry_hinted: bool,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            overall: histogram(),
            by_shard: BTreeMap::new(),
            by_kind: BTreeMap::new(),
            errors: BTreeMap::new(),
            matched: 0,
            not_matched: 0,
            decided: histogram(),
            retry_hinted: 0,
        }
    }
}

/// The shard id in a reference code (`shard-2-62c016d003798b15` -> `shard-2`).
pub fn shard_of(reference: &str) -> Option<String> {
    reference
        .rsplit_once('-')
        .map(|(shard, _)| shard.to_owned())
        .filter(|shard| !shard.is_empty())
}

impl Stats {
    /// Records one request.
    pub fn record(&mut self, kind: Kind, latency: Duration, answer: Answer) {
        let micros = (latency.as_micros() as u64).clamp(1, 100_000_000);
        self.overall.saturating_record(micros);
        self.by_kind
            .entry(kind.name())
            .or_insert_with(histogram)
            .saturating_record(micros);
        if let Some(shard) = answer.shard {
            self.by_shard
                .entry(shard)
                .or_insert_with(histogram)
                .saturating_record(micros);
        }
        match answer.matched {
            Some(true) => self.matched += 1,
            Some(false) => self.not_matched += 1,
            None => {}
        }
        if answer.matched.is_some() {
            self.decided.saturating_record(micros);
        }
        if answer.retry_hinted {
            self.retry_hinted += 1;
        }
        if let Some(error) = answer.error {
            *self.errors.entry(error.to_owned()).or_default() += 1;
        }
    }

    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.overall.len()
    }

    /// Errors recorded.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The phase as JSON, rates over `elapsed`.
    pub fn to_json(&self, elapsed: Duration) -> serde_json::Value {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let summary = |h: &Histogram<u64>| {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            json!({
                "requests": h.len(),
                "throughput_per_s": h.len() as f64 / seconds,
                "latency_ms": {
                    "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p99.9": ms(0.999),
                    "max": h.max() as f64 / 1000.0,
                    "mean": h.mean() / 1000.0,
                },
            })
        };
        let mut value = summary(&self.overall);
        value["elapsed_s"] = json!(seconds);
        value["per_shard"] = self
            .by_shard
            .iter()
            .map(|(shard, h)| (shard.clone(), summary(h)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        value["per_operation"] = self
            .by_kind
            .iter()
            .map(|(kind, h)| ((*kind).to_owned(), summary(h)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        value["errors"] = json!(self.errors);
        value["decisions"] = json!({"match": self.matched, "no_match": self.not_matched});
        // Goodput: requests answered with a decision, per second; their latency alone.
        value["decided"] = summary(&self.decided);
        value["refusals_with_retry_hint"] = json!(self.retry_hinted);
        value
    }

    /// Draws latency against percentile (0 to 99.99 %, log-spaced tail) as SVG, one
    /// line per phase.
    pub fn plot(phases: &[(&str, &Stats)], path: &Path) -> anyhow::Result<()> {
        use plotters::prelude::*;
        // x = -log10(1 - q): 1 = 90 %, 2 = 99 %, 3 = 99.9 %, 4 = 99.99 %.
        let quantiles: Vec<f64> = (0..=400)
            .map(|i| 1.0 - 10f64.powf(-f64::from(i) / 100.0))
            .collect();
        let series: Vec<(&str, Vec<(f64, f64)>)> = phases
            .iter()
            .map(|(name, stats)| {
                let points = quantiles
                    .iter()
                    .map(|&q| {
                        let x = -(1.0 - q).max(1e-4).log10();
                        (x, stats.overall.value_at_quantile(q) as f64 / 1000.0)
                    })
                    .collect();
                (*name, points)
            })
            .collect();
        let top = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
            .fold(0.1f64, f64::max)
            * 1.1;
        let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
        root.fill(&WHITE).context("drawing the plot")?;
        let mut chart = ChartBuilder::on(&root)
            .caption("idauth bench: latency by percentile", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..4f64, 0f64..top)
            .context("drawing the plot")?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| format!("{:.2}%", 100.0 * (1.0 - 10f64.powf(-x))))
            .draw()
            .context("drawing the plot")?;
        for (i, (name, points)) in series.into_iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .context("drawing the plot")?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .draw()
            .context("drawing the plot")?;
        root.present().context("writing the plot")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_come_from_reference_codes_and_figures_add_up() {
        assert_eq!(
            shard_of("shard-2-62c016d003798b15").as_deref(),
            Some("shard-2")
        );
        assert_eq!(shard_of(""), None);
        let mut stats = Stats::default();
        for ms in 1..=100 {
            stats.record(
                Kind::Genuine,
                Duration::from_millis(ms),
                Answer {
                    shard: Some(format!("shard-{}", ms % 2)),
                    matched: Some(ms % 10 != 0),
                    error: (ms % 10 == 0).then_some("BIOMETRIC_MISMATCH"),
                    retry_hinted: false,
                },
            );
        }
        let value = stats.to_json(Duration::from_secs(2));
        assert_eq!(value["requests"], 100);
        assert_eq!(value["throughput_per_s"], 50.0);
        assert_eq!(value["per_shard"]["shard-0"]["requests"], 50);
        assert_eq!(value["errors"]["BIOMETRIC_MISMATCH"], 10);
        assert_eq!(value["decisions"]["match"], 90);
        let p50 = value["latency_ms"]["p50"].as_f64().unwrap();
        assert!((49.9..=50.1).contains(&p50), "{p50}");
        assert!(value["latency_ms"]["max"].as_f64().unwrap() >= 99.9);
    }
}
