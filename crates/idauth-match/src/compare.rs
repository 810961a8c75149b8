//! One finger against another: the cylinder similarity matrix (through the SIMD
//! kernel) and its consolidation into one score (LSS or LSS-R).

use crate::consolidate::Consolidation;
use crate::kernel::{Kernel, PairCounts};
use crate::mcc::cylinder::cells_inside_radius;
use crate::mcc::params::{CYLINDER_WORDS, LAYER_WORDS};
use crate::mcc::{FingerTemplate, MccParams};
use crate::relaxation::Relaxation;

/// Pairs per probe cylinder handed to LSS-R. Its greedy one-to-one assignment takes a
/// probe cylinder's pair from the top of its row in all but rare cases, so keeping the
/// row's best few makes the assignment's sort tiny (a few hundred pairs, not a thousand)
/// without changing the chosen pairs in practice.
const ROW_CANDIDATES: usize = 4;

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
            relaxation: Relaxation::new(&params),
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

    /// Fills `self.pairs` with every cylinder pair of non-zero similarity whose
    /// directions differ by at most delta_theta (the template's direction window, which
    /// is the paper's |d_phi| <= delta_theta on the sorted angles).
    fn similarity_pairs(&mut self, probe: &FingerTemplate, gallery: &FingerTemplate) {
        self.pairs.clear();
        if self.counts.len() < gallery.len() {
            self.counts.resize(gallery.len(), PairCounts::default());
        }
        let max_turn = self.params.max_direction_difference;
        let keep_per_row = match self.consolidation {
            Consolidation::Lss => usize::MAX,
            Consolidation::LssR => ROW_CANDIDATES,
        };
        for (i, point) in probe.points().iter().enumerate() {
            let row_start = self.pairs.len();
            let probe_bits = &probe.bits()[i * CYLINDER_WORDS..(i + 1) * CYLINDER_WORDS];
            let probe_mask = &probe.masks()[i * LAYER_WORDS..(i + 1) * LAYER_WORDS];
            for run in gallery.direction_window(point.angle, max_turn) {
                if run.is_empty() {
                    continue;
                }
                let counts = &mut self.counts[..run.len()];
                self.kernel.row(
                    probe_bits,
                    probe_mask,
                    &gallery.bits()[run.start * CYLINDER_WORDS..run.end * CYLINDER_WORDS],
                    &gallery.masks()[run.start * LAYER_WORDS..run.end * LAYER_WORDS],
                    counts,
                );
                // Written unconditionally and kept only when non-zero: a data-dependent
                // branch here mispredicts on a large share of the ~1,000 pairs.
                let start = self.pairs.len();
                self.pairs.resize(
                    start + counts.len(),
                    ScoredPair {
                        similarity: 0.0,
                        probe: 0,
                        gallery: 0,
                    },
                );
                let mut kept = start;
                for (offset, c) in counts.iter().enumerate() {
                    let similarity = similarity(c, self.min_area);
                    self.pairs[kept] = ScoredPair {
                        similarity,
                        probe: i as u16,
                        gallery: (run.start + offset) as u16,
                    };
                    kept += usize::from(similarity > 0.0);
                }
                self.pairs.truncate(kept);
            }
            keep_best(&mut self.pairs[row_start..], keep_per_row);
            self.pairs
                .truncate(row_start + keep_per_row.min(self.pairs.len() - row_start));
        }
    }
}

/// Moves the `keep` most similar pairs of a short row to its front, best first (ties
/// keep row order). A few branch-free max scans beat a general selection on rows of a
/// dozen or two pairs.
fn keep_best(row: &mut [ScoredPair], keep: usize) {
    if row.len() <= keep {
        return;
    }
    for slot in 0..keep {
        let rest = &mut row[slot..];
        let (mut best, mut best_similarity) = (0, rest[0].similarity);
        for (index, pair) in rest.iter().enumerate().skip(1) {
            let better = pair.similarity > best_similarity;
            best = if better { index } else { best };
            best_similarity = if better {
                pair.similarity
            } else {
                best_similarity
            };
        }
        rest.swap(0, best);
    }
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
