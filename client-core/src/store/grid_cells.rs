//! The grid cells this device holds and the state of their download
//! (docs/adr/0019-paged-versioned-grid-sync.md). Pages are applied one
//! transaction each, with the position to resume from, so a cut loses at
//! most the page in flight.

use gridwarden_protocol::grid::{scope_tag, CellCoverage, CellShape, GridCellWire, GridLayerWire};
use gridwarden_protocol::{codec, CellPage, FetchCells};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};

/// Most bytes asked for in one page.
pub const PAGE_BYTES: u32 = 1024 * 1024;

const FULL: i64 = 0;
const DISPLAY: i64 = 1;

/// What the device holds, and the download under way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GridState {
    /// The layer version held completely, if any.
    pub held: Option<u64>,
    /// The scope tag of the cells held (and of the download under way).
    pub scope_tag: u64,
    /// Whether the cells held are the whole layer (display shapes or an
    /// old whole-layer cache) rather than the user's part of it.
    pub whole: bool,
    /// Held cells are right for any scope (a whole layer in full geometry).
    pub any_scope: bool,
    /// Download under way: the version, and the code after which it resumes.
    pub fetching: Option<u64>,
    pub after: Option<String>,
}

impl GridState {
    /// Whether the device must ask for cells, given the server's current
    /// version and the user's cells as announced (a change made by IT
    /// changes the scope tag).
    pub fn needs_fetch(&self, announced: u64, cells: &[String]) -> bool {
        self.fetching.is_some()
            || self.held != Some(announced)
            || (!self.any_scope && self.scope_tag != scope_tag(cells))
    }

    /// The request that continues (or starts) the download.
    pub fn request(&self, announced: u64) -> FetchCells {
        let layer_version = self.fetching.unwrap_or(announced);
        FetchCells {
            layer_version,
            scope_tag: self.scope_tag,
            since_version: self.held,
            after: self.after.clone(),
            max_bytes: PAGE_BYTES,
        }
    }
}

pub fn state(conn: &Connection) -> Result<GridState> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT state FROM grid_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match bytes {
        Some(b) => codec::decode(&b)
            .map_err(|_| ClientError::Protocol("the stored grid state is unreadable".into())),
        None => Ok(GridState::default()),
    }
}

/// Changes with every change to the cells held (`None`: never had any).
pub fn revision(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT revision FROM grid_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?)
}

fn put_state(tx: &Transaction, state: &GridState) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO grid_state (id, revision, state) VALUES (1, 1, ?1)
         ON CONFLICT (id) DO UPDATE SET revision = revision + 1, state = excluded.state",
    )?
    .execute([codec::encode(state)])?;
    Ok(())
}

/// Applies one page in the caller's transaction. Returns whether it
/// changed any cell, and the request for the next page (`None`: the
/// device now holds the page's version completely).
pub fn apply_page(tx: &Transaction, page: &CellPage) -> Result<(bool, Option<FetchCells>)> {
    let mut s = state(tx)?;
    if page.reset {
        tx.execute("DELETE FROM grid_cells", [])?;
        s.held = None;
    }
    let mut changed = page.reset;
    {
        let mut del = tx.prepare_cached("DELETE FROM grid_cells WHERE code = ?1")?;
        for code in &page.removed {
            changed |= del.execute([code])? > 0;
        }
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO grid_cells (code, detail, data) VALUES (?1, ?2, ?3)",
        )?;
        for cell in &page.cells {
            put.execute(params![cell.code, FULL, codec::encode(cell)])?;
        }
        for shape in &page.shapes {
            put.execute(params![shape.code, DISPLAY, codec::encode(shape)])?;
        }
        changed |= !page.cells.is_empty() || !page.shapes.is_empty();
    }
    s.scope_tag = page.scope_tag;
    s.whole = page.coverage == CellCoverage::WholeDisplay;
    s.any_scope = false;
    let next = match &page.next {
        Some(after) => {
            s.fetching = Some(page.layer_version);
            s.after = Some(after.clone());
            let mut request = s.request(page.layer_version);
            request.layer_version = page.layer_version;
            Some(request)
        }
        None => {
            s.fetching = None;
            s.after = None;
            s.held = Some(page.layer_version);
            None
        }
    };
    put_state(tx, &s)?;
    Ok((changed, next))
}

/// Replaces the cells held by a whole layer (a server that still sends
/// layers in one piece, and tests).
pub fn put_whole_layer(tx: &Transaction, layer: &GridLayerWire) -> Result<()> {
    tx.execute("DELETE FROM grid_cells", [])?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO grid_cells (code, detail, data) VALUES (?1, ?2, ?3)",
        )?;
        for cell in &layer.cells {
            put.execute(params![cell.code, FULL, codec::encode(cell)])?;
        }
    }
    let mut s = state(tx)?;
    s.held = Some(layer.version);
    s.whole = true;
    s.any_scope = true;
    s.fetching = None;
    s.after = None;
    put_state(tx, &s)
}

/// The cells held: full geometry and display shapes.
pub fn load(conn: &Connection) -> Result<(Vec<GridCellWire>, Vec<CellShape>)> {
    let mut stmt = conn.prepare("SELECT detail, data FROM grid_cells ORDER BY code")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let (mut full, mut display) = (Vec::new(), Vec::new());
    let unreadable =
        || ClientError::Protocol("a stored grid cell is unreadable; sync again".into());
    for row in rows {
        let (detail, data) = row?;
        match detail {
            DISPLAY => display.push(codec::decode(&data).map_err(|_| unreadable())?),
            _ => full.push(codec::decode(&data).map_err(|_| unreadable())?),
        }
    }
    Ok((full, display))
}

/// Codes of the cells held, in order.
pub fn codes(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT code FROM grid_cells ORDER BY code")?;
    let codes = stmt.query_map([], |r| r.get(0))?;
    Ok(codes.collect::<std::result::Result<_, _>>()?)
}

/// (code, name) of the cells held that have a name.
pub fn names(conn: &Connection) -> Result<Vec<(String, String)>> {
    let (full, shapes) = load(conn)?;
    let named = |code: String, name: Option<String>| Some((code, name.filter(|n| !n.is_empty())?));
    Ok(full
        .into_iter()
        .filter_map(|c| named(c.code, c.name))
        .chain(shapes.into_iter().filter_map(|s| named(s.code, s.name)))
        .collect())
}
