//! Display shapes: each cell's outline simplified for a few zoom levels,
//! computed once when a layer is imported, for maps (the console's
//! whole-city view, the bindings' map layer) and for the devices of
//! city-wide roles, which hold the whole city in display detail only.
//!
//! Simplification is geo's topology-preserving Visvalingam–Whyatt
//! ([`SimplifyVwPreserve`]), run in local metres so one threshold means the
//! same on every street. Shapes are for looking at: the server assigns
//! every report with the full geometry, so a coarser map never moves a
//! report to another cell.

use geo::{Coord, LineString, MapCoords, MultiPolygon, Polygon, SimplifyVwPreserve};
use gridwarden_protocol::grid::{CellShape, ShapePolygon};

use crate::cell::{build_geometry, RawPolygon};
use crate::metric::LocalScale;
use crate::{Cell, GridError};

/// One zoom level of display shapes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisplayLevel {
    /// Visvalingam–Whyatt area threshold in square metres: a bend whose
    /// triangle is smaller than this disappears.
    pub area_m2: f64,
    /// Coordinate step in units of 1e-7° (see [`CellShape::unit`]).
    pub unit: u32,
}

/// The levels computed at import, coarsest first: the whole city on one
/// screen (bends under ~15 m, 5 m steps: a pixel of a city-wide map is
/// wider), a district (~4 m, 10 cm), a street (~1 m, 1 cm).
pub const DISPLAY_LEVELS: [DisplayLevel; 3] = [
    DisplayLevel {
        area_m2: 250.0,
        unit: 500,
    },
    DisplayLevel {
        area_m2: 16.0,
        unit: 10,
    },
    DisplayLevel {
        area_m2: 1.0,
        unit: 1,
    },
];

/// The level city-wide devices receive.
pub const CITY_LEVEL: usize = 0;

/// The cell's shape at every level of [`DISPLAY_LEVELS`]. Each level is
/// simplified from the next finer one rather than from the full geometry,
/// which is within that level's own (smaller) threshold of the full
/// outline: a third of the work, measured, since the coarse levels no
/// longer repeat the removals the fine ones made.
pub fn display_shapes(cell: &Cell) -> Vec<CellShape> {
    let mut geometry = cell.geometry.clone();
    let mut shapes: Vec<CellShape> = DISPLAY_LEVELS
        .iter()
        .rev()
        .map(|level| {
            geometry = simplify(&geometry, level.area_m2);
            shape_of(cell, &geometry, *level)
        })
        .collect();
    shapes.reverse();
    shapes
}

/// The cell's shape at one level.
pub fn display_shape(cell: &Cell, level: DisplayLevel) -> CellShape {
    shape_of(cell, &simplify(&cell.geometry, level.area_m2), level)
}

fn shape_of(cell: &Cell, simplified: &MultiPolygon<f64>, level: DisplayLevel) -> CellShape {
    // A cell smaller than a step at this level would vanish: fall back to
    // the finest step, which keeps it (1e-7° ≈ 1 cm).
    let (unit, polygons) = match quantise(simplified, level.unit) {
        Some(polygons) => (level.unit, polygons),
        None => (1, quantise(simplified, 1).unwrap_or_default()),
    };
    CellShape {
        code: cell.code.clone(),
        name: cell.name.clone(),
        unit,
        polygons,
    }
}

/// Simplifies in local metres around the geometry's first vertex.
fn simplify(geometry: &MultiPolygon<f64>, area_m2: f64) -> MultiPolygon<f64> {
    let Some(origin) = geometry
        .0
        .first()
        .and_then(|p| p.exterior().0.first().copied())
    else {
        return geometry.clone();
    };
    let s = LocalScale::at(origin.y);
    let to_local = |c: Coord<f64>| Coord {
        x: (c.x - origin.x) * s.kx,
        y: (c.y - origin.y) * s.ky,
    };
    let to_deg = |c: Coord<f64>| Coord {
        x: c.x / s.kx + origin.x,
        y: c.y / s.ky + origin.y,
    };
    geometry
        .map_coords(to_local)
        .simplify_vw_preserve(area_m2)
        .map_coords(to_deg)
}

/// Delta-encodes every ring in steps of `unit`; `None` when a ring
/// collapses below a triangle at that step.
fn quantise(geometry: &MultiPolygon<f64>, unit: u32) -> Option<Vec<ShapePolygon>> {
    let step = f64::from(unit) * 1e-7;
    geometry
        .iter()
        .map(|polygon| {
            let rings = std::iter::once(polygon.exterior())
                .chain(polygon.interiors())
                .map(|ring| quantise_ring(ring, step))
                .collect::<Option<Vec<_>>>()?;
            Some(ShapePolygon { rings })
        })
        .collect()
}

fn quantise_ring(ring: &LineString<f64>, step: f64) -> Option<Vec<i32>> {
    let mut points: Vec<[i32; 2]> = Vec::with_capacity(ring.0.len());
    for c in &ring.0 {
        let p = [(c.x / step).round() as i32, (c.y / step).round() as i32];
        if points.last() != Some(&p) {
            points.push(p);
        }
    }
    // Open ring: the closing position is implied.
    if points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    if points.len() < 3 {
        return None;
    }
    let mut out = Vec::with_capacity(points.len() * 2);
    let mut prev = [0i32, 0];
    for p in points {
        out.push(p[0].wrapping_sub(prev[0]));
        out.push(p[1].wrapping_sub(prev[1]));
        prev = p;
    }
    Some(out)
}

/// A cell from its display shape, for a device that holds only shapes: the
/// geometry checks of every other way cells come in apply.
pub fn shape_to_cell(shape: &CellShape) -> Result<Cell, String> {
    if shape.unit == 0 || shape.unit > 1_000_000 {
        return Err(format!(
            "unit {} is outside 1..1000000 (steps of 1e-7°)",
            shape.unit
        ));
    }
    let step = f64::from(shape.unit) * 1e-7;
    let mut polygons: Vec<RawPolygon> = Vec::with_capacity(shape.polygons.len());
    for polygon in &shape.polygons {
        let mut rings = Vec::with_capacity(polygon.rings.len());
        for ring in &polygon.rings {
            if ring.len() % 2 != 0 {
                return Err("a ring has an odd number of values".to_owned());
            }
            let mut at = [0i64, 0];
            let mut out: Vec<[f64; 2]> = Vec::with_capacity(ring.len() / 2 + 1);
            for d in ring.chunks_exact(2) {
                at = [at[0] + i64::from(d[0]), at[1] + i64::from(d[1])];
                out.push([at[0] as f64 * step, at[1] as f64 * step]);
            }
            if let Some(&first) = out.first() {
                out.push(first);
            }
            rings.push(out);
        }
        polygons.push(rings);
    }
    let geometry = build_geometry(polygons)?;
    Ok(Cell::new(shape.code.clone(), shape.name.clone(), geometry))
}

/// Cells from shapes, refusing a bad one by index and code.
pub fn shapes_to_cells(shapes: &[CellShape]) -> Result<Vec<Cell>, GridError> {
    shapes
        .iter()
        .enumerate()
        .map(|(index, s)| {
            shape_to_cell(s).map_err(|problem| GridError::WireCell {
                index,
                code: Some(s.code.clone()),
                problem,
            })
        })
        .collect()
}

/// Vertices of a geometry (rings closed), for measurements and tests.
pub fn vertex_count(geometry: &MultiPolygon<f64>) -> usize {
    geometry
        .iter()
        .map(|p: &Polygon<f64>| {
            p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>()
        })
        .sum()
}

#[cfg(test)]
mod tests;
