//! Edits of this device's user that another user's edit replaced. A merge
//! keeps the write with the later clock; when that is someone else's, the
//! loser is told who won and when, not left to find the change undone.

use gridwarden_protocol::report::Lww;
use gridwarden_protocol::{codec, hlc, Hlc, ReportState};
use rusqlite::{params, Connection, Transaction};
use serde::Serialize;
use uuid::Uuid;

use super::{blob_uuid, uuid_blob};
use crate::error::Result;

/// One of this user's edits that another's replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Overwrite {
    pub report_id: Uuid,
    /// `category`, `note`, `location` or `address`.
    pub field: String,
    /// This user's value, as text.
    pub mine: String,
    /// The value that won, as text.
    pub winner: String,
    /// Who wrote the winning value, when this device knows (the reporter, or
    /// someone who took a step of the report's case from that device).
    pub winner_by: Option<String>,
    /// When this user's edit and the winning one were made (their clocks).
    pub lost_at_ms: i64,
    pub winner_at_ms: i64,
    /// When this device learnt of it.
    pub at_ms: i64,
    /// The clock node of the winning write (which device made it).
    #[serde(skip)]
    pub winner_node: u64,
}

/// The fields of `before` written by this device (`node`) that `after`
/// holds another device's later write for: what a merge just overwrote,
/// each with the clock of the write that lost. `winner_by` is left unknown.
pub fn detect(
    before: &ReportState,
    after: &ReportState,
    node: u64,
    at_ms: i64,
) -> Vec<(Overwrite, Hlc)> {
    fn field<T: Clone + PartialEq>(
        name: &str,
        before: Option<&Lww<T>>,
        after: Option<&Lww<T>>,
        show: impl Fn(&T) -> String,
    ) -> Option<(String, Hlc, String, Hlc, String)> {
        let (mine, won) = (before?, after?);
        if won.hlc <= mine.hlc || won.hlc.node == mine.hlc.node {
            return None;
        }
        Some((
            name.to_owned(),
            mine.hlc,
            show(&mine.value),
            won.hlc,
            show(&won.value),
        ))
    }
    let loc = |l: &gridwarden_protocol::Location| format!("{:.6}, {:.6}", l.lon, l.lat);
    let addr = |a: &Option<String>| a.clone().unwrap_or_else(|| "-".into());
    let candidates = [
        field(
            "category",
            before.category.as_ref(),
            after.category.as_ref(),
            String::clone,
        ),
        field(
            "note",
            before.note.as_ref(),
            after.note.as_ref(),
            String::clone,
        ),
        field(
            "location",
            before.location.as_ref(),
            after.location.as_ref(),
            loc,
        ),
        field(
            "address",
            before.address.as_ref(),
            after.address.as_ref(),
            addr,
        ),
    ];
    if after.is_deleted() {
        // A deleted report is gone for everyone; that is not an overwrite.
        return vec![];
    }
    candidates
        .into_iter()
        .flatten()
        .filter(|(_, lost, ..)| lost.node == node)
        .map(|(field, lost, mine, won, winner)| {
            let notice = Overwrite {
                report_id: before.id,
                field,
                mine,
                winner,
                winner_by: None,
                lost_at_ms: lost.wall_ms as i64,
                winner_at_ms: won.wall_ms as i64,
                at_ms,
                winner_node: won.node,
            };
            (notice, lost)
        })
        .collect()
}

/// The user who writes with clock `node`, as far as `state` and the case
/// history `steps` tell (the reporter's device, devices that took steps).
pub fn name_of(node: u64, state: Option<&ReportState>, steps: &[(String, Uuid)]) -> Option<String> {
    if let Some(origin) = state.and_then(|s| s.origin.as_ref()) {
        if hlc::node_id(origin.device) == node {
            return Some(origin.reporter.clone());
        }
    }
    steps
        .iter()
        .find(|(_, device)| hlc::node_id(*device) == node)
        .map(|(user, _)| user.clone())
}

/// Keeps a notice; the same lost edit is noticed once.
pub fn insert(tx: &Transaction, o: &Overwrite, lost: Hlc) -> Result<bool> {
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO overwrites (report_id, field, lost_hlc, mine, winner,
             winner_by, lost_at_ms, winner_at_ms, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            uuid_blob(&o.report_id),
            o.field,
            codec::encode(&lost),
            o.mine,
            o.winner,
            o.winner_by,
            o.lost_at_ms,
            o.winner_at_ms,
            o.at_ms
        ])?;
    Ok(n == 1)
}

const COLUMNS: &str = "report_id, field, mine, winner, winner_by, lost_at_ms, winner_at_ms, at_ms";

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Overwrite> {
    Ok(Overwrite {
        report_id: blob_uuid(&row.get::<_, Vec<u8>>(0)?)?,
        field: row.get(1)?,
        mine: row.get(2)?,
        winner: row.get(3)?,
        winner_by: row.get(4)?,
        lost_at_ms: row.get(5)?,
        winner_at_ms: row.get(6)?,
        at_ms: row.get(7)?,
        winner_node: 0,
    })
}

/// Every notice, newest first.
pub fn list(conn: &Connection) -> Result<Vec<Overwrite>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM overwrites ORDER BY at_ms DESC, rowid DESC"
    ))?;
    let rows = stmt.query_map([], read)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The notices of one report, oldest first (its history).
pub fn of_report(conn: &Connection, report_id: Uuid) -> Result<Vec<Overwrite>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM overwrites WHERE report_id = ?1 ORDER BY lost_at_ms, rowid"
    ))?;
    let rows = stmt.query_map([uuid_blob(&report_id)], read)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
