//! The console's sign-in in the SQLite backend: password hashes, one-time
//! links and sessions, and each user's console device.

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::{load_user, security, uuid_from};
use crate::store::{AuditRecord, ConsoleSession, StoreError, StoreResult, CONSOLE_DEVICE_LABEL};

pub(super) fn set_password(
    tx: &Connection,
    name: &str,
    hash: &str,
    audit: &AuditRecord,
) -> StoreResult<()> {
    if load_user(tx, name)?.is_none() {
        return Err(StoreError::NotFound(format!(
            "no user named `{name}`; see `gridwarden-server users list`"
        )));
    }
    tx.execute(
        "UPDATE users SET password_hash = ?1 WHERE name = ?2",
        params![hash, name],
    )?;
    // A new password ends every session signed in with the old one.
    end_sessions_of(tx, name)?;
    security::append(tx, audit)?;
    Ok(())
}

pub(super) fn password_hash(conn: &Connection, name: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM users WHERE name = ?1")?
        .query_row([name], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

pub(super) fn end_sessions_of(tx: &Connection, name: &str) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM console_sessions WHERE user = ?1")?
        .execute([name])?;
    Ok(())
}

pub(super) fn create_link(
    tx: &Connection,
    token_hash: [u8; 32],
    user: &str,
    expires_ms: i64,
    audit: &AuditRecord,
) -> StoreResult<()> {
    if load_user(tx, user)?.is_none() {
        return Err(StoreError::NotFound(format!(
            "no user named `{user}`; add it with `users add` first"
        )));
    }
    tx.execute(
        "INSERT INTO console_links (token_hash, user, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash.as_slice(), user, audit.at_ms, expires_ms],
    )?;
    security::append(tx, audit)?;
    Ok(())
}

pub(super) fn redeem_link(
    tx: &Connection,
    token_hash: [u8; 32],
    now_ms: i64,
) -> StoreResult<String> {
    let row = tx
        .query_row(
            "SELECT user, expires_ms, used_ms FROM console_links WHERE token_hash = ?1",
            [token_hash.as_slice()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            },
        )
        .optional()?;
    let refused = |m: &str| Err(StoreError::Refused(m.into()));
    let Some((user, expires_ms, used_ms)) = row else {
        return refused("this sign-in link is not known to the server; ask IT for a new one");
    };
    if used_ms.is_some() {
        return refused(
            "this sign-in link was already used; each link signs in once — ask IT for a new one",
        );
    }
    if now_ms > expires_ms {
        return refused(
            "this sign-in link has expired (links last 15 minutes); ask IT for a new one",
        );
    }
    tx.execute(
        "UPDATE console_links SET used_ms = ?1 WHERE token_hash = ?2",
        params![now_ms, token_hash.as_slice()],
    )?;
    Ok(user)
}

/// The user's console device, created on first use (or anew if IT revoked
/// the previous one).
pub(super) fn console_device(tx: &Connection, user: &str, now_ms: i64) -> StoreResult<Uuid> {
    let existing: Option<Vec<u8>> = tx
        .prepare_cached(
            "SELECT id FROM devices WHERE user = ?1 AND label = ?2 AND revoked_ms IS NULL
             ORDER BY enrolled_ms DESC LIMIT 1",
        )?
        .query_row(params![user, CONSOLE_DEVICE_LABEL], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        return uuid_from(id);
    }
    let id = Uuid::new_v4();
    // A token nobody knows: the console device never says hello over QUIC.
    let token_hash: [u8; 32] = rand::random();
    tx.execute(
        "INSERT INTO devices (id, user, label, token_hash, enrolled_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.as_bytes().as_slice(), user, CONSOLE_DEVICE_LABEL, token_hash.as_slice(), now_ms],
    )?;
    Ok(id)
}

pub(super) fn create_session(
    tx: &Connection,
    s: &ConsoleSession,
    audit: &AuditRecord,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO console_sessions (token_hash, user, csrf, device, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            s.token_hash.as_slice(),
            s.user,
            s.csrf,
            s.device.as_bytes().as_slice(),
            s.created_ms,
            s.expires_ms
        ],
    )?;
    security::append(tx, audit)?;
    Ok(())
}

pub(super) fn session(
    conn: &Connection,
    token_hash: [u8; 32],
) -> StoreResult<Option<ConsoleSession>> {
    let row = conn
        .prepare_cached(
            "SELECT user, csrf, device, created_ms, expires_ms FROM console_sessions WHERE token_hash = ?1",
        )?
        .query_row([token_hash.as_slice()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    row.map(|(user, csrf, device, created_ms, expires_ms)| {
        Ok(ConsoleSession {
            token_hash,
            user,
            csrf,
            device: uuid_from(device)?,
            created_ms,
            expires_ms,
        })
    })
    .transpose()
}

pub(super) fn end_session(
    tx: &Connection,
    token_hash: [u8; 32],
    audit: &AuditRecord,
) -> StoreResult<()> {
    let gone = tx
        .prepare_cached("DELETE FROM console_sessions WHERE token_hash = ?1")?
        .execute([token_hash.as_slice()])?;
    if gone > 0 {
        security::append(tx, audit)?;
    }
    Ok(())
}

pub(super) fn feed_position(conn: &Connection) -> StoreResult<u64> {
    let max: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM reports")?
        .query_row([], |r| r.get(0))?;
    Ok(max as u64)
}
