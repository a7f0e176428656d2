//! Cases as the server last sent them. The server is their only writer, so
//! the device keeps the longest history it has seen (`CaseState::merge`).

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::codec;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use uuid::Uuid;

use super::{blob_uuid, uuid_blob};
use crate::error::{ClientError, Result};

fn decode(bytes: &[u8]) -> Result<CaseState> {
    codec::decode(bytes)
        .map_err(|e| ClientError::Protocol(format!("a stored case is unreadable: {e}")))
}

pub fn get(conn: &Connection, report: Uuid) -> Result<Option<CaseState>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT state FROM cases WHERE report_id = ?1")?
        .query_row([uuid_blob(&report)], |r| r.get(0))
        .optional()?;
    bytes.map(|b| decode(&b)).transpose()
}

/// Stores a case this device does not hold; `false` (nothing written) when
/// it holds one, which then wants [`merge`]. Tried first on a pull: a new
/// device's initial pull holds no case yet, and this spares a lookup each.
pub fn insert_if_new(tx: &Transaction, case: &CaseState) -> Result<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO cases (report_id, status, deadline_ms, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (report_id) DO NOTHING",
        )?
        .execute(params![
            uuid_blob(&case.report_id),
            case.status.as_str(),
            case.deadline_ms,
            codec::encode(case)
        ])?;
    Ok(inserted == 1)
}

/// Keeps whichever of the stored and the incoming case has seen more steps.
pub fn merge(tx: &Transaction, incoming: &CaseState) -> Result<()> {
    let mut case = get(tx, incoming.report_id)?.unwrap_or_else(|| incoming.clone());
    case.merge(incoming);
    tx.prepare_cached(
        "INSERT INTO cases (report_id, status, deadline_ms, state) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (report_id) DO UPDATE SET status = excluded.status,
           deadline_ms = excluded.deadline_ms, state = excluded.state",
    )?
    .execute(params![
        uuid_blob(&case.report_id),
        case.status.as_str(),
        case.deadline_ms,
        codec::encode(&case)
    ])?;
    Ok(())
}

pub fn forget(tx: &Transaction, report: Uuid) -> Result<()> {
    tx.execute(
        "DELETE FROM cases WHERE report_id = ?1",
        [uuid_blob(&report)],
    )?;
    Ok(())
}

pub fn all(conn: &Connection) -> Result<Vec<CaseState>> {
    let mut stmt = conn.prepare("SELECT report_id, state FROM cases ORDER BY rowid")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            blob_uuid(&r.get::<_, Vec<u8>>(0)?)?,
            r.get::<_, Vec<u8>>(1)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (_, bytes) = row?;
        out.push(decode(&bytes)?);
    }
    Ok(out)
}
