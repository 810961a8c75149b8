//! A finger template: the valid bit cylinders of one finger, sorted by minutia
//! direction, with the minutiae (positions, directions) behind them.

use std::f32::consts::TAU;

use idauth_core::FingerPosition;

use super::cylinder::{Point, build_cylinder};
use super::hull::ConvexHull;
use super::params::{CYLINDER_WORDS, LAYER_WORDS, MccParams, REFERENCE_PPI};
use crate::error::{MatchError, Result};
use crate::format::FingerMinutiae;

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
        let mut built: Vec<(Point, super::BitCylinder)> = (0..points.len())
            .filter_map(|i| build_cylinder(points, i, &hull, params).map(|c| (points[i], c)))
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
}

#[cfg(test)]
mod tests {
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
