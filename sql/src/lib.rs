//! The one SQLite migration runner of gridwarden (ADR 0021), shared by the
//! device store (`client-core`) and the embedded server store (`server`).
//!
//! One rule for both: numbered steps run in order, each in its own IMMEDIATE
//! transaction that also sets `PRAGMA user_version` to the step's number, so
//! a crash between steps leaves a database at a known step and the next open
//! carries on from there. A database whose version is higher than the steps
//! this build knows is refused, never touched: an older program cannot know
//! what a newer one changed.

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// Work a step does in Rust after its SQL, inside the step's transaction
/// (e.g. converting rows to a new layout), with an error of the caller's own.
pub type AfterStep = fn(&Transaction<'_>) -> Result<(), BoxError>;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One numbered migration: step N (1-based, its index + 1) takes the database
/// from `user_version` N-1 to N. Append only: a released step never changes.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub sql: &'static str,
    pub after: Option<AfterStep>,
}

impl Step {
    /// A step that is SQL only (the usual case).
    pub const fn sql(sql: &'static str) -> Step {
        Step { sql, after: None }
    }

    /// A step with Rust work after its SQL, in the same transaction.
    pub const fn with_after(sql: &'static str, after: AfterStep) -> Step {
        Step {
            sql,
            after: Some(after),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database was written by a newer program; this one refuses it
    /// rather than guess. Fixed by updating the program, not by the user's
    /// data.
    #[error("the database has schema version {found}, newer than this program understands ({known}); update gridwarden")]
    TooNew { found: u32, known: u32 },

    #[error("schema migration {step} failed: {source}")]
    Sqlite {
        step: u32,
        #[source]
        source: rusqlite::Error,
    },

    #[error("schema migration {step} failed: {source}")]
    After {
        step: u32,
        #[source]
        source: BoxError,
    },

    #[error("cannot read the schema version: {0}")]
    Version(#[from] rusqlite::Error),
}

/// Brings the database up to `steps.len()`, one transaction per step.
/// Returns the version the database had before.
///
/// Two processes opening the same fresh database at once (a phone app and its
/// background job, the CLI run twice) are safe: the version is read again
/// under each step's write lock, so a step the other already ran is skipped
/// rather than run twice.
pub fn migrate(conn: &mut Connection, steps: &[Step]) -> Result<u32, MigrationError> {
    let known = steps.len() as u32;
    let before = checked_version(conn, known)?;
    if before == known {
        return Ok(before);
    }
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = checked_version(&tx, known)?;
        let Some(step) = steps.get(current as usize) else {
            return Ok(before);
        };
        let number = current + 1;
        let sqlite = |source| MigrationError::Sqlite {
            step: number,
            source,
        };
        tx.execute_batch(step.sql).map_err(sqlite)?;
        if let Some(after) = step.after {
            after(&tx).map_err(|source| MigrationError::After {
                step: number,
                source,
            })?;
        }
        tx.pragma_update(None, "user_version", number)
            .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
    }
}

/// The database's `user_version`, refused when newer than `known`.
pub fn checked_version(conn: &Connection, known: u32) -> Result<u32, MigrationError> {
    let found = version(conn)?;
    if found > known {
        return Err(MigrationError::TooNew { found, known });
    }
    Ok(found)
}

/// The database's `user_version` as SQLite stores it (0 for a new file).
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

#[cfg(test)]
mod tests;
