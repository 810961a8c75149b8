//! AVX-512 kernel: a 1,536-bit cylinder is three 512-bit registers, `vpternlogq` fuses
//! the xor/and with the validity mask into one instruction, and VPOPCNTDQ counts bits
//! per 64-bit lane. The 256-bit spatial mask is broadcast to both halves of a register
//! because two angular sections share one register.

use std::arch::x86_64::*;

use super::PairCounts;
use crate::mcc::params::{CYLINDER_WORDS, LAYER_WORDS};

/// Proof that the CPU supports AVX-512F and AVX-512 VPOPCNTDQ: only
/// [`Avx512::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// `Some` when the running CPU has AVX-512F and VPOPCNTDQ.
    pub fn new() -> Option<Self> {
        (std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vpopcntdq"))
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
        debug_assert_eq!(gallery_bits.len(), out.len() * CYLINDER_WORDS);
        debug_assert_eq!(gallery_masks.len(), out.len() * LAYER_WORDS);
        // SAFETY: an `Avx512` value exists only when the CPU has both features, and
        // the slice lengths were checked by `Kernel::row`.
        unsafe { row_avx512(probe_bits, probe_mask, gallery_bits, gallery_masks, out) }
    }
}

/// `vpternlogq` truth tables over (a, b, mask) = (0xF0, 0xCC, 0xAA).
const XOR_AND_MASK: i32 = 0x28;
const AND_AND_MASK: i32 = 0x80;

/// # Safety
/// The CPU must support AVX-512F and VPOPCNTDQ; slice lengths as in
/// [`super::Kernel::row`].
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn row_avx512(
    probe_bits: &[u64],
    probe_mask: &[u64],
    gallery_bits: &[u64],
    gallery_masks: &[u64],
    out: &mut [PairCounts],
) {
    // SAFETY (all loads below): unaligned loads of 4 or 8 words inside slices whose
    // lengths the caller guarantees.
    let probe_mask = unsafe { _mm256_loadu_si256(probe_mask.as_ptr().cast()) };
    let probe = unsafe {
        [
            _mm512_loadu_si512(probe_bits.as_ptr().cast()),
            _mm512_loadu_si512(probe_bits.as_ptr().add(8).cast()),
            _mm512_loadu_si512(probe_bits.as_ptr().add(16).cast()),
        ]
    };
    for (j, counts) in out.iter_mut().enumerate() {
        let bits = unsafe { gallery_bits.as_ptr().add(j * CYLINDER_WORDS) };
        let mask =
            unsafe { _mm256_loadu_si256(gallery_masks.as_ptr().add(j * LAYER_WORDS).cast()) };
        let common = _mm512_broadcast_i64x4(_mm256_and_si256(probe_mask, mask));
        let mut diff = _mm512_setzero_si512();
        let mut both = _mm512_setzero_si512();
        for (k, section) in probe.iter().enumerate() {
            let other = unsafe { _mm512_loadu_si512(bits.add(8 * k).cast()) };
            diff = _mm512_add_epi64(
                diff,
                _mm512_popcnt_epi64(_mm512_ternarylogic_epi64::<XOR_AND_MASK>(
                    *section, other, common,
                )),
            );
            both = _mm512_add_epi64(
                both,
                _mm512_popcnt_epi64(_mm512_ternarylogic_epi64::<AND_AND_MASK>(
                    *section, other, common,
                )),
            );
        }
        // The mask was broadcast twice, so its popcount counts every cell twice; the
        // three sums stay below 2^16 and share one reduction.
        let area_twice = _mm512_popcnt_epi64(common);
        let packed = _mm512_add_epi64(
            _mm512_add_epi64(diff, _mm512_slli_epi64::<16>(both)),
            _mm512_slli_epi64::<31>(area_twice),
        );
        let total = _mm512_reduce_add_epi64(packed) as u64;
        *counts = PairCounts {
            diff: (total & 0xffff) as u32,
            both: ((total >> 16) & 0xffff) as u32,
            area: ((total >> 32) & 0xffff) as u32,
        };
    }
}
