//! The client: the one facade every front end uses (the CLI, the phone
//! bindings, the tests). It holds one device and delegates: local actions to
//! the local layer, the sync to the sync layer, on-demand requests and
//! enrolment to the remote layer. Nothing below calls back into it.
//!
//! Recording, editing, deleting and browsing touch only the local store and
//! never wait for the network (brief decision 1); the sync, enrolment and the
//! remote reviews are the only calls that talk to the server. Each of those
//! is async, over QUIC by default or over any [`crate::Connect`]; the
//! blocking forms (`blocking.rs`) run on one runtime the client keeps.

mod blocking;
mod cases;
mod live;
mod net;
mod patrols;
mod reports;

use std::path::Path;
use std::sync::{MutexGuard, OnceLock};
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::error::Result;
use crate::link::quic;
use crate::local::lookup::{self, PrefixMatches, ReferenceNames, ShortIds};
use crate::local::{require_enrolment, Device};
use crate::store::ids::IdKind;
use crate::store::meta::{self, Enrolment};
use crate::store::{outbox, rejections, reports as stored_reports, Store};
use gridwarden_protocol::clock::SharedClock;

pub use crate::remote::enrol::EnrolmentInfo;

/// How long a sync waits for the server's handshake by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = quic::DEFAULT_CONNECT_TIMEOUT;

/// One device. Cheap to share (`Sync`): the store sits behind a mutex held
/// only for the length of one transaction.
#[derive(Debug)]
pub struct Client {
    device: Device,
    connect_timeout: Duration,
    /// The runtime of the blocking calls, built at the first one and kept.
    runtime: OnceLock<blocking::Runtime>,
    /// The connection an app keeps between syncs (`live.rs`); `None` for
    /// the command line, which connects per command.
    kept: Option<crate::sync::live::Kept>,
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
    /// What the server refuses, checked here when the user records: as the
    /// server last said, its defaults before it has.
    pub limits: gridwarden_protocol::DeviceLimits,
    /// The photos' storage budget and what they take on this device.
    pub photos: crate::local::budget::Storage,
}

impl Client {
    /// Opens the device in directory `home` (created if missing). Works with
    /// no server and before enrolment.
    pub fn open(home: impl AsRef<Path>) -> Result<Client> {
        let device = Device::open(home.as_ref(), gridwarden_protocol::clock::system())?;
        Ok(Client {
            device,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            runtime: OnceLock::new(),
            kept: None,
        })
    }

    /// Reads time from `clock` instead of the system clock (simulations).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.device.set_clock(clock);
        self
    }

    /// Changes how long `sync` and `enroll` wait for the server to answer the
    /// handshake before reporting it unreachable.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn home(&self) -> &Path {
        self.device.home()
    }

    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.device.lock_store()
    }

    #[cfg(test)]
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// Returns once every change made so far is on the phone's storage.
    /// Changes reach it within milliseconds anyway (a background sync after
    /// each commit, ADR 0026); an app may call this when it goes to the
    /// background, a benchmark to measure how long that takes.
    pub fn flush_to_storage(&self) {
        self.device.flush_to_storage()
    }

    pub fn is_enrolled(&self) -> Result<bool> {
        Ok(meta::enrolment(self.lock_store().conn())?.is_some())
    }

    /// The key this device shows while it enrols (made and kept at the
    /// first call). Only for test suites that open the enrolling connection
    /// by hand; an app never needs it.
    #[doc(hidden)]
    pub fn enrolment_key_for_tests(&self) -> Result<crate::tls::DeviceKey> {
        crate::remote::enrol::device_key(&self.device)
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
            home: self.home().display().to_string(),
            enrolled: enrolment.is_some(),
            device_id: enrolment.as_ref().map(|e| e.device_id),
            user: enrolment.as_ref().map(|e| e.user.clone()),
            role: enrolment.as_ref().map(|e| e.role.as_str().to_owned()),
            server: enrolment.as_ref().map(|e| e.server_addr.clone()),
            fingerprint: enrolment.as_ref().map(Enrolment::fingerprint_hex),
            cells: meta::cells(conn)?,
            reports: stored_reports::count(conn)?,
            outbox: outbox::len(conn)?,
            rejections: rejections::list(conn)?.len() as u64,
            pull_cursor: gridwarden_protocol::enrolment::hex(&meta::pull_cursor(conn)?.0),
            last_sync_ms: meta::last_sync_ms(conn)?,
            categories_version: meta::categories_version(conn)?,
            grid_version: meta::grid_version(conn)?,
            update_required_by_ms: meta::update_required_by_ms(conn)?,
            limits: crate::local::limits::current(conn)?,
            photos: crate::local::budget::storage(conn)?,
        })
    }

    /// Reports (so cases) whose id starts with the typed prefix: how many,
    /// and the first `limit`.
    pub fn report_id_matches(&self, text: &str, limit: usize) -> Result<PrefixMatches> {
        lookup::id_matches(self.lock_store().conn(), IdKind::Report, text, limit)
    }

    /// This device's patrols whose id starts with the typed prefix.
    pub fn patrol_id_matches(&self, text: &str, limit: usize) -> Result<PrefixMatches> {
        lookup::id_matches(self.lock_store().conn(), IdKind::Patrol, text, limit)
    }

    /// Short ids unique among every report on this device.
    pub fn report_short_ids(&self) -> Result<ShortIds> {
        lookup::short_ids(self.lock_store().conn(), IdKind::Report)
    }

    /// Short ids unique among every patrol on this device.
    pub fn patrol_short_ids(&self) -> Result<ShortIds> {
        lookup::short_ids(self.lock_store().conn(), IdKind::Patrol)
    }

    /// Names of categories and grid cells in the cached reference data.
    pub fn reference_names(&self) -> Result<ReferenceNames> {
        lookup::reference_names(self.lock_store().conn())
    }
}

#[cfg(test)]
mod tests;
