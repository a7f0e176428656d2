//! Stranded work comes home: a home whose device was revoked (or lost its
//! certificate pin) enrols again with a new code from IT and keeps its
//! outbox, which the next sync pushes under the new identity; and what a
//! phone holds unsent can be exported for IT.

use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::{hlc, ClientMessage, Enroll, Op, ServerMessage, PROTOCOL_VERSION};
use serde::Serialize;
use uuid::Uuid;

use crate::client::EnrolmentInfo;
use crate::error::{ClientError, Result};
use crate::store::meta::{self, Enrolment};
use crate::store::{outbox, reports};
use crate::tls::Pins;
use crate::view::ReportView;
use crate::{sync, transport, Client};

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

impl Client {
    /// Enrols this home again with a new code for the same user, keeping
    /// its unsent work, which the next sync pushes under the new identity.
    /// The server's audit log records the enrolment as recovered from the
    /// old device (in its label). Blocking.
    pub fn reenroll(&self, code: &str, device_label: &str) -> Result<EnrolmentInfo> {
        transport::runtime()?.block_on(async {
            let code = EnrolmentCode::parse(code)?;
            let mut session =
                transport::connect(&code.server_addr, code.fingerprint, self.connect_timeout())
                    .await?;
            let result = self.reenroll_over(&mut session, &code, device_label).await;
            if result.is_ok() {
                let mut store = self.lock_store();
                let tx = store.transaction()?;
                meta::remember_presented(&tx, Pins::only(code.fingerprint), session.presented())?;
                tx.commit()?;
            }
            session.close().await;
            result
        })
    }

    /// [`Client::reenroll`] over any link.
    pub async fn reenroll_over<E: sync::Exchange>(
        &self,
        session: &mut E,
        code: &EnrolmentCode,
        device_label: &str,
    ) -> Result<EnrolmentInfo> {
        let old = meta::enrolment(self.lock_store().conn())?.ok_or(ClientError::NotEnrolled)?;
        let request = ClientMessage::Enroll(Enroll {
            protocol_version: PROTOCOL_VERSION,
            secret: code.secret.clone(),
            device_label: format!("re-enrolled, was {}: {device_label}", old.device_id),
        });
        let enrolled = match session.exchange(&request).await? {
            ServerMessage::Enrolled(e) => e,
            ServerMessage::Error(e) => {
                return Err(ClientError::Refused {
                    code: e.code,
                    message: e.message,
                })
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "the server answered enrolment with {other:?}"
                )))
            }
        };
        if enrolled.user != old.user {
            return Err(ClientError::InvalidInput(format!(
                "this code is for {}, but this phone holds {}'s work; ask IT for a code for {}",
                enrolled.user, old.user, old.user
            )));
        }
        let enrolment = Enrolment {
            device_id: enrolled.device_id,
            token: enrolled.token,
            server_addr: code.server_addr.clone(),
            fingerprint: code.fingerprint,
            user: enrolled.user,
            role: enrolled.role,
        };
        let node = hlc::node_id(enrolment.device_id);
        {
            let mut store = self.lock_store();
            let tx = store.transaction()?;
            meta::set_enrolment(&tx, &enrolment)?;
            let moved = outbox::renode(&tx, node)?;
            let mut last = meta::last_hlc(&tx)?;
            last.node = node;
            meta::set_last_hlc(&tx, last)?;
            tx.commit()?;
            tracing::info!(moved, old = %old.device_id, new = %enrolment.device_id, "re-enrolled; unsent work kept");
        }
        Ok(EnrolmentInfo::from_enrolment(&enrolment))
    }

    /// What this phone holds unsent: its queued ops and their reports.
    pub fn export_unsent(&self) -> Result<UnsentWork> {
        let store = self.lock_store();
        let conn = store.conn();
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
            exported_at_ms: self.clock().now_ms() as i64,
            ops,
            reports: views,
        })
    }
}
