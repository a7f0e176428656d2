//! The R-tree over cell polygons' bounding boxes.
//!
//! Assignment speed is bound by cache misses while walking the tree, not by
//! arithmetic, so entries are kept small: boxes are stored as `f32` padded
//! outwards (a box is only a filter; the exact test runs on the `f64`
//! polygon afterwards) and indices as `u32`.

use std::ops::ControlFlow;

use geo::BoundingRect;
use rstar::{RStarInsertionStrategy, RTree, RTreeObject, RTreeParams, AABB};

use crate::Cell;

pub(super) type Box32 = AABB<[f32; 2]>;

/// Padding in degrees (~4 m) added around every box before rounding to
/// `f32`. An `f32` step near ±180° is 1.5e-5°, so rounding a padded box
/// and a query point can never move the point out of its box.
const PAD_DEG: f64 = 4e-5;

/// One polygon of one cell. A MultiPolygon gets one entry per part, so two
/// distant parts do not make one huge box.
#[derive(Debug, Clone)]
pub(super) struct Part {
    pub envelope: Box32,
    pub cell: u32,
    pub polygon: u32,
}

impl RTreeObject for Part {
    type Envelope = Box32;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// rstar's default node size, spelled out because it was measured: 4, 10
/// and 16 were no faster on a 10,000-cell grid (within run-to-run noise).
#[derive(Debug)]
pub(super) struct TreeParams;

impl RTreeParams for TreeParams {
    const MIN_SIZE: usize = 3;
    const MAX_SIZE: usize = 6;
    const REINSERTION_COUNT: usize = 2;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

#[derive(Debug)]
pub(super) struct PartTree(RTree<Part, TreeParams>);

impl PartTree {
    /// Polygons with no finite bounding box cannot contain any valid point
    /// and are left out rather than upsetting the tree's ordering.
    pub fn new(cells: &[Cell]) -> Self {
        let mut parts = Vec::with_capacity(cells.len());
        for (cell, c) in cells.iter().enumerate() {
            for (polygon, p) in c.geometry.iter().enumerate() {
                let Some(rect) = p.bounding_rect() else {
                    continue;
                };
                let (lo, hi) = (rect.min(), rect.max());
                if ![lo.x, lo.y, hi.x, hi.y].iter().all(|v| v.is_finite()) {
                    continue;
                }
                parts.push(Part {
                    envelope: padded_box([lo.x, lo.y], [hi.x, hi.y]),
                    cell: u32::try_from(cell).expect("fewer than 2^32 cells"),
                    polygon: u32::try_from(polygon).expect("fewer than 2^32 polygons in a cell"),
                });
            }
        }
        PartTree(RTree::bulk_load_with_params(parts))
    }

    /// Calls `f` for every part whose box touches `envelope`. rstar's
    /// internal iteration recurses on the call stack and never allocates;
    /// its external iterator keeps a 24-entry inline stack that can spill to
    /// the heap, and measured ~15 % slower here.
    pub fn visit<'a>(&'a self, envelope: &Box32, mut f: impl FnMut(&'a Part)) {
        let _: ControlFlow<()> = self
            .0
            .locate_in_envelope_intersecting_int(envelope, |part| {
                f(part);
                ControlFlow::Continue(())
            });
    }
}

impl PartTree {
    /// Corners of the box around every part, `None` when there are none.
    pub fn bounds(&self) -> Option<([f64; 2], [f64; 2])> {
        if self.0.size() == 0 {
            return None;
        }
        let env = self.0.root().envelope();
        let (lo, hi) = (env.lower(), env.upper());
        Some((
            [f64::from(lo[0]), f64::from(lo[1])],
            [f64::from(hi[0]), f64::from(hi[1])],
        ))
    }
}

/// A box holding `lo`..`hi` after padding and rounding to `f32`.
pub(super) fn padded_box(lo: [f64; 2], hi: [f64; 2]) -> Box32 {
    let f = |v: f64| v as f32;
    AABB::from_corners(
        [f(lo[0] - PAD_DEG), f(lo[1] - PAD_DEG)],
        [f(hi[0] + PAD_DEG), f(hi[1] + PAD_DEG)],
    )
}

/// The query box of a single point.
pub(super) fn point_box(lon: f64, lat: f64) -> Box32 {
    AABB::from_point([lon as f32, lat as f32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstar::Envelope;

    #[test]
    fn rounding_never_moves_a_point_out_of_its_box() {
        // Boxes whose edges sit exactly on the point, at the worst-rounded
        // longitudes, still contain it after both go to f32.
        for lon in [
            -180.0,
            -179.999_999_9,
            0.1,
            111.682_000_1,
            179.999_999_9,
            180.0,
        ] {
            for lat in [-90.0, -0.000_000_1, 40.826_500_1, 89.999_999_9] {
                let point = point_box(lon, lat);
                for b in [
                    padded_box([lon, lat], [lon, lat]),
                    padded_box([lon - 1.0, lat], [lon, lat + 1.0]),
                ] {
                    assert!(b.contains_envelope(&point), "{lon} {lat}");
                }
            }
        }
    }
}
