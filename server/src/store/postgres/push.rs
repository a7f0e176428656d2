//! A push applied on PostgreSQL in a fixed number of statements, whatever
//! its size. Every statement is a round trip to the database inside the
//! push's transaction; applying op by op cost about six of them per op
//! (the op id, the report's row and lock, the feed counter, the write, the
//! op id again), which made a push 19× slower than on SQLite while plain
//! batched inserts into the same database ran at SQLite's pace
//! (docs/benchmarks.md, "PostgreSQL beside SQLite").
//!
//! So a push reads what it needs first — the op ids already applied, the
//! reports and cases it touches, locked, in id order — decides every op in
//! memory against those rows (each op sees the ones before it), and writes
//! the result last: the reports in one statement, at consecutive feed
//! positions taken from the counter in one update, their photos and the
//! applied op ids in one statement each. Patrols and case steps, rare in a
//! push and carrying their own audit lines, are still written as they are
//! decided.
//!
//! The feed stays a cursor that never skips (ADR 0021): the counter's row is
//! taken, by the push's last statements, and held until commit, as before.

use std::collections::{HashMap, HashSet};

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::{codec, Op, OpBody, Outcome, ReportState};
use uuid::Uuid;

use super::feed::{decode_case, decode_state, load_patrol, save_case, save_patrol};
use super::Db;
use crate::store::*;

/// A report as the push found it, and what the push made of it.
struct Held {
    /// The latest state: stored, or written by an earlier op of this push.
    state: ReportState,
    /// The cell its stored row is in, or its latest write put it in.
    cell: Option<String>,
    /// Cells it ever left (kept for the scoped pull's notices).
    left: Vec<String>,
    /// Whether this push wrote it.
    written: bool,
}

/// What the push reads once and writes once.
struct Batch {
    seen: HashSet<Uuid>,
    reports: HashMap<Uuid, Held>,
    cases: HashMap<Uuid, CaseState>,
    /// Reports in the order the push first wrote them: their feed order.
    order: Vec<Uuid>,
    /// Photos of every written, undeleted state (as each write used to add them).
    photos: HashSet<([u8; 32], Uuid)>,
    applied: Vec<Uuid>,
}

fn ids(ids: &HashSet<Uuid>) -> Vec<&[u8]> {
    let mut sorted: Vec<&Uuid> = ids.iter().collect();
    // Rows are locked in id order by every push: two pushes touching the
    // same reports queue behind each other instead of deadlocking.
    sorted.sort();
    sorted
        .into_iter()
        .map(|id| id.as_bytes().as_slice())
        .collect()
}

impl Batch {
    fn load(db: &mut Db, ops: &[Op]) -> StoreResult<Self> {
        let op_ids: Vec<&[u8]> = ops
            .iter()
            .map(|op| op.op_id.as_bytes().as_slice())
            .collect();
        let seen = db
            .query(
                "SELECT op_id FROM applied_ops WHERE op_id = ANY($1)",
                &[&op_ids],
            )?
            .iter()
            .map(|r| super::rows::uuid(r, 0))
            .collect::<StoreResult<HashSet<_>>>()?;
        let touched: HashSet<Uuid> = ops
            .iter()
            .filter(|op| !seen.contains(&op.op_id))
            .filter_map(|op| match &op.body {
                OpBody::Report { report_id, .. } | OpBody::Case { report_id, .. } => {
                    Some(*report_id)
                }
                OpBody::Patrol { .. } => None,
            })
            .collect();
        let mut reports = HashMap::new();
        let mut cases = HashMap::new();
        if !touched.is_empty() {
            let wanted = ids(&touched);
            for row in db.query(
                "SELECT id, state, grid_cell, left_cells FROM reports
                 WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                &[&wanted],
            )? {
                reports.insert(
                    super::rows::uuid(&row, 0)?,
                    Held {
                        state: decode_state(row.get(1))?,
                        cell: row.get(2),
                        left: row.get(3),
                        written: false,
                    },
                );
            }
            for row in db.query(
                "SELECT report_id, state FROM cases WHERE report_id = ANY($1)
                 ORDER BY report_id FOR UPDATE",
                &[&wanted],
            )? {
                cases.insert(super::rows::uuid(&row, 0)?, decode_case(row.get(1))?);
            }
        }
        Ok(Self {
            seen,
            reports,
            cases,
            order: Vec::new(),
            photos: HashSet::new(),
            applied: Vec::new(),
        })
    }

    fn report(&self, id: Uuid) -> Option<ReportState> {
        self.reports.get(&id).map(|held| held.state.clone())
    }

    /// Records a report's next state; a cell it leaves is remembered.
    fn write_report(&mut self, state: ReportState) {
        let id = state.id;
        let next_cell = state.grid_cell().map(str::to_owned);
        if state.deleted.is_none() {
            for photo in &state.photos {
                self.photos.insert((photo.hash.0, id));
            }
        }
        match self.reports.get_mut(&id) {
            Some(held) => {
                if let Some(old) = held.cell.take() {
                    if next_cell.as_deref() != Some(old.as_str()) && !held.left.contains(&old) {
                        held.left.push(old);
                    }
                }
                if !held.written {
                    held.written = true;
                    self.order.push(id);
                }
                held.cell = next_cell;
                held.state = state;
            }
            None => {
                self.order.push(id);
                self.reports.insert(
                    id,
                    Held {
                        state,
                        cell: next_cell,
                        left: Vec::new(),
                        written: true,
                    },
                );
            }
        }
    }

    /// Writes the reports, their photos and the applied op ids.
    fn flush(self, db: &mut Db, device: Uuid, now_ms: i64) -> StoreResult<()> {
        if !self.order.is_empty() {
            let count = self.order.len() as i64;
            let last: i64 = db
                .one(
                    "UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value",
                    &[&"feed", &count],
                )?
                .get(0);
            let first = last - count + 1;
            let held: Vec<&Held> = self.order.iter().map(|id| &self.reports[id]).collect();
            let id: Vec<&[u8]> = self
                .order
                .iter()
                .map(|id| id.as_bytes().as_slice())
                .collect();
            let seq: Vec<i64> = (first..=last).collect();
            let origin = |h: &&Held| h.state.origin.clone();
            let reporter: Vec<String> = held
                .iter()
                .map(|h| origin(h).map(|o| o.reporter).unwrap_or_default())
                .collect();
            let origin_device: Vec<&[u8]> = held
                .iter()
                .map(|h| {
                    h.state
                        .origin
                        .as_ref()
                        .map(|o| o.device.as_bytes().as_slice())
                        .unwrap_or(device.as_bytes().as_slice())
                })
                .collect();
            let category: Vec<Option<&str>> = held.iter().map(|h| h.state.category()).collect();
            let cell: Vec<Option<&str>> = held.iter().map(|h| h.state.grid_cell()).collect();
            let assigned: Vec<bool> = held.iter().map(|h| h.state.grid_cell.is_some()).collect();
            let deleted: Vec<bool> = held.iter().map(|h| h.state.is_deleted()).collect();
            let observed: Vec<Option<i64>> = held
                .iter()
                .map(|h| h.state.origin.as_ref().map(|o| o.observed_at_ms))
                .collect();
            let state: Vec<Vec<u8>> = held.iter().map(|h| codec::encode(&h.state)).collect();
            let patrol: Vec<Option<&[u8]>> = held
                .iter()
                .map(|h| {
                    h.state
                        .origin
                        .as_ref()
                        .and_then(|o| o.patrol.as_ref())
                        .map(|p| p.as_bytes().as_slice())
                })
                .collect();
            db.execute(
                "INSERT INTO reports (id, seq, reporter, device, category, grid_cell, assigned,
                                      deleted, observed_at_ms, updated_ms, state, patrol)
                 SELECT t.id, t.seq, t.reporter, t.device, t.category, t.grid_cell, t.assigned,
                        t.deleted, t.observed_at_ms, $10, t.state, t.patrol
                 FROM UNNEST($1::bytea[], $2::int8[], $3::text[], $4::bytea[], $5::text[],
                             $6::text[], $7::bool[], $8::bool[], $9::int8[], $11::bytea[],
                             $12::bytea[])
                   AS t(id, seq, reporter, device, category, grid_cell, assigned, deleted,
                        observed_at_ms, state, patrol)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, reporter = excluded.reporter,
                   device = excluded.device, category = excluded.category,
                   grid_cell = excluded.grid_cell, assigned = excluded.assigned,
                   deleted = excluded.deleted, observed_at_ms = excluded.observed_at_ms,
                   updated_ms = excluded.updated_ms, state = excluded.state,
                   patrol = excluded.patrol",
                &[
                    &id,
                    &seq,
                    &reporter,
                    &origin_device,
                    &category,
                    &cell,
                    &assigned,
                    &deleted,
                    &observed,
                    &now_ms,
                    &state,
                    &patrol,
                ],
            )?;
            // A report that ever moved keeps its cells left, and a row per
            // cell at its current feed position; most never move.
            for (h, seq) in held.iter().zip(&seq).filter(|(h, _)| !h.left.is_empty()) {
                let id = h.state.id.as_bytes().as_slice();
                db.execute(
                    "UPDATE reports SET left_cells = $2 WHERE id = $1",
                    &[&id, &h.left],
                )?;
                for cell in &h.left {
                    db.execute(
                        "INSERT INTO report_left_cells (report, cell, seq) VALUES ($1, $2, $3)
                         ON CONFLICT (report, cell) DO UPDATE SET seq = excluded.seq",
                        &[&id, cell, seq],
                    )?;
                }
            }
            if !self.photos.is_empty() {
                let (hash, report): (Vec<&[u8]>, Vec<&[u8]>) = self
                    .photos
                    .iter()
                    .map(|(hash, report)| (hash.as_slice(), report.as_bytes().as_slice()))
                    .unzip();
                db.execute(
                    "INSERT INTO report_photos (hash, report)
                     SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) ON CONFLICT DO NOTHING",
                    &[&hash, &report],
                )?;
            }
        }
        if !self.applied.is_empty() {
            let applied: Vec<&[u8]> = self
                .applied
                .iter()
                .map(|id| id.as_bytes().as_slice())
                .collect();
            db.execute(
                "INSERT INTO applied_ops (op_id, device, applied_ms)
                 SELECT op_id, $2, $3 FROM UNNEST($1::bytea[]) AS t(op_id)",
                &[&applied, &device.as_bytes().as_slice(), &now_ms],
            )?;
        }
        Ok(())
    }
}

pub(super) fn apply_ops(
    db: &mut Db,
    device: Uuid,
    ops: &[Op],
    rules: &Rules,
    now_ms: i64,
) -> StoreResult<Vec<Outcome>> {
    let mut batch = Batch::load(db, ops)?;
    let mut outcomes = Vec::with_capacity(ops.len());
    for op in ops {
        if batch.seen.contains(&op.op_id) {
            outcomes.push(Outcome::Duplicate);
            continue;
        }
        let decided = match &op.body {
            OpBody::Report { report_id, .. } => {
                let current = batch.report(*report_id);
                match (rules.report)(op, current.as_ref()) {
                    Ok(next) if current.as_ref() == Some(&next) => Ok(None),
                    Ok(next) => match (&current, batch.cases.get(report_id)) {
                        (Some(before), Some(case)) => (rules.amend)(op, before, &next, case)
                            .map(|amended| Some(Change::Report(next, amended))),
                        _ => Ok(Some(Change::Report(next, None))),
                    },
                    Err(r) => Err(r),
                }
            }
            OpBody::Patrol { patrol_id, .. } => {
                let current = load_patrol(db, *patrol_id, true)?;
                (rules.patrol)(op, current.as_ref()).map(|c| Some(Change::Patrol(c)))
            }
            OpBody::Case { report_id, .. } => {
                let report = batch.report(*report_id);
                let case = batch.cases.get(report_id);
                (rules.case)(op, report.as_ref(), case).and_then(|next| {
                    let report = report.ok_or_else(|| {
                        Rejection::new(
                            gridwarden_protocol::ErrorCode::Internal,
                            "a case decided without its report (a server bug)",
                        )
                    })?;
                    Ok(Some(Change::Case(next, report)))
                })
            }
        };
        match decided {
            Ok(change) => {
                match change {
                    Some(Change::Report(next, amended)) => {
                        if let Some(case) = amended {
                            save_case(db, &case, now_ms)?;
                            batch.cases.insert(case.report_id, case);
                        }
                        batch.write_report(next);
                    }
                    Some(Change::Patrol(change)) => save_patrol(db, &change, now_ms, rules.track)?,
                    Some(Change::Case(case, report)) => {
                        save_case(db, &case, now_ms)?;
                        batch.cases.insert(case.report_id, case);
                        // The report moves in the feed with its case.
                        batch.write_report(report);
                    }
                    None => {}
                }
                batch.seen.insert(op.op_id);
                batch.applied.push(op.op_id);
                outcomes.push(Outcome::Applied);
            }
            Err(r) => outcomes.push(Outcome::Rejected {
                code: r.code,
                reason: r.reason,
            }),
        }
    }
    batch.flush(db, device, now_ms)?;
    Ok(outcomes)
}

#[allow(
    clippy::large_enum_variant,
    reason = "one lives at a time, inside a push loop; boxing buys nothing"
)]
enum Change {
    Report(ReportState, Option<CaseState>),
    Patrol(PatrolChange),
    Case(CaseState, ReportState),
}
