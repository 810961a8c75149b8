//! Every tunable number of the matcher, in one place.
//!
//! Defaults are the published MCC16b parameter set of Cappelli, Ferrara and Maltoni,
//! "Minutia Cylinder-Code: a new representation and matching technique for fingerprint
//! recognition", IEEE TPAMI 32(12), 2010 (tables 1 and 3), expressed at 500 pixels per
//! inch. Templates of other resolutions are rescaled to 500 ppi before any distance is
//! taken, so the pixel-valued parameters below never need per-sensor tuning.

use std::f32::consts::PI;

/// Spatial cells per side of a cylinder (NS). Fixed: it defines the bit layout.
pub const SPATIAL_CELLS: usize = 16;
/// Angular sections of a cylinder (ND). Fixed: it defines the bit layout.
pub const ANGULAR_CELLS: usize = 6;
/// Spatial cells in one cylinder layer (NS * NS).
pub const LAYER_CELLS: usize = SPATIAL_CELLS * SPATIAL_CELLS;
/// 64-bit words in one cylinder layer (256 bits).
pub const LAYER_WORDS: usize = LAYER_CELLS / 64;
/// 64-bit words in one bit cylinder (1,536 bits).
pub const CYLINDER_WORDS: usize = LAYER_WORDS * ANGULAR_CELLS;

/// The resolution every template is rescaled to before cylinders are built.
pub const REFERENCE_PPI: f32 = 500.0;

/// Parameters of cylinder creation, cylinder similarity and consolidation.
#[derive(Debug, Clone, PartialEq)]
pub struct MccParams {
    /// Cylinder radius R in pixels at 500 ppi (paper: 70).
    pub radius: f32,
    /// Standard deviation of the spatial Gaussian, sigma_S (paper: 28/3).
    pub sigma_spatial: f32,
    /// Standard deviation of the directional Gaussian, sigma_D (paper: 2*pi/9).
    pub sigma_directional: f32,
    /// Threshold that turns a cell's contribution into a bit, mu_psi (paper: 0.01).
    pub bit_threshold: f32,
    /// Enlargement of the minutiae convex hull that bounds valid cells, omega (paper: 50).
    pub hull_margin: f32,
    /// Minimum fraction of valid cells (of those inside the radius) for a valid
    /// cylinder, min_VC (paper: 0.75).
    pub min_valid_fraction: f32,
    /// Minimum neighbouring minutiae within R + 3 sigma_S for a valid cylinder,
    /// min_M (paper: 2).
    pub min_neighbours: usize,
    /// Minimum fraction of commonly valid cells (of those inside the radius) for two
    /// cylinders to be compared, min_ME (paper: 0.60).
    pub min_matchable_fraction: f32,
    /// Largest difference of minutia directions for two cylinders to be compared,
    /// delta_theta. The paper uses pi/2; we use pi/3. The bound covers finger rotation
    /// between two captures plus direction noise, and plain live-scan impressions taken
    /// at a counter rotate far less than 60 degrees. On the FVC2002 corpus pi/3 lowered
    /// the mean EER (2.98 % to 2.85 %) and cut the cylinder pairs to score by a third;
    /// a deployment that expects larger rotations should raise it.
    pub max_direction_difference: f32,
    /// Minutiae of lower quality (1..=100) than this are dropped before cylinders are
    /// built; 0 keeps every minutia. Quality 0 means "not reported" and is always kept.
    pub min_minutia_quality: u8,
    /// Fewest pairs averaged by the consolidation, min_nP (paper: 4).
    pub min_pairs: usize,
    /// Most pairs averaged by the consolidation, max_nP (paper: 12).
    pub max_pairs: usize,
    /// Sigmoid centre that picks n_P from the template sizes, mu_P (paper: 20).
    pub pairs_mu: f32,
    /// Sigmoid slope that picks n_P from the template sizes, tau_P (paper: 2/5).
    pub pairs_tau: f32,
    /// Relaxation iterations, n_rel (paper: 5).
    pub relaxation_iterations: usize,
    /// Weight of a pair's own previous score in each relaxation step, w_R (paper: 1/2).
    pub relaxation_weight: f32,
    /// Distance-compatibility sigmoid centre in pixels, mu_1 (paper: 5).
    pub rho_distance_mu: f32,
    /// Distance-compatibility sigmoid slope, tau_1 (paper: -8/5).
    pub rho_distance_tau: f32,
    /// Direction-compatibility sigmoid centre, mu_2 (paper: pi/12).
    pub rho_direction_mu: f32,
    /// Direction-compatibility sigmoid slope, tau_2 (paper: -30).
    pub rho_direction_tau: f32,
    /// Radial-angle-compatibility sigmoid centre, mu_3 (paper: pi/12).
    pub rho_radial_mu: f32,
    /// Radial-angle-compatibility sigmoid slope, tau_3 (paper: -30).
    pub rho_radial_tau: f32,
}

impl Default for MccParams {
    fn default() -> Self {
        Self {
            radius: 70.0,
            sigma_spatial: 28.0 / 3.0,
            sigma_directional: 2.0 * PI / 9.0,
            bit_threshold: 0.01,
            hull_margin: 50.0,
            min_valid_fraction: 0.75,
            min_neighbours: 2,
            min_matchable_fraction: 0.60,
            max_direction_difference: PI / 3.0,
            min_minutia_quality: 0,
            min_pairs: 4,
            max_pairs: 12,
            pairs_mu: 20.0,
            pairs_tau: 2.0 / 5.0,
            relaxation_iterations: 5,
            relaxation_weight: 0.5,
            rho_distance_mu: 5.0,
            rho_distance_tau: -8.0 / 5.0,
            rho_direction_mu: PI / 12.0,
            rho_direction_tau: -30.0,
            rho_radial_mu: PI / 12.0,
            rho_radial_tau: -30.0,
        }
    }
}

impl MccParams {
    /// Side of one spatial cell in pixels, delta_S = 2R / NS.
    pub fn cell_size(&self) -> f32 {
        2.0 * self.radius / SPATIAL_CELLS as f32
    }

    /// The number of best pairs the consolidation averages for templates of
    /// `n_a` and `n_b` cylinders (the paper's n_P).
    pub fn pairs_to_average(&self, n_a: usize, n_b: usize) -> usize {
        let n = n_a.min(n_b) as f32;
        let z = sigmoid(n, self.pairs_mu, self.pairs_tau);
        let spread = self.max_pairs.saturating_sub(self.min_pairs) as f32;
        self.min_pairs + (z * spread).round() as usize
    }
}

/// The paper's Z(v, mu, tau) = 1 / (1 + exp(-tau (v - mu))).
pub fn sigmoid(value: f32, mu: f32, tau: f32) -> f32 {
    1.0 / (1.0 + (-tau * (value - mu)).exp())
}
