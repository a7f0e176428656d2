//! A grid layer as a phone receives it (`grid/src/wire.rs`): the input is a
//! postcard-encoded `GridLayerWire`, unpacked with `from_wire`.
//!
//! Must hold: nothing panics; an accepted layer packs and unpacks again to
//! the same cells and the same wire bytes (phones that re-share or cache a
//! layer keep it exactly), and it can be indexed and queried.
#![no_main]

use gridwarden_grid::{from_wire, to_wire, GridIndex};
use gridwarden_protocol::codec;
use gridwarden_protocol::grid::GridLayerWire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(layer) = codec::decode::<GridLayerWire>(data) else {
        return;
    };
    let Ok(cells) = from_wire(&layer) else {
        return;
    };
    let wire = to_wire(layer.version, &layer.name, &cells);
    let again = from_wire(&wire)
        .unwrap_or_else(|e| panic!("a layer from_wire accepted is refused after to_wire: {e}"));
    gridwarden_fuzz::assert_same_cells(&cells, &again, "to_wire → from_wire");
    assert_eq!(
        codec::encode(&to_wire(layer.version, &layer.name, &again)),
        codec::encode(&wire),
        "the wire form is not stable"
    );

    let index = GridIndex::new(cells);
    for cell in &layer.cells {
        for polygon in &cell.polygons {
            for &[lon, lat] in polygon.exterior.iter().take(4) {
                let _ = index.assign(lon, lat);
                let _ = index.assign(lon - 1e-4, lat + 1e-4);
            }
        }
    }
});
