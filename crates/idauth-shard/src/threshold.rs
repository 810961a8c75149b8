//! The decision threshold, named by the false-match rate it gives.
//!
//! Operators choose a target FMR (0.01 or 0.001); the score threshold for it comes from
//! `idauth eval --json` output: the largest `threshold_at_fmr` over the evaluated sets,
//! so that no evaluated set exceeds the target. The built-in figures are the project's
//! FVC2002 evaluation, kept with this crate (`data/eval-fvc2002.json`, written by
//! `idauth eval --json`); a deployment can point `threshold_file` at its own.

/// The built-in evaluation the default threshold comes from.
const BUILT_IN_EVAL: &str = include_str!("../data/eval-fvc2002.json");

/// A decision threshold and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The target false-match rate.
    pub target_fmr: f64,
    /// Fused scores at or above this are a match.
    pub score: f32,
}

/// Why a threshold could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum ThresholdError {
    /// The evaluation JSON does not parse or lacks the sets.
    #[error("evaluation output does not parse: {0}")]
    Parse(String),
    /// No set reports a threshold at the target FMR.
    #[error("evaluation output has no threshold at FMR {0} (idauth eval reports 0.01 and 0.001)")]
    MissingFmr(f64),
}

impl Threshold {
    /// The threshold for `target_fmr` from the built-in evaluation.
    pub fn built_in(target_fmr: f64) -> Result<Self, ThresholdError> {
        Self::from_eval_json(BUILT_IN_EVAL, target_fmr)
    }

    /// The threshold for `target_fmr` from `idauth eval --json` output.
    pub fn from_eval_json(json: &str, target_fmr: f64) -> Result<Self, ThresholdError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| ThresholdError::Parse(e.to_string()))?;
        let sets = value["sets"]
            .as_array()
            .ok_or_else(|| ThresholdError::Parse("no \"sets\" array".into()))?;
        let score = sets
            .iter()
            .filter_map(|set| set["threshold_at_fmr"].as_object())
            .flat_map(|by_fmr| {
                by_fmr.iter().filter_map(|(fmr, threshold)| {
                    let fmr: f64 = fmr.parse().ok()?;
                    ((fmr - target_fmr).abs() < 1e-12).then_some(threshold.as_f64()?)
                })
            })
            .reduce(f64::max)
            .ok_or(ThresholdError::MissingFmr(target_fmr))?;
        Ok(Self {
            target_fmr,
            score: score as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_threshold_is_the_strictest_set() {
        let t = Threshold::built_in(0.001).unwrap();
        assert!((t.score - 0.026_271_902).abs() < 1e-6, "{t:?}");
        let loose = Threshold::built_in(0.01).unwrap();
        assert!(loose.score < t.score);
        assert!(matches!(
            Threshold::built_in(0.05),
            Err(ThresholdError::MissingFmr(_))
        ));
    }
}
