//! The audit log: append-only, written in the transaction of the change it
//! records (through [`AuditTx`] in the same unit of work).

use super::{write, AuditEntry, AuditRecord, StoreResult, Transact};

pub trait AuditStore: Transact {
    /// Entries at or after `since_ms` (all if `None`), oldest first.
    fn audit_log(&self, since_ms: Option<i64>) -> StoreResult<Vec<AuditEntry>>;

    /// Appends a line on its own: for events that change nothing else (a
    /// refused sign-in, a sync refused for a revoked device).
    fn append_audit(&self, audit: &AuditRecord) -> StoreResult<u64> {
        write(self, |tx| tx.append_audit(audit))
    }
}

pub trait AuditTx {
    /// Appends a line; returns its place in the log.
    fn append_audit(&mut self, audit: &AuditRecord) -> StoreResult<u64>;
}
