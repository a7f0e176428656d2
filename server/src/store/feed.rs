//! The report feed: pushes applied to reports (with their cases and
//! patrols, decided by the service's [`Rules`]), and the pull that pages
//! through the changes in feed order.

use gridwarden_protocol::{Op, Outcome, ReportState};
use uuid::Uuid;

use super::{write, Page, PullQuery, Reassign, Rules, StoreResult, Transact};

pub trait FeedStore: Transact {
    fn pull(&self, query: &PullQuery) -> StoreResult<Page>;
    fn report(&self, id: Uuid) -> StoreResult<Option<ReportState>>;
    /// All reports (deleted ones excluded), or only those with no grid cell.
    fn reports(&self, unassigned_only: bool) -> StoreResult<Vec<ReportState>>;
    /// The last position of the change feed: changes whenever a report or
    /// its case does. Cheap.
    fn feed_position(&self) -> StoreResult<u64>;

    /// [`FeedTx::apply_ops`] as its own unit of work.
    fn apply_ops(
        &self,
        device: Uuid,
        ops: &[Op],
        rules: &Rules,
        now_ms: i64,
    ) -> StoreResult<Vec<Outcome>> {
        write(self, |tx| tx.apply_ops(device, ops, rules, now_ms))
    }

    /// As [`FeedStore::apply_ops`], and once every op is decided sets the
    /// meta entry `key` to what `value` returns (the server clock after a
    /// push), in the same transaction: a push costs one commit, not two.
    fn apply_ops_with_meta(
        &self,
        device: Uuid,
        ops: &[Op],
        rules: &Rules,
        now_ms: i64,
        key: &str,
        value: &dyn Fn() -> String,
    ) -> StoreResult<Vec<Outcome>> {
        write(self, |tx| {
            let outcomes = tx.apply_ops(device, ops, rules, now_ms)?;
            tx.set_meta(key, &value())?;
            Ok(outcomes)
        })
    }

    /// [`FeedTx::reassign`] as its own unit of work.
    fn reassign(
        &self,
        only_unassigned: bool,
        reassign: &Reassign,
        now_ms: i64,
    ) -> StoreResult<usize> {
        write(self, |tx| tx.reassign(only_unassigned, reassign, now_ms))
    }
}

pub trait FeedTx {
    /// Applies ops in order. An op id seen before yields `Duplicate` and
    /// changes nothing; a rejected op changes nothing; every applied op is
    /// durable when the unit of work commits.
    fn apply_ops(
        &mut self,
        device: Uuid,
        ops: &[Op],
        rules: &Rules,
        now_ms: i64,
    ) -> StoreResult<Vec<Outcome>>;
    /// Runs `reassign` over live reports (all, or only unassigned ones) and
    /// stores the states it returns. Returns how many changed.
    fn reassign(
        &mut self,
        only_unassigned: bool,
        reassign: &Reassign,
        now_ms: i64,
    ) -> StoreResult<usize>;
    /// Drops the photo index rows of deleted reports (`gc`): a deleted
    /// report no longer makes its photos fetchable or kept. Its state keeps
    /// the photos (the merge's grow-only set). Returns how many rows went.
    fn forget_photos_of_deleted_reports(&mut self) -> StoreResult<u64>;
}
