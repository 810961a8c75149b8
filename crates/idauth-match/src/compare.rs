//! One finger against another: the cylinder similarity matrix (through the SIMD
//! kernel) and its consolidation into one score (LSS or LSS-R).

use crate::consolidate::Consolidation;
use crate::kernel::{Kernel, PairCounts};
use crate::mcc::cylinder::cells_inside_radius;
use crate::mcc::params::{CYLINDER_WORDS, LAYER_WORDS};
use crate::mcc::{FingerTemplate, MccParams};
use crate::relaxation::Relaxation;

/// A similarity of two cylinders with the indices that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScoredPair {
    pub similarity: f32,
    pub probe: u16,
    pub gallery: u16,
}

/// Compares finger templates. Holds its scratch buffers, so one `Matcher` per thread
/// compares any number of pairs without allocating once the buffers have grown.
#[derive(Debug, Clone)]
pub struct Matcher {
    params: MccParams,
    kernel: Kernel,
    consolidation: Consolidation,
    min_area: u32,
    relaxation: Relaxation,
    counts: Vec<PairCounts>,
    pairs: Vec<ScoredPair>,
}

impl Matcher {
    /// A matcher with the process-wide kernel and LSS-R consolidation.
    pub fn new(params: MccParams) -> Self {
        Self::with_kernel(params, Kernel::active(), Consolidation::LssR)
    }

    /// A matcher with an explicit kernel and consolidation (benches, tests, eval).
    pub fn with_kernel(params: MccParams, kernel: Kernel, consolidation: Consolidation) -> Self {
        let inside: u32 = cells_inside_radius().iter().map(|w| w.count_ones()).sum();
        let min_area = (params.min_matchable_fraction * inside as f32).ceil() as u32;
        Self {
            relaxation: Relaxation::new(&params, kernel.wide()),
            params,
            kernel,
            consolidation,
            min_area,
            counts: Vec::new(),
            pairs: Vec::new(),
        }
    }

    /// The kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// The parameters in use.
    pub fn params(&self) -> &MccParams {
        &self.params
    }

    /// Similarity of two fingers in `[0, 1]`; higher is more alike.
    pub fn compare(&mut self, probe: &FingerTemplate, gallery: &FingerTemplate) -> f32 {
        if probe.is_empty() || gallery.is_empty() {
            return 0.0;
        }
        self.similarity_pairs(probe, gallery);
        let n_pairs = self.params.pairs_to_average(probe.len(), gallery.len());
        match self.consolidation {
            Consolidation::Lss => crate::consolidate::lss(&mut self.pairs, n_pairs),
            Consolidation::LssR => self.relaxation.score(&self.pairs, probe, gallery, n_pairs),
        }
    }

    /// Fills `self.pairs` with the cylinder pairs consolidation needs, among those
    /// whose directions differ by at most delta_theta (the template's direction
    /// window, which is the paper's |d_phi| <= delta_theta on the sorted angles):
    /// every pair of non-zero similarity for LSS; for LSS-R, each probe cylinder's
    /// best match.
    ///
    /// LSS-R's one-to-one assignment then keeps the best of those proposals, each
    /// gallery cylinder once; a probe cylinder whose best match went to a better pair
    /// is left out rather than paired with its second choice. Handing the assignment
    /// each row's best four instead gave the same mean EER on FVC2002 (2.76 %) for
    /// about a quarter more time per comparison (docs/benchmarks.md).
    fn similarity_pairs(&mut self, probe: &FingerTemplate, gallery: &FingerTemplate) {
        self.pairs.clear();
        if self.counts.len() < gallery.len() {
            self.counts.resize(gallery.len(), PairCounts::default());
        }
        // Probe cylinders come in increasing direction, so one forward sweep finds
        // every window.
        let mut sweep = gallery.direction_sweep(self.params.max_direction_difference);
        for (i, point) in probe.points().iter().enumerate() {
            let probe_bits = &probe.bits()[i * CYLINDER_WORDS..(i + 1) * CYLINDER_WORDS];
            let probe_mask = &probe.masks()[i * LAYER_WORDS..(i + 1) * LAYER_WORDS];
            let runs = sweep.window(point.angle);
            let mut filled = 0;
            for run in runs.iter().filter(|run| !run.is_empty()) {
                self.kernel.row(
                    probe_bits,
                    probe_mask,
                    &gallery.bits()[run.start * CYLINDER_WORDS..run.end * CYLINDER_WORDS],
                    &gallery.masks()[run.start * LAYER_WORDS..run.end * LAYER_WORDS],
                    &mut self.counts[filled..filled + run.len()],
                );
                filled += run.len();
            }
            // Position p of the row is gallery cylinder runs[0].start + p, or, past the
            // first run, runs[1].start + (p - runs[0].len()).
            let first_len = runs[0].len();
            let gallery_index = |p: usize| {
                (if p < first_len {
                    runs[0].start + p
                } else {
                    runs[1].start + p - first_len
                }) as u16
            };
            let counts = &self.counts[..filled];
            match self.consolidation {
                Consolidation::Lss => {
                    for (p, counts) in counts.iter().enumerate() {
                        let similarity = similarity(counts, self.min_area);
                        if similarity > 0.0 {
                            self.pairs.push(ScoredPair {
                                similarity,
                                probe: i as u16,
                                gallery: gallery_index(p),
                            });
                        }
                    }
                }
                Consolidation::LssR => {
                    if let Some((similarity, p)) = best_in_row(counts, self.min_area) {
                        self.pairs.push(ScoredPair {
                            similarity,
                            probe: i as u16,
                            gallery: gallery_index(p),
                        });
                    }
                }
            }
        }
    }
}

/// The row's largest positive similarity and its position (the first of equals), or
/// `None` when no pair of the row is similar at all.
///
/// A running maximum with selects rather than branches: whether a score beats the
/// best so far is close to random, and mispredictions would cost more than the work.
fn best_in_row(counts: &[PairCounts], min_area: u32) -> Option<(f32, usize)> {
    let mut best = (0f32, 0usize);
    for (p, counts) in counts.iter().enumerate() {
        let score = similarity(counts, min_area);
        best = if score > best.0 { (score, p) } else { best };
    }
    (best.0 > 0.0).then_some(best)
}

/// Cylinder similarity from the kernel's counts; 0 when the commonly valid area is too
/// small to be trusted or neither cylinder has a set cell there.
#[inline]
pub fn similarity(counts: &PairCounts, min_area: u32) -> f32 {
    let denominator = counts.diff + 2 * counts.both;
    if counts.area < min_area || denominator == 0 {
        return 0.0;
    }
    1.0 - counts.diff as f32 / denominator as f32
}

#[cfg(test)]
mod tests {
    use idauth_core::FingerPosition;

    use super::*;
    use crate::synthetic::{SeededRng, SyntheticFinger};

    #[test]
    fn best_in_row_is_the_largest_score_earliest_first() {
        let mut rng = SeededRng::new(3);
        for length in 0..40 {
            // Few distinct values, so that ties are common.
            let counts: Vec<PairCounts> = (0..length)
                .map(|_| PairCounts {
                    area: 150 + (rng.next_u64() % 100) as u32,
                    diff: (rng.next_u64() % 4) as u32 * 100,
                    both: (rng.next_u64() % 3) as u32 * 100,
                })
                .collect();
            let min_area = 180;
            let mut expected: Vec<(f32, usize)> = counts
                .iter()
                .enumerate()
                .map(|(p, c)| (similarity(c, min_area), p))
                .filter(|&(score, _)| score > 0.0)
                .collect();
            expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            assert_eq!(
                best_in_row(&counts, min_area),
                expected.first().copied(),
                "row of {length}"
            );
        }
    }

    #[test]
    fn every_kernel_gives_the_same_scores_bit_for_bit() {
        let params = MccParams::default();
        let mut rng = SeededRng::new(17);
        let mut templates = Vec::new();
        for minutiae in [12, 30, 45, 70] {
            let finger = SyntheticFinger::new(&mut rng, FingerPosition::RightIndex, minutiae);
            for impression in 1..=2 {
                templates.push(FingerTemplate::new(&finger.impression(impression), &params));
            }
        }
        for consolidation in [Consolidation::Lss, Consolidation::LssR] {
            let scores = |kernel: Kernel| -> Vec<u32> {
                let mut matcher = Matcher::with_kernel(params.clone(), kernel, consolidation);
                let mut scores = Vec::new();
                for a in &templates {
                    for b in &templates {
                        scores.push(matcher.compare(a, b).to_bits());
                    }
                }
                scores
            };
            let reference = scores(Kernel::Scalar);
            assert!(reference.iter().any(|&s| f32::from_bits(s) > 0.5));
            for kernel in Kernel::available() {
                assert_eq!(
                    scores(kernel),
                    reference,
                    "{} {consolidation:?}",
                    kernel.name()
                );
            }
        }
    }
}
