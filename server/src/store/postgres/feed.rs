//! The feed on PostgreSQL: pushes applied to reports, cases and patrols,
//! and the pull. Every write of a report takes the next number of the
//! `feed` counter, whose row it then holds until commit: positions are
//! handed out in commit order, so a reader that has seen position N has
//! seen every committed position below it, and a cursor never skips
//! (docs/adr/0021-postgresql-backend-and-the-feed-cursor.md).

use std::collections::HashSet;

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::{codec, PatrolInfo, ReportState, TrackPoint};
use uuid::Uuid;

use super::rows;
use super::tx::{append_audit, next};
use super::Db;
use crate::store::*;

pub(super) fn decode_state(bytes: &[u8]) -> StoreResult<ReportState> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt(format!("report state: {e}")))
}

pub(super) fn decode_case(bytes: &[u8]) -> StoreResult<CaseState> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt(format!("case state: {e}")))
}

pub(super) fn load_report(db: &mut Db, id: Uuid, lock: bool) -> StoreResult<Option<ReportState>> {
    let sql = if lock {
        "SELECT state FROM reports WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT state FROM reports WHERE id = $1"
    };
    db.opt(sql, &[&id.as_bytes().as_slice()])?
        .map(|r| decode_state(r.get(0)))
        .transpose()
}

pub(super) const PATROL_COLUMNS: &str =
    "id, warden, device, started_ms, ended_ms, note, point_count, digest";

pub(super) fn patrol(row: &tokio_postgres::Row) -> StoreResult<StoredPatrol> {
    Ok(StoredPatrol {
        info: PatrolInfo {
            id: rows::uuid(row, 0)?,
            warden: row.get(1),
            device: rows::uuid(row, 2)?,
            started_at_ms: row.get(3),
            ended_at_ms: row.get(4),
            note: row.get(5),
        },
        point_count: row.get::<_, i64>(6) as u32,
        digest: row.get(7),
    })
}

pub(super) fn load_patrol(db: &mut Db, id: Uuid, lock: bool) -> StoreResult<Option<StoredPatrol>> {
    let sql = format!(
        "SELECT {PATROL_COLUMNS} FROM patrols WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    db.opt(&sql, &[&id.as_bytes().as_slice()])?
        .map(|r| patrol(&r))
        .transpose()
}

/// Stores a patrol's new facts and adds its new points (a point already
/// stored under the same sequence number is kept as it was), and the
/// service's digest of the track when points were added.
pub(super) fn save_patrol(
    db: &mut Db,
    change: &PatrolChange,
    now_ms: i64,
    digest: &DigestTrack<'_>,
) -> StoreResult<()> {
    let info = &change.info;
    let id = info.id.as_bytes().as_slice();
    db.execute(
        "INSERT INTO patrols (id, warden, device, started_ms, ended_ms, note, point_count, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)
         ON CONFLICT (id) DO UPDATE SET ended_ms = excluded.ended_ms, updated_ms = excluded.updated_ms",
        &[
            &id,
            &info.warden,
            &info.device.as_bytes().as_slice(),
            &info.started_at_ms,
            &info.ended_at_ms,
            &info.note,
            &now_ms,
        ],
    )?;
    if change.points.is_empty() {
        return Ok(());
    }
    let before = track(db, info.id)?;
    let mut after = before.clone();
    for p in &change.points {
        let inserted = db.execute(
            "INSERT INTO track_points (patrol, seq, time_ms, lon, lat, accuracy_m, speed_mps, segment)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (patrol, seq) DO NOTHING",
            &[
                &id,
                &i64::from(p.seq),
                &p.time_ms,
                &p.lon,
                &p.lat,
                &p.accuracy_m.map(f64::from),
                &p.speed_mps.map(f64::from),
                &i64::from(p.segment),
            ],
        )?;
        if inserted > 0 {
            after.push(*p);
        }
    }
    let added = (after.len() - before.len()) as i64;
    if added == 0 {
        return Ok(());
    }
    let stored: Option<Vec<u8>> = db
        .one("SELECT digest FROM patrols WHERE id = $1", &[&id])?
        .get(0);
    let digest = digest(stored.as_deref(), &before, &after);
    db.execute(
        "UPDATE patrols SET point_count = point_count + $2, digest = $3 WHERE id = $1",
        &[&id, &added, &digest],
    )?;
    Ok(())
}

pub(super) fn track(db: &mut Db, patrol: Uuid) -> StoreResult<Vec<TrackPoint>> {
    Ok(db
        .query(
            "SELECT seq, time_ms, lon, lat, accuracy_m, speed_mps, segment FROM track_points
             WHERE patrol = $1 ORDER BY seq",
            &[&patrol.as_bytes().as_slice()],
        )?
        .iter()
        .map(|r| TrackPoint {
            seq: r.get::<_, i64>(0) as u32,
            time_ms: r.get(1),
            lon: r.get(2),
            lat: r.get(3),
            accuracy_m: r.get::<_, Option<f64>>(4).map(|v| v as f32),
            speed_mps: r.get::<_, Option<f64>>(5).map(|v| v as f32),
            segment: r.get::<_, i64>(6) as u32,
        })
        .collect())
}

pub(super) fn save_case(db: &mut Db, case: &CaseState, now_ms: i64) -> StoreResult<()> {
    db.execute(
        "INSERT INTO cases (report_id, status, department, deadline_ms, updated_ms, state)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (report_id) DO UPDATE SET status = excluded.status,
           department = excluded.department, deadline_ms = excluded.deadline_ms,
           updated_ms = excluded.updated_ms, state = excluded.state",
        &[
            &case.report_id.as_bytes().as_slice(),
            &case.status.as_str(),
            &case.department,
            &case.deadline_ms,
            &now_ms,
            &codec::encode(case),
        ],
    )?;
    if let Some(t) = case.history.last() {
        for photo in t.op.photos() {
            db.execute(
                "INSERT INTO case_photos (hash, report_id, taken_by, size) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[
                    &photo.hash.0.as_slice(),
                    &case.report_id.as_bytes().as_slice(),
                    &t.by,
                    &(photo.size as i64),
                ],
            )?;
        }
    }
    if let Some(audit) = crate::store::cases::step_audit(case) {
        append_audit(db, &audit)?;
    }
    Ok(())
}

/// Writes a report's state at the next feed position, remembering a cell it
/// left (for the scoped pull's notices) and indexing its photos.
fn save_report(db: &mut Db, state: &ReportState, device: Uuid, now_ms: i64) -> StoreResult<()> {
    let seq = next(db, "feed")?;
    let id = state.id.as_bytes().as_slice();
    let origin = state.origin.as_ref();
    let reporter = origin.map(|o| o.reporter.as_str()).unwrap_or("");
    let origin_device = origin.map(|o| o.device).unwrap_or(device);
    let patrol = origin.and_then(|o| o.patrol);
    let before = db.opt(
        "SELECT grid_cell, left_cells FROM reports WHERE id = $1 FOR UPDATE",
        &[&id],
    )?;
    let mut left: Vec<String> = before
        .as_ref()
        .map(|r| r.get::<_, Vec<String>>(1))
        .unwrap_or_default();
    if let Some(old) = before.as_ref().and_then(|r| r.get::<_, Option<String>>(0)) {
        if state.grid_cell() != Some(old.as_str()) && !left.contains(&old) {
            left.push(old);
        }
    }
    db.execute(
        "INSERT INTO reports (id, seq, reporter, device, category, grid_cell, assigned, deleted,
                              observed_at_ms, updated_ms, state, patrol, left_cells)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, reporter = excluded.reporter,
           device = excluded.device, category = excluded.category, grid_cell = excluded.grid_cell,
           assigned = excluded.assigned, deleted = excluded.deleted,
           observed_at_ms = excluded.observed_at_ms, updated_ms = excluded.updated_ms,
           state = excluded.state, patrol = excluded.patrol, left_cells = excluded.left_cells",
        &[
            &id,
            &seq,
            &reporter,
            &origin_device.as_bytes().as_slice(),
            &state.category(),
            &state.grid_cell(),
            &state.grid_cell.is_some(),
            &state.is_deleted(),
            &origin.map(|o| o.observed_at_ms),
            &now_ms,
            &codec::encode(state),
            &patrol.as_ref().map(|p| p.as_bytes().as_slice()),
            &left,
        ],
    )?;
    // A report that ever moved keeps a row per cell it left, at its current
    // feed position; most never move.
    for cell in &left {
        db.execute(
            "INSERT INTO report_left_cells (report, cell, seq) VALUES ($1, $2, $3)
             ON CONFLICT (report, cell) DO UPDATE SET seq = excluded.seq",
            &[&id, cell, &seq],
        )?;
    }
    // A deleted report adds no photo rows: once `gc` dropped them, an op
    // arriving late for it must not bring them back.
    if state.deleted.is_none() {
        for photo in &state.photos {
            db.execute(
                "INSERT INTO report_photos (hash, report) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&photo.hash.0.as_slice(), &id],
            )?;
        }
    }
    Ok(())
}

pub(super) fn reassign(
    db: &mut Db,
    only_unassigned: bool,
    reassign: &Reassign,
    now_ms: i64,
) -> StoreResult<usize> {
    let sql = if only_unassigned {
        "SELECT state, device FROM reports WHERE NOT deleted AND grid_cell IS NULL ORDER BY seq FOR UPDATE"
    } else {
        "SELECT state, device FROM reports WHERE NOT deleted ORDER BY seq FOR UPDATE"
    };
    let found = db.query(sql, &[])?;
    let mut changed = 0;
    for row in found {
        let state = decode_state(row.get(0))?;
        if let Some(next) = reassign(&state).filter(|n| *n != state) {
            save_report(db, &next, rows::uuid(&row, 1)?, now_ms)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Size counted for an out-of-scope notice: its report id.
const NOTICE_BYTES: usize = 16;

pub(super) fn pull(db: &mut Db, q: &PullQuery) -> StoreResult<Page> {
    // One row beyond the page tells whether more remain.
    let limit = q.max_records as i64 + 1;
    let after = q.after_seq as i64;
    let found = match &q.scope {
        Scope::All => db.query(
            "SELECT seq, id, reporter, grid_cell, state FROM reports WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after, &limit],
        )?,
        Scope::Cells { user, cells } => db.query(
            "SELECT seq, id, reporter, grid_cell, state FROM reports
             WHERE seq > $1 AND (reporter = $2 OR grid_cell = ANY($3)
               OR id IN (SELECT report FROM report_left_cells WHERE cell = ANY($3) AND seq > $1))
             ORDER BY seq LIMIT $4",
            &[&after, user, cells, &limit],
        )?,
    };
    let scope: Option<(&str, HashSet<&str>)> = match &q.scope {
        Scope::All => None,
        Scope::Cells { user, cells } => {
            Some((user.as_str(), cells.iter().map(String::as_str).collect()))
        }
    };
    let mut page = Page {
        items: Vec::new(),
        last_seq: q.after_seq,
        more: false,
    };
    let mut bytes = 0;
    for row in &found {
        let seq: i64 = row.get(0);
        let visible = match &scope {
            None => true,
            Some((user, cells)) => {
                row.get::<_, &str>(2) == *user
                    || row
                        .get::<_, Option<&str>>(3)
                        .is_some_and(|c| cells.contains(c))
            }
        };
        let state: &[u8] = row.get(4);
        let size = if visible { state.len() } else { NOTICE_BYTES };
        let full = page.items.len() >= q.max_records
            || (!page.items.is_empty() && bytes + size > q.max_bytes);
        if full {
            page.more = true;
            break;
        }
        bytes += size;
        page.items.push(if visible {
            FeedItem::Report(decode_state(state)?)
        } else {
            FeedItem::OutOfScope(rows::uuid(row, 1)?)
        });
        page.last_seq = seq as u64;
    }
    Ok(page)
}

pub(super) fn decode_states(rows: &[tokio_postgres::Row]) -> StoreResult<Vec<ReportState>> {
    rows.iter().map(|r| decode_state(r.get(0))).collect()
}

pub(super) fn decode_cases(rows: &[tokio_postgres::Row]) -> StoreResult<Vec<CaseState>> {
    rows.iter().map(|r| decode_case(r.get(0))).collect()
}
