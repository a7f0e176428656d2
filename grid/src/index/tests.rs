use geo::{Destination, Geodesic, Point};
use proptest::prelude::*;

use super::*;
use crate::cell::build_geometry;
use crate::test_support::{grid_cells, grid_code, rect, square, square_cell, X0, Y0};

const D: f64 = 0.003;

fn grid() -> GridIndex {
    GridIndex::new(grid_cells(4, 3, D))
}

fn inside(code: &str) -> Assignment {
    Assignment::Inside {
        code: code.to_owned(),
    }
}

/// A point `metres` from (`lon`, `lat`) along `bearing` (degrees), on the
/// ellipsoid, so the expectations do not reuse the code under test.
fn offset(lon: f64, lat: f64, bearing: f64, metres: f64) -> (f64, f64) {
    let p = Geodesic.destination(Point::new(lon, lat), bearing, metres);
    (p.x(), p.y())
}

#[test]
fn index_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<GridIndex>();
}

#[test]
fn point_inside_goes_to_its_cell() {
    let g = grid();
    assert_eq!(g.len(), 12);
    assert!(!g.is_empty());
    assert_eq!(
        g.assign(X0 + 1.5 * D, Y0 + 2.5 * D),
        inside(&grid_code(1, 2))
    );
    assert_eq!(
        g.assign(X0 + 3.9 * D, Y0 + 0.1 * D).code(),
        Some(grid_code(3, 0).as_str())
    );
    assert_eq!(g.cell(&grid_code(2, 1)).unwrap().code, grid_code(2, 1));
    assert!(g.cell("nope").is_none());
}

#[test]
fn shared_edges_and_corners_resolve_the_same_way_every_time() {
    let g = grid();
    // On the edge between columns 1 and 2 of row 0, and on the corner of
    // four cells: the boundary counts as inside all of them, the rank
    // (area, then code) picks one. Cells further south are slightly larger
    // (one more metre of longitude), so the northern ones win.
    let edge = g.assign(X0 + 2.0 * D, Y0 + 0.5 * D);
    let corner = g.assign(X0 + 2.0 * D, Y0 + 1.0 * D);
    for _ in 0..3 {
        assert_eq!(g.assign(X0 + 2.0 * D, Y0 + 0.5 * D), edge);
        assert_eq!(g.assign(X0 + 2.0 * D, Y0 + 1.0 * D), corner);
    }
    assert!(
        [inside(&grid_code(1, 0)), inside(&grid_code(2, 0))].contains(&edge),
        "{edge:?}"
    );
    assert!(
        [inside(&grid_code(1, 1)), inside(&grid_code(2, 1))].contains(&corner),
        "{corner:?}"
    );
    // Across a west-east edge the areas differ for sure: north is smaller.
    assert_eq!(g.assign(X0 + 0.5 * D, Y0 + D), inside(&grid_code(0, 1)));

    // Equal areas: the smallest code wins, whatever the input order.
    let a = square_cell("B", 111.0, 0.0, 0.001);
    let b = square_cell("A", 111.001, 0.0, 0.001);
    assert_eq!(a.area_m2, b.area_m2);
    for cells in [vec![a.clone(), b.clone()], vec![b, a]] {
        assert_eq!(GridIndex::new(cells).assign(111.001, 0.0005), inside("A"));
    }
}

#[test]
fn overlap_goes_to_the_smallest_cell() {
    let mut cells = grid_cells(4, 3, D);
    // A market square over the corner of four cells.
    cells.push(square_cell(
        "990102004001011",
        X0 + 1.8 * D,
        Y0 + 0.8 * D,
        0.4 * D,
    ));
    let g = GridIndex::new(cells);
    assert_eq!(
        g.assign(X0 + 2.1 * D, Y0 + 1.1 * D),
        inside("990102004001011")
    );
    assert_eq!(
        g.assign(X0 + 1.9 * D, Y0 + 0.9 * D),
        inside("990102004001011")
    );
    assert_eq!(
        g.assign(X0 + 2.5 * D, Y0 + 1.5 * D),
        inside(&grid_code(2, 1))
    );
}

#[test]
fn holes_are_outside_unless_another_cell_fills_them() {
    let outer = square(X0, Y0, D);
    let lake = rect(X0 + 0.3 * D, Y0 + 0.3 * D, X0 + 0.7 * D, Y0 + 0.7 * D);
    let holed = || {
        Cell::new(
            "H",
            None,
            build_geometry(vec![vec![outer.clone(), lake.clone()]]).unwrap(),
        )
    };
    let in_lake = (X0 + 0.5 * D, Y0 + 0.5 * D);
    let on_land = (X0 + 0.1 * D, Y0 + 0.5 * D);

    // Unfilled: the lake centre is ~50–60 m from the shore on this grid,
    // so place the test point 20 m inside the shore instead.
    let g = GridIndex::new(vec![holed()]);
    assert_eq!(g.assign(on_land.0, on_land.1), inside("H"));
    let (lon, lat) = offset(X0 + 0.3 * D, Y0 + 0.5 * D, 90.0, 20.0);
    match g.assign(lon, lat) {
        Assignment::Near { code, distance_m } => {
            assert_eq!(code, "H");
            assert!((distance_m - 20.0).abs() < 0.5, "{distance_m}");
        }
        other => panic!("{other:?}"),
    }

    // Filled by its own cell: the hole goes there, the land stays.
    let filler = Cell::new("L", None, build_geometry(vec![vec![lake.clone()]]).unwrap());
    let g = GridIndex::new(vec![holed(), filler]);
    assert_eq!(g.assign(in_lake.0, in_lake.1), inside("L"));
    assert_eq!(g.assign(on_land.0, on_land.1), inside("H"));
    // The shore belongs to both; the smaller lake cell wins.
    assert_eq!(g.assign(X0 + 0.3 * D, Y0 + 0.5 * D), inside("L"));
}

#[test]
fn multipolygon_parts_all_belong_to_the_cell() {
    let two_parts = build_geometry(vec![
        vec![square(X0, Y0, D)],
        vec![square(X0 + 2.0 * D, Y0, D)],
    ])
    .unwrap();
    let g = GridIndex::new(vec![
        Cell::new("M", None, two_parts),
        square_cell("G", X0 + D, Y0, D),
    ]);
    assert_eq!(g.assign(X0 + 0.5 * D, Y0 + 0.5 * D), inside("M"));
    assert_eq!(g.assign(X0 + 2.5 * D, Y0 + 0.5 * D), inside("M"));
    assert_eq!(g.assign(X0 + 1.5 * D, Y0 + 0.5 * D), inside("G"));
}

#[test]
fn near_within_fifty_metres_with_the_distance() {
    let g = grid();
    // 30 m west of the west edge of row 1, and 30 m north-east of the
    // north-east corner.
    for (lon, lat, bearing, code) in [
        (X0, Y0 + 1.5 * D, 270.0, grid_code(0, 1)),
        (X0 + 4.0 * D, Y0 + 3.0 * D, 45.0, grid_code(3, 2)),
    ] {
        let (plon, plat) = offset(lon, lat, bearing, 30.0);
        match g.assign(plon, plat) {
            Assignment::Near {
                code: got,
                distance_m,
            } => {
                assert_eq!(got, code);
                assert!((distance_m - 30.0).abs() < 1.0, "{distance_m}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Within reach of two cells (10 m and ~27 m): the nearer one.
    let (plon, plat) = offset(X0 + 0.9 * D, Y0, 180.0, 10.0);
    assert_eq!(g.assign(plon, plat).code(), Some(grid_code(0, 0).as_str()));
}

#[test]
fn farther_than_fifty_metres_is_unassigned() {
    let g = grid();
    let (lon, lat) = offset(X0, Y0 + 1.5 * D, 270.0, 80.0);
    assert_eq!(g.assign(lon, lat), Assignment::Unassigned);
    let (lon, lat) = offset(X0, Y0 + 1.5 * D, 270.0, 51.0);
    assert_eq!(g.assign(lon, lat), Assignment::Unassigned);
    let (lon, lat) = offset(X0, Y0 + 1.5 * D, 270.0, 49.0);
    assert!(matches!(g.assign(lon, lat), Assignment::Near { .. }));
    assert_eq!(g.assign(0.0, 0.0), Assignment::Unassigned);
}

#[test]
fn invalid_positions_are_unassigned_never_a_panic() {
    let g = grid();
    for (lon, lat) in [
        (f64::NAN, Y0),
        (X0, f64::NAN),
        (f64::INFINITY, Y0),
        (X0, f64::NEG_INFINITY),
        (181.0, Y0),
        (X0, -90.5),
    ] {
        assert_eq!(g.assign(lon, lat), Assignment::Unassigned, "{lon} {lat}");
    }
    // Valid extremes run the search without trouble.
    for (lon, lat) in [(180.0, 90.0), (-180.0, -90.0), (0.0, 90.0)] {
        assert_eq!(g.assign(lon, lat), Assignment::Unassigned);
    }
    let empty = GridIndex::new(Vec::new());
    assert!(empty.is_empty());
    assert_eq!(empty.assign(X0, Y0), Assignment::Unassigned);
}

#[test]
fn cells_with_broken_geometry_do_not_break_the_index() {
    // Public fields allow cells no importer would produce.
    let nan = Cell {
        code: "N".to_owned(),
        name: None,
        geometry: geo::MultiPolygon(vec![Polygon::new(
            LineString::from(vec![
                (f64::NAN, 0.0),
                (1.0, 0.0),
                (1.0, 1.0),
                (f64::NAN, 0.0),
            ]),
            vec![],
        )]),
        area_m2: f64::NAN,
    };
    let empty = Cell {
        code: "E".to_owned(),
        name: None,
        geometry: geo::MultiPolygon(vec![]),
        area_m2: 0.0,
    };
    let mut cells = grid_cells(2, 2, D);
    cells.extend([nan, empty]);
    let g = GridIndex::new(cells);
    assert_eq!(g.len(), 6);
    assert_eq!(
        g.assign(X0 + 0.5 * D, Y0 + 0.5 * D),
        inside(&grid_code(0, 0))
    );
    assert_eq!(g.cell("E").unwrap().code, "E");
}

#[test]
fn locate_borrows_what_assign_copies() {
    let g = grid();
    let (lon, lat) = (X0 + 0.5 * D, Y0 + 0.5 * D);
    let located = g.locate(lon, lat);
    assert_eq!(
        located.cell().map(|c| c.code.as_str()),
        Some(grid_code(0, 0).as_str())
    );
    assert_eq!(Assignment::from(located), g.assign(lon, lat));
}

proptest! {
    #[test]
    fn points_inside_an_axis_aligned_cell_get_that_cell(
        cols in 1usize..15,
        rows in 1usize..15,
        d in 0.0005f64..0.02,
        pick in (0usize..15, 0usize..15),
        frac in (0.001f64..0.999, 0.001f64..0.999),
    ) {
        let (c, r) = (pick.0 % cols, pick.1 % rows);
        let g = GridIndex::new(grid_cells(cols, rows, d));
        let lon = X0 + (c as f64 + frac.0) * d;
        let lat = Y0 + (r as f64 + frac.1) * d;
        prop_assert_eq!(g.assign(lon, lat), inside(&grid_code(c, r)));
    }
}
