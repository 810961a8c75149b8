//! LSS-R: relaxation of the best one-to-one cylinder pairs.
//!
//! Each chosen pair's score is reinforced, five rounds, by the pairs that agree with it
//! geometrically: the distance between the two minutiae in each template (d1), the
//! rotation the two pairs imply (d2) and the radial angle of the segment joining them
//! (d3), each through a sigmoid (rho = Z1 Z2 Z3). The score is the mean relaxed score of
//! the n_P pairs whose score held up best (Cappelli, Ferrara, Maltoni 2010, eq. 17-20).

use crate::compare::ScoredPair;
use crate::fastmath::{atan2_upper, exp_clamped, wrap_angle};
use crate::mcc::{FingerTemplate, MccParams};

/// The relaxation step with its parameters and scratch buffers.
///
/// The chosen pairs are kept as a structure of arrays (positions, implied rotation) so
/// that each row of the compatibility matrix is one loop of plain arithmetic, which the
/// compiler vectorises; with libm `exp`/`atan2` per entry this step alone cost more
/// than the whole cylinder matrix.
#[derive(Debug, Clone)]
pub(crate) struct Relaxation {
    iterations: usize,
    weight: f32,
    /// Whether the AVX2 build of the compatibility rows may run.
    wide: bool,
    /// (mu, -tau) of the three compatibility sigmoids: distance, direction, radial.
    sigmoids: [(f32, f32); 3],
    chosen: Vec<ScoredPair>,
    keys: Vec<u32>,
    key_buffer: Vec<u32>,
    used_probe: Vec<bool>,
    used_gallery: Vec<bool>,
    probe_x: Vec<f32>,
    probe_y: Vec<f32>,
    gallery_x: Vec<f32>,
    gallery_y: Vec<f32>,
    rotation: Vec<f32>,
    rotation_cos: Vec<f32>,
    rotation_sin: Vec<f32>,
    compatibility: Vec<f32>,
    lambda: Vec<f32>,
    next: Vec<f32>,
    efficiency: Vec<(f32, f32)>,
}

impl Relaxation {
    pub(crate) fn new(params: &MccParams) -> Self {
        Self {
            iterations: params.relaxation_iterations,
            weight: params.relaxation_weight,
            wide: wide_rows_available(),
            sigmoids: [
                (params.rho_distance_mu, -params.rho_distance_tau),
                (params.rho_direction_mu, -params.rho_direction_tau),
                (params.rho_radial_mu, -params.rho_radial_tau),
            ],
            chosen: Vec::new(),
            keys: Vec::new(),
            key_buffer: Vec::new(),
            used_probe: Vec::new(),
            used_gallery: Vec::new(),
            probe_x: Vec::new(),
            probe_y: Vec::new(),
            gallery_x: Vec::new(),
            gallery_y: Vec::new(),
            rotation: Vec::new(),
            rotation_cos: Vec::new(),
            rotation_sin: Vec::new(),
            compatibility: Vec::new(),
            lambda: Vec::new(),
            next: Vec::new(),
            efficiency: Vec::new(),
        }
    }

    /// The LSS-R score of `pairs` (candidate cylinder pairs of the two templates).
    pub(crate) fn score(
        &mut self,
        pairs: &[ScoredPair],
        probe: &FingerTemplate,
        gallery: &FingerTemplate,
        n_pairs: usize,
    ) -> f32 {
        self.choose_pairs(pairs, probe.len(), gallery.len());
        let n = self.chosen.len();
        if n == 0 || n_pairs == 0 {
            return 0.0;
        }
        let stride = padded(n);
        self.fill_compatibility(probe, gallery);
        // Padding lanes hold zero so they add nothing to any support sum.
        self.lambda.clear();
        self.lambda.extend(self.chosen.iter().map(|p| p.similarity));
        self.lambda.resize(stride, 0.0);
        self.next.clear();
        self.next.resize(stride, 0.0);
        let spread = if n > 1 {
            (1.0 - self.weight) / (n - 1) as f32
        } else {
            0.0
        };
        for _ in 0..self.iterations {
            for t in 0..n {
                let support = dot(
                    &self.compatibility[t * stride..(t + 1) * stride],
                    &self.lambda,
                );
                self.next[t] = self.weight * self.lambda[t] + spread * support;
            }
            std::mem::swap(&mut self.lambda, &mut self.next);
        }
        self.lambda.truncate(n);
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
    /// Pairs are ordered through u32 keys (similarity quantised to 16 bits above the
    /// pair's index) by a stable two-pass radix sort on the similarity half, which is
    /// linear in the ~200 candidates; ties keep the (probe, gallery) order the pairs
    /// arrived in.
    fn choose_pairs(&mut self, pairs: &[ScoredPair], n_probe: usize, n_gallery: usize) {
        debug_assert!(pairs.len() <= usize::from(u16::MAX));
        self.used_probe.clear();
        self.used_probe.resize(n_probe, false);
        self.used_gallery.clear();
        self.used_gallery.resize(n_gallery, false);
        self.chosen.clear();
        self.keys.clear();
        self.keys
            .extend(pairs.iter().enumerate().map(|(index, pair)| {
                let quantised =
                    u16::MAX - (pair.similarity.clamp(0.0, 1.0) * f32::from(u16::MAX)) as u16;
                (u32::from(quantised) << 16) | index as u32
            }));
        radix_sort_by_upper_half(&mut self.keys, &mut self.key_buffer);
        let limit = n_probe.min(n_gallery);
        for key in &self.keys {
            let pair = pairs[(key & 0xffff) as usize];
            let (p, g) = (usize::from(pair.probe), usize::from(pair.gallery));
            if self.used_probe[p] || self.used_gallery[g] {
                continue;
            }
            self.used_probe[p] = true;
            self.used_gallery[g] = true;
            self.chosen.push(pair);
            if self.chosen.len() == limit {
                break;
            }
        }
    }

    /// rho(t, k) for every chosen pair t, k (zero on the diagonal).
    ///
    /// For pairs t = (a_t, b_t) and k = (a_k, b_k), with u = a_k - a_t and v = b_k - b_t
    /// the segments between their minutiae: d1 compares |u| and |v|; d2 compares the
    /// rotations the two pairs imply (theta_a - theta_b); d3 is the angle between u and
    /// v turned by pair t's rotation, which equals the paper's difference of radial
    /// angles d_phi(d_R(a_t, a_k), d_R(b_t, b_k)) without two atan2 per entry.
    ///
    /// Only k > t is computed and mirrored. The paper's d3 takes the direction of the
    /// first minutia, so rho(t, k) and rho(k, t) differ by turning v with pair t's or
    /// pair k's rotation; where those rotations differ enough to matter, the direction
    /// term Z2 is already ~0, so the mirror changes no score measurably and halves
    /// the work.
    fn fill_compatibility(&mut self, probe: &FingerTemplate, gallery: &FingerTemplate) {
        let n = self.chosen.len();
        let (probe_points, gallery_points) = (probe.points(), gallery.points());
        self.probe_x.clear();
        self.probe_y.clear();
        self.gallery_x.clear();
        self.gallery_y.clear();
        self.rotation.clear();
        self.rotation_cos.clear();
        self.rotation_sin.clear();
        let (probe_directions, gallery_directions) = (probe.directions(), gallery.directions());
        for pair in &self.chosen {
            let (a, b) = (
                probe_points[usize::from(pair.probe)],
                gallery_points[usize::from(pair.gallery)],
            );
            let ((ca, sa), (cb, sb)) = (
                probe_directions[usize::from(pair.probe)],
                gallery_directions[usize::from(pair.gallery)],
            );
            // cos and sin of (theta_a - theta_b) by the difference identities.
            self.rotation_cos.push(ca * cb + sa * sb);
            self.rotation_sin.push(sa * cb - ca * sb);
            self.probe_x.push(a.x);
            self.probe_y.push(a.y);
            self.gallery_x.push(b.x);
            self.gallery_y.push(b.y);
            self.rotation.push(a.angle - b.angle);
        }
        // Columns are padded to a whole number of vectors so that every row loop runs
        // in full vectors; padded entries are finite and meet only zero weights.
        let stride = padded(n);
        for column in [
            &mut self.probe_x,
            &mut self.probe_y,
            &mut self.gallery_x,
            &mut self.gallery_y,
            &mut self.rotation,
            &mut self.rotation_cos,
            &mut self.rotation_sin,
        ] {
            column.resize(stride, 0.0);
        }
        self.compatibility.clear();
        self.compatibility.resize(n * stride, 0.0);
        let columns = Columns {
            probe_x: &self.probe_x,
            probe_y: &self.probe_y,
            gallery_x: &self.gallery_x,
            gallery_y: &self.gallery_y,
            rotation: &self.rotation,
            rotation_cos: &self.rotation_cos,
            rotation_sin: &self.rotation_sin,
        };
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is set only when the CPU has AVX2 (see `Relaxation::new`).
            unsafe { fill_rows_avx2(&columns, n, self.sigmoids, &mut self.compatibility) };
            return;
        }
        fill_rows(&columns, n, self.sigmoids, &mut self.compatibility);
    }
}

/// The chosen pairs as parallel columns.
struct Columns<'a> {
    probe_x: &'a [f32],
    probe_y: &'a [f32],
    gallery_x: &'a [f32],
    gallery_y: &'a [f32],
    rotation: &'a [f32],
    rotation_cos: &'a [f32],
    rotation_sin: &'a [f32],
}

/// The compatibility rows compiled for AVX2, so the row loop runs eight lanes wide.
/// Rust never contracts `a * b + c` into a fused multiply-add, so the values are the
/// same as the baseline build's, bit for bit.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_rows_avx2(
    columns: &Columns<'_>,
    n: usize,
    sigmoids: [(f32, f32); 3],
    out: &mut [f32],
) {
    fill_rows(columns, n, sigmoids, out)
}

/// Lanes the compatibility rows are padded to.
const LANES: usize = 8;

/// `n` rounded up to a whole number of lanes.
fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// Fills the upper triangle of the `n` x `stride` compatibility matrix in whole
/// vectors (from the lane block holding the diagonal), then mirrors it.
#[inline(always)]
fn fill_rows(columns: &Columns<'_>, n: usize, sigmoids: [(f32, f32); 3], out: &mut [f32]) {
    let stride = columns.probe_x.len();
    debug_assert_eq!(stride, padded(n));
    let [(mu1, k1), (mu2, k2), (mu3, k3)] = sigmoids;
    for t in 0..n {
        let (ax, ay, bx, by, turn) = (
            columns.probe_x[t],
            columns.probe_y[t],
            columns.gallery_x[t],
            columns.gallery_y[t],
            columns.rotation[t],
        );
        let (sin, cos) = (columns.rotation_sin[t], columns.rotation_cos[t]);
        let from = (t + 1) / LANES * LANES;
        let row = &mut out[t * stride + from..(t + 1) * stride];
        let cells = row
            .iter_mut()
            .zip(&columns.probe_x[from..])
            .zip(&columns.probe_y[from..])
            .zip(&columns.gallery_x[from..])
            .zip(&columns.gallery_y[from..])
            .zip(&columns.rotation[from..]);
        for (((((rho, &pkx), &pky), &gkx), &gky), &turn_k) in cells {
            let (ux, uy) = (pkx - ax, pky - ay);
            let (vx, vy) = (gkx - bx, gky - by);
            let d1 = ((ux * ux + uy * uy).sqrt() - (vx * vx + vy * vy).sqrt()).abs();
            let d2 = wrap_angle(turn - turn_k).abs();
            let (wx, wy) = (cos * vx - sin * vy, sin * vx + cos * vy);
            let d3 = atan2_upper((wx * uy - wy * ux).abs(), ux * wx + uy * wy);
            let denominator = (1.0 + exp_clamped(k1 * (d1 - mu1)))
                * (1.0 + exp_clamped(k2 * (d2 - mu2)))
                * (1.0 + exp_clamped(k3 * (d3 - mu3)));
            *rho = 1.0 / denominator;
        }
    }
    for t in 0..n {
        out[t * stride + t] = 0.0;
        for k in (t + 1)..n {
            out[k * stride + t] = out[t * stride + k];
        }
    }
}

/// Stable LSD radix sort of `keys` by their upper 16 bits (two 8-bit passes).
fn radix_sort_by_upper_half(keys: &mut Vec<u32>, buffer: &mut Vec<u32>) {
    buffer.clear();
    buffer.resize(keys.len(), 0);
    for shift in [16u32, 24] {
        let mut offsets = [0usize; 256];
        for key in keys.iter() {
            offsets[((key >> shift) & 0xff) as usize] += 1;
        }
        let mut running = 0;
        for slot in offsets.iter_mut() {
            let count = *slot;
            *slot = running;
            running += count;
        }
        for &key in keys.iter() {
            let bucket = ((key >> shift) & 0xff) as usize;
            buffer[offsets[bucket]] = key;
            offsets[bucket] += 1;
        }
        std::mem::swap(keys, buffer);
    }
}

fn wide_rows_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Dot product of two slices whose length is a whole number of lanes, with eight
/// independent accumulators so the compiler keeps them in one vector register (a
/// single running sum would serialise on the add latency).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(a.len() == b.len() && a.len().is_multiple_of(LANES));
    let mut lanes = [0f32; LANES];
    let (a_chunks, _) = a.as_chunks::<LANES>();
    let (b_chunks, _) = b.as_chunks::<LANES>();
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for lane in 0..LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum()
}
