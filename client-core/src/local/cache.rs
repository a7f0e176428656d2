//! Decoded reference data kept in memory per `Client`, so recording a report
//! does not decode the category table or rebuild the grid index each time.
//! Each entry is keyed by the stored version (the grid: its revision) and
//! reloaded when it changes
//! (another process, e.g. a CLI `sync`, may have refreshed the cache).

use std::sync::Arc;

use std::collections::HashSet;

use gridwarden_grid::{AssignmentRef, GridIndex};
use gridwarden_protocol::category::CategoryTable;
use rusqlite::Connection;

use crate::error::Result;
use crate::store::{grid_cells, meta, reference};

#[derive(Default)]
pub struct RefCache {
    categories: Option<(u64, Arc<CategoryTable>)>,
    /// By grid revision; `None` inside: no cells held.
    grid: Option<(i64, Option<Arc<Held>>)>,
}

impl std::fmt::Debug for RefCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefCache")
            .field("categories_version", &self.categories.as_ref().map(|c| c.0))
            .field("grid_revision", &self.grid.as_ref().map(|g| g.0))
            .finish()
    }
}

impl RefCache {
    /// The cached category table, if the device has one.
    pub fn categories(&mut self, conn: &Connection) -> Result<Option<Arc<CategoryTable>>> {
        let Some(version) = reference::categories_version(conn)? else {
            self.categories = None;
            return Ok(None);
        };
        if let Some((v, table)) = &self.categories {
            if *v == version {
                return Ok(Some(table.clone()));
            }
        }
        let table = reference::categories(conn)?.map(Arc::new);
        self.categories = table.clone().map(|t| (version, t));
        Ok(table)
    }

    /// The offline guess of the grid cell at a point: `None` when the device
    /// has no cells there (see [`RefCache::guess`] for why).
    pub fn cell_at(&mut self, conn: &Connection, lon: f64, lat: f64) -> Result<Option<String>> {
        Ok(self.guess(conn, lon, lat)?.code().map(str::to_owned))
    }

    /// The offline guess of the grid cell at a point, and when there is
    /// none, why: a device that holds only its user's part of the layer
    /// cannot place a point beyond it (the server will).
    pub fn guess(&mut self, conn: &Connection, lon: f64, lat: f64) -> Result<CellGuess> {
        let Some(held) = self.held(conn)? else {
            return Ok(CellGuess::NoGrid);
        };
        Ok(match held.index.locate(lon, lat) {
            AssignmentRef::Inside(cell) => CellGuess::Cell(cell.code.clone()),
            // The nearest cell is certain only around the user's own cells,
            // whose neighbours within the margin are all on the device.
            AssignmentRef::Near(cell, _) if held.whole || held.own.contains(&cell.code) => {
                CellGuess::Cell(cell.code.clone())
            }
            _ if held.whole => CellGuess::NoCell,
            _ => CellGuess::OutsideHeld,
        })
    }

    pub fn grid_index(&mut self, conn: &Connection) -> Result<Option<Arc<GridIndex>>> {
        Ok(self.held(conn)?.map(|h| h.index.clone()))
    }

    fn held(&mut self, conn: &Connection) -> Result<Option<Arc<Held>>> {
        let Some(revision) = grid_cells::revision(conn)? else {
            self.grid = None;
            return Ok(None);
        };
        if let Some((v, held)) = &self.grid {
            if *v == revision {
                return Ok(held.clone());
            }
        }
        let state = grid_cells::state(conn)?;
        let (full, shapes) = grid_cells::load(conn)?;
        let held = if full.is_empty() && shapes.is_empty() {
            None
        } else {
            let mut cells = Vec::with_capacity(full.len() + shapes.len());
            // A bad cached cell must not stop recording: the server assigns
            // the real cell anyway.
            for wire in &full {
                match gridwarden_grid::cell_from_wire(wire) {
                    Ok(cell) => cells.push(cell),
                    Err(e) => {
                        tracing::warn!(code = %wire.code, error = %e, "cached grid cell cannot be indexed")
                    }
                }
            }
            for shape in &shapes {
                match gridwarden_grid::shapes::shape_to_cell(shape) {
                    Ok(cell) => cells.push(cell),
                    Err(e) => {
                        tracing::warn!(code = %shape.code, error = %e, "cached grid shape cannot be indexed")
                    }
                }
            }
            Some(Arc::new(Held {
                index: Arc::new(GridIndex::new(cells)),
                whole: state.whole,
                own: meta::cells(conn)?.into_iter().collect(),
            }))
        };
        self.grid = Some((revision, held.clone()));
        Ok(held)
    }
}

/// The cells on this device, indexed.
struct Held {
    index: Arc<GridIndex>,
    /// The whole layer (rather than the user's part).
    whole: bool,
    /// The user's own cells.
    own: HashSet<String>,
}

/// The device's guess of a point's grid cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CellGuess {
    Cell(String),
    /// The device holds the whole layer and the point is in no cell.
    NoCell,
    /// The device holds only part of the layer and the point is beyond it.
    OutsideHeld,
    /// The device holds no grid yet.
    NoGrid,
}

impl CellGuess {
    pub fn code(&self) -> Option<&str> {
        match self {
            CellGuess::Cell(code) => Some(code),
            _ => None,
        }
    }
}

impl std::fmt::Display for CellGuess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellGuess::Cell(code) => f.write_str(code),
            CellGuess::NoCell => f.write_str("in no grid cell"),
            CellGuess::OutsideHeld => f.write_str("outside the cells on this device"),
            CellGuess::NoGrid => f.write_str("no grid on this device yet; sync first"),
        }
    }
}
