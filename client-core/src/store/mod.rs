//! The device's SQLite store: `HOME/client.db`.
//!
//! Every user action is one transaction that changes a report and appends to
//! the outbox together (brief decision 1), so a killed app leaves either both
//! or neither. Functions that write take a `&Transaction` so callers cannot
//! forget to group them; functions that read take a `&Connection` (a
//! transaction derefs to one).

pub mod cases;
pub mod durable;
pub mod given;
pub mod grid_cells;
pub mod ids;
pub mod meta;
pub mod outbox;
pub mod overwrites;
pub mod patrols;
pub mod photos;
pub mod reference;
pub mod rejections;
pub mod reports;
mod upgrade;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridwarden_sql::{MigrationError, Step};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{ClientError, Result};

/// File name of the database inside the client home directory.
pub const DB_FILE: &str = "client.db";

/// How long a statement waits for another connection's lock (the CLI run
/// twice, an app and its background job) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL pages after which SQLite checkpoints on its own (about 40 MB).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Prepared statements kept per connection. Hot paths (record, push acks,
/// pulled pages) use `prepare_cached`; rusqlite's default of 16 is smaller
/// than the statements one sync touches, so they would evict each other and
/// be prepared again every time.
const STATEMENT_CACHE: usize = 64;

/// Schema migrations, applied in order by the shared runner (`gridwarden-sql`,
/// ADR 0021): each in its own transaction, `PRAGMA user_version` counting how
/// many have run. Append only: a released migration never changes.
const MIGRATIONS: &[Step] = &[
    Step::sql(include_str!("../../migrations/0001_init.sql")),
    Step::sql(include_str!("../../migrations/0002_confirmed_state.sql")),
    Step::sql(include_str!("../../migrations/0003_patrols_photos.sql")),
    Step::sql(include_str!("../../migrations/0004_cases.sql")),
    Step::sql(include_str!("../../migrations/0005_overwrites.sql")),
    Step::sql(include_str!("../../migrations/0006_grid_cells.sql")),
    Step::with_after(
        include_str!("../../migrations/0007_protocol_3.sql"),
        upgrade::protocol_3,
    ),
    Step::sql(include_str!("../../migrations/0008_given_back.sql")),
    Step::sql(include_str!(
        "../../migrations/0009_outbox_edit_estimate.sql"
    )),
    Step::sql(include_str!("../../migrations/0010_rejection_shown.sql")),
    Step::sql(include_str!("../../migrations/0011_photo_budget.sql")),
    Step::sql(include_str!("../../migrations/0012_acks_kept_apart.sql")),
];

/// An open client database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    log_sync: std::sync::Arc<durable::WalSync>,
}

impl Store {
    /// Opens (creating if needed) the store in `home`, creating the directory
    /// too, and brings its schema up to date.
    pub fn open(home: &Path) -> Result<Store> {
        std::fs::create_dir_all(home)?;
        let path = home.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        // Before anything writes to it: a newer release's database is
        // refused unchanged (WAL mode alone rewrites the file's header).
        gridwarden_sql::checked_version(&conn, MIGRATIONS.len() as u32).map_err(|e| match e {
            MigrationError::TooNew { found, known } => ClientError::DatabaseTooNew { found, known },
            other => ClientError::Io(std::io::Error::other(other)),
        })?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let log_sync = std::sync::Arc::new(durable::WalSync::start(&path)?);
        let store = Store {
            conn,
            path,
            log_sync,
        };
        store.request_checkpoint();
        Ok(store)
    }

    /// Asks for the write-ahead log to be copied into the database file
    /// (startup, after a sync) by the store's checkpoint thread, on its own
    /// connection and off this store's lock ([`durable`], ADR 0045). Best effort:
    /// PASSIVE never blocks other connections, and a failure only leaves the
    /// log longer.
    pub fn request_checkpoint(&self) -> u64 {
        self.log_sync.request_checkpoint()
    }

    /// [`Store::request_checkpoint`], returning once it is done: for a
    /// caller about to measure or copy the files. Holding the store meanwhile
    /// does not hold the checkpoint up.
    pub fn checkpoint(&self) {
        self.log_sync
            .wait_checkpoint(self.log_sync.request_checkpoint());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks for what has been committed so far to reach the storage soon,
    /// off the caller's time ([`durable`]); the ticket is for
    /// [`Store::wait_durable`].
    pub fn request_durable(&self) -> u64 {
        self.log_sync.request()
    }

    /// Returns once every user write asked for so far is on the storage; at
    /// once when none is waiting (a sync's own writes do not ask).
    pub fn flush_to_storage(&self) {
        self.log_sync.flush();
    }

    /// The syncer, to wait on without holding the store.
    pub fn durable_handle(&self) -> std::sync::Arc<durable::WalSync> {
        std::sync::Arc::clone(&self.log_sync)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts a write transaction. IMMEDIATE takes the write lock up front, so
    /// two processes on the same home (the CLI run twice) queue on
    /// `busy_timeout` instead of failing when a read upgrades to a write.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode = enable_wal(conn)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL mode; continuing with it");
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // NORMAL in WAL mode survives a killed app (the OS holds the written
    // pages); for a power cut, the user's writes are synced by a background
    // thread right after they commit (`durable`, ADR 0026), so a cut loses at
    // most the sync in flight. FULL would sync every commit on the caller's
    // time, beyond the 1 ms recording budget on a cheap phone (measured in
    // the benchmark's `record` scenario).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A checkpoint runs inside whichever commit crosses the threshold and
    // costs that commit milliseconds (it copies pages and syncs the file).
    // Checkpoints are done at open and after each sync instead; the large
    // automatic threshold is only a bound for a device that never syncs.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    Ok(())
}

/// Switches the database to WAL and returns the journal mode in force. On a
/// fresh file the switch needs the file to itself, and SQLite answers
/// "locked" at once, without waiting on the busy timeout, while another
/// connection opens the same fresh home (a phone app and its background
/// job, two CLI runs): so wait here, as long as the busy timeout.
fn enable_wal(conn: &Connection) -> Result<String> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return Ok(result?),
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn migrate(conn: &mut Connection) -> Result<()> {
    gridwarden_sql::migrate(conn, MIGRATIONS).map_err(|e| match e {
        MigrationError::TooNew { found, known } => ClientError::DatabaseTooNew { found, known },
        MigrationError::Sqlite { source, .. } | MigrationError::Version(source) => {
            ClientError::Storage(source)
        }
        // A step's Rust work (upgrade.rs) failing is the store's failure.
        after @ MigrationError::After { .. } => ClientError::Io(std::io::Error::other(after)),
    })?;
    Ok(())
}

/// The schema version this build creates.
pub fn schema_version() -> usize {
    MIGRATIONS.len()
}

/// A report's ops read by `sql` (`SELECT seq, op … WHERE report_id = ?1
/// ORDER BY seq`) from the outbox or the kept ops, decoded; `what` names
/// them in the error for one that cannot be read.
pub(crate) fn ops_by_report(
    conn: &Connection,
    sql: &str,
    report_id: uuid::Uuid,
    what: &str,
) -> Result<Vec<gridwarden_protocol::Op>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([uuid_blob(&report_id)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let raw: Vec<u8> = row.get(1)?;
        out.push(
            gridwarden_protocol::codec::decode(&raw)
                .map_err(|e| ClientError::Protocol(format!("{what} {seq} is unreadable: {e}")))?,
        );
    }
    Ok(out)
}

/// Converts a UUID to the 16-byte BLOB the store keys on.
pub(crate) fn uuid_blob(id: &uuid::Uuid) -> &[u8] {
    id.as_bytes().as_slice()
}

/// Reads a 16-byte BLOB back as a UUID.
pub(crate) fn blob_uuid(bytes: &[u8]) -> rusqlite::Result<uuid::Uuid> {
    uuid::Uuid::from_slice(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_and_reopens_idempotently() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("nested/home");
        let store = Store::open(&home).unwrap();
        let version: i64 = store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, schema_version());
        let mode: String = store
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        for table in ["meta", "reports", "outbox", "rejections", "reference"] {
            let n: i64 = store
                .conn()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "table {table}");
        }
        drop(store);
        let again = Store::open(&home).unwrap();
        assert!(again.path().ends_with(DB_FILE));
    }

    /// A phone's app and its background sync job may both open a home the
    /// very first time at once (and so may two CLI runs): neither may fail.
    #[test]
    fn two_connections_can_open_a_fresh_home_at_the_same_moment() {
        for round in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let home = dir.path().join("home");
            let start = std::sync::Arc::new(std::sync::Barrier::new(2));
            let openers: Vec<_> = (0..2)
                .map(|_| {
                    let (home, start) = (home.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        Store::open(&home).map(|_| ())
                    })
                })
                .collect();
            for opener in openers {
                if let Err(e) = opener.join().unwrap() {
                    panic!("round {round}: opening a fresh home twice at once failed: {e}");
                }
            }
            let store = Store::open(&home).unwrap();
            let version: i64 = store
                .conn()
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(version as usize, schema_version());
        }
    }

    #[test]
    fn refuses_a_database_from_a_newer_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .conn()
            .pragma_update(None, "user_version", 999)
            .unwrap();
        drop(store);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::DatabaseTooNew {
                    found: 999,
                    known
                } if known as usize == schema_version()
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("newer gridwarden") && message.contains("update the app"),
            "{message}"
        );
    }
}
