//! Decoded reference data kept in memory per `Client`, so recording a report
//! does not decode the category table or rebuild the grid index each time.
//! Each entry is keyed by the stored version and reloaded when it changes
//! (another process, e.g. a CLI `sync`, may have refreshed the cache).

use std::sync::Arc;

use gridwarden_grid::GridIndex;
use gridwarden_protocol::category::CategoryTable;
use rusqlite::Connection;

use crate::error::Result;
use crate::store::reference;

#[derive(Default)]
pub(crate) struct RefCache {
    categories: Option<(u64, Arc<CategoryTable>)>,
    /// `None` inside: the cached layer could not be indexed (logged once).
    grid: Option<(u64, Option<Arc<GridIndex>>)>,
}

impl std::fmt::Debug for RefCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefCache")
            .field("categories_version", &self.categories.as_ref().map(|c| c.0))
            .field("grid_version", &self.grid.as_ref().map(|g| g.0))
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
    /// has no layer or the point is in no cell.
    pub fn cell_at(&mut self, conn: &Connection, lon: f64, lat: f64) -> Result<Option<String>> {
        let Some(index) = self.grid_index(conn)? else {
            return Ok(None);
        };
        Ok(index.assign(lon, lat).code().map(str::to_owned))
    }

    pub fn grid_index(&mut self, conn: &Connection) -> Result<Option<Arc<GridIndex>>> {
        let Some(version) = reference::grid_version(conn)? else {
            self.grid = None;
            return Ok(None);
        };
        if let Some((v, index)) = &self.grid {
            if *v == version {
                return Ok(index.clone());
            }
        }
        let index = match reference::grid(conn)? {
            Some(layer) => match gridwarden_grid::from_wire(&layer) {
                Ok(cells) => Some(Arc::new(GridIndex::new(cells))),
                Err(e) => {
                    // A bad cached layer must not stop recording: the server
                    // assigns the real cell anyway.
                    tracing::warn!(version, error = %e, "cached grid layer cannot be indexed");
                    None
                }
            },
            None => None,
        };
        self.grid = Some((version, index.clone()));
        Ok(index)
    }
}
