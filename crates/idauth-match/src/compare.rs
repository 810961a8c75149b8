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
    row_scores: Vec<f32>,
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
            row_scores: Vec::new(),
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
            self.row_scores.resize(gallery.len(), 0.0);
        }
        let max_turn = self.params.max_direction_difference;
        for (i, point) in probe.points().iter().enumerate() {
            let probe_bits = &probe.bits()[i * CYLINDER_WORDS..(i + 1) * CYLINDER_WORDS];
            let probe_mask = &probe.masks()[i * LAYER_WORDS..(i + 1) * LAYER_WORDS];
            let runs = gallery.direction_window(point.angle, max_turn);
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
            let scores = &mut self.row_scores[..filled];
            for (score, counts) in scores.iter_mut().zip(&self.counts[..filled]) {
                *score = similarity(counts, self.min_area);
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
            match self.consolidation {
                Consolidation::Lss => {
                    for (p, &similarity) in scores.iter().enumerate() {
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
                    for _ in 0..ROW_CANDIDATES {
                        let Some((p, similarity)) = take_best(scores) else {
                            break;
                        };
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

/// Removes the largest positive score of the row (first of equals) and returns its
/// position and value; `None` when no positive score is left. Rows hold a dozen or two
/// scores: the maximum is found lane-wise (vectorised), then its first position.
fn take_best(scores: &mut [f32]) -> Option<(usize, f32)> {
    let mut lanes = [0f32; 8];
    let chunks = scores.chunks_exact(8);
    let tail = chunks.remainder().iter().copied().fold(0f32, f32::max);
    for chunk in chunks {
        for (lane, &score) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(score);
        }
    }
    let best_score = lanes.iter().copied().fold(tail, f32::max);
    if best_score <= 0.0 {
        return None;
    }
    let best = scores.iter().position(|&score| score == best_score)?;
    scores[best] = 0.0;
    Some((best, best_score))
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
