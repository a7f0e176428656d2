//! Puts the user's writes on the storage soon after they commit, off the
//! recording path (ADR 0026).
//!
//! The store runs `synchronous=NORMAL` in WAL mode: a commit appends its pages
//! to `client.db-wal` and returns without waiting for the flash; SQLite syncs
//! the log only before a checkpoint. That keeps recording a report far under
//! its 1 ms budget and survives a killed app (the kernel holds the written
//! pages), but on its own a power cut (a battery pulled, a phone that dies
//! hard) could drop everything since the last checkpoint — a whole day
//! offline. `synchronous=FULL` would sync every commit on the caller's time:
//! measured in the benchmark's `record` scenario, that is the cost a warden
//! would wait on for each report.
//!
//! So a background thread syncs the log after each user write instead: a
//! commit asks for a sync ([`WalSync::request`]), the thread runs one
//! `fdatasync` of the log covering every request made before it started, and
//! requests made meanwhile are covered by the next one. A power cut can then
//! lose only the writes of the last sync in flight (one flash sync, a few
//! milliseconds), never a torn or half-applied one: SQLite ignores log frames
//! after the last whole commit, which `tests::power_cut` checks by cutting the
//! files at every point.
//!
//! A second thread copies the log into the database when asked (at open and
//! after each sync, ADR 0045), on a connection of its own. A checkpoint
//! syncs the log and then the database file: two flash syncs, each tens of
//! milliseconds on a cheap phone. On the store's connection it held the
//! store's lock that long once a sync, and a report recorded or a list shown
//! meanwhile waited for it. WAL lets the checkpoint run beside the store's
//! reads and writes.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

/// Requests of one kind and the work done on them, counted: its thread works
/// while `done` lags `requested`, each round covering every request made
/// before it started.
#[derive(Debug, Default)]
struct Counter {
    requested: u64,
    done: u64,
}

#[derive(Debug, Default)]
struct State {
    log_syncs: Counter,
    checkpoints: Counter,
    stop: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is counters and a flag: usable after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn request(&self, kind: fn(&mut State) -> &mut Counter) -> u64 {
        let mut state = self.lock();
        let counter = kind(&mut state);
        counter.requested += 1;
        let ticket = counter.requested;
        drop(state);
        self.changed.notify_all();
        ticket
    }

    fn wait(&self, kind: fn(&mut State) -> &mut Counter, ticket: u64) {
        let mut state = self.lock();
        while kind(&mut state).done < ticket && !state.stop {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn log_syncs(state: &mut State) -> &mut Counter {
    &mut state.log_syncs
}

fn checkpoints(state: &mut State) -> &mut Counter {
    &mut state.checkpoints
}

/// The log syncer and checkpointer of one open store: a thread each, so a
/// user's write never waits for its log sync behind a checkpoint, which
/// takes two flash syncs and the pages' copying.
#[derive(Debug)]
pub struct WalSync {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl WalSync {
    /// Starts the syncer for the database at `db` (its log is `db` + `-wal`).
    pub fn start(db: &Path) -> io::Result<WalSync> {
        let shared = Arc::new(Shared::default());
        let mut sync = WalSync {
            shared: Arc::clone(&shared),
            threads: Vec::new(),
        };
        let log = wal_path(db);
        sync.threads.push(spawn("gridwarden-wal-sync", &shared, log_syncs, move || {
            if let Err(e) = sync_file(&log) {
                tracing::warn!(error = %e, path = %log.display(), "could not sync the store's log");
            }
        })?);
        let db = db.to_path_buf();
        // Opened at the first checkpoint asked for, closed when the thread
        // ends: the store's last connection, whose close copies and removes
        // the log as SQLite's close does.
        let mut conn = None;
        sync.threads.push(spawn("gridwarden-checkpoint", &shared, checkpoints, move || {
            if let Err(e) = checkpoint(&mut conn, &db) {
                tracing::warn!(error = %e, path = %db.display(), "could not copy the store's log into it");
            }
        })?);
        Ok(sync)
    }

    /// Asks for the log to reach the storage; returns a ticket for
    /// [`WalSync::wait`]. Call after the commit: a sync started before the
    /// commit's pages were written would not cover them.
    pub fn request(&self) -> u64 {
        self.shared.request(log_syncs)
    }

    /// Waits until a sync that started after request `ticket` has finished.
    pub fn wait(&self, ticket: u64) {
        self.shared.wait(log_syncs, ticket);
    }

    /// Everything requested so far is on the storage when this returns.
    pub fn flush(&self) {
        let ticket = self.shared.lock().log_syncs.requested;
        self.wait(ticket);
    }

    /// Asks for the log to be copied into the database (a PASSIVE
    /// checkpoint) off the caller's time; returns a ticket for
    /// [`WalSync::wait_checkpoint`]. A checkpoint asked for before the store
    /// closes is done before its thread stops.
    pub fn request_checkpoint(&self) -> u64 {
        self.shared.request(checkpoints)
    }

    /// Waits until a checkpoint that started after request `ticket` has
    /// finished (or failed: it is best effort, a failure only leaves the
    /// log longer).
    pub fn wait_checkpoint(&self, ticket: u64) {
        self.shared.wait(checkpoints, ticket);
    }
}

impl Drop for WalSync {
    fn drop(&mut self) {
        // Each thread finishes what was requested before it stops.
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A thread that does `work` while requests of `kind` lag, until stopped
/// with none left.
fn spawn(
    name: &str,
    shared: &Arc<Shared>,
    kind: fn(&mut State) -> &mut Counter,
    mut work: impl FnMut() + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut state = shared.lock();
            loop {
                let counter = kind(&mut state);
                if counter.done < counter.requested {
                    let covers = counter.requested;
                    drop(state);
                    work();
                    state = shared.lock();
                    kind(&mut state).done = covers;
                    shared.changed.notify_all();
                } else if state.stop {
                    return;
                } else {
                    state = shared
                        .changed
                        .wait(state)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
        })
}

/// A PASSIVE checkpoint on the thread's own connection, opened on first use:
/// it copies what no reader still needs and never waits on the store's
/// connection.
fn checkpoint(conn: &mut Option<Connection>, db: &Path) -> rusqlite::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?),
    };
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// `fdatasync` of the log. A missing log means SQLite checkpointed it into the
/// database and removed it, which it does only after syncing the database.
fn sync_file(path: &Path) -> io::Result<()> {
    match OpenOptions::new().write(true).open(path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests;
