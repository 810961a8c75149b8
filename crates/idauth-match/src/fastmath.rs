//! Branch-free approximations of `exp` and `atan2` for the relaxation's compatibility
//! matrix. Written with plain arithmetic and selects so the compiler vectorises the
//! loops that call them (libm calls cannot be vectorised and cost ~20 ns each; the
//! matrix needs ~1,500 of each per comparison).
//!
//! Accuracy: `exp` within 5e-6 relative on its clamped range; `atan2` within 1e-5 rad.
//! Both feed sigmoids whose steepest slope is 7.5 per radian, so the compatibility
//! values move by less than 1e-4.

use std::f32::consts::{FRAC_PI_2, LN_2, LOG2_E, PI, TAU};

/// Adding then subtracting 1.5 * 2^23 rounds an f32 of magnitude below 2^22 to the
/// nearest integer without `round` (a libm call on baseline x86-64).
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// Round to nearest integer, valid for |x| < 2^22.
#[inline(always)]
pub fn round_fast(x: f32) -> f32 {
    (x + ROUNDING_MAGIC) - ROUNDING_MAGIC
}

/// `exp(x)` for x clamped to `[-87, 28]` (the caller only needs ratios well inside).
#[inline(always)]
pub fn exp_clamped(x: f32) -> f32 {
    let x = x.clamp(-87.0, 28.0);
    let y = x * LOG2_E;
    let n = round_fast(y);
    let f = (y - n) * LN_2;
    // e^f for |f| <= ln2 / 2: Taylor to degree 6.
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // n is within [-126, 41] after the clamp; going through the integer part of the
    // rounded float with `to_int_unchecked` avoids the saturating-cast fix-up code
    // that keeps the loop from vectorising cleanly.
    // SAFETY: n is finite and within i32 range (see the clamp above).
    let exponent = unsafe { n.to_int_unchecked::<i32>() };
    let scale = f32::from_bits(((exponent + 127) as u32) << 23);
    p * scale
}

/// `atan2(y, x)` for `y >= 0`, in `[0, pi]`.
#[inline(always)]
pub fn atan2_upper(y: f32, x: f32) -> f32 {
    let ax = x.abs();
    let (small, large) = (ax.min(y), ax.max(y));
    let r = if large > 0.0 { small / large } else { 0.0 };
    let r2 = r * r;
    // Minimax polynomial for atan on [0, 1].
    let a = r
        * (0.999_977_26
            + r2 * (-0.332_623_47
                + r2 * (0.193_543_46
                    + r2 * (-0.116_432_87 + r2 * (0.052_653_32 + r2 * -0.011_721_2)))));
    let a = if y > ax { FRAC_PI_2 - a } else { a };
    if x < 0.0 { PI - a } else { a }
}

/// `x` wrapped into `[-pi, pi]` (valid for |x| below a few thousand turns).
#[inline(always)]
pub fn wrap_angle(x: f32) -> f32 {
    x - TAU * round_fast(x * (1.0 / TAU))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_libm_over_the_range() {
        let mut x = -80.0f32;
        while x <= 28.0 {
            let (got, want) = (exp_clamped(x), x.exp());
            assert!(
                ((got - want) / want).abs() < 5e-6,
                "exp({x}) = {got}, libm {want}"
            );
            x += 0.037;
        }
        assert_eq!(exp_clamped(1000.0), exp_clamped(28.0));
    }

    #[test]
    fn atan2_is_close_to_libm_on_the_upper_half_plane() {
        for i in 0..=2000 {
            let angle = PI * i as f32 / 2000.0;
            for radius in [0.5f32, 3.0, 200.0] {
                let (y, x) = (radius * angle.sin(), radius * angle.cos());
                let y = y.max(0.0);
                assert!(
                    (atan2_upper(y, x) - y.atan2(x)).abs() < 2e-5,
                    "atan2({y}, {x})"
                );
            }
        }
        assert_eq!(atan2_upper(0.0, 0.0), 0.0);
    }

    #[test]
    fn wrap_angle_lands_in_half_turn() {
        for i in -100..100 {
            let x = i as f32 * 0.77;
            let w = wrap_angle(x);
            assert!(w.abs() <= PI + 1e-5, "{x} -> {w}");
            assert!(((x - w) / TAU - round_fast((x - w) / TAU)).abs() < 1e-4);
        }
    }
}
