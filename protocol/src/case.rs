//! The case loop (案件处置流程): a report becomes a case when a supervisor
//! registers it, is dispatched to a department, disposed, verified in the
//! field and closed — or rejected, or sent back for rework when verification
//! fails.
//!
//! Unlike the report's fields, a case is not merged field by field: the
//! server is its only writer and applies transitions one at a time, in the
//! order they reach it, so two supervisors acting at once cannot both win.
//! A [`CaseState`] carries its whole history; replicas keep the longer one
//! ([`CaseState::merge`]), which makes receiving states in any order or
//! twice harmless.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::category::TimeLimit;
use crate::photo::PhotoRef;
use crate::report::Location;
use crate::Role;

/// Most steps one case keeps: a case this long is stuck, and a bound keeps
/// every case well inside one frame (a step is at most a few KiB).
pub const MAX_CASE_STEPS: usize = 200;

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Reported from the field, not yet looked at (信息收集).
    Reported,
    /// Accepted as a case (立案).
    Registered,
    /// Not a case: a duplicate, outside the remit, not found (不予立案).
    Rejected,
    /// Sent to a department to fix (派遣), with a deadline.
    Dispatched,
    /// The department reports it fixed (处置反馈).
    Disposed,
    /// Sent to the field for verification (核查).
    Verifying,
    /// Verified fixed in the field; awaits closing.
    Verified,
    /// Closed (结案).
    Closed,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Reported => "reported",
            CaseStatus::Registered => "registered",
            CaseStatus::Rejected => "rejected",
            CaseStatus::Dispatched => "dispatched",
            CaseStatus::Disposed => "disposed",
            CaseStatus::Verifying => "verifying",
            CaseStatus::Verified => "verified",
            CaseStatus::Closed => "closed",
        }
    }

    pub const ALL: [CaseStatus; 8] = [
        CaseStatus::Reported,
        CaseStatus::Registered,
        CaseStatus::Rejected,
        CaseStatus::Dispatched,
        CaseStatus::Disposed,
        CaseStatus::Verifying,
        CaseStatus::Verified,
        CaseStatus::Closed,
    ];
}

impl std::fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CaseStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CaseStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = CaseStatus::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown case status `{s}`; one of {}", names.join(", "))
            })
    }
}

/// A step a user asks for. Deadlines are not part of the op: the server
/// computes them from the category table and the working calendar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CaseOp {
    Register {
        note: String,
    },
    Reject {
        reason: String,
    },
    Dispatch {
        department: String,
        note: String,
    },
    /// The department reports the issue fixed.
    Dispose {
        note: String,
        photos: Vec<PhotoRef>,
    },
    /// The supervisor accepts the disposal report and asks the field to
    /// check; `verifier` names a liaison or warden, else anyone covering the
    /// case's cell may verify.
    SendForVerification {
        verifier: Option<String>,
    },
    /// The field's verdict: fixed (`passed`) or not, which sends the case
    /// back to its department (返工).
    Verify {
        passed: bool,
        note: String,
        photos: Vec<PhotoRef>,
    },
    Close {
        note: String,
    },
    Reopen {
        reason: String,
    },
    /// Gives a dispatched case more time (缓办), with the reason; the server
    /// moves the deadline on by `extension` working time.
    Postpone {
        reason: String,
        extension: TimeLimit,
    },
    /// Written by the server, never sent by a device: a supervisor of the
    /// case's district changed its report's category or location after it
    /// was registered (a case is a record: the change stays in its
    /// history). Appended last: postcard numbers variants by position.
    Amend {
        /// The category before and after, if it changed.
        category: Option<(String, String)>,
        /// The location before and after, if it moved.
        location: Option<(Location, Location)>,
    },
}

impl CaseOp {
    pub fn name(&self) -> &'static str {
        match self {
            CaseOp::Register { .. } => "register",
            CaseOp::Reject { .. } => "reject",
            CaseOp::Dispatch { .. } => "dispatch",
            CaseOp::Dispose { .. } => "dispose",
            CaseOp::SendForVerification { .. } => "send_for_verification",
            CaseOp::Verify { .. } => "verify",
            CaseOp::Close { .. } => "close",
            CaseOp::Reopen { .. } => "reopen",
            CaseOp::Postpone { .. } => "postpone",
            CaseOp::Amend { .. } => "amend",
        }
    }

    /// The free text the op carries (a note or a reason).
    pub fn text(&self) -> &str {
        match self {
            CaseOp::Register { note }
            | CaseOp::Dispatch { note, .. }
            | CaseOp::Dispose { note, .. }
            | CaseOp::Verify { note, .. }
            | CaseOp::Close { note } => note,
            CaseOp::Reject { reason }
            | CaseOp::Reopen { reason }
            | CaseOp::Postpone { reason, .. } => reason,
            CaseOp::SendForVerification { .. } | CaseOp::Amend { .. } => "",
        }
    }

    /// What a history entry shows: the op's text, or for an amendment what
    /// changed, old → new.
    pub fn detail(&self) -> String {
        let CaseOp::Amend { category, location } = self else {
            return self.text().to_owned();
        };
        let mut parts = Vec::new();
        if let Some((old, new)) = category {
            parts.push(format!("category {old} → {new}"));
        }
        if let Some((old, new)) = location {
            parts.push(format!(
                "location {:.6},{:.6} → {:.6},{:.6}",
                old.lon, old.lat, new.lon, new.lat
            ));
        }
        parts.join("; ")
    }

    pub fn photos(&self) -> &[PhotoRef] {
        match self {
            CaseOp::Dispose { photos, .. } | CaseOp::Verify { photos, .. } => photos,
            _ => &[],
        }
    }
}

/// One step of a case's history: who, when (device and server time), from
/// which device, why. Kept for ever: enforcement records have legal weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseTransition {
    pub op: CaseOp,
    pub from: CaseStatus,
    pub to: CaseStatus,
    pub by: String,
    pub role: Role,
    pub device: Uuid,
    /// The device's clock when the user acted (the op's HLC wall time).
    pub device_ms: i64,
    /// When the server applied it.
    pub server_ms: i64,
    /// The deadline this step set for the next one (a dispatch's disposal
    /// deadline), kept so KPIs can be computed from the history alone.
    pub deadline_ms: Option<i64>,
}

/// The case of one report, as the server keeps it and devices display it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    pub report_id: Uuid,
    pub status: CaseStatus,
    /// The department the case is (or was last) dispatched to.
    pub department: Option<String>,
    /// When the current step must be done by, server time: registering for
    /// a reported case, disposing for a dispatched one.
    pub deadline_ms: Option<i64>,
    /// Whether the case was disposed (or is still open) after its disposal
    /// deadline: kept once set, for the on-time closing rate.
    pub disposal_late: bool,
    /// Times verification failed and the case went back to its department.
    pub reworks: u32,
    /// Who is asked to verify, if someone was named.
    pub verifier: Option<String>,
    pub history: Vec<CaseTransition>,
}

/// Who acts on a case, as the server knows them.
#[derive(Clone, Copy, Debug)]
pub struct CaseActor<'a> {
    pub user: &'a str,
    pub role: Role,
    /// The department (职能部门) the user works for, if any: its users
    /// report disposal of the cases dispatched to it.
    pub department: Option<&'a str>,
    /// Whether the case's grid cell is one the user covers.
    pub covers_cell: bool,
}

/// Why a transition was refused, as a sentence for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseRefusal {
    /// The op is not possible from the case's current status (another user
    /// may have moved it first).
    WrongStatus(String),
    /// The user's role or scope does not allow it.
    NotAllowed(String),
}

impl std::fmt::Display for CaseRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaseRefusal::WrongStatus(m) | CaseRefusal::NotAllowed(m) => f.write_str(m),
        }
    }
}

/// What the server supplies when it applies a transition.
#[derive(Clone, Copy, Debug)]
pub struct Applying<'a> {
    pub actor: CaseActor<'a>,
    pub device: Uuid,
    pub device_ms: i64,
    pub server_ms: i64,
    /// The deadline of the step the case enters, from the category table
    /// and the working calendar (`None` when the category has no limit);
    /// for a postponement, the current deadline moved on by its extension.
    pub next_deadline_ms: Option<i64>,
}

impl CaseState {
    /// A report that has not been looked at; `register_deadline_ms` from the
    /// category's register limit.
    pub fn reported(report_id: Uuid, register_deadline_ms: Option<i64>) -> Self {
        Self {
            report_id,
            status: CaseStatus::Reported,
            department: None,
            deadline_ms: register_deadline_ms,
            disposal_late: false,
            reworks: 0,
            verifier: None,
            history: Vec::new(),
        }
    }

    /// The status an op leads to from the current one, if the machine allows
    /// it at all (whoever asks).
    pub fn next_status(&self, op: &CaseOp) -> Option<CaseStatus> {
        use CaseStatus::*;
        match (self.status, op) {
            (Reported, CaseOp::Register { .. }) => Some(Registered),
            (Reported, CaseOp::Reject { .. }) => Some(Rejected),
            (Registered, CaseOp::Dispatch { .. }) => Some(Dispatched),
            // Redirecting to another department while it is being worked on.
            (Dispatched, CaseOp::Dispatch { .. }) => Some(Dispatched),
            (Dispatched, CaseOp::Dispose { .. }) => Some(Disposed),
            (Dispatched, CaseOp::Postpone { .. }) => Some(Dispatched),
            (Disposed, CaseOp::SendForVerification { .. }) => Some(Verifying),
            (Verifying, CaseOp::Verify { passed: true, .. }) => Some(Verified),
            (Verifying, CaseOp::Verify { passed: false, .. }) => Some(Dispatched),
            (Verified, CaseOp::Close { .. }) => Some(Closed),
            (Closed | Rejected, CaseOp::Reopen { .. }) => Some(Registered),
            _ => None,
        }
    }

    fn who_may(op: &CaseOp) -> &'static str {
        match op {
            CaseOp::Dispose { .. } => "the department it is dispatched to, or a supervisor",
            CaseOp::Verify { .. } => {
                "the liaison or warden asked to verify, or one covering the case's cell"
            }
            _ => "a supervisor",
        }
    }

    fn allowed(&self, actor: &CaseActor, op: &CaseOp) -> bool {
        let supervises = actor.role.sees_everything();
        match op {
            CaseOp::Dispose { .. } => {
                supervises
                    || (actor.department.is_some()
                        && actor.department == self.department.as_deref())
            }
            CaseOp::Verify { .. } => {
                matches!(actor.role, Role::Liaison | Role::Warden)
                    && match &self.verifier {
                        Some(named) => named == actor.user,
                        None => actor.covers_cell,
                    }
            }
            _ => supervises,
        }
    }

    /// Applies `op` if the machine and the actor's role allow it; the state
    /// is unchanged otherwise.
    pub fn transition(&mut self, op: &CaseOp, at: Applying) -> Result<(), CaseRefusal> {
        let Some(to) = self.next_status(op) else {
            let last = self
                .history
                .last()
                .map(|t| {
                    format!(
                        " ({} by {} at server time {})",
                        t.op.name(),
                        t.by,
                        t.server_ms
                    )
                })
                .unwrap_or_default();
            return Err(CaseRefusal::WrongStatus(format!(
                "cannot {} a case that is {}{last}",
                op.name().replace('_', " "),
                self.status
            )));
        };
        if self.history.len() >= MAX_CASE_STEPS {
            return Err(CaseRefusal::NotAllowed(format!(
                "this case already has {MAX_CASE_STEPS} steps; close it and record a new report"
            )));
        }
        if !self.allowed(&at.actor, op) {
            return Err(CaseRefusal::NotAllowed(format!(
                "only {} may {} this case; you are {} ({})",
                Self::who_may(op),
                op.name().replace('_', " "),
                at.actor.user,
                at.actor.role
            )));
        }
        if self.status == CaseStatus::Dispatched
            && to != CaseStatus::Dispatched
            && self.deadline_ms.is_some_and(|d| at.server_ms > d)
        {
            self.disposal_late = true;
        }
        if let CaseOp::Dispatch { department, .. } = op {
            self.department = Some(department.clone());
        }
        self.deadline_ms = match op {
            // A redirect keeps the deadline: the clock runs from the first
            // dispatch.
            CaseOp::Dispatch { .. } if self.status == CaseStatus::Dispatched => self.deadline_ms,
            CaseOp::Dispatch { .. }
            | CaseOp::Verify { passed: false, .. }
            | CaseOp::Postpone { .. } => at.next_deadline_ms,
            _ => None,
        };
        if let CaseOp::Verify { passed: false, .. } = op {
            self.reworks += 1;
        }
        self.verifier = match op {
            CaseOp::SendForVerification { verifier } => verifier.clone(),
            _ => None,
        };
        self.history.push(CaseTransition {
            op: op.clone(),
            from: self.status,
            to,
            by: at.actor.user.to_owned(),
            role: at.actor.role,
            device: at.device,
            device_ms: at.device_ms,
            server_ms: at.server_ms,
            deadline_ms: self.deadline_ms,
        });
        self.status = to;
        Ok(())
    }

    /// Records in the history that the report's category or location
    /// changed (`op` is a [`CaseOp::Amend`]); the status, deadline and
    /// everything else stay as they are. Refused, like any step, once the
    /// history is full.
    pub fn amend(&mut self, op: CaseOp, at: Applying) -> Result<(), CaseRefusal> {
        if !matches!(op, CaseOp::Amend { .. }) {
            return Err(CaseRefusal::NotAllowed(format!(
                "{} is not an amendment (a server bug)",
                op.name()
            )));
        }
        if self.history.len() >= MAX_CASE_STEPS {
            return Err(CaseRefusal::NotAllowed(format!(
                "this case already has {MAX_CASE_STEPS} steps; close it and record a new report"
            )));
        }
        self.history.push(CaseTransition {
            op,
            from: self.status,
            to: self.status,
            by: at.actor.user.to_owned(),
            role: at.actor.role,
            device: at.device,
            device_ms: at.device_ms,
            server_ms: at.server_ms,
            // An amendment sets no deadline: the KPIs read none from it.
            deadline_ms: None,
        });
        Ok(())
    }

    /// Keeps the state with the longer history. The server is the only
    /// writer and only appends, so of two states one history is a prefix of
    /// the other: this is a join, and replicas converge whatever the order.
    pub fn merge(&mut self, other: &CaseState) {
        if other.history.len() > self.history.len() {
            *self = other.clone();
        }
    }

    /// Whether the case's current step is past its deadline at `now_ms`.
    pub fn is_overdue(&self, now_ms: i64) -> bool {
        self.deadline_ms.is_some_and(|d| now_ms > d)
    }
}

#[cfg(test)]
mod tests;
