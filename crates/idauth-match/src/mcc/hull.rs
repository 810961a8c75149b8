//! The convex hull of a finger's minutiae, used to mark cylinder cells that fall on
//! the background (outside the hull enlarged by omega) as invalid.

/// A convex polygon (counter-clockwise) with a point test that tolerates a margin.
#[derive(Debug, Clone)]
pub struct ConvexHull {
    vertices: Vec<[f32; 2]>,
    /// Per edge (from vertex i to i + 1): its start and its unit inward normal, so a
    /// point's signed distance to the edge's line is one dot product.
    edges: Vec<([f32; 2], [f32; 2])>,
}

impl ConvexHull {
    /// Andrew's monotone chain; duplicate and collinear points are dropped.
    pub fn new(points: &[[f32; 2]]) -> Self {
        let mut sorted: Vec<[f32; 2]> = points.to_vec();
        sorted.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        sorted.dedup();
        if sorted.len() < 3 {
            return Self {
                vertices: sorted,
                edges: Vec::new(),
            };
        }
        let mut hull: Vec<[f32; 2]> = Vec::with_capacity(2 * sorted.len());
        for pass in 0..2 {
            let start = hull.len();
            let ordered: Box<dyn Iterator<Item = &[f32; 2]>> = if pass == 0 {
                Box::new(sorted.iter())
            } else {
                Box::new(sorted.iter().rev())
            };
            for &p in ordered {
                while hull.len() >= start + 2
                    && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
                {
                    hull.pop();
                }
                hull.push(p);
            }
            hull.pop();
        }
        let n = hull.len();
        let edges = (0..n)
            .map(|i| {
                let (a, b) = (hull[i], hull[(i + 1) % n]);
                let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                let length = (dx * dx + dy * dy).sqrt();
                (a, [-dy / length, dx / length])
            })
            .collect();
        Self {
            vertices: hull,
            edges,
        }
    }

    /// True when `p` is inside the hull or within `margin` of its boundary.
    pub fn contains_with_margin(&self, p: [f32; 2], margin: f32) -> bool {
        self.near(p, f32::INFINITY).contains_with_margin(p, margin)
    }

    /// The part of the hull that matters for points within `radius` of `centre`:
    /// an edge whose line is at least `radius` inside from `centre` keeps every such
    /// point on its inner side, so it can never decide the test and is left out.
    /// Interior minutiae keep no edge at all, which makes their cells' test free.
    pub fn near(&self, centre: [f32; 2], radius: f32) -> NearHull<'_> {
        let mut edges = Vec::with_capacity(self.edges.len());
        edges.extend((0..self.edges.len()).filter(|&i| self.signed_distance(i, centre) < radius));
        NearHull { hull: self, edges }
    }

    /// Signed distance of `p` to the line of edge `i`, positive inside.
    fn signed_distance(&self, i: usize, p: [f32; 2]) -> f32 {
        let (origin, normal) = self.edges[i];
        normal[0] * (p[0] - origin[0]) + normal[1] * (p[1] - origin[1])
    }
}

/// The edges of a hull that can matter around one point; see [`ConvexHull::near`].
#[derive(Debug, Clone)]
pub struct NearHull<'a> {
    hull: &'a ConvexHull,
    edges: Vec<usize>,
}

impl NearHull<'_> {
    /// True when `p` (within the radius given to [`ConvexHull::near`]) is inside the
    /// hull or within `margin` of its boundary.
    ///
    /// Inside when every edge's signed distance is non-negative; certainly outside when
    /// one is below `-margin` (the hull lies wholly beyond that edge's line); otherwise
    /// the nearest boundary point is on an edge the point lies outside of, and only
    /// those edges are measured exactly.
    pub fn contains_with_margin(&self, p: [f32; 2], margin: f32) -> bool {
        let vertices = &self.hull.vertices;
        let n = vertices.len();
        match n {
            0 => false,
            1 => dist2(p, vertices[0]) <= margin * margin,
            2 => segment_dist2(p, vertices[0], vertices[1]) <= margin * margin,
            _ => {
                let mut outside_any = false;
                for &i in &self.edges {
                    let signed = self.hull.signed_distance(i, p);
                    if signed < -margin {
                        return false;
                    }
                    outside_any |= signed < 0.0;
                }
                if !outside_any {
                    return true;
                }
                let margin2 = margin * margin;
                self.edges.iter().any(|&i| {
                    self.hull.signed_distance(i, p) < 0.0
                        && segment_dist2(p, vertices[i], vertices[(i + 1) % n]) <= margin2
                })
            }
        }
    }
}

/// Cell centres of a square grid: centre (i, j) = `origin + i * step_i + j * step_j`.
#[derive(Debug, Clone, Copy)]
pub struct CellGrid {
    /// Centre of cell (0, 0).
    pub origin: [f32; 2],
    /// Offset from one row of cells to the next.
    pub step_i: [f32; 2],
    /// Offset from one column of cells to the next.
    pub step_j: [f32; 2],
}

/// Cells per side of the grids [`NearHull::grid_mask`] tests.
const GRID: usize = 16;

impl NearHull<'_> {
    /// For every cell of a 16 x 16 grid, whether its centre passes
    /// [`Self::contains_with_margin`], as bit `16 i + j` of four words.
    ///
    /// The same test, organised for speed: a point's signed distance `s` to an edge's
    /// line and its position `t` along the edge are affine in (i, j), so each row is
    /// 16 lanes of multiply-adds per near edge with no branch, and the distance to the
    /// segment is `s^2 + (how far t falls outside [0, length])^2`, with no division.
    #[inline(always)]
    pub fn grid_mask(&self, grid: &CellGrid, margin: f32) -> [u64; GRID * GRID / 64] {
        let mut mask = [0u64; GRID * GRID / 64];
        let vertices = &self.hull.vertices;
        if vertices.len() < 3 {
            for cell in 0..GRID * GRID {
                let (i, j) = ((cell / GRID) as f32, (cell % GRID) as f32);
                let p = [
                    grid.origin[0] + i * grid.step_i[0] + j * grid.step_j[0],
                    grid.origin[1] + i * grid.step_i[1] + j * grid.step_j[1],
                ];
                mask[cell / 64] |= u64::from(self.contains_with_margin(p, margin)) << (cell % 64);
            }
            return mask;
        }
        let margin2 = margin * margin;
        for i in 0..GRID {
            let mut nearest = [f32::INFINITY; GRID];
            let mut close_outside = [false; GRID];
            for &e in &self.edges {
                let (origin, normal) = self.hull.edges[e];
                let next = vertices[(e + 1) % vertices.len()];
                let length = dist2(origin, next).sqrt();
                // The edge's direction is its inward normal turned clockwise.
                let direction = [normal[1], -normal[0]];
                let dot = |v: [f32; 2], w: [f32; 2]| v[0] * w[0] + v[1] * w[1];
                let row = [
                    grid.origin[0] + i as f32 * grid.step_i[0] - origin[0],
                    grid.origin[1] + i as f32 * grid.step_i[1] - origin[1],
                ];
                let (s_row, s_step) = (dot(row, normal), dot(grid.step_j, normal));
                let (t_row, t_step) = (dot(row, direction), dot(grid.step_j, direction));
                for j in 0..GRID {
                    let s = s_row + j as f32 * s_step;
                    let t = t_row + j as f32 * t_step;
                    let beyond = (-t).max(0.0) + (t - length).max(0.0);
                    nearest[j] = nearest[j].min(s);
                    close_outside[j] |= s < 0.0 && s * s + beyond * beyond <= margin2;
                }
            }
            for j in 0..GRID {
                let valid = nearest[j] >= -margin && (nearest[j] >= 0.0 || close_outside[j]);
                let cell = i * GRID + j;
                mask[cell / 64] |= u64::from(valid) << (cell % 64);
            }
        }
        mask
    }
}

fn cross(o: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

fn dist2(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

fn segment_dist2(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let ab = [b[0] - a[0], b[1] - a[1]];
    let len2 = ab[0] * ab[0] + ab[1] * ab[1];
    if len2 == 0.0 {
        return dist2(p, a);
    }
    let t = (((p[0] - a[0]) * ab[0] + (p[1] - a[1]) * ab[1]) / len2).clamp(0.0, 1.0);
    dist2(p, [a[0] + t * ab[0], a[1] + t * ab[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_hull_drops_interior_point_and_honours_margin() {
        let hull = ConvexHull::new(&[
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 10.0],
            [0.0, 10.0],
            [5.0, 5.0],
        ]);
        assert_eq!(hull.vertices.len(), 4);
        assert!(hull.contains_with_margin([5.0, 5.0], 0.0));
        assert!(!hull.contains_with_margin([15.0, 5.0], 4.9));
        assert!(hull.contains_with_margin([15.0, 5.0], 5.1));
        assert!(hull.contains_with_margin([-3.0, -4.0], 5.01));
        assert!(!hull.contains_with_margin([-3.0, -4.0], 4.99));
    }

    #[test]
    fn grid_mask_agrees_with_the_point_test() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = move |scale: f32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * scale
        };
        let mut disagreements = 0;
        let mut cells = 0;
        for points in [1usize, 2, 3, 8, 40] {
            let pts: Vec<[f32; 2]> = (0..points)
                .map(|_| [random(300.0), random(400.0)])
                .collect();
            let hull = ConvexHull::new(&pts);
            for _ in 0..20 {
                let centre = [random(400.0) - 50.0, random(500.0) - 50.0];
                let angle = random(std::f32::consts::TAU);
                let (sin, cos) = angle.sin_cos();
                let cell = 8.75;
                let grid = CellGrid {
                    origin: [
                        centre[0] - 7.5 * cell * cos + 7.5 * cell * sin,
                        centre[1] - 7.5 * cell * sin - 7.5 * cell * cos,
                    ],
                    step_i: [cell * cos, cell * sin],
                    step_j: [-cell * sin, cell * cos],
                };
                let near = hull.near(centre, 70.0 * 1.5);
                let mask = near.grid_mask(&grid, 50.0);
                for i in 0..16 {
                    for j in 0..16 {
                        let p = [
                            grid.origin[0] + i as f32 * grid.step_i[0] + j as f32 * grid.step_j[0],
                            grid.origin[1] + i as f32 * grid.step_i[1] + j as f32 * grid.step_j[1],
                        ];
                        let bit = 16 * i + j;
                        let got = mask[bit / 64] >> (bit % 64) & 1 == 1;
                        cells += 1;
                        disagreements += usize::from(got != hull.contains_with_margin(p, 50.0));
                    }
                }
            }
        }
        // The two compute the same distances in a different order of float
        // operations, so a centre within rounding of the margin may go either way.
        assert!(disagreements * 10_000 < cells, "{disagreements} of {cells}");
    }

    #[test]
    fn degenerate_hulls_use_distance_to_points_and_segments() {
        assert!(!ConvexHull::new(&[]).contains_with_margin([0.0, 0.0], 100.0));
        let point = ConvexHull::new(&[[1.0, 1.0]]);
        assert!(point.contains_with_margin([1.0, 3.0], 2.0));
        let segment = ConvexHull::new(&[[0.0, 0.0], [10.0, 0.0], [5.0, 0.0]]);
        assert!(segment.contains_with_margin([5.0, 3.0], 3.0));
        assert!(!segment.contains_with_margin([5.0, 3.0], 2.9));
    }
}
