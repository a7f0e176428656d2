//! Conversion to and from the protocol's grid layer, the form in which a
//! layer travels to phones for offline assignment.

use std::collections::HashMap;

use geo::{LineString, Polygon};
use gridwarden_protocol::grid::{GridCellWire, GridLayerWire, PolygonWire, Ring};

use crate::cell::{build_geometry, RawPolygon};
use crate::{Cell, CodePattern, GridError};

/// Packs cells into a wire layer. Rings stay closed, as the wire requires.
pub fn to_wire(version: u64, name: &str, cells: &[Cell]) -> GridLayerWire {
    GridLayerWire {
        version,
        name: name.to_owned(),
        cells: cells.iter().map(cell_to_wire).collect(),
    }
}

/// One cell as it travels.
pub fn cell_to_wire(cell: &Cell) -> GridCellWire {
    GridCellWire {
        code: cell.code.clone(),
        name: cell.name.clone(),
        polygons: cell.geometry.iter().map(polygon_to_wire).collect(),
    }
}

fn polygon_to_wire(polygon: &Polygon<f64>) -> PolygonWire {
    PolygonWire {
        exterior: ring_to_wire(polygon.exterior()),
        holes: polygon.interiors().iter().map(ring_to_wire).collect(),
    }
}

fn ring_to_wire(ring: &LineString<f64>) -> Ring {
    ring.coords().map(|c| [c.x, c.y]).collect()
}

/// Unpacks a wire layer, applying the same geometry checks as the GeoJSON
/// import. The layer came from a server that already checked codes against
/// the city's pattern, so codes are only checked to be sane
/// ([`CodePattern::any`]) and unique; a device does not know the pattern.
pub fn from_wire(layer: &GridLayerWire) -> Result<Vec<Cell>, GridError> {
    let any = CodePattern::any();
    let mut first_use: HashMap<&str, usize> = HashMap::with_capacity(layer.cells.len());
    let mut cells = Vec::with_capacity(layer.cells.len());
    for (index, wire) in layer.cells.iter().enumerate() {
        let refuse = |code: Option<&str>, problem: String| GridError::WireCell {
            index,
            code: code.map(str::to_owned),
            problem,
        };
        any.check(&wire.code)
            .map_err(|e| refuse(None, e.to_string()))?;
        if let Some(&first) = first_use.get(wire.code.as_str()) {
            return Err(refuse(
                Some(&wire.code),
                format!("duplicate code, cell {first} already uses it"),
            ));
        }
        first_use.insert(&wire.code, index);
        cells.push(cell_from_wire(wire).map_err(|e| refuse(Some(&wire.code), e))?);
    }
    Ok(cells)
}

/// One cell from the wire, with the geometry checks of the GeoJSON import
/// (its code is checked only by [`from_wire`] and the callers that hold a
/// whole layer). The error is the problem alone.
pub fn cell_from_wire(wire: &GridCellWire) -> Result<Cell, String> {
    let polygons: Vec<RawPolygon> = wire
        .polygons
        .iter()
        .map(|p| {
            std::iter::once(&p.exterior)
                .chain(&p.holes)
                .cloned()
                .collect()
        })
        .collect();
    let geometry = build_geometry(polygons)?;
    Ok(Cell::new(wire.code.clone(), wire.name.clone(), geometry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{grid_cells, square_cell};
    use crate::GridIndex;

    #[test]
    fn round_trip_keeps_cells_and_assignments() {
        let mut cells = grid_cells(4, 3, 0.003);
        // A holed cell and a two-part cell, so holes and parts travel too.
        cells.push(Cell::new(
            "990102001009001",
            Some("湖 lake".to_owned()),
            build_geometry(vec![vec![
                crate::test_support::square(111.80, 40.80, 0.01),
                crate::test_support::square(111.802, 40.802, 0.004),
            ]])
            .unwrap(),
        ));
        cells.push(Cell::new(
            "990102001009002",
            None,
            build_geometry(vec![
                vec![crate::test_support::square(111.90, 40.80, 0.001)],
                vec![crate::test_support::square(111.92, 40.80, 0.001)],
            ])
            .unwrap(),
        ));
        let wire = to_wire(7, "test layer", &cells);
        assert_eq!(wire.version, 7);
        assert_eq!(wire.name, "test layer");
        assert!(wire.cells.iter().all(|c| c
            .polygons
            .iter()
            .all(|p| p.exterior.first() == p.exterior.last())));
        let back = from_wire(&wire).unwrap();
        assert_eq!(back, cells);

        let (a, b) = (GridIndex::new(cells), GridIndex::new(back));
        let mut x = 111.69;
        while x < 111.93 {
            let mut y = 40.795;
            while y < 40.815 {
                assert_eq!(a.assign(x, y), b.assign(x, y), "{x} {y}");
                y += 0.00037;
            }
            x += 0.00041;
        }
    }

    #[test]
    fn refuses_bad_cells_naming_index_and_code() {
        let cells = vec![
            square_cell("A1", 111.7, 40.84, 0.001),
            square_cell("A2", 111.8, 40.84, 0.001),
        ];
        let good = to_wire(1, "x", &cells);

        let mut dup = good.clone();
        dup.cells[1].code = "A1".to_owned();
        let e = from_wire(&dup).unwrap_err().to_string();
        assert!(
            e.starts_with("cell 1 (code \"A1\"): duplicate code, cell 0"),
            "{e}"
        );

        let mut empty = good.clone();
        empty.cells[1].code.clear();
        let e = from_wire(&empty).unwrap_err().to_string();
        assert!(e.starts_with("cell 1: code \"\" is empty"), "{e}");

        let mut open = good.clone();
        open.cells[1].polygons[0].exterior.pop();
        let e = from_wire(&open).unwrap_err().to_string();
        assert!(e.starts_with("cell 1 (code \"A2\"): exterior ring:"), "{e}");

        let mut nan = good.clone();
        nan.cells[0].polygons[0].exterior[1][1] = f64::NAN;
        let e = from_wire(&nan).unwrap_err().to_string();
        assert!(
            e.contains("cell 0 (code \"A1\")") && e.contains("not a finite number"),
            "{e}"
        );

        let mut none = good;
        none.cells[0].polygons.clear();
        let e = from_wire(&none).unwrap_err().to_string();
        assert!(e.contains("no polygons"), "{e}");
    }
}
