//! The grid part of a sync: pages of cells until the device holds the
//! announced layer version for its user's scope.

use gridwarden_protocol::{CellPage, ClientMessage, Welcome};
use rusqlite::Transaction;

use super::{Phase, Step, SyncEngine};
use crate::error::{ClientError, Result};
use crate::store::{grid_cells, meta, Store};

/// Most pages in one sync: a bound on a server that never says "last".
/// 10,000 MiB-pages is far beyond any city.
const MAX_PAGES: u32 = 10_000;

/// A download this sync should make.
#[derive(Debug)]
pub(super) struct Wanted {
    /// The announced version (0: whatever is current).
    version: u64,
}

impl Wanted {
    /// Right after enrolment: the current layer, for the scope the server
    /// knows.
    pub fn current() -> Self {
        Wanted { version: 0 }
    }

    /// What the Welcome asks of this device, if anything.
    pub fn after_welcome(tx: &Transaction, w: &Welcome) -> Result<Option<Self>> {
        let state = grid_cells::state(tx)?;
        if w.grid_version == 0 && state.held.is_none() && state.fetching.is_none() {
            return Ok(None);
        }
        Ok(state
            .needs_fetch(w.grid_version, &w.cells)
            .then_some(Wanted {
                version: w.grid_version,
            }))
    }
}

impl SyncEngine {
    pub(super) fn start_cells(&mut self, store: &mut Store, wanted: Wanted) -> Result<Step> {
        let state = grid_cells::state(store.conn())?;
        let mut request = state.request(wanted.version);
        if state.fetching.is_none() {
            // A fresh download: the version announced now.
            request.layer_version = wanted.version;
        }
        self.cell_pages = 0;
        self.phase = Phase::AwaitCells;
        Ok(Step::Send(ClientMessage::FetchCells(request)))
    }

    pub(super) fn on_cells(&mut self, store: &mut Store, page: CellPage) -> Result<Step> {
        self.cell_pages += 1;
        if self.cell_pages > MAX_PAGES {
            return Err(ClientError::Protocol(format!(
                "the server sent more than {MAX_PAGES} pages of grid cells without an end"
            )));
        }
        let tx = store.transaction()?;
        let (changed, next) = grid_cells::apply_page(&tx, &page)?;
        if next.is_none() {
            meta::set_grid_version(&tx, page.layer_version)?;
        }
        tx.commit()?;
        self.summary.grid_updated |= changed;
        self.summary.grid_cells += (page.cells.len() + page.shapes.len()) as u64;
        if let Some(request) = next {
            self.phase = Phase::AwaitCells;
            return Ok(Step::Send(ClientMessage::FetchCells(request)));
        }
        if self.push_and_pull {
            self.next_push(store)
        } else {
            self.finish(store)
        }
    }
}
