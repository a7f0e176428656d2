//! The case loop on this device (`local::cases`).

use std::path::PathBuf;

use gridwarden_protocol::case::CaseOp;
use gridwarden_protocol::validate;
use gridwarden_workflow::{GroupBy, KpiRow, Period};
use uuid::Uuid;

use super::Client;
use crate::error::Result;
use crate::local::cases::{self, CaseFilter, CaseView};
use crate::local::photos;

impl Client {
    /// Takes a step of a report's case: queued now, decided by the server at
    /// the next sync (which may refuse it: another supervisor moved first,
    /// or the step is not this user's to take; the reason comes back).
    pub fn case_step(&self, report_id: Uuid, op: CaseOp) -> Result<Uuid> {
        validate::case_op(&op)?;
        self.device
            .write(|tx, clock| cases::step(tx, clock, report_id, op, &[]))
    }

    /// Takes a disposal or verification step with photos from files: the
    /// photos are kept on the device and uploaded once the server accepted
    /// the step (like a report's photos).
    pub fn case_step_with_photos(
        &self,
        report_id: Uuid,
        op: CaseOp,
        photo_files: &[PathBuf],
    ) -> Result<Uuid> {
        let refs = photos::import(
            &self.device.photo_files(),
            photo_files,
            &self.device.limits()?,
        )?;
        let op = cases::with_photos(op, &refs)?;
        validate::case_op(&op)?;
        self.device
            .write(|tx, clock| cases::step(tx, clock, report_id, op, &refs))
    }

    /// Every case of the reports on this device (a report nobody acted on
    /// is `reported`), newest report first.
    pub fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseView>> {
        let now = self.device.clock().now_ms() as i64;
        cases::list(self.device.lock_store().conn(), now, filter)
    }

    /// One report's case.
    pub fn case(&self, report_id: Uuid) -> Result<CaseView> {
        let now = self.device.clock().now_ms() as i64;
        cases::get(self.device.lock_store().conn(), now, report_id)
    }

    /// Verification tasks for this user: cases sent to the field for
    /// checking, named to them or in a cell they cover, that they have not
    /// answered yet on this device.
    pub fn tasks(&self) -> Result<Vec<CaseView>> {
        let now = self.device.clock().now_ms() as i64;
        cases::tasks(self.device.lock_store().conn(), now)
    }

    /// KPIs over the cases this device holds (docs/kpi.md).
    pub fn kpi(&self, by: GroupBy, period: Period) -> Result<Vec<KpiRow>> {
        cases::kpi_rows(self.device.lock_store().conn(), by, period)
    }
}
