//! Point-to-cell assignment over an R-tree of polygon bounding boxes.
//!
//! Built once per layer, then queried for every report and track point, so
//! the query path allocates nothing (rstar's iterators keep their stack
//! inline) and does the expensive work only for boxes that can matter.

use std::collections::HashMap;

use geo::{Coord, Intersects, LineString, Polygon};

use crate::metric::{origin_to_segment, LocalScale};
use crate::Cell;

mod tree;

use tree::{padded_box, point_box, Box32, Part, PartTree};

/// How far outside every cell a point may be and still be given the nearest
/// one: GPS error on a cheap phone in a street canyon is tens of metres.
pub const NEAR_LIMIT_M: f64 = 50.0;

/// Where a point falls, owning the cell code.
#[derive(Debug, Clone, PartialEq)]
pub enum Assignment {
    /// Inside the cell or on its boundary.
    Inside { code: String },
    /// Outside every cell, `distance_m` (≤ [`NEAR_LIMIT_M`]) from this one.
    Near { code: String, distance_m: f64 },
    /// Farther than [`NEAR_LIMIT_M`] from every cell, or not a valid position.
    Unassigned,
}

impl Assignment {
    pub fn code(&self) -> Option<&str> {
        match self {
            Assignment::Inside { code } | Assignment::Near { code, .. } => Some(code),
            Assignment::Unassigned => None,
        }
    }
}

/// Borrowing form of [`Assignment`], returned by [`GridIndex::locate`] for
/// callers that assign many points and do not need an owned code each time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AssignmentRef<'a> {
    Inside(&'a Cell),
    Near(&'a Cell, f64),
    Unassigned,
}

impl AssignmentRef<'_> {
    pub fn cell(&self) -> Option<&Cell> {
        match self {
            AssignmentRef::Inside(cell) | AssignmentRef::Near(cell, _) => Some(cell),
            AssignmentRef::Unassigned => None,
        }
    }
}

impl From<AssignmentRef<'_>> for Assignment {
    fn from(a: AssignmentRef<'_>) -> Self {
        match a {
            AssignmentRef::Inside(cell) => Assignment::Inside {
                code: cell.code.clone(),
            },
            AssignmentRef::Near(cell, distance_m) => Assignment::Near {
                code: cell.code.clone(),
                distance_m,
            },
            AssignmentRef::Unassigned => Assignment::Unassigned,
        }
    }
}

/// A grid layer ready for assignment. Immutable once built, so it can be
/// shared between threads behind an `Arc` without locking.
#[derive(Debug)]
pub struct GridIndex {
    cells: Vec<Cell>,
    /// Position of each cell in (area, code, input order): where cells
    /// overlap the lowest rank wins, so the smallest cell (a market square
    /// inside a block) takes the point, and a shared edge always resolves to
    /// the same cell.
    rank: Vec<usize>,
    tree: PartTree,
    by_code: HashMap<String, usize>,
}

impl GridIndex {
    /// Indexes the cells, keeping their order for [`GridIndex::cells`].
    pub fn new(cells: Vec<Cell>) -> Self {
        let mut order: Vec<usize> = (0..cells.len()).collect();
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&cells[a], &cells[b]);
            ca.area_m2
                .total_cmp(&cb.area_m2)
                .then_with(|| ca.code.cmp(&cb.code))
                .then(a.cmp(&b))
        });
        let mut rank = vec![0; cells.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }

        // With duplicate codes the first cell answers `cell(code)`.
        let mut by_code = HashMap::with_capacity(cells.len());
        for (i, c) in cells.iter().enumerate() {
            by_code.entry(c.code.clone()).or_insert(i);
        }

        GridIndex {
            tree: PartTree::new(&cells),
            cells,
            rank,
            by_code,
        }
    }

    /// The cell for a point given as WGS84 longitude and latitude.
    pub fn assign(&self, lon: f64, lat: f64) -> Assignment {
        self.locate(lon, lat).into()
    }

    /// Like [`GridIndex::assign`] without copying the code.
    pub fn locate(&self, lon: f64, lat: f64) -> AssignmentRef<'_> {
        // NaN fails both range checks.
        if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            return AssignmentRef::Unassigned;
        }
        if let Some(i) = self.containing(lon, lat) {
            return AssignmentRef::Inside(&self.cells[i]);
        }
        match self.nearest(lon, lat) {
            Some((i, d)) => AssignmentRef::Near(&self.cells[i], d),
            None => AssignmentRef::Unassigned,
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    pub fn cell(&self, code: &str) -> Option<&Cell> {
        self.by_code.get(code).map(|&i| &self.cells[i])
    }

    fn polygon(&self, part: &Part) -> &Polygon<f64> {
        &self.cells[part.cell as usize].geometry.0[part.polygon as usize]
    }

    /// The box (lower and upper corners, degrees, slightly padded) holding
    /// every cell; `None` for an empty layer. Track coverage clips segments
    /// to it so that a long jump across the world costs nothing.
    pub(crate) fn bounds(&self) -> Option<([f64; 2], [f64; 2])> {
        self.tree.bounds()
    }

    /// The best-ranked cell containing the point (boundary included), as an
    /// index into [`GridIndex::cells`]; no "near" fallback.
    pub(crate) fn containing(&self, lon: f64, lat: f64) -> Option<usize> {
        let at = Coord { x: lon, y: lat };
        let mut best: Option<usize> = None;
        self.tree.visit(&point_box(lon, lat), |part| {
            let cell = part.cell as usize;
            // The rank test is cheap; the polygon test is not.
            if best.is_some_and(|b| self.rank[cell] >= self.rank[b]) {
                return;
            }
            // geo's test uses robust predicates, so a point on a shared edge
            // is on the boundary of both cells, never of neither.
            if self.polygon(part).intersects(&at) {
                best = Some(cell);
            }
        });
        best
    }

    /// The nearest cell whose boundary is within [`NEAR_LIMIT_M`]; equal
    /// distances go to the better rank.
    fn nearest(&self, lon: f64, lat: f64) -> Option<(usize, f64)> {
        let scale = LocalScale::at(lat);
        let (dlon, dlat) = scale.degrees_for(NEAR_LIMIT_M);
        let search = padded_box([lon - dlon, lat - dlat], [lon + dlon, lat + dlat]);
        let mut best: Option<(usize, f64)> = None;
        self.tree.visit(&search, |part| {
            let bound = best.map_or(NEAR_LIMIT_M, |(_, d)| d);
            // The box is never farther than the polygon inside it.
            if box_distance(&part.envelope, lon, lat, scale) > bound {
                return;
            }
            let cell = part.cell as usize;
            let d = polygon_distance(self.polygon(part), lon, lat, scale);
            let better = match best {
                None => d <= NEAR_LIMIT_M,
                Some((b, bd)) => d < bd || (d == bd && self.rank[cell] < self.rank[b]),
            };
            if better {
                best = Some((cell, d));
            }
        });
        best
    }
}

/// Metres from the point to a bounding box (0 inside it).
fn box_distance(envelope: &Box32, lon: f64, lat: f64, s: LocalScale) -> f64 {
    let (lo, hi) = (envelope.lower(), envelope.upper());
    let dx = (f64::from(lo[0]) - lon)
        .max(lon - f64::from(hi[0]))
        .max(0.0)
        * s.kx;
    let dy = (f64::from(lo[1]) - lat)
        .max(lat - f64::from(hi[1]))
        .max(0.0)
        * s.ky;
    dx.hypot(dy)
}

/// Metres from the point to the nearest ring of the polygon, holes
/// included: a point in an unfilled hole is near the cell around it.
fn polygon_distance(polygon: &Polygon<f64>, lon: f64, lat: f64, s: LocalScale) -> f64 {
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .map(|ring| ring_distance(ring, lon, lat, s))
        .fold(f64::INFINITY, f64::min)
}

fn ring_distance(ring: &LineString<f64>, lon: f64, lat: f64, s: LocalScale) -> f64 {
    let local = |c: &Coord<f64>| [(c.x - lon) * s.kx, (c.y - lat) * s.ky];
    let mut coords = ring.0.iter();
    let Some(first) = coords.next() else {
        return f64::INFINITY;
    };
    let mut prev = local(first);
    let mut best = prev[0].hypot(prev[1]);
    for c in coords {
        let next = local(c);
        best = best.min(origin_to_segment(prev, next));
        prev = next;
    }
    best
}

#[cfg(test)]
mod tests;
