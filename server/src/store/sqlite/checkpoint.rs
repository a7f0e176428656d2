//! Checkpoints off the writer's time.
//!
//! In WAL mode a commit appends its pages to the log; a checkpoint copies
//! them into the database file and syncs it. SQLite's automatic checkpoint
//! runs inside whichever commit crosses 1,000 logged pages, on the writer
//! connection: every few pushes one of them also copied a few megabytes,
//! read them back and waited for a second fsync before its ack, and every
//! write behind it waited too (a tenth of the push benchmark's server time,
//! issue 22).
//!
//! Here a thread with a connection of its own runs a PASSIVE checkpoint
//! after commits, paced by what the last one found in the log: every 50 ms
//! while a round finds [`AIM_PAGES`] or more, slowing to every 2 s when
//! rounds find much less. A checkpoint syncs the database file, so a
//! quiet server must not run one after every small commit (a sync's, a few
//! pages). PASSIVE copies what no reader still needs and never blocks the
//! writer or a reader. The writer's own automatic checkpoint stays, at a
//! higher threshold ([`WRITER_BOUND_PAGES`]), as the bound on the log if
//! this thread falls behind or cannot run.
//!
//! Durability is SQLite's either way: a commit is on the storage once its
//! log frames are synced (synchronous=FULL); a checkpoint only moves
//! committed pages, and syncs the database file before the log is reused.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreResult;

/// The shortest and longest waits between two checkpoints: the pages a
/// busy minute rewrites again and again are copied once per round, not
/// once per commit.
const FASTEST: Duration = Duration::from_millis(50);
const SLOWEST: Duration = Duration::from_secs(2);
/// The log a round aims to find, in pages: SQLite's own automatic
/// threshold. A round that finds more halves the wait, one that finds less
/// than half of it doubles it.
const AIM_PAGES: i64 = 1000;
/// The writer's own automatic checkpoint threshold, in log pages (16 MiB of
/// 4 KiB pages): reached only when this thread does not keep up.
pub(super) const WRITER_BOUND_PAGES: u32 = 4096;

#[derive(Default)]
struct State {
    commits: u64,
    stop: bool,
    /// The thread waits for a commit (not out its pace): only then does a
    /// commit wake it.
    idle: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A counter and a flag: usable after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The checkpointing thread of one open store; stopped (after a last
/// checkpoint of what it has not copied yet) when dropped.
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database that `conn` (a connection of its
    /// own, configured as the store's) has open.
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("gridwarden-checkpoint".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&conn, &shared)
            })
            .map_err(|e| crate::store::StoreError::Backend(format!("no checkpoint thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Says that a commit appended to the log.
    pub(super) fn committed(&self) {
        let mut state = self.shared.lock();
        state.commits += 1;
        if state.idle {
            drop(state);
            self.shared.changed.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, shared: &Shared) {
    let mut seen = 0;
    let mut pace = FASTEST;
    loop {
        let mut state = shared.lock();
        state.idle = true;
        while state.commits == seen && !state.stop {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        state.idle = false;
        let (stopping, fresh) = (state.stop, state.commits != seen);
        seen = state.commits;
        drop(state);
        // A stop still copies the commits since the last round.
        if fresh {
            pace = next_pace(pace, checkpoint(conn));
        }
        if stopping {
            return;
        }
        // The pace: later commits wait for the next round, a stop does not.
        let state = shared.lock();
        let _ = shared
            .changed
            .wait_timeout_while(state, pace, |state| !state.stop);
    }
}

/// The wait before the next round, after one that found `logged` pages in
/// the log (`None`: it could not look).
fn next_pace(pace: Duration, logged: Option<i64>) -> Duration {
    match logged {
        Some(pages) if pages >= AIM_PAGES => (pace / 2).max(FASTEST),
        Some(pages) if pages < AIM_PAGES / 2 => (pace * 2).min(SLOWEST),
        _ => pace,
    }
}

/// One PASSIVE checkpoint; the pages the log held. Best effort: a failure
/// (another process holding the checkpoint lock, say) only leaves the log
/// longer until the next.
fn checkpoint(conn: &Connection) -> Option<i64> {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
        Ok(logged) => Some(logged),
        Err(e) => {
            tracing::debug!(error = %e, "checkpoint skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn open(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn
    }

    fn log_bytes(path: &Path) -> u64 {
        let wal = path.with_extension("db-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    /// With the writer's own checkpoint off, the thread's copies the
    /// commits into the database file: a reader of the file alone (the log
    /// removed) sees them.
    #[test]
    fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = open(&path);
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        let checkpointer = Checkpointer::start(open(&path)).unwrap();
        for k in 0..200i64 {
            writer
                .execute("INSERT INTO t VALUES (?1, zeroblob(1000))", [k])
                .unwrap();
            checkpointer.committed();
        }
        assert!(log_bytes(&path) > 0);
        // Stopping checkpoints what the last round left.
        drop(checkpointer);
        let in_file = std::fs::read(&path).unwrap();
        // The file holds the table's pages: 200 rows of 1,000 bytes.
        assert!(in_file.len() > 200 * 1000, "{} bytes", in_file.len());
        let copy = dir.path().join("copy.db");
        std::fs::write(&copy, &in_file).unwrap();
        let rows: i64 = Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 200);
    }

    /// A busy log brings the rounds closer, down to 50 ms; a quiet one
    /// spaces them out, up to 2 s, so a server of small commits syncs its
    /// database file seldom.
    #[test]
    fn the_pace_follows_what_the_log_held() {
        assert_eq!(next_pace(SLOWEST, Some(5_000)), SLOWEST / 2);
        assert_eq!(next_pace(FASTEST, Some(5_000)), FASTEST);
        assert_eq!(next_pace(FASTEST, Some(10)), FASTEST * 2);
        assert_eq!(next_pace(SLOWEST, Some(10)), SLOWEST);
        assert_eq!(next_pace(FASTEST * 4, Some(AIM_PAGES * 3 / 4)), FASTEST * 4);
        assert_eq!(next_pace(FASTEST * 4, None), FASTEST * 4);
    }
}
