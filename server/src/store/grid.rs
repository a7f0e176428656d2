//! Reference data: grid layers (cells stored by content, published as
//! versions) and category tables.

use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::grid::GridLayerWire;

use super::{write, GridMember, LayerInfo, StoreResult, StoredCell, Transact};

pub trait GridStore: Transact {
    /// The cells of a version: code, content hash and box.
    fn grid_members(&self, version: u64) -> StoreResult<Vec<GridMember>>;
    /// The stored content of `codes` in `version`, in the order asked, as
    /// (code, bytes): `GridCellWire`, or with `shapes` the display shapes.
    /// Codes not in the version are left out.
    fn grid_cell_data(
        &self,
        version: u64,
        codes: &[String],
        shapes: bool,
    ) -> StoreResult<Vec<(String, Vec<u8>)>>;
    fn grid_layers(&self) -> StoreResult<Vec<LayerInfo>>;
    /// The whole current layer in one value. Memory grows with the layer:
    /// for small layers and tools; devices get theirs in pages.
    fn current_grid_layer(&self) -> StoreResult<Option<GridLayerWire>>;
    /// Version of the current layer, 0 if none. Cheap: polled per request.
    fn grid_version(&self) -> StoreResult<u64>;
    fn categories(&self) -> StoreResult<Option<CategoryTable>>;
    fn categories_version(&self) -> StoreResult<u64>;

    /// [`GridTx::commit_grid_layer`] alone.
    fn commit_grid_layer(
        &self,
        name: &str,
        members: &[GridMember],
        now_ms: i64,
    ) -> StoreResult<u64> {
        write(self, |tx| tx.commit_grid_layer(name, members, now_ms))
    }

    /// [`GridTx::put_categories`] alone.
    fn put_categories(&self, categories: &CategoryTable, now_ms: i64) -> StoreResult<u64> {
        write(self, |tx| tx.put_categories(categories, now_ms))
    }

    /// Stores cells' content (idempotent by hash), each batch its own unit
    /// of work: a large layer is put in many. Invisible until a layer
    /// version lists them.
    fn put_grid_cells(&self, cells: &[StoredCell]) -> StoreResult<()> {
        if cells.is_empty() {
            return Ok(());
        }
        write(self, |tx| tx.put_grid_cells(cells))
    }
}

pub trait GridTx {
    fn put_grid_cells(&mut self, cells: &[StoredCell]) -> StoreResult<()>;
    /// Publishes a new layer version made of `members` (whose content was
    /// put before); returns its version. Refused with
    /// [`super::Clash::GridCode`] for a code twice or content not put.
    fn commit_grid_layer(
        &mut self,
        name: &str,
        members: &[GridMember],
        now_ms: i64,
    ) -> StoreResult<u64>;
    /// Stores a new category table, returning its version.
    fn put_categories(&mut self, categories: &CategoryTable, now_ms: i64) -> StoreResult<u64>;
    /// Removes the stored content of `hashes` that no layer version lists
    /// (a layer staged, then held back, refused halfway or only compared);
    /// content a version lists stays. Returns how many were removed.
    fn forget_unlisted_grid_cells(&mut self, hashes: &[[u8; 32]]) -> StoreResult<u64>;
}
