//! LSS-R: relaxation of the best one-to-one cylinder pairs.
//!
//! Each chosen pair's score is reinforced, five rounds, by the pairs that agree with it
//! geometrically: the distance between the two minutiae in each template (d1), the
//! rotation the two pairs imply (d2) and the radial angle of the segment joining them
//! (d3), each through a sigmoid (rho = Z1 Z2 Z3). The score is the mean relaxed score of
//! the n_P pairs whose score held up best (Cappelli, Ferrara, Maltoni 2010, eq. 17-20).

use crate::compare::ScoredPair;
use crate::fastmath::{atan2_upper, exp_clamped, wrap_angle};
use crate::kernel::Wide;
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
    /// Set when the AVX2 builds of the compatibility rows and the support step run.
    wide: Option<Wide>,
    /// (mu, -tau) of the three compatibility sigmoids: distance, direction, radial.
    sigmoids: [(f32, f32); 3],
    chosen: Vec<ScoredPair>,
    keys: Vec<u32>,
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
    support: Vec<f32>,
    efficiency: Vec<(f32, f32)>,
}

impl Relaxation {
    /// `wide` is `None` when the scalar reference was asked for
    /// (`IDAUTH_KERNEL=scalar`): the whole comparison then runs the portable build.
    /// Both builds give the same values bit for bit (the same operations, and Rust
    /// never contracts them into fused multiply-adds).
    pub(crate) fn new(params: &MccParams, wide: Option<Wide>) -> Self {
        Self {
            iterations: params.relaxation_iterations,
            weight: params.relaxation_weight,
            wide,
            sigmoids: [
                (params.rho_distance_mu, -params.rho_distance_tau),
                (params.rho_direction_mu, -params.rho_direction_tau),
                (params.rho_radial_mu, -params.rho_radial_tau),
            ],
            chosen: Vec::new(),
            keys: Vec::new(),
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
            support: Vec::new(),
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
        // Vectors may run up to a whole vector past the last pair.
        let stride = padded(n) + LANES;
        self.fill_compatibility(probe, gallery);
        // Padding lanes hold zero so they add nothing to any support sum.
        self.lambda.clear();
        self.lambda.extend(self.chosen.iter().map(|p| p.similarity));
        self.lambda.resize(stride, 0.0);
        self.next.clear();
        self.next.resize(stride, 0.0);
        self.support.clear();
        self.support.resize(stride, 0.0);
        let spread = if n > 1 {
            (1.0 - self.weight) / (n - 1) as f32
        } else {
            0.0
        };
        for _ in 0..self.iterations {
            let rows = Rows {
                upper: &self.compatibility,
                n,
            };
            #[cfg(target_arch = "x86_64")]
            if self.wide.is_some() {
                // SAFETY: the `Wide` token proves the CPU has AVX2.
                unsafe { rows.support_avx2(&self.lambda, &mut self.support) };
            } else {
                rows.support(&self.lambda, &mut self.support);
            }
            #[cfg(not(target_arch = "x86_64"))]
            rows.support(&self.lambda, &mut self.support);
            for t in 0..n {
                self.next[t] = self.weight * self.lambda[t] + spread * self.support[t];
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
    /// Pairs are ordered through u32 keys, the similarity quantised to 16 bits above
    /// the pair's index: keys are unique, so an unstable sort of a few dozen of them is
    /// deterministic, and ties keep the order the pairs arrived in (by probe cylinder).
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
        self.keys.sort_unstable();
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
    /// Only k > t is computed; rho(k, t) is taken to equal rho(t, k). The paper's d3
    /// takes the direction of the first minutia, so rho(t, k) and rho(k, t) differ by
    /// turning v with pair t's or pair k's rotation; where those rotations differ
    /// enough to matter, the direction term Z2 is already ~0, so the symmetry changes
    /// no score measurably and halves the work.
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
        // Columns are padded so that every row runs in whole vectors, up to one vector
        // past the last pair; padded entries are finite and meet only zero weights.
        let stride = padded(n) + LANES;
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
        self.compatibility.resize(triangle_len(n), 0.0);
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
        if self.wide.is_some() {
            // SAFETY: the `Wide` token proves the CPU has AVX2.
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

/// Entries of the packed triangle: row t holds pairs t+1.. in whole vectors.
fn triangle_len(n: usize) -> usize {
    (0..n).map(|t| row_len(n, t)).sum()
}

/// Entries of row t of the packed triangle (pairs t+1..n, rounded up to vectors).
fn row_len(n: usize, t: usize) -> usize {
    padded(n - t - 1)
}

/// Lanes the compatibility rows are padded to.
const LANES: usize = 8;

/// `n` rounded up to a whole number of lanes.
fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// Fills the packed strict upper triangle of the compatibility matrix: row t holds
/// rho(t, k) for k = t+1.. in whole vectors, rows one after another. Entries past the
/// last pair are finite and meet only zero weights.
#[inline(always)]
fn fill_rows(columns: &Columns<'_>, n: usize, sigmoids: [(f32, f32); 3], out: &mut [f32]) {
    debug_assert_eq!(columns.probe_x.len(), padded(n) + LANES);
    let mut offset = 0;
    for t in 0..n {
        let anchor = Anchor {
            ax: columns.probe_x[t],
            ay: columns.probe_y[t],
            bx: columns.gallery_x[t],
            by: columns.gallery_y[t],
            turn: columns.rotation[t],
            sin: columns.rotation_sin[t],
            cos: columns.rotation_cos[t],
            sigmoids,
        };
        let len = row_len(n, t);
        let row = &mut out[offset..offset + len];
        for (block, rho) in row.as_chunks_mut::<LANES>().0.iter_mut().enumerate() {
            anchor.fill(columns, t + 1 + block * LANES, rho);
        }
        offset += len;
    }
}

/// Pair t of a compatibility row, with the sigmoid parameters.
struct Anchor {
    ax: f32,
    ay: f32,
    bx: f32,
    by: f32,
    turn: f32,
    sin: f32,
    cos: f32,
    sigmoids: [(f32, f32); 3],
}

impl Anchor {
    /// rho(t, k) for the `L` pairs k from `at`.
    #[inline(always)]
    fn fill<const L: usize>(&self, columns: &Columns<'_>, at: usize, out: &mut [f32; L]) {
        let lanes = |column: &[f32]| -> [f32; L] {
            column[at..at + L]
                .try_into()
                .expect("columns are padded to whole vectors")
        };
        let (pkx, pky, gkx, gky, turn_k) = (
            lanes(columns.probe_x),
            lanes(columns.probe_y),
            lanes(columns.gallery_x),
            lanes(columns.gallery_y),
            lanes(columns.rotation),
        );
        let [(mu1, k1), (mu2, k2), (mu3, k3)] = self.sigmoids;
        for lane in 0..L {
            let (ux, uy) = (pkx[lane] - self.ax, pky[lane] - self.ay);
            let (vx, vy) = (gkx[lane] - self.bx, gky[lane] - self.by);
            let d1 = ((ux * ux + uy * uy).sqrt() - (vx * vx + vy * vy).sqrt()).abs();
            let d2 = wrap_angle(self.turn - turn_k[lane]).abs();
            let (wx, wy) = (self.cos * vx - self.sin * vy, self.sin * vx + self.cos * vy);
            let d3 = atan2_upper((wx * uy - wy * ux).abs(), ux * wx + uy * wy);
            let denominator = (1.0 + exp_clamped(k1 * (d1 - mu1)))
                * (1.0 + exp_clamped(k2 * (d2 - mu2)))
                * (1.0 + exp_clamped(k3 * (d3 - mu3)));
            out[lane] = 1.0 / denominator;
        }
    }
}

/// The packed strict upper triangle of the compatibility matrix (see [`fill_rows`]).
struct Rows<'a> {
    upper: &'a [f32],
    n: usize,
}

impl Rows<'_> {
    /// `support[t] = sum over k != t of rho(t, k) * lambda[k]` for every chosen pair.
    ///
    /// Row t of the upper triangle gives pair t its support from every later pair (a
    /// dot product) and gives every later pair its support from pair t (a scaled add
    /// into their sums), so each entry is read once per round. `lambda` is zero past
    /// the last pair; `support` past it is scratch.
    #[inline(always)]
    fn support(&self, lambda: &[f32], support: &mut [f32]) {
        support.fill(0.0);
        let mut offset = 0;
        for t in 0..self.n {
            let len = row_len(self.n, t);
            let (row, _) = self.upper[offset..offset + len].as_chunks::<LANES>();
            let (lambda_chunks, _) = lambda[t + 1..t + 1 + len].as_chunks::<LANES>();
            let (support_chunks, _) = support[t + 1..t + 1 + len].as_chunks_mut::<LANES>();
            let weight = lambda[t];
            let mut lanes = [0f32; LANES];
            for ((rho, lambda), sum) in row.iter().zip(lambda_chunks).zip(support_chunks) {
                for lane in 0..LANES {
                    lanes[lane] += rho[lane] * lambda[lane];
                    sum[lane] += rho[lane] * weight;
                }
            }
            support[t] += lanes.iter().sum::<f32>();
            offset += len;
        }
    }

    /// [`Self::support`] compiled for AVX2 (same values: no fused multiply-add).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn support_avx2(&self, lambda: &[f32], support: &mut [f32]) {
        self.support(lambda, support)
    }
}
