//! Rotating the server certificate without re-enrolling devices: a rollover
//! window in which the server announces its next certificate and devices
//! learn to trust it, then the switch (docs/security.md, "Rotate the
//! certificate").

use gridwarden_protocol::enrolment::hex;
use serde::Serialize;

use super::access;
use crate::datadir::DataDir;
use crate::service::Service;
use crate::tls;

/// Meta key: when the running server first announced the current next
/// certificate (`FINGERPRINT_HEX MS`); devices seen since have learnt it.
pub const ANNOUNCED_KEY: &str = "cert_next_announced";

#[derive(Debug, Serialize)]
pub struct CertStatus {
    pub fingerprint: String,
    /// The next certificate, while a rotation is under way.
    pub next_fingerprint: Option<String>,
    /// When a server first announced the next certificate (after the
    /// restart that follows `cert rotate`); `None` if none has yet.
    pub announced_ms: Option<i64>,
    /// Devices (not revoked) that connected since the announcement: they
    /// will follow the switch.
    pub devices_ready: usize,
    /// Devices that have not: after `cert activate` they need a new code.
    pub devices_not_ready: Vec<DeviceNotReady>,
}

#[derive(Debug, Serialize)]
pub struct DeviceNotReady {
    pub id: uuid::Uuid,
    pub user: String,
    pub label: String,
    pub last_seen_ms: Option<i64>,
}

pub fn status(data: &DataDir) -> anyhow::Result<CertStatus> {
    let identity = tls::load_or_create(&data.path)?;
    let next = identity.next_fingerprint();
    let announced_ms = match (next, data.store().meta(ANNOUNCED_KEY)?) {
        (Some(next), Some(value)) => parse_announced(&value)
            .filter(|(fp, _)| *fp == hex(&next))
            .map(|(_, ms)| ms),
        _ => None,
    };
    let mut devices_ready = 0;
    let mut devices_not_ready = Vec::new();
    for d in data.store().devices()? {
        if d.revoked_ms.is_some() {
            continue;
        }
        // Enrolling is a connection too: a device enrolled during the
        // window learnt the next certificate then.
        let last_contact = d.last_seen_ms.unwrap_or(d.enrolled_ms).max(d.enrolled_ms);
        let ready = announced_ms.is_some_and(|a| last_contact >= a);
        if ready {
            devices_ready += 1;
        } else if next.is_some() {
            devices_not_ready.push(DeviceNotReady {
                id: d.id,
                user: d.user,
                label: d.label,
                last_seen_ms: d.last_seen_ms,
            });
        }
    }
    Ok(CertStatus {
        fingerprint: hex(&identity.fingerprint()),
        next_fingerprint: next.map(|n| hex(&n)),
        announced_ms,
        devices_ready,
        devices_not_ready,
    })
}

fn parse_announced(value: &str) -> Option<(String, i64)> {
    let (fp, ms) = value.split_once(' ')?;
    Some((fp.to_owned(), ms.parse().ok()?))
}

/// Called when a server starts: records when the next certificate was first
/// announced, so `cert status` can tell which devices have learnt it.
pub fn note_announcement(service: &Service, next: Option<[u8; 32]>) -> anyhow::Result<()> {
    let Some(next) = next else {
        return Ok(());
    };
    let fp = hex(&next);
    let store = service.store();
    let current = store.meta(ANNOUNCED_KEY)?;
    if current.as_deref().and_then(parse_announced).map(|(f, _)| f) != Some(fp.clone()) {
        store.set_meta(ANNOUNCED_KEY, &format!("{fp} {}", service.now()))?;
    }
    Ok(())
}

pub fn rotate(data: &DataDir) -> anyhow::Result<String> {
    let next = hex(&tls::begin_rotation(&data.path)?);
    access::log(data, "cert.rotate", &next, "rollover window opened".into())?;
    Ok(next)
}

pub fn activate(data: &DataDir) -> anyhow::Result<String> {
    let before = status(data)?;
    let now = hex(&tls::activate_rotation(&data.path)?);
    access::log(
        data,
        "cert.activate",
        &now,
        format!(
            "replaced {}; {} devices had not connected during the rollover",
            before.fingerprint,
            before.devices_not_ready.len()
        ),
    )?;
    Ok(now)
}

pub fn cancel(data: &DataDir) -> anyhow::Result<()> {
    tls::cancel_rotation(&data.path)?;
    access::log(data, "cert.cancel", "next certificate", String::new())
}
