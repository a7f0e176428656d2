//! Enrolment: turning a one-time code from IT into a device identity, then
//! caching reference data on the same (now authenticated) connection; and
//! enrolling a home again with a new code, keeping its unsent work. Both
//! claim the code the same way ([`claim`]).

use std::time::Duration;

use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::{
    ClientMessage, DeviceLimits, Enroll, Enrolled, ServerMessage, PROTOCOL_VERSION,
};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ClientError, Result};
use crate::link::quic::QuicConnect;
use crate::link::{unexpected, Connect, Exchange};
use crate::local::{enrolment, Device};
use crate::store::meta::{self, Enrolment};
use crate::sync::engine::SyncEngine;
use crate::sync::{self, Controls};
use crate::tls::Pins;

/// The result of a successful enrolment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnrolmentInfo {
    pub device_id: Uuid,
    pub user: String,
    pub role: String,
    pub server: String,
    pub fingerprint: String,
    /// Versions of the reference data cached right after enrolment; `None`
    /// when the server has none or fetching it failed (the next sync retries).
    pub categories_version: Option<u64>,
    pub grid_version: Option<u64>,
}

impl EnrolmentInfo {
    fn from_enrolment(e: &Enrolment) -> Self {
        EnrolmentInfo {
            device_id: e.device_id,
            user: e.user.clone(),
            role: e.role.as_str().to_owned(),
            server: e.server_addr.clone(),
            fingerprint: e.fingerprint_hex(),
            categories_version: None,
            grid_version: None,
        }
    }
}

/// Whether a home enrols for the first time or again (keeping its work).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    First,
    Again,
}

fn already_enrolled(device: &Device) -> Result<()> {
    match meta::enrolment(device.lock_store().conn())? {
        Some(e) => Err(ClientError::AlreadyEnrolled {
            user: e.user,
            server: e.server_addr,
        }),
        None => Ok(()),
    }
}

/// Enrols over QUIC with the code IT issued (`gw1.SECRET.FINGERPRINT.ADDR`),
/// trusting only the certificate it names; enrolled during a certificate
/// rotation, the device trusts the next one too.
pub async fn over_quic(
    device: &Device,
    code: &str,
    device_label: &str,
    timeout: Duration,
    kind: Kind,
) -> Result<EnrolmentInfo> {
    if kind == Kind::First {
        already_enrolled(device)?;
    }
    let code = EnrolmentCode::parse(code)?;
    let pins = Pins::only(code.fingerprint);
    let connect = QuicConnect {
        server: code.server_addr.clone(),
        pins,
        timeout,
    };
    let mut session = connect.connect().await?;
    let result = match kind {
        Kind::First => first(device, &mut session, &code, device_label).await,
        Kind::Again => again(device, &mut session, &code, device_label).await,
    };
    if result.is_ok() {
        device.write(|tx, _| meta::remember_presented(tx, pins, session.presented()))?;
    }
    session.close().await;
    result
}

/// Spends the code: sends its secret, returns the identity the server issued.
async fn claim<E: Exchange>(
    link: &mut E,
    code: &EnrolmentCode,
    label: String,
) -> Result<(Enrolment, Enrolled)> {
    let request = ClientMessage::Enroll(Enroll {
        protocol_version: PROTOCOL_VERSION,
        secret: code.secret.clone(),
        device_label: label,
    });
    let enrolled = match link.exchange(&request).await? {
        ServerMessage::Enrolled(e) => e,
        refusal @ ServerMessage::Error(_) => return Err(unexpected(refusal, "enrolment")),
        other => {
            return Err(ClientError::Protocol(format!(
                "the server answered enrolment with {other:?}"
            )))
        }
    };
    let enrolment = Enrolment {
        device_id: enrolled.device_id,
        token: enrolled.token.clone(),
        server_addr: code.server_addr.clone(),
        fingerprint: code.fingerprint,
        user: enrolled.user.clone(),
        role: enrolled.role,
    };
    Ok((enrolment, enrolled))
}

/// The server's limits as the enrolment answer says them (an older server
/// says nothing: the defaults stay until it does).
fn keep_limits(tx: &rusqlite::Transaction, enrolled: &Enrolled) -> Result<()> {
    if enrolled.limits != DeviceLimits::unknown() {
        meta::set_limits(tx, &enrolled.limits)?;
    }
    Ok(())
}

/// First enrolment over any link; the code's address and fingerprint are the
/// caller's business.
pub async fn first<E: Exchange>(
    device: &Device,
    link: &mut E,
    code: &EnrolmentCode,
    device_label: &str,
) -> Result<EnrolmentInfo> {
    already_enrolled(device)?;
    let (enrolment, enrolled) = claim(link, code, device_label.to_owned()).await?;
    device.write(|tx, _| {
        enrolment::store_first(tx, &enrolment)?;
        keep_limits(tx, &enrolled)?;
        // The data this device starts from; a different one later means the
        // server was restored (sync/engine/epoch.rs).
        if !enrolled.store_epoch.is_nil() {
            meta::set_store_epoch(tx, enrolled.store_epoch)?;
        }
        Ok(())
    })?;
    let mut info = EnrolmentInfo::from_enrolment(&enrolment);

    // The code is spent and the identity stored: from here a failure only
    // means the reference data arrives at the first sync instead.
    let (engine, fetch) = SyncEngine::after_enrolment(enrolment.device_id, device.clock().clone());
    match sync::drive(device, link, engine, fetch, Controls::default()).await {
        Ok(_) => {
            let store = device.lock_store();
            info.categories_version = meta::categories_version(store.conn())?;
            info.grid_version = meta::grid_version(store.conn())?;
        }
        Err(e) => {
            tracing::warn!(error = %e, "enrolled, but reference data could not be fetched")
        }
    }
    Ok(info)
}

/// Enrols this home again with a new code for the same user, over any link,
/// keeping its unsent work, which the next sync pushes under the new
/// identity. The server's audit log records the enrolment as recovered from
/// the old device (in its label).
pub async fn again<E: Exchange>(
    device: &Device,
    link: &mut E,
    code: &EnrolmentCode,
    device_label: &str,
) -> Result<EnrolmentInfo> {
    let old = meta::enrolment(device.lock_store().conn())?.ok_or(ClientError::NotEnrolled)?;
    let label = format!("re-enrolled, was {}: {device_label}", old.device_id);
    let (enrolment, enrolled) = claim(link, code, label).await?;
    // The store epoch is left to the next sync: if the server's data is not
    // what this home last saw, that sync gives back what it holds.
    device.write(|tx, _| {
        enrolment::store_again(tx, &old, &enrolment)?;
        keep_limits(tx, &enrolled)
    })?;
    Ok(EnrolmentInfo::from_enrolment(&enrolment))
}
