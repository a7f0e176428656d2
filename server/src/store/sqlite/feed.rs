//! The change feed as one device pulls it: every report after the cursor for
//! a supervisor; for a warden, the reports in their cells or of their own,
//! and a notice for reports that left one of their cells.
//!
//! A scoped pull is index-driven: their own reports are a range of
//! `reports_by_reporter`, each of their cells a range of `reports_by_cell`
//! (reports in it now) and one of `report_left_cells_by_cell` (reports that
//! left it); the ranges are merged by seq and read lazily, so a page costs
//! what it returns, not the size of the feed after the cursor.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use rusqlite::{params, Connection, Rows};
use uuid::Uuid;

use super::{decode_state, uuid_from};
use crate::store::{FeedItem, Page, PullQuery, Scope, StoreError, StoreResult};

pub(super) fn pull(c: &Connection, q: &PullQuery) -> StoreResult<Page> {
    match &q.scope {
        Scope::All => pull_all(c, q),
        Scope::Cells { user, cells } => pull_scoped(c, q, user, cells),
    }
}

/// Collects items until the page is full by count or bytes.
struct PageBuilder<'q> {
    q: &'q PullQuery,
    page: Page,
    bytes: usize,
}

impl<'q> PageBuilder<'q> {
    fn new(q: &'q PullQuery) -> Self {
        Self {
            q,
            page: Page {
                items: Vec::new(),
                last_seq: q.after_seq,
                more: false,
            },
            bytes: 0,
        }
    }

    /// Adds the item at `seq` of `size` encoded bytes, made by `item` only if
    /// it fits; `false` (and `more` set) once the page is full.
    fn add(
        &mut self,
        seq: i64,
        size: usize,
        item: impl FnOnce() -> StoreResult<FeedItem>,
    ) -> StoreResult<bool> {
        let full = self.page.items.len() >= self.q.max_records
            || (!self.page.items.is_empty() && self.bytes + size > self.q.max_bytes);
        if full {
            self.page.more = true;
            return Ok(false);
        }
        self.bytes += size;
        self.page.items.push(item()?);
        self.page.last_seq = seq as u64;
        Ok(true)
    }
}

fn blob<'a>(row: &'a rusqlite::Row<'_>, i: usize) -> StoreResult<&'a [u8]> {
    row.get_ref(i)?
        .as_blob()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn pull_all(c: &Connection, q: &PullQuery) -> StoreResult<Page> {
    // One row beyond the page tells whether more remain.
    let limit = q.max_records as i64 + 1;
    let mut stmt =
        c.prepare_cached("SELECT seq, state FROM reports WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let mut rows = stmt.query(params![q.after_seq as i64, limit])?;
    let mut page = PageBuilder::new(q);
    while let Some(row) = rows.next()? {
        let state = blob(row, 1)?;
        let added = page.add(row.get(0)?, state.len(), || {
            Ok(FeedItem::Report(decode_state(state)?))
        })?;
        if !added {
            break;
        }
    }
    Ok(page.page)
}

/// Size counted for an out-of-scope notice: its report id.
const NOTICE_BYTES: usize = 16;

fn pull_scoped(c: &Connection, q: &PullQuery, user: &str, cells: &[String]) -> StoreResult<Page> {
    let after = q.after_seq as i64;
    let cells: HashSet<&str> = cells.iter().map(String::as_str).collect();
    // One statement per range: each steps through its own index in seq order
    // and is only read as far as the merge needs.
    const OWN: &str = "SELECT seq FROM reports WHERE reporter = ?1 AND seq > ?2 ORDER BY seq";
    const IN_CELL: &str = "SELECT seq FROM reports WHERE grid_cell = ?1 AND seq > ?2 ORDER BY seq";
    const LEFT_CELL: &str =
        "SELECT seq FROM report_left_cells WHERE cell = ?1 AND seq > ?2 ORDER BY seq";
    let ranges: Vec<(&str, &str)> = std::iter::once((OWN, user))
        .chain(
            cells
                .iter()
                .flat_map(|&cell| [(IN_CELL, cell), (LEFT_CELL, cell)]),
        )
        .collect();
    let mut statements = ranges
        .iter()
        .map(|(sql, _)| c.prepare_cached(sql))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cursors: Vec<Rows<'_>> = statements
        .iter_mut()
        .zip(&ranges)
        .map(|(stmt, (_, key))| stmt.query(params![key, after]))
        .collect::<Result<_, _>>()?;
    let mut heads = BinaryHeap::with_capacity(cursors.len());
    for (i, rows) in cursors.iter_mut().enumerate() {
        if let Some(seq) = next_seq(rows)? {
            heads.push(Reverse((seq, i)));
        }
    }

    let mut by_seq =
        c.prepare_cached("SELECT id, reporter, grid_cell, state FROM reports WHERE seq = ?1")?;
    let mut page = PageBuilder::new(q);
    let mut last = None;
    while let Some(Reverse((seq, i))) = heads.pop() {
        if let Some(next) = next_seq(&mut cursors[i])? {
            heads.push(Reverse((next, i)));
        }
        // A report in several of the ranges (its own, in a cell it also
        // left) comes once.
        if last == Some(seq) {
            continue;
        }
        last = Some(seq);
        let mut rows = by_seq.query([seq])?;
        let row = rows.next()?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "report_cells names feed position {seq}, no report has it"
            ))
        })?;
        let visible = row.get_ref(1)?.as_str().ok() == Some(user)
            || row
                .get_ref(2)?
                .as_str_or_null()
                .ok()
                .flatten()
                .is_some_and(|cell| cells.contains(cell));
        // Rows in scope come whole; rows that only left the scope come as a
        // notice, so the device drops a copy it may no longer see.
        let added = if visible {
            let state = blob(row, 3)?;
            page.add(seq, state.len(), || {
                Ok(FeedItem::Report(decode_state(state)?))
            })?
        } else {
            let id: Uuid = uuid_from(row.get(0)?)?;
            page.add(seq, NOTICE_BYTES, || Ok(FeedItem::OutOfScope(id)))?
        };
        if !added {
            break;
        }
    }
    Ok(page.page)
}

fn next_seq(rows: &mut Rows<'_>) -> StoreResult<Option<i64>> {
    Ok(match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    })
}
