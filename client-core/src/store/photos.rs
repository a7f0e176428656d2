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
    /// The whole file is on this device (not dropped under the budget).
    pub full: bool,
    /// The thumbnail's size; `None` while none was tried, `Some(0)` when
    /// none can be made (not a decodable image).
    pub thumb_bytes: Option<u64>,
}

impl LocalPhoto {
    /// Whether a thumbnail of it is on this device.
    pub fn has_thumbnail(&self) -> bool {
        self.thumb_bytes.is_some_and(|b| b > 0)
    }
}

fn hash_from(bytes: Vec<u8>) -> Result<PhotoHash> {
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ClientError::Protocol("stored photo hash is not 32 bytes".into()))?;
    Ok(PhotoHash(raw))
}

/// Records a photo attached here (its file was just stored); one already
/// known keeps its state unless it was only fetched or refused (attaching it
/// again asks to send it again), and counts as whole here again.
pub fn queue(tx: &Transaction, photo: &PhotoRef, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO photos (hash, size, mime, state, added_ms) VALUES (?1, ?2, ?3, 'queued', ?4)
         ON CONFLICT (hash) DO UPDATE SET
           full = 1,
           reason = CASE WHEN photos.state IN ('fetched', 'refused') THEN NULL ELSE photos.reason END,
           state = CASE WHEN photos.state IN ('fetched', 'refused') THEN 'queued' ELSE photos.state END",
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

/// The server holds this photo whole: from now on its full file may be
/// dropped under the budget, the oldest acknowledged first.
pub fn mark_uploaded(tx: &Transaction, hash: PhotoHash, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "UPDATE photos SET state = 'uploaded', reason = NULL, kept_ms = ?2 WHERE hash = ?1",
    )?
    .execute(params![hash.0.as_slice(), now_ms])?;
    Ok(())
}

/// A photo downloaded from the server: new here (`fetched`), or one of this
/// device's own whose full file was dropped, whole again. Either may be
/// dropped again later, after the ones kept longer.
pub fn record_fetched(tx: &Transaction, photo: &PhotoRef, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO photos (hash, size, mime, state, added_ms, kept_ms) VALUES (?1, ?2, ?3, 'fetched', ?4, ?4)
         ON CONFLICT (hash) DO UPDATE SET full = 1, kept_ms = ?4",
    )?
    .execute(params![photo.hash.0.as_slice(), photo.size as i64, photo.mime, now_ms])?;
    Ok(())
}

/// Records whether the full file of a photo is on this device.
pub fn set_full(tx: &Transaction, hash: PhotoHash, full: bool) -> Result<()> {
    tx.prepare_cached("UPDATE photos SET full = ?2 WHERE hash = ?1")?
        .execute(params![hash.0.as_slice(), full])?;
    Ok(())
}

/// Records a photo's thumbnail: its size, 0 when none can be made.
pub fn set_thumb(tx: &Transaction, hash: PhotoHash, bytes: u64) -> Result<()> {
    tx.prepare_cached("UPDATE photos SET thumb_bytes = ?2 WHERE hash = ?1")?
        .execute(params![hash.0.as_slice(), bytes as i64])?;
    Ok(())
}

const COLUMNS: &str = "hash, size, mime, state, reason, full, thumb_bytes";

/// hash, size, mime, state, reason, full, thumb_bytes
type PhotoRow = (
    Vec<u8>,
    i64,
    String,
    String,
    Option<String>,
    bool,
    Option<i64>,
);

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhotoRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn local(row: PhotoRow) -> Result<LocalPhoto> {
    let (hash, size, mime, state, reason, full, thumb_bytes) = row;
    Ok(LocalPhoto {
        photo: PhotoRef {
            hash: hash_from(hash)?,
            size: size as u64,
            mime,
        },
        state: PhotoState::parse(&state)?,
        reason,
        full,
        thumb_bytes: thumb_bytes.map(|b| b as u64),
    })
}

fn select(conn: &Connection, filter: &str, args: impl rusqlite::Params) -> Result<Vec<LocalPhoto>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM photos {filter}"))?;
    let rows = stmt
        .query_map(args, from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(local).collect()
}

pub fn get(conn: &Connection, hash: PhotoHash) -> Result<Option<LocalPhoto>> {
    Ok(select(conn, "WHERE hash = ?1", [hash.0.as_slice()])?
        .into_iter()
        .next())
}

/// Photos waiting to be uploaded, oldest first.
pub fn ready(conn: &Connection) -> Result<Vec<LocalPhoto>> {
    select(conn, "WHERE state = 'ready' ORDER BY added_ms, hash", [])
}

/// Photos the server refused, oldest first.
pub fn refused(conn: &Connection) -> Result<Vec<LocalPhoto>> {
    select(conn, "WHERE state = 'refused' ORDER BY added_ms, hash", [])
}

/// Photos the server holds whose full file is here and that have no
/// thumbnail tried yet: each gets one before its file may be dropped.
pub fn thumbless(conn: &Connection) -> Result<Vec<LocalPhoto>> {
    select(
        conn,
        "WHERE full = 1 AND thumb_bytes IS NULL AND state IN ('uploaded', 'fetched')
         ORDER BY kept_ms, hash",
        [],
    )
}

/// The full files that may be dropped, in the order they go: the server
/// holds them (acknowledged, or fetched from it), a thumbnail was tried, the
/// longest kept first. Never a photo not yet uploaded.
pub fn droppable(conn: &Connection) -> Result<Vec<LocalPhoto>> {
    select(
        conn,
        "WHERE full = 1 AND thumb_bytes IS NOT NULL AND state IN ('uploaded', 'fetched')
         ORDER BY kept_ms, added_ms, hash",
        [],
    )
}

/// Every photo whose full file is recorded as here.
pub fn held(conn: &Connection) -> Result<Vec<LocalPhoto>> {
    select(conn, "WHERE full = 1 ORDER BY added_ms, hash", [])
}

/// What the photos take on this device: full files, and thumbnails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Photos with their full file here, and its bytes.
    pub full_photos: u64,
    pub full_bytes: u64,
    /// Of those, the ones the server does not hold yet (never dropped).
    pub unsent_bytes: u64,
    /// Photos with only their thumbnail here.
    pub thumbnail_only: u64,
    pub thumbnail_bytes: u64,
}

pub fn usage(conn: &Connection) -> Result<Usage> {
    Ok(conn.query_row(
        "SELECT
           coalesce(sum(full), 0),
           coalesce(sum(CASE WHEN full = 1 THEN size ELSE 0 END), 0),
           coalesce(sum(CASE WHEN full = 1 AND state IN ('queued', 'ready') THEN size ELSE 0 END), 0),
           coalesce(sum(CASE WHEN full = 0 AND thumb_bytes > 0 THEN 1 ELSE 0 END), 0),
           coalesce(sum(thumb_bytes), 0)
         FROM photos",
        [],
        |r| {
            Ok(Usage {
                full_photos: r.get::<_, i64>(0)? as u64,
                full_bytes: r.get::<_, i64>(1)? as u64,
                unsent_bytes: r.get::<_, i64>(2)? as u64,
                thumbnail_only: r.get::<_, i64>(3)? as u64,
                thumbnail_bytes: r.get::<_, i64>(4)? as u64,
            })
        },
    )?)
}

const BUDGET_KEY: &str = "photo_budget";

/// The storage budget for full photo files, in bytes; `None`: unlimited.
/// Kept in the device's meta; never set, it is [`DEFAULT_BUDGET`].
pub fn budget(conn: &Connection) -> Result<Option<u64>> {
    let stored: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([BUDGET_KEY], |r| r.get(0))
        .optional()?;
    Ok(match stored {
        None => DEFAULT_BUDGET,
        Some(b) if b < 0 => None,
        Some(b) => Some(b as u64),
    })
}

/// Sets the budget; `None` for unlimited.
pub fn set_budget(tx: &Transaction, bytes: Option<u64>) -> Result<()> {
    let stored = bytes.map_or(-1, |b| b.min(i64::MAX as u64) as i64);
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![BUDGET_KEY, stored])?;
    Ok(())
}

/// The budget of a device that never set one: 256 MiB, more than a long day
/// of photos (50 of 3 MB), so the day's own photos stay whole while older
/// ones give way (ADR 0031).
pub const DEFAULT_BUDGET: Option<u64> = Some(256 * 1024 * 1024);

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
///
/// Only the photos whose full file is still here: one dropped under the
/// budget cannot be sent again (ADR 0031 says what that risks).
pub fn offer_again(tx: &Transaction) -> Result<u64> {
    Ok(tx.execute(
        "UPDATE photos SET state = 'ready' WHERE state = 'uploaded' AND full = 1",
        [],
    )? as u64)
}
