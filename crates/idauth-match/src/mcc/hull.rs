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
    fn degenerate_hulls_use_distance_to_points_and_segments() {
        assert!(!ConvexHull::new(&[]).contains_with_margin([0.0, 0.0], 100.0));
        let point = ConvexHull::new(&[[1.0, 1.0]]);
        assert!(point.contains_with_margin([1.0, 3.0], 2.0));
        let segment = ConvexHull::new(&[[0.0, 0.0], [10.0, 0.0], [5.0, 0.0]]);
        assert!(segment.contains_with_margin([5.0, 3.0], 3.0));
        assert!(!segment.contains_with_margin([5.0, 3.0], 2.9));
    }
}
