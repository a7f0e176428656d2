//! One read transaction for all the reads a request makes before it writes
//! (`Transact::in_one_snapshot`).
//!
//! A device's sync on a kept connection made about fourteen reads of the
//! store (the device and its user for every request, the grid's and the
//! categories' versions, the user's disabled period…), each in a read
//! transaction of its own: a reader taken from the pool and given back,
//! `BEGIN` and `COMMIT`, the WAL's read lock taken and released (`fcntl`
//! on the `-shm` file), and, after any write in between, the connection's
//! page cache read again. Here the thread that holds a snapshot keeps its
//! reader in a thread-local while the request runs; every read of the same
//! store on that thread joins it. A write on the thread ends it first, so
//! what is read after a write sees that write.

use std::cell::RefCell;

use rusqlite::Connection;

use super::SqliteStore;

thread_local! {
    /// The reader this thread holds inside a read transaction, and the
    /// store it belongs to (its address: a process may open several).
    static HELD: RefCell<Option<(usize, Connection)>> = const { RefCell::new(None) };
}

fn key(store: &SqliteStore) -> usize {
    std::ptr::from_ref(store) as usize
}

/// Whether this thread holds a snapshot of any store.
pub(super) fn holding() -> bool {
    HELD.with(|held| held.borrow().is_some())
}

/// Runs `f` on the connection of the snapshot this thread holds of `store`,
/// if it holds one; `None` (and `f` not run) otherwise.
pub(super) fn with_held<T>(store: &SqliteStore, f: impl FnOnce(&Connection) -> T) -> Option<T> {
    // Taken out while `f` runs: `f` is a read on one connection and makes
    // no other read of the store, but nothing may find the cell borrowed.
    let (at, conn) = HELD.with(|held| {
        let mut held = held.borrow_mut();
        match held.as_ref() {
            Some((at, _)) if *at == key(store) => held.take(),
            _ => None,
        }
    })?;
    let value = f(&conn);
    HELD.with(|held| *held.borrow_mut() = Some((at, conn)));
    Some(value)
}

/// Makes `conn`, inside its read transaction, this thread's snapshot of
/// `store`. The caller has checked that the thread holds none.
pub(super) fn hold(store: &SqliteStore, conn: Connection) {
    HELD.with(|held| *held.borrow_mut() = Some((key(store), conn)));
}

/// Takes back this thread's snapshot of `store`, if it still holds one (a
/// write on the thread may have ended it already).
pub(super) fn take(store: &SqliteStore) -> Option<Connection> {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        match held.as_ref() {
            Some((at, _)) if *at == key(store) => held.take().map(|(_, conn)| conn),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::store::{in_one_snapshot, MetaStore, SqliteStore};

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
        store.set_meta("k", "before").unwrap();
        (dir, store)
    }

    fn read(store: &SqliteStore) -> Option<String> {
        store.meta("k").unwrap()
    }

    /// A write from another thread.
    fn written_elsewhere(store: &SqliteStore, value: &str) {
        std::thread::scope(|s| {
            s.spawn(|| store.set_meta("k", value).unwrap());
        });
    }

    #[test]
    fn the_reads_in_a_snapshot_see_one_moment() {
        let (_dir, store) = store();
        let seen = in_one_snapshot(&store, || {
            let first = read(&store);
            written_elsewhere(&store, "meanwhile");
            (first, read(&store))
        });
        assert_eq!(seen, (Some("before".into()), Some("before".into())));
        assert_eq!(
            read(&store).as_deref(),
            Some("meanwhile"),
            "and then the next"
        );
    }

    #[test]
    fn a_write_on_the_thread_ends_the_snapshot() {
        let (_dir, store) = store();
        let seen = in_one_snapshot(&store, || {
            let first = read(&store);
            written_elsewhere(&store, "meanwhile");
            store.set_meta("other", "mine").unwrap();
            (first, read(&store), store.meta("other").unwrap())
        });
        assert_eq!(
            seen,
            (
                Some("before".into()),
                Some("meanwhile".into()),
                Some("mine".into())
            )
        );
    }

    #[test]
    fn reads_that_fail_or_panic_leave_no_snapshot_behind() {
        let (_dir, store) = store();
        let failed = in_one_snapshot(&store, || {
            let _ = read(&store);
            store.read(|c| Ok(c.execute_batch("SELECT nothing FROM nowhere")?))
        });
        assert!(failed.is_err());
        assert!(!super::holding());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_one_snapshot(&store, || {
                let _ = read(&store);
                panic!("a read's caller panics");
            })
        }));
        assert!(panicked.is_err());
        assert!(!super::holding(), "the snapshot ended with the panic");
        written_elsewhere(&store, "after");
        assert_eq!(read(&store).as_deref(), Some("after"));
        let pooled = store.readers.lock().unwrap();
        assert!(
            pooled.iter().all(|c| c.is_autocommit()),
            "no reader went back to the pool inside a transaction"
        );
    }

    #[test]
    fn nested_snapshots_and_other_stores_keep_to_their_own() {
        let (_dir, store) = store();
        let (_other_dir, other) = self::store();
        let seen = in_one_snapshot(&store, || {
            in_one_snapshot(&other, || {
                let first = (read(&store), read(&other));
                written_elsewhere(&store, "meanwhile");
                written_elsewhere(&other, "meanwhile");
                (first, read(&store), read(&other))
            })
        });
        // The outer snapshot is the store's; the other store reads afresh.
        assert_eq!(seen.1.as_deref(), Some("before"));
        assert_eq!(seen.2.as_deref(), Some("meanwhile"));
    }
}
