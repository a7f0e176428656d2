use super::*;
use crate::synth::StreetGrid;
use crate::GridIndex;

#[test]
fn coarse_levels_keep_few_vertices_and_fine_ones_keep_the_street() {
    let city = StreetGrid::city(16, 100, 5);
    for cell in city.iter() {
        let shapes = display_shapes(&cell);
        assert_eq!(shapes.len(), DISPLAY_LEVELS.len());
        let counts: Vec<usize> = shapes
            .iter()
            .map(|s| s.polygons[0].rings[0].len() / 2)
            .collect();
        assert!(counts[0] <= 12, "{counts:?}");
        assert!(
            counts[0] <= counts[1] && counts[1] <= counts[2],
            "{counts:?}"
        );
        for shape in &shapes {
            let back = shape_to_cell(shape).unwrap();
            assert_eq!(back.code, cell.code);
            // Within a few percent of the full cell's area.
            let ratio = back.area_m2 / cell.area_m2;
            assert!((ratio - 1.0).abs() < 0.05, "{ratio}");
        }
    }
}

#[test]
fn shapes_never_decide_the_server_assignment() {
    // The server's index is built from full geometry; shapes are separate
    // values. A point near a street goes where the full geometry says,
    // whatever the coarse shape would say.
    let city = StreetGrid::city(9, 100, 2);
    let full = GridIndex::new(city.iter().collect());
    let shapes: Vec<_> = city
        .iter()
        .map(|c| display_shape(&c, DISPLAY_LEVELS[0]))
        .collect();
    let coarse = GridIndex::new(shapes_to_cells(&shapes).unwrap());
    let mut differ = 0;
    let (lo, hi) = (city.inside(0), city.inside(8));
    for a in 0..300 {
        for b in 0..300 {
            let x = lo[0] + (hi[0] - lo[0]) * a as f64 / 299.0;
            let y = lo[1] + (hi[1] - lo[1]) * b as f64 / 299.0;
            if full.assign(x, y) != coarse.assign(x, y) {
                differ += 1;
            }
        }
    }
    // Only a thin band along the streets differs (a few metres of 100 m).
    assert!(differ < 300 * 300 / 10, "{differ}");
}

#[test]
fn bad_shapes_are_refused_not_panicked_on() {
    let shape = CellShape {
        code: "A".into(),
        name: None,
        unit: 0,
        polygons: vec![],
    };
    assert!(shape_to_cell(&shape).unwrap_err().contains("unit 0"));
    let odd = CellShape {
        unit: 1,
        polygons: vec![ShapePolygon {
            rings: vec![vec![1, 2, 3]],
        }],
        ..shape.clone()
    };
    assert!(shape_to_cell(&odd).unwrap_err().contains("odd"));
    let huge = CellShape {
        unit: 1_000_000,
        polygons: vec![ShapePolygon {
            rings: vec![vec![i32::MAX, i32::MAX, i32::MAX, 0, 0, i32::MAX]],
        }],
        ..shape
    };
    assert!(shape_to_cell(&huge).is_err());
}
