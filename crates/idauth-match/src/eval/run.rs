//! Scoring every pair inside one set.

use std::time::Instant;

use super::corpus::CorpusEntry;
use super::metrics::ErrorRates;
use crate::compare::Matcher;
use crate::error::{MatchError, Result};
use crate::format::parse;
use crate::mcc::FingerTemplate;

/// One scored pair, in the columns of `bozorth3_scores.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    /// Set name.
    pub set: String,
    /// First record (`finger_impression`).
    pub a: String,
    /// Second record.
    pub b: String,
    /// Whether both records are of the same finger.
    pub genuine: bool,
    /// Similarity; higher is more alike.
    pub score: f32,
}

/// Everything measured on one set.
#[derive(Debug, Clone)]
pub struct SetEvaluation {
    /// Set name.
    pub name: String,
    /// Every pair, in (a, b) order with a before b in the manifest.
    pub pairs: Vec<PairScore>,
    /// Error rates over those pairs.
    pub rates: ErrorRates,
    /// Median time of one finger comparison, in microseconds.
    pub compare_us_median: f64,
    /// Median time to build one template from its minutiae, in microseconds.
    pub template_us_median: f64,
}

/// Scores all pairs of `entries` (one set). `progress` is told after every pair.
pub fn evaluate_set(
    name: &str,
    entries: &[CorpusEntry],
    matcher: &mut Matcher,
    progress: &mut dyn FnMut(),
) -> Result<SetEvaluation> {
    let mut template_times = Vec::with_capacity(entries.len());
    let mut templates = Vec::with_capacity(entries.len());
    for entry in entries {
        let bytes = std::fs::read(&entry.path).map_err(|e| MatchError::Corpus {
            path: entry.path.display().to_string(),
            reason: e.to_string(),
        })?;
        let record = parse(&bytes).map_err(|e| MatchError::Corpus {
            path: entry.path.display().to_string(),
            reason: e.to_string(),
        })?;
        let finger = record
            .fingers()
            .into_iter()
            .next()
            .ok_or_else(|| MatchError::Corpus {
                path: entry.path.display().to_string(),
                reason: "record has no finger view".into(),
            })?;
        let started = Instant::now();
        templates.push(FingerTemplate::new(&finger, matcher.params()));
        template_times.push(started.elapsed().as_secs_f64() * 1e6);
    }

    let mut pairs = Vec::with_capacity(entries.len() * entries.len().saturating_sub(1) / 2);
    let mut compare_times = Vec::with_capacity(pairs.capacity());
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for i in 0..entries.len() {
        for j in (i + 1)..entries.len() {
            let started = Instant::now();
            let score = matcher.compare(&templates[i], &templates[j]);
            compare_times.push(started.elapsed().as_secs_f64() * 1e6);
            let is_genuine = entries[i].finger == entries[j].finger;
            if is_genuine {
                genuine.push(score)
            } else {
                impostor.push(score)
            }
            pairs.push(PairScore {
                set: name.to_owned(),
                a: entries[i].name(),
                b: entries[j].name(),
                genuine: is_genuine,
                score,
            });
            progress();
        }
    }
    Ok(SetEvaluation {
        name: name.to_owned(),
        pairs,
        rates: ErrorRates::new(genuine, impostor),
        compare_us_median: median(&mut compare_times),
        template_us_median: median(&mut template_times),
    })
}

/// Median of a list (mean of the two middle values for even lengths); 0 when empty.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}
