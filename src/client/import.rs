//! `idauth import`: enrol one resident per finger of a corpus, from one impression.
//!
//! Resident ids are `<set>-<finger>` with `_` turned into `-` (`DB1_B`, finger 101 ->
//! `DB1-B-101`); request ids are `<set>-<finger>-<impression>`, so running an import
//! again replays instead of enrolling twice.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use futures_util::StreamExt;
use idauth_client::ServiceKeys;
use idauth_core::{FingerPosition, IdentifierType, ResidentId};
use idauth_match::eval::corpus::{Corpus, CorpusEntry};
use idauth_match::format::parse;
use idauth_proto::convert::resident_id_to_wire;
use idauth_proto::v1::{Demographics, EnrolRequest, EnrolmentContext};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{ExitCode, connect, error_json, request, runtime};
use crate::cli::ImportArgs;

/// The resident id import gives a corpus finger.
pub fn resident_id(set: &str, finger: &str) -> String {
    format!("{set}-{finger}").replace('_', "-")
}

/// What happened to one corpus entry.
enum Outcome {
    Enrolled,
    Replayed,
    Refused(idauth_core::ErrorCode),
}

/// `idauth import`: exit 0 when every entry is enrolled (or already was), 2 otherwise.
pub fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let corpus = Corpus::open(&args.corpus)
        .with_context(|| format!("reading corpus {}", args.corpus.display()))?;
    let declared = FingerPosition::from_code(args.position)
        .filter(|p| *p != FingerPosition::Unknown)
        .context("--position must be 1..10")?;
    let entries: Vec<CorpusEntry> = corpus
        .sets
        .iter()
        .filter(|(set, _)| args.sets.is_empty() || args.sets.contains(set))
        .flat_map(|(_, entries)| entries.iter())
        .filter(|entry| entry.impression == args.impression)
        .cloned()
        .collect();
    anyhow::ensure!(
        !entries.is_empty(),
        "no corpus entry has impression {} in the chosen sets",
        args.impression
    );
    let runtime = runtime()?;
    let client = runtime.block_on(connect(&args.client))?;
    let keys = runtime.block_on(client.service_keys())?;
    let requests = entries
        .iter()
        .map(|entry| enrol_request(entry, declared, &args.centre, &keys))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let progress = ProgressBar::new(requests.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} enrolled  {per_sec}  eta {eta}")
            .expect("valid template"),
    );
    let started = Instant::now();
    let outcomes: Vec<Outcome> = runtime.block_on(async {
        let outcomes = futures_util::stream::iter(requests)
            .map(|request| {
                let client = client.clone();
                let progress = progress.clone();
                async move {
                    let outcome = match client.enrol(request).await {
                        Ok(response) if response.replayed => Outcome::Replayed,
                        Ok(_) => Outcome::Enrolled,
                        Err(error) => Outcome::Refused(
                            error.code().unwrap_or(idauth_core::ErrorCode::Internal),
                        ),
                    };
                    progress.inc(1);
                    outcome
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
        Ok::<_, anyhow::Error>(outcomes)
    })?;
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();

    let enrolled = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Enrolled))
        .count();
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Replayed))
        .count();
    let mut refused: BTreeMap<u16, (idauth_core::ErrorCode, usize)> = BTreeMap::new();
    for outcome in &outcomes {
        if let Outcome::Refused(code) = outcome {
            refused.entry(code.number()).or_insert((*code, 0)).1 += 1;
        }
    }
    let refused_total: usize = refused.values().map(|(_, n)| n).sum();
    if args.client.json {
        let refused: Vec<serde_json::Value> = refused
            .values()
            .map(|(code, n)| json!({"error": error_json(*code), "count": n}))
            .collect();
        println!(
            "{}",
            json!({
                "entries": outcomes.len(),
                "enrolled": enrolled,
                "replayed": replayed,
                "refused": refused,
                "seconds": elapsed,
                "enrolments_per_second": outcomes.len() as f64 / elapsed.max(1e-9),
            })
        );
    } else {
        println!(
            "imported {} entries in {:.1} s ({:.0}/s): {} enrolled, {} already enrolled, {} refused",
            outcomes.len(),
            elapsed,
            outcomes.len() as f64 / elapsed.max(1e-9),
            enrolled,
            replayed,
            refused_total
        );
        for (code, n) in refused.values() {
            println!(
                "  {n} x {} {} ({})",
                code.number(),
                code.name(),
                code.action_hint()
            );
        }
    }
    Ok(if refused_total == 0 { 0 } else { 2 })
}

fn enrol_request(
    entry: &CorpusEntry,
    declared: FingerPosition,
    centre: &str,
    keys: &ServiceKeys,
) -> anyhow::Result<EnrolRequest> {
    let id = resident_id(&entry.set, &entry.finger);
    let resident = ResidentId::new(IdentifierType::NationalId, &id)
        .with_context(|| format!("corpus entry {} does not make a valid id", entry.name()))?;
    let bytes =
        std::fs::read(&entry.path).with_context(|| format!("reading {}", entry.path.display()))?;
    // The record's own position wins; FVC's MINDTCT records leave it unknown.
    let position = parse(&bytes)
        .ok()
        .and_then(|record| record.views.first().map(|view| view.position))
        .filter(|p| *p != FingerPosition::Unknown)
        .unwrap_or(declared);
    let finger = request::finger(u32::from(position.code()), &entry.path)?;
    let request_id = format!("{}-{}-{}", entry.set, entry.finger, entry.impression);
    let timestamp = idauth_client::now();
    Ok(EnrolRequest {
        envelope: keys.seal(vec![finger], &request_id, &timestamp)?,
        context: Some(EnrolmentContext {
            centre_id: centre.to_owned(),
            request_id,
            timestamp: Some(timestamp),
            consent: true,
        }),
        resident: Some(resident_id_to_wire(&resident)),
        fingers: Vec::new(),
        demographics: Some(Demographics {
            name: format!("Corpus {} finger {}", entry.set, entry.finger),
            ..Demographics::default()
        }),
    })
}
