//! What the public sees of a request: the spec's fields, filled from the
//! report, its case and the request's own row; never the contact fields.
//! The loop's seven steps behind open/closed go in `status_notes` and in
//! FixMyStreet's `servicerequestupdates`.

use gridwarden_protocol::case::{CaseOp, CaseState, CaseStatus, CaseTransition};
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::ReportState;

use super::dates;
use super::doc::Node;
use crate::store::{Department, HotlineRequest};

/// What every view needs besides the request.
pub struct Context<'a> {
    pub categories: &'a CategoryTable,
    pub departments: &'a [Department],
    pub offset_min: i32,
}

/// One request with what it became.
pub struct Joined {
    pub request: HotlineRequest,
    pub report: ReportState,
    pub case: Option<CaseState>,
}

impl Joined {
    pub fn status(&self) -> CaseStatus {
        self.case
            .as_ref()
            .map_or(CaseStatus::Reported, |c| c.status)
    }

    /// The spec's two states: closed once the loop ended (closed, or not a
    /// case at all), open otherwise.
    pub fn open_or_closed(&self) -> &'static str {
        match self.status() {
            CaseStatus::Closed | CaseStatus::Rejected => "closed",
            _ => "open",
        }
    }

    fn last_step(&self) -> Option<&CaseTransition> {
        self.case.as_ref().and_then(|c| c.history.last())
    }
}

/// The sentence of a step a citizen reads.
fn step_sentence(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Reported => "received; awaiting the command centre",
        CaseStatus::Registered => "registered as a case",
        CaseStatus::Rejected => "not taken up as a case",
        CaseStatus::Dispatched => "dispatched to the responsible department",
        CaseStatus::Disposed => "the department reports it dealt with",
        CaseStatus::Verifying => "being verified on site",
        CaseStatus::Verified => "verified on site",
        CaseStatus::Closed => "closed",
    }
}

/// `dispatched: dispatched to the responsible department (note)`.
fn step_notes(status: CaseStatus, op: Option<&CaseOp>) -> String {
    let text = op.map(CaseOp::text).unwrap_or("").trim();
    if text.is_empty() {
        format!("{status}: {}", step_sentence(status))
    } else {
        format!("{status}: {} ({text})", step_sentence(status))
    }
}

/// FixMyStreet's update statuses for our steps.
fn fms_status(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Reported => "OPEN",
        CaseStatus::Registered => "INVESTIGATING",
        CaseStatus::Rejected => "NO_FURTHER_ACTION",
        CaseStatus::Dispatched => "ACTION_SCHEDULED",
        CaseStatus::Disposed | CaseStatus::Verifying => "IN_PROGRESS",
        CaseStatus::Verified => "FIXED",
        CaseStatus::Closed => "CLOSED",
    }
}

impl Context<'_> {
    fn time(&self, ms: i64) -> Node {
        Node::Text(dates::format(ms, self.offset_min))
    }

    fn department_name(&self, code: &str) -> String {
        self.departments
            .iter()
            .find(|d| d.code == code)
            .map_or_else(|| code.to_owned(), |d| d.name.clone())
    }

    /// The disposal deadline: set when the case was (last) dispatched.
    fn expected(&self, j: &Joined) -> Option<i64> {
        let case = j.case.as_ref()?;
        if matches!(case.status, CaseStatus::Dispatched) {
            return case.deadline_ms;
        }
        case.history
            .iter()
            .rev()
            .find(|t| t.to == CaseStatus::Dispatched)
            .and_then(|t| t.deadline_ms)
    }

    /// One request as `GET requests` lays it out.
    pub fn request(&self, j: &Joined) -> Node {
        let r = &j.request;
        let location = j.report.location();
        let service_name = self.categories.get(&r.service_code).map(|c| c.name.clone());
        let updated = j.last_step().map_or(r.requested_ms, |t| t.server_ms);
        let agency = j
            .case
            .as_ref()
            .and_then(|c| c.department.as_deref())
            .map(|d| self.department_name(d));
        Node::Obj(vec![
            ("service_request_id", Node::text(r.report_id.to_string())),
            ("status", Node::text(j.open_or_closed())),
            (
                "status_notes",
                Node::text(step_notes(j.status(), j.last_step().map(|t| &t.op))),
            ),
            ("service_name", Node::opt(service_name)),
            ("service_code", Node::text(r.service_code.clone())),
            ("description", Node::text(r.description.clone())),
            ("agency_responsible", Node::opt(agency)),
            ("service_notice", Node::Null),
            ("requested_datetime", self.time(r.requested_ms)),
            ("updated_datetime", self.time(updated)),
            (
                "expected_datetime",
                self.expected(j).map_or(Node::Null, |ms| self.time(ms)),
            ),
            ("address", Node::opt(j.report.address())),
            ("address_id", Node::Null),
            ("zipcode", Node::Null),
            ("lat", location.map_or(Node::Null, |l| Node::Num(l.lat))),
            ("long", location.map_or(Node::Null, |l| Node::Num(l.lon))),
            ("media_url", Node::opt(r.media_url.clone())),
        ])
    }

    /// FixMyStreet's updates of one request: its receipt, then one per
    /// step, with `(update_id, time)` for filtering.
    pub fn updates(&self, j: &Joined) -> Vec<(i64, Node)> {
        let id = j.request.report_id.to_string();
        let update = |n: usize, status: CaseStatus, at: i64, description: String| {
            (
                at,
                Node::Obj(vec![
                    ("update_id", Node::text(format!("{id}-{n}"))),
                    ("service_request_id", Node::text(id.clone())),
                    ("status", Node::text(fms_status(status))),
                    ("external_status_code", Node::text(status.as_str())),
                    ("updated_datetime", self.time(at)),
                    ("description", Node::text(description)),
                    ("media_url", Node::Null),
                ]),
            )
        };
        let mut out = vec![update(
            0,
            CaseStatus::Reported,
            j.request.requested_ms,
            step_notes(CaseStatus::Reported, None),
        )];
        if let Some(case) = &j.case {
            for (i, t) in case.history.iter().enumerate() {
                out.push(update(
                    i + 1,
                    t.to,
                    t.server_ms,
                    step_notes(t.to, Some(&t.op)),
                ));
            }
        }
        out
    }
}
