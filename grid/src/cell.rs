//! A grid cell and the geometry checks shared by every way cells come in
//! (GeoJSON import and wire layers), so both refuse the same things.

use geo::{GeodesicArea, LineString, MultiPolygon, Polygon};

/// One grid cell (单元网格).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The cell code, kept as a string (see [`crate::CodePattern`]).
    pub code: String,
    pub name: Option<String>,
    /// WGS84 `x = lon, y = lat`; exteriors counter-clockwise, holes clockwise.
    pub geometry: MultiPolygon<f64>,
    /// Geodesic area on the WGS84 ellipsoid, holes excluded.
    pub area_m2: f64,
}

impl Cell {
    /// Builds a cell from trusted geometry: orients the rings (the geodesic
    /// area of a clockwise ring would be the rest of the Earth) and computes
    /// the area. Codes and coordinates are not checked here; the importers
    /// ([`crate::parse_geojson`], [`crate::from_wire`]) do that.
    pub fn new(code: impl Into<String>, name: Option<String>, geometry: MultiPolygon<f64>) -> Self {
        let geometry = crate::orient::orient(geometry);
        let area_m2 = geometry.geodesic_area_unsigned();
        Cell {
            code: code.into(),
            name,
            geometry,
            area_m2,
        }
    }
}

/// Positions of one polygon: ring 0 is the exterior, the rest are holes.
pub(crate) type RawPolygon = Vec<Vec<[f64; 2]>>;

/// Validates raw rings and turns them into a geometry. The error is the
/// problem alone; the caller adds which feature or cell it belongs to.
pub(crate) fn build_geometry(polygons: Vec<RawPolygon>) -> Result<MultiPolygon<f64>, String> {
    if polygons.is_empty() {
        return Err("the geometry has no polygons".to_owned());
    }
    let many = polygons.len() > 1;
    let mut out = Vec::with_capacity(polygons.len());
    for (p, rings) in polygons.into_iter().enumerate() {
        // "polygon 2, " only when there is more than one, to keep the
        // common single-polygon message short.
        let where_poly = if many {
            format!("polygon {p}, ")
        } else {
            String::new()
        };
        let mut rings = rings.into_iter().enumerate();
        let Some((_, exterior)) = rings.next() else {
            return Err(format!("{where_poly}the polygon has no exterior ring"));
        };
        check_ring(&exterior).map_err(|e| format!("{where_poly}exterior ring: {e}"))?;
        let mut holes = Vec::new();
        for (r, hole) in rings {
            check_ring(&hole).map_err(|e| format!("{where_poly}hole {r}: {e}"))?;
            holes.push(to_line_string(hole));
        }
        out.push(Polygon::new(to_line_string(exterior), holes));
    }
    Ok(MultiPolygon(out))
}

/// A ring must be closed, have at least 4 positions (a triangle plus the
/// repeated first), and lie on the planet.
fn check_ring(ring: &[[f64; 2]]) -> Result<(), String> {
    for (i, &[lon, lat]) in ring.iter().enumerate() {
        if !lon.is_finite() || !lat.is_finite() {
            return Err(format!(
                "position {i} [{lon}, {lat}] is not a finite number"
            ));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(format!(
                "position {i}: longitude {lon} is outside -180..180 (are lon and lat swapped, or is this not WGS84?)"
            ));
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(format!(
                "position {i}: latitude {lat} is outside -90..90 (are lon and lat swapped, or is this not WGS84?)"
            ));
        }
    }
    if ring.len() < 4 {
        return Err(format!(
            "has {} positions; a closed ring needs at least 4 (the first repeated as the last)",
            ring.len()
        ));
    }
    let (first, last) = (ring[0], ring[ring.len() - 1]);
    if first != last {
        return Err(format!(
            "is not closed: the first position {first:?} differs from the last {last:?}"
        ));
    }
    Ok(())
}

fn to_line_string(ring: Vec<[f64; 2]>) -> LineString<f64> {
    LineString::from(ring.into_iter().map(|[x, y]| (x, y)).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, d: f64) -> Vec<[f64; 2]> {
        vec![
            [x0, y0],
            [x0 + d, y0],
            [x0 + d, y0 + d],
            [x0, y0 + d],
            [x0, y0],
        ]
    }

    #[test]
    fn area_is_positive_whatever_the_winding() {
        let ccw = build_geometry(vec![vec![square(111.7, 40.84, 0.01)]]).unwrap();
        let mut cw_ring = square(111.7, 40.84, 0.01);
        cw_ring.reverse();
        let cw = build_geometry(vec![vec![cw_ring]]).unwrap();
        let a = Cell::new("a", None, ccw).area_m2;
        let b = Cell::new("b", None, cw).area_m2;
        // 0.01° × 0.01° at 40.84°N ≈ 843 m × 1111 m.
        assert!((a - 843.6 * 1110.6).abs() / a < 0.01, "{a}");
        assert!((a - b).abs() < 1e-6 * a);
    }

    /// Two triangles meeting at their shared west corner, both
    /// counter-clockwise: a ring that passes through its westmost vertex
    /// twice, turning clockwise at the first visit and counter-clockwise at
    /// the second.
    fn touching_lobes() -> Vec<[f64; 2]> {
        let p = |x: f64, y: f64| [111.7 + x * 0.001, 40.84 + y * 0.001];
        vec![
            p(0.0, 0.0),
            p(2.0, 1.0),
            p(1.0, 2.0),
            p(0.0, 0.0),
            p(1.0, -2.0),
            p(2.0, -1.0),
            p(0.0, 0.0),
        ]
    }

    #[test]
    fn orienting_a_ring_through_its_westmost_vertex_twice_is_stable() {
        // Found by fuzzing: geo's `Orient` judged such a ring by its first
        // visit only, so it could wind it against its area (a cell the size
        // of the planet) and flip it again on every orientation (a layer
        // that changed across `to_wire` → `from_wire`).
        // The ring started at each of its vertices, and run either way.
        let open = &touching_lobes()[..6];
        let rings = (0..open.len()).flat_map(|start| {
            let mut ring: Vec<_> = open[start..]
                .iter()
                .chain(&open[..start])
                .copied()
                .collect();
            ring.push(ring[0]);
            let reversed = ring.iter().rev().copied().collect();
            [ring, reversed]
        });
        for ring in rings {
            let cell = Cell::new("a", None, build_geometry(vec![vec![ring]]).unwrap());
            let again = Cell::new("a", None, cell.geometry.clone());
            assert_eq!(again, cell, "orienting an oriented cell changed it");
            // Two lobes of 1.5 × (0.001°)² at 40.84°N, ≈ 84.36 m × 111.06 m each unit.
            let expected = 3.0 * 84.36 * 111.06;
            assert!(
                (cell.area_m2 - expected).abs() / expected < 0.01,
                "{}",
                cell.area_m2
            );
        }
    }

    #[test]
    fn holes_are_subtracted_from_the_area() {
        let with_hole = build_geometry(vec![vec![
            square(111.7, 40.84, 0.01),
            square(111.702, 40.842, 0.005),
        ]])
        .unwrap();
        let full = Cell::new(
            "a",
            None,
            build_geometry(vec![vec![square(111.7, 40.84, 0.01)]]).unwrap(),
        );
        let holed = Cell::new("b", None, with_hole);
        let ratio = holed.area_m2 / full.area_m2;
        assert!((ratio - 0.75).abs() < 0.001, "{ratio}");
    }

    #[test]
    fn ring_problems_are_named() {
        let err = |polys: Vec<RawPolygon>| build_geometry(polys).unwrap_err();
        assert!(err(vec![]).contains("no polygons"));
        assert!(err(vec![vec![]]).contains("no exterior ring"));
        let e = err(vec![vec![vec![[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]]]);
        assert!(e.contains("exterior ring: has 3 positions"), "{e}");
        let e = err(vec![vec![vec![
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
        ]]]);
        assert!(e.contains("is not closed"), "{e}");
        let mut hole = square(0.2, 0.2, 0.1);
        hole[2][0] = f64::NAN;
        let e = err(vec![
            vec![square(0.0, 0.0, 1.0)],
            vec![square(0.0, 0.0, 1.0), hole],
        ]);
        assert!(e.contains("polygon 1, hole 1: position 2"), "{e}");
        assert!(e.contains("not a finite number"), "{e}");
        let e = err(vec![vec![square(40.84, 181.0, 0.01)]]);
        assert!(e.contains("latitude 181 is outside -90..90"), "{e}");
        let e = err(vec![vec![square(-180.5, 0.0, 0.01)]]);
        assert!(e.contains("longitude -180.5 is outside -180..180"), "{e}");
    }
}
