//! Reports as this device knows them: the merged state plus columns copied out
//! of it so lists need no decoding in SQL.

use gridwarden_protocol::{codec, ReportState};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use uuid::Uuid;

use super::{blob_uuid, given, meta, uuid_blob};
use crate::error::{ClientError, Result};

/// What to do with the device's own grid guess when writing a state.
#[derive(Clone, Copy, Debug)]
pub enum LocalCell<'a> {
    /// Leave the stored guess alone (pulled merges, edits that keep the place).
    Keep,
    Set(Option<&'a str>),
}

/// A stored report with the device-only facts about it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredReport {
    pub state: ReportState,
    pub local_cell: Option<String>,
    /// An op of this report waits in the outbox.
    pub pending: bool,
    /// The latest refusal of one of its ops: (code, reason).
    pub rejection: Option<(String, String)>,
    /// Whether that refusal still marks the report as rejected: until it
    /// was shown and the report is back in step with the server.
    pub rejection_marks: bool,
}

fn decode_state(bytes: &[u8]) -> Result<ReportState> {
    codec::decode(bytes)
        .map_err(|e| ClientError::Protocol(format!("a stored report is unreadable: {e}")))
}

/// Inserts or replaces the state of a report, refreshing the copied columns.
pub fn upsert(tx: &Transaction, state: &ReportState, local_cell: LocalCell<'_>) -> Result<()> {
    let origin = state.origin.as_ref();
    let location = state.location();
    let (set_local, local) = match local_cell {
        LocalCell::Keep => (false, None),
        LocalCell::Set(cell) => (true, cell),
    };
    let mut stmt = tx.prepare_cached(
        "INSERT INTO reports (id, state, category, note, lon, lat, observed_at_ms, reporter,
                              grid_cell, local_cell, deleted, local_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                 (SELECT COALESCE(MAX(local_seq), 0) + 1 FROM reports))
         ON CONFLICT (id) DO UPDATE SET
            state = excluded.state, category = excluded.category, note = excluded.note,
            lon = excluded.lon, lat = excluded.lat, observed_at_ms = excluded.observed_at_ms,
            reporter = excluded.reporter, grid_cell = excluded.grid_cell,
            local_cell = CASE WHEN ?12 THEN excluded.local_cell ELSE reports.local_cell END,
            deleted = excluded.deleted, local_seq = excluded.local_seq",
    )?;
    stmt.execute(params![
        uuid_blob(&state.id),
        codec::encode(state),
        state.category(),
        state.note(),
        location.map(|l| l.lon),
        location.map(|l| l.lat),
        origin.map(|o| o.observed_at_ms),
        origin.map(|o| o.reporter.as_str()),
        state.grid_cell(),
        local,
        state.is_deleted(),
        set_local,
    ])?;
    Ok(())
}

/// Stores a pulled report this device did not hold. What the server sent is
/// both its state and its confirmed state, so one insert does what an
/// upsert and a confirm would (the bulk of a new device's initial pull).
pub fn insert_pulled(tx: &Transaction, state: &ReportState) -> Result<()> {
    if insert_pulled_if_new(tx, state)? {
        Ok(())
    } else {
        Err(ClientError::Protocol(format!(
            "report {} is already stored",
            state.id
        )))
    }
}

/// As [`insert_pulled`] when this device does not hold the report; `false`
/// (nothing written) when it does. A pull tries this first: on a new
/// device's initial pull nearly every report is new, and the insert's own
/// conflict check replaces a lookup per report.
pub fn insert_pulled_if_new(tx: &Transaction, state: &ReportState) -> Result<bool> {
    let origin = state.origin.as_ref();
    let location = state.location();
    let encoded = codec::encode(state);
    let inserted = tx
        .prepare_cached(
            "INSERT INTO reports (id, state, confirmed, category, note, lon, lat, observed_at_ms,
                              reporter, grid_cell, local_cell, deleted, local_seq)
         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10,
                 (SELECT COALESCE(MAX(local_seq), 0) + 1 FROM reports))
         ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            uuid_blob(&state.id),
            encoded,
            state.category(),
            state.note(),
            location.map(|l| l.lon),
            location.map(|l| l.lat),
            origin.map(|o| o.observed_at_ms),
            origin.map(|o| o.reporter.as_str()),
            state.grid_cell(),
            state.is_deleted(),
        ])?;
    Ok(inserted == 1)
}

/// Both states of a stored report in one read: what this device shows and
/// what the server is known to hold (if it is known to hold anything).
/// `me` is this device's enrolment, which names the effects of its
/// acknowledged ops: read once by the caller, not once per report (a pulled
/// page of the device's own reports looked it up a thousand times).
pub fn states(conn: &Connection, id: Uuid, me: Option<&meta::Enrolment>) -> Result<Option<Held>> {
    let row: Option<(Vec<u8>, Option<Vec<u8>>, bool)> = conn
        .prepare_cached(
            "SELECT state, confirmed,
                    EXISTS (SELECT 1 FROM given_ops WHERE report_id = ?1)
             FROM reports WHERE id = ?1",
        )?
        .query_row([uuid_blob(&id)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(state, confirmed, unfolded)| {
        let confirmed = confirmed.map(|c| decode_state(&c)).transpose()?;
        let confirmed = if unfolded {
            with_acknowledged(conn, id, confirmed, me)?
        } else {
            confirmed
        };
        Ok(Held {
            local: decode_state(&state)?,
            confirmed,
            unfolded,
        })
    })
    .transpose()
}

/// A stored report as [`states`] reads it.
#[derive(Debug)]
pub struct Held {
    /// What this device shows.
    pub local: ReportState,
    /// What the server is known to hold, acknowledged ops included.
    pub confirmed: Option<ReportState>,
    /// Some of those acknowledged ops were not yet folded into the row's
    /// confirmed state: a write of the row that folds them must say so
    /// ([`update_merged`]).
    pub unfolded: bool,
}

/// `folded` (the confirmed state as the row holds it) joined with the
/// effects of this device's acknowledged ops not yet folded into it: what
/// the server is known to hold. An ack writes only its kept op
/// (`given::Acks::keep`), never the report row.
fn with_acknowledged(
    conn: &Connection,
    id: Uuid,
    folded: Option<ReportState>,
    me: Option<&meta::Enrolment>,
) -> Result<Option<ReportState>> {
    let Some(me) = me else {
        return Ok(folded);
    };
    let mut known = folded;
    for op in given::unfolded(conn, id)? {
        if let Some(effect) = given::effect_of(&op, me) {
            match &mut known {
                Some(known) => known.merge(&effect),
                None => known = Some(effect),
            }
        }
    }
    Ok(known)
}

/// Writes the effects of every acknowledged op not yet folded into its
/// report's confirmed state (before the identity they were made under is
/// replaced: the effects name it).
pub fn fold_acknowledged(tx: &Transaction) -> Result<u64> {
    let ids = given::unfolded_reports(tx)?;
    let me = meta::enrolment(tx)?;
    for &id in &ids {
        let stored: Option<Option<Vec<u8>>> = tx
            .prepare_cached("SELECT confirmed FROM reports WHERE id = ?1")?
            .query_row([uuid_blob(&id)], |r| r.get(0))
            .optional()?;
        if let Some(folded) = stored {
            let folded = folded.map(|c| decode_state(&c)).transpose()?;
            if let Some(known) = with_acknowledged(tx, id, folded, me.as_ref())? {
                tx.prepare_cached("UPDATE reports SET confirmed = ?1 WHERE id = ?2")?
                    .execute(params![codec::encode(&known), uuid_blob(&id)])?;
            }
        }
        given::mark_folded(tx, id)?;
    }
    Ok(ids.len() as u64)
}

/// Stores a remote change merged into a report this device holds: the
/// state shown and the confirmed state written together, in one write of
/// the row (a pulled page's hot path: an upsert and then a confirm wrote
/// the row twice). The device's own grid guess is kept. `confirmed` came
/// from [`states`], so it holds every acknowledged op: they are folded.
///
/// `unfolded`: acknowledged ops of the report waited to be folded into its
/// confirmed state (`Held::unfolded`) and `confirmed` includes them; only
/// then are they marked folded, sparing most pulled changes (another
/// device's edit of a report this one never touched) a write that finds
/// nothing.
pub fn update_merged(
    tx: &Transaction,
    state: &ReportState,
    confirmed: &ReportState,
    unfolded: bool,
) -> Result<()> {
    if unfolded {
        given::mark_folded(tx, state.id)?;
    }
    let origin = state.origin.as_ref();
    let location = state.location();
    let values = params![
        uuid_blob(&state.id),
        codec::encode(state),
        codec::encode(confirmed),
        state.category(),
        state.note(),
        location.map(|l| l.lon),
        location.map(|l| l.lat),
        origin.map(|o| o.observed_at_ms),
        origin.map(|o| o.reporter.as_str()),
        state.grid_cell(),
        state.is_deleted(),
    ];
    // A column named in SET rewrites every index that holds it, even to the
    // same value. Most merged changes (a cell assigned, another device's
    // edit of a note) leave the listing's key (`deleted`, `observed_at_ms`)
    // as the row has it: matched on that key, the row is written without
    // naming it, and the listing's index is left alone. A change that moves
    // the report in the listing matches nothing there and is written whole.
    if tx
        .prepare_cached(
            "UPDATE reports SET state = ?2, confirmed = ?3, category = ?4, note = ?5,
                        lon = ?6, lat = ?7, reporter = ?9, grid_cell = ?10,
                        local_seq = (SELECT COALESCE(MAX(local_seq), 0) + 1 FROM reports)
                 WHERE id = ?1 AND observed_at_ms IS ?8 AND deleted = ?11",
        )?
        .execute(values)?
        == 1
    {
        return Ok(());
    }
    tx.prepare_cached(
        "UPDATE reports SET state = ?2, confirmed = ?3, category = ?4, note = ?5, lon = ?6,
                lat = ?7, observed_at_ms = ?8, reporter = ?9, grid_cell = ?10, deleted = ?11,
                local_seq = (SELECT COALESCE(MAX(local_seq), 0) + 1 FROM reports)
         WHERE id = ?1",
    )?
    .execute(values)?;
    Ok(())
}

/// Just the merged state of a report (the hot path of pulls).
pub fn state(conn: &Connection, id: Uuid) -> Result<Option<ReportState>> {
    let mut stmt = conn.prepare_cached("SELECT state FROM reports WHERE id = ?1")?;
    let bytes: Option<Vec<u8>> = stmt.query_row([uuid_blob(&id)], |r| r.get(0)).optional()?;
    bytes.map(|b| decode_state(&b)).transpose()
}

/// Forgets a report this device may no longer see (it moved out of the
/// user's cells), with its refusals. Queued ops of it, if any, stay queued:
/// the server decides on them.
pub fn forget(tx: &Transaction, id: Uuid) -> Result<()> {
    tx.prepare_cached("DELETE FROM reports WHERE id = ?1")?
        .execute([uuid_blob(&id)])?;
    tx.prepare_cached("DELETE FROM rejections WHERE report_id = ?1")?
        .execute([uuid_blob(&id)])?;
    Ok(())
}

/// What the server is known to hold of a report, if anything (`None` too
/// for a report this device does not hold).
pub fn confirmed(conn: &Connection, id: Uuid) -> Result<Option<ReportState>> {
    let mut stmt = conn.prepare_cached("SELECT confirmed FROM reports WHERE id = ?1")?;
    let bytes: Option<Option<Vec<u8>>> =
        stmt.query_row([uuid_blob(&id)], |r| r.get(0)).optional()?;
    let Some(folded) = bytes else {
        return Ok(None);
    };
    let folded = folded.map(|b| decode_state(&b)).transpose()?;
    with_acknowledged(conn, id, folded, meta::enrolment(conn)?.as_ref())
}

/// Joins `incoming` (a pulled state, or the effect of an acknowledged op)
/// into the confirmed state of its report. The row must exist.
pub fn confirm(tx: &Transaction, incoming: &ReportState) -> Result<()> {
    confirm_if_stored(tx, incoming).map(|_| ())
}

/// As [`confirm`], for a report this device may have forgotten meanwhile
/// (it moved out of the user's cells): `false`, and nothing written, if the
/// report is not stored. One read serves both questions, which matters once
/// per acknowledged op.
pub fn confirm_if_stored(tx: &Transaction, incoming: &ReportState) -> Result<bool> {
    let row: Option<Option<Vec<u8>>> = tx
        .prepare_cached("SELECT confirmed FROM reports WHERE id = ?1")?
        .query_row([uuid_blob(&incoming.id)], |r| r.get(0))
        .optional()?;
    let Some(known) = row else {
        return Ok(false);
    };
    let merged = match known {
        Some(bytes) => {
            let mut known = decode_state(&bytes)?;
            known.merge(incoming);
            known
        }
        None => incoming.clone(),
    };
    tx.prepare_cached("UPDATE reports SET confirmed = ?1 WHERE id = ?2")?
        .execute(params![codec::encode(&merged), uuid_blob(&incoming.id)])?;
    Ok(true)
}

/// The stored state of one report, deleted or not.
pub fn get(conn: &Connection, id: Uuid) -> Result<Option<StoredReport>> {
    let sql = format!("{SELECT_STORED} WHERE r.id = ?1");
    let row = conn
        .prepare_cached(&sql)?
        .query_row([uuid_blob(&id)], raw_row)
        .optional()?;
    row.map(|raw| into_stored(conn, raw)).transpose()
}

/// Every visible report (create known, not deleted), newest observation first.
pub fn list_visible(conn: &Connection) -> Result<Vec<StoredReport>> {
    let sql = format!(
        "{SELECT_STORED} WHERE r.deleted = 0 AND r.observed_at_ms IS NOT NULL
         ORDER BY r.observed_at_ms DESC, r.id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], raw_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(into_stored(conn, row?)?);
    }
    Ok(out)
}

/// Ids of every stored report (tests and diagnostics).
pub fn ids(conn: &Connection) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare("SELECT id FROM reports ORDER BY local_seq")?;
    let rows = stmt.query_map([], |row| blob_uuid(&row.get::<_, Vec<u8>>(0)?))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Up to `limit` ids whose upper-case hex starts with `prefix` (ids typed by
/// hand). `prefix` must be hex digits only.
pub fn ids_with_hex_prefix(conn: &Connection, prefix: &str, limit: usize) -> Result<Vec<Uuid>> {
    let mut stmt =
        conn.prepare("SELECT id FROM reports WHERE substr(hex(id), 1, length(?1)) = ?1 LIMIT ?2")?;
    let rows = stmt.query_map(params![prefix, limit as i64], |row| {
        blob_uuid(&row.get::<_, Vec<u8>>(0)?)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn count(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row("SELECT count(*) FROM reports", [], |r| r.get::<_, i64>(0))? as u64)
}

// Status comes with the row: a pending op in the outbox, else the latest
// recorded refusal of any of the report's ops, when it was shown, and (only
// for a report with a refusal) what the server is known to hold. A photo
// refused as too large is the photo's refusal, listed with the others, not
// the report's: the report stands without it.
const SELECT_STORED: &str = "
    SELECT r.state, r.local_cell,
           EXISTS (SELECT 1 FROM outbox o WHERE o.report_id = r.id),
           j.code, j.reason, j.shown_ms,
           CASE WHEN j.code IS NULL THEN NULL ELSE r.confirmed END,
           j.code IS NOT NULL AND EXISTS (SELECT 1 FROM given_ops g WHERE g.report_id = r.id)
    FROM reports r
    LEFT JOIN rejections j ON j.rowid = (
        SELECT k.rowid FROM rejections k WHERE k.report_id = r.id
          AND k.code <> 'photo_too_large'
        ORDER BY k.at_ms DESC, k.rowid DESC LIMIT 1)";

struct RawRow {
    state: Vec<u8>,
    local_cell: Option<String>,
    pending: bool,
    code: Option<String>,
    reason: Option<String>,
    shown_ms: Option<i64>,
    confirmed: Option<Vec<u8>>,
    /// Acknowledged ops wait to be joined into `confirmed`.
    unfolded: bool,
}

fn raw_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        state: row.get(0)?,
        local_cell: row.get(1)?,
        pending: row.get(2)?,
        code: row.get(3)?,
        reason: row.get(4)?,
        shown_ms: row.get(5)?,
        confirmed: row.get(6)?,
        unfolded: row.get(7)?,
    })
}

fn into_stored(conn: &Connection, raw: RawRow) -> Result<StoredReport> {
    let state = decode_state(&raw.state)?;
    // A refusal stops marking the report once it was shown and the report
    // is back in step with the server: nothing queued, and what this device
    // shows is what the server holds. A refused create the warden has not
    // sent again is never in step (the server holds nothing of it).
    let in_step = !raw.pending && {
        let folded = raw.confirmed.as_deref().map(decode_state).transpose()?;
        let confirmed = if raw.unfolded {
            with_acknowledged(conn, state.id, folded, meta::enrolment(conn)?.as_ref())?
        } else {
            folded
        };
        confirmed.as_ref() == Some(&state)
    };
    Ok(StoredReport {
        state,
        local_cell: raw.local_cell,
        pending: raw.pending,
        rejection: raw.code.zip(raw.reason),
        rejection_marks: raw.shown_ms.is_none() || !in_step,
    })
}

/// The states of every live report (photo lookups by hash prefix).
pub fn all_states(conn: &Connection) -> Result<Vec<ReportState>> {
    let mut stmt = conn.prepare_cached("SELECT state FROM reports WHERE deleted = 0")?;
    let blobs = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    blobs.iter().map(|b| decode_state(b)).collect()
}
