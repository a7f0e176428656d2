//! A server restored from a backup names its data anew
//! (`Welcome::store_epoch`) and may lack what it acknowledged to this device
//! after the backup was taken. The device gives back everything it authored
//! that the server ever acknowledged (the kept ops, by their own ids, so the
//! server counts the ones it holds as duplicates), offers its photos again
//! (the server answers "complete" for one it holds) and pulls from the
//! start, since its cursor names a position in the other data's feed.

use gridwarden_protocol::{Cursor, DeviceLimits, Welcome};
use rusqlite::Transaction;

use crate::error::Result;
use crate::store::{given, meta, photos};

/// What the Welcome says about the server's data and limits, taken in the
/// Welcome's transaction. Returns how many ops are given back.
pub(super) fn on_welcome(tx: &Transaction, w: &Welcome, node: u64) -> Result<u64> {
    // An older server says nothing of its limits: the ones known stay.
    if w.limits != DeviceLimits::unknown() {
        meta::set_limits(tx, &w.limits)?;
    }
    // Nil: a server that does not name its data (protocol 2).
    if w.store_epoch.is_nil() {
        return Ok(0);
    }
    let last = meta::store_epoch(tx)?;
    meta::set_store_epoch(tx, w.store_epoch)?;
    match last {
        // First seen (a device enrolled before epochs were kept): nothing to
        // compare with.
        None => Ok(0),
        Some(last) if last == w.store_epoch => Ok(0),
        Some(last) => {
            let again = given::requeue(tx, node)?;
            let photos = photos::offer_again(tx)?;
            meta::set_pull_cursor(tx, &Cursor::start())?;
            tracing::warn!(
                %last, now = %w.store_epoch, ops = again, photos,
                "the server's data was restored from a backup; giving back what this device holds"
            );
            Ok(again)
        }
    }
}
