//! From cylinder-pair similarities to one finger score.
//!
//! LSS (local similarity sort) averages the n_P best pair similarities. LSS-R (see
//! [`crate::relaxation`]) first takes one-to-one pairs (each probe cylinder's best
//! match, best first, each gallery cylinder once), then lets each pair's
//! score be reinforced by the pairs that agree with it geometrically, and averages the
//! n_P pairs whose score held up best (Cappelli et al. 2010, section 5).

use crate::compare::ScoredPair;

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
