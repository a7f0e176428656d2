//! The case loop on the server: who may take which step (the state machine
//! in `protocol::case` and the user's role, department and cells), the
//! deadlines from the category table and the working calendar, and the
//! departments a case may go to.

use gridwarden_protocol::case::{Applying, CaseActor, CaseOp, CaseRefusal, CaseState, CaseStatus};
use gridwarden_protocol::category::{CategoryTable, TimeLimit};
use gridwarden_protocol::{validate, ErrorCode, Op, OpBody, ReportState};
use gridwarden_workflow::WorkingCalendar;

use super::{own_clock, Service, ServiceResult, Session};
use crate::store::{Rejection, User};

/// Meta key of the working calendar (a `CalendarFile` as JSON).
pub const CALENDAR_KEY: &str = "calendar";

/// What deciding a case op needs besides the op and the stored states.
pub(super) struct CaseContext<'a> {
    pub user: &'a User,
    pub department: Option<&'a str>,
    pub categories: &'a CategoryTable,
    pub calendar: &'a WorkingCalendar,
    pub departments: &'a [String],
    /// Category → default department.
    pub routes: &'a [(String, String)],
    pub now_ms: i64,
    /// The users named as verifiers by the push's case steps.
    pub verifiers: &'a std::collections::HashMap<String, User>,
}

impl Service {
    /// The city's working calendar, or mainland China's office week.
    pub fn calendar(&self) -> ServiceResult<WorkingCalendar> {
        match self.store.meta(CALENDAR_KEY)? {
            Some(json) => WorkingCalendar::from_json(&json).map_err(|e| {
                crate::store::StoreError::Corrupt(format!("stored calendar: {e}")).into()
            }),
            None => Ok(WorkingCalendar::default_china()),
        }
    }
}

fn limit_of(categories: &CategoryTable, report: &ReportState, dispose: bool) -> Option<TimeLimit> {
    let category = categories.get(report.category()?)?;
    if dispose {
        category.dispose_limit
    } else {
        category.register_limit
    }
}

/// When the report entered the loop: its recording time, as stamped by the
/// device's clock, which the server refuses more than the drift bound ahead
/// of its own (ADR 0013): so at the latest a minute after the server first
/// stored it, earlier if the warden recorded it offline.
pub fn reported_ms(report: &ReportState) -> i64 {
    report
        .origin
        .as_ref()
        .map(|o| o.created.wall_ms as i64)
        .unwrap_or(0)
}

/// The case of a report nobody acted on yet.
pub fn initial_case(
    report: &ReportState,
    categories: &CategoryTable,
    calendar: &WorkingCalendar,
) -> CaseState {
    let deadline = limit_of(categories, report, false)
        .and_then(|limit| calendar.deadline(reported_ms(report), limit));
    CaseState::reported(report.id, deadline)
}

pub(super) fn decide(
    session: &Session,
    op: &Op,
    report: Option<&ReportState>,
    case: Option<&CaseState>,
    cx: &CaseContext,
) -> Result<CaseState, Rejection> {
    let OpBody::Case { op: case_op, .. } = &op.body else {
        return Err(Rejection::new(
            ErrorCode::Internal,
            "not a case op (a server bug)",
        ));
    };
    own_clock(session, op)?;
    validate::case_op(case_op)
        .map_err(|e| Rejection::new(ErrorCode::InvalidInput, e.to_string()))?;
    let Some(report) = report.filter(|r| r.origin.is_some() && !r.is_deleted()) else {
        return Err(Rejection::new(
            ErrorCode::NotFound,
            "the server has no such report (or it was deleted); its case cannot move",
        ));
    };
    let mut next = case
        .cloned()
        .unwrap_or_else(|| initial_case(report, cx.categories, cx.calendar));
    // A dispatch without a department goes where the category is routed.
    let mut case_op = case_op.clone();
    if let CaseOp::Dispatch { department, .. } = &mut case_op {
        if department.is_empty() {
            *department = default_department(report, cx)?;
        }
        if !cx.departments.iter().any(|d| d == department) {
            return Err(Rejection::new(
                ErrorCode::InvalidInput,
                format!(
                    "no department `{department}`; known: {}",
                    if cx.departments.is_empty() {
                        "none yet (IT adds them with `gridwarden-server departments add`)".into()
                    } else {
                        cx.departments.join(", ")
                    }
                ),
            ));
        }
    }
    let next_deadline_ms = match &case_op {
        CaseOp::Dispatch { .. } | CaseOp::Verify { passed: false, .. } => {
            limit_of(cx.categories, report, true)
                .and_then(|limit| cx.calendar.deadline(cx.now_ms, limit))
        }
        CaseOp::Postpone { extension, .. } => next
            .deadline_ms
            .and_then(|d| cx.calendar.deadline(d.max(cx.now_ms), *extension)),
        _ => None,
    };
    let covers_cell = report
        .grid_cell()
        .is_some_and(|cell| cx.user.cells.iter().any(|c| c == cell));
    if cx.user.role.sees_everything() && !cx.user.cells.is_empty() && !covers_cell {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "this case lies outside your district; its own district's supervisor runs it",
        ));
    }
    if let CaseOp::SendForVerification {
        verifier: Some(name),
    } = &case_op
    {
        // A verifier must hold the case: a warden or liaison of its cell,
        // who receives it in their pulls and may answer it.
        let Some(named) = cx.verifiers.get(name).filter(|u| !u.disabled) else {
            return Err(Rejection::new(
                ErrorCode::InvalidInput,
                format!("no active user `{name}` to verify this case"),
            ));
        };
        let actor = crate::authz::Actor {
            user: &named.name,
            role: named.role,
            cells: &named.cells,
        };
        let target = crate::authz::Target {
            owner: None,
            cell: report.grid_cell(),
        };
        crate::authz::check(&actor, crate::authz::Action::VerifyCase, &target)?;
    }
    let applying = Applying {
        actor: CaseActor {
            user: &cx.user.name,
            role: cx.user.role,
            department: cx.department,
            covers_cell,
        },
        device: session.device_id,
        device_ms: op.hlc.wall_ms as i64,
        server_ms: cx.now_ms,
        next_deadline_ms,
    };
    next.transition(&case_op, applying)
        .map_err(|refusal| match refusal {
            CaseRefusal::WrongStatus(m) => Rejection::new(ErrorCode::Conflict, m),
            CaseRefusal::NotAllowed(m) => Rejection::new(ErrorCode::Forbidden, m),
        })?;
    Ok(next)
}

/// What an applied report edit writes into its case's history: once the
/// case is registered or later, a change of the report's category or
/// location is an amendment (who, when, old → new), so it travels to
/// devices with the case. Whether the user may make the change at all is
/// decided before, by the access table (`ChangeLiveCase`, `MoveCaseInto`).
pub(super) fn amendment(
    session: &Session,
    user: &User,
    op: &Op,
    before: &ReportState,
    after: &ReportState,
    case: &CaseState,
    now_ms: i64,
) -> Result<Option<CaseState>, Rejection> {
    if matches!(case.status, CaseStatus::Reported | CaseStatus::Rejected) {
        return Ok(None);
    }
    let category = match (before.category(), after.category()) {
        (Some(old), Some(new)) if old != new => Some((old.to_owned(), new.to_owned())),
        _ => None,
    };
    let location = match (before.location(), after.location()) {
        (Some(old), Some(new)) if old != new => Some((old, new)),
        _ => None,
    };
    if category.is_none() && location.is_none() {
        return Ok(None);
    }
    let mut next = case.clone();
    let applying = Applying {
        actor: CaseActor {
            user: &user.name,
            role: user.role,
            department: None,
            covers_cell: true,
        },
        device: session.device_id,
        device_ms: op.hlc.wall_ms as i64,
        server_ms: now_ms,
        next_deadline_ms: None,
    };
    next.amend(CaseOp::Amend { category, location }, applying)
        .map_err(|refusal| Rejection::new(ErrorCode::Forbidden, refusal.to_string()))?;
    Ok(Some(next))
}

fn default_department(report: &ReportState, cx: &CaseContext) -> Result<String, Rejection> {
    let category = report.category().unwrap_or("?");
    cx.routes
        .iter()
        .find(|(c, _)| c == category)
        .map(|(_, d)| d.clone())
        .ok_or_else(|| {
            Rejection::new(
                ErrorCode::InvalidInput,
                format!("category {category} has no default department; name one to dispatch to"),
            )
        })
}
