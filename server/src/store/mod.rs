//! The storage boundary of the server. Everything the server keeps goes
//! through the traits here, one per concern, so a PostgreSQL-compatible
//! backend can replace the embedded SQLite one without touching the protocol
//! or the service logic (docs/adr/0004-store-trait.md, and the split by
//! concern in docs/adr/0020-store-split-and-units-of-work.md).
//!
//! Each concern has two traits: `…Store` for what the store answers (and a
//! few one-step writes, each its own transaction), and `…Tx` for the writes
//! a unit of work makes. Writes of several concerns that must land together
//! (an admin change and its audit line; a push's reports, cases and meta
//! entry) go through [`Transact::transact`] / [`write`]: one transaction on
//! every backend.
//!
//! The store stores and answers; it does not decide or phrase refusals.
//! Its errors name what was missing or clashed ([`Missing`], [`Clash`]);
//! the sentences users read are the service's (`service/sentences.rs`).
//!
//! The traits are blocking: the async edge calls them from `spawn_blocking`.
//! Every backend runs the shared suite, [`store_suite!`](crate::store_suite).

pub mod audit;
pub mod cases;
pub mod console;
pub mod fanout;
pub mod feed;
pub mod grid;
pub mod identity;
pub mod meta;
mod model;
pub mod open311;
pub mod patrols;
pub mod photos;
pub mod postgres;
pub mod sqlite;
#[doc(hidden)]
pub mod suite;

use uuid::Uuid;

pub use crate::grid::{GridMember, StoredCell};
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub use audit::{AuditStore, AuditTx};
pub use cases::{CaseStore, CaseTx};
pub use console::{ConsoleStore, ConsoleTx};
pub use fanout::FanoutStore;
pub use feed::{FeedStore, FeedTx};
pub use grid::{GridStore, GridTx};
pub use identity::{IdentityStore, IdentityTx};
pub use meta::{MetaStore, MetaTx};
pub use open311::{Open311Store, Open311Tx};
pub use patrols::PatrolStore;
pub use photos::PhotoStore;

/// Everything a caller needs in scope to use a store or a unit of work.
pub mod prelude {
    pub use super::{
        write, AuditStore, AuditTx, CaseStore, CaseTx, ConsoleStore, ConsoleTx, FanoutStore,
        FeedStore, FeedTx, GridStore, GridTx, IdentityStore, IdentityTx, MetaStore, MetaTx,
        Open311Store, Open311Tx, PatrolStore, PhotoStore, Store, StoreTx, Transact,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Something the call names does not exist.
    #[error("{0}")]
    NotFound(Missing),
    /// Something with the same key exists already.
    #[error("{0}")]
    Conflict(Clash),
    #[error("the database at {path} was written by a newer gridwarden (schema {found}, this build knows {known}); upgrade the server")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    /// The database failed. Only the driver's message crosses the
    /// boundary, never its error type: callers cannot come to depend on one
    /// backend's errors.
    #[error("database error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// What a call named that the store does not hold. The sentences a user
/// reads are the service's (`service/sentences.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    User(String),
    Device(Uuid),
    ApiKey(String),
    Department(String),
    /// A category routed to a department that does not exist.
    RouteTarget {
        category: String,
        department: String,
    },
}

/// What a write collided with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clash {
    /// A user of this name exists.
    User(String),
    /// An API key of this name exists.
    ApiKey(String),
    Department(String),
    /// The request was rated already.
    Feedback(Uuid),
    /// A code twice in one layer, or a member whose content was not put.
    GridCode(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A unit of work: the writes of every concern, made inside one
/// transaction. Reads through it see its own writes. After any of its calls
/// fails, the work must return that error (a PostgreSQL transaction cannot
/// go on after a failed statement).
pub trait StoreTx:
    IdentityTx + AuditTx + FeedTx + CaseTx + ConsoleTx + Open311Tx + GridTx + MetaTx
{
}

impl<T> StoreTx for T where
    T: IdentityTx + AuditTx + FeedTx + CaseTx + ConsoleTx + Open311Tx + GridTx + MetaTx + ?Sized
{
}

/// Runs units of work.
pub trait Transact {
    /// Runs `work` in one transaction and commits it if `work` returns
    /// `Ok`; on `Err` nothing it wrote stays. A backend may run `work` more
    /// than once (a serialization failure is retried), so `work` must have
    /// no effect outside the transaction but its result.
    fn transact(
        &self,
        work: &mut dyn FnMut(&mut dyn StoreTx) -> StoreResult<()>,
    ) -> StoreResult<()>;

    /// Runs `reads` with the reads this thread makes of the store sharing
    /// one snapshot, until `reads` ends or this thread writes (a write ends
    /// it, so a read after it sees the write). For a request's checks and
    /// lookups before its write: one read transaction instead of one each.
    /// A backend without the notion runs `reads` as it is.
    fn in_one_snapshot(&self, reads: &mut dyn FnMut()) {
        reads()
    }
}

/// Runs `reads` on `store` in one snapshot ([`Transact::in_one_snapshot`])
/// and returns what it returned.
pub fn in_one_snapshot<S, T>(store: &S, reads: impl FnOnce() -> T) -> T
where
    S: Transact + ?Sized,
{
    let mut reads = Some(reads);
    let mut result = None;
    store.in_one_snapshot(&mut || result = reads.take().map(|reads| reads()));
    match result {
        Some(result) => result,
        // A backend that did not run them: run them as they are.
        None => reads.take().expect("not run")(),
    }
}

/// Runs `work` as one unit of work on `store` and returns its result once
/// its changes are durable.
pub fn write<S, T>(
    store: &S,
    mut work: impl FnMut(&mut dyn StoreTx) -> StoreResult<T>,
) -> StoreResult<T>
where
    S: Transact + ?Sized,
{
    let mut result = None;
    store.transact(&mut |tx| {
        result = Some(work(tx)?);
        Ok(())
    })?;
    result.ok_or_else(|| StoreError::Corrupt("a unit of work committed without running".into()))
}

/// A whole backend: every concern, and units of work across them.
pub trait Store:
    Transact
    + IdentityStore
    + AuditStore
    + FeedStore
    + PatrolStore
    + PhotoStore
    + CaseStore
    + ConsoleStore
    + Open311Store
    + GridStore
    + MetaStore
    + FanoutStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Transact
        + IdentityStore
        + AuditStore
        + FeedStore
        + PatrolStore
        + PhotoStore
        + CaseStore
        + ConsoleStore
        + Open311Store
        + GridStore
        + MetaStore
        + FanoutStore
        + Send
        + Sync
        + 'static
{
}
