//! Cases (the supervision loop over reports; their steps are written by
//! pushes through [`super::FeedTx::apply_ops`]), the departments they are
//! dispatched to, category routes and department members.

use gridwarden_protocol::case::CaseState;
use uuid::Uuid;

use super::{write, AuditRecord, Department, StoreResult, Transact};

pub trait CaseStore: Transact {
    /// The cases of these reports that have one, in no particular order.
    fn cases_of(&self, reports: &[Uuid]) -> StoreResult<Vec<CaseState>>;
    /// Every case with a row (reports somebody acted on).
    fn cases(&self) -> StoreResult<Vec<CaseState>>;
    fn departments(&self) -> StoreResult<Vec<Department>>;
    fn category_routes(&self) -> StoreResult<Vec<(String, String)>>;
    fn user_department(&self, user: &str) -> StoreResult<Option<String>>;

    /// [`CaseTx::set_category_routes`] alone.
    fn set_category_routes(&self, routes: &[(String, String)]) -> StoreResult<()> {
        write(self, |tx| tx.set_category_routes(routes))
    }

    fn add_department(&self, department: &Department, audit: &AuditRecord) -> StoreResult<()> {
        write(self, |tx| {
            tx.add_department(department, audit.at_ms)?;
            tx.append_audit(audit)?;
            Ok(())
        })
    }

    /// Makes `user` act for `department` (or for none), with its audit line.
    fn set_user_department(
        &self,
        user: &str,
        department: Option<&str>,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        write(self, |tx| {
            tx.set_user_department(user, department)?;
            tx.append_audit(audit)?;
            Ok(())
        })
    }
}

pub trait CaseTx {
    /// Refused with [`super::Clash::Department`] if the code is taken.
    fn add_department(&mut self, department: &Department, now_ms: i64) -> StoreResult<()>;
    /// Replaces the category → default department routes; refused with
    /// [`super::Missing::RouteTarget`] for a department that does not exist.
    fn set_category_routes(&mut self, routes: &[(String, String)]) -> StoreResult<()>;
    /// Refused with [`super::Missing`] for an unknown user or department.
    fn set_user_department(&mut self, user: &str, department: Option<&str>) -> StoreResult<()>;
}

/// The audit line of a case's latest step: written by every backend in the
/// transaction that stores the step.
pub fn step_audit(case: &CaseState) -> Option<AuditRecord> {
    let t = case.history.last()?;
    let text = t.op.detail();
    Some(AuditRecord {
        at_ms: t.server_ms,
        actor: t.by.clone(),
        device: Some(t.device),
        action: format!("case.{}", t.op.name()),
        subject: case.report_id.to_string(),
        detail: format!(
            "{} → {}{}{text}",
            t.from,
            t.to,
            if text.is_empty() { "" } else { ": " }
        ),
    })
}
