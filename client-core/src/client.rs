//! The client: one device's store, its caches, and every user action.
//!
//! Recording, editing, deleting and browsing touch only the local store and
//! never wait for the network (brief decision 1); `sync` and `enroll` are the
//! only calls that talk to the server.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::{
    hlc, validate, Hlc, HlcClock, Location, NewReport, Op, OpBody, ReportEdit, ReportOp,
    ReportState,
};
use rusqlite::{Connection, Transaction};
use serde::Serialize;
use uuid::Uuid;

use crate::cache::RefCache;
use crate::error::{ClientError, Result};
use crate::store::meta::{self, Enrolment};
use crate::store::reports::{self, LocalCell};
use crate::store::{outbox, patrols, rejections, Store};

use crate::view::ReportView;
use gridwarden_protocol::clock::{Clock, SharedClock};

/// How long a sync waits for the server's handshake by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client software name sent in Hello, for the server's logs.
pub(crate) const CLIENT_NAME: &str = concat!("gridwarden-client-core/", env!("CARGO_PKG_VERSION"));

/// One device. Cheap to share (`Sync`): the store sits behind a mutex held
/// only for the length of one transaction.
#[derive(Debug)]
pub struct Client {
    home: PathBuf,
    store: Mutex<Store>,
    cache: Mutex<RefCache>,
    connect_timeout: Duration,
    clock: SharedClock,
}

/// Where this device stands, for `gridwarden status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientStatus {
    pub home: String,
    pub enrolled: bool,
    pub device_id: Option<Uuid>,
    pub user: Option<String>,
    pub role: Option<String>,
    pub server: Option<String>,
    /// SHA-256 of the pinned server certificate, lower-case hex.
    pub fingerprint: Option<String>,
    pub cells: Vec<String>,
    /// Reports stored on this device, deleted ones included.
    pub reports: u64,
    /// Ops waiting to be sent.
    pub outbox: u64,
    pub rejections: u64,
    /// The server-issued pull cursor, lower-case hex; empty before the first pull.
    pub pull_cursor: String,
    pub last_sync_ms: Option<i64>,
    pub categories_version: Option<u64>,
    pub grid_version: Option<u64>,
    /// The server stops accepting this app's protocol version at this time
    /// (from the last sync's `Welcome`): update the app before then.
    pub update_required_by_ms: Option<i64>,
}

/// The result of a successful enrolment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnrolmentInfo {
    pub device_id: Uuid,
    pub user: String,
    pub role: String,
    pub server: String,
    pub fingerprint: String,
    /// Versions of the reference data cached right after enrolment; `None`
    /// when the server has none or fetching it failed (the next sync retries).
    pub categories_version: Option<u64>,
    pub grid_version: Option<u64>,
}

impl EnrolmentInfo {
    pub(crate) fn from_enrolment(e: &Enrolment) -> Self {
        EnrolmentInfo {
            device_id: e.device_id,
            user: e.user.clone(),
            role: e.role.as_str().to_owned(),
            server: e.server_addr.clone(),
            fingerprint: e.fingerprint_hex(),
            categories_version: None,
            grid_version: None,
        }
    }
}

impl Client {
    /// Opens the device in directory `home` (created if missing). Works with
    /// no server and before enrolment.
    pub fn open(home: impl AsRef<Path>) -> Result<Client> {
        let home = home.as_ref().to_path_buf();
        let store = Store::open(&home)?;
        Ok(Client {
            home,
            store: Mutex::new(store),
            cache: Mutex::new(RefCache::default()),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            clock: gridwarden_protocol::clock::system(),
        })
    }

    /// Reads time from `clock` instead of the system clock (simulations).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Changes how long `sync` and `enroll` wait for the server to answer the
    /// handshake before reporting it unreachable.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (the transaction rolls back on drop), so a poisoned lock is usable.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_cache(&self) -> MutexGuard<'_, RefCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a new report: one local transaction writing the report and
    /// its Create op. Returns the report's id (UUIDv7). A report recorded
    /// while a patrol is under way belongs to that patrol unless it names
    /// one.
    pub fn record_report(&self, input: NewReport) -> Result<Uuid> {
        validate::new_report(&input)?;
        self.record_report_inner(input, |_, _, _, _| Ok(()))
    }

    /// Records a report and lets `extra` add to the same transaction.
    pub(crate) fn record_report_inner(
        &self,
        mut input: NewReport,
        extra: impl FnOnce(&Transaction, &Enrolment, &mut ReportState, &dyn Clock) -> Result<()>,
    ) -> Result<Uuid> {
        let mut store = self.lock_store();
        let mut cache = self.lock_cache();
        let tx = store.transaction()?;
        let enrolment = require_enrolment(&tx)?;
        input.observed_at_ms = checked_observed_time(&tx, &*self.clock, input.observed_at_ms)?;
        check_category(&mut cache, &tx, &input.category)?;
        match input.patrol {
            Some(patrol) if patrols::get(&tx, patrol)?.is_none() => {
                return Err(ClientError::InvalidInput(format!(
                    "no patrol {patrol} on this device; `gridwarden patrols` lists them"
                )))
            }
            Some(_) => {}
            None => input.patrol = patrols::running(&tx)?.map(|p| p.id),
        }
        let guess = cache.cell_at(&tx, input.location.lon, input.location.lat)?;
        let mut state = ReportState::empty(Uuid::now_v7());
        apply_local(
            &tx,
            &enrolment,
            &mut state,
            ReportOp::Create(input),
            LocalCell::Set(guess.as_deref()),
            &*self.clock,
        )?;
        extra(&tx, &enrolment, &mut state, &*self.clock)?;
        tx.commit()?;
        Ok(state.id)
    }

    /// Changes fields of a report recorded here or pulled. Refused for a
    /// report this device does not know or that was deleted.
    pub fn edit_report(&self, id: Uuid, edit: ReportEdit) -> Result<()> {
        validate::report_edit(&edit)?;
        let mut store = self.lock_store();
        let mut cache = self.lock_cache();
        let tx = store.transaction()?;
        let enrolment = require_enrolment(&tx)?;
        let mut state = live_report(&tx, id, "edited")?;
        if let Some(category) = &edit.category {
            check_category(&mut cache, &tx, category)?;
        }
        let guess = match edit.location {
            Some(loc) => Some(cache.cell_at(&tx, loc.lon, loc.lat)?),
            None => None,
        };
        let local = match &guess {
            Some(cell) => LocalCell::Set(cell.as_deref()),
            None => LocalCell::Keep,
        };
        apply_local(
            &tx,
            &enrolment,
            &mut state,
            ReportOp::Edit(edit),
            local,
            &*self.clock,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a report (a tombstone that wins over every edit).
    pub fn delete_report(&self, id: Uuid) -> Result<()> {
        let mut store = self.lock_store();
        let tx = store.transaction()?;
        let enrolment = require_enrolment(&tx)?;
        let mut state = live_report(&tx, id, "deleted")?;
        apply_local(
            &tx,
            &enrolment,
            &mut state,
            ReportOp::Delete,
            LocalCell::Keep,
            &*self.clock,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Visible reports (not deleted), newest observation first.
    pub fn list_reports(&self) -> Result<Vec<ReportView>> {
        let store = self.lock_store();
        let categories = self.lock_cache().categories(store.conn())?;
        let stored = reports::list_visible(store.conn())?;
        Ok(stored
            .into_iter()
            .filter_map(|r| ReportView::from_stored(r, categories.as_deref()))
            .collect())
    }

    /// One report, deleted ones included (their `deleted` is true).
    pub fn show_report(&self, id: Uuid) -> Result<ReportView> {
        let store = self.lock_store();
        let categories = self.lock_cache().categories(store.conn())?;
        let mut view = reports::get(store.conn(), id)?
            .and_then(|r| ReportView::from_stored(r, categories.as_deref()))
            .ok_or_else(|| ClientError::NotFound(id.to_string()))?;
        for photo in &mut view.photos {
            let hash = gridwarden_protocol::PhotoHash::from_hex(&photo.hash)?;
            if let Some(local) = crate::store::photos::get(store.conn(), hash)? {
                photo.state = local.state.as_str().to_owned();
                photo.reason = local.reason;
            }
        }
        Ok(view)
    }

    /// Resolves what a user typed as a report id: a full UUID, or a unique
    /// prefix of its hex digits (dashes optional), as lists print them.
    pub fn resolve_report_id(&self, text: &str) -> Result<Uuid> {
        let text = text.trim();
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(id);
        }
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        if digits.len() < 4 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ClientError::InvalidInput(format!(
                "`{text}` is not a report id; give the id `gridwarden list` prints \
                 (at least its first 4 hex digits)"
            )));
        }
        let store = self.lock_store();
        let matches = reports::ids_with_hex_prefix(store.conn(), &digits.to_ascii_uppercase(), 2)?;
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(ClientError::NotFound(text.to_owned())),
            _ => Err(ClientError::InvalidInput(format!(
                "`{text}` matches more than one report; give more of its id"
            ))),
        }
    }

    /// The cached category table, `None` before the first reference fetch.
    pub fn categories(&self) -> Result<Option<CategoryTable>> {
        let store = self.lock_store();
        let table = self.lock_cache().categories(store.conn())?;
        Ok(table.map(|t| (*t).clone()))
    }

    /// The offline guess of the grid cell at a point, from the cached layer.
    pub fn grid_cell_at(&self, lon: f64, lat: f64) -> Result<Option<String>> {
        validate::location(&Location {
            lon,
            lat,
            accuracy_m: None,
        })?;
        let store = self.lock_store();
        let cell = self.lock_cache().cell_at(store.conn(), lon, lat)?;
        Ok(cell)
    }

    /// The codes of the grid cells this device holds, in order, and whether
    /// they are the whole layer (rather than its user's part).
    pub fn grid_cells_held(&self) -> Result<(Vec<String>, bool)> {
        let store = self.lock_store();
        let codes = crate::store::grid_cells::codes(store.conn())?;
        let whole = crate::store::grid_cells::state(store.conn())?.whole;
        Ok((codes, whole))
    }

    /// The offline guess of the grid cell at a point, saying why there is
    /// none: "outside the cells on this device" where the device holds only
    /// its user's part of the layer.
    pub fn grid_guess(&self, lon: f64, lat: f64) -> Result<crate::CellGuess> {
        validate::location(&Location {
            lon,
            lat,
            accuracy_m: None,
        })?;
        let store = self.lock_store();
        let guess = self.lock_cache().guess(store.conn(), lon, lat)?;
        Ok(guess)
    }

    pub fn outbox_len(&self) -> Result<u64> {
        outbox::len(self.lock_store().conn())
    }

    /// Ops the server refused, newest first, with its reasons.
    pub fn rejections(&self) -> Result<Vec<rejections::Rejection>> {
        rejections::list(self.lock_store().conn())
    }

    /// This user's edits that another user's later edit replaced, newest
    /// first: which field, both values, who won and when.
    pub fn overwrites(&self) -> Result<Vec<crate::Overwrite>> {
        crate::store::overwrites::list(self.lock_store().conn())
    }

    /// The same for one report, oldest first (part of its history).
    pub fn overwrites_of(&self, report_id: Uuid) -> Result<Vec<crate::Overwrite>> {
        crate::store::overwrites::of_report(self.lock_store().conn(), report_id)
    }

    pub fn is_enrolled(&self) -> Result<bool> {
        Ok(meta::enrolment(self.lock_store().conn())?.is_some())
    }

    /// The secret token of this device. Only for test suites that speak the
    /// protocol by hand as an enrolled device; an app never shows it.
    #[doc(hidden)]
    pub fn device_token_for_tests(&self) -> Result<Vec<u8>> {
        let enrolment = require_enrolment(self.lock_store().conn())?;
        Ok(enrolment.token)
    }

    pub fn status(&self) -> Result<ClientStatus> {
        let store = self.lock_store();
        let conn = store.conn();
        let enrolment = meta::enrolment(conn)?;
        Ok(ClientStatus {
            home: self.home.display().to_string(),
            enrolled: enrolment.is_some(),
            device_id: enrolment.as_ref().map(|e| e.device_id),
            user: enrolment.as_ref().map(|e| e.user.clone()),
            role: enrolment.as_ref().map(|e| e.role.as_str().to_owned()),
            server: enrolment.as_ref().map(|e| e.server_addr.clone()),
            fingerprint: enrolment.as_ref().map(Enrolment::fingerprint_hex),
            cells: meta::cells(conn)?,
            reports: reports::count(conn)?,
            outbox: outbox::len(conn)?,
            rejections: rejections::list(conn)?.len() as u64,
            pull_cursor: gridwarden_protocol::enrolment::hex(&meta::pull_cursor(conn)?.0),
            last_sync_ms: meta::last_sync_ms(conn)?,
            categories_version: meta::categories_version(conn)?,
            grid_version: meta::grid_version(conn)?,
            update_required_by_ms: meta::update_required_by_ms(conn)?,
        })
    }
}

pub(crate) fn require_enrolment(conn: &Connection) -> Result<Enrolment> {
    meta::enrolment(conn)?.ok_or(ClientError::NotEnrolled)
}

/// The state of a report that exists here and is not deleted.
pub(crate) fn live_report(conn: &Connection, id: Uuid, action: &str) -> Result<ReportState> {
    let state = reports::state(conn, id)?
        .filter(|s| s.origin.is_some())
        .ok_or_else(|| ClientError::NotFound(id.to_string()))?;
    if state.is_deleted() {
        return Err(ClientError::InvalidInput(format!(
            "report {id} was deleted; it cannot be {action}"
        )));
    }
    Ok(state)
}

/// Refuses a category the cached table does not know. A device without a
/// table yet accepts any well-formed code: the server has the last word.
fn check_category(cache: &mut RefCache, conn: &Connection, code: &str) -> Result<()> {
    let Some(table) = cache.categories(conn)? else {
        return Ok(());
    };
    if table.get(code).is_some() {
        return Ok(());
    }
    Err(ClientError::UnknownCategory {
        code: code.to_owned(),
        hint: category_hint(&table, code),
    })
}

/// Suggests codes sharing the longest prefix with what was typed.
fn category_hint(table: &CategoryTable, code: &str) -> String {
    let shared = |c: &str| {
        c.chars()
            .zip(code.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let best = table
        .categories
        .iter()
        .map(|c| shared(&c.code))
        .max()
        .unwrap_or(0);
    let examples: Vec<String> = table
        .categories
        .iter()
        .filter(|c| shared(&c.code) == best)
        .take(5)
        .map(|c| format!("{} {}", c.code, c.name))
        .collect();
    if examples.is_empty() {
        return "this device's category table is empty; sync to refresh it".into();
    }
    format!(
        "did you mean one of: {}? Run `gridwarden categories` to see all {} codes",
        examples.join(", "),
        table.categories.len()
    )
}

/// An observed time taken from this device's clock (within a minute of it)
/// is moved onto the server's time like the op stamps, so a phone with a
/// wrong date records when things really happened; a time further ahead of
/// the server's than the drift bound, or before 2020, is refused here with
/// the reason the server would give.
fn checked_observed_time(tx: &Transaction, wall: &dyn Clock, observed_ms: i64) -> Result<i64> {
    let raw = wall.now_ms() as i64;
    let server = crate::time::server_now(tx, wall)? as i64;
    let drift = gridwarden_protocol::hlc::MAX_DRIFT_MS as i64;
    let observed = if observed_ms.abs_diff(raw) <= drift as u64 {
        server + (observed_ms - raw)
    } else {
        observed_ms
    };
    if observed > server + drift {
        return Err(ClientError::InvalidInput(
            "the observed time is in the future; give the time it really was".into(),
        ));
    }
    if observed < validate::OBSERVED_FLOOR_MS {
        return Err(ClientError::InvalidInput(
            "the observed time is before 2020; check the phone's date and give the time it really was"
                .into(),
        ));
    }
    Ok(observed)
}

/// Stamps a local op with the next clock value, applies it to `state`, and
/// writes the state and the outbox entry: all inside the caller's transaction.
pub(crate) fn apply_local(
    tx: &Transaction,
    enrolment: &Enrolment,
    state: &mut ReportState,
    op: ReportOp,
    local_cell: LocalCell<'_>,
    wall: &dyn Clock,
) -> Result<Uuid> {
    let stamp = next_stamp(tx, enrolment, wall)?;
    state.apply(&op, stamp, &enrolment.user, enrolment.device_id);
    reports::upsert(tx, state, local_cell)?;
    queue_op(
        tx,
        stamp,
        OpBody::Report {
            report_id: state.id,
            op,
        },
    )
}

/// The next clock value for a local op: the device's estimate of the server's
/// time ([`crate::time::server_now`]), after every
/// clock this device has stamped or seen.
pub(crate) fn next_stamp(tx: &Transaction, enrolment: &Enrolment, wall: &dyn Clock) -> Result<Hlc> {
    let mut clock = HlcClock::resume(meta::last_hlc(tx)?, hlc::node_id(enrolment.device_id));
    let stamp = clock.tick(crate::time::server_now(tx, wall)?);
    meta::set_last_hlc(tx, stamp)?;
    Ok(stamp)
}

/// Appends an op stamped `stamp` to the outbox; returns its id.
pub(crate) fn queue_op(tx: &Transaction, stamp: Hlc, body: OpBody) -> Result<Uuid> {
    let op = Op {
        op_id: Uuid::now_v7(),
        hlc: stamp,
        body,
    };
    outbox::append(tx, &op)?;
    Ok(op.op_id)
}

#[cfg(test)]
mod tests;
