//! AVX2 kernel: one 256-bit register holds a whole angular section (or the spatial
//! validity mask), and popcounts use the nibble-lookup method of Muła, Kurz and Lemire
//! ("Faster population counts using AVX2 instructions", 2016): `vpshufb` looks up the
//! bit count of each 4-bit half of every byte, and the byte counts are summed
//! horizontally once per pair with `vpsadbw`.
//!
//! The loop is bound by the number of vector operations, so each is counted:
//! - the nibble split is folded into the masks: the commonly valid cells are split
//!   once per pair into a low-nibble and a shifted high-nibble mask, and the probe
//!   once per row into its low and high nibbles, so `(a ^ b) & m` and `a & b` reach
//!   the lookup as nibbles in 7 operations per section instead of 9;
//! - the common area (256 bits, one count per pair) is counted with scalar `popcnt`
//!   on the integer units, which the vector loop leaves idle.
//!
//! Byte counters cannot overflow: a byte gathers at most 8 bits from each of the six
//! sections, 48 in all.

use std::arch::x86_64::*;

use super::PairCounts;
use crate::mcc::params::{ANGULAR_CELLS, CYLINDER_WORDS, LAYER_WORDS};

/// Proof that the CPU supports AVX2 and POPCNT: only [`Avx2::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// `Some` when the running CPU has AVX2 and POPCNT (every AVX2 CPU has both).
    pub fn new() -> Option<Self> {
        (std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt"))
            .then_some(Self { _private: () })
    }

    /// See [`super::Kernel::row`]; lengths are checked there.
    #[inline]
    pub fn row(
        self,
        probe_bits: &[u64],
        probe_mask: &[u64],
        gallery_bits: &[u64],
        gallery_masks: &[u64],
        out: &mut [PairCounts],
    ) {
        let (probe_sections, _) = probe_bits.as_chunks::<LAYER_WORDS>();
        let (probe_mask, _) = probe_mask.as_chunks::<LAYER_WORDS>();
        let (sections, _) = gallery_bits.as_chunks::<LAYER_WORDS>();
        let (masks, _) = gallery_masks.as_chunks::<LAYER_WORDS>();
        debug_assert_eq!(sections.len(), out.len() * ANGULAR_CELLS);
        debug_assert_eq!(masks.len(), out.len());
        // SAFETY: an `Avx2` value exists only when the CPU has AVX2 and POPCNT.
        unsafe { row_avx2(probe_sections, &probe_mask[0], sections, masks, out) }
    }
}

/// The counts of one probe cylinder against each gallery cylinder.
///
/// # Safety
/// The CPU must support AVX2 and POPCNT.
#[target_feature(enable = "avx2,popcnt")]
fn row_avx2(
    probe_sections: &[[u64; LAYER_WORDS]],
    probe_mask: &[u64; LAYER_WORDS],
    sections: &[[u64; LAYER_WORDS]],
    masks: &[[u64; LAYER_WORDS]],
    out: &mut [PairCounts],
) {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low_nibbles = _mm256_set1_epi8(0x0f);
    let high_nibbles = _mm256_set1_epi8(0xf0u8 as i8);
    let probe_mask_register = load(probe_mask);
    let mut probe = [_mm256_setzero_si256(); ANGULAR_CELLS];
    let mut probe_low = [_mm256_setzero_si256(); ANGULAR_CELLS];
    let mut probe_high = [_mm256_setzero_si256(); ANGULAR_CELLS];
    for (k, words) in probe_sections.iter().enumerate().take(ANGULAR_CELLS) {
        probe[k] = load(words);
        probe_low[k] = _mm256_and_si256(probe[k], low_nibbles);
        probe_high[k] = _mm256_and_si256(probe[k], high_nibbles);
    }
    let zero = _mm256_setzero_si256();
    let gallery = sections.chunks_exact(ANGULAR_CELLS).zip(masks);
    for (counts, (cylinder, mask)) in out.iter_mut().zip(gallery) {
        let area: u32 = (0..LAYER_WORDS)
            .map(|w| (probe_mask[w] & mask[w]).count_ones())
            .sum();
        let common = _mm256_and_si256(probe_mask_register, load(mask));
        let common_low = _mm256_and_si256(common, low_nibbles);
        let common_high = _mm256_and_si256(_mm256_srli_epi16::<4>(common), low_nibbles);
        let mut diff = zero;
        let mut both = zero;
        for k in 0..ANGULAR_CELLS {
            let other = load(&cylinder[k]);
            let x = _mm256_xor_si256(probe[k], other);
            let x_low = _mm256_and_si256(x, common_low);
            // A 16-bit shift carries the next byte's low nibble into this byte's high
            // nibble; the mask (low nibbles only) drops it.
            let x_high = _mm256_and_si256(_mm256_srli_epi16::<4>(x), common_high);
            let t_low = _mm256_and_si256(probe_low[k], other);
            // High nibbles only, so the shift carries in nothing but zeros.
            let t_high = _mm256_srli_epi16::<4>(_mm256_and_si256(probe_high[k], other));
            diff = _mm256_add_epi8(diff, _mm256_shuffle_epi8(table, x_low));
            diff = _mm256_add_epi8(diff, _mm256_shuffle_epi8(table, x_high));
            both = _mm256_add_epi8(both, _mm256_shuffle_epi8(table, t_low));
            both = _mm256_add_epi8(both, _mm256_shuffle_epi8(table, t_high));
        }
        // Each `vpsadbw` lane sum is below 2^16, so the two counts pack into one
        // 64-bit lane and one horizontal add serves both.
        let packed = _mm256_or_si256(
            _mm256_sad_epu8(diff, zero),
            _mm256_slli_epi64::<32>(_mm256_sad_epu8(both, zero)),
        );
        let halves = _mm_add_epi64(
            _mm256_castsi256_si128(packed),
            _mm256_extracti128_si256::<1>(packed),
        );
        let total = (_mm_cvtsi128_si64(halves) + _mm_extract_epi64::<1>(halves)) as u64;
        *counts = PairCounts {
            area,
            diff: (total & 0xffff_ffff) as u32,
            both: (total >> 32) as u32,
        };
    }
}

/// Loads four words, unaligned.
#[target_feature(enable = "avx2")]
#[inline]
fn load(words: &[u64; LAYER_WORDS]) -> __m256i {
    // SAFETY: the reference guarantees 32 readable bytes; `loadu` needs no alignment.
    unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
}

const _: () = assert!(CYLINDER_WORDS == ANGULAR_CELLS * LAYER_WORDS);
