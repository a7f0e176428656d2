//! The case loop on the device: taking a step (queued like any op, decided by
//! the server at the next sync), listing cases and one's verification tasks,
//! and the KPIs over the cases this device holds — for a supervisor, the
//! whole city, offline.

use gridwarden_protocol::case::{CaseOp, CaseState, CaseStatus};
use gridwarden_protocol::clock::Clock;
use gridwarden_protocol::{OpBody, PhotoRef, ReportState, Role};
use gridwarden_workflow::{kpi, CaseFacts, GroupBy, KpiRow, Period};
use rusqlite::{Connection, Transaction};
use serde::Serialize;
use uuid::Uuid;

use super::{live_report, next_stamp, queue_op, require_enrolment};
use crate::error::{ClientError, Result};
use crate::store::{cases, meta, outbox, photos, reports};

/// One step of a case's history, as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepView {
    pub op: String,
    pub from: String,
    pub to: String,
    pub by: String,
    pub role: String,
    pub device: Uuid,
    pub device_ms: i64,
    pub server_ms: i64,
    pub text: String,
    pub department: Option<String>,
    pub passed: Option<bool>,
    /// BLAKE3 hashes of the photos taken at this step (`photo get` fetches them).
    pub photos: Vec<String>,
}

/// A case as the device shows it: the report's facts and the case's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseView {
    pub report_id: Uuid,
    pub status: String,
    pub category: Option<String>,
    pub note: Option<String>,
    pub grid_cell: Option<String>,
    pub reporter: Option<String>,
    pub department: Option<String>,
    pub deadline_ms: Option<i64>,
    pub overdue: bool,
    pub reworks: u32,
    pub verifier: Option<String>,
    /// This device's steps still waiting to be sent, by name.
    pub pending: Vec<String>,
    /// The latest refusal of one of this report's ops (a step the server
    /// did not allow, with why).
    pub rejected: Option<String>,
    pub history: Vec<StepView>,
}

/// Which cases [`crate::Client::cases`] lists.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    pub grid_cell: Option<String>,
    pub overdue_only: bool,
}

fn view_of(
    state: &ReportState,
    case: &CaseState,
    pending: Vec<String>,
    rejected: Option<String>,
    now_ms: i64,
) -> CaseView {
    CaseView {
        report_id: state.id,
        status: case.status.as_str().to_owned(),
        category: state.category().map(str::to_owned),
        note: state.note().map(str::to_owned),
        grid_cell: state.grid_cell().map(str::to_owned),
        reporter: state.origin.as_ref().map(|o| o.reporter.clone()),
        department: case.department.clone(),
        deadline_ms: case.deadline_ms,
        overdue: case.is_overdue(now_ms),
        reworks: case.reworks,
        verifier: case.verifier.clone(),
        pending,
        rejected,
        history: case
            .history
            .iter()
            .map(|t| StepView {
                op: t.op.name().to_owned(),
                from: t.from.as_str().to_owned(),
                to: t.to.as_str().to_owned(),
                by: t.by.clone(),
                role: t.role.as_str().to_owned(),
                device: t.device,
                device_ms: t.device_ms,
                server_ms: t.server_ms,
                text: t.op.detail(),
                department: match &t.op {
                    CaseOp::Dispatch { department, .. } => Some(department.clone()),
                    _ => None,
                },
                passed: match &t.op {
                    CaseOp::Verify { passed, .. } => Some(*passed),
                    _ => None,
                },
                photos: t.op.photos().iter().map(|p| p.hash.to_hex()).collect(),
            })
            .collect(),
    }
}

/// This device's case steps for `report` still in the outbox.
fn pending_steps(conn: &Connection, report: Uuid) -> Result<Vec<String>> {
    Ok(outbox::ops_of(conn, report)?
        .into_iter()
        .filter_map(|op| match op.body {
            OpBody::Case { op, .. } => Some(op.name().to_owned()),
            _ => None,
        })
        .collect())
}

/// Takes a step of a report's case, with photos already stored (only a
/// disposal or a verification takes them): queued now, decided by the server
/// at the next sync (which may refuse it: another supervisor moved first,
/// or the step is not this user's to take; the reason comes back). The
/// photos are uploaded once the server accepted the step.
pub fn step(
    tx: &Transaction,
    clock: &dyn Clock,
    report_id: Uuid,
    op: CaseOp,
    refs: &[PhotoRef],
) -> Result<Uuid> {
    let enrolment = require_enrolment(tx)?;
    live_report(tx, report_id, "moved on as a case")?;
    let now = clock.now_ms();
    for photo in refs {
        photos::queue(tx, photo, now as i64)?;
    }
    let stamp = next_stamp(tx, &enrolment, clock)?;
    queue_op(tx, stamp, OpBody::Case { report_id, op })
}

/// Puts photo references into a step that takes photos; refuses photos for
/// any other step.
pub fn with_photos(mut op: CaseOp, refs: &[PhotoRef]) -> Result<CaseOp> {
    match &mut op {
        CaseOp::Dispose { photos, .. } | CaseOp::Verify { photos, .. } => *photos = refs.to_vec(),
        other if !refs.is_empty() => {
            return Err(ClientError::InvalidInput(format!(
                "photos go with a disposal or a verification, not a {}",
                other.name().replace('_', " ")
            )))
        }
        _ => {}
    }
    Ok(op)
}

/// Every case of the reports on this device (a report nobody acted on
/// is `reported`), newest report first.
pub fn list(conn: &Connection, now: i64, filter: &CaseFilter) -> Result<Vec<CaseView>> {
    let mut out = Vec::new();
    for stored in reports::list_visible(conn)? {
        let state = &stored.state;
        let case =
            cases::get(conn, state.id)?.unwrap_or_else(|| CaseState::reported(state.id, None));
        if filter.status.is_some_and(|s| s != case.status)
            || filter
                .grid_cell
                .as_deref()
                .is_some_and(|c| state.grid_cell() != Some(c))
            || (filter.overdue_only && !case.is_overdue(now))
        {
            continue;
        }
        let rejected = stored.rejection.map(|(_, reason)| reason);
        let pending = pending_steps(conn, state.id)?;
        out.push(view_of(state, &case, pending, rejected, now));
    }
    Ok(out)
}

/// One report's case.
pub fn get(conn: &Connection, now: i64, report_id: Uuid) -> Result<CaseView> {
    let stored = reports::get(conn, report_id)?
        .filter(|r| r.state.origin.is_some())
        .ok_or_else(|| ClientError::NotFound(report_id.to_string()))?;
    let case = cases::get(conn, report_id)?.unwrap_or_else(|| CaseState::reported(report_id, None));
    let pending = pending_steps(conn, report_id)?;
    let rejected = stored.rejection.map(|(_, reason)| reason);
    Ok(view_of(&stored.state, &case, pending, rejected, now))
}

/// Verification tasks for this user: cases sent to the field for
/// checking, named to them or in a cell they cover, that they have not
/// answered yet on this device.
pub fn tasks(conn: &Connection, now: i64) -> Result<Vec<CaseView>> {
    let e = require_enrolment(conn)?;
    let (user, role, cells) = (e.user, e.role, meta::cells(conn)?);
    if !matches!(role, Role::Warden | Role::Liaison) {
        return Ok(Vec::new());
    }
    let verifying = CaseFilter {
        status: Some(CaseStatus::Verifying),
        ..CaseFilter::default()
    };
    Ok(list(conn, now, &verifying)?
        .into_iter()
        .filter(|c| match &c.verifier {
            Some(named) => *named == user,
            None => c.grid_cell.as_ref().is_some_and(|g| cells.contains(g)),
        })
        .filter(|c| !c.pending.iter().any(|p| p == "verify"))
        .collect())
}

/// KPIs over the cases this device holds (docs/kpi.md).
pub fn kpi_rows(conn: &Connection, by: GroupBy, period: Period) -> Result<Vec<KpiRow>> {
    let mut facts = Vec::new();
    for stored in reports::list_visible(conn)? {
        let state = stored.state;
        let Some(origin) = &state.origin else {
            continue;
        };
        facts.push(CaseFacts {
            case: cases::get(conn, state.id)?
                .unwrap_or_else(|| CaseState::reported(state.id, None)),
            reported_ms: origin.created.wall_ms as i64,
            grid_cell: state.grid_cell().map(str::to_owned),
            reporter: origin.reporter.clone(),
        });
    }
    Ok(kpi(&facts, by, period))
}
