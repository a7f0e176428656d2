//! The embedded default backend: one SQLite file in WAL mode, one writer
//! connection, a small pool of readers. Admin commands open the same file from
//! another process; the busy timeout lets both wait their turn.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::grid::GridLayerWire;
use gridwarden_protocol::{codec, Op, OpBody, Outcome, PhotoHash, ReportState, Role, TrackPoint};
use gridwarden_sql::{MigrationError, Step};
use rusqlite::{params, CachedStatement, Connection, OptionalExtension, Statement};
use uuid::Uuid;

use super::console::ConsoleLink;
use super::identity::Enrolment;
use super::*;

mod cases;
mod checkpoint;
mod console;
mod feed;
mod grid;
mod group;
mod open311;
mod patrols;
mod security;
mod snapshot;
mod upgrade;

/// Schema migrations, run by the shared runner (`gridwarden-sql`, ADR 0021):
/// each in its own transaction with `user_version` set in it.
const MIGRATIONS: &[Step] = &[
    Step::sql(include_str!("../../migrations/0001_init.sql")),
    Step::sql(include_str!("../../migrations/0002_left_cells.sql")),
    Step::sql(include_str!("../../migrations/0003_patrols_photos.sql")),
    Step::sql(include_str!("../../migrations/0004_audit_log.sql")),
    Step::sql(include_str!("../../migrations/0005_cases.sql")),
    Step::sql(include_str!("../../migrations/0006_case_photos.sql")),
    Step::sql(include_str!("../../migrations/0007_report_cells.sql")),
    Step::sql(include_str!("../../migrations/0008_console.sql")),
    Step::sql(include_str!("../../migrations/0009_open311.sql")),
    Step::with_after(
        include_str!("../../migrations/0010_grid_cells.sql"),
        grid::convert_whole_layers,
    ),
    Step::sql(include_str!("../../migrations/0011_patrol_digests.sql")),
    // Report states re-encoded from protocol 2's shapes (ADR 0024).
    Step::with_after(
        include_str!("../../migrations/0012_device_protocol.sql"),
        upgrade::protocol_3,
    ),
    Step::sql(include_str!(
        "../../migrations/0013_reports_in_feed_order.sql"
    )),
];
const READER_POOL: usize = 4;
/// Prepared statements kept per connection: a push and a scoped pull touch
/// more than rusqlite's default of 16, which would evict each other.
const STATEMENT_CACHE: usize = 64;

pub struct SqliteStore {
    path: PathBuf,
    writer: group::GroupWriter,
    readers: Mutex<Vec<Connection>>,
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: an acknowledged push is a promise to the phone, so it must
    // survive a power cut, not only a killed process. One fsync per commit
    // is the price; writes arriving together share a commit (`group.rs`).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Runs the reads of `f` in one read transaction: they share one snapshot
/// and take the WAL's read lock once. In autocommit every statement took and
/// released that lock itself (`fcntl` calls on the `-shm` file): a pulled
/// page's thousand case lookups spent 40 % of the server's time in the
/// kernel. A read transaction has nothing to commit; its end only lets the
/// snapshot go.
fn in_snapshot<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    begin_read(conn)?;
    let result = f(conn);
    end_read(conn);
    result
}

fn begin_read(conn: &Connection) -> StoreResult<()> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    Ok(())
}

/// Ends a read transaction; a connection it could not end stays inside it,
/// and the pool does not take it back.
fn end_read(conn: &Connection) {
    if let Err(e) = conn
        .prepare_cached("COMMIT")
        .and_then(|mut end| end.execute([]))
    {
        tracing::warn!(error = %e, "a read transaction did not end; rolled back");
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Refuses a database from a newer release before anything is written to
/// it (setting WAL mode alone rewrites the file's header).
fn refuse_newer(path: &Path) -> StoreResult<()> {
    if !path.exists() {
        return Ok(());
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found: version,
            known,
        });
    }
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    gridwarden_sql::migrate(conn, MIGRATIONS).map_err(|e| match e {
        MigrationError::TooNew { found, known } => StoreError::TooNew {
            path: path.display().to_string(),
            found: found.into(),
            known: known.into(),
        },
        MigrationError::Sqlite { source, .. } | MigrationError::Version(source) => source.into(),
        // The Rust steps fail only on a value that does not decode (0010: a
        // layer; 0011: a report state).
        after @ MigrationError::After { .. } => StoreError::Corrupt(after.to_string()),
    })?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        refuse_newer(path)?;
        let mut writer = open_connection(path)?;
        migrate(&mut writer, path)?;
        // Checkpoints run on a thread of their own (`checkpoint.rs`); the
        // writer's is only the bound if that thread falls behind.
        writer.pragma_update(None, "wal_autocheckpoint", checkpoint::WRITER_BOUND_PAGES)?;
        let checkpoints = checkpoint::Checkpointer::start(open_connection(path)?)?;
        Ok(Self {
            path: path.to_owned(),
            writer: group::GroupWriter::new(writer, Some(checkpoints)),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        // Inside this thread's snapshot (`snapshot.rs`), on its reader.
        let mut f = Some(f);
        if let Some(result) = snapshot::with_held(self, |conn| f.take().expect("run once")(conn)) {
            return result;
        }
        let f = f.expect("not run");
        let conn = self.reader()?;
        let result = in_snapshot(&conn, f);
        self.give_back(conn);
        result
    }

    fn reader(&self) -> StoreResult<Connection> {
        let conn = self.readers.lock().expect("reader pool lock").pop();
        match conn {
            Some(c) => Ok(c),
            None => open_connection(&self.path),
        }
    }

    /// A connection left inside a transaction (its end failed) is not given
    /// to the next reader.
    fn give_back(&self, conn: Connection) {
        let mut pool = self.readers.lock().expect("reader pool lock");
        if pool.len() < READER_POOL && conn.is_autocommit() {
            pool.push(conn);
        }
    }

    /// Ends this thread's snapshot of this store, if it holds one.
    fn end_snapshot(&self) {
        if let Some(conn) = snapshot::take(self) {
            end_read(&conn);
            self.give_back(conn);
        }
    }

    /// Runs `f` in a write transaction, shared with writes arriving at the
    /// same moment (`group.rs`); returns once its changes are durable. A
    /// snapshot this thread holds ends first: what it reads next sees this.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.end_snapshot();
        self.writer.write(f)
    }
}

/// Ends the thread's snapshot however the reads in it end.
struct EndSnapshot<'a>(&'a SqliteStore);

impl Drop for EndSnapshot<'_> {
    fn drop(&mut self) {
        self.0.end_snapshot();
    }
}

fn uuid_from(bytes: Vec<u8>) -> StoreResult<Uuid> {
    Uuid::from_slice(&bytes).map_err(|e| StoreError::Corrupt(format!("bad uuid: {e}")))
}

fn hash_from(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("bad token hash".into()))
}

fn decode_state(bytes: &[u8]) -> StoreResult<ReportState> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt(format!("report state: {e}")))
}

fn role_from(s: String) -> StoreResult<Role> {
    s.parse().map_err(StoreError::Corrupt)
}

fn load_user(conn: &Connection, name: &str) -> StoreResult<Option<User>> {
    // Every request reads its user: from the statement cache, not parsed.
    let row = conn
        .prepare_cached("SELECT name, role, disabled_ms FROM users WHERE name = ?1")?
        .query_row([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })
        .optional()?;
    let Some((name, role, disabled)) = row else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare_cached("SELECT cell FROM user_cells WHERE user = ?1 ORDER BY cell")?;
    let cells = stmt
        .query_map([&name], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(Some(User {
        name,
        role: role_from(role)?,
        cells,
        disabled: disabled.is_some(),
    }))
}

type DeviceRow = (
    Vec<u8>,
    String,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn device_from(row: DeviceRow) -> StoreResult<Device> {
    let (id, user, label, hash, enrolled_ms, revoked_ms, last_seen_ms) = row;
    Ok(Device {
        id: uuid_from(id)?,
        user,
        label,
        token_hash: hash_from(hash)?,
        enrolled_ms,
        revoked_ms,
        last_seen_ms,
    })
}

fn load_device(conn: &Connection, id: Uuid) -> StoreResult<Option<Device>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"
        ))?
        .query_row([id.as_bytes().as_slice()], device_from_row)
        .optional()?;
    row.map(device_from).transpose()
}

const DEVICE_COLUMNS: &str = "id, user, label, token_hash, enrolled_ms, revoked_ms, last_seen_ms";

fn next_seq(tx: &Connection) -> StoreResult<u64> {
    let max: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM reports")?
        .query_row([], |r| r.get(0))?;
    Ok(max as u64 + 1)
}

const LOAD_REPORT: &str = "SELECT state FROM reports WHERE id = ?1";

fn load_report(tx: &Connection, id: Uuid) -> StoreResult<Option<ReportState>> {
    let mut stmt = tx.prepare_cached(LOAD_REPORT)?;
    load_report_with(&mut stmt, id)
}

/// [`load_report`] with the statement held by the caller.
fn load_report_with(stmt: &mut Statement<'_>, id: Uuid) -> StoreResult<Option<ReportState>> {
    let bytes: Option<Vec<u8>> = stmt
        .query_row([id.as_bytes().as_slice()], |r| r.get(0))
        .optional()?;
    bytes.map(|b| decode_state(&b)).transpose()
}

/// Whether a report being written has a row already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    /// First seen now: a plain insert, nothing left behind to track.
    New,
    /// Stored before: its row is rewritten, and the cell it may have left
    /// is remembered.
    Existing,
}

/// The insert both report writes start with (a macro, so `concat!` can
/// extend it into a constant).
macro_rules! insert_report {
    () => {
        "INSERT INTO reports (id, seq, reporter, device, category, grid_cell, assigned, deleted, observed_at_ms, updated_ms, state, patrol)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    };
}

/// Writes a report's state with a new feed position.
fn save_report(
    tx: &Connection,
    state: &ReportState,
    seq: u64,
    device: Uuid,
    now_ms: i64,
    row: Row,
) -> StoreResult<()> {
    save_report_with(tx, None, state, seq, device, now_ms, row)
}

/// [`save_report`], with the plain insert's statement held by the caller
/// when it has one (a push writes many reports).
fn save_report_with(
    tx: &Connection,
    insert: Option<&mut Statement<'_>>,
    state: &ReportState,
    seq: u64,
    device: Uuid,
    now_ms: i64,
    row: Row,
) -> StoreResult<()> {
    let origin = state.origin.as_ref();
    let reporter = origin.map(|o| o.reporter.as_str()).unwrap_or("");
    let origin_device = origin.map(|o| o.device).unwrap_or(device);
    let encoded = codec::encode(state);
    let patrol = origin.and_then(|o| o.patrol);
    let values = params![
        state.id.as_bytes().as_slice(),
        seq as i64,
        reporter,
        origin_device.as_bytes().as_slice(),
        state.category(),
        state.grid_cell(),
        state.grid_cell.is_some(),
        state.is_deleted(),
        origin.map(|o| o.observed_at_ms),
        now_ms,
        encoded,
        patrol.as_ref().map(|p| p.as_bytes().as_slice()),
    ];
    if row == Row::New {
        // Most writes of a push: no conflict clause, no RETURNING, each of
        // which costs a plain insert a good share of its speed.
        match insert {
            Some(insert) => insert.execute(values)?,
            None => tx.prepare_cached(insert_report!())?.execute(values)?,
        };
        return patrols::index_photos(tx, state);
    }
    let left_cells: String = tx
        .prepare_cached(concat!(
            insert_report!(),
            " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, reporter = excluded.reporter, device = excluded.device,
               category = excluded.category, grid_cell = excluded.grid_cell, assigned = excluded.assigned,
               left_cells = CASE
                 WHEN reports.grid_cell IS NOT NULL AND reports.grid_cell IS NOT excluded.grid_cell
                  AND NOT EXISTS (SELECT 1 FROM json_each(reports.left_cells) WHERE value = reports.grid_cell)
                 THEN json_insert(reports.left_cells, '$[#]', reports.grid_cell)
                 ELSE reports.left_cells END,
               deleted = excluded.deleted, observed_at_ms = excluded.observed_at_ms,
               updated_ms = excluded.updated_ms, state = excluded.state, patrol = excluded.patrol
             RETURNING left_cells"
        ))?
        .query_row(values, |r| r.get(0))?;
    // A report that ever moved keeps a row per cell it left, at its current
    // feed position, for the scoped pull (migration 0007); most never move.
    if left_cells != "[]" {
        tx.prepare_cached(
            "INSERT INTO report_left_cells (report, cell, seq)
             SELECT ?1, value, ?2 FROM json_each(?3) WHERE true -- the grammar needs a WHERE before ON
             ON CONFLICT (report, cell) DO UPDATE SET seq = excluded.seq",
        )?
        .execute(params![state.id.as_bytes().as_slice(), seq as i64, left_cells])?;
    }
    patrols::index_photos(tx, state)
}

/// What an applied op writes.
#[allow(
    clippy::large_enum_variant,
    reason = "one lives at a time, inside a push loop; boxing buys nothing"
)]
enum Change {
    /// A report's next state, and its case's when the change is in the
    /// case's history.
    Report(ReportState, Row, Option<CaseState>),
    Patrol(PatrolChange),
    /// A case's next state, and its report, which moves in the feed with it.
    Case(CaseState, ReportState),
}

/// The statements every op of a push runs, prepared once per push: taking
/// one from rusqlite's cache hashes its SQL, and giving it back resets it
/// and hashes it again, ≈ 1,000 instructions a use, four uses an op
/// (callgrind of the push benchmark, issue 22).
struct PushStatements<'c> {
    claim: CachedStatement<'c>,
    load: CachedStatement<'c>,
    insert: CachedStatement<'c>,
}

impl<'c> PushStatements<'c> {
    fn prepare(tx: &'c Connection) -> StoreResult<Self> {
        Ok(Self {
            claim: tx.prepare_cached(
                "INSERT INTO applied_ops (op_id, device, applied_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (op_id) DO NOTHING",
            )?,
            load: tx.prepare_cached(LOAD_REPORT)?,
            insert: tx.prepare_cached(insert_report!())?,
        })
    }

    /// Records `op_id` as applied; false if it was already (a duplicate).
    /// One statement where a lookup and an insert were two; an op that is
    /// then refused gives its claim back ([`unclaim`]).
    fn claim(&mut self, op_id: Uuid, device: Uuid, now_ms: i64) -> StoreResult<bool> {
        let inserted = self.claim.execute(params![
            op_id.as_bytes().as_slice(),
            device.as_bytes().as_slice(),
            now_ms
        ])?;
        Ok(inserted == 1)
    }
}

/// Forgets that `op_id` was applied: it was claimed, then refused.
fn unclaim(tx: &Connection, op_id: Uuid) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM applied_ops WHERE op_id = ?1")?
        .execute([op_id.as_bytes().as_slice()])?;
    Ok(())
}

/// Applies ops in order inside `tx`: see [`Store::apply_ops`].
fn apply_ops(
    tx: &Connection,
    device: Uuid,
    ops: &[Op],
    rules: &Rules,
    now_ms: i64,
) -> StoreResult<Vec<Outcome>> {
    let mut seq = next_seq(tx)?;
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut held = PushStatements::prepare(tx)?;
    for op in ops {
        if !held.claim(op.op_id, device, now_ms)? {
            outcomes.push(Outcome::Duplicate);
            continue;
        }
        let decided = match &op.body {
            OpBody::Report { report_id, .. } => {
                let current = load_report_with(&mut held.load, *report_id)?;
                let row = if current.is_some() {
                    Row::Existing
                } else {
                    Row::New
                };
                match (rules.report)(op, current.as_ref()) {
                    Ok(next) if current.as_ref() == Some(&next) => Ok(None),
                    Ok(next) => {
                        let case = match &current {
                            Some(_) => cases::load(tx, *report_id)?,
                            None => None,
                        };
                        match (&current, case) {
                            (Some(before), Some(case)) => (rules.amend)(op, before, &next, &case)
                                .map(|amended| Some(Change::Report(next, row, amended))),
                            _ => Ok(Some(Change::Report(next, row, None))),
                        }
                    }
                    Err(r) => Err(r),
                }
            }
            OpBody::Patrol { patrol_id, .. } => {
                let current = patrols::load_patrol(tx, *patrol_id)?;
                (rules.patrol)(op, current.as_ref()).map(|c| Some(Change::Patrol(c)))
            }
            OpBody::Case { report_id, .. } => {
                let report = load_report_with(&mut held.load, *report_id)?;
                let case = cases::load(tx, *report_id)?;
                (rules.case)(op, report.as_ref(), case.as_ref()).and_then(|next| {
                    let report = report.ok_or_else(|| {
                        Rejection::new(
                            gridwarden_protocol::ErrorCode::Internal,
                            "a case decided without its report (a server bug)",
                        )
                    })?;
                    Ok(Some(Change::Case(next, report)))
                })
            }
        };
        match decided {
            Ok(change) => {
                match change {
                    Some(Change::Report(next, row, amended)) => {
                        if let Some(case) = amended {
                            cases::save(tx, &case, now_ms)?;
                        }
                        save_report_with(
                            tx,
                            Some(&mut held.insert),
                            &next,
                            seq,
                            device,
                            now_ms,
                            row,
                        )?;
                        seq += 1;
                    }
                    Some(Change::Patrol(change)) => {
                        patrols::save_patrol(tx, &change, now_ms, rules.track)?
                    }
                    Some(Change::Case(case, report)) => {
                        cases::save(tx, &case, now_ms)?;
                        // The report moves in the feed with its case.
                        save_report(tx, &report, seq, device, now_ms, Row::Existing)?;
                        seq += 1;
                    }
                    None => {}
                }
                outcomes.push(Outcome::Applied);
            }
            Err(r) => {
                unclaim(tx, op.op_id)?;
                outcomes.push(Outcome::Rejected {
                    code: r.code,
                    reason: r.reason,
                })
            }
        }
    }
    Ok(outcomes)
}

fn set_meta(tx: &Connection, key: &str, value: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl Transact for SqliteStore {
    fn transact(
        &self,
        work: &mut dyn FnMut(&mut dyn StoreTx) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // Run once: SQLite's one writer never fails to serialise.
        self.write(|conn| work(&mut SqliteTx { conn }))
    }

    fn in_one_snapshot(&self, reads: &mut dyn FnMut()) {
        if snapshot::holding() {
            return reads();
        }
        let reader = self.reader().and_then(|conn| {
            begin_read(&conn)?;
            Ok(conn)
        });
        match reader {
            Ok(conn) => {
                snapshot::hold(self, conn);
                let _end = EndSnapshot(self);
                reads();
            }
            // Each read then goes its own way and says what is wrong.
            Err(e) => {
                tracing::debug!(error = %e, "no shared snapshot for these reads");
                reads();
            }
        }
    }
}

/// A unit of work on the SQLite backend: the writer connection, inside the
/// (possibly shared, `group.rs`) write transaction, in a savepoint of its
/// own when it shares it.
struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl IdentityTx for SqliteTx<'_> {
    fn user(&mut self, name: &str) -> StoreResult<Option<User>> {
        load_user(self.conn, name)
    }

    fn add_user(&mut self, user: &User, now_ms: i64) -> StoreResult<()> {
        let tx = self.conn;
        let exists = tx
            .prepare_cached("SELECT 1 FROM users WHERE name = ?1")?
            .exists([&user.name])?;
        if exists {
            return Err(StoreError::Conflict(Clash::User(user.name.clone())));
        }
        tx.execute(
            "INSERT INTO users (name, role, created_ms, disabled_ms) VALUES (?1, ?2, ?3, NULL)",
            params![user.name, user.role.as_str(), now_ms],
        )?;
        for cell in &user.cells {
            tx.execute(
                "INSERT OR IGNORE INTO user_cells (user, cell) VALUES (?1, ?2)",
                params![user.name, cell],
            )?;
        }
        Ok(())
    }

    fn set_user_cells(&mut self, name: &str, cells: &[String]) -> StoreResult<User> {
        let tx = self.conn;
        let user =
            load_user(tx, name)?.ok_or_else(|| StoreError::NotFound(Missing::User(name.into())))?;
        tx.execute("DELETE FROM user_cells WHERE user = ?1", [name])?;
        for cell in cells {
            tx.execute(
                "INSERT OR IGNORE INTO user_cells (user, cell) VALUES (?1, ?2)",
                params![name, cell],
            )?;
        }
        security::bump_auth_epoch(tx)?;
        let mut cells = cells.to_vec();
        cells.sort();
        cells.dedup();
        Ok(User { cells, ..user })
    }

    fn create_enrolment(
        &mut self,
        user: &str,
        secret_hash: [u8; 32],
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        if load_user(self.conn, user)?.is_none() {
            return Err(StoreError::NotFound(Missing::User(user.into())));
        }
        self.conn.execute(
            "INSERT INTO enrolments (secret_hash, user, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![secret_hash.as_slice(), user, now_ms, expires_ms],
        )?;
        Ok(())
    }

    fn enrolment(&mut self, secret_hash: [u8; 32]) -> StoreResult<Option<Enrolment>> {
        self.conn
            .query_row(
                "SELECT user, created_ms, expires_ms, used_ms, device_id FROM enrolments WHERE secret_hash = ?1",
                [secret_hash.as_slice()],
                |r| {
                    Ok((
                        Enrolment {
                            user: r.get(0)?,
                            created_ms: r.get(1)?,
                            expires_ms: r.get(2)?,
                            used_ms: r.get(3)?,
                            device: None,
                        },
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                },
            )
            .optional()?
            .map(|(mut e, device)| {
                e.device = device.map(uuid_from).transpose()?;
                Ok::<_, StoreError>(e)
            })
            .transpose()
    }

    fn use_enrolment(
        &mut self,
        secret_hash: [u8; 32],
        device: &Device,
        now_ms: i64,
    ) -> StoreResult<()> {
        let tx = self.conn;
        let user: String = tx.query_row(
            "UPDATE enrolments SET used_ms = ?1, device_id = ?2 WHERE secret_hash = ?3 RETURNING user",
            params![now_ms, device.id.as_bytes().as_slice(), secret_hash.as_slice()],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO devices (id, user, label, token_hash, enrolled_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![device.id.as_bytes().as_slice(), user, device.label, device.token_hash.as_slice(), now_ms],
        )?;
        Ok(())
    }

    fn set_device_token(&mut self, id: Uuid, token_hash: [u8; 32]) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE devices SET token_hash = ?1 WHERE id = ?2",
            params![token_hash.as_slice(), id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    fn touch_device(&mut self, id: Uuid, now_ms: i64) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE devices SET last_seen_ms = ?1 WHERE id = ?2",
            params![now_ms, id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    fn note_device_protocol(
        &mut self,
        id: Uuid,
        seen_ms: Option<i64>,
        protocol_version: u16,
        client: Option<&str>,
    ) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE devices SET last_seen_ms = COALESCE(?1, last_seen_ms),
                 protocol_version = ?2, client = COALESCE(?3, client)
             WHERE id = ?4",
            params![seen_ms, protocol_version, client, id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, id: Uuid, at_ms: i64) -> StoreResult<(Device, bool)> {
        security::revoke_device(self.conn, id, at_ms)
    }

    fn set_user_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        at_ms: i64,
    ) -> StoreResult<(User, bool)> {
        security::set_user_disabled(self.conn, name, disabled, at_ms)
    }
}

impl AuditTx for SqliteTx<'_> {
    fn append_audit(&mut self, audit: &AuditRecord) -> StoreResult<u64> {
        security::append(self.conn, audit)
    }
}

impl MetaTx for SqliteTx<'_> {
    fn meta(&mut self, key: &str) -> StoreResult<Option<String>> {
        load_meta(self.conn, key)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()> {
        set_meta(self.conn, key, value)
    }
}

impl FeedTx for SqliteTx<'_> {
    fn apply_ops(
        &mut self,
        device: Uuid,
        ops: &[Op],
        rules: &Rules,
        now_ms: i64,
    ) -> StoreResult<Vec<Outcome>> {
        apply_ops(self.conn, device, ops, rules, now_ms)
    }

    fn reassign(
        &mut self,
        only_unassigned: bool,
        reassign: &Reassign,
        now_ms: i64,
    ) -> StoreResult<usize> {
        let tx = self.conn;
        let sql = if only_unassigned {
            "SELECT state, device FROM reports WHERE deleted = 0 AND grid_cell IS NULL ORDER BY seq"
        } else {
            "SELECT state, device FROM reports WHERE deleted = 0 ORDER BY seq"
        };
        let rows = tx
            .prepare(sql)?
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut seq = next_seq(tx)?;
        let mut changed = 0;
        for (blob, device) in rows {
            let state = decode_state(&blob)?;
            if let Some(next) = reassign(&state).filter(|n| *n != state) {
                save_report(tx, &next, seq, uuid_from(device)?, now_ms, Row::Existing)?;
                seq += 1;
                changed += 1;
            }
        }
        Ok(changed)
    }

    fn forget_photos_of_deleted_reports(&mut self) -> StoreResult<u64> {
        patrols::forget_photos_of_deleted_reports(self.conn)
    }
}

impl CaseTx for SqliteTx<'_> {
    fn add_department(&mut self, department: &Department, now_ms: i64) -> StoreResult<()> {
        cases::add_department(self.conn, department, now_ms)
    }

    fn set_category_routes(&mut self, routes: &[(String, String)]) -> StoreResult<()> {
        cases::set_routes(self.conn, routes)
    }

    fn set_user_department(&mut self, user: &str, department: Option<&str>) -> StoreResult<()> {
        cases::set_member(self.conn, user, department)
    }
}

impl ConsoleTx for SqliteTx<'_> {
    fn set_password_hash(&mut self, user: &str, hash: &str) -> StoreResult<()> {
        console::set_password(self.conn, user, hash)
    }

    fn end_sessions_of(&mut self, user: &str) -> StoreResult<()> {
        console::end_sessions_of(self.conn, user)
    }

    fn create_console_link(
        &mut self,
        token_hash: [u8; 32],
        user: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        console::create_link(self.conn, token_hash, user, now_ms, expires_ms)
    }

    fn console_link(&mut self, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleLink>> {
        console::link(self.conn, token_hash)
    }

    fn use_console_link(&mut self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<()> {
        console::use_link(self.conn, token_hash, now_ms)
    }

    fn console_device(&mut self, user: &str, now_ms: i64) -> StoreResult<Uuid> {
        console::console_device(self.conn, user, now_ms)
    }

    fn create_console_session(&mut self, session: &ConsoleSession) -> StoreResult<()> {
        console::create_session(self.conn, session)
    }

    fn end_console_session(&mut self, token_hash: [u8; 32]) -> StoreResult<bool> {
        console::end_session(self.conn, token_hash)
    }
}

impl Open311Tx for SqliteTx<'_> {
    fn api_key(&mut self, name: &str) -> StoreResult<Option<ApiKey>> {
        open311::key_named(self.conn, name)
    }

    fn add_api_key(&mut self, key: &ApiKey) -> StoreResult<()> {
        open311::add_key(self.conn, key)
    }

    fn revoke_api_key(&mut self, name: &str, now_ms: i64) -> StoreResult<(ApiKey, bool)> {
        open311::revoke_key(self.conn, name, now_ms)
    }

    fn add_hotline_request(&mut self, request: &HotlineRequest) -> StoreResult<HotlineRequest> {
        open311::add_request(self.conn, request)
    }

    fn add_feedback(&mut self, feedback: &Feedback) -> StoreResult<()> {
        open311::add_feedback(self.conn, feedback)
    }
}

impl GridTx for SqliteTx<'_> {
    fn put_grid_cells(&mut self, cells: &[StoredCell]) -> StoreResult<()> {
        grid::put_cells(self.conn, cells)
    }

    fn commit_grid_layer(
        &mut self,
        name: &str,
        members: &[GridMember],
        now_ms: i64,
    ) -> StoreResult<u64> {
        grid::commit_layer(self.conn, name, members, now_ms)
    }

    fn forget_unlisted_grid_cells(&mut self, hashes: &[[u8; 32]]) -> StoreResult<u64> {
        grid::forget_unlisted(self.conn, hashes)
    }

    fn put_categories(&mut self, categories: &CategoryTable, now_ms: i64) -> StoreResult<u64> {
        let tx = self.conn;
        let version: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM category_tables",
            [],
            |r| r.get(0),
        )?;
        let table = CategoryTable {
            version: version as u64,
            categories: categories.categories.clone(),
        };
        let body = serde_json::to_string(&table).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO category_tables (version, imported_ms, body) VALUES (?1, ?2, ?3)",
            params![version, now_ms, body],
        )?;
        Ok(version as u64)
    }
}

fn load_meta(c: &Connection, key: &str) -> StoreResult<Option<String>> {
    Ok(c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

impl IdentityStore for SqliteStore {
    fn user(&self, name: &str) -> StoreResult<Option<User>> {
        self.read(|c| load_user(c, name))
    }

    fn users(&self) -> StoreResult<Vec<User>> {
        self.read(|c| {
            let names = c
                .prepare("SELECT name FROM users ORDER BY name")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            names
                .iter()
                .filter_map(|n| load_user(c, n).transpose())
                .collect()
        })
    }

    fn device(&self, id: Uuid) -> StoreResult<Option<Device>> {
        self.read(|c| load_device(c, id))
    }

    fn devices(&self) -> StoreResult<Vec<Device>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_ms"
            ))?;
            let rows = stmt
                .query_map([], device_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(device_from).collect()
        })
    }

    fn auth_epoch(&self) -> StoreResult<u64> {
        self.read(security::auth_epoch)
    }

    fn device_protocols(&self) -> StoreResult<Vec<DeviceProtocol>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, protocol_version, client FROM devices ORDER BY enrolled_ms")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<u16>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, protocol_version, client)| {
                    Ok(DeviceProtocol {
                        device: uuid_from(id)?,
                        protocol_version,
                        client,
                    })
                })
                .collect()
        })
    }
}

impl AuditStore for SqliteStore {
    fn audit_log(&self, since_ms: Option<i64>) -> StoreResult<Vec<AuditEntry>> {
        self.read(|c| security::audit_log(c, since_ms))
    }
}

/// One process serves an embedded store: its own channel is enough.
impl FanoutStore for SqliteStore {}

impl MetaStore for SqliteStore {
    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|c| load_meta(c, key))
    }
}

impl GridStore for SqliteStore {
    fn grid_members(&self, version: u64) -> StoreResult<Vec<GridMember>> {
        self.read(|c| grid::members(c, version))
    }

    fn grid_cell_data(
        &self,
        version: u64,
        codes: &[String],
        shapes: bool,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.read(|c| grid::cell_data(c, version, codes, shapes))
    }

    fn grid_layers(&self) -> StoreResult<Vec<LayerInfo>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT version, name, imported_ms, cell_count FROM grid_layers ORDER BY version",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(LayerInfo {
                    version: r.get::<_, i64>(0)? as u64,
                    name: r.get(1)?,
                    imported_ms: r.get(2)?,
                    cell_count: r.get::<_, i64>(3)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn current_grid_layer(&self) -> StoreResult<Option<GridLayerWire>> {
        self.read(grid::current_layer)
    }

    fn grid_version(&self) -> StoreResult<u64> {
        self.read(|c| {
            // Read by every hello and push: from the statement cache.
            Ok(
                c.prepare_cached("SELECT COALESCE(MAX(version), 0) FROM grid_layers")?
                    .query_row([], |r| r.get::<_, i64>(0))? as u64,
            )
        })
    }

    fn categories(&self) -> StoreResult<Option<CategoryTable>> {
        self.read(|c| {
            let body: Option<String> = c
                .query_row(
                    "SELECT body FROM category_tables ORDER BY version DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            body.map(|b| {
                serde_json::from_str(&b)
                    .map_err(|e| StoreError::Corrupt(format!("category table: {e}")))
            })
            .transpose()
        })
    }

    fn categories_version(&self) -> StoreResult<u64> {
        self.read(|c| {
            // Read by every hello and push: from the statement cache.
            Ok(
                c.prepare_cached("SELECT COALESCE(MAX(version), 0) FROM category_tables")?
                    .query_row([], |r| r.get::<_, i64>(0))? as u64,
            )
        })
    }
}

impl FeedStore for SqliteStore {
    fn pull(&self, q: &PullQuery) -> StoreResult<Page> {
        self.read(|c| feed::pull(c, q))
    }

    fn report(&self, id: Uuid) -> StoreResult<Option<ReportState>> {
        self.read(|c| load_report(c, id))
    }

    fn reports(&self, unassigned_only: bool) -> StoreResult<Vec<ReportState>> {
        self.read(|c| {
            let sql = if unassigned_only {
                "SELECT state FROM reports WHERE deleted = 0 AND grid_cell IS NULL ORDER BY seq"
            } else {
                "SELECT state FROM reports WHERE deleted = 0 ORDER BY seq"
            };
            let mut stmt = c.prepare(sql)?;
            let blobs = stmt
                .query_map([], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            blobs.iter().map(|b| decode_state(b)).collect()
        })
    }

    fn feed_position(&self) -> StoreResult<u64> {
        self.read(console::feed_position)
    }
}

impl PatrolStore for SqliteStore {
    fn patrol(&self, id: Uuid) -> StoreResult<Option<StoredPatrol>> {
        self.read(|c| patrols::load_patrol(c, id))
    }

    fn patrols(&self, filter: &PatrolFilter) -> StoreResult<Vec<StoredPatrol>> {
        self.read(|c| patrols::patrols(c, filter))
    }

    fn track(&self, patrol: Uuid) -> StoreResult<Vec<TrackPoint>> {
        self.read(|c| patrols::track(c, patrol))
    }

    fn patrol_reports(&self, patrol: Uuid) -> StoreResult<Vec<Uuid>> {
        self.read(|c| patrols::patrol_reports(c, patrol))
    }
}

impl PhotoStore for SqliteStore {
    fn photo_reports(&self, hash: PhotoHash) -> StoreResult<Vec<ReportState>> {
        self.read(|c| patrols::photo_reports(c, hash))
    }

    fn case_photo_uses(&self, hash: PhotoHash) -> StoreResult<Vec<CasePhotoUse>> {
        self.read(|c| cases::photo_uses(c, hash))
    }

    fn photo_rows_of_deleted_reports(&self) -> StoreResult<u64> {
        self.read(patrols::photo_rows_of_deleted_reports)
    }
}

impl CaseStore for SqliteStore {
    fn cases_of(&self, reports: &[Uuid]) -> StoreResult<Vec<CaseState>> {
        self.read(|c| cases::cases_of(c, reports))
    }

    fn cases(&self) -> StoreResult<Vec<CaseState>> {
        self.read(cases::all)
    }

    fn departments(&self) -> StoreResult<Vec<Department>> {
        self.read(cases::departments)
    }

    fn category_routes(&self) -> StoreResult<Vec<(String, String)>> {
        self.read(cases::routes)
    }

    fn user_department(&self, user: &str) -> StoreResult<Option<String>> {
        self.read(|c| cases::member_of(c, user))
    }
}

impl ConsoleStore for SqliteStore {
    fn password_hash(&self, user: &str) -> StoreResult<Option<String>> {
        self.read(|c| console::password_hash(c, user))
    }

    fn console_session(&self, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleSession>> {
        self.read(|c| console::session(c, token_hash))
    }
}

impl Open311Store for SqliteStore {
    fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(open311::keys)
    }

    fn api_key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.read(|c| open311::key_by_hash(c, key_hash))
    }

    fn hotline_request(&self, report_id: Uuid) -> StoreResult<Option<HotlineRequest>> {
        self.read(|c| {
            open311::request_where(c, "report_id = ?1", &[&report_id.as_bytes().as_slice()])
        })
    }

    fn hotline_request_by_token(&self, token: &str) -> StoreResult<Option<HotlineRequest>> {
        self.read(|c| open311::request_where(c, "token = ?1", &[&token]))
    }

    fn hotline_request_by_external_id(
        &self,
        client: &str,
        external_id: &str,
    ) -> StoreResult<Option<HotlineRequest>> {
        self.read(|c| {
            open311::request_where(
                c,
                "client = ?1 AND external_id = ?2",
                &[&client, &external_id],
            )
        })
    }

    fn hotline_requests(&self, filter: &HotlineFilter) -> StoreResult<Vec<HotlineRequest>> {
        self.read(|c| open311::requests(c, filter))
    }

    fn feedback(&self) -> StoreResult<Vec<Feedback>> {
        self.read(open311::feedback)
    }
}

#[cfg(test)]
mod feed_order_tests;

#[cfg(test)]
mod suite {
    crate::store_suite!(|dir: &std::path::Path| {
        Some(Box::new(super::SqliteStore::open(&dir.join("server.db")).unwrap()) as Box<_>)
    });
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_audit_log_cannot_be_rewritten_even_with_sql() {
        use crate::store::prelude::*;
        use crate::store::AuditRecord;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let store = super::SqliteStore::open(&path).unwrap();
        store
            .append_audit(&AuditRecord {
                at_ms: 1,
                actor: "cli:root@host".into(),
                device: None,
                action: "user.add".into(),
                subject: "ann".into(),
                detail: String::new(),
            })
            .unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
        ] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(
            store.audit_log(None).unwrap()[0].record.actor,
            "cli:root@host"
        );
    }

    #[test]
    fn refuses_a_database_from_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        drop(super::SqliteStore::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = super::SqliteStore::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer gridwarden"), "{err}");
    }
}

#[cfg(test)]
mod migration_tests {
    use gridwarden_protocol::{Hlc, Location, NewReport, Op, OpBody, ReportOp, ReportState};
    use uuid::Uuid;

    use crate::store::prelude::*;
    use crate::store::{
        FeedItem, PatrolChange, PullQuery, Rejection, Rules, Scope, Store, StoredPatrol,
    };

    fn create(n: u128, lon: f64) -> Op {
        Op {
            op_id: Uuid::from_u128(n),
            hlc: Hlc::new(1000 + n as u64, 0, 1),
            body: OpBody::Report {
                report_id: Uuid::from_u128(100 + n),
                op: ReportOp::Create(NewReport {
                    category: "0101".into(),
                    location: Location {
                        lon,
                        lat: 40.0,
                        accuracy_m: None,
                    },
                    address: None,
                    note: String::new(),
                    observed_at_ms: 0,
                    patrol: None,
                    asset: None,
                }),
            },
        }
    }

    fn west_or_east(op: &Op, current: Option<&ReportState>) -> Result<ReportState, Rejection> {
        let OpBody::Report { report_id, op: rop } = &op.body else {
            unreachable!("report ops only")
        };
        let mut state = current
            .cloned()
            .unwrap_or_else(|| ReportState::empty(*report_id));
        state.apply(rop, op.hlc, "bob", Uuid::from_u128(7));
        let cell = if state.location().unwrap().lon < 0.0 {
            "W"
        } else {
            "E"
        };
        state.set_grid_cell(Some(cell.into()), Hlc::new(op.hlc.wall_ms, 0, 0));
        Ok(state)
    }

    fn no_patrols(_: &Op, _: Option<&StoredPatrol>) -> Result<PatrolChange, Rejection> {
        unreachable!("report ops only")
    }

    fn no_cases(
        _: &Op,
        _: Option<&ReportState>,
        _: Option<&gridwarden_protocol::case::CaseState>,
    ) -> Result<gridwarden_protocol::case::CaseState, Rejection> {
        unreachable!("report ops only")
    }

    /// What a western device pulls: (report, whole or only a notice).
    fn west_pull(store: &dyn Store) -> Vec<(Uuid, bool)> {
        let page = store
            .pull(&PullQuery {
                after_seq: 0,
                scope: Scope::Cells {
                    user: "wes".into(),
                    cells: vec!["W".into()],
                },
                max_records: 100,
                max_bytes: 1 << 20,
            })
            .unwrap();
        page.items
            .iter()
            .map(|item| match item {
                FeedItem::Report(r) => (r.id, true),
                FeedItem::OutOfScope(id) => (*id, false),
            })
            .collect()
    }

    /// Reports that moved before schema 5 are announced to the cells they
    /// left after it: the migration fills the index from the reports there.
    #[test]
    fn a_store_from_before_the_left_cell_index_gets_it_filled_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let store = super::SqliteStore::open(&path).unwrap();
        let mut ops: Vec<Op> = (1..=6)
            .map(|n| create(n, if n % 3 == 0 { 1.0 } else { -1.0 }))
            .collect();
        // Report 101 moves east.
        ops.push(Op {
            op_id: Uuid::from_u128(7),
            hlc: Hlc::new(2000, 0, 1),
            body: OpBody::Report {
                report_id: Uuid::from_u128(101),
                op: ReportOp::Edit(gridwarden_protocol::ReportEdit {
                    location: Some(Location {
                        lon: 1.0,
                        lat: 40.0,
                        accuracy_m: None,
                    }),
                    ..Default::default()
                }),
            },
        });
        let rules = Rules {
            report: &west_or_east,
            patrol: &no_patrols,
            track: &|_, _, _| unreachable!("report ops only"),
            case: &no_cases,
            amend: &|_, _, _, _| Ok(None),
        };
        store
            .apply_ops(Uuid::from_u128(7), &ops, &rules, 1)
            .unwrap();
        let expected = west_pull(&store);
        assert_eq!(expected.len(), 4);
        assert_eq!(expected.last(), Some(&(Uuid::from_u128(101), false)));
        drop(store);
        // Back to the schema before the cell index (migration 0007), as a
        // server of that release left it: the later migrations undone too.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE grid_layer_cells; DROP TABLE grid_cell_data;
             DROP TABLE open311_feedback; DROP TABLE open311_requests; DROP TABLE api_keys;
             DROP TABLE console_sessions; DROP TABLE console_links;
             ALTER TABLE users DROP COLUMN password_hash;
             ALTER TABLE devices DROP COLUMN protocol_version;
             ALTER TABLE devices DROP COLUMN client;
             DROP TABLE report_left_cells; ALTER TABLE patrols DROP COLUMN digest;
             PRAGMA user_version = 6;",
        )
        .unwrap();
        // Report states as that release encoded them (protocol 2's shapes).
        let states: Vec<(Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT id, state FROM reports")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (id, state) in states {
            let state: gridwarden_protocol::ReportState =
                gridwarden_protocol::codec::decode(&state).unwrap();
            let old = gridwarden_protocol::v2::encode_stored_report_state(&state).unwrap();
            conn.execute(
                "UPDATE reports SET state = ?1 WHERE id = ?2",
                rusqlite::params![old, id],
            )
            .unwrap();
        }
        drop(conn);
        let store = super::SqliteStore::open(&path).unwrap();
        assert_eq!(west_pull(&store), expected);
    }

    #[test]
    fn a_layer_stored_whole_by_an_earlier_release_is_converted_to_cells_on_open() {
        use crate::store::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(super::SqliteStore::open(&path).unwrap());
        let city = gridwarden_grid::synth::StreetGrid::city(5, 12, 4);
        let cells: Vec<_> = city.iter().collect();
        let layer = gridwarden_grid::to_wire(1, "old", &cells);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE grid_layer_cells; DROP TABLE grid_cell_data;
             ALTER TABLE devices DROP COLUMN protocol_version;
             ALTER TABLE devices DROP COLUMN client;
             ALTER TABLE patrols DROP COLUMN digest; PRAGMA user_version = 9;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO grid_layers (version, name, imported_ms, cell_count, layer) VALUES (1, 'old', 1, 5, ?1)",
            [gridwarden_protocol::codec::encode(&layer)],
        )
        .unwrap();
        drop(conn);
        let store = super::SqliteStore::open(&path).unwrap();
        assert_eq!(store.grid_members(1).unwrap().len(), 5);
        assert_eq!(store.current_grid_layer().unwrap().unwrap(), layer);
    }
}
