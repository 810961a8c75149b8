//! From cylinder-pair similarities to one finger score.
//!
//! LSS (local similarity sort) averages the n_P best pair similarities. LSS-R first
//! takes the best one-to-one pairs, then lets each pair's score be reinforced by the
//! pairs that agree with it geometrically (distance, relative direction and radial
//! angle between the two minutiae of each template), five rounds, and averages the n_P
//! pairs whose score held up best (Cappelli et al. 2010, section 5).

use crate::compare::ScoredPair;
use crate::mcc::FingerTemplate;
use crate::mcc::params::{MccParams, sigmoid};

/// How pair similarities are consolidated into a finger score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consolidation {
    /// Local similarity sort: fast, less accurate.
    Lss,
    /// Local similarity sort with relaxation: the accurate default.
    LssR,
}

/// Mean of the `n_pairs` largest similarities (pairs may share minutiae).
pub(crate) fn lss(pairs: &mut [ScoredPair], n_pairs: usize) -> f32 {
    if pairs.is_empty() || n_pairs == 0 {
        return 0.0;
    }
    let n = n_pairs.min(pairs.len());
    if n < pairs.len() {
        pairs.select_nth_unstable_by(n - 1, |a, b| b.similarity.total_cmp(&a.similarity));
    }
    // The average is over n_P terms even when fewer pairs exist: few pairs is evidence
    // of a poor match, not a reason to trust them more.
    pairs[..n].iter().map(|p| p.similarity).sum::<f32>() / n_pairs as f32
}

/// Entries of the distance-compatibility table per pixel of distance difference.
const DISTANCE_STEPS_PER_PIXEL: f32 = 16.0;
/// Entries of the distance-compatibility table (covers 0..32 px; beyond, rho is 0).
const DISTANCE_ENTRIES: usize = 512;
/// Angle-compatibility tables are indexed by |difference| in binary angle units >> 3.
const ANGLE_SHIFT: u32 = 3;
const ANGLE_ENTRIES: usize = (32_768 >> ANGLE_SHIFT) + 1;

/// The relaxation step with its parameters, lookup tables and scratch buffers.
///
/// The three compatibility sigmoids are tabulated once: evaluating `exp` three times
/// for each of ~1,000 pair-of-pairs per comparison would cost more than the whole
/// cylinder matrix. Table steps (1/16 px, 2*pi/8192) are far below extraction noise.
#[derive(Debug, Clone)]
pub(crate) struct Relaxation {
    iterations: usize,
    weight: f32,
    distance_table: Vec<f32>,
    direction_table: Vec<f32>,
    radial_table: Vec<f32>,
    chosen: Vec<ScoredPair>,
    sorted: Vec<ScoredPair>,
    radix_buffer: Vec<ScoredPair>,
    used_probe: Vec<bool>,
    used_gallery: Vec<bool>,
    compatibility: Vec<f32>,
    lambda: Vec<f32>,
    next: Vec<f32>,
    efficiency: Vec<(f32, f32)>,
}

impl Relaxation {
    pub(crate) fn new(params: &MccParams) -> Self {
        let angle_table = |mu: f32, tau: f32| -> Vec<f32> {
            (0..ANGLE_ENTRIES)
                .map(|i| {
                    let radians = (i << ANGLE_SHIFT) as f32 * std::f32::consts::TAU / 65_536.0;
                    sigmoid(radians, mu, tau)
                })
                .collect()
        };
        Self {
            iterations: params.relaxation_iterations,
            weight: params.relaxation_weight,
            distance_table: (0..DISTANCE_ENTRIES)
                .map(|i| {
                    sigmoid(
                        i as f32 / DISTANCE_STEPS_PER_PIXEL,
                        params.rho_distance_mu,
                        params.rho_distance_tau,
                    )
                })
                .collect(),
            direction_table: angle_table(params.rho_direction_mu, params.rho_direction_tau),
            radial_table: angle_table(params.rho_radial_mu, params.rho_radial_tau),
            chosen: Vec::new(),
            sorted: Vec::new(),
            radix_buffer: Vec::new(),
            used_probe: Vec::new(),
            used_gallery: Vec::new(),
            compatibility: Vec::new(),
            lambda: Vec::new(),
            next: Vec::new(),
            efficiency: Vec::new(),
        }
    }

    pub(crate) fn score(
        &mut self,
        pairs: &mut [ScoredPair],
        probe: &FingerTemplate,
        gallery: &FingerTemplate,
        n_pairs: usize,
    ) -> f32 {
        self.choose_pairs(pairs, probe.len(), gallery.len());
        let n = self.chosen.len();
        if n == 0 || n_pairs == 0 {
            return 0.0;
        }
        self.fill_compatibility(probe, gallery);
        self.lambda.clear();
        self.lambda.extend(self.chosen.iter().map(|p| p.similarity));
        self.next.resize(n, 0.0);
        let spread = if n > 1 {
            (1.0 - self.weight) / (n - 1) as f32
        } else {
            0.0
        };
        for _ in 0..self.iterations {
            for t in 0..n {
                let support = dot(&self.compatibility[t * n..(t + 1) * n], &self.lambda);
                self.next[t] = self.weight * self.lambda[t] + spread * support;
            }
            std::mem::swap(&mut self.lambda, &mut self.next);
        }
        self.efficiency.clear();
        self.efficiency.extend(
            self.chosen
                .iter()
                .zip(&self.lambda)
                .map(|(pair, &lambda)| (lambda / pair.similarity, lambda)),
        );
        let take = n_pairs.min(n);
        if take < n {
            self.efficiency
                .select_nth_unstable_by(take - 1, |a, b| b.0.total_cmp(&a.0));
        }
        self.efficiency[..take].iter().map(|e| e.1).sum::<f32>() / n_pairs as f32
    }

    /// Greedy one-to-one assignment in decreasing similarity, up to min(nA, nB) pairs.
    ///
    /// The walk usually runs deep into the list (the last rows only have weak pairs
    /// left), so the whole list is ordered; a two-pass radix sort on the similarity
    /// quantised to 16 bits does that in linear time, several times faster than a
    /// comparison sort of ~1,000 pairs. Stability keeps ties in (probe, gallery) order.
    fn choose_pairs(&mut self, pairs: &mut [ScoredPair], n_probe: usize, n_gallery: usize) {
        self.used_probe.clear();
        self.used_probe.resize(n_probe, false);
        self.used_gallery.clear();
        self.used_gallery.resize(n_gallery, false);
        self.chosen.clear();
        let limit = n_probe.min(n_gallery);
        radix_sort_descending(pairs, &mut self.sorted, &mut self.radix_buffer);
        let sorted = std::mem::take(&mut self.sorted);
        self.walk(&sorted, limit);
        self.sorted = sorted;
    }

    /// Takes pairs whose minutiae are both unused; true once `limit` pairs are chosen.
    fn walk(&mut self, sorted: &[ScoredPair], limit: usize) -> bool {
        for pair in sorted {
            if self.chosen.len() == limit {
                return true;
            }
            let (p, g) = (usize::from(pair.probe), usize::from(pair.gallery));
            if self.used_probe[p] || self.used_gallery[g] {
                continue;
            }
            self.used_probe[p] = true;
            self.used_gallery[g] = true;
            self.chosen.push(*pair);
        }
        self.chosen.len() == limit
    }

    /// rho(t, k) for every chosen pair t, k (zero on the diagonal).
    fn fill_compatibility(&mut self, probe: &FingerTemplate, gallery: &FingerTemplate) {
        let n = self.chosen.len();
        self.compatibility.clear();
        self.compatibility.resize(n * n, 0.0);
        let (probe_angles, gallery_angles) = (probe.angle_units(), gallery.angle_units());
        for t in 0..n {
            let (at, bt) = (
                usize::from(self.chosen[t].probe),
                usize::from(self.chosen[t].gallery),
            );
            for k in (t + 1)..n {
                let (ak, bk) = (
                    usize::from(self.chosen[k].probe),
                    usize::from(self.chosen[k].gallery),
                );
                let d1 = (probe.distance(at, ak) - gallery.distance(bt, bk)).abs();
                let d1_index = (d1 * DISTANCE_STEPS_PER_PIXEL) as usize;
                if d1_index >= DISTANCE_ENTRIES {
                    continue;
                }
                // Wrapping u16 subtraction is the paper's d_phi in binary angle units.
                let relative_probe = probe_angles[at].wrapping_sub(probe_angles[ak]);
                let relative_gallery = gallery_angles[bt].wrapping_sub(gallery_angles[bk]);
                let d2 = relative_probe.wrapping_sub(relative_gallery) as i16;
                let radial_probe = probe_angles[at].wrapping_sub(probe.bearing_units(at, ak));
                let radial_gallery = gallery_angles[bt].wrapping_sub(gallery.bearing_units(bt, bk));
                let d3 = radial_probe.wrapping_sub(radial_gallery) as i16;
                let rho = self.distance_table[d1_index]
                    * self.direction_table[usize::from(d2.unsigned_abs()) >> ANGLE_SHIFT]
                    * self.radial_table[usize::from(d3.unsigned_abs()) >> ANGLE_SHIFT];
                self.compatibility[t * n + k] = rho;
                self.compatibility[k * n + t] = rho;
            }
        }
    }
}

/// Sorts `pairs` by similarity, largest first, into `out` (stable LSD radix sort on
/// the similarity quantised to 16 bits), using `buffer` as scratch.
fn radix_sort_descending(
    pairs: &[ScoredPair],
    out: &mut Vec<ScoredPair>,
    buffer: &mut Vec<ScoredPair>,
) {
    // Truncation rather than rounding: `round` is a libm call on baseline x86-64.
    let key =
        |p: &ScoredPair| u16::MAX - (p.similarity.clamp(0.0, 1.0) * f32::from(u16::MAX)) as u16;
    out.clear();
    out.extend_from_slice(pairs);
    buffer.clear();
    buffer.extend_from_slice(pairs);
    for shift in [0u32, 8] {
        let mut offsets = [0usize; 257];
        for p in out.iter() {
            offsets[usize::from((key(p) >> shift) as u8) + 1] += 1;
        }
        for i in 1..257 {
            offsets[i] += offsets[i - 1];
        }
        for p in out.iter() {
            let bucket = usize::from((key(p) >> shift) as u8);
            buffer[offsets[bucket]] = *p;
            offsets[bucket] += 1;
        }
        std::mem::swap(out, buffer);
    }
}

/// Dot product with eight independent accumulators, so the compiler can keep them in
/// one vector register (a single running sum would serialise on the add latency).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
