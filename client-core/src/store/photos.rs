//! Which photos this device holds and where each stands with the server.

use gridwarden_protocol::{PhotoHash, PhotoRef};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

use crate::error::{ClientError, Result};

/// Where a photo stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoState {
    /// Attached here; the report's attach op has not been acknowledged.
    Queued,
    /// The server knows the report refers to it: to be uploaded.
    Ready,
    /// The server holds it whole.
    Uploaded,
    /// The server refused it; `reason` says why.
    Refused,
    /// Downloaded from the server for viewing.
    Fetched,
}

impl PhotoState {
    pub fn as_str(&self) -> &'static str {
        match self {
            PhotoState::Queued => "queued",
            PhotoState::Ready => "ready",
            PhotoState::Uploaded => "uploaded",
            PhotoState::Refused => "refused",
            PhotoState::Fetched => "fetched",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => PhotoState::Queued,
            "ready" => PhotoState::Ready,
            "uploaded" => PhotoState::Uploaded,
            "refused" => PhotoState::Refused,
            "fetched" => PhotoState::Fetched,
            other => {
                return Err(ClientError::Protocol(format!(
                    "unknown stored photo state `{other}`"
                )))
            }
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LocalPhoto {
    pub photo: PhotoRef,
    pub state: PhotoState,
    pub reason: Option<String>,
}

fn hash_from(bytes: Vec<u8>) -> Result<PhotoHash> {
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ClientError::Protocol("stored photo hash is not 32 bytes".into()))?;
    Ok(PhotoHash(raw))
}

/// Records a photo attached here; one already known keeps its state unless
/// it was only fetched or refused (attaching it again asks to send it again).
pub fn queue(tx: &Transaction, photo: &PhotoRef, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO photos (hash, size, mime, state, added_ms) VALUES (?1, ?2, ?3, 'queued', ?4)
         ON CONFLICT (hash) DO UPDATE SET state = 'queued', reason = NULL
           WHERE photos.state IN ('fetched', 'refused')",
    )?
    .execute(params![
        photo.hash.0.as_slice(),
        photo.size as i64,
        photo.mime,
        now_ms
    ])?;
    Ok(())
}

pub fn set_state(
    tx: &Transaction,
    hash: PhotoHash,
    state: PhotoState,
    reason: Option<&str>,
) -> Result<()> {
    tx.prepare_cached("UPDATE photos SET state = ?2, reason = ?3 WHERE hash = ?1")?
        .execute(params![hash.0.as_slice(), state.as_str(), reason])?;
    Ok(())
}

/// The server acknowledged a report's reference to these photos.
pub fn mark_ready(tx: &Transaction, photos: &[PhotoRef]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("UPDATE photos SET state = 'ready' WHERE hash = ?1 AND state = 'queued'")?;
    for p in photos {
        stmt.execute([p.hash.0.as_slice()])?;
    }
    Ok(())
}

pub fn record_fetched(tx: &Transaction, photo: &PhotoRef, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO photos (hash, size, mime, state, added_ms) VALUES (?1, ?2, ?3, 'fetched', ?4)",
    )?
    .execute(params![photo.hash.0.as_slice(), photo.size as i64, photo.mime, now_ms])?;
    Ok(())
}

/// hash, size, mime, state, reason
type PhotoRow = (Vec<u8>, i64, String, String, Option<String>);

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhotoRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn local(row: PhotoRow) -> Result<LocalPhoto> {
    let (hash, size, mime, state, reason) = row;
    Ok(LocalPhoto {
        photo: PhotoRef {
            hash: hash_from(hash)?,
            size: size as u64,
            mime,
        },
        state: PhotoState::parse(&state)?,
        reason,
    })
}

pub fn get(conn: &Connection, hash: PhotoHash) -> Result<Option<LocalPhoto>> {
    let row = conn
        .prepare_cached("SELECT hash, size, mime, state, reason FROM photos WHERE hash = ?1")?
        .query_row([hash.0.as_slice()], from_row)
        .optional()?;
    row.map(local).transpose()
}

/// Photos waiting to be uploaded, oldest first.
pub fn ready(conn: &Connection) -> Result<Vec<LocalPhoto>> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, size, mime, state, reason FROM photos WHERE state = 'ready' ORDER BY added_ms, hash",
    )?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(local).collect()
}

/// Photos the server refused, oldest first.
pub fn refused(conn: &Connection) -> Result<Vec<LocalPhoto>> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, size, mime, state, reason FROM photos WHERE state = 'refused' ORDER BY added_ms, hash",
    )?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(local).collect()
}

/// How many photos wait to be sent (attached or ready).
pub fn waiting(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM photos WHERE state IN ('queued', 'ready')",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// The server may no longer hold the photos it took from this device (it
/// was restored from a backup): each is offered again, and the server's
/// answer to the offer says whether it still has it (a photo is named by its
/// hash, so one it holds is never stored twice). Returns how many.
pub fn offer_again(tx: &Transaction) -> Result<u64> {
    Ok(tx.execute(
        "UPDATE photos SET state = 'ready' WHERE state = 'uploaded'",
        [],
    )? as u64)
}
