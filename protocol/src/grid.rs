//! Grid layers as they travel to devices, so a phone can place itself in a
//! cell while offline. Indexing and assignment live in `gridwarden-grid`.

use serde::{Deserialize, Serialize};

/// A ring of `[lon, lat]` positions, closed (first equals last).
pub type Ring = Vec<[f64; 2]>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolygonWire {
    pub exterior: Ring,
    pub holes: Vec<Ring>,
}

/// One grid cell (单元网格): a code, an optional name, and its polygons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridCellWire {
    pub code: String,
    pub name: Option<String>,
    pub polygons: Vec<PolygonWire>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridLayerWire {
    pub version: u64,
    pub name: String,
    pub cells: Vec<GridCellWire>,
}

/// A cell's display shape: its outline simplified for one zoom level and
/// quantised, for maps and for devices that hold the whole city but not its
/// full geometry. Never used by the server to assign a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellShape {
    pub code: String,
    pub name: Option<String>,
    /// Size of one coordinate step in units of 1e-7 degrees (100 = 1e-5°,
    /// about a metre).
    pub unit: u32,
    pub polygons: Vec<ShapePolygon>,
}

/// Ring 0 is the exterior, the rest are holes. Each ring is open (the first
/// position is not repeated) and stored as `[x0, y0, dx1, dy1, …]` in steps
/// of the shape's `unit`: the first position absolute, each next one as the
/// difference to the one before, so a ring of short edges costs 2–4 bytes a
/// vertex in postcard's varints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapePolygon {
    pub rings: Vec<Vec<i32>>,
}

/// Which part of a layer, in which detail, a device receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CellCoverage {
    /// The cells of the user's scope and their neighbours, full geometry:
    /// the device holds part of the layer.
    Scope,
    /// Every cell of the layer as a display shape (city-wide roles).
    WholeDisplay,
}

/// Names the part of a layer a user's device holds: the coverage (no cells:
/// the whole city as display shapes) and the user's cells, in any order.
/// Computed by the server for `CellPage::scope_tag` and by the device from
/// `Welcome::cells`, so a device notices a change of scope without asking.
/// Never 0, which a device sends before its first page.
pub fn scope_tag(cells: &[String]) -> u64 {
    let mut sorted: Vec<&str> = cells.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h = blake3::Hasher::new();
    h.update(if sorted.is_empty() {
        b"whole\0"
    } else {
        b"scope\0"
    });
    for c in sorted {
        h.update(c.as_bytes());
        h.update(b"\0");
    }
    let bytes = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(first).max(1)
}
