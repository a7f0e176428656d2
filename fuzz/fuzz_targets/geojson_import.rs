//! The grid layer import an administrator runs (`grid/src/import.rs`): the
//! input as GeoJSON text, checked against the permissive code pattern so the
//! fuzzer reaches the geometry rather than stopping at codes.
//!
//! Must hold: nothing panics; an accepted layer can be indexed and queried,
//! and it survives the trip to phones (`to_wire` → `from_wire`) unchanged,
//! so server and phone place a point in the same cell, and the trip out and
//! back in (`grids export --geojson` → `grids import`) unchanged too.
#![no_main]

use gridwarden_grid::{
    cell_to_wire, from_wire, parse_geojson, to_wire, CodePattern, GridIndex, LayerWriter,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cells) = parse_geojson(text, &CodePattern::any()) else {
        return;
    };
    let back = from_wire(&to_wire(1, "fuzz", &cells))
        .unwrap_or_else(|e| panic!("an imported layer is refused on its way to phones: {e}"));
    gridwarden_fuzz::assert_same_cells(&cells, &back, "to_wire → from_wire");

    let mut writer = LayerWriter::begin(Vec::new(), "fuzz").expect("writing to memory");
    for cell in &cells {
        writer.cell(&cell_to_wire(cell)).expect("writing to memory");
    }
    let exported = String::from_utf8(writer.finish().expect("writing to memory"))
        .expect("the export is UTF-8");
    let again = parse_geojson(&exported, &CodePattern::any())
        .unwrap_or_else(|e| panic!("an exported layer is refused on its way back in: {e}"));
    gridwarden_fuzz::assert_same_cells(&cells, &again, "export → import");

    let probes: Vec<[f64; 2]> = cells
        .iter()
        .flat_map(|c| c.geometry.0.iter())
        .filter_map(|p| p.exterior().0.first())
        .map(|c| [c.x, c.y])
        .collect();
    let index = GridIndex::new(cells);
    for [lon, lat] in probes {
        let _ = index.assign(lon, lat);
        let _ = index.assign(lon + 1e-4, lat - 1e-4);
    }
});
