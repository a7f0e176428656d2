//! The device's identity: stored at enrolment; replaced when a home whose
//! device was revoked (or lost its certificate pin) enrols again with a new
//! code from IT, keeping its outbox, which the next sync pushes under the
//! new identity; and what a phone holds unsent, exported for IT.

use gridwarden_protocol::{hlc, Op};
use rusqlite::{Connection, Transaction};
use serde::Serialize;
use uuid::Uuid;

use super::view::ReportView;
use crate::error::{ClientError, Result};
use crate::store::meta::{self, Enrolment};
use crate::store::{outbox, reports};

/// What a phone holds unsent, for IT.
#[derive(Debug, Serialize)]
pub struct UnsentWork {
    pub user: String,
    pub device_id: Uuid,
    pub exported_at_ms: i64,
    /// The queued ops, oldest first, exactly as they would be pushed.
    pub ops: Vec<Op>,
    /// The reports those ops are about, as this phone shows them.
    pub reports: Vec<ReportView>,
}

/// Stores the identity of a first enrolment. Checked again under the write
/// lock: two enrolments racing on one home must not both write.
pub fn store_first(tx: &Transaction, enrolment: &Enrolment) -> Result<()> {
    if let Some(e) = meta::enrolment(tx)? {
        return Err(ClientError::AlreadyEnrolled {
            user: e.user,
            server: e.server_addr,
        });
    }
    meta::set_enrolment(tx, enrolment)
}

/// Replaces this home's identity with a new one of the same user, keeping
/// its unsent work: the queued ops move to the new identity's clock node.
pub fn store_again(tx: &Transaction, old: &Enrolment, enrolment: &Enrolment) -> Result<()> {
    if enrolment.user != old.user {
        return Err(ClientError::InvalidInput(format!(
            "this code is for {}, but this phone holds {}'s work; ask IT for a code for {}",
            enrolment.user, old.user, old.user
        )));
    }
    let node = hlc::node_id(enrolment.device_id);
    // Acknowledged ops' effects name the identity they were made under.
    reports::fold_acknowledged(tx)?;
    meta::set_enrolment(tx, enrolment)?;
    let moved = outbox::renode(tx, node)?;
    let mut last = meta::last_hlc(tx)?;
    last.node = node;
    meta::set_last_hlc(tx, last)?;
    tracing::info!(moved, old = %old.device_id, new = %enrolment.device_id, "re-enrolled; unsent work kept");
    Ok(())
}

/// What this phone holds unsent: its queued ops and their reports.
pub fn export_unsent(conn: &Connection, now_ms: i64) -> Result<UnsentWork> {
    let e = meta::enrolment(conn)?.ok_or(ClientError::NotEnrolled)?;
    let ops = outbox::all(conn)?;
    let mut ids: Vec<Uuid> = ops.iter().map(outbox::subject).collect();
    ids.sort();
    ids.dedup();
    let categories = None;
    let mut views = Vec::new();
    for id in ids {
        if let Some(stored) = reports::get(conn, id)? {
            views.extend(ReportView::from_stored(stored, categories));
        }
    }
    Ok(UnsentWork {
        user: e.user,
        device_id: e.device_id,
        exported_at_ms: now_ms,
        ops,
        reports: views,
    })
}
