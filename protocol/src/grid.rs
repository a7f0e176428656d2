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
