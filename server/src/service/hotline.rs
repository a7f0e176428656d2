//! A hotline's request becomes a report through the very path a device's
//! push takes: one create op, decided by the same rules (validation, known
//! category, grid cell) in the same transaction. The hotline stands in for
//! a device: its device id is minted from the API client's name in the
//! shape `protocol::source` recognises, and the client's name is the
//! reporter (docs/adr/0016-hotline-source-and-api-keys.md).

use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::source::hotline_device;
use gridwarden_protocol::{
    ErrorCode, Hlc, NewReport, Op, OpBody, Outcome, Push, ReportOp, ReportState, Role,
};
use uuid::Uuid;

use super::{Service, ServiceError, ServiceResult, Session};
use crate::store::User;

impl Service {
    /// Records `new` as report `report_id` of the API client `client`. The
    /// op id is the caller's, so a retried request is applied once: a
    /// repeat yields the report as the first one stored it.
    pub fn hotline_report(
        &self,
        client: &str,
        report_id: Uuid,
        op_id: Uuid,
        new: NewReport,
    ) -> ServiceResult<ReportState> {
        let device = hotline_device(client);
        // The client is nobody's user: it covers no cells and may not edit
        // anything but what it creates (it never sends edits).
        let user = User {
            name: client.to_owned(),
            role: Role::Liaison,
            cells: Vec::new(),
            disabled: false,
        };
        let session = Session {
            device_id: device,
            user: client.to_owned(),
            role: user.role,
            cells: Vec::new(),
            // The client's address is in the HTTP log, not the op.
            remote: None,
            seen_noted_ms: None,
        };
        // The server's clock, on the hotline's node: later than everything
        // the server stamped, and unique to this client.
        let tick = self.tick();
        let op = Op {
            op_id,
            hlc: Hlc::new(tick.wall_ms, tick.counter, node_id(device)),
            body: OpBody::Report {
                report_id,
                op: ReportOp::Create(new),
            },
        };
        let ack = self.push_as(&session, user, Push { ops: vec![op] }, None)?;
        match ack.results.into_iter().next().map(|r| r.outcome) {
            Some(Outcome::Applied | Outcome::Duplicate) => {}
            Some(Outcome::Rejected { code, reason }) => {
                return Err(ServiceError::refused(code, reason))
            }
            None => {
                return Err(ServiceError::refused(
                    ErrorCode::Internal,
                    "the request was not recorded (a server bug)",
                ))
            }
        }
        self.store.report(report_id)?.ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::Internal,
                "the request was recorded but cannot be read back; try again",
            )
        })
    }
}
