//! Conversions between the frozen version-2 shapes and the current ones.
//! Unlike `shapes.rs`, this file changes whenever a current shape does: the
//! golden vectors of `protocol/golden/v2/` (decoded, converted to current
//! and back, re-encoded to the same bytes) say when it must.
//!
//! Subtrees whose shape did not change since version 2 are moved across by
//! re-encoding ([`same`]): equal shapes give equal bytes, so this is exact,
//! and a later change to one of those current shapes fails the golden test
//! instead of silently mistranslating.

use serde::{de::DeserializeOwned, Serialize};

use super::shapes as v2;
use crate::case::{CaseOp, CaseState};
use crate::report::{Lww, NewReport, Origin, ReportEdit};
use crate::{
    codec, ClientMessage, ErrorCode, ErrorMessage, Op, OpBody, Outcome, ProtocolError, Record,
    ReportOp, ReportState, ServerMessage,
};

/// A current message version 2 has no way to say.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0} does not exist in protocol version 2")]
pub struct Unrepresentable(pub &'static str);

/// Moves a value between two types of the same postcard shape.
fn same<A: Serialize, B: DeserializeOwned>(a: &A) -> Result<B, ProtocolError> {
    codec::decode(&codec::encode(a))
}

// ---- from version 2 to current (what an old phone sends) ----

/// An old phone's message as the server handles it. Fields version 2 does
/// not know are absent (`None`), so an edit leaves them as they are.
pub fn client_from_v2(m: v2::ClientMessage) -> Result<ClientMessage, ProtocolError> {
    match m {
        v2::ClientMessage::Push(p) => Ok(ClientMessage::Push(crate::Push {
            ops: p
                .ops
                .into_iter()
                .map(op_from_v2)
                .collect::<Result<_, _>>()?,
        })),
        // Every other request kept its shape.
        other => same(&other),
    }
}

pub(super) fn op_from_v2(op: v2::Op) -> Result<Op, ProtocolError> {
    let body = match op.body {
        v2::OpBody::Report { report_id, op } => OpBody::Report {
            report_id,
            op: report_op_from_v2(op)?,
        },
        v2::OpBody::Patrol { patrol_id, op } => OpBody::Patrol {
            patrol_id,
            op: same(&op)?,
        },
        v2::OpBody::Case { report_id, op } => OpBody::Case {
            report_id,
            op: same(&op)?,
        },
    };
    Ok(Op {
        op_id: op.op_id,
        hlc: same(&op.hlc)?,
        body,
    })
}

fn report_op_from_v2(op: v2::ReportOp) -> Result<ReportOp, ProtocolError> {
    Ok(match op {
        v2::ReportOp::Create(n) => ReportOp::Create(NewReport {
            category: n.category,
            location: same(&n.location)?,
            address: n.address,
            note: n.note,
            observed_at_ms: n.observed_at_ms,
            patrol: n.patrol,
            asset: None,
        }),
        v2::ReportOp::Edit(e) => ReportOp::Edit(ReportEdit {
            category: e.category,
            note: e.note,
            location: e.location.as_ref().map(same).transpose()?,
            address: e.address,
            asset: None,
        }),
        v2::ReportOp::Delete => ReportOp::Delete,
        v2::ReportOp::AttachPhotos(p) => ReportOp::AttachPhotos(same(&p)?),
    })
}

/// A version-2 server answer as a current one (for tests and tools that
/// play an old phone's part).
pub fn server_from_v2(m: v2::ServerMessage) -> Result<ServerMessage, ProtocolError> {
    Ok(match m {
        v2::ServerMessage::Welcome(w) => ServerMessage::Welcome(crate::Welcome {
            protocol_version: w.protocol_version,
            server_time_ms: w.server_time_ms,
            user: w.user,
            role: same(&w.role)?,
            cells: w.cells,
            categories_version: w.categories_version,
            grid_version: w.grid_version,
            limits: crate::DeviceLimits::unknown(),
            store_epoch: uuid::Uuid::nil(),
            update_required_by_ms: None,
        }),
        v2::ServerMessage::Enrolled(e) => ServerMessage::Enrolled(crate::Enrolled {
            device_id: e.device_id,
            token: e.token,
            user: e.user,
            role: same(&e.role)?,
            limits: crate::DeviceLimits::unknown(),
            store_epoch: uuid::Uuid::nil(),
        }),
        v2::ServerMessage::PullPage(p) => ServerMessage::PullPage(crate::PullPage {
            records: p
                .records
                .into_iter()
                .map(|r| match r {
                    v2::Record::Report(s) => report_from_v2(s).map(Record::Report),
                    other => same(&other),
                })
                .collect::<Result<_, _>>()?,
            cursor: same(&p.cursor)?,
            more: p.more,
        }),
        other => same(&other)?,
    })
}

pub(super) fn report_from_v2(s: v2::ReportState) -> Result<ReportState, ProtocolError> {
    Ok(ReportState {
        id: s.id,
        origin: s.origin.as_ref().map(same::<_, Origin>).transpose()?,
        category: same(&s.category)?,
        note: same(&s.note)?,
        location: same(&s.location)?,
        address: same(&s.address)?,
        asset: None,
        deleted: same(&s.deleted)?,
        grid_cell: same(&s.grid_cell)?,
        photos: same(&s.photos)?,
    })
}

// ---- from current to version 2 (what the server sends an old phone) ----

/// The server's answer as an old phone can read it: fields version 2 does
/// not know are left out; amendments (a case step kind version 2 lacks) are
/// left out of case histories, which a version-2 phone only displays.
pub fn server_to_v2(m: &ServerMessage) -> Result<v2::ServerMessage, Unrepresentable> {
    let exact = |r: Result<v2::ServerMessage, ProtocolError>| {
        r.map_err(|_| Unrepresentable("a value of this answer"))
    };
    match m {
        ServerMessage::Welcome(w) => Ok(v2::ServerMessage::Welcome(v2::Welcome {
            protocol_version: w.protocol_version,
            server_time_ms: w.server_time_ms,
            user: w.user.clone(),
            role: role_to_v2(w.role),
            cells: w.cells.clone(),
            categories_version: w.categories_version,
            grid_version: w.grid_version,
        })),
        ServerMessage::Enrolled(e) => Ok(v2::ServerMessage::Enrolled(v2::Enrolled {
            device_id: e.device_id,
            token: e.token.clone(),
            user: e.user.clone(),
            role: role_to_v2(e.role),
        })),
        ServerMessage::PullPage(p) => Ok(v2::ServerMessage::PullPage(v2::PullPage {
            records: p.records.iter().filter_map(record_to_v2).collect(),
            cursor: v2::Cursor(p.cursor.0.clone()),
            more: p.more,
        })),
        ServerMessage::Ack(a) => Ok(v2::ServerMessage::Ack(v2::Ack {
            results: a
                .results
                .iter()
                .map(|r| v2::OpResult {
                    op_id: r.op_id,
                    outcome: match &r.outcome {
                        Outcome::Applied => v2::Outcome::Applied,
                        Outcome::Duplicate => v2::Outcome::Duplicate,
                        Outcome::Rejected { code, reason } => v2::Outcome::Rejected {
                            code: code_to_v2(*code),
                            reason: reason.clone(),
                        },
                    },
                })
                .collect(),
            server_hlc: hlc_to_v2(a.server_hlc),
        })),
        ServerMessage::Error(e) => Ok(error_to_v2(e)),
        ServerMessage::CellPage(_) => Err(Unrepresentable("a page of grid cells")),
        ServerMessage::Notice(_) => Err(Unrepresentable("a notice")),
        ServerMessage::Packed(_) => Err(Unrepresentable("a packed message")),
        other => exact(same(other)),
    }
}

/// A refusal as version 2 reads it: a code version 2 lacks becomes
/// `InvalidInput` (not retried), with the message kept.
pub fn error_to_v2(e: &ErrorMessage) -> v2::ServerMessage {
    v2::ServerMessage::Error(v2::ErrorMessage {
        code: code_to_v2(e.code),
        message: e.message.clone(),
    })
}

fn code_to_v2(code: ErrorCode) -> v2::ErrorCode {
    same(&code).unwrap_or(v2::ErrorCode::InvalidInput)
}

fn role_to_v2(role: crate::Role) -> v2::Role {
    match role {
        crate::Role::Warden => v2::Role::Warden,
        crate::Role::Liaison => v2::Role::Liaison,
        crate::Role::Supervisor => v2::Role::Supervisor,
        crate::Role::Admin => v2::Role::Admin,
    }
}

fn hlc_to_v2(h: crate::Hlc) -> v2::Hlc {
    v2::Hlc {
        wall_ms: h.wall_ms,
        counter: h.counter,
        node: h.node,
    }
}

fn record_to_v2(r: &Record) -> Option<v2::Record> {
    match r {
        Record::Report(s) => report_to_v2(s).map(v2::Record::Report),
        Record::OutOfScope { report_id } => Some(v2::Record::OutOfScope {
            report_id: *report_id,
        }),
        Record::Case(c) => case_to_v2(c).map(v2::Record::Case),
    }
}

pub(super) fn report_to_v2(s: &ReportState) -> Option<v2::ReportState> {
    fn lww<T: Serialize, U: DeserializeOwned>(l: &Option<Lww<T>>) -> Option<Option<v2::Lww<U>>> {
        same(l).ok()
    }
    Some(v2::ReportState {
        id: s.id,
        origin: same(&s.origin).ok()?,
        category: lww(&s.category)?,
        note: lww(&s.note)?,
        location: lww(&s.location)?,
        address: lww(&s.address)?,
        deleted: s.deleted.map(hlc_to_v2),
        grid_cell: lww(&s.grid_cell)?,
        photos: same(&s.photos).ok()?,
    })
}

/// A case for an old phone: its history without the steps version 2 cannot
/// read (amendments). The status, deadline and every device's step stay.
fn case_to_v2(c: &CaseState) -> Option<v2::CaseState> {
    let mut kept = c.clone();
    kept.history
        .retain(|t| !matches!(t.op, CaseOp::Amend { .. }));
    same(&kept).ok()
}

/// An old phone's request as it was sent (for tests and tools that play
/// its part): fields version 2 does not know are dropped.
pub fn client_to_v2(m: &ClientMessage) -> Result<v2::ClientMessage, Unrepresentable> {
    match m {
        ClientMessage::Push(p) => Ok(v2::ClientMessage::Push(v2::Push {
            ops: p.ops.iter().map(op_to_v2).collect::<Result<_, _>>()?,
        })),
        ClientMessage::FetchCells(_) => Err(Unrepresentable("FetchCells")),
        ClientMessage::Packed(_) => Err(Unrepresentable("a packed message")),
        other => same(other).map_err(|_| Unrepresentable("a value of this request")),
    }
}

pub(super) fn op_to_v2(op: &Op) -> Result<v2::Op, Unrepresentable> {
    let body = match &op.body {
        OpBody::Report { report_id, op } => v2::OpBody::Report {
            report_id: *report_id,
            op: match op {
                ReportOp::Create(n) => v2::ReportOp::Create(v2::NewReport {
                    category: n.category.clone(),
                    location: location_to_v2(n.location),
                    address: n.address.clone(),
                    note: n.note.clone(),
                    observed_at_ms: n.observed_at_ms,
                    patrol: n.patrol,
                }),
                ReportOp::Edit(e) => v2::ReportOp::Edit(v2::ReportEdit {
                    category: e.category.clone(),
                    note: e.note.clone(),
                    location: e.location.map(location_to_v2),
                    address: e.address.clone(),
                }),
                ReportOp::Delete => v2::ReportOp::Delete,
                ReportOp::AttachPhotos(p) => v2::ReportOp::AttachPhotos(
                    same(p).map_err(|_| Unrepresentable("a photo reference"))?,
                ),
            },
        },
        OpBody::Patrol { patrol_id, op } => v2::OpBody::Patrol {
            patrol_id: *patrol_id,
            op: same(op).map_err(|_| Unrepresentable("a patrol op"))?,
        },
        OpBody::Case { report_id, op } => v2::OpBody::Case {
            report_id: *report_id,
            op: same(op).map_err(|_| Unrepresentable("an amendment"))?,
        },
    };
    Ok(v2::Op {
        op_id: op.op_id,
        hlc: hlc_to_v2(op.hlc),
        body,
    })
}

fn location_to_v2(l: crate::Location) -> v2::Location {
    v2::Location {
        lon: l.lon,
        lat: l.lat,
        accuracy_m: l.accuracy_m,
    }
}
