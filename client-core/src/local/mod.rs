//! The local layer: what a device does with no network. Each write is a
//! function over one `&Transaction` and a [`Clock`] (the report, photo,
//! patrol and case writes, each with its outbox op in the same transaction);
//! [`Device`] holds what they share (the store, the reference cache, the
//! clock, the photo files). Depends on the store, never on the sync, the
//! remote calls or the [`crate::Client`] facade above.

pub mod budget;
pub mod cache;
pub mod cases;
pub mod enrolment;
pub mod limits;
pub mod lookup;
pub mod patrols;
pub mod photos;
pub mod reports;
pub mod thumbnail;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use gridwarden_protocol::clock::{Clock, SharedClock};
use gridwarden_protocol::{hlc, Hlc, HlcClock, Op, OpBody, ReportOp, ReportState};
use rusqlite::{Connection, Transaction};
use uuid::Uuid;

use crate::error::{ClientError, Result};
use crate::store::meta::{self, Enrolment};
use crate::store::reports::{self as stored_reports, LocalCell};
use crate::store::{outbox, Store};
use cache::RefCache;
use photos::PhotoFiles;

/// One device's local state: its store, its decoded reference data and its
/// clock. Cheap to share (`Sync`): the store sits behind a mutex held only
/// for the length of one transaction, never across a network wait.
#[derive(Debug)]
pub struct Device {
    home: PathBuf,
    store: Mutex<Store>,
    cache: Mutex<RefCache>,
    clock: SharedClock,
    /// Photos kept whole while being fetched or viewed ([`budget`]).
    photo_pins: budget::Pins,
}

impl Device {
    /// Opens the device in directory `home` (created if missing).
    pub fn open(home: &Path, clock: SharedClock) -> Result<Self> {
        let store = Store::open(home)?;
        Ok(Device {
            home: home.to_path_buf(),
            store: Mutex::new(store),
            cache: Mutex::new(RefCache::default()),
            clock,
            photo_pins: budget::Pins::default(),
        })
    }

    pub fn set_clock(&mut self, clock: SharedClock) {
        self.clock = clock;
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn lock_store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (the transaction rolls back on drop), so a poisoned lock is usable.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lock_cache(&self) -> MutexGuard<'_, RefCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn photo_files(&self) -> PhotoFiles {
        PhotoFiles::new(&self.home)
    }

    pub fn photo_pins(&self) -> &budget::Pins {
        &self.photo_pins
    }

    /// Waits until every user write made so far is on the storage (an app
    /// going to the background, a test cutting the power).
    pub fn flush_to_storage(&self) {
        // Not holding the store while waiting: recording goes on meanwhile.
        let sync = self.lock_store().durable_handle();
        sync.flush();
    }

    /// The server's limits as this device knows them ([`limits`]).
    pub fn limits(&self) -> Result<gridwarden_protocol::DeviceLimits> {
        limits::current(self.lock_store().conn())
    }

    /// Runs `work` in one write transaction, committed when it succeeds.
    pub fn write<T>(&self, work: impl FnOnce(&Transaction, &dyn Clock) -> Result<T>) -> Result<T> {
        let mut store = self.lock_store();
        let tx = store.transaction()?;
        let out = work(&tx, &*self.clock)?;
        tx.commit()?;
        // What the user did goes to the storage now, not at the next
        // checkpoint (a power cut would otherwise lose it).
        store.request_durable();
        Ok(out)
    }

    /// [`Device::write`] with the reference cache (category checks, the
    /// offline cell guess).
    pub fn write_cached<T>(
        &self,
        work: impl FnOnce(&Transaction, &mut RefCache, &dyn Clock) -> Result<T>,
    ) -> Result<T> {
        let mut store = self.lock_store();
        let mut cache = self.lock_cache();
        let tx = store.transaction()?;
        let out = work(&tx, &mut cache, &*self.clock)?;
        tx.commit()?;
        store.request_durable();
        Ok(out)
    }
}

/// The device's estimate of the server's time now ([`crate::time`]), with
/// what the store measured at the last hello.
pub fn server_now(conn: &Connection, clock: &dyn Clock) -> Result<u64> {
    Ok(crate::time::estimate_server_ms(
        clock.now_ms(),
        clock.since_boot(),
        meta::clock_offset_ms(conn)?,
        meta::clock_anchor(conn)?,
    ))
}

pub fn require_enrolment(conn: &Connection) -> Result<Enrolment> {
    meta::enrolment(conn)?.ok_or(ClientError::NotEnrolled)
}

/// The state of a report that exists here and is not deleted.
pub fn live_report(conn: &Connection, id: Uuid, action: &str) -> Result<ReportState> {
    let state = stored_reports::state(conn, id)?
        .filter(|s| s.origin.is_some())
        .ok_or_else(|| ClientError::NotFound(id.to_string()))?;
    if state.is_deleted() {
        return Err(ClientError::InvalidInput(format!(
            "report {id} was deleted; it cannot be {action}"
        )));
    }
    Ok(state)
}

/// Stamps a local op with the next clock value, applies it to `state`, and
/// writes the state and the outbox entry: all inside the caller's transaction.
pub fn apply_local(
    tx: &Transaction,
    enrolment: &Enrolment,
    state: &mut ReportState,
    op: ReportOp,
    local_cell: LocalCell<'_>,
    wall: &dyn Clock,
) -> Result<Uuid> {
    let stamp = next_stamp(tx, enrolment, wall)?;
    state.apply(&op, stamp.hlc, &enrolment.user, enrolment.device_id);
    stored_reports::upsert(tx, state, local_cell)?;
    queue_op(
        tx,
        stamp,
        OpBody::Report {
            report_id: state.id,
            op,
        },
    )
}

/// A local op's stamp: its clock value, and the estimate of the server's time
/// it was taken from. The two part when the device has seen a clock running
/// ahead (the clock stays after every clock seen); the estimate is the time of
/// the edit, which a re-stamp after a clock-skew refusal goes back to.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    pub hlc: Hlc,
    pub estimate_ms: u64,
}

/// The next clock value for a local op: the device's estimate of the server's
/// time ([`server_now`]), after every clock this device has stamped or seen.
pub fn next_stamp(tx: &Transaction, enrolment: &Enrolment, wall: &dyn Clock) -> Result<Stamp> {
    let mut clock = HlcClock::resume(meta::last_hlc(tx)?, hlc::node_id(enrolment.device_id));
    let estimate_ms = server_now(tx, wall)?;
    let hlc = clock.tick(estimate_ms);
    meta::set_last_hlc(tx, hlc)?;
    Ok(Stamp { hlc, estimate_ms })
}

/// Appends an op stamped `stamp` to the outbox; returns its id.
pub fn queue_op(tx: &Transaction, stamp: Stamp, body: OpBody) -> Result<Uuid> {
    let op = Op {
        op_id: Uuid::now_v7(),
        hlc: stamp.hlc,
        body,
    };
    outbox::append(tx, &op, stamp.estimate_ms)?;
    Ok(op.op_id)
}
