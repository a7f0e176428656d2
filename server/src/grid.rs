//! Grid layers as the server keeps them: each cell stored once by content
//! (its full geometry and its display shapes, computed at import), and each
//! layer version a list of (code, content hash, bounding box). A new
//! version that changes 100 cells of 50,000 stores 100 new cells, and the
//! difference between two versions is a comparison of hashes. See
//! docs/adr/0019-paged-versioned-grid-sync.md.

use std::io::Read;

use gridwarden_grid::shapes::display_shapes;
use gridwarden_grid::{Cell, CodePattern, Fields, ImportError};
use gridwarden_protocol::codec;

use crate::store::{Store, StoreError, StoreResult};

mod catalog;
pub mod diff;

pub use catalog::{Catalog, CatalogCache, Coverage, SCOPE_MARGIN_M};
pub use diff::LayerChanges;

/// Cells handed to the store at once while a layer streams in.
const BATCH: usize = 512;

/// A cell of a layer version: where it is and which content it has.
#[derive(Clone, Debug, PartialEq)]
pub struct GridMember {
    pub code: String,
    /// BLAKE3 of the stored content.
    pub hash: [u8; 32],
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: [f64; 4],
}

/// A cell's stored content.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredCell {
    pub member: GridMember,
    /// `GridCellWire`, protocol codec.
    pub wire: Vec<u8>,
    /// `Vec<CellShape>`, one per display level, protocol codec.
    pub shapes: Vec<u8>,
}

/// Bumped when what is derived from a cell at import (the display levels)
/// changes, so a re-import stores the new derivation instead of matching
/// the old content by hash.
const DERIVATION: &[u8] = b"gridwarden cell v1";

pub fn stored_cell(cell: &Cell) -> StoredCell {
    let wire = codec::encode(&gridwarden_grid::cell_to_wire(cell));
    let shapes = codec::encode(&display_shapes(cell));
    let mut hasher = blake3::Hasher::new();
    hasher.update(DERIVATION);
    hasher.update(&wire);
    let rect = geo::BoundingRect::bounding_rect(&cell.geometry);
    let bbox = rect.map_or([0.0; 4], |r| [r.min().x, r.min().y, r.max().x, r.max().y]);
    StoredCell {
        member: GridMember {
            code: cell.code.clone(),
            hash: *hasher.finalize().as_bytes(),
            bbox,
        },
        wire,
        shapes,
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum LayerImportError {
    #[error(transparent)]
    Grid(#[from] gridwarden_grid::GridError),
    #[error("feature {index} (code {code:?}) is {bytes} bytes once encoded for devices; one cell may be at most {limit} bytes (a page of cells travels in one frame) — simplify that polygon")]
    CellTooLarge {
        index: usize,
        code: String,
        bytes: usize,
        limit: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A layer read and its cells' content stored, not yet published: no
/// reader sees it until [`Staged::publish`].
pub struct Staged {
    pub members: Vec<GridMember>,
    /// The cells, for comparing the layer with the current one.
    pub cells: Vec<Cell>,
}

impl Staged {
    /// Publishes the staged layer as the new current version, in one
    /// transaction: devices and assignment switch from the old layer to
    /// the whole new one at once.
    pub fn publish(&self, store: &dyn Store, name: &str, now_ms: i64) -> StoreResult<u64> {
        store.commit_grid_layer(name, &self.members, now_ms)
    }
}

/// Removes the staged content of `members` that no published version lists
/// (a layer held back or only compared leaves nothing behind); content it
/// shares with a published version stays. Returns how many cells' content
/// went.
pub fn discard(store: &dyn Store, members: &[GridMember]) -> StoreResult<u64> {
    let hashes: Vec<[u8; 32]> = members.iter().map(|m| m.hash).collect();
    crate::store::write(store, |tx| tx.forget_unlisted_grid_cells(&hashes))
}

/// Streams a GeoJSON layer into the store: cells are checked and their
/// content (with the display shapes) stored in batches as they are read,
/// content which no reader sees until a version lists it. Nothing stays
/// staged if any feature is refused.
pub fn stage_layer(
    store: &dyn Store,
    reader: impl Read,
    pattern: &CodePattern,
    fields: &Fields,
    max_cell_bytes: usize,
) -> Result<Staged, LayerImportError> {
    let mut batch: Vec<StoredCell> = Vec::with_capacity(BATCH);
    let mut members: Vec<GridMember> = Vec::new();
    let mut cells: Vec<Cell> = Vec::new();
    let sink = |cell: Cell| -> Result<(), LayerImportError> {
        let stored = stored_cell(&cell);
        if stored.wire.len() > max_cell_bytes {
            return Err(LayerImportError::CellTooLarge {
                index: members.len(),
                code: cell.code,
                bytes: stored.wire.len(),
                limit: max_cell_bytes,
            });
        }
        members.push(stored.member.clone());
        batch.push(stored);
        cells.push(cell);
        if batch.len() >= BATCH {
            store.put_grid_cells(&batch)?;
            batch.clear();
        }
        Ok(())
    };
    let read =
        gridwarden_grid::read_geojson_fields(reader, pattern, fields, sink).map_err(|e| match e {
            ImportError::Grid(e) => LayerImportError::Grid(e),
            ImportError::Sink(e) => e,
        });
    if let Err(e) = read.and_then(|_| Ok(store.put_grid_cells(&batch)?)) {
        // The batches put before the refusal go again: a refused file
        // leaves nothing behind.
        if let Err(left) = discard(store, &members) {
            tracing::warn!(error = %left, "the refused layer's stored cells could not be removed");
        }
        return Err(e);
    }
    Ok(Staged { members, cells })
}

/// Stores already-checked cells as a new layer version (the bundled sample,
/// tests).
pub fn add_layer(store: &dyn Store, name: &str, cells: &[Cell], now_ms: i64) -> StoreResult<u64> {
    let stored: Vec<StoredCell> = cells.iter().map(stored_cell).collect();
    for chunk in stored.chunks(BATCH) {
        store.put_grid_cells(chunk)?;
    }
    let members: Vec<GridMember> = stored.into_iter().map(|s| s.member).collect();
    store.commit_grid_layer(name, &members, now_ms)
}
