//! `idauth synth` (enrol a synthetic population through the API) and `idauth bench`
//! (load a running gateway and report throughput and latency).

mod load;
mod report;
mod synth;
mod workload;

pub use synth::synth;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use idauth_client::Client;
use idauth_match::synthetic::population::Population;
use idauth_proto::v1;
use prost::Message;
use serde_json::json;

use self::workload::Fingers;
use crate::cli::BenchArgs;
use crate::client::{ExitCode, connect, runtime};
use load::{Plan, Target};

/// Probes drawn before a run; each is sent many times, each time under a fresh txn
/// (and a fresh envelope), so the service does the whole work every time.
const PROBE_POOL: usize = 4096;
use report::Stats;

/// The service's view after a run: ShardStatus as JSON (`null` when the credential
/// may not ask for it).
pub(super) async fn shard_status(client: &Client) -> serde_json::Value {
    match client.shard_status().await {
        Ok(response) => {
            let stage_means = |stages: &[v1::StageTime]| -> serde_json::Value {
                stages
                    .iter()
                    .map(|t| {
                        let total_us = t.total_ns as f64 / 1000.0;
                        let mean_us = total_us / t.count.max(1) as f64;
                        let figures =
                            json!({"mean_us": mean_us, "count": t.count, "total_us": total_us});
                        (t.stage.clone(), figures)
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            };
            let shards: Vec<serde_json::Value> = response
                .shards
                .iter()
                .map(|s| {
                    let metrics = s.metrics.clone().unwrap_or_default();
                    json!({
                        "shard_id": s.shard_id, "reachable": s.reachable, "residents": s.residents,
                        "store_bytes": s.store_bytes, "cache_entries": s.cache_entries,
                        "rss_bytes": s.rss_bytes, "verify_p50_ms": s.verify_p50_ms,
                        "verify_p99_ms": s.verify_p99_ms, "cache_hit_rate": s.cache_hit_rate,
                        "queue_depth": metrics.queue_depth,
                        "stages": stage_means(&metrics.stages),
                    })
                })
                .collect();
            json!({"shards": shards, "gateway_stages": stage_means(&response.gateway_stages)})
        }
        Err(error) => {
            eprintln!(
                "note: no shard status ({error}): the credential needs the operator operation"
            );
            serde_json::Value::Null
        }
    }
}

pub(super) fn write_json(
    path: Option<&std::path::Path>,
    value: &serde_json::Value,
) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(value)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `idauth bench`: exit 0 when the run completed (its errors are in the report).
pub fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.residents > 0,
        "--residents: how many `idauth synth` enrolled"
    );
    anyhow::ensure!((1..=2).contains(&args.fingers), "--fingers must be 1 or 2");
    anyhow::ensure!(
        (args.fingers..=10).contains(&args.enrolled_fingers),
        "--enrolled-fingers must be 1 to 10 and at least --fingers (probes use only enrolled fingers)"
    );
    let plan = Plan {
        concurrency: args.concurrency,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        requests: args.requests,
    };
    anyhow::ensure!(
        args.throttle >= 1.0,
        "--throttle must be at least 1 (calls sent per call the service accepts)"
    );
    let throttle = (!args.no_throttle).then(|| idauth_client::ThrottleSettings {
        k: args.throttle,
        ..idauth_client::ThrottleSettings::default()
    });
    runtime()?.block_on(async {
        let client = connect(&args.client).await?.with_throttle(throttle);
        let keys = client.service_keys().await?;
        let population = Population::new(args.seed);
        eprintln!("idauth bench: drawing {PROBE_POOL} probes from the population");
        let probes = load::probe_pool(
            &population,
            args.residents,
            Fingers {
                probe: args.fingers,
                enrolled: args.enrolled_fingers,
            },
            args.impostor_percent / 100.0,
            PROBE_POOL,
        );
        let target = |echo: Option<Vec<u8>>, plain: bool| Target {
            client: client.clone(),
            keys: keys.clone(),
            population,
            probes: probes.clone(),
            enrol_fraction: args.enrol_percent / 100.0,
            plain,
            // New residents get indices far above the enrolled ones, per run.
            next_enrol: AtomicU64::new(
                args.residents + 1_000_000 * (1 + std::process::id() as u64 % 900),
            ),
            echo,
        };
        let mut phases: Vec<(&str, Stats, Duration)> = Vec::new();
        let mut report = json!({
            "mode": if args.rate.is_some() { "open" } else { "closed" },
            "concurrency": args.concurrency, "rate": args.rate, "fingers": args.fingers, "enrolled_fingers": args.enrolled_fingers,
            "encrypted": !args.plain, "enrol_percent": args.enrol_percent,
            "impostor_percent": args.impostor_percent, "residents": args.residents,
            "client_throttle_k": throttle.map(|t| t.k),
        });
        if args.warmup > 0 {
            let warmup = Plan {
                requests: Some(args.warmup),
                duration: Duration::from_secs(3600),
                rate: None,
                ..plan
            };
            let (stats, _) = load::run(Arc::new(target(None, args.plain)), warmup, "warmup").await;
            report["warmup_requests"] = json!(stats.count());
        }
        if args.baseline {
            let sizes: Vec<usize> = probes
                .iter()
                .take(64)
                .map(|(_, probe)| {
                    workload::verify_request(probe.clone(), &keys, args.plain)
                        .map(|r| r.encoded_len())
                })
                .collect::<anyhow::Result<_>>()?;
            let payload = vec![0x5a; sizes.iter().sum::<usize>() / sizes.len()];
            report["echo_payload_bytes"] = json!(payload.len());
            let (stats, elapsed) =
                load::run(Arc::new(target(Some(payload), args.plain)), plan, "echo").await;
            phases.push(("echo", stats, elapsed));
        }
        let before = shard_status(&client).await;
        let (stats, elapsed) = load::run(Arc::new(target(None, args.plain)), plan, "bench").await;
        phases.push(("verify", stats, elapsed));
        let after_verify = shard_status(&client).await;
        if args.compare_plain {
            let (stats, elapsed) = load::run(Arc::new(target(None, true)), plan, "plain").await;
            phases.push(("verify_plain", stats, elapsed));
        }
        for (name, stats, elapsed) in &phases {
            report[*name] = stats.to_json(*elapsed);
        }
        let rate = |report: &serde_json::Value, name: &str| {
            report[name]["throughput_per_s"].as_f64().unwrap_or(0.0)
        };
        if args.baseline {
            report["verify_over_echo"] =
                json!(rate(&report, "verify") / rate(&report, "echo").max(1e-9));
        }
        if args.compare_plain {
            report["verify_over_plain"] =
                json!(rate(&report, "verify") / rate(&report, "verify_plain").max(1e-9));
        }
        report["split_us"] = split(&before, &after_verify);
        report["service"] = shard_status(&client).await;
        write_json(args.out.as_deref(), &report)?;
        if let Some(path) = &args.plot {
            let named: Vec<(&str, &Stats)> = phases.iter().map(|(n, s, _)| (*n, s)).collect();
            Stats::plot(&named, path)?;
        }
        if args.client.json {
            println!("{report}");
        } else {
            print_summary(&report);
        }
        Ok(0)
    })
}

/// Mean time per stage during the run, microseconds: the change in each stage's total
/// over the change in its count, gateway stages and every shard's together.
fn split(before: &serde_json::Value, after: &serde_json::Value) -> serde_json::Value {
    let mut totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut add = |stages: &serde_json::Value, sign: f64| {
        for (stage, t) in stages.as_object().into_iter().flatten() {
            let entry = totals.entry(stage.clone()).or_default();
            entry.0 += sign * t["total_us"].as_f64().unwrap_or(0.0);
            entry.1 += sign * t["count"].as_f64().unwrap_or(0.0);
        }
    };
    for (value, sign) in [(before, -1.0), (after, 1.0)] {
        add(&value["gateway_stages"], sign);
        for shard in value["shards"].as_array().into_iter().flatten() {
            add(&shard["stages"], sign);
        }
    }
    totals
        .into_iter()
        .filter(|(_, (_, count))| *count > 0.0)
        .map(|(stage, (total, count))| (stage, json!(total / count)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn print_summary(report: &serde_json::Value) {
    for phase in ["echo", "verify", "verify_plain"] {
        let p = &report[phase];
        if p.is_null() {
            continue;
        }
        let l = &p["latency_ms"];
        println!(
            "{phase}: {} requests, {:.0}/s; latency ms p50 {} p90 {} p99 {} p99.9 {} max {}; errors {}",
            p["requests"],
            p["throughput_per_s"].as_f64().unwrap_or(0.0),
            l["p50"],
            l["p90"],
            l["p99"],
            l["p99.9"],
            l["max"],
            p["errors"]
        );
        for (shard, s) in p["per_shard"].as_object().into_iter().flatten() {
            println!(
                "  {shard}: {} requests, {:.0}/s, p50 {} ms, p99 {} ms",
                s["requests"],
                s["throughput_per_s"].as_f64().unwrap_or(0.0),
                s["latency_ms"]["p50"],
                s["latency_ms"]["p99"]
            );
        }
    }
    if let Some(ratio) = report["verify_over_echo"].as_f64() {
        println!("verify / echo throughput: {ratio:.2}");
    }
    if let Some(ratio) = report["verify_over_plain"].as_f64() {
        println!("encrypted / plain verify throughput: {ratio:.2}");
    }
    if let Some(split) = report["split_us"].as_object().filter(|s| !s.is_empty()) {
        let parts: Vec<String> = split
            .iter()
            .map(|(stage, us)| format!("{stage} {:.0}", us.as_f64().unwrap_or(0.0)))
            .collect();
        println!(
            "server-side mean per verify during the run, us: {}",
            parts.join(", ")
        );
    }
}
