//! The reference kernel: plain `u64` operations, written for clarity. Every other path
//! must produce exactly what this one produces.

use super::PairCounts;
use crate::mcc::params::{ANGULAR_CELLS, CYLINDER_WORDS, LAYER_WORDS};

/// Counts one probe cylinder against consecutive gallery cylinders (lengths checked by
/// [`super::Kernel::row`]).
pub fn row(
    probe_bits: &[u64],
    probe_mask: &[u64],
    gallery_bits: &[u64],
    gallery_masks: &[u64],
    out: &mut [PairCounts],
) {
    for (j, counts) in out.iter_mut().enumerate() {
        let bits = &gallery_bits[j * CYLINDER_WORDS..(j + 1) * CYLINDER_WORDS];
        let mask = &gallery_masks[j * LAYER_WORDS..(j + 1) * LAYER_WORDS];
        *counts = pair(probe_bits, probe_mask, bits, mask);
    }
}

/// The counts of one cylinder pair.
pub fn pair(a_bits: &[u64], a_mask: &[u64], b_bits: &[u64], b_mask: &[u64]) -> PairCounts {
    let mut counts = PairCounts::default();
    for w in 0..LAYER_WORDS {
        let common = a_mask[w] & b_mask[w];
        counts.area += common.count_ones();
        for k in 0..ANGULAR_CELLS {
            let (a, b) = (a_bits[k * LAYER_WORDS + w], b_bits[k * LAYER_WORDS + w]);
            counts.diff += ((a ^ b) & common).count_ones();
            counts.both += (a & b).count_ones();
        }
    }
    counts
}
