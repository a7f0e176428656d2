//! Display shapes as a city-wide device receives them in `CellPage`s
//! (`grid/src/shapes.rs`): the input is a postcard `Vec<CellShape>`,
//! delta-decoded with `shapes_to_cells`.
//!
//! Must hold: nothing panics (however large the deltas or the unit); an
//! accepted set of cells can be indexed and queried, and simplified again
//! for display.
#![no_main]

use gridwarden_grid::shapes::{display_shapes, shapes_to_cells};
use gridwarden_grid::GridIndex;
use gridwarden_protocol::codec;
use gridwarden_protocol::grid::CellShape;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(shapes) = codec::decode::<Vec<CellShape>>(data) else {
        return;
    };
    let Ok(cells) = shapes_to_cells(&shapes) else {
        return;
    };
    for cell in cells.iter().take(4) {
        let _ = display_shapes(cell);
    }
    let probes: Vec<[f64; 2]> = cells
        .iter()
        .flat_map(|c| c.geometry.0.iter())
        .flat_map(|p| p.exterior().0.iter().take(3))
        .map(|c| [c.x, c.y])
        .collect();
    let index = GridIndex::new(cells);
    for [lon, lat] in probes {
        let _ = index.assign(lon, lat);
        let _ = index.assign(lon + 1e-4, lat - 1e-4);
    }
});
