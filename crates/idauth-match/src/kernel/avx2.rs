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
        debug_assert_eq!(gallery_bits.len(), out.len() * CYLINDER_WORDS);
        debug_assert_eq!(gallery_masks.len(), out.len() * LAYER_WORDS);
        // SAFETY: an `Avx2` value exists only when the CPU has AVX2, and the slice
        // lengths were checked by `Kernel::row`.
        unsafe { row_avx2(probe_bits, probe_mask, gallery_bits, gallery_masks, out) }
    }
}

/// # Safety
/// The CPU must support AVX2; `probe_bits` must hold `CYLINDER_WORDS` words,
/// `probe_mask` `LAYER_WORDS`, and the gallery slices `out.len()` cylinders.
#[target_feature(enable = "avx2")]
unsafe fn row_avx2(
    probe_bits: &[u64],
    probe_mask: &[u64],
    gallery_bits: &[u64],
    gallery_masks: &[u64],
    out: &mut [PairCounts],
) {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low_nibbles = _mm256_set1_epi8(0x0f);
    // SAFETY (all loads below): unaligned loads of 4 words inside slices whose lengths
    // the caller guarantees.
    let probe_mask = unsafe { load(probe_mask.as_ptr()) };
    let mut probe = [_mm256_setzero_si256(); ANGULAR_CELLS];
    for (k, section) in probe.iter_mut().enumerate() {
        *section = unsafe { load(probe_bits.as_ptr().add(k * LAYER_WORDS)) };
    }
    for (j, counts) in out.iter_mut().enumerate() {
        let bits = unsafe { gallery_bits.as_ptr().add(j * CYLINDER_WORDS) };
        let common = _mm256_and_si256(probe_mask, unsafe {
            load(gallery_masks.as_ptr().add(j * LAYER_WORDS))
        });
        let mut diff = _mm256_setzero_si256();
        let mut both = _mm256_setzero_si256();
        for (k, section) in probe.iter().enumerate() {
            let other = unsafe { load(bits.add(k * LAYER_WORDS)) };
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

#[inline(always)]
unsafe fn load(ptr: *const u64) -> __m256i {
    // SAFETY: the caller passes a pointer to 4 readable words; loadu has no alignment
    // requirement.
    unsafe { _mm256_loadu_si256(ptr.cast()) }
}

/// Bit count of every byte of `v`.
#[inline(always)]
fn byte_popcount(v: __m256i, table: __m256i, low_nibbles: __m256i) -> __m256i {
    // SAFETY: these are plain register operations; the enclosing `#[target_feature]`
    // function guarantees AVX2 (inlined only there).
    unsafe {
        let low = _mm256_and_si256(v, low_nibbles);
        let high = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low_nibbles);
        _mm256_add_epi8(
            _mm256_shuffle_epi8(table, low),
            _mm256_shuffle_epi8(table, high),
        )
    }
}
