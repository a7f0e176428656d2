//! Enrolment: turning a one-time code from IT into a device identity, then
//! caching reference data on the same (now authenticated) connection.

use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::{ClientMessage, Enroll, Enrolled, ServerMessage, PROTOCOL_VERSION};

use crate::client::EnrolmentInfo;
use crate::error::{ClientError, Result};
use crate::store::meta::{self, Enrolment};
use crate::sync::engine::SyncEngine;
use crate::tls::Pins;
use crate::{sync, transport, Client};

impl Client {
    /// Enrols this device with the code IT issued (`gw1.SECRET.FINGERPRINT.ADDR`).
    /// Blocking; owns a runtime for the call. Use [`Client::enroll_async`]
    /// inside an async context.
    pub fn enroll(&self, code: &str, device_label: &str) -> Result<EnrolmentInfo> {
        transport::runtime()?.block_on(self.enroll_async(code, device_label))
    }

    pub async fn enroll_async(&self, code: &str, device_label: &str) -> Result<EnrolmentInfo> {
        if let Some(e) = meta::enrolment(self.lock_store().conn())? {
            return Err(ClientError::AlreadyEnrolled {
                user: e.user,
                server: e.server_addr,
            });
        }
        let code = EnrolmentCode::parse(code)?;
        let mut session =
            transport::connect(&code.server_addr, code.fingerprint, self.connect_timeout()).await?;
        let result = self.enroll_over(&mut session, &code, device_label).await;
        if result.is_ok() {
            // Enrolled during a certificate rotation: trust the next one too.
            let mut store = self.lock_store();
            let tx = store.transaction()?;
            meta::remember_presented(&tx, Pins::only(code.fingerprint), session.presented())?;
            tx.commit()?;
        }
        session.close().await;
        result
    }

    /// Enrols over any link (see [`sync::Exchange`]); the code's address and
    /// fingerprint are the caller's business.
    pub async fn enroll_over<E: sync::Exchange>(
        &self,
        session: &mut E,
        code: &EnrolmentCode,
        device_label: &str,
    ) -> Result<EnrolmentInfo> {
        if let Some(e) = meta::enrolment(self.lock_store().conn())? {
            return Err(ClientError::AlreadyEnrolled {
                user: e.user,
                server: e.server_addr,
            });
        }
        let request = ClientMessage::Enroll(Enroll {
            protocol_version: PROTOCOL_VERSION,
            secret: code.secret.clone(),
            device_label: device_label.to_owned(),
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
        let enrolment = self.store_enrolment(code, enrolled)?;
        let mut info = EnrolmentInfo::from_enrolment(&enrolment);

        // The code is spent and the identity stored: from here a failure only
        // means the reference data arrives at the first sync instead.
        let (engine, first) =
            SyncEngine::after_enrolment(enrolment.device_id, self.clock().clone());
        match sync::drive(self, session, engine, first, sync::Controls::default()).await {
            Ok(_) => {
                let status = self.status()?;
                info.categories_version = status.categories_version;
                info.grid_version = status.grid_version;
            }
            Err(e) => {
                tracing::warn!(error = %e, "enrolled, but reference data could not be fetched")
            }
        }
        Ok(info)
    }

    fn store_enrolment(&self, code: &EnrolmentCode, enrolled: Enrolled) -> Result<Enrolment> {
        let enrolment = Enrolment {
            device_id: enrolled.device_id,
            token: enrolled.token,
            server_addr: code.server_addr.clone(),
            fingerprint: code.fingerprint,
            user: enrolled.user,
            role: enrolled.role,
        };
        let mut store = self.lock_store();
        let tx = store.transaction()?;
        // Checked again under the write lock: two enrolments racing on one
        // home must not both write.
        if let Some(e) = meta::enrolment(&tx)? {
            return Err(ClientError::AlreadyEnrolled {
                user: e.user,
                server: e.server_addr,
            });
        }
        meta::set_enrolment(&tx, &enrolment)?;
        tx.commit()?;
        Ok(enrolment)
    }
}
