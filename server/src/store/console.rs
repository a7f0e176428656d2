//! The console's sign-in (docs/console-api.md): password hashes, one-time
//! links, sessions and each user's console device.

use uuid::Uuid;

use super::{write, AuditRecord, ConsoleSession, StoreResult, Transact};

/// A one-time sign-in link as stored (only its token's hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleLink {
    pub user: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub used_ms: Option<i64>,
}

pub trait ConsoleStore: Transact {
    fn password_hash(&self, user: &str) -> StoreResult<Option<String>>;
    fn console_session(&self, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleSession>>;

    /// Sets a user's password hash (a PHC string) and ends the user's
    /// console sessions, with `audit`.
    fn set_password_hash(&self, user: &str, hash: &str, audit: &AuditRecord) -> StoreResult<()> {
        write(self, |tx| {
            tx.set_password_hash(user, hash)?;
            // A new password ends every session signed in with the old one.
            tx.end_sessions_of(user)?;
            tx.append_audit(audit)?;
            Ok(())
        })
    }

    /// Stores a one-time sign-in link's token hash, with `audit`.
    fn create_console_link(
        &self,
        token_hash: [u8; 32],
        user: &str,
        expires_ms: i64,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        write(self, |tx| {
            tx.create_console_link(token_hash, user, audit.at_ms, expires_ms)?;
            tx.append_audit(audit)?;
            Ok(())
        })
    }

    /// The device a console user's steps are ops of, created on first use.
    fn console_device(&self, user: &str, now_ms: i64) -> StoreResult<Uuid> {
        write(self, |tx| tx.console_device(user, now_ms))
    }

    fn create_console_session(
        &self,
        session: &ConsoleSession,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        write(self, |tx| {
            tx.create_console_session(session)?;
            tx.append_audit(audit)?;
            Ok(())
        })
    }

    /// Ends a session (appending `audit` if there was one).
    fn end_console_session(&self, token_hash: [u8; 32], audit: &AuditRecord) -> StoreResult<()> {
        write(self, |tx| {
            if tx.end_console_session(token_hash)? {
                tx.append_audit(audit)?;
            }
            Ok(())
        })
    }
}

pub trait ConsoleTx {
    /// Refused with [`super::Missing::User`] for an unknown user.
    fn set_password_hash(&mut self, user: &str, hash: &str) -> StoreResult<()>;
    fn end_sessions_of(&mut self, user: &str) -> StoreResult<()>;
    /// Refused with [`super::Missing::User`] for an unknown user.
    fn create_console_link(
        &mut self,
        token_hash: [u8; 32],
        user: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()>;
    fn console_link(&mut self, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleLink>>;
    fn use_console_link(&mut self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<()>;
    fn console_device(&mut self, user: &str, now_ms: i64) -> StoreResult<Uuid>;
    fn create_console_session(&mut self, session: &ConsoleSession) -> StoreResult<()>;
    /// Ends a session; whether there was one.
    fn end_console_session(&mut self, token_hash: [u8; 32]) -> StoreResult<bool>;
}
