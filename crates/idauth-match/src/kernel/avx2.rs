//! AVX2 kernel: one 256-bit register holds a whole angular section (or the spatial
//! validity mask), and popcounts use the nibble-lookup method of Muła, Kurz and Lemire
//! ("Faster population counts using AVX2 instructions", 2016): `vpshufb` looks up the
//! bit count of each 4-bit half of every byte, and the byte counts are summed
//! horizontally once per pair with `vpsadbw`.
//!
//! Byte counters cannot overflow: a byte gathers at most 8 bits from each of the six
//! sections, 48 in all.

use std::arch::x86_64::*;

use super::PairCounts;
use crate::mcc::params::{ANGULAR_CELLS, CYLINDER_WORDS, LAYER_WORDS};

/// Proof that the CPU supports AVX2: only [`Avx2::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// `Some` when the running CPU has AVX2.
    pub fn new() -> Option<Self> {
        std::is_x86_feature_detected!("avx2").then_some(Self { _private: () })
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
        // SAFETY: an `Avx2` value exists only when the CPU has AVX2.
        unsafe { row_avx2(probe_sections, &probe_mask[0], sections, masks, out) }
    }
}

/// The counts of one probe cylinder against each gallery cylinder.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
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
    let probe_mask = load(probe_mask);
    let mut probe = [_mm256_setzero_si256(); ANGULAR_CELLS];
    for (register, words) in probe.iter_mut().zip(probe_sections) {
        *register = load(words);
    }
    let gallery = sections.chunks_exact(ANGULAR_CELLS).zip(masks);
    for (counts, (cylinder, mask)) in out.iter_mut().zip(gallery) {
        let common = _mm256_and_si256(probe_mask, load(mask));
        let mut diff = _mm256_setzero_si256();
        let mut both = _mm256_setzero_si256();
        for (section, words) in probe.iter().zip(cylinder) {
            let other = load(words);
            let x = _mm256_and_si256(_mm256_xor_si256(*section, other), common);
            let t = _mm256_and_si256(_mm256_and_si256(*section, other), common);
            diff = _mm256_add_epi8(diff, byte_popcount(x, table, low_nibbles));
            both = _mm256_add_epi8(both, byte_popcount(t, table, low_nibbles));
        }
        let area = byte_popcount(common, table, low_nibbles);
        // Each `vpsadbw` lane sum is below 2^16, so three of them pack into one 64-bit
        // lane and one horizontal add serves all three counts.
        let zero = _mm256_setzero_si256();
        let packed = _mm256_add_epi64(
            _mm256_add_epi64(
                _mm256_sad_epu8(diff, zero),
                _mm256_slli_epi64::<16>(_mm256_sad_epu8(both, zero)),
            ),
            _mm256_slli_epi64::<32>(_mm256_sad_epu8(area, zero)),
        );
        let halves = _mm_add_epi64(
            _mm256_castsi256_si128(packed),
            _mm256_extracti128_si256::<1>(packed),
        );
        let total = (_mm_cvtsi128_si64(halves) + _mm_extract_epi64::<1>(halves)) as u64;
        *counts = PairCounts {
            diff: (total & 0xffff) as u32,
            both: ((total >> 16) & 0xffff) as u32,
            area: ((total >> 32) & 0xffff) as u32,
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

/// Bit count of every byte of `v`.
#[target_feature(enable = "avx2")]
#[inline]
fn byte_popcount(v: __m256i, table: __m256i, low_nibbles: __m256i) -> __m256i {
    let low = _mm256_and_si256(v, low_nibbles);
    let high = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low_nibbles);
    _mm256_add_epi8(
        _mm256_shuffle_epi8(table, low),
        _mm256_shuffle_epi8(table, high),
    )
}

const _: () = assert!(CYLINDER_WORDS == ANGULAR_CELLS * LAYER_WORDS);
