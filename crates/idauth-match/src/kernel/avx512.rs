//! AVX-512 kernel: a 1,536-bit cylinder is three 512-bit registers, `vpternlogq` fuses
//! the xor/and with the validity mask into one instruction, and VPOPCNTDQ counts bits
//! per 64-bit lane. The 256-bit spatial mask is broadcast to both halves of a register
//! because two angular sections share one register.

use std::arch::x86_64::*;

use super::PairCounts;
use crate::mcc::params::{CYLINDER_WORDS, LAYER_WORDS};

/// Words in one 512-bit register.
const ZMM_WORDS: usize = 8;
/// Registers per cylinder.
const ZMM_PER_CYLINDER: usize = CYLINDER_WORDS / ZMM_WORDS;

/// Proof that the CPU supports AVX-512F and AVX-512 VPOPCNTDQ (and AVX2, which every
/// such CPU has): only [`Avx512::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx512 {
    avx2: super::avx2::Avx2,
}

impl Avx512 {
    /// `Some` when the running CPU has AVX-512F, VPOPCNTDQ and AVX2.
    pub fn new() -> Option<Self> {
        let avx2 = super::avx2::Avx2::new()?;
        (std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vpopcntdq"))
        .then_some(Self { avx2 })
    }

    /// The AVX2 proof this one includes.
    pub fn avx2(self) -> super::avx2::Avx2 {
        self.avx2
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
        let (probe_parts, _) = probe_bits.as_chunks::<ZMM_WORDS>();
        let (probe_mask, _) = probe_mask.as_chunks::<LAYER_WORDS>();
        let (parts, _) = gallery_bits.as_chunks::<ZMM_WORDS>();
        let (masks, _) = gallery_masks.as_chunks::<LAYER_WORDS>();
        debug_assert_eq!(parts.len(), out.len() * ZMM_PER_CYLINDER);
        debug_assert_eq!(masks.len(), out.len());
        // SAFETY: an `Avx512` value exists only when the CPU has both features.
        unsafe { row_avx512(probe_parts, &probe_mask[0], parts, masks, out) }
    }
}

/// `vpternlogq` truth table of `(a ^ b) & mask` over (a, b, mask) = (0xF0, 0xCC, 0xAA).
const XOR_AND_MASK: i32 = 0x28;

/// The counts of one probe cylinder against each gallery cylinder.
///
/// # Safety
/// The CPU must support AVX-512F and VPOPCNTDQ.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn row_avx512(
    probe_parts: &[[u64; ZMM_WORDS]],
    probe_mask: &[u64; LAYER_WORDS],
    parts: &[[u64; ZMM_WORDS]],
    masks: &[[u64; LAYER_WORDS]],
    out: &mut [PairCounts],
) {
    let probe_mask = load_layer(probe_mask);
    let mut probe = [_mm512_setzero_si512(); ZMM_PER_CYLINDER];
    for (register, words) in probe.iter_mut().zip(probe_parts) {
        *register = load_part(words);
    }
    let gallery = parts.chunks_exact(ZMM_PER_CYLINDER).zip(masks);
    for (counts, (cylinder, mask)) in out.iter_mut().zip(gallery) {
        let common = _mm512_broadcast_i64x4(_mm256_and_si256(probe_mask, load_layer(mask)));
        let mut diff = _mm512_setzero_si512();
        let mut both = _mm512_setzero_si512();
        for (section, words) in probe.iter().zip(cylinder) {
            let other = load_part(words);
            diff = _mm512_add_epi64(
                diff,
                _mm512_popcnt_epi64(_mm512_ternarylogic_epi64::<XOR_AND_MASK>(
                    *section, other, common,
                )),
            );
            both = _mm512_add_epi64(both, _mm512_popcnt_epi64(_mm512_and_si512(*section, other)));
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

/// Loads eight words, unaligned.
#[target_feature(enable = "avx512f")]
#[inline]
fn load_part(words: &[u64; ZMM_WORDS]) -> __m512i {
    // SAFETY: the reference guarantees 64 readable bytes; `loadu` needs no alignment.
    unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
}

/// Loads four words, unaligned.
#[target_feature(enable = "avx512f")]
#[inline]
fn load_layer(words: &[u64; LAYER_WORDS]) -> __m256i {
    // SAFETY: the reference guarantees 32 readable bytes; `loadu` needs no alignment.
    unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
}
