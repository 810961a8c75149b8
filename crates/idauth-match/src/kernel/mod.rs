//! The cylinder-similarity kernel: masked popcounts of one probe cylinder against a run
//! of gallery cylinders.
//!
//! [`scalar`] is the specification; each instruction set has its own module that must
//! give bit-identical [`PairCounts`] (the tests compare them over many lengths and
//! offsets). The path is chosen once per process by runtime CPU detection;
//! `IDAUTH_KERNEL=scalar` forces the reference (`avx2` / `avx512` ask for one path,
//! falling back to detection when the CPU lacks it).

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod scalar;

use std::sync::OnceLock;

use crate::mcc::params::{CYLINDER_WORDS, LAYER_WORDS};

/// The three popcounts one cylinder pair needs.
///
/// With `m` the commonly valid spatial cells: `area = |m|` (one layer),
/// `diff = |(a ^ b) & m|` and `both = |a & b|` over all angular sections. A cylinder's
/// bits are zero outside its own mask (see [`crate::mcc::BitCylinder`]), so
/// `a & b` already lies inside `m` and needs no masking: one operation fewer per
/// section on every path. The similarity `1 - |(a^b)&m| / (|a&m| + |b&m|)` follows
/// because `|a&m| + |b&m| = diff + 2 * both`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairCounts {
    /// Commonly valid spatial cells.
    pub area: u32,
    /// Cells set in exactly one of the two cylinders.
    pub diff: u32,
    /// Cells set in both cylinders (inside `m` for cylinders built by this crate).
    pub both: u32,
}

/// Which implementation of the kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The portable reference.
    Scalar,
    /// AVX2 nibble-table popcount.
    #[cfg(target_arch = "x86_64")]
    Avx2(avx2::Avx2),
    /// AVX-512 with VPOPCNTDQ.
    #[cfg(target_arch = "x86_64")]
    Avx512(avx512::Avx512),
}

/// Proof that the wide (AVX2) builds of the code around the kernel (cylinder
/// building, the relaxation) may run: taken from the [`Kernel`] chosen at start-up by
/// [`Kernel::wide`], so no call site detects CPU features again.
#[cfg(target_arch = "x86_64")]
pub type Wide = avx2::Avx2;

/// Proof that the wide builds may run; on this architecture there are none.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wide {}

/// Environment variable that overrides kernel detection.
pub const KERNEL_ENV: &str = "IDAUTH_KERNEL";

impl Kernel {
    /// The kernel this process uses, chosen (and logged) on first use.
    pub fn active() -> Kernel {
        static ACTIVE: OnceLock<Kernel> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let requested = std::env::var(KERNEL_ENV).ok();
            let kernel = Self::select(requested.as_deref());
            tracing::info!(
                kernel = kernel.name(),
                requested = requested.as_deref().unwrap_or("auto"),
                "similarity kernel selected"
            );
            kernel
        })
    }

    /// Resolves an `IDAUTH_KERNEL` value (`None`, `auto`, `scalar`, `avx2`, `avx512`).
    pub fn select(requested: Option<&str>) -> Kernel {
        match requested.map(str::trim) {
            Some("scalar") => Kernel::Scalar,
            #[cfg(target_arch = "x86_64")]
            Some("avx2") => Self::avx2().unwrap_or_else(|| {
                tracing::warn!("IDAUTH_KERNEL=avx2 but the CPU lacks AVX2; detecting instead");
                Self::detect()
            }),
            #[cfg(target_arch = "x86_64")]
            Some("avx512") => Self::avx512().unwrap_or_else(|| {
                tracing::warn!(
                    "IDAUTH_KERNEL=avx512 but the CPU lacks AVX-512 VPOPCNTDQ; detecting instead"
                );
                Self::detect()
            }),
            None | Some("" | "auto") => Self::detect(),
            Some(other) => {
                tracing::warn!(
                    value = other,
                    "unknown IDAUTH_KERNEL value; detecting instead"
                );
                Self::detect()
            }
        }
    }

    /// The wide-build token this kernel carries: `None` for the scalar reference, so
    /// that `IDAUTH_KERNEL=scalar` runs the portable build of everything.
    pub fn wide(self) -> Option<Wide> {
        match self {
            Kernel::Scalar => None,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(token) => Some(token),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(kernel) => Some(kernel.avx2()),
        }
    }

    /// The fastest kernel the CPU supports.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(kernel) = Self::avx512() {
                return kernel;
            }
            if let Some(kernel) = Self::avx2() {
                return kernel;
            }
        }
        Kernel::Scalar
    }

    /// The AVX2 kernel, if the CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    pub fn avx2() -> Option<Kernel> {
        avx2::Avx2::new().map(Kernel::Avx2)
    }

    /// The AVX-512 kernel, if the CPU has AVX-512F and VPOPCNTDQ.
    #[cfg(target_arch = "x86_64")]
    pub fn avx512() -> Option<Kernel> {
        avx512::Avx512::new().map(Kernel::Avx512)
    }

    /// Every kernel this CPU can run, reference first (for tests and benches).
    pub fn available() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        kernels.extend(Self::avx2().into_iter().chain(Self::avx512()));
        kernels
    }

    /// Short stable name for logs, metrics and operator status.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(_) => "avx2",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => "avx512",
        }
    }

    /// Counts one probe cylinder against `out.len()` consecutive gallery cylinders.
    ///
    /// # Panics
    /// When the slice lengths do not describe one probe cylinder and `out.len()` gallery
    /// cylinders.
    #[inline]
    pub fn row(
        &self,
        probe_bits: &[u64],
        probe_mask: &[u64],
        gallery_bits: &[u64],
        gallery_masks: &[u64],
        out: &mut [PairCounts],
    ) {
        assert_eq!(probe_bits.len(), CYLINDER_WORDS, "probe cylinder length");
        assert_eq!(probe_mask.len(), LAYER_WORDS, "probe mask length");
        assert_eq!(
            gallery_bits.len(),
            out.len() * CYLINDER_WORDS,
            "gallery cylinders length"
        );
        assert_eq!(
            gallery_masks.len(),
            out.len() * LAYER_WORDS,
            "gallery masks length"
        );
        match self {
            Kernel::Scalar => scalar::row(probe_bits, probe_mask, gallery_bits, gallery_masks, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(kernel) => {
                kernel.row(probe_bits, probe_mask, gallery_bits, gallery_masks, out)
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(kernel) => {
                kernel.row(probe_bits, probe_mask, gallery_bits, gallery_masks, out)
            }
        }
    }
}

#[cfg(test)]
mod tests;
