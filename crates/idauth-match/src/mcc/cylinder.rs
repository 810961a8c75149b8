//! Building one MCC16b bit cylinder around a minutia.
//!
//! Layout of the 1,536 bits (24 words): angular section k (0..6) owns words
//! `4k..4k+4`; inside a section, spatial cell `(i, j)` (row i, column j of the 16 x 16
//! grid in the minutia's own frame) is bit `(16 i + j) % 64` of word `(16 i + j) / 64`.
//! Putting the angular index outermost makes the 256-bit validity mask of the spatial
//! cells line up with every section, which is what lets one AVX2 register hold it.

use std::f32::consts::{PI, TAU};

use super::hull::{CellGrid, ConvexHull};
use super::params::{
    ANGULAR_CELLS, CYLINDER_WORDS, LAYER_CELLS, LAYER_WORDS, MccParams, SPATIAL_CELLS,
};
use crate::fastmath::exp_clamped;
use crate::kernel::Wide;

/// A minutia rescaled to 500 ppi, in a y-up frame, with its direction in radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// x in pixels at 500 ppi.
    pub x: f32,
    /// y in pixels at 500 ppi, growing upwards so that angles are counter-clockwise.
    pub y: f32,
    /// Ridge direction in `[0, 2*pi)`.
    pub angle: f32,
}

impl Point {
    /// A point at (`x`, `y`) with direction `angle`.
    pub const fn new(x: f32, y: f32, angle: f32) -> Self {
        Self { x, y, angle }
    }
}

/// One cylinder's bits and the validity of its spatial cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitCylinder {
    /// The 1,536 cell bits; cells outside `mask` are always 0.
    pub bits: [u64; CYLINDER_WORDS],
    /// Validity of the 256 spatial cells, shared by every angular section.
    pub mask: [u64; LAYER_WORDS],
}

/// The angle difference d_phi(a, b) of the paper, normalised to `[-pi, pi)`.
pub fn angle_difference(a: f32, b: f32) -> f32 {
    let d = a - b;
    if d < -PI {
        d + TAU
    } else if d >= PI {
        d - TAU
    } else {
        d
    }
}

/// The cells whose centres lie within the cylinder radius; independent of the minutia.
pub const fn cells_inside_radius() -> [u64; LAYER_WORDS] {
    INSIDE_RADIUS
}

/// [`cells_inside_radius`], worked out at compile time. In half-cell units the centre
/// of cell (i, j) is at (2i + 1 - NS, 2j + 1 - NS) from the minutia and the radius is
/// NS, so the test is exact in integers and does not depend on R.
const INSIDE_RADIUS: [u64; LAYER_WORDS] = {
    let mut mask = [0u64; LAYER_WORDS];
    let n = SPATIAL_CELLS as i64;
    let mut cell = 0;
    while cell < LAYER_CELLS {
        let (u, v) = (
            2 * (cell / SPATIAL_CELLS) as i64 + 1 - n,
            2 * (cell % SPATIAL_CELLS) as i64 + 1 - n,
        );
        if u * u + v * v <= n * n {
            mask[cell / 64] |= 1 << (cell % 64);
        }
        cell += 1;
    }
    mask
};

/// Builds the cylinder of `points[index]`, or `None` when the paper's validity rules
/// (enough valid cells, enough neighbours) reject it.
pub fn build_cylinder(
    points: &[Point],
    index: usize,
    hull: &ConvexHull,
    params: &MccParams,
) -> Option<BitCylinder> {
    cylinder_of(points, index, hull, params)
}

/// [`build_cylinder`] for every point, in point order.
///
/// With the `wide` token (the CPU has AVX2), the same code compiled for AVX2 runs: its
/// loops over a row of 16 cells then take two vectors instead of four. The operations
/// are the same (Rust never contracts them into fused multiply-adds), so the bits are
/// the same.
pub fn build_cylinders(
    points: &[Point],
    hull: &ConvexHull,
    params: &MccParams,
    wide: Option<Wide>,
) -> Vec<Option<BitCylinder>> {
    #[cfg(target_arch = "x86_64")]
    if wide.is_some() {
        // SAFETY: the `Wide` token proves the CPU has AVX2.
        return unsafe { build_cylinders_avx2(points, hull, params) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = wide;
    (0..points.len())
        .map(|i| cylinder_of(points, i, hull, params))
        .collect()
}

/// [`build_cylinders`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn build_cylinders_avx2(
    points: &[Point],
    hull: &ConvexHull,
    params: &MccParams,
) -> Vec<Option<BitCylinder>> {
    (0..points.len())
        .map(|i| cylinder_of(points, i, hull, params))
        .collect()
}

/// The body of [`build_cylinder`], inlined into the portable and the AVX2 build.
#[inline(always)]
fn cylinder_of(
    points: &[Point],
    index: usize,
    hull: &ConvexHull,
    params: &MccParams,
) -> Option<BitCylinder> {
    let centre = points[index];
    let neighbour_reach = params.radius + 3.0 * params.sigma_spatial;
    let neighbours = points
        .iter()
        .enumerate()
        .filter(|&(t, p)| t != index && dist2(p, &centre) <= neighbour_reach * neighbour_reach)
        .count();
    if neighbours < params.min_neighbours {
        return None;
    }

    let inside = cells_inside_radius();
    let cell_size = params.cell_size();
    let half = SPATIAL_CELLS as f32 / 2.0;
    let (sin, cos) = centre.angle.sin_cos();
    let reach = 3.0 * params.sigma_spatial;
    let spatial_norm = 1.0 / (params.sigma_spatial * (TAU).sqrt());
    let spatial_denominator = 2.0 * params.sigma_spatial * params.sigma_spatial;
    let sector = TAU / ANGULAR_CELLS as f32;
    let erf_scale = 1.0 / (params.sigma_directional * std::f32::consts::SQRT_2);

    // The directional term depends only on the neighbour, never on the cell: work it
    // out once per neighbour near enough to reach any cell (R + 3 sigma_S).
    let mut near: Vec<(f32, f32, [f32; ANGULAR_CELLS])> = Vec::with_capacity(points.len());
    for (t, neighbour) in points.iter().enumerate() {
        if t == index || dist2(neighbour, &centre) > neighbour_reach * neighbour_reach {
            continue;
        }
        let direction = angle_difference(centre.angle, neighbour.angle);
        // Area of the directional Gaussian over each section's width: the difference
        // of erf at the section's two edges. The twelve erf are independent, so they
        // are worked out as one array (which the compiler vectorises).
        let mut edges = [0f32; 2 * ANGULAR_CELLS];
        for (k, pair) in edges.chunks_exact_mut(2).enumerate() {
            let section_centre = -PI + (k as f32 + 0.5) * sector;
            let alpha = angle_difference(section_centre, direction);
            pair[0] = (alpha + sector / 2.0) * erf_scale;
            pair[1] = (alpha - sector / 2.0) * erf_scale;
        }
        for edge in &mut edges {
            *edge = erf(*edge);
        }
        let mut areas = [0f32; ANGULAR_CELLS];
        for (area, pair) in areas.iter_mut().zip(edges.chunks_exact(2)) {
            *area = 0.5 * (pair[0] - pair[1]);
        }
        near.push((neighbour.x, neighbour.y, areas));
    }

    let mut cylinder = BitCylinder {
        bits: [0; CYLINDER_WORDS],
        mask: [0; LAYER_WORDS],
    };
    // Cell centres lie within R of the minutia: only the hull's edges near it matter.
    // Cell (i, j) is centred at offsets ((i + 0.5 - NS/2) * delta_S, (j + 0.5 - NS/2) *
    // delta_S) along and across the minutia direction.
    let first = (0.5 - half) * cell_size;
    let grid = CellGrid {
        origin: [
            centre.x + first * cos - first * sin,
            centre.y + first * sin + first * cos,
        ],
        step_i: [cell_size * cos, cell_size * sin],
        step_j: [-cell_size * sin, cell_size * cos],
    };
    let in_hull = hull
        .near([centre.x, centre.y], params.radius)
        .grid_mask(&grid, params.hull_margin);
    for (word, (inside, in_hull)) in cylinder.mask.iter_mut().zip(inside.iter().zip(in_hull)) {
        *word = inside & in_hull;
    }
    let valid_cells: u32 = cylinder.mask.iter().map(|w| w.count_ones()).sum();
    let inside_count: u32 = inside.iter().map(|w| w.count_ones()).sum();
    if (valid_cells as f32) < params.min_valid_fraction * inside_count as f32 {
        return None;
    }

    // Each neighbour reaches only the rows of cells within 3 sigma_S of it, and is
    // splatted onto those rows, whole rows at a time: a row's 16 weights (zero beyond
    // 3 sigma_S) are one vector loop, with no branch per cell. Cells outside the mask
    // collect sums too; their bits are cleared at the end. Neighbours are visited in
    // index order, so each cell sums its contributions in the same order as a per-cell
    // loop would.
    //
    // The spatial Gaussian of the squared distance (di^2 + dj^2) is the product of a
    // row factor and a column factor, so a neighbour needs one exponential per row and
    // per column rather than one per cell.
    //
    // Sums are kept section by section (`sums[k][cell]`), so each 64-cell word of a
    // section's bits is made from one run of 64 comparisons.
    let mut sums = [[0f32; SPATIAL_CELLS * SPATIAL_CELLS]; ANGULAR_CELLS];
    let reach_cells = reach / cell_size;
    let last = (SPATIAL_CELLS - 1) as f32;
    let cell_area = cell_size * cell_size;
    let reach2 = reach * reach;
    let exponent_scale = -cell_area / spatial_denominator;
    for (x, y, areas) in &near {
        let (dx, dy) = (x - centre.x, y - centre.y);
        // The neighbour in cell-index coordinates of this cylinder.
        let ci = (dx * cos + dy * sin) / cell_size + half - 0.5;
        let cj = (-dx * sin + dy * cos) / cell_size + half - 0.5;
        let (i_low, i_high) = (
            (ci - reach_cells).ceil().max(0.0),
            (ci + reach_cells).floor().min(last),
        );
        if i_low > i_high || cj + reach_cells < 0.0 || cj - reach_cells > last {
            continue;
        }
        let mut column_dj2 = [0f32; SPATIAL_CELLS];
        let mut column_factor = [0f32; SPATIAL_CELLS];
        for (j, (dj2, factor)) in column_dj2.iter_mut().zip(&mut column_factor).enumerate() {
            let dj = j as f32 - cj;
            *dj2 = dj * dj;
            *factor = spatial_norm * exp_clamped(*dj2 * exponent_scale);
        }
        for i in i_low as usize..=i_high as usize {
            let di = i as f32 - ci;
            let row_factor = exp_clamped(di * di * exponent_scale);
            let mut weights = [0f32; SPATIAL_CELLS];
            for (weight, (dj2, factor)) in weights
                .iter_mut()
                .zip(column_dj2.iter().zip(&column_factor))
            {
                let reached = (di * di + dj2) * cell_area <= reach2;
                *weight = if reached { row_factor * factor } else { 0.0 };
            }
            let row = i * SPATIAL_CELLS..(i + 1) * SPATIAL_CELLS;
            for (section, area) in sums.iter_mut().zip(areas) {
                for (sum, weight) in section[row.clone()].iter_mut().zip(&weights) {
                    *sum += weight * area;
                }
            }
        }
    }
    for (k, section) in sums.iter().enumerate() {
        for (word, cells) in section.chunks_exact(64).enumerate() {
            let mut bits = 0u64;
            for (bit, sum) in cells.iter().enumerate() {
                bits |= u64::from(*sum >= params.bit_threshold) << bit;
            }
            cylinder.bits[k * LAYER_WORDS + word] = bits & cylinder.mask[word];
        }
    }
    Some(cylinder)
}

fn dist2(a: &Point, b: &Point) -> f32 {
    (a.x - b.x).powi(2) + (a.y - b.y).powi(2)
}

/// Error function, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), which is
/// far finer than the bit threshold it feeds.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let sign = 1f32.copysign(x);
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_72 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    sign * (1.0 - poly * exp_clamped(-x * x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, expected) in [
            (0.0, 0.0),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (-1.0, -0.842_700_8),
        ] {
            assert!((erf(x) - expected).abs() < 1e-6, "erf({x})");
        }
    }

    #[test]
    fn angle_difference_wraps_into_half_open_range() {
        assert!((angle_difference(0.1, TAU - 0.1) - 0.2).abs() < 1e-5);
        assert!((angle_difference(TAU - 0.1, 0.1) + 0.2).abs() < 1e-5);
        assert_eq!(angle_difference(PI, 0.0), -PI);
    }

    #[test]
    fn radius_mask_is_the_cells_whose_centres_lie_within_the_radius() {
        let half = SPATIAL_CELLS as f32 / 2.0;
        for cell in 0..LAYER_CELLS {
            let (i, j) = (cell / SPATIAL_CELLS, cell % SPATIAL_CELLS);
            let (u, v) = (i as f32 + 0.5 - half, j as f32 + 0.5 - half);
            let inside = cells_inside_radius()[cell / 64] >> (cell % 64) & 1 == 1;
            assert_eq!(inside, u * u + v * v <= half * half, "cell ({i}, {j})");
        }
    }

    #[test]
    fn radius_mask_is_round_and_symmetric() {
        let count: u32 = cells_inside_radius().iter().map(|w| w.count_ones()).sum();
        // pi/4 of 256 cells, give or take the cells the circle cuts.
        assert!((190..=210).contains(&count), "{count}");
    }

    #[test]
    fn the_wide_build_gives_the_same_bits() {
        use crate::synthetic::{SeededRng, SyntheticFinger};
        let params = MccParams::default();
        let mut rng = SeededRng::new(23);
        for minutiae in [12, 30, 42, 80] {
            let finger =
                SyntheticFinger::new(&mut rng, idauth_core::FingerPosition::LeftThumb, minutiae)
                    .impression(1);
            let points: Vec<Point> = finger
                .minutiae
                .iter()
                .map(|m| Point::new(f32::from(m.x), -f32::from(m.y), m.angle))
                .collect();
            let hull = ConvexHull::new(&points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>());
            let portable = build_cylinders(&points, &hull, &params, None);
            assert!(portable.iter().any(Option::is_some));
            for kernel in crate::kernel::Kernel::available() {
                let built = build_cylinders(&points, &hull, &params, kernel.wide());
                assert_eq!(built, portable, "{}", kernel.name());
            }
        }
    }

    #[test]
    fn isolated_minutia_has_no_cylinder_and_a_crowded_one_has() {
        let params = MccParams::default();
        let lonely = [Point::new(0.0, 0.0, 0.0), Point::new(500.0, 500.0, 1.0)];
        let hull = ConvexHull::new(&lonely.map(|p| [p.x, p.y]));
        assert!(build_cylinder(&lonely, 0, &hull, &params).is_none());

        let mut grid = Vec::new();
        for gx in 0..7 {
            for gy in 0..7 {
                grid.push(Point::new(
                    gx as f32 * 30.0,
                    gy as f32 * 30.0,
                    (gx + gy) as f32 * 0.3 % TAU,
                ));
            }
        }
        let hull = ConvexHull::new(&grid.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>());
        let centre = grid
            .iter()
            .position(|p| p.x == 90.0 && p.y == 90.0)
            .unwrap();
        let cylinder =
            build_cylinder(&grid, centre, &hull, &params).expect("central cylinder is valid");
        for k in 0..ANGULAR_CELLS {
            for w in 0..LAYER_WORDS {
                assert_eq!(
                    cylinder.bits[k * LAYER_WORDS + w] & !cylinder.mask[w],
                    0,
                    "bit outside the valid cells"
                );
            }
        }
        assert!(cylinder.bits.iter().map(|w| w.count_ones()).sum::<u32>() > 0);
    }
}
