//! Ops the server refused. They never apply, so the outbox drops them; the
//! reason is kept here because the user has to see it and fix the report.

use rusqlite::{params, Connection, Transaction};
use serde::Serialize;
use uuid::Uuid;

use super::{blob_uuid, uuid_blob};
use crate::error::Result;

/// One refused op, as shown to the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub op_id: Uuid,
    pub report_id: Uuid,
    /// snake_case error code, e.g. `unknown_category`.
    pub code: String,
    /// The server's reason, meant for a person.
    pub reason: String,
    /// When this device learnt of it, ms since the epoch.
    pub at_ms: i64,
}

pub fn insert(tx: &Transaction, r: &Rejection) -> Result<()> {
    // REPLACE: the same op can be refused again if an earlier ack was lost
    // before it was committed; keep one row with the latest reason.
    tx.prepare_cached(
        "INSERT OR REPLACE INTO rejections (op_id, report_id, code, reason, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        uuid_blob(&r.op_id),
        uuid_blob(&r.report_id),
        r.code,
        r.reason,
        r.at_ms
    ])?;
    Ok(())
}

/// Every rejection, newest first.
pub fn list(conn: &Connection) -> Result<Vec<Rejection>> {
    let mut stmt = conn.prepare(
        "SELECT op_id, report_id, code, reason, at_ms FROM rejections
         ORDER BY at_ms DESC, rowid DESC",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(Rejection {
            op_id: blob_uuid(&row.get::<_, Vec<u8>>(0)?)?,
            report_id: blob_uuid(&row.get::<_, Vec<u8>>(1)?)?,
            code: row.get(2)?,
            reason: row.get(3)?,
            at_ms: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records that the refusals of `report_id` were shown to the user (or that
/// the user acted on them); the first showing counts.
pub fn mark_shown(tx: &Transaction, report_id: Uuid, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "UPDATE rejections SET shown_ms = ?2 WHERE report_id = ?1 AND shown_ms IS NULL",
    )?
    .execute(params![uuid_blob(&report_id), now_ms])?;
    Ok(())
}

/// [`mark_shown`] for every refusal (the list of refusals was shown).
pub fn mark_all_shown(tx: &Transaction, now_ms: i64) -> Result<()> {
    tx.prepare_cached("UPDATE rejections SET shown_ms = ?1 WHERE shown_ms IS NULL")?
        .execute([now_ms])?;
    Ok(())
}

/// Whether any op of `report_id` was refused.
pub fn any_of(conn: &Connection, report_id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM rejections WHERE report_id = ?1)")?
        .query_row([uuid_blob(&report_id)], |r| r.get(0))?)
}
