//! Who may reach the server: revoking devices, disabling users, and the
//! audit log that records every such admin action with who did it.

use serde::Serialize;
use uuid::Uuid;

use crate::datadir::DataDir;
use crate::store::{AuditEntry, AuditRecord, Device, User};

/// Who runs an admin command: the operating-system user and host, since
/// admin commands are run on the server machine, not from a device.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(process_uid)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("cli:{user}@{host}")
}

/// `uid N` from /proc (a container or cron job often sets no `USER`).
fn process_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    let uid = line.split_whitespace().nth(1)?;
    Some(format!("uid{uid}"))
}

/// An audit line for an admin command run now.
pub fn record(data: &DataDir, action: &str, subject: &str, detail: String) -> AuditRecord {
    AuditRecord {
        at_ms: data.service.now(),
        actor: cli_actor(),
        device: None,
        action: action.into(),
        subject: subject.into(),
        detail,
    }
}

/// Appends the audit line of an admin action that has already succeeded.
pub fn log(data: &DataDir, action: &str, subject: &str, detail: String) -> anyhow::Result<()> {
    data.store()
        .append_audit(&record(data, action, subject, detail))?;
    Ok(())
}

/// Revokes a device. A running server closes the device's open connections
/// within its revocation check interval (1 s by default) and refuses it
/// from then on.
pub fn revoke_device(data: &DataDir, id: &str) -> anyhow::Result<Device> {
    let id: Uuid = id.trim().parse().map_err(|_| {
        anyhow::anyhow!("`{id}` is not a device id; see `gridwarden-server devices list`")
    })?;
    let before = data.store().device(id)?;
    let detail = before
        .as_ref()
        .map(|d| format!("user {}, label {:?}", d.user, d.label))
        .unwrap_or_default();
    Ok(data
        .store()
        .revoke_device(id, &record(data, "device.revoke", &id.to_string(), detail))?)
}

/// Disables a user (every device of theirs is cut off and refused) or
/// enables them again.
pub fn set_user_disabled(data: &DataDir, name: &str, disabled: bool) -> anyhow::Result<User> {
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let user = data.store().set_user_disabled(
        name,
        disabled,
        &record(data, action, name, String::new()),
    )?;
    // Kept so ops the user's devices stamped while they were disabled (and
    // queued offline) are refused when they arrive after the re-enable.
    let key = crate::service::disabled_period_key(name, disabled);
    data.store()
        .set_meta(&key, &data.service.now().to_string())?;
    Ok(user)
}

#[derive(Debug, Serialize)]
pub struct AuditLine {
    pub seq: u64,
    pub at_ms: i64,
    pub actor: String,
    pub device: Option<Uuid>,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

impl From<AuditEntry> for AuditLine {
    fn from(e: AuditEntry) -> Self {
        let r = e.record;
        Self {
            seq: e.seq,
            at_ms: r.at_ms,
            actor: r.actor,
            device: r.device,
            action: r.action,
            subject: r.subject,
            detail: r.detail,
        }
    }
}

pub fn audit(data: &DataDir, since_ms: Option<i64>) -> anyhow::Result<Vec<AuditLine>> {
    Ok(data
        .store()
        .audit_log(since_ms)?
        .into_iter()
        .map(AuditLine::from)
        .collect())
}
