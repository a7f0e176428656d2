//! Revocation, disabled users and the append-only audit log in the SQLite
//! backend. Each admin change and its audit line share one unit of work
//! (`crate::store::Transact`): the log never misses a revocation that
//! happened, nor shows one that did not.

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::{load_device, load_user, uuid_from};
use crate::store::{AuditEntry, AuditRecord, Device, Missing, StoreError, StoreResult, User};

const AUTH_EPOCH_KEY: &str = "auth_epoch";

pub(super) fn append(tx: &Connection, audit: &AuditRecord) -> StoreResult<u64> {
    tx.prepare_cached(
        "INSERT INTO audit_log (at_ms, actor, device, action, subject, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        audit.at_ms,
        audit.actor,
        audit.device.map(|d| d.as_bytes().to_vec()),
        audit.action,
        audit.subject,
        audit.detail,
    ])?;
    crate::metrics::get().audit_events.inc();
    Ok(tx.last_insert_rowid() as u64)
}

pub(super) fn bump_auth_epoch(tx: &Connection) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [AUTH_EPOCH_KEY],
    )?;
    Ok(())
}

pub(super) fn auth_epoch(conn: &Connection) -> StoreResult<u64> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([AUTH_EPOCH_KEY], |r| r.get(0))
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

pub(super) fn revoke_device(tx: &Connection, id: Uuid, at_ms: i64) -> StoreResult<(Device, bool)> {
    let device = load_device(tx, id)?.ok_or(StoreError::NotFound(Missing::Device(id)))?;
    if device.revoked_ms.is_some() {
        return Ok((device, false));
    }
    tx.execute(
        "UPDATE devices SET revoked_ms = ?1 WHERE id = ?2",
        params![at_ms, id.as_bytes().as_slice()],
    )?;
    bump_auth_epoch(tx)?;
    Ok((
        Device {
            revoked_ms: Some(at_ms),
            ..device
        },
        true,
    ))
}

pub(super) fn set_user_disabled(
    tx: &Connection,
    name: &str,
    disabled: bool,
    at_ms: i64,
) -> StoreResult<(User, bool)> {
    let user =
        load_user(tx, name)?.ok_or_else(|| StoreError::NotFound(Missing::User(name.into())))?;
    if user.disabled == disabled {
        return Ok((user, false));
    }
    tx.execute(
        "UPDATE users SET disabled_ms = ?1 WHERE name = ?2",
        params![disabled.then_some(at_ms), name],
    )?;
    bump_auth_epoch(tx)?;
    Ok((User { disabled, ..user }, true))
}

pub(super) fn audit_log(conn: &Connection, since_ms: Option<i64>) -> StoreResult<Vec<AuditEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at_ms, actor, device, action, subject, detail FROM audit_log
         WHERE at_ms >= ?1 ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([since_ms.unwrap_or(i64::MIN)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(seq, at_ms, actor, device, action, subject, detail)| {
            Ok(AuditEntry {
                seq: seq as u64,
                record: AuditRecord {
                    at_ms,
                    actor,
                    device: device.map(uuid_from).transpose()?,
                    action,
                    subject,
                    detail,
                },
            })
        })
        .collect()
}
