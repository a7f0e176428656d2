//! A case's panel (the report, its history, the steps the user may take
//! now), the steps themselves and photos. A step is an op of the user's
//! console device pushed through [`Service::push`](crate::service::Service::push):
//! the same authz, case state machine, audit line and feed position as a
//! phone's, so every device pulls it next time.

use gridwarden_protocol::case::{CaseOp, CaseState};
use gridwarden_protocol::category::TimeLimit;
use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::photo::{sniff_mime, CHUNK_SIZE};
use gridwarden_protocol::{ErrorCode, FetchPhoto, Hlc, Op, OpBody, Outcome, PhotoHash, Push, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::queue::{CaseRow, Entry};
use super::time::rfc3339;
use super::{Console, ConsoleUser};
use crate::service::{ServiceError, ServiceResult};

/// Most cases one bulk step acts on.
pub const MAX_BULK: usize = 500;

/// The steps the console offers, in the order the page shows them.
const CONSOLE_STEPS: [&str; 7] = [
    "register",
    "reject",
    "dispatch",
    "postpone",
    "send_for_verification",
    "close",
    "reopen",
];

/// A postponement's extension as the page sends it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Extension {
    WorkingDays(u32),
    WorkingHours(u32),
}

/// `POST /api/cases/{id}/steps`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    pub step: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub verifier: Option<String>,
    #[serde(default)]
    pub extension: Option<Extension>,
}

/// `POST /api/cases/bulk`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub ids: Vec<String>,
    pub step: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BulkResult {
    pub id: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn bad(message: impl Into<String>) -> ServiceError {
    ServiceError::Refused {
        code: ErrorCode::InvalidInput,
        message: message.into(),
    }
}

impl StepRequest {
    fn to_op(&self) -> ServiceResult<CaseOp> {
        let text = self.text.trim().to_owned();
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(match self.step.as_str() {
            "register" => CaseOp::Register { note: text },
            "reject" => CaseOp::Reject { reason: text },
            // An empty department goes where the category is routed.
            "dispatch" => CaseOp::Dispatch {
                department: given(&self.department).unwrap_or_default(),
                note: text,
            },
            "postpone" => CaseOp::Postpone {
                reason: text,
                extension: match self.extension {
                    None => TimeLimit::WorkingDays(1),
                    Some(Extension::WorkingDays(n)) if (1..=30).contains(&n) => {
                        TimeLimit::WorkingDays(n)
                    }
                    Some(Extension::WorkingHours(n)) if (1..=240).contains(&n) => {
                        TimeLimit::WorkingHours(n)
                    }
                    Some(_) => {
                        return Err(bad(
                            "extension: 1 to 30 working days or 1 to 240 working hours",
                        ))
                    }
                },
            },
            "send_for_verification" => CaseOp::SendForVerification {
                verifier: given(&self.verifier),
            },
            "close" => CaseOp::Close { note: text },
            "reopen" => CaseOp::Reopen { reason: text },
            other => {
                return Err(bad(format!(
                    "step: `{other}` is not one of {}",
                    CONSOLE_STEPS.join(", ")
                )))
            }
        })
    }
}

/// A sample op of each console step, to ask the state machine what is
/// possible now.
fn sample(step: &str) -> CaseOp {
    let req = StepRequest {
        step: step.into(),
        text: String::new(),
        department: None,
        verifier: None,
        extension: None,
    };
    req.to_op().unwrap_or(CaseOp::Register {
        note: String::new(),
    })
}

fn history(case: &CaseState) -> Vec<Value> {
    case.history
        .iter()
        .map(|t| {
            let department = match &t.op {
                CaseOp::Dispatch { department, .. } => Some(department.clone()),
                _ => None,
            };
            let verifier = match &t.op {
                CaseOp::SendForVerification { verifier } => verifier.clone(),
                _ => None,
            };
            json!({
                "step": t.op.name(),
                "from": t.from,
                "to": t.to,
                "actor": t.by,
                "role": t.role,
                "at": rfc3339(t.server_ms),
                "device_at": rfc3339(t.device_ms),
                "text": t.op.detail(),
                "deadline": t.deadline_ms.map(rfc3339),
                "department": department,
                "verifier": verifier,
                "passed": match &t.op { CaseOp::Verify { passed, .. } => Some(*passed), _ => None },
                "photos": t.op.photos().iter().map(|p| json!({"hash": p.hash.to_hex(), "mime": p.mime, "size": p.size})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

impl Console {
    /// What the user may do to the case now: the state machine's answer for
    /// a supervisor or admin, inside their district.
    fn actions(&self, user: &ConsoleUser, entry: &Entry) -> Vec<&'static str> {
        let in_district = user.cells().is_empty()
            || entry
                .cell()
                .is_some_and(|c| user.cells().iter().any(|u| u == c));
        if !in_district || !user.role().sees_everything() {
            return vec![];
        }
        let case = entry
            .case
            .as_deref()
            .cloned()
            .unwrap_or_else(|| CaseState::reported(entry.id(), entry.deadline_ms));
        CONSOLE_STEPS
            .into_iter()
            .filter(|s| case.next_status(&sample(s)).is_some())
            .collect()
    }

    /// Who verifies by default: the liaison (else warden) covering the cell.
    fn default_verifier(&self, cell: Option<&str>) -> ServiceResult<Option<String>> {
        let Some(cell) = cell else {
            return Ok(None);
        };
        let users = self.service.store().users()?;
        let covering = |role: Role| {
            users
                .iter()
                .find(|u| u.role == role && !u.disabled && u.cells.iter().any(|c| c == cell))
                .map(|u| u.name.clone())
        };
        Ok(covering(Role::Liaison).or_else(|| covering(Role::Warden)))
    }

    /// The case panel of an id or unique prefix.
    pub fn case_detail(&self, user: &ConsoleUser, id: &str) -> ServiceResult<Value> {
        let id = self.resolve(user, id)?;
        let names = self.names()?;
        let now = self.service.now();
        let entry = self
            .with_entries(user, |all| all.into_iter().find(|e| e.id() == id).cloned())?
            .ok_or_else(|| ServiceError::Refused {
                code: ErrorCode::NotFound,
                message: format!("no case `{id}`"),
            })?;
        let row = CaseRow::of(&entry, &names, now);
        let report = &entry.report;
        let mut report_json = serde_json::to_value(&row).unwrap_or_default();
        report_json["address"] = json!(report.address());
        report_json["accuracy_m"] = json!(report.location().and_then(|l| l.accuracy_m));
        report_json["patrol"] = json!(report
            .origin
            .as_ref()
            .and_then(|o| o.patrol)
            .map(|p| p.to_string()));
        report_json["photos"] = json!(report
            .photos
            .iter()
            .map(|p| json!({"hash": p.hash.to_hex(), "mime": p.mime, "size": p.size}))
            .collect::<Vec<_>>());
        let routes = self.service.store().category_routes()?;
        let default_department = report
            .category()
            .and_then(|c| routes.iter().find(|(k, _)| k == c))
            .map(|(_, d)| d.clone());
        let case = entry.case.as_deref();
        Ok(json!({
            "report": report_json,
            "case": {
                "status": entry.status,
                "department": entry.department(),
                "deadline": entry.deadline_ms.map(rfc3339),
                "verifier": case.and_then(|c| c.verifier.clone()),
                "reworks": case.map(|c| c.reworks).unwrap_or(0),
                "disposal_late": case.is_some_and(|c| c.disposal_late),
            },
            "history": case.map(history).unwrap_or_default(),
            "actions": self.actions(user, &entry),
            "defaults": {
                "department": default_department,
                "verifier": self.default_verifier(entry.cell())?,
            },
        }))
    }

    /// Takes one step on a case through the device rules; the refusal's
    /// sentence and code are the service's.
    pub fn step(
        &self,
        user: &ConsoleUser,
        id: &str,
        request: &StepRequest,
    ) -> ServiceResult<Value> {
        let report_id = self.resolve(user, id)?;
        let op = request.to_op()?;
        self.push_step(user, report_id, op)?;
        self.case_detail(user, &report_id.to_string())
    }

    fn push_step(&self, user: &ConsoleUser, report_id: Uuid, op: CaseOp) -> ServiceResult<()> {
        let session = user.session();
        let now = self.service.now().max(0) as u64;
        let op = Op {
            op_id: Uuid::now_v7(),
            hlc: Hlc::new(now, 0, node_id(session.device_id)),
            body: OpBody::Case { report_id, op },
        };
        let ack = self.service.push(session, Push { ops: vec![op] })?;
        match ack.results.into_iter().next().map(|r| r.outcome) {
            Some(Outcome::Applied | Outcome::Duplicate) => Ok(()),
            Some(Outcome::Rejected { code, reason }) => Err(ServiceError::Refused {
                code,
                message: reason,
            }),
            None => Err(ServiceError::Refused {
                code: ErrorCode::Internal,
                message: "the step got no answer (a server bug)".into(),
            }),
        }
    }

    /// Registers or dispatches several cases, each on its own: one refusal
    /// does not stop the others.
    pub fn bulk(
        &self,
        user: &ConsoleUser,
        request: &BulkRequest,
    ) -> ServiceResult<Vec<BulkResult>> {
        if !matches!(request.step.as_str(), "register" | "dispatch") {
            return Err(bad("a bulk step is register or dispatch"));
        }
        if request.ids.is_empty() || request.ids.len() > MAX_BULK {
            return Err(bad(format!("a bulk step acts on 1 to {MAX_BULK} cases")));
        }
        let step = StepRequest {
            step: request.step.clone(),
            text: request.text.clone(),
            department: request.department.clone(),
            verifier: None,
            extension: None,
        };
        let op = step.to_op()?;
        Ok(request
            .ids
            .iter()
            .map(|id| {
                let result = self
                    .resolve(user, id)
                    .and_then(|report_id| self.push_step(user, report_id, op.clone()));
                BulkResult {
                    id: id.clone(),
                    ok: result.is_ok(),
                    error: result.err().map(|e| e.to_string()),
                }
            })
            .collect())
    }

    /// A photo's bytes and type, by the devices' rule: on a report (or a
    /// case step of a report) the user may read; 404 otherwise.
    pub fn photo(&self, user: &ConsoleUser, hash: &str) -> ServiceResult<(Vec<u8>, &'static str)> {
        let not_found = || ServiceError::Refused {
            code: ErrorCode::NotFound,
            message: "no such photo on a report you may see".into(),
        };
        let hash = PhotoHash::from_hex(hash).map_err(|_| not_found())?;
        let mut bytes = Vec::new();
        loop {
            let data = self
                .service
                .fetch_photo(
                    user.session(),
                    &FetchPhoto {
                        hash,
                        offset: bytes.len() as u64,
                        max_len: (2 * CHUNK_SIZE) as u32,
                    },
                )
                .map_err(|e| match e {
                    ServiceError::Refused {
                        code: ErrorCode::NotFound,
                        ..
                    } => not_found(),
                    other => other,
                })?;
            bytes.extend_from_slice(&data.data);
            if data.data.is_empty() || bytes.len() as u64 >= data.size {
                break;
            }
        }
        let mime = sniff_mime(&bytes).unwrap_or("application/octet-stream");
        Ok((bytes, mime))
    }
}
