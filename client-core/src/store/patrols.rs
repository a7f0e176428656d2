//! Patrols recorded on this device and their thinned tracks.

use gridwarden_protocol::{codec, PatrolInfo, TrackPoint};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use uuid::Uuid;

use super::{blob_uuid, uuid_blob};
use crate::error::{ClientError, Result};

/// A patrol as this device keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalPatrol {
    pub id: Uuid,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub note: String,
    pub next_seq: u32,
    /// Points offered before thinning.
    pub offered: u64,
    pub last_kept: Option<TrackPoint>,
    pub last_raw: Option<TrackPoint>,
}

impl LocalPatrol {
    pub fn info(&self, warden: &str, device: Uuid) -> PatrolInfo {
        PatrolInfo {
            id: self.id,
            warden: warden.to_owned(),
            device,
            started_at_ms: self.started_ms,
            ended_at_ms: self.ended_ms,
            note: self.note.clone(),
        }
    }
}

fn decode_point(bytes: Option<Vec<u8>>) -> Result<Option<TrackPoint>> {
    bytes
        .map(|b| {
            codec::decode(&b).map_err(|e| {
                ClientError::Protocol(format!("stored track point is unreadable: {e}"))
            })
        })
        .transpose()
}

const COLUMNS: &str = "id, started_ms, ended_ms, note, next_seq, offered, last_kept, last_raw";

type Row = (
    Vec<u8>,
    i64,
    Option<i64>,
    String,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn from_row(row: Row) -> Result<LocalPatrol> {
    let (id, started_ms, ended_ms, note, next_seq, offered, last_kept, last_raw) = row;
    Ok(LocalPatrol {
        id: blob_uuid(&id)?,
        started_ms,
        ended_ms,
        note,
        next_seq: next_seq as u32,
        offered: offered as u64,
        last_kept: decode_point(last_kept)?,
        last_raw: decode_point(last_raw)?,
    })
}

pub fn insert(tx: &Transaction, id: Uuid, started_ms: i64, note: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO patrols (id, started_ms, note) VALUES (?1, ?2, ?3)",
        params![uuid_blob(&id), started_ms, note],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: Uuid) -> Result<Option<LocalPatrol>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM patrols WHERE id = ?1"))?;
    let row = stmt.query_row([uuid_blob(&id)], read_row).optional()?;
    row.map(from_row).transpose()
}

/// The patrol under way (started, not stopped), if any.
pub fn running(conn: &Connection) -> Result<Option<LocalPatrol>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM patrols WHERE ended_ms IS NULL ORDER BY started_ms DESC LIMIT 1"
    ))?;
    let row = stmt.query_row([], read_row).optional()?;
    row.map(from_row).transpose()
}

/// Every patrol, newest first.
pub fn list(conn: &Connection) -> Result<Vec<LocalPatrol>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM patrols ORDER BY started_ms DESC"
    ))?;
    let rows = stmt
        .query_map([], read_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(from_row).collect()
}

/// Saves the thinning state after a point was offered.
pub fn set_progress(tx: &Transaction, p: &LocalPatrol) -> Result<()> {
    tx.prepare_cached(
        "UPDATE patrols SET next_seq = ?2, offered = ?3, last_kept = ?4, last_raw = ?5 WHERE id = ?1",
    )?
    .execute(params![
        uuid_blob(&p.id),
        p.next_seq,
        p.offered as i64,
        p.last_kept.as_ref().map(codec::encode),
        p.last_raw.as_ref().map(codec::encode),
    ])?;
    Ok(())
}

pub fn set_ended(tx: &Transaction, id: Uuid, ended_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE patrols SET ended_ms = ?2 WHERE id = ?1",
        params![uuid_blob(&id), ended_ms],
    )?;
    Ok(())
}

pub fn add_point(tx: &Transaction, patrol: Uuid, p: &TrackPoint) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO track_points (patrol, seq, time_ms, lon, lat, accuracy_m, speed_mps, segment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        uuid_blob(&patrol),
        p.seq,
        p.time_ms,
        p.lon,
        p.lat,
        p.accuracy_m,
        p.speed_mps,
        p.segment
    ])?;
    Ok(())
}

/// Reads the seven point columns (seq, time, lon, lat, accuracy, speed,
/// segment) starting at column `at`.
fn point_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<TrackPoint> {
    Ok(TrackPoint {
        seq: r.get(at)?,
        time_ms: r.get(at + 1)?,
        lon: r.get(at + 2)?,
        lat: r.get(at + 3)?,
        accuracy_m: r.get::<_, Option<f64>>(at + 4)?.map(|v| v as f32),
        speed_mps: r.get::<_, Option<f64>>(at + 5)?.map(|v| v as f32),
        segment: r.get(at + 6)?,
    })
}

/// A patrol's kept points in order.
pub fn track(conn: &Connection, patrol: Uuid) -> Result<Vec<TrackPoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time_ms, lon, lat, accuracy_m, speed_mps, segment FROM track_points
         WHERE patrol = ?1 ORDER BY seq",
    )?;
    let points = stmt
        .query_map([uuid_blob(&patrol)], |r| point_at(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(points)
}

/// Points not yet in an outbox op, by patrol, in order; marks them sealed.
/// The caller appends the ops in the same transaction.
pub fn take_unsealed(tx: &Transaction) -> Result<Vec<(Uuid, Vec<TrackPoint>)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT patrol, seq, time_ms, lon, lat, accuracy_m, speed_mps, segment FROM track_points
         WHERE sealed = 0 ORDER BY patrol, seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<(Uuid, Vec<TrackPoint>)> = Vec::new();
    while let Some(row) = rows.next()? {
        let patrol = blob_uuid(&row.get::<_, Vec<u8>>(0)?)?;
        let point = point_at(row, 1)?;
        match out.last_mut() {
            Some((p, points)) if *p == patrol => points.push(point),
            _ => out.push((patrol, vec![point])),
        }
    }
    tx.execute("UPDATE track_points SET sealed = 1 WHERE sealed = 0", [])?;
    Ok(out)
}

/// Reports recorded on a patrol (live ones), by id.
pub fn reports_of(conn: &Connection, patrol: Uuid) -> Result<Vec<Uuid>> {
    // The patrol lives inside each report's encoded state; a device holds
    // few enough reports that decoding them beats another column.
    let mut ids: Vec<Uuid> = super::reports::all_states(conn)?
        .into_iter()
        .filter(|s| s.origin.as_ref().and_then(|o| o.patrol) == Some(patrol))
        .map(|s| s.id)
        .collect();
    ids.sort();
    Ok(ids)
}
