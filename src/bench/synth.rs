//! `idauth synth`: enrol residents of the synthetic population through the public
//! API, encrypted, many in flight so that the shards' group commit shares fsyncs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use idauth_match::synthetic::population::Population;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{shard_status, workload, write_json};
use crate::cli::SynthArgs;
use crate::client::{ExitCode, connect, runtime};

/// `idauth synth`: exit 0 when every resident is enrolled (or already was), 2 otherwise.
pub fn synth(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=10).contains(&args.fingers),
        "--fingers must be 1 to 10"
    );
    let population = Population::new(args.seed);
    runtime()?.block_on(async {
        let client = connect(&args.client).await?;
        let keys = Arc::new(client.service_keys().await?);
        let bar = ProgressBar::new(args.residents);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} enrolled  {per_sec}  eta {eta}")
                .expect("valid template"),
        );
        let started = Instant::now();
        let fingers = args.fingers;
        let outcomes: Vec<Result<bool, &'static str>> = futures_util::stream::iter(args.start..args.start + args.residents)
            .map(|index| {
                let (client, keys, bar) = (client.clone(), Arc::clone(&keys), bar.clone());
                async move {
                    let request = workload::enrol_request(&population, index, fingers, "synth", &keys, false);
                    let outcome = match request {
                        Err(error) => {
                            tracing::warn!(%error, "enrolment not built");
                            Err("CLIENT_BUILD_FAILED")
                        }
                        Ok(request) => match client.enrol(request).await {
                            Ok(response) => Ok(response.replayed),
                            Err(error) => Err(error.code().map_or("INTERNAL", |code| code.name())),
                        },
                    };
                    bar.inc(1);
                    outcome
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
        let elapsed = started.elapsed();
        bar.finish_and_clear();
        let enrolled = outcomes.iter().filter(|o| **o == Ok(false)).count();
        let replayed = outcomes.iter().filter(|o| **o == Ok(true)).count();
        let mut refused: BTreeMap<&str, u64> = BTreeMap::new();
        for error in outcomes.iter().filter_map(|o| o.err()) {
            *refused.entry(error).or_default() += 1;
        }
        let status = shard_status(&client).await;
        let shards = status["shards"].clone();
        let rss = shards.as_array().and_then(|s| s.iter().filter_map(|s| s["rss_bytes"].as_u64()).max());
        let (residents, bytes) = shards.as_array().map_or((0, 0), |shards| {
            shards.iter().fold((0, 0), |(r, b), s| {
                (r + s["residents"].as_u64().unwrap_or(0), b + s["store_bytes"].as_u64().unwrap_or(0))
            })
        });
        let summary = json!({
            "seed": args.seed, "start": args.start, "asked": args.residents, "fingers": fingers,
            "enrolled": enrolled, "replayed": replayed, "refused": refused,
            "elapsed_s": elapsed.as_secs_f64(),
            "enrolments_per_s": enrolled as f64 / elapsed.as_secs_f64(),
            "service_residents": residents, "service_store_bytes": bytes,
            "store_bytes_per_resident": if residents > 0 { bytes as f64 / residents as f64 } else { 0.0 },
            "service_rss_bytes": rss,
            "shards": shards,
        });
        write_json(args.out.as_deref(), &summary)?;
        if args.client.json {
            println!("{summary}");
        } else {
            println!(
                "enrolled {enrolled} residents ({fingers} fingers each) in {:.1} s ({:.0}/s); {replayed} already enrolled, {}",
                elapsed.as_secs_f64(),
                enrolled as f64 / elapsed.as_secs_f64(),
                refusals(&refused)
            );
            if refused.contains_key("QUOTA_EXCEEDED") {
                println!(
                    "the credential's request quota is below this enrolment rate: issue one with a higher --quota, or lower --concurrency"
                );
            }
            if residents > 0 {
                println!("service: {residents} residents, {bytes} bytes on disk ({:.0} per resident)", bytes as f64 / residents as f64);
            }
        }
        Ok(if refused.is_empty() { 0 } else { 2 })
    })
}

/// "3 refused (QUOTA_EXCEEDED 2, SHARD_UNAVAILABLE 1)", or "none refused".
fn refusals(refused: &BTreeMap<&str, u64>) -> String {
    if refused.is_empty() {
        return "none refused".into();
    }
    let by_code: Vec<String> = refused
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    format!(
        "{} refused ({})",
        refused.values().sum::<u64>(),
        by_code.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_code() {
        assert_eq!(refusals(&BTreeMap::new()), "none refused");
        let refused = BTreeMap::from([("QUOTA_EXCEEDED", 2), ("SHARD_UNAVAILABLE", 1)]);
        assert_eq!(
            refusals(&refused),
            "3 refused (QUOTA_EXCEEDED 2, SHARD_UNAVAILABLE 1)"
        );
    }
}
