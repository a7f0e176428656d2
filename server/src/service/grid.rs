//! The grid as devices receive it: pages of the cells a user's device
//! should hold, resumable by code, and after that only what changed between
//! layer versions (docs/adr/0019-paged-versioned-grid-sync.md).

use std::collections::HashSet;
use std::sync::Arc;

use gridwarden_grid::shapes::CITY_LEVEL;
use gridwarden_grid::GridIndex;
use gridwarden_protocol::grid::{CellCoverage, CellShape, GridCellWire};
use gridwarden_protocol::{codec, CellPage, FetchCells};

use super::{Service, ServiceError, ServiceResult, Session};
use crate::grid::{Catalog, Coverage};
use crate::store::StoreError;

/// Cells read from the store at a time while filling a page.
const CHUNK: usize = 256;
/// Room left in a frame for the page's other fields.
const PAGE_SLACK: usize = 64 * 1024;

/// What a page request asks for, once the server has looked at it.
enum Mode {
    /// Every cell of the scope, from `after`.
    Whole { reset: bool },
    /// Cells changed since a version the device holds.
    Delta { since: Arc<Catalog> },
    /// The device is up to date.
    Current,
}

impl Service {
    /// The current layer's index, built from the stored cells, streamed.
    pub(super) fn build_grid_index(&self, version: u64) -> ServiceResult<Option<GridIndex>> {
        let Some(catalog) = self.grid_catalogs.get(self.store.as_ref(), version)? else {
            return Ok(None);
        };
        let mut cells = Vec::with_capacity(catalog.len());
        let codes: Vec<String> = (0..catalog.len())
            .map(|i| catalog.member(i).code.clone())
            .collect();
        for chunk in codes.chunks(4 * CHUNK) {
            for (code, bytes) in self.store.grid_cell_data(version, chunk, false)? {
                let corrupt = |e: String| {
                    StoreError::Corrupt(format!("grid layer {version}, cell {code}: {e}"))
                };
                let wire: GridCellWire =
                    codec::decode(&bytes).map_err(|e| corrupt(e.to_string()))?;
                cells.push(gridwarden_grid::cell_from_wire(&wire).map_err(corrupt)?);
            }
        }
        Ok(Some(GridIndex::new(cells)))
    }

    /// One page of the cells this session's device should hold.
    pub fn fetch_cells(&self, session: &Session, fetch: FetchCells) -> ServiceResult<CellPage> {
        let current = self.store.grid_version()?;
        let coverage = if session.cells.is_empty() {
            Coverage::WholeDisplay
        } else {
            Coverage::Scope
        };
        let tag = gridwarden_protocol::grid::scope_tag(&session.cells);
        let wire_coverage = match coverage {
            Coverage::Scope => CellCoverage::Scope,
            Coverage::WholeDisplay => CellCoverage::WholeDisplay,
        };
        let empty = |version: u64, name: String, reset: bool| CellPage {
            layer_version: version,
            layer_name: name,
            scope_tag: tag,
            coverage: wire_coverage,
            reset,
            cells: vec![],
            shapes: vec![],
            removed: vec![],
            next: None,
        };
        if current == 0 {
            return Ok(empty(0, String::new(), true));
        }
        // A download in progress keeps its version, so its pages fit
        // together; the next sync brings it up to date with a delta.
        let catalog = match fetch.layer_version {
            0 => None,
            v => self.grid_catalogs.get(self.store.as_ref(), v)?,
        };
        let catalog = match catalog {
            Some(c) => c,
            None => self
                .grid_catalogs
                .get(self.store.as_ref(), current)?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "grid layer {current} is listed but has no catalog"
                    ))
                })?,
        };
        let resumable = fetch.layer_version == catalog.version && fetch.scope_tag == tag;
        let mode = if fetch.scope_tag != tag {
            Mode::Whole { reset: true }
        } else {
            match fetch.since_version {
                Some(v) if v == catalog.version => Mode::Current,
                Some(v) => match self.grid_catalogs.get(self.store.as_ref(), v)? {
                    Some(since) => Mode::Delta { since },
                    None => Mode::Whole { reset: true },
                },
                None => Mode::Whole {
                    reset: !resumable || fetch.after.is_none(),
                },
            }
        };
        let after = if resumable { fetch.after } else { None };
        let scope = catalog.scope(coverage, &session.cells);
        let (list, removed, reset): (Vec<usize>, Vec<String>, bool) = match mode {
            Mode::Current => return Ok(empty(catalog.version, catalog.name.clone(), false)),
            Mode::Whole { reset } => (scope, vec![], reset && after.is_none()),
            Mode::Delta { since } => {
                let changed = scope
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let m = catalog.member(i);
                        since.get(&m.code).is_none_or(|old| old.hash != m.hash)
                    })
                    .collect();
                // Codes to drop go with the first page only.
                let removed = if after.is_none() {
                    let now: HashSet<&str> = scope
                        .iter()
                        .map(|&i| catalog.member(i).code.as_str())
                        .collect();
                    since
                        .scope(coverage, &session.cells)
                        .into_iter()
                        .map(|i| since.member(i).code.clone())
                        .filter(|code| !now.contains(code.as_str()))
                        .collect()
                } else {
                    vec![]
                };
                (changed, removed, false)
            }
        };
        let start = match &after {
            Some(a) => list.partition_point(|&i| catalog.member(i).code.as_str() <= a.as_str()),
            None => 0,
        };
        let cap = (fetch.max_bytes as usize).min(self.limits.max_frame.saturating_sub(PAGE_SLACK));
        let mut page = empty(catalog.version, catalog.name.clone(), reset);
        page.removed = removed;
        let mut bytes = codec::encode(&page).len();
        let mut last: Option<String> = None;
        let mut done = true;
        'fill: for chunk in list[start..].chunks(CHUNK) {
            let codes: Vec<String> = chunk
                .iter()
                .map(|&i| catalog.member(i).code.clone())
                .collect();
            let shapes = coverage == Coverage::WholeDisplay;
            for (code, data) in self.store.grid_cell_data(catalog.version, &codes, shapes)? {
                let corrupt = |e: String| {
                    ServiceError::Store(StoreError::Corrupt(format!(
                        "grid layer {}, cell {code}: {e}",
                        catalog.version
                    )))
                };
                let size = if shapes {
                    let levels: Vec<CellShape> =
                        codec::decode(&data).map_err(|e| corrupt(e.to_string()))?;
                    let Some(shape) = levels.into_iter().nth(CITY_LEVEL) else {
                        return Err(corrupt("no display shape at the city level".into()));
                    };
                    let size = codec::encode(&shape).len();
                    if bytes + size > cap && last.is_some() {
                        done = false;
                        break 'fill;
                    }
                    page.shapes.push(shape);
                    size
                } else {
                    let size = data.len();
                    if bytes + size > cap && last.is_some() {
                        done = false;
                        break 'fill;
                    }
                    page.cells
                        .push(codec::decode(&data).map_err(|e| corrupt(e.to_string()))?);
                    size
                };
                bytes += size;
                last = Some(code);
            }
        }
        page.next = if done { None } else { last };
        Ok(page)
    }
}
