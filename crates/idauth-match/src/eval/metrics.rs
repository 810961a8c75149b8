//! Error rates from genuine and impostor score lists. Higher score = more similar; a
//! pair is accepted when its score is at least the threshold.

/// FNMR at one target FMR, with the threshold that achieves it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingPoint {
    /// The FMR asked for (fraction).
    pub target_fmr: f64,
    /// The smallest threshold whose measured FMR is at most the target.
    pub threshold: f32,
    /// The FMR measured at that threshold.
    pub fmr: f64,
    /// The FNMR measured at that threshold.
    pub fnmr: f64,
}

/// Sorted scores of one evaluation, ready for any error-rate question.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRates {
    genuine: Vec<f32>,
    impostor: Vec<f32>,
}

impl ErrorRates {
    /// Takes the two score lists (NaN scores are not allowed).
    pub fn new(mut genuine: Vec<f32>, mut impostor: Vec<f32>) -> Self {
        debug_assert!(genuine.iter().chain(&impostor).all(|s| !s.is_nan()));
        genuine.sort_by(f32::total_cmp);
        impostor.sort_by(f32::total_cmp);
        Self { genuine, impostor }
    }

    /// Genuine comparisons.
    pub fn genuine_count(&self) -> usize {
        self.genuine.len()
    }

    /// Impostor comparisons.
    pub fn impostor_count(&self) -> usize {
        self.impostor.len()
    }

    /// Fraction of impostor scores at or above `threshold`.
    pub fn fmr(&self, threshold: f32) -> f64 {
        let below = self.impostor.partition_point(|&s| s < threshold);
        fraction(self.impostor.len() - below, self.impostor.len())
    }

    /// Fraction of genuine scores below `threshold`.
    pub fn fnmr(&self, threshold: f32) -> f64 {
        fraction(
            self.genuine.partition_point(|&s| s < threshold),
            self.genuine.len(),
        )
    }

    /// Every distinct score, plus one value above the largest: the thresholds at
    /// which either rate can change.
    fn thresholds(&self) -> Vec<f32> {
        let mut all: Vec<f32> = self.genuine.iter().chain(&self.impostor).copied().collect();
        all.sort_by(f32::total_cmp);
        all.dedup();
        if let Some(&top) = all.last() {
            all.push(top.next_up());
        }
        all
    }

    /// Equal error rate, computed as in the FVC reports: between the last threshold
    /// where FNMR <= FMR and the first where FNMR >= FMR, the midpoint of the pair of
    /// rates whose sum is smaller.
    pub fn eer(&self) -> f64 {
        let thresholds = self.thresholds();
        if thresholds.is_empty() {
            return 0.0;
        }
        let rates = |t: f32| (self.fmr(t), self.fnmr(t));
        // FMR falls and FNMR rises with the threshold, so the crossing is where
        // FNMR first reaches FMR.
        let first_at_or_above = thresholds.partition_point(|&t| {
            let (fmr, fnmr) = rates(t);
            fnmr < fmr
        });
        let candidates = [
            first_at_or_above.checked_sub(1),
            (first_at_or_above < thresholds.len()).then_some(first_at_or_above),
        ];
        candidates
            .into_iter()
            .flatten()
            .map(|i| {
                let (fmr, fnmr) = rates(thresholds[i]);
                (fmr + fnmr) / 2.0
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// FNMR at the smallest threshold whose FMR does not exceed `target_fmr`.
    pub fn at_fmr(&self, target_fmr: f64) -> OperatingPoint {
        let thresholds = self.thresholds();
        let index = thresholds.partition_point(|&t| self.fmr(t) > target_fmr);
        let threshold = thresholds.get(index).copied().unwrap_or(f32::INFINITY);
        OperatingPoint {
            target_fmr,
            threshold,
            fmr: self.fmr(threshold),
            fnmr: self.fnmr(threshold),
        }
    }

    /// (FMR, FNMR) at every distinct threshold, for a DET curve.
    pub fn det_points(&self) -> Vec<(f64, f64)> {
        self.thresholds()
            .into_iter()
            .map(|t| (self.fmr(t), self.fnmr(t)))
            .collect()
    }
}

fn fraction(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_scores_have_zero_eer_and_full_acceptance() {
        let rates = ErrorRates::new(vec![0.8, 0.9, 0.95], vec![0.1, 0.2, 0.3, 0.4]);
        assert_eq!(rates.eer(), 0.0);
        let point = rates.at_fmr(0.0);
        assert!(point.threshold > 0.4 && point.threshold <= 0.8);
        assert_eq!(point.fnmr, 0.0);
    }

    #[test]
    fn overlapping_scores_give_the_hand_computed_eer() {
        // Genuine 0.3 sits among impostors, impostor 0.7 among genuines: at t = 0.5
        // FMR = 1/4 and FNMR = 1/4.
        let rates = ErrorRates::new(vec![0.3, 0.6, 0.8, 0.9], vec![0.1, 0.2, 0.4, 0.7]);
        assert!((rates.eer() - 0.25).abs() < 1e-12, "{}", rates.eer());
        let point = rates.at_fmr(0.25);
        assert_eq!(point.fmr, 0.25);
        assert_eq!(point.fnmr, 0.25);
        let strict = rates.at_fmr(0.0);
        // No impostor may pass: the threshold rises above 0.7 and takes 0.6 with it.
        assert_eq!(strict.fmr, 0.0);
        assert_eq!(strict.fnmr, 0.5);
    }

    #[test]
    fn ties_between_genuine_and_impostor_count_on_both_sides() {
        let rates = ErrorRates::new(vec![0.5, 0.5], vec![0.5, 0.5]);
        assert_eq!(rates.fmr(0.5), 1.0);
        assert_eq!(rates.fnmr(0.5), 0.0);
        assert_eq!(rates.eer(), 0.5);
    }
}
