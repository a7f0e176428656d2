//! Grid cells (单元网格) of gridwarden: GeoJSON import, configurable cell-code
//! patterns, conversion to and from the wire layer, and fast point-to-cell
//! assignment; and patrol tracks over them ([`track`]: thinning, jump
//! flagging, the summary a supervisor reads, GeoJSON for a map; [`gpx`]: GPX
//! import and export).
//!
//! Pure: no IO besides parsing the strings it is given, no async runtime.
//! The server assigns reports with it, and phones run the same code on a
//! cached layer while offline, so both sides place a point in the same cell.
//!
//! Assignment rules:
//! - a point goes to the cell containing it, its boundary included;
//! - where cells overlap the smallest by area wins (ties: smallest code);
//! - outside every cell, the nearest cell within [`NEAR_LIMIT_M`] metres;
//! - otherwise, or for an invalid position, [`Assignment::Unassigned`].
//!
//! Cells must not cross the antimeridian (a city never does).

mod cell;
mod code;
mod error;
mod export;
pub mod gpx;
mod import;
mod index;
mod metric;
mod orient;
pub mod shapes;
pub mod synth;
pub mod track;
mod wire;

#[cfg(test)]
mod test_support;

pub use cell::Cell;
pub use code::{CodePattern, MAX_CODE_LEN};
pub use error::GridError;
pub use export::{cell_feature, LayerWriter};
pub use gpx::{parse_gpx, to_gpx, GpxError, GpxTrack};
pub use import::{parse_geojson, read_geojson, read_geojson_fields, Fields, ImportError};
pub use index::{Assignment, AssignmentRef, GridIndex, NEAR_LIMIT_M};
pub use track::{distance_m, flag_jumps, summarise, to_geojson, Thinner};
pub use wire::{cell_from_wire, cell_to_wire, from_wire, to_wire};
