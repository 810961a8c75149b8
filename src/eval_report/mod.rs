//! `idauth eval`: runs the evaluation, shows progress, prints the table and writes the
//! JSON report, the score file and the DET plot.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use idauth_match::eval::{Corpus, SetEvaluation, evaluate_set};
use idauth_match::{Consolidation, Kernel, Matcher, MccParams};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::{ConsolidationArg, EvalArgs};

/// FMR targets reported for every set.
const TARGET_FMRS: [(f64, &str); 2] = [(0.01, "0.01"), (0.001, "0.001")];

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let corpus = Corpus::open(&args.corpus)
        .with_context(|| format!("opening corpus {}", args.corpus.display()))?;
    let consolidation = match args.consolidation {
        ConsolidationArg::Lss => Consolidation::Lss,
        ConsolidationArg::LssR => Consolidation::LssR,
    };
    let mut matcher = Matcher::with_kernel(MccParams::default(), Kernel::active(), consolidation);
    let sets: Vec<_> = corpus
        .sets
        .iter()
        .filter(|(name, _)| args.sets.is_empty() || args.sets.contains(name))
        .collect();
    anyhow::ensure!(!sets.is_empty(), "no set of the corpus matches --set");
    let total_pairs: u64 = sets
        .iter()
        .map(|(_, e)| (e.len() * e.len().saturating_sub(1) / 2) as u64)
        .sum();
    let bar = ProgressBar::new(total_pairs).with_style(
        ProgressStyle::with_template(
            "{prefix:>6} [{bar:40}] {pos}/{len} pairs {per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut results = Vec::new();
    for (name, entries) in sets {
        bar.set_prefix(name.clone());
        let evaluation = evaluate_set(name, entries, &mut matcher, &mut || bar.inc(1))?;
        results.push(evaluation);
    }
    bar.finish_and_clear();

    print_table(&results, matcher.kernel(), started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let report = json_report(&results, &matcher, args);
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.scores {
        write_scores(path, &results)?;
    }
    if let Some(path) = &args.plot {
        crate::eval_report::plot::det_curves(path, &results)?;
    }
    Ok(())
}

fn print_table(results: &[SetEvaluation], kernel: Kernel, seconds: f64) {
    println!(
        "{:<8} {:>8} {:>8} {:>7} {:>12} {:>13} {:>10} {:>11}",
        "set",
        "genuine",
        "impostor",
        "EER%",
        "FNMR@1%FMR",
        "FNMR@0.1%FMR",
        "thr@0.1%",
        "compare_us"
    );
    for r in results {
        let (p1, p01) = (r.rates.at_fmr(0.01), r.rates.at_fmr(0.001));
        println!(
            "{:<8} {:>8} {:>8} {:>7.2} {:>12.2} {:>13.2} {:>10.4} {:>11.2}",
            r.name,
            r.rates.genuine_count(),
            r.rates.impostor_count(),
            100.0 * r.rates.eer(),
            100.0 * p1.fnmr,
            100.0 * p01.fnmr,
            p01.threshold,
            r.compare_us_median
        );
    }
    let mean = results.iter().map(|r| r.rates.eer()).sum::<f64>() / results.len() as f64;
    println!(
        "mean EER {:.2}%  (kernel {}, {:.1} s)",
        100.0 * mean,
        kernel.name(),
        seconds
    );
}

fn json_report(results: &[SetEvaluation], matcher: &Matcher, args: &EvalArgs) -> serde_json::Value {
    let sets: Vec<_> = results
        .iter()
        .map(|r| {
            let points: Vec<_> = TARGET_FMRS.iter().map(|(fmr, key)| (*key, r.rates.at_fmr(*fmr))).collect();
            json!({
                "name": r.name,
                "genuine": r.rates.genuine_count(),
                "impostor": r.rates.impostor_count(),
                "eer": r.rates.eer(),
                "fnmr_at_fmr": points.iter().map(|(k, p)| (k.to_string(), json!(p.fnmr))).collect::<serde_json::Map<_, _>>(),
                "threshold_at_fmr": points.iter().map(|(k, p)| (k.to_string(), json!(p.threshold))).collect::<serde_json::Map<_, _>>(),
                "measured_fmr_at_threshold": points.iter().map(|(k, p)| (k.to_string(), json!(p.fmr))).collect::<serde_json::Map<_, _>>(),
                "compare_us_median": r.compare_us_median,
                "template_us_median": r.template_us_median,
            })
        })
        .collect();
    let mean_eer = results.iter().map(|r| r.rates.eer()).sum::<f64>() / results.len() as f64;
    json!({
        "corpus": args.corpus.display().to_string(),
        "kernel": matcher.kernel().name(),
        "consolidation": format!("{:?}", args.consolidation),
        "sets": sets,
        "mean_eer": mean_eer,
    })
}

fn write_scores(path: &std::path::Path, results: &[SetEvaluation]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "db,a,b,genuine,score")?;
    for pair in results.iter().flat_map(|r| &r.pairs) {
        writeln!(
            out,
            "{},{},{},{},{}",
            pair.set,
            pair.a,
            pair.b,
            u8::from(pair.genuine),
            pair.score
        )?;
    }
    out.flush()?;
    Ok(())
}

mod plot;
