//! Group commit: writes that arrive while another is running share its
//! transaction and its one fsync.
//!
//! Every commit in synchronous=FULL mode waits for an fsync (3 ms on the
//! project machine), and the one writer connection serialises them: a fleet
//! of phones syncing at once queued behind thousands of fsyncs. Here each
//! write runs its closure in the open transaction on the writer's own
//! thread, inside a savepoint when other writes are already in it (the first
//! has nothing before it to keep, ADR 0043); when it is done and another
//! writer is already waiting for the connection, it leaves the transaction
//! open for that one and waits for the batch to commit instead of committing
//! alone. The last writer of a batch (no one waiting, or the batch is full
//! or old) commits it and wakes the others.
//!
//! What callers see is unchanged: a write returns its closure's result once
//! its changes are durable (or its closure's error, its changes rolled back
//! and nothing else affected), and nobody, reader or admin process, sees a
//! change before the commit that makes it durable.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::checkpoint::Checkpointer;
use crate::store::{StoreError, StoreResult};

/// Writes one transaction may gather before it is committed anyway.
const MAX_BATCH_WRITES: usize = 64;
/// Age after which a batch is committed even with writers still waiting:
/// a bound on how long the first write of a busy moment waits for others.
const MAX_BATCH_AGE: Duration = Duration::from_millis(20);
/// Failed batches remembered for writers that have not looked yet.
const FAILURES_KEPT: usize = 16;

pub(super) struct GroupWriter {
    /// Told of each commit, to copy the log into the file off this
    /// writer's time (`checkpoint.rs`); none in this module's tests.
    /// Declared first, so it is dropped (its last round done) before the
    /// writer's connection closes.
    checkpoints: Option<Checkpointer>,
    inner: Mutex<Inner>,
    /// Writers blocked on `inner` right now.
    waiting: AtomicUsize,
    ended: Mutex<Ended>,
    ended_changed: Condvar,
}

struct Inner {
    conn: Connection,
    open: Option<Batch>,
    next_id: u64,
}

struct Batch {
    id: u64,
    started: Instant,
    writes: usize,
}

/// Batches end in the order they were opened, one open at a time.
#[derive(Default)]
struct Ended {
    /// Every batch up to this id has ended (committed or failed).
    through: u64,
    /// Why recent batches failed, by id.
    failures: BTreeMap<u64, String>,
}

impl GroupWriter {
    pub(super) fn new(conn: Connection, checkpoints: Option<Checkpointer>) -> Self {
        Self {
            checkpoints,
            inner: Mutex::new(Inner {
                conn,
                open: None,
                next_id: 1,
            }),
            waiting: AtomicUsize::new(0),
            ended: Mutex::new(Ended::default()),
            ended_changed: Condvar::new(),
        }
    }

    /// Runs `f` in the shared write transaction; returns its result once its
    /// changes are durable.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let arrived = Instant::now();
        let result = self.write_timed(f);
        crate::metrics::get()
            .group_commit_wait_seconds
            .observe(arrived.elapsed().as_secs_f64());
        result
    }

    fn write_timed<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let (batch, first) = match inner.open.as_mut() {
            Some(batch) => {
                batch.writes += 1;
                (batch.id, false)
            }
            None => {
                // IMMEDIATE takes the write lock up front: an admin process
                // writing the same file queues on the busy timeout.
                run(&inner.conn, "BEGIN IMMEDIATE")?;
                let id = inner.next_id;
                inner.next_id += 1;
                inner.open = Some(Batch {
                    id,
                    started: Instant::now(),
                    writes: 1,
                });
                (id, true)
            }
        };
        // If `f` panics, the batch ends as failed so its other writers do
        // not wait for ever.
        let mut guard = FailOnUnwind {
            writer: self,
            inner: Some(inner),
            batch,
        };
        let conn = &guard.inner.as_ref().expect("held").conn;
        let value = if first {
            // Alone in the batch so far (the others join once this write is
            // done): its failure can roll the whole transaction back, so it
            // needs no savepoint, nor the copy of each page it first
            // changes that a savepoint keeps for its rollback.
            Ok(f(conn))
        } else {
            run_in_savepoint(conn, f)
        };
        let inner = guard.inner.take().expect("held");
        if first && matches!(value, Ok(Err(_))) {
            // Nobody else is in this batch: it ends, rolled back.
            self.end(inner, batch, Ok(()));
            return value.and_then(|v| v);
        }
        let value = match value {
            Ok(value) => value,
            Err(broken) => {
                // The savepoint could not be released or rolled back: the
                // transaction is in an unknown state, so the whole batch goes.
                self.end(inner, batch, Err(broken.to_string()));
                return Err(broken);
            }
        };
        let open = inner.open.as_ref().expect("a batch is open");
        let full = open.writes >= MAX_BATCH_WRITES || open.started.elapsed() >= MAX_BATCH_AGE;
        if self.waiting.load(Ordering::SeqCst) > 0 && !full {
            // The next writer carries the batch on; one of them commits it.
            drop(inner);
            return match value {
                Ok(v) => self.wait_for(batch).map(|()| v),
                // Nothing of ours is in the batch: no need to wait for it.
                Err(e) => Err(e),
            };
        }
        crate::metrics::get()
            .group_commit_writes
            .observe(open.writes as f64);
        let committed = run(&inner.conn, "COMMIT");
        let outcome = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.end(inner, batch, outcome);
        if let (Ok(_), Some(checkpoints)) = (&committed, &self.checkpoints) {
            checkpoints.committed();
        }
        committed?;
        value
    }

    /// The writer connection. A writer that panicked ended its batch on the
    /// way out (`FailOnUnwind`), so what it left behind is consistent and
    /// later writes carry on.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the open batch with `outcome` and wakes its writers.
    fn end(&self, mut inner: MutexGuard<'_, Inner>, batch: u64, outcome: Result<(), String>) {
        if !inner.conn.is_autocommit() {
            // A failed COMMIT may leave the transaction open.
            let _ = inner.conn.execute_batch("ROLLBACK");
        }
        inner.open = None;
        let mut ended = self.ended.lock().expect("batch lock");
        ended.through = batch;
        if let Err(why) = outcome {
            ended.failures.insert(batch, why);
            while ended.failures.len() > FAILURES_KEPT {
                ended.failures.pop_first();
            }
        }
        drop(ended);
        drop(inner);
        self.ended_changed.notify_all();
    }

    /// Waits until `batch` has ended; its error if it failed.
    fn wait_for(&self, batch: u64) -> StoreResult<()> {
        let mut ended = self.ended.lock().expect("batch lock");
        while ended.through < batch {
            ended = self.ended_changed.wait(ended).expect("batch lock");
        }
        match ended.failures.get(&batch) {
            None => Ok(()),
            Some(why) => Err(StoreError::Backend(format!(
                "the write was not committed: {why}"
            ))),
        }
    }
}

/// Runs `f` inside a savepoint: its changes are kept (released into the
/// batch) when it succeeds and undone when it fails. The outer error is a
/// savepoint that could not be ended, which breaks the whole batch.
fn run_in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<StoreResult<T>> {
    run(conn, "SAVEPOINT write")?;
    let value = f(conn);
    match &value {
        Ok(_) => run(conn, "RELEASE write")?,
        Err(_) => conn.execute_batch("ROLLBACK TO write; RELEASE write")?,
    }
    Ok(value)
}

/// Runs one statement of the batch's own from the connection's statement
/// cache: every write runs three or four of them, and `execute_batch` would
/// parse each again (≈ 50,000 instructions for a device's one-push sync).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Ends the batch as failed if the writer holding it unwinds.
struct FailOnUnwind<'a> {
    writer: &'a GroupWriter,
    inner: Option<MutexGuard<'a, Inner>>,
    batch: u64,
}

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.writer.end(
                inner,
                self.batch,
                Err("a write failed on the server".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn writer(dir: &std::path::Path) -> GroupWriter {
        let conn = Connection::open(dir.join("g.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .unwrap();
        GroupWriter::new(conn, None)
    }

    fn keys(dir: &std::path::Path) -> Vec<i64> {
        let conn = Connection::open(dir.join("g.db")).unwrap();
        let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").unwrap();
        let keys = stmt.query_map([], |r| r.get(0)).unwrap();
        keys.collect::<Result<_, _>>().unwrap()
    }

    /// Writers on many threads: every successful write lands, every failed
    /// one leaves nothing, each sees its own result.
    #[test]
    fn concurrent_writes_land_or_not_each_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let w = Arc::new(writer(dir.path()));
        let threads: Vec<_> = (0..8i64)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..50i64 {
                        let k = t * 1000 + i;
                        let result = w.write(|c| {
                            c.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
                            if k % 7 == 0 {
                                return Err(StoreError::Corrupt("sevens fail".into()));
                            }
                            Ok(k)
                        });
                        match result {
                            Ok(got) => assert_eq!(got, k),
                            Err(e) => assert!(k % 7 == 0, "{k}: {e}"),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let expected: Vec<i64> = (0..8i64)
            .flat_map(|t| (0..50).map(move |i| t * 1000 + i))
            .filter(|k| k % 7 != 0)
            .collect();
        assert_eq!(keys(dir.path()), expected);
        let batches = w.lock().next_id - 1;
        assert!(batches <= 400, "{batches}");
        eprintln!("400 writes in {batches} commits");
    }

    /// A write that panics ends its batch; others go on and later writes work.
    #[test]
    fn a_panicking_write_fails_its_batch_and_the_writer_carries_on() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(dir.path());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            w.write(|c| -> StoreResult<()> {
                c.execute("INSERT INTO t (k) VALUES (1)", [])?;
                panic!("a bug in a write")
            })
        }));
        assert!(panicked.is_err());
        w.write(|c| Ok(c.execute("INSERT INTO t (k) VALUES (2)", [])?))
            .unwrap();
        assert_eq!(keys(dir.path()), [2]);
    }

    /// The first write of a batch runs without a savepoint: when it fails,
    /// its own error comes back, none of its changes stay, and the next
    /// write starts a batch of its own.
    #[test]
    fn a_failed_first_write_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(dir.path());
        let failed = w.write(|c| -> StoreResult<()> {
            c.execute("INSERT INTO t (k) VALUES (1)", [])?;
            c.execute("INSERT INTO t (k) VALUES (2)", [])?;
            Err(StoreError::Corrupt("refused after two rows".into()))
        });
        assert!(
            matches!(&failed, Err(StoreError::Corrupt(why)) if why == "refused after two rows"),
            "{failed:?}"
        );
        assert!(
            w.lock().conn.is_autocommit(),
            "the transaction was left open"
        );
        w.write(|c| Ok(c.execute("INSERT INTO t (k) VALUES (3)", [])?))
            .unwrap();
        assert_eq!(keys(dir.path()), [3]);
    }
}
