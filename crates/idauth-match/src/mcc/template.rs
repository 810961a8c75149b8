//! A finger template: the valid bit cylinders of one finger, sorted by minutia
//! direction, with the minutiae (positions, directions) behind them.

use std::f32::consts::TAU;

use idauth_core::FingerPosition;

use super::cylinder::{Point, build_cylinders};
use super::hull::ConvexHull;
use super::params::{CYLINDER_WORDS, LAYER_WORDS, MccParams, REFERENCE_PPI};
use crate::error::{MatchError, Result};
use crate::format::FingerMinutiae;
use crate::kernel::Kernel;

/// Everything the matcher needs about one finger, built once per enrolment or probe.
///
/// Cylinders are sorted by the direction of their minutia, so the cylinders a probe
/// cylinder may be compared with (directions within delta_theta) form one or two
/// contiguous runs and the kernel never branches on direction.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerTemplate {
    position: FingerPosition,
    /// Cylinder bits, `CYLINDER_WORDS` per cylinder.
    bits: Vec<u64>,
    /// Spatial validity masks, `LAYER_WORDS` per cylinder.
    masks: Vec<u64>,
    /// The minutiae behind the cylinders, in cylinder order.
    points: Vec<Point>,
    /// (cos, sin) of each minutia direction, in cylinder order, so that comparisons
    /// never call the trigonometric functions.
    directions: Vec<(f32, f32)>,
    /// Minutiae that survived the quality filter (cylinders or not).
    minutiae_used: usize,
}

impl FingerTemplate {
    /// Builds the template of one finger.
    pub fn new(finger: &FingerMinutiae, params: &MccParams) -> Self {
        let x_scale = REFERENCE_PPI / finger.x_ppi;
        let y_scale = REFERENCE_PPI / finger.y_ppi;
        let points: Vec<Point> = finger
            .minutiae
            .iter()
            .filter(|m| m.quality == 0 || m.quality >= params.min_minutia_quality)
            .map(|m| Point {
                x: f32::from(m.x) * x_scale,
                y: -f32::from(m.y) * y_scale,
                angle: m.angle.rem_euclid(TAU),
            })
            .collect();
        Self::from_points(finger.position, &points, params)
    }

    /// Builds a template from minutiae already at 500 ppi in the y-up frame.
    pub fn from_points(position: FingerPosition, points: &[Point], params: &MccParams) -> Self {
        let hull = ConvexHull::new(&points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>());
        // The wide build gives the same bits; the scalar reference asked for with
        // IDAUTH_KERNEL=scalar runs the portable one, like the rest of the matcher.
        let wide = Kernel::active().wide();
        let mut built: Vec<(Point, super::BitCylinder)> =
            build_cylinders(points, &hull, params, wide)
                .into_iter()
                .zip(points)
                .filter_map(|(cylinder, point)| cylinder.map(|c| (*point, c)))
                .collect();
        built.sort_by(|a, b| a.0.angle.total_cmp(&b.0.angle));

        let n = built.len();
        let mut template = Self {
            position,
            bits: Vec::with_capacity(n * CYLINDER_WORDS),
            masks: Vec::with_capacity(n * LAYER_WORDS),
            points: Vec::with_capacity(n),
            directions: Vec::with_capacity(n),
            minutiae_used: points.len(),
        };
        for (point, cylinder) in &built {
            template.bits.extend_from_slice(&cylinder.bits);
            template.masks.extend_from_slice(&cylinder.mask);
            template.points.push(*point);
            let (sin, cos) = point.angle.sin_cos();
            template.directions.push((cos, sin));
        }
        template
    }

    /// Fails with [`MatchError::TooSparse`] when fewer than `min_cylinders` are usable.
    pub fn ensure_usable(&self, min_cylinders: usize) -> Result<()> {
        if self.len() < min_cylinders {
            return Err(MatchError::TooSparse {
                usable: self.len(),
                needed: min_cylinders,
            });
        }
        Ok(())
    }

    /// Which finger this is.
    pub fn position(&self) -> FingerPosition {
        self.position
    }

    /// Number of valid cylinders.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when no cylinder survived the validity rules.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Minutiae that passed the quality filter.
    pub fn minutiae_used(&self) -> usize {
        self.minutiae_used
    }

    /// All cylinder bits, `CYLINDER_WORDS` words per cylinder.
    pub fn bits(&self) -> &[u64] {
        &self.bits
    }

    /// All spatial validity masks, `LAYER_WORDS` words per cylinder.
    pub fn masks(&self) -> &[u64] {
        &self.masks
    }

    /// The minutiae behind the cylinders (sorted by direction).
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// (cos, sin) of each minutia direction, in cylinder order.
    pub fn directions(&self) -> &[(f32, f32)] {
        &self.directions
    }

    /// Index range(s) of cylinders whose direction lies within `half_width` of `angle`
    /// (circularly): one run, or two when the window wraps past 2*pi.
    pub fn direction_window(&self, angle: f32, half_width: f32) -> [std::ops::Range<usize>; 2] {
        let n = self.len();
        if half_width >= std::f32::consts::PI {
            return [0..n, 0..0];
        }
        let lower = angle - half_width;
        let upper = angle + half_width;
        let first_at_least = |a: f32| self.points.partition_point(|p| p.angle < a);
        let first_above = |a: f32| self.points.partition_point(|p| p.angle <= a);
        if lower < 0.0 {
            [0..first_above(upper), first_at_least(lower + TAU)..n]
        } else if upper >= TAU {
            [first_at_least(lower)..n, 0..first_above(upper - TAU)]
        } else {
            [first_at_least(lower)..first_above(upper), 0..0]
        }
    }

    /// A sweep that answers [`Self::direction_window`] for angles given in increasing
    /// order (a probe template's own order) in amortised constant time per angle.
    pub fn direction_sweep(&self, half_width: f32) -> DirectionSweep<'_> {
        DirectionSweep {
            points: &self.points,
            half_width,
            last_angle: f32::NEG_INFINITY,
            cursors: [0; 4],
        }
    }
}

/// Successive direction windows over one template for increasing angles.
///
/// Each bound of the window (`angle - w`, `angle + w`, and each shifted by one turn
/// for the wrapped part) only grows as the angle grows, so each is a cursor that moves
/// forward through the sorted cylinders: a whole probe costs O(n + m) instead of four
/// binary searches per probe cylinder.
#[derive(Debug, Clone)]
pub struct DirectionSweep<'a> {
    points: &'a [super::Point],
    half_width: f32,
    last_angle: f32,
    /// First index at or above `lower`, above `upper`, at or above `lower + 2 pi`,
    /// above `upper - 2 pi`.
    cursors: [usize; 4],
}

/// Moves `cursor` past the points whose angle is `before` the bound; returns it.
fn advance(points: &[super::Point], cursor: &mut usize, before: impl Fn(f32) -> bool) -> usize {
    while *cursor < points.len() && before(points[*cursor].angle) {
        *cursor += 1;
    }
    *cursor
}

impl DirectionSweep<'_> {
    /// The same runs as [`FingerTemplate::direction_window`] for `angle`.
    ///
    /// # Panics
    /// In debug builds, when `angle` is smaller than the previous call's.
    pub fn window(&mut self, angle: f32) -> [std::ops::Range<usize>; 2] {
        debug_assert!(angle >= self.last_angle, "angles must not decrease");
        self.last_angle = angle;
        let n = self.points.len();
        if self.half_width >= std::f32::consts::PI {
            return [0..n, 0..0];
        }
        let (lower, upper) = (angle - self.half_width, angle + self.half_width);
        let points = self.points;
        let [
            at_least_lower,
            above_upper,
            at_least_lower_turned,
            above_upper_turned,
        ] = &mut self.cursors;
        if lower < 0.0 {
            let end = advance(points, above_upper, |a| a <= upper);
            let start = advance(points, at_least_lower_turned, |a| a < lower + TAU);
            [0..end, start..n]
        } else if upper >= TAU {
            let start = advance(points, at_least_lower, |a| a < lower);
            let end = advance(points, above_upper_turned, |a| a <= upper - TAU);
            [start..n, 0..end]
        } else {
            let start = advance(points, at_least_lower, |a| a < lower);
            let end = advance(points, above_upper, |a| a <= upper);
            [start..end, 0..0]
        }
    }
}

#[cfg(test)]
mod tests {
    use std::f32::consts::PI;

    use super::*;
    use crate::synthetic::{SeededRng, SyntheticFinger};

    #[test]
    fn cylinders_are_sorted_by_direction_and_windows_wrap() {
        let params = MccParams::default();
        let finger = SyntheticFinger::new(&mut SeededRng::new(5), FingerPosition::LeftIndex, 40);
        let template = FingerTemplate::new(&finger.impression(1), &params);
        let n = template.len();
        assert!(
            template
                .points()
                .windows(2)
                .all(|w| w[0].angle <= w[1].angle)
        );
        assert_eq!(template.bits().len(), n * CYLINDER_WORDS);
        // Every cylinder in the window, and only those, is within the half width.
        for centre in [0.05f32, 3.0, TAU - 0.05] {
            let runs = template.direction_window(centre, 1.0);
            let mut inside: Vec<usize> = runs.iter().flat_map(|r| r.clone()).collect();
            inside.sort_unstable();
            let expected: Vec<usize> = (0..n)
                .filter(|&i| {
                    let d = (template.points()[i].angle - centre).rem_euclid(TAU);
                    d <= 1.0 || d >= TAU - 1.0
                })
                .collect();
            assert_eq!(inside, expected, "window around {centre}");
        }
    }

    #[test]
    fn sweep_gives_the_same_windows_as_the_search() {
        let params = MccParams::default();
        let mut rng = SeededRng::new(11);
        for minutiae in [3, 12, 40, 70] {
            let gallery = FingerTemplate::new(
                &SyntheticFinger::new(&mut rng, FingerPosition::LeftIndex, minutiae).impression(1),
                &params,
            );
            let probe = FingerTemplate::new(
                &SyntheticFinger::new(&mut rng, FingerPosition::LeftIndex, minutiae).impression(2),
                &params,
            );
            for half_width in [0.0f32, 0.3, PI / 3.0, 3.0, PI] {
                let mut sweep = gallery.direction_sweep(half_width);
                // Probe angles, plus the edges of the circle and repeated angles.
                let mut angles: Vec<f32> = probe.points().iter().map(|p| p.angle).collect();
                angles.extend([0.0, 0.0, half_width, TAU - half_width, TAU - 1e-6]);
                angles.extend(gallery.points().iter().map(|p| p.angle));
                angles.sort_by(f32::total_cmp);
                for angle in angles {
                    assert_eq!(
                        sweep.window(angle),
                        gallery.direction_window(angle, half_width),
                        "angle {angle}, half width {half_width}, {minutiae} minutiae"
                    );
                }
            }
        }
    }

    #[test]
    fn sparse_fingers_are_refused_with_a_typed_error() {
        let params = MccParams::default();
        let lonely = [Point::new(0.0, 0.0, 0.0), Point::new(300.0, 0.0, 1.0)];
        let template = FingerTemplate::from_points(FingerPosition::RightThumb, &lonely, &params);
        assert!(template.is_empty());
        let err = template.ensure_usable(4).unwrap_err();
        assert_eq!(
            err,
            MatchError::TooSparse {
                usable: 0,
                needed: 4
            }
        );
        assert_eq!(err.code(), idauth_core::ErrorCode::TemplateTooSparse);
    }
}
