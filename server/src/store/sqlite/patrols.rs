//! Patrols, their tracks and the report–photo index in the SQLite backend.

use gridwarden_protocol::{PatrolInfo, PhotoHash, ReportState, TrackPoint};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::{decode_state, uuid_from};
use crate::store::{DigestTrack, PatrolChange, PatrolFilter, StoreResult, StoredPatrol};

const PATROL_COLUMNS: &str = "id, warden, device, started_ms, ended_ms, note, point_count, digest";

/// id, warden, device, started, ended, note, point count, digest
type PatrolRow = (
    Vec<u8>,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    String,
    i64,
    Option<Vec<u8>>,
);

fn patrol_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PatrolRow> {
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

fn patrol_from(row: PatrolRow) -> StoreResult<StoredPatrol> {
    let (id, warden, device, started_at_ms, ended_at_ms, note, count, digest) = row;
    Ok(StoredPatrol {
        info: PatrolInfo {
            id: uuid_from(id)?,
            warden,
            device: uuid_from(device)?,
            started_at_ms,
            ended_at_ms,
            note,
        },
        point_count: count as u32,
        digest,
    })
}

pub(super) fn load_patrol(c: &Connection, id: Uuid) -> StoreResult<Option<StoredPatrol>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PATROL_COLUMNS} FROM patrols WHERE id = ?1"
    ))?;
    let row = stmt
        .query_row([id.as_bytes().as_slice()], patrol_from_row)
        .optional()?;
    row.map(patrol_from).transpose()
}

/// Stores a patrol's new facts and adds its new points (a point already
/// stored under the same sequence number is kept as it was), and the
/// service's digest of the track when points were added.
pub(super) fn save_patrol(
    tx: &Connection,
    change: &PatrolChange,
    now_ms: i64,
    digest: &DigestTrack<'_>,
) -> StoreResult<()> {
    let info = &change.info;
    tx.prepare_cached(
        "INSERT INTO patrols (id, warden, device, started_ms, ended_ms, note, point_count, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)
         ON CONFLICT (id) DO UPDATE SET ended_ms = excluded.ended_ms, updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        info.id.as_bytes().as_slice(),
        info.warden,
        info.device.as_bytes().as_slice(),
        info.started_at_ms,
        info.ended_at_ms,
        info.note,
        now_ms,
    ])?;
    if change.points.is_empty() {
        return Ok(());
    }
    let before = track(tx, info.id)?;
    let mut after = before.clone();
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO track_points (patrol, seq, time_ms, lon, lat, accuracy_m, speed_mps, segment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut added = 0i64;
    for p in &change.points {
        let inserted = insert.execute(params![
            info.id.as_bytes().as_slice(),
            p.seq,
            p.time_ms,
            p.lon,
            p.lat,
            p.accuracy_m,
            p.speed_mps,
            p.segment,
        ])?;
        if inserted > 0 {
            after.push(*p);
        }
        added += inserted as i64;
    }
    if added == 0 {
        return Ok(());
    }
    let stored: Option<Vec<u8>> = tx
        .prepare_cached("SELECT digest FROM patrols WHERE id = ?1")?
        .query_row([info.id.as_bytes().as_slice()], |r| r.get(0))?;
    let digest = digest(stored.as_deref(), &before, &after);
    tx.prepare_cached(
        "UPDATE patrols SET point_count = point_count + ?2, digest = ?3 WHERE id = ?1",
    )?
    .execute(params![info.id.as_bytes().as_slice(), added, digest])?;
    Ok(())
}

pub(super) fn patrols(c: &Connection, f: &PatrolFilter) -> StoreResult<Vec<StoredPatrol>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PATROL_COLUMNS} FROM patrols
         WHERE (?1 IS NULL OR warden = ?1) AND (?2 IS NULL OR started_ms >= ?2) AND (?3 IS NULL OR started_ms < ?3)
         ORDER BY started_ms DESC, id LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(
            params![f.warden, f.since_ms, f.until_ms, f.limit as i64],
            patrol_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(patrol_from).collect()
}

pub(super) fn track(c: &Connection, patrol: Uuid) -> StoreResult<Vec<TrackPoint>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, time_ms, lon, lat, accuracy_m, speed_mps, segment FROM track_points
         WHERE patrol = ?1 ORDER BY seq",
    )?;
    let points = stmt
        .query_map([patrol.as_bytes().as_slice()], |r| {
            Ok(TrackPoint {
                seq: r.get(0)?,
                time_ms: r.get(1)?,
                lon: r.get(2)?,
                lat: r.get(3)?,
                accuracy_m: r.get::<_, Option<f64>>(4)?.map(|v| v as f32),
                speed_mps: r.get::<_, Option<f64>>(5)?.map(|v| v as f32),
                segment: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(points)
}

pub(super) fn patrol_reports(c: &Connection, patrol: Uuid) -> StoreResult<Vec<Uuid>> {
    let mut stmt =
        c.prepare_cached("SELECT id FROM reports WHERE patrol = ?1 AND deleted = 0 ORDER BY id")?;
    let ids = stmt
        .query_map([patrol.as_bytes().as_slice()], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    ids.into_iter().map(uuid_from).collect()
}

pub(super) fn photo_reports(c: &Connection, hash: PhotoHash) -> StoreResult<Vec<ReportState>> {
    let mut stmt = c.prepare_cached(
        "SELECT r.state FROM report_photos p JOIN reports r ON r.id = p.report
         WHERE p.hash = ?1 AND r.deleted = 0",
    )?;
    let blobs = stmt
        .query_map([hash.0.as_slice()], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    blobs.iter().map(|b| decode_state(b)).collect()
}

/// Photo index rows whose report is deleted (`gc` drops them).
pub(super) fn photo_rows_of_deleted_reports(c: &Connection) -> StoreResult<u64> {
    Ok(c.query_row(
        "SELECT count(*) FROM report_photos
         WHERE report IN (SELECT id FROM reports WHERE deleted = 1)",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

pub(super) fn forget_photos_of_deleted_reports(tx: &Connection) -> StoreResult<u64> {
    Ok(tx.execute(
        "DELETE FROM report_photos WHERE report IN (SELECT id FROM reports WHERE deleted = 1)",
        [],
    )? as u64)
}

/// Keeps the report–photo index in step with a report's state (its patrol
/// column is written with the report itself, by `save_report`). A deleted
/// report adds no rows: once `gc` dropped its rows, an op arriving late for
/// it (a photo attached offline, an op given back after a restore) must not
/// bring them back.
pub(super) fn index_photos(tx: &Connection, state: &ReportState) -> StoreResult<()> {
    if state.deleted.is_some() || state.photos.is_empty() {
        return Ok(());
    }
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO report_photos (hash, report) VALUES (?1, ?2)")?;
    for photo in &state.photos {
        insert.execute(params![
            photo.hash.0.as_slice(),
            state.id.as_bytes().as_slice()
        ])?;
    }
    Ok(())
}
