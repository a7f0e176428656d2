use super::*;
use crate::{parse_geojson, CodePattern, GridIndex};

#[test]
fn a_city_reads_back_as_the_cells_it_was_built_from() {
    let city = StreetGrid::city(30, 40, 7);
    let cells = parse_geojson(&city.geojson(), &CodePattern::default_15()).unwrap();
    let built: Vec<Cell> = city.iter().collect();
    assert_eq!(cells, built);
    assert_eq!(crate::shapes::vertex_count(&cells[0].geometry), 41);
    assert_eq!(StreetGrid::city(30, 40, 7).geojson(), city.geojson());
    assert_ne!(StreetGrid::city(30, 40, 8).geojson(), city.geojson());
}

#[test]
fn neighbours_share_their_streets_so_every_point_has_one_cell() {
    let city = StreetGrid::city(36, 100, 1);
    let index = GridIndex::new(city.iter().collect());
    for i in 0..city.cells {
        let [x, y] = city.inside(i);
        assert_eq!(
            index.assign(x, y).code(),
            Some(StreetGrid::code(i).as_str())
        );
    }
    // No gaps: a fine sweep across the interior finds a containing cell
    // everywhere (the nearest-cell rule would hide a gap, so ask `inside`).
    let (lo, hi) = (city.inside(0), city.inside(35));
    let mut inside = 0;
    for a in 0..200 {
        for b in 0..200 {
            let x = lo[0] + (hi[0] - lo[0]) * a as f64 / 199.0;
            let y = lo[1] + (hi[1] - lo[1]) * b as f64 / 199.0;
            assert!(
                matches!(index.assign(x, y), crate::Assignment::Inside { .. }),
                "gap at {x} {y}"
            );
            inside += 1;
        }
    }
    assert_eq!(inside, 40_000);
}

#[test]
fn a_revision_changes_only_the_named_cells() {
    let a = StreetGrid::city(50, 20, 3);
    let b = a.revised(2, vec![4, 17]);
    let differ: Vec<usize> = (0..50).filter(|&i| a.cell(i) != b.cell(i)).collect();
    assert_eq!(differ, vec![4, 17]);
}
