//! Grid cells (单元网格) of gridwarden: GeoJSON import, configurable cell-code
//! patterns, conversion to and from the wire layer, and fast point-to-cell
//! assignment.
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
mod import;
mod index;
mod metric;
mod wire;

#[cfg(test)]
mod test_support;

pub use cell::Cell;
pub use code::{CodePattern, MAX_CODE_LEN};
pub use error::GridError;
pub use import::parse_geojson;
pub use index::{Assignment, AssignmentRef, GridIndex, NEAR_LIMIT_M};
pub use wire::{from_wire, to_wire};
