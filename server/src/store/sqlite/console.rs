//! The console's sign-in in the SQLite backend: password hashes, one-time
//! links and sessions, and each user's console device.

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::{load_user, uuid_from};
use crate::store::console::ConsoleLink;
use crate::store::{ConsoleSession, Missing, StoreError, StoreResult, CONSOLE_DEVICE_LABEL};

pub(super) fn set_password(tx: &Connection, name: &str, hash: &str) -> StoreResult<()> {
    if load_user(tx, name)?.is_none() {
        return Err(StoreError::NotFound(Missing::User(name.into())));
    }
    tx.execute(
        "UPDATE users SET password_hash = ?1 WHERE name = ?2",
        params![hash, name],
    )?;
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
    now_ms: i64,
    expires_ms: i64,
) -> StoreResult<()> {
    if load_user(tx, user)?.is_none() {
        return Err(StoreError::NotFound(Missing::User(user.into())));
    }
    tx.execute(
        "INSERT INTO console_links (token_hash, user, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash.as_slice(), user, now_ms, expires_ms],
    )?;
    Ok(())
}

pub(super) fn link(tx: &Connection, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleLink>> {
    Ok(tx
        .query_row(
            "SELECT user, created_ms, expires_ms, used_ms FROM console_links WHERE token_hash = ?1",
            [token_hash.as_slice()],
            |r| {
                Ok(ConsoleLink {
                    user: r.get(0)?,
                    created_ms: r.get(1)?,
                    expires_ms: r.get(2)?,
                    used_ms: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn use_link(tx: &Connection, token_hash: [u8; 32], now_ms: i64) -> StoreResult<()> {
    // `used_ms IS NULL`: of two units of work using one link, the second
    // changes nothing (and its caller, having read the link unused in the
    // same transaction, cannot be the second under SQLite's one writer).
    tx.execute(
        "UPDATE console_links SET used_ms = ?1 WHERE token_hash = ?2 AND used_ms IS NULL",
        params![now_ms, token_hash.as_slice()],
    )?;
    Ok(())
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

pub(super) fn create_session(tx: &Connection, s: &ConsoleSession) -> StoreResult<()> {
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

pub(super) fn end_session(tx: &Connection, token_hash: [u8; 32]) -> StoreResult<bool> {
    let gone = tx
        .prepare_cached("DELETE FROM console_sessions WHERE token_hash = ?1")?
        .execute([token_hash.as_slice()])?;
    Ok(gone > 0)
}

pub(super) fn feed_position(conn: &Connection) -> StoreResult<u64> {
    let max: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM reports")?
        .query_row([], |r| r.get(0))?;
    Ok(max as u64)
}
