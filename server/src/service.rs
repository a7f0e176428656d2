//! What the server decides, free of sockets: who a device is, which ops land,
//! what a pull returns. The QUIC edge (`net.rs`) and the admin commands
//! (`admin.rs`) both call into [`Service`]. Methods block on the store; the
//! async edge runs them on the blocking pool.

use std::sync::{Arc, Mutex, RwLock};

use gridwarden_grid::GridIndex;
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::clock::SharedClock;
use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::{
    validate, Ack, ClientMessage, Enroll, Enrolled, ErrorCode, ErrorMessage, FetchReference, Hello,
    Hlc, HlcClock, Op, OpBody, OpResult, Pull, PullPage, Push, Record, Reference, ReportOp,
    ReportState, Role, ServerMessage, TrackPoint, Welcome,
};
use uuid::Uuid;

use gridwarden_protocol::case::{CaseState, CaseStatus};
use gridwarden_workflow::WorkingCalendar;

use crate::authz::{self, Action, Actor, Denied, Target};
use crate::photos::PhotoStore;
use crate::store::prelude::*;
use crate::store::{Device, FeedItem, PullQuery, Rejection, Rules, Scope, StoreError, User};

pub mod cases;
mod echo;
mod enrolment;
mod grid;
mod hotline;
pub mod notify;
pub mod observed;
mod patrols;
mod photos;
pub mod refusals;
mod scope;
mod sentences;
pub mod versions;

/// Limits and timings the service enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame accepted or sent.
    pub max_frame: usize,
    /// Most ops in one push.
    pub max_push_ops: usize,
    /// Most records in one pull page.
    pub max_page_records: usize,
    /// How far ahead of the server's wall clock an op may be stamped, and
    /// the server's own clock may run (the drift bound of ADR 0013).
    pub max_clock_skew_ms: u64,
    /// Lifetime of an enrolment code.
    pub enrolment_ttl_ms: i64,
    /// Largest photo accepted, in bytes.
    pub max_photo_bytes: u64,
    /// Longest report note accepted, in characters.
    pub max_note_chars: usize,
    /// Protocol versions refused from a time (ms since the epoch), set by IT
    /// in `[protocol] refuse_after` (service/versions.rs).
    pub refuse_versions_after: std::collections::BTreeMap<u16, i64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: gridwarden_protocol::frame::DEFAULT_MAX_FRAME,
            max_push_ops: 5_000,
            max_page_records: 5_000,
            max_clock_skew_ms: gridwarden_protocol::hlc::MAX_DRIFT_MS,
            enrolment_ttl_ms: 24 * 3600 * 1000,
            max_photo_bytes: 25 * 1024 * 1024,
            max_note_chars: gridwarden_protocol::validate::MAX_NOTE_CHARS,
            refuse_versions_after: Default::default(),
        }
    }
}

/// An authenticated connection: a device and the user it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub device_id: Uuid,
    pub user: String,
    pub role: Role,
    /// The user's grid cells when the connection opened: a warden's scope,
    /// a supervisor's district (none: the whole city).
    pub cells: Vec<String>,
    /// Where the connection came from, when it came over the network.
    pub remote: Option<std::net::SocketAddr>,
    /// When this connection last recorded the device as seen (its `Hello`
    /// wrote `last_seen_ms`); `None` for a session that wrote nothing.
    pub seen_noted_ms: Option<i64>,
}

impl Session {
    /// A session of a device that never connected, for tests that need
    /// someone to tell or to look from.
    #[cfg(test)]
    pub(crate) fn for_tests(user: &str, role: Role, cells: &[&str]) -> Self {
        Self {
            device_id: Uuid::now_v7(),
            user: user.into(),
            role,
            cells: cells.iter().map(|c| c.to_string()).collect(),
            remote: None,
            seen_noted_ms: None,
        }
    }

    /// The user as [`authz`] sees them.
    fn actor(&self) -> Actor<'_> {
        Actor {
            user: &self.user,
            role: self.role,
            cells: &self.cells,
        }
    }
}

impl From<Denied> for Rejection {
    fn from(d: Denied) -> Self {
        Rejection::new(d.code, d.reason)
    }
}

impl From<Denied> for ServiceError {
    fn from(d: Denied) -> Self {
        ServiceError::Refused {
            code: d.code,
            message: d.reason,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// An id prefix that names several things (the console's search).
    #[error("{message}")]
    Ambiguous {
        message: String,
        matches: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError::Refused {
            code,
            message: message.into(),
        }
    }

    /// The message a device receives. Internal failures are not detailed
    /// on the wire; they are logged where IT can read them.
    pub fn to_wire(&self) -> ErrorMessage {
        match self {
            ServiceError::Refused { code, message } => ErrorMessage {
                code: *code,
                message: message.clone(),
            },
            ServiceError::Ambiguous { message, .. } => ErrorMessage {
                code: ErrorCode::Conflict,
                message: message.clone(),
            },
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "store failure while serving a request");
                ErrorMessage {
                    code: ErrorCode::Internal,
                    // A store failure (the database restarting, say) is
                    // passing: the device keeps what it has not had acked.
                    message: "the server could not complete the request; it is safe to sync \
                              again, and your reports are kept on this device until the server \
                              has them"
                        .into(),
                }
            }
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Makes a push's audit line from its outcomes.
pub type PushAudit<'a> = dyn Fn(&[gridwarden_protocol::Outcome]) -> crate::store::AuditRecord + 'a;

/// A cached, versioned derivative of stored reference data.
struct Cached<T> {
    version: u64,
    value: Arc<T>,
}

pub struct Service {
    store: Arc<dyn Store>,
    limits: Limits,
    grid: RwLock<Option<Cached<GridIndex>>>,
    /// Layer versions' catalogs, for devices' grid pages.
    grid_catalogs: crate::grid::CatalogCache,
    categories: RwLock<Option<Cached<CategoryTable>>>,
    hlc: Mutex<HlcClock>,
    wall: SharedClock,
    /// Where photo bytes live; `None` for a service that keeps no photos
    /// (some simulations), which refuses photo requests.
    photos: Option<PhotoStore>,
    refusals: refusals::Refusals,
    /// Names this store's data for devices; renewed by a restore.
    store_epoch: Uuid,
    /// Signs pull cursors (`service/scope.rs`).
    cursor_key: scope::CursorKey,
    /// Reports each device pushed in its current sync (no echo on pull).
    pushed: echo::Pushed,
    /// Tells the edge what each push changed (`service/notify.rs`).
    notifier: notify::Notifier,
}

pub const SERVER_NODE: u64 = 0;

/// How stale a device's `last_seen_ms` may be while its app keeps its
/// connection: a sync on a kept connection writes it again only after this
/// long. A minute-by-minute sync otherwise cost the server a durable write
/// (and its `fsync`) for the time alone, as much as the push beside it. A
/// new connection always writes it, so IT's "seen" is exact to five minutes.
/// (`cert status` reads it too: the reload that announces a next certificate
/// closes kept connections, so it is written by a handshake that announced
/// it; ADR 0040.)
pub const SEEN_EVERY_MS: i64 = 5 * 60 * 1000;
const SERVER_HLC_KEY: &str = "server_hlc";

fn hash32(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

impl Service {
    pub fn new(store: Arc<dyn Store>, limits: Limits) -> ServiceResult<Self> {
        Self::with_clock(store, limits, gridwarden_protocol::clock::system())
    }

    /// A service reading time from `wall` (a manual clock in simulations).
    pub fn with_clock(
        store: Arc<dyn Store>,
        limits: Limits,
        wall: SharedClock,
    ) -> ServiceResult<Self> {
        let last = store
            .meta(SERVER_HLC_KEY)?
            .and_then(|v| parse_hlc(&v))
            .unwrap_or(Hlc::ZERO);
        let now = wall.now_ms();
        let (clock, ahead) =
            HlcClock::resume_bounded(last, SERVER_NODE, now, limits.max_clock_skew_ms);
        if let Some(ahead_ms) = ahead {
            // A run with the wall clock set ahead stored its clock; resuming
            // from it would stamp ahead for as long as the mistake lasted.
            tracing::warn!(
                stored = %last,
                ahead_ms,
                "the stored server clock is ahead of the wall clock; starting again from the wall clock"
            );
            store.set_meta(SERVER_HLC_KEY, &format_hlc(clock.last()))?;
            store.append_audit(&crate::store::AuditRecord {
                at_ms: now as i64,
                actor: "server".into(),
                device: None,
                action: "server.clock_recovered".into(),
                subject: format_hlc(last),
                detail: format!(
                    "the stored clock was {ahead_ms} ms ahead of the wall clock; restarted from {now}"
                ),
            })?;
        }
        let store_epoch = versions::load_or_create_epoch(store.as_ref())?;
        let cursor_key = scope::CursorKey::load_or_create(store.as_ref())?;
        let fanout = store.fanout();
        Ok(Self {
            store_epoch,
            cursor_key,
            store,
            limits,
            grid: RwLock::new(None),
            grid_catalogs: Default::default(),
            categories: RwLock::new(None),
            hlc: Mutex::new(clock),
            wall,
            photos: None,
            refusals: Default::default(),
            pushed: Default::default(),
            notifier: notify::Notifier::new(fanout),
        })
    }

    /// Keeps photo bytes in `photos`.
    pub fn with_photos(mut self, photos: PhotoStore) -> Self {
        self.photos = Some(photos);
        self
    }

    /// Wall-clock milliseconds as this service sees them.
    pub fn now(&self) -> i64 {
        self.wall.now_ms() as i64
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The current grid index, rebuilt when an admin imported a new layer
    /// (possibly from another process) since it was last built.
    pub fn grid(&self) -> ServiceResult<Option<Arc<GridIndex>>> {
        Ok(self.versioned_grid()?.1)
    }

    /// The current layer's index with the version it was built from.
    fn versioned_grid(&self) -> ServiceResult<(u64, Option<Arc<GridIndex>>)> {
        let version = self.store.grid_version()?;
        if let Some(c) = self
            .grid
            .read()
            .expect("grid lock")
            .as_ref()
            .filter(|c| c.version == version)
        {
            return Ok((version, Some(c.value.clone())));
        }
        let Some(index) = self.build_grid_index(version)? else {
            return Ok((version, None));
        };
        let index = Arc::new(index);
        *self.grid.write().expect("grid lock") = Some(Cached {
            version,
            value: index.clone(),
        });
        Ok((version, Some(index)))
    }

    pub fn categories(&self) -> ServiceResult<Arc<CategoryTable>> {
        let version = self.store.categories_version()?;
        if let Some(c) = self
            .categories
            .read()
            .expect("category lock")
            .as_ref()
            .filter(|c| c.version == version)
        {
            return Ok(c.value.clone());
        }
        let table = Arc::new(self.store.categories()?.unwrap_or(CategoryTable {
            version: 0,
            categories: vec![],
        }));
        *self.categories.write().expect("category lock") = Some(Cached {
            version,
            value: table.clone(),
        });
        Ok(table)
    }

    /// The server's next stamp: never further ahead of its wall clock than
    /// the drift bound, so it never stores or hands out a clock that would
    /// outvote later edits for longer than that.
    fn tick(&self) -> Hlc {
        self.tick_after(None)
    }

    /// [`Self::tick`] after `stored`, the clock another server process
    /// sharing the store may have stored, when it is ahead of this one's.
    fn tick_after(&self, stored: Option<Hlc>) -> Hlc {
        let now = self.now();
        let mut clock = self.hlc.lock().expect("clock lock");
        if let Some(stored) = stored.filter(|s| *s > clock.last()) {
            // Beyond the drift bound it is refused, as a device's would be.
            let _ = clock.observe(stored, now as u64, self.limits.max_clock_skew_ms);
        }
        let (stamp, stepped) = clock.tick_bounded(now as u64, self.limits.max_clock_skew_ms);
        drop(clock);
        if let Some(ahead_ms) = stepped {
            tracing::warn!(
                ahead_ms,
                "the server clock ran ahead of the wall clock; stepped back"
            );
        }
        stamp
    }

    /// Serves the first message of a connection, which must be `Hello` or
    /// `Enroll`: the session it opens and the answer to send.
    pub fn open_session(&self, message: ClientMessage) -> ServiceResult<(Session, ServerMessage)> {
        self.open_session_from(message, None, None)
    }

    /// The same for a connection from `remote`, which the session, the
    /// enrolment's audit record and any refusal's carry; `device_key` is the
    /// hash of the key the device proved in the handshake, if it showed one.
    pub fn open_session_from(
        &self,
        message: ClientMessage,
        remote: Option<std::net::SocketAddr>,
        device_key: Option<[u8; 32]>,
    ) -> ServiceResult<(Session, ServerMessage)> {
        let (what, device) = match &message {
            ClientMessage::Hello(h) => ("hello", Some(h.device_id)),
            ClientMessage::Enroll(_) => ("enroll", None),
            _ => ("first message", None),
        };
        let result = match message {
            ClientMessage::Hello(h) => self.hello(&h).map(|(s, w)| (s, ServerMessage::Welcome(w))),
            ClientMessage::Enroll(e) => self
                .enroll_from(&e, remote, device_key)
                .map(|(s, d)| (s, ServerMessage::Enrolled(d))),
            _ => Err(ServiceError::refused(
                ErrorCode::UnexpectedMessage,
                "the first message of a connection must be hello or enroll",
            )),
        };
        match result {
            Ok((mut session, answer)) => {
                session.remote = remote;
                Ok((session, answer))
            }
            Err(e) => {
                if let ServiceError::Refused { code, message } = &e {
                    self.audit_refusal(refusals::Refused {
                        user: None,
                        device,
                        remote,
                        what,
                        subject: device.map(|d| d.to_string()).unwrap_or_default(),
                        code: *code,
                        why: message,
                    });
                }
                Err(e)
            }
        }
    }

    /// Authenticates the first message of a connection.
    pub fn hello(&self, hello: &Hello) -> ServiceResult<(Session, Welcome)> {
        self.hello_noting(hello, None)
    }

    /// The same, writing that the device was seen unless this connection
    /// already wrote it at `noted_ms`, less than [`SEEN_EVERY_MS`] ago.
    fn hello_noting(
        &self,
        hello: &Hello,
        noted_ms: Option<i64>,
    ) -> ServiceResult<(Session, Welcome)> {
        crate::metrics::get().request("hello");
        crate::store::in_one_snapshot(self.store.as_ref(), || {
            self.hello_in_snapshot(hello, noted_ms)
        })
    }

    fn hello_in_snapshot(
        &self,
        hello: &Hello,
        noted_ms: Option<i64>,
    ) -> ServiceResult<(Session, Welcome)> {
        self.check_version(hello.protocol_version)?;
        let not_enrolled = || {
            ServiceError::refused(
                ErrorCode::Unauthenticated,
                "this device is not enrolled with this server or its credentials were not accepted; enrol it again with a new code from IT",
            )
        };
        let device = self
            .store
            .device(hello.device_id)?
            .ok_or_else(not_enrolled)?;
        // blake3::Hash compares in constant time.
        if blake3::hash(&hello.token) != blake3::Hash::from(device.token_hash) {
            return Err(not_enrolled());
        }
        if device.revoked_ms.is_some() {
            return Err(revoked());
        }
        let user = self.active_user(&device.user)?;
        let now = self.now();
        // Read before the write below, which ends the snapshot.
        let welcome = self.welcome(&user, now, hello.protocol_version)?;
        let noted_ms = match noted_ms {
            Some(at) if (0..SEEN_EVERY_MS).contains(&(now - at)) => at,
            _ => {
                // One write: seen now, speaking this version with this app.
                self.store.note_device_protocol(
                    device.id,
                    Some(now),
                    hello.protocol_version,
                    Some(&hello.client),
                )?;
                now
            }
        };
        let session = Session {
            device_id: device.id,
            user: user.name.clone(),
            role: user.role,
            cells: user.cells.clone(),
            remote: None,
            seen_noted_ms: Some(noted_ms),
        };
        self.pushed.hello(session.device_id);
        Ok((session, welcome))
    }

    /// A Hello on a connection already authenticated by `session`: the next
    /// sync on a device's long-lived connection (brief decision 7). Answered
    /// as the first one is (the server's time, limits, versions), with the
    /// session read again; only for the same device in the same `version`.
    pub fn hello_again(
        &self,
        session: &Session,
        hello: &Hello,
        version: u16,
    ) -> ServiceResult<(Session, Welcome)> {
        if hello.device_id != session.device_id || hello.protocol_version != version {
            return Err(ServiceError::refused(
                ErrorCode::UnexpectedMessage,
                "a connection speaks for one device in one protocol version; open a new connection",
            ));
        }
        // Same device, same version: the time seen, and the app's name if it
        // changed, are written at most every SEEN_EVERY_MS on this connection.
        let (mut renewed, welcome) = self.hello_noting(hello, session.seen_noted_ms)?;
        renewed.remote = session.remote;
        Ok((renewed, welcome))
    }

    /// Whether an already authenticated device may still be served: it was
    /// not revoked and its user was not disabled or removed since. Checked on
    /// every request, and for open connections whenever IT revokes someone.
    pub fn device_may_connect(&self, device_id: Uuid) -> ServiceResult<()> {
        self.device_user(device_id).map(drop)
    }

    /// The active user of a device that may still be served.
    fn device_user(&self, device_id: Uuid) -> ServiceResult<User> {
        let device = self.store.device(device_id)?.ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::Unauthenticated,
                "this device is no longer known to the server; enrol it again with a new code from IT",
            )
        })?;
        if device.revoked_ms.is_some() {
            return Err(revoked());
        }
        self.active_user(&device.user)
    }

    /// `session` as the store has it now: refused if the device may no
    /// longer be served, else the session with the user's cells and role of
    /// now when they changed since its `Hello` (`None`: unchanged). A device
    /// on a kept connection says `Hello` only every few minutes (ADR 0041),
    /// so each request, and the edge whenever IT changes someone, reads the
    /// session again instead.
    pub fn session_now(&self, session: &Session) -> ServiceResult<Option<Session>> {
        let user = self.device_user(session.device_id)?;
        if user.name == session.user && user.role == session.role && user.cells == session.cells {
            return Ok(None);
        }
        Ok(Some(Session {
            user: user.name,
            role: user.role,
            cells: user.cells,
            ..session.clone()
        }))
    }

    fn active_user(&self, name: &str) -> ServiceResult<User> {
        let user = self.store.user(name)?.ok_or_else(|| {
            ServiceError::refused(
                ErrorCode::Unauthenticated,
                format!("user `{name}` no longer exists; ask IT"),
            )
        })?;
        if user.disabled {
            return Err(ServiceError::refused(
                ErrorCode::Unauthenticated,
                format!("user `{name}` is disabled; ask IT"),
            ));
        }
        Ok(user)
    }

    fn welcome(&self, user: &User, now: i64, version: u16) -> ServiceResult<Welcome> {
        Ok(Welcome {
            // The version this connection speaks.
            protocol_version: version,
            server_time_ms: now as u64,
            user: user.name.clone(),
            role: user.role,
            cells: user.cells.clone(),
            categories_version: self.store.categories_version()?,
            grid_version: self.store.grid_version()?,
            limits: self.device_limits(),
            store_epoch: self.store_epoch,
            update_required_by_ms: self.update_required_by(version).map(|ms| ms.max(0) as u64),
        })
    }

    /// Redeems a one-time enrolment code for a new device identity.
    pub fn enroll(&self, enroll: &Enroll) -> ServiceResult<(Session, Enrolled)> {
        self.enroll_from(enroll, None, None)
    }

    /// Enrols from `remote`; `device_key` is the hash of the key the device
    /// proved it holds in the handshake, which makes a retry after a lost
    /// answer get the same device (`service/enrolment.rs` says why).
    fn enroll_from(
        &self,
        enroll: &Enroll,
        remote: Option<std::net::SocketAddr>,
        device_key: Option<[u8; 32]>,
    ) -> ServiceResult<(Session, Enrolled)> {
        self.check_version(enroll.protocol_version)?;
        let label: String = enroll
            .device_label
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let secret_hash = hash32(enroll.secret.as_bytes());
        let token: [u8; 32] = rand::random();
        let device = Device {
            id: device_key
                .map_or_else(Uuid::new_v4, |key| enrolment::device_id(&secret_hash, &key)),
            user: String::new(),
            label,
            token_hash: hash32(&token),
            enrolled_ms: self.now(),
            revoked_ms: None,
            last_seen_ms: None,
        };
        let now = self.now();
        // A retry may not revive a device IT revoked since.
        if device_key.is_some()
            && self
                .store
                .device(device.id)?
                .is_some_and(|d| d.revoked_ms.is_some())
        {
            return Err(ServiceError::refused(
                ErrorCode::EnrolmentRefused,
                "this device was revoked by IT; ask IT for a new enrolment code",
            ));
        }
        // The code is checked, used and the device registered in one unit of
        // work with its audit line: a code works once, and the log shows
        // every device that was enrolled and no other.
        let user = crate::store::write(self.store.as_ref(), |tx| {
            let decision = match enrolment::decide(
                tx.enrolment(secret_hash)?,
                device.id,
                device_key.is_some(),
                now,
            ) {
                Err(refusal) => return Ok(Err(refusal)),
                Ok(decision) => decision,
            };
            let (name, again) = match decision {
                enrolment::Decision::New { user } => (user, false),
                enrolment::Decision::Again { user } => (user, true),
            };
            let user = match tx.user(&name)? {
                Some(user) if user.disabled => {
                    return Ok(Err(ServiceError::refused(
                        ErrorCode::EnrolmentRefused,
                        format!("user `{name}` is disabled; ask IT"),
                    )))
                }
                Some(user) => user,
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "enrolment for missing user {name}"
                    )))
                }
            };
            if again {
                tx.set_device_token(device.id, device.token_hash)?;
            } else {
                tx.use_enrolment(secret_hash, &device, now)?;
            }
            tx.note_device_protocol(device.id, None, enroll.protocol_version, None)?;
            tx.append_audit(&crate::store::AuditRecord {
                at_ms: now,
                actor: user.name.clone(),
                device: Some(device.id),
                action: "device.enrol".into(),
                subject: device.id.to_string(),
                detail: format!(
                    "label {:?} from {}{}",
                    device.label,
                    remote.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                    if again {
                        "; again with the same device key (the first answer was lost): new token"
                    } else {
                        ""
                    }
                ),
            })?;
            Ok(Ok(user))
        })??;
        tracing::info!(device = %device.id, user = %user.name, "device enrolled");
        let session = Session {
            device_id: device.id,
            user: user.name.clone(),
            role: user.role,
            cells: user.cells.clone(),
            remote,
            seen_noted_ms: None,
        };
        Ok((
            session,
            Enrolled {
                device_id: device.id,
                token: token.to_vec(),
                user: user.name,
                role: user.role,
                limits: self.device_limits(),
                store_epoch: self.store_epoch,
            },
        ))
    }

    /// Names this store's data (`Welcome::store_epoch`).
    pub fn store_epoch(&self) -> Uuid {
        self.store_epoch
    }

    /// Creates a one-time enrolment secret for `user`; returns the secret.
    pub fn new_enrolment_secret(&self, user: &str) -> ServiceResult<String> {
        self.new_enrolment_secret_audited(user, None)
    }

    /// As [`Service::new_enrolment_secret`], appending `audit` (if any) in
    /// the same transaction as the code.
    pub fn new_enrolment_secret_audited(
        &self,
        user: &str,
        audit: Option<&crate::store::AuditRecord>,
    ) -> ServiceResult<String> {
        let bytes: [u8; 16] = rand::random();
        let secret = gridwarden_protocol::enrolment::hex(&bytes);
        let now = self.now();
        crate::store::write(self.store.as_ref(), |tx| {
            tx.create_enrolment(
                user,
                hash32(secret.as_bytes()),
                now,
                now + self.limits.enrolment_ttl_ms,
            )?;
            if let Some(audit) = audit {
                tx.append_audit(audit)?;
            }
            Ok(())
        })?;
        Ok(secret)
    }

    /// Serves one request of an authenticated session.
    pub fn handle(&self, session: &Session, message: ClientMessage) -> ServerMessage {
        let what = request_name(&message);
        crate::metrics::get().request(what);
        // The checks and lookups before the request's write (or all of a
        // pull) read one snapshot (`Transact::in_one_snapshot`).
        let result = crate::store::in_one_snapshot(self.store.as_ref(), || {
            self.handle_inner(session, message)
        });
        result.unwrap_or_else(|e| {
            if let ServiceError::Refused { code, message } = &e {
                self.audit_refusal(refusals::Refused {
                    user: Some(&session.user),
                    device: Some(session.device_id),
                    remote: session.remote,
                    what,
                    subject: String::new(),
                    code: *code,
                    why: message,
                });
            }
            ServerMessage::Error(e.to_wire())
        })
    }

    fn handle_inner(
        &self,
        session: &Session,
        message: ClientMessage,
    ) -> ServiceResult<ServerMessage> {
        let now = self.session_now(session)?;
        let session = now.as_ref().unwrap_or(session);
        match message {
            ClientMessage::Push(push) => self.push(session, push).map(ServerMessage::Ack),
            ClientMessage::Pull(pull) => self.pull(session, pull).map(ServerMessage::PullPage),
            ClientMessage::FetchReference(f) => self.reference(f).map(ServerMessage::Reference),
            ClientMessage::PhotoOffer(offer) => self
                .photo_offer(session, &offer)
                .map(ServerMessage::PhotoStatus),
            ClientMessage::PhotoChunk(chunk) => self
                .photo_chunk(session, &chunk)
                .map(ServerMessage::PhotoStatus),
            ClientMessage::FetchPhoto(fetch) => self
                .fetch_photo(session, &fetch)
                .map(ServerMessage::PhotoData),
            ClientMessage::ListPatrols(list) => self
                .list_patrols(session, &list)
                .map(ServerMessage::Patrols),
            ClientMessage::FetchPatrol(fetch) => self
                .fetch_patrol(session, fetch.patrol_id)
                .map(ServerMessage::PatrolTrack),
            ClientMessage::FetchCells(fetch) => self
                .fetch_cells(session, fetch)
                .map(ServerMessage::CellPage),
            ClientMessage::Hello(_) | ClientMessage::Enroll(_) => Err(ServiceError::refused(
                ErrorCode::UnexpectedMessage,
                "this connection is already authenticated",
            )),
            // The edge unpacks a packed request (`versions::decode_client`);
            // one reaching here came round it.
            ClientMessage::Packed(_) => Err(ServiceError::refused(
                ErrorCode::UnexpectedMessage,
                "a packed request must be unpacked before it is served",
            )),
        }
    }

    pub fn push(&self, session: &Session, push: Push) -> ServiceResult<Ack> {
        // The session's user may have changed (disabled) since hello.
        let user = self.active_user(&session.user)?;
        self.push_as(session, user, push, None)
    }

    /// A push made by an admin command on a device's behalf (`recover`):
    /// `audit` makes its line from the outcomes, written in the push's own
    /// transaction.
    pub fn push_audited(
        &self,
        session: &Session,
        push: Push,
        audit: &PushAudit,
    ) -> ServiceResult<Ack> {
        let user = self.active_user(&session.user)?;
        self.push_as(session, user, push, Some(audit))
    }

    /// A push by `user` (a stored user, or a hotline standing in for one:
    /// `hotline.rs`), decided by the same rules in the same transaction.
    fn push_as(
        &self,
        session: &Session,
        user: User,
        push: Push,
        audit: Option<&PushAudit>,
    ) -> ServiceResult<Ack> {
        if push.ops.len() > self.limits.max_push_ops {
            return Err(ServiceError::refused(
                ErrorCode::InvalidInput,
                format!(
                    "a push may carry at most {} ops, this one has {}",
                    self.limits.max_push_ops,
                    push.ops.len()
                ),
            ));
        }
        let (layer, grid) = self.versioned_grid()?;
        let categories = self.categories()?;
        let now = self.now();
        // Device clocks are not folded into the server's: the server's clock
        // stamps only what the server alone writes (grid cells), and a fast
        // phone must not drag it, and through it every device, ahead.
        let skew_limit = now as u64 + self.limits.max_clock_skew_ms;
        let live = self.live_cases(&push.ops)?;
        let disabled = self.disabled_period(&user.name)?;
        // An op stamped while its user was disabled was queued on a phone IT
        // had cut off; applying it after the re-enable would put it in the
        // record as theirs.
        let while_disabled = |op: &Op| {
            let at = op.hlc.wall_ms as i64;
            match disabled {
                Some((from, to)) if at >= from && at < to => Err(Rejection::new(
                    ErrorCode::Forbidden,
                    format!(
                        "this change was made while user `{}` was disabled; it is not applied",
                        user.name
                    ),
                )),
                _ => Ok(()),
            }
        };
        // What the push touched, for the devices to notify once it commits.
        let touched = self.notifier.heard().then(notify::Collected::default);
        let decide = |op: &Op, current: Option<&ReportState>| {
            if op.hlc.wall_ms > skew_limit {
                return Err(clock_ahead(op.hlc.wall_ms - now as u64));
            }
            while_disabled(op)?;
            let live_case = match &op.body {
                OpBody::Report { report_id, .. } => live.contains(report_id),
                _ => false,
            };
            let context = ReportContext {
                categories: &categories,
                grid: grid.as_deref(),
                limits: &self.limits,
                now_ms: now,
                live_case,
            };
            let state = decide(session, op, current, &context, || self.tick())?;
            if let Some(touched) = &touched {
                touched.report(&state);
            }
            Ok(state)
        };
        let decide_patrol = |op: &Op, current: Option<&crate::store::StoredPatrol>| {
            if op.hlc.wall_ms > skew_limit {
                return Err(clock_ahead(op.hlc.wall_ms - now as u64));
            }
            while_disabled(op)?;
            patrols::decide(session, op, current, now, self.limits.max_clock_skew_ms)
        };
        let digest_track = |stored: Option<&[u8]>, before: &[TrackPoint], after: &[TrackPoint]| {
            patrols::digest(stored, before, after, grid.as_deref(), layer)
        };
        // What case decisions need, loaded only for a push that has case ops.
        let has_cases = push
            .ops
            .iter()
            .any(|op| matches!(op.body, OpBody::Case { .. }));
        let (calendar, departments, routes, department) = if has_cases {
            (
                self.calendar()?,
                self.store
                    .departments()?
                    .into_iter()
                    .map(|d| d.code)
                    .collect(),
                self.store.category_routes()?,
                self.store.user_department(&user.name)?,
            )
        } else {
            (WorkingCalendar::default_china(), vec![], vec![], None)
        };
        let mut verifiers = std::collections::HashMap::new();
        for op in &push.ops {
            if let OpBody::Case {
                op:
                    gridwarden_protocol::case::CaseOp::SendForVerification {
                        verifier: Some(name),
                    },
                ..
            } = &op.body
            {
                if let Some(u) = self.store.user(name)? {
                    verifiers.insert(name.clone(), u);
                }
            }
        }
        let case_context = cases::CaseContext {
            verifiers: &verifiers,
            user: &user,
            department: department.as_deref(),
            categories: &categories,
            calendar: &calendar,
            departments: &departments,
            routes: &routes,
            now_ms: now,
        };
        let decide_case = |op: &Op, report: Option<&ReportState>, case: Option<&CaseState>| {
            if op.hlc.wall_ms > skew_limit {
                return Err(clock_ahead(op.hlc.wall_ms - now as u64));
            }
            while_disabled(op)?;
            let decided = cases::decide(session, op, report, case, &case_context)?;
            if let (Some(touched), Some(report)) = (&touched, report) {
                match &op.body {
                    OpBody::Case {
                        op:
                            gridwarden_protocol::case::CaseOp::SendForVerification {
                                verifier: Some(name),
                            },
                        ..
                    } => touched.task(report, name),
                    _ => touched.report(report),
                }
            }
            Ok(decided)
        };
        let amend = |op: &Op, before: &ReportState, after: &ReportState, case: &CaseState| {
            cases::amendment(session, &user, op, before, after, case, now)
        };
        let rules = Rules {
            report: &decide,
            patrol: &decide_patrol,
            track: &digest_track,
            case: &decide_case,
            amend: &amend,
        };
        // The clock after every decision of the push, stored in the push's
        // own transaction: one commit (one fsync) per push, not two.
        let server_hlc = std::cell::Cell::new(Hlc::ZERO);
        let stamp = |stored: Option<Hlc>| {
            server_hlc.set(self.tick_after(stored));
            format_hlc(server_hlc.get())
        };
        let started = std::time::Instant::now();
        let outcomes = crate::store::write(self.store.as_ref(), |tx| {
            let outcomes = tx.apply_ops(session.device_id, &push.ops, &rules, now)?;
            // Another process sharing the database may have stamped later:
            // the stored clock is folded in, so stamps grow across processes.
            let stored = tx.meta(SERVER_HLC_KEY)?.and_then(|v| parse_hlc(&v));
            tx.set_meta(SERVER_HLC_KEY, &stamp(stored))?;
            if let Some(audit) = audit {
                tx.append_audit(&audit(&outcomes))?;
            }
            Ok(outcomes)
        })?;
        let metrics = crate::metrics::get();
        metrics.store_time("push", started.elapsed());
        let server_hlc = server_hlc.get();
        if let Some(touched) = touched {
            let applied = push.ops.iter().zip(&outcomes).filter_map(|(op, outcome)| {
                match (&op.body, outcome) {
                    (
                        OpBody::Report { report_id, .. } | OpBody::Case { report_id, .. },
                        gridwarden_protocol::Outcome::Applied,
                    ) => Some(*report_id),
                    _ => None,
                }
            });
            self.notifier.publish(notify::Change {
                by_device: session.device_id,
                reports: touched.take(applied),
                users: Vec::new(),
            });
        }
        self.pushed.pushed(
            session.device_id,
            push.ops
                .iter()
                .zip(&outcomes)
                .filter_map(|(op, outcome)| match (&op.body, outcome) {
                    (
                        OpBody::Report { report_id, .. },
                        gridwarden_protocol::Outcome::Applied
                        | gridwarden_protocol::Outcome::Duplicate,
                    ) => Some(*report_id),
                    _ => None,
                }),
        );
        for (op, outcome) in push.ops.iter().zip(&outcomes) {
            match outcome {
                gridwarden_protocol::Outcome::Applied => {
                    metrics.ops_applied.inc();
                }
                gridwarden_protocol::Outcome::Duplicate => {
                    metrics.ops_duplicate.inc();
                }
                gridwarden_protocol::Outcome::Rejected { code, .. } => metrics.refused_op(*code),
            }
            // A clock refusal is routine: the device re-stamps and re-sends.
            if let gridwarden_protocol::Outcome::Rejected { code, reason } = outcome {
                if *code != ErrorCode::ClockSkew {
                    self.audit_refusal(refusals::Refused {
                        user: Some(&session.user),
                        device: Some(session.device_id),
                        remote: session.remote,
                        what: op_name(op),
                        subject: op_subject(op).to_string(),
                        code: *code,
                        why: reason,
                    });
                }
            }
        }
        let results = push
            .ops
            .iter()
            .zip(outcomes)
            .map(|(op, outcome)| OpResult {
                op_id: op.op_id,
                outcome,
            })
            .collect();
        Ok(Ack {
            results,
            server_hlc,
        })
    }

    /// The reports edited or deleted by `ops` whose case is registered or
    /// later: their fields are the case's record now.
    fn live_cases(&self, ops: &[Op]) -> ServiceResult<std::collections::HashSet<Uuid>> {
        let ids: Vec<Uuid> = ops
            .iter()
            .filter_map(|op| match &op.body {
                OpBody::Report {
                    report_id,
                    op: ReportOp::Edit(_) | ReportOp::Delete,
                } => Some(*report_id),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(Default::default());
        }
        Ok(self
            .store
            .cases_of(&ids)?
            .into_iter()
            .filter(|c| !matches!(c.status, CaseStatus::Reported | CaseStatus::Rejected))
            .map(|c| c.report_id)
            .collect())
    }

    /// When `user` was last disabled, and until when (now, if still or
    /// never enabled since); `None` if never disabled.
    fn disabled_period(&self, user: &str) -> ServiceResult<Option<(i64, i64)>> {
        let read = |disabled| -> ServiceResult<Option<i64>> {
            Ok(self
                .store
                .meta(&disabled_period_key(user, disabled))?
                .and_then(|v| v.parse().ok()))
        };
        let Some(from) = read(true)? else {
            return Ok(None);
        };
        let to = read(false)?.filter(|to| *to >= from).unwrap_or(i64::MAX);
        Ok(Some((from, to)))
    }

    pub fn pull(&self, session: &Session, pull: Pull) -> ServiceResult<PullPage> {
        let user = self.active_user(&session.user)?;
        let scoped = authz::pull_is_scoped(user.role, !user.cells.is_empty());
        let now: scope::Cells = scoped.then(|| user.cells.iter().cloned().collect());
        // A cursor issued for another scope than the user's now first
        // catches up over the cells that changed (`service/scope.rs`).
        let position = scope::next(self.cursor_key.decode(&pull.cursor, &now), &now);
        let (after_seq, catch_up) = match position {
            scope::Position::At { seq, .. } => (seq, None),
            scope::Position::CatchUp(c) => (c.at, Some(c)),
        };
        let store_scope = match &catch_up {
            Some(c) => c.store_scope(),
            None if scoped => Some(Scope::Cells {
                user: user.name.clone(),
                cells: user.cells.clone(),
            }),
            None => Some(Scope::All),
        };
        let Some(store_scope) = store_scope else {
            // No cell the device could hold changed: on with the feed.
            let c = catch_up.expect("only a catch-up reads nothing");
            return Ok(PullPage {
                records: Vec::new(),
                cursor: self.cursor_key.encode(&c.after(0, false)),
                more: true,
            });
        };
        // Leave room in the frame for the page's own framing.
        let byte_cap = self.limits.max_frame.saturating_sub(64 * 1024).max(1);
        let query = PullQuery {
            after_seq,
            scope: store_scope,
            max_records: (pull.max_records as usize).clamp(1, self.limits.max_page_records),
            max_bytes: (pull.max_bytes as usize).clamp(1, byte_cap),
        };
        // Each report's case travels right after it. Cases are not in the
        // store's byte budget, so the page is cut down until both fit.
        let mut query = query;
        query.max_bytes = (query.max_bytes / 2).max(1);
        let (page, records) = loop {
            let started = std::time::Instant::now();
            let mut page = self.store.pull(&query)?;
            if let Some(c) = &catch_up {
                page = c.filter(self.store.as_ref(), &user.name, page)?;
            }
            let records = self.with_cases(&page, session.device_id)?;
            crate::metrics::get().store_time("pull", started.elapsed());
            let has_cases = records.len() > page.items.len();
            let fits = !has_cases || gridwarden_protocol::codec::encoded_len(&records) <= byte_cap;
            if fits || page.items.len() <= 1 {
                break (page, records);
            }
            query.max_records = page.items.len() / 2;
        };
        let metrics = crate::metrics::get();
        metrics.pull_pages.inc();
        metrics.pull_records.inc_by(records.len() as u64);
        if let Some(c) = catch_up {
            // The feed follows the catch-up: there is always more.
            return Ok(PullPage {
                records,
                cursor: self.cursor_key.encode(&c.after(page.last_seq, page.more)),
                more: true,
            });
        }
        if !page.more {
            self.pushed.pulled_all(session.device_id);
        }
        Ok(PullPage {
            records,
            cursor: self.cursor_key.encode(&scope::Position::At {
                seq: page.last_seq,
                scope: now,
            }),
            more: page.more,
        })
    }

    /// A page's records for `device`, each report's case right after it.
    fn with_cases(&self, page: &crate::store::Page, device: Uuid) -> ServiceResult<Vec<Record>> {
        let ids: Vec<Uuid> = page
            .items
            .iter()
            .filter_map(|item| match item {
                FeedItem::Report(state) => Some(state.id),
                FeedItem::OutOfScope(_) => None,
            })
            .collect();
        let mut cases: std::collections::HashMap<Uuid, CaseState> = self
            .store
            .cases_of(&ids)?
            .into_iter()
            .map(|c| (c.report_id, c))
            .collect();
        // A report nobody acted on yet has its case all the same, with the
        // registration deadline running from its recording: so it turns
        // overdue on every device (`cases --overdue`, KPIs) without waiting
        // for a first step. The first step starts from the same case.
        let fresh = (ids.len() > cases.len())
            .then(|| Ok::<_, ServiceError>((self.categories()?, self.calendar()?)))
            .transpose()?;
        let mut records = Vec::with_capacity(page.items.len() * 2);
        for item in &page.items {
            match item {
                FeedItem::Report(state) => {
                    let case = cases.remove(&state.id).or_else(|| {
                        let (categories, calendar) = fresh.as_ref()?;
                        (state.origin.is_some() && !state.is_deleted())
                            .then(|| cases::initial_case(state, categories, calendar))
                    });
                    records.push(Record::Report(
                        self.pushed.what_the_device_lacks(state, device),
                    ));
                    records.extend(case.map(Record::Case));
                }
                FeedItem::OutOfScope(report_id) => records.push(Record::OutOfScope {
                    report_id: *report_id,
                }),
            }
        }
        Ok(records)
    }

    pub fn reference(&self, fetch: FetchReference) -> ServiceResult<Reference> {
        let categories = self.categories()?;
        let categories =
            (fetch.categories_version != Some(categories.version)).then(|| (*categories).clone());
        // Layers travel in pages (`FetchCells`): a city's does not fit in
        // one frame. The field stays for the message's shape.
        Ok(Reference {
            categories,
            grid: None,
        })
    }

    /// Assigns grid cells from the current layer: to unassigned reports, or
    /// to every report when `all` is set. Returns how many changed.
    pub fn reassign(&self, all: bool) -> ServiceResult<usize> {
        self.reassign_where(!all, &|_| true)
    }

    /// Recomputes the cell of the live reports `movable` accepts (of those
    /// without a cell only, with `only_unassigned`) against the current
    /// layer. A changed cell is stored as the server's change of the report:
    /// it moves in the feed, so the devices of the cell it leaves and of
    /// the cell it enters pull it, and the console follows.
    pub fn reassign_where(
        &self,
        only_unassigned: bool,
        movable: &dyn Fn(&ReportState) -> bool,
    ) -> ServiceResult<usize> {
        self.reassign_audited(only_unassigned, movable, None)
    }

    /// As [`Service::reassign_where`]; `audit` makes the admin action's line
    /// from the number of reports that moved, written in the same
    /// transaction as the moves.
    pub fn reassign_audited(
        &self,
        only_unassigned: bool,
        movable: &dyn Fn(&ReportState) -> bool,
        audit: Option<&dyn Fn(usize) -> crate::store::AuditRecord>,
    ) -> ServiceResult<usize> {
        let Some(grid) = self.grid()? else {
            return Ok(0);
        };
        // The reports re-placed, for the devices to notify once it commits.
        let moved = self
            .notifier
            .heard()
            .then(|| std::cell::RefCell::new(std::collections::HashMap::new()));
        let reassign = |state: &ReportState| {
            if !movable(state) {
                return None;
            }
            let loc = state.location()?;
            let cell = grid.assign(loc.lon, loc.lat).code().map(str::to_owned);
            if state.grid_cell.as_ref().is_some_and(|g| g.value == cell) {
                return None;
            }
            let mut next = state.clone();
            next.set_grid_cell(cell, self.tick());
            if let Some(moved) = &moved {
                // Both cells' devices hear of it: one gains the report, the
                // other's copy leaves at its next pull.
                moved.borrow_mut().insert(
                    state.id,
                    [notify::Touched::of(state), notify::Touched::of(&next)],
                );
            }
            Some(next)
        };
        let now = self.now();
        let changed = crate::store::write(self.store.as_ref(), |tx| {
            if let Some(moved) = &moved {
                // A unit of work run again starts its list again.
                moved.borrow_mut().clear();
            }
            let changed = tx.reassign(only_unassigned, &reassign, now)?;
            tx.set_meta(SERVER_HLC_KEY, &format_hlc(self.tick()))?;
            if let Some(audit) = audit {
                tx.append_audit(&audit(changed))?;
            }
            Ok(changed)
        })?;
        if let Some(moved) = moved {
            let reports = moved.into_inner().into_values().flatten().collect();
            self.notifier.publish(notify::Change {
                by_device: Uuid::nil(),
                reports,
                users: Vec::new(),
            });
            self.notifier.flush();
        }
        Ok(changed)
    }
}

/// The rules for one pushed op: validation, ownership, merge, grid cell.
/// What deciding a report op needs besides the op and the stored state.
struct ReportContext<'a> {
    categories: &'a CategoryTable,
    grid: Option<&'a GridIndex>,
    limits: &'a Limits,
    now_ms: i64,
    /// The report's case is registered or later.
    live_case: bool,
}

fn decide(
    session: &Session,
    op: &Op,
    current: Option<&ReportState>,
    cx: &ReportContext,
    tick: impl Fn() -> Hlc,
) -> Result<ReportState, Rejection> {
    let ReportContext {
        categories,
        grid,
        limits,
        now_ms,
        live_case,
    } = *cx;
    let OpBody::Report {
        report_id,
        op: report_op,
    } = &op.body
    else {
        return Err(Rejection::new(
            ErrorCode::Internal,
            "not a report op (a server bug)",
        ));
    };
    own_clock(session, op)?;
    let invalid = |e: gridwarden_protocol::ProtocolError| {
        Rejection::new(ErrorCode::InvalidInput, e.to_string())
    };
    let known_category = |code: &str| {
        if categories.get(code).is_none() {
            return Err(Rejection::new(
                ErrorCode::UnknownCategory,
                format!("category `{code}` is not in the server's table; pick one from `gridwarden categories`"),
            ));
        }
        Ok(())
    };
    let note_fits = |note: &str| {
        let chars = note.chars().count();
        if chars > limits.max_note_chars {
            return Err(Rejection::new(
                ErrorCode::InvalidInput,
                format!(
                    "the note is {chars} characters; this server accepts at most {}: shorten it",
                    limits.max_note_chars
                ),
            ));
        }
        Ok(())
    };
    let mut state = current
        .cloned()
        .unwrap_or_else(|| ReportState::empty(*report_id));
    match report_op {
        ReportOp::Create(new) => {
            validate::new_report(new).map_err(invalid)?;
            observed::check(
                "observed",
                new.observed_at_ms,
                now_ms,
                limits.max_clock_skew_ms,
            )?;
            note_fits(&new.note)?;
            known_category(&new.category)?;
            if let Some(origin) = &state.origin {
                if origin.device != session.device_id {
                    return Err(Rejection::new(
                        ErrorCode::Conflict,
                        "this report id is already used by another device",
                    ));
                }
            }
        }
        ReportOp::Edit(edit) => {
            validate::report_edit(edit).map_err(invalid)?;
            if let Some(note) = &edit.note {
                note_fits(note)?;
            }
            if let Some(code) = &edit.category {
                known_category(code)?;
            }
            may_change(session, &state, Action::EditReport)?;
            if live_case {
                may_change(session, &state, Action::ChangeLiveCase)?;
                if let (Some(loc), Some(grid)) = (edit.location, grid) {
                    let assigned = grid.assign(loc.lon, loc.lat);
                    let into = Target {
                        owner: state.origin.as_ref().map(|o| o.reporter.as_str()),
                        cell: assigned.code(),
                    };
                    authz::check(&session.actor(), Action::MoveCaseInto, &into)?;
                }
            }
        }
        ReportOp::Delete => {
            may_change(session, &state, Action::DeleteReport)?;
            if live_case {
                may_change(session, &state, Action::DeleteLiveCase)?;
            }
        }
        ReportOp::AttachPhotos(photos) => {
            validate::photo_refs(photos).map_err(invalid)?;
            may_change(session, &state, Action::AttachPhoto)?;
            photos::check_attach(&state, photos, limits)?;
        }
    }
    let location_before = state.location();
    state.apply(report_op, op.hlc, &session.user, session.device_id);
    let location = state.location();
    if let (Some(grid), Some(loc)) = (grid, location) {
        if location != location_before || state.grid_cell.is_none() {
            let cell = grid.assign(loc.lon, loc.lat).code().map(str::to_owned);
            state.set_grid_cell(cell, tick());
        }
    }
    Ok(state)
}

/// The meta key holding when `user` was last disabled (`disabled`) or
/// enabled again.
pub fn disabled_period_key(user: &str, disabled: bool) -> String {
    let what = if disabled {
        "disabled_ms"
    } else {
        "enabled_ms"
    };
    format!("user.{what}.{user}")
}

/// A request's name, for the audit log.
fn request_name(m: &ClientMessage) -> &'static str {
    match m {
        ClientMessage::Hello(_) => "hello",
        ClientMessage::Enroll(_) => "enroll",
        ClientMessage::Push(_) => "push",
        ClientMessage::Pull(_) => "pull",
        ClientMessage::FetchReference(_) => "fetch reference",
        ClientMessage::PhotoOffer(_) => "photo offer",
        ClientMessage::PhotoChunk(_) => "photo upload",
        ClientMessage::FetchPhoto(_) => "photo download",
        ClientMessage::ListPatrols(_) => "list patrols",
        ClientMessage::FetchPatrol(_) => "fetch patrol",
        ClientMessage::FetchCells(_) => "fetch cells",
        ClientMessage::Packed(_) => "packed",
    }
}

/// An op's name, for the audit log: `report.edit`, `case.dispatch`, …
fn op_name(op: &Op) -> &'static str {
    match &op.body {
        OpBody::Report { op, .. } => match op {
            ReportOp::Create(_) => "report.create",
            ReportOp::Edit(_) => "report.edit",
            ReportOp::Delete => "report.delete",
            ReportOp::AttachPhotos(_) => "report.attach_photos",
        },
        OpBody::Patrol { .. } => "patrol",
        OpBody::Case { .. } => "case step",
    }
}

/// The report or patrol an op is about.
fn op_subject(op: &Op) -> Uuid {
    match &op.body {
        OpBody::Report { report_id, .. } | OpBody::Case { report_id, .. } => *report_id,
        OpBody::Patrol { patrol_id, .. } => *patrol_id,
    }
}

fn revoked() -> ServiceError {
    ServiceError::refused(
        ErrorCode::Unauthenticated,
        "this device was revoked by IT and may no longer sync; ask IT to enrol it again",
    )
}

/// An op stamped far in the future would win every later edit by honest
/// devices, so it is refused; the device corrects its clock from the
/// server's time at its next hello.
fn clock_ahead(ahead_ms: u64) -> Rejection {
    let minutes = (ahead_ms + 30_000) / 60_000;
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    Rejection::new(
        ErrorCode::ClockSkew,
        format!(
            "this phone's clock is {days} d {hours} h {mins} min ahead of the server's; \
             set the phone's date and time correctly and record the change again"
        ),
    )
}

/// Every op carries its device's clock; one stamped with another device's
/// node id would let a device write history in another's name.
fn own_clock(session: &Session, op: &Op) -> Result<(), Rejection> {
    if op.hlc.node != node_id(session.device_id) {
        return Err(Rejection::new(
            ErrorCode::InvalidInput,
            "the op's clock does not belong to this device",
        ));
    }
    Ok(())
}

/// Edits, deletes and photo attachments, by the rules of [`authz`].
fn may_change(session: &Session, state: &ReportState, action: Action) -> Result<(), Rejection> {
    let Some(origin) = &state.origin else {
        return Err(Rejection::new(
            ErrorCode::NotFound,
            "the server has no such report; it may not have synced yet",
        ));
    };
    let target = Target {
        owner: Some(&origin.reporter),
        cell: state.grid_cell(),
    };
    authz::check(&session.actor(), action, &target)?;
    Ok(())
}

fn format_hlc(h: Hlc) -> String {
    format!("{}.{}", h.wall_ms, h.counter)
}

fn parse_hlc(s: &str) -> Option<Hlc> {
    let (wall, counter) = s.split_once('.')?;
    Some(Hlc::new(
        wall.parse().ok()?,
        counter.parse().ok()?,
        SERVER_NODE,
    ))
}

#[cfg(test)]
mod tests {
    use gridwarden_protocol::{Location, NewReport, Outcome, Push};

    use super::*;
    use crate::admin;
    use crate::datadir::DataDir;

    fn enrolled(data: &DataDir, user: &str, role: Role) -> Session {
        admin::add_user(data, user, role, vec![]).unwrap();
        let secret = data.service.new_enrolment_secret(user).unwrap();
        let enroll = Enroll {
            protocol_version: gridwarden_protocol::PROTOCOL_VERSION,
            secret,
            device_label: "t".into(),
        };
        data.service.enroll(&enroll).unwrap().0
    }

    fn create(session: &Session, wall_ms: u64, note: &str) -> Op {
        Op {
            op_id: Uuid::now_v7(),
            hlc: Hlc::new(wall_ms, 0, node_id(session.device_id)),
            body: OpBody::Report {
                report_id: Uuid::now_v7(),
                op: ReportOp::Create(NewReport {
                    category: "0101".into(),
                    location: Location {
                        lon: 111.6874,
                        lat: 40.84945,
                        accuracy_m: None,
                    },
                    address: None,
                    note: note.into(),
                    observed_at_ms: gridwarden_protocol::clock::Clock::now_ms(
                        &gridwarden_protocol::clock::SystemClock,
                    ) as i64,
                    patrol: None,
                    asset: None,
                }),
            },
        }
    }

    #[test]
    fn a_kept_connection_writes_the_time_seen_once_every_five_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let clock = gridwarden_protocol::clock::ManualClock::new(1_767_225_600_000);
        let data = DataDir::open_with_clock(dir.path(), Limits::default(), clock.clone()).unwrap();
        admin::add_user(&data, "ann", Role::Warden, vec![]).unwrap();
        let secret = data.service.new_enrolment_secret("ann").unwrap();
        let enroll = Enroll {
            protocol_version: gridwarden_protocol::PROTOCOL_VERSION,
            secret,
            device_label: "t".into(),
        };
        let (_, enrolled) = data.service.enroll(&enroll).unwrap();
        let hello = Hello {
            protocol_version: gridwarden_protocol::PROTOCOL_VERSION,
            device_id: enrolled.device_id,
            token: enrolled.token,
            client: "test 1".into(),
        };
        let seen = || {
            let device = data.store().device(enrolled.device_id).unwrap().unwrap();
            device.last_seen_ms
        };
        let start = data.service.now();
        let (session, _) = data.service.hello(&hello).unwrap();
        assert_eq!(seen(), Some(start), "a new connection writes it");
        assert_eq!(session.seen_noted_ms, Some(start));

        // A minute later, on the same connection: answered, not written.
        clock.advance(60_000);
        let version = hello.protocol_version;
        let (session, welcome) = data.service.hello_again(&session, &hello, version).unwrap();
        assert_eq!(welcome.server_time_ms, (start + 60_000) as u64);
        assert_eq!(seen(), Some(start));
        assert_eq!(session.seen_noted_ms, Some(start), "still the first write");

        // Five minutes after the write: written again.
        clock.advance((SEEN_EVERY_MS - 60_000) as u64);
        let (session, _) = data.service.hello_again(&session, &hello, version).unwrap();
        assert_eq!(seen(), Some(start + SEEN_EVERY_MS));
        assert_eq!(session.seen_noted_ms, Some(start + SEEN_EVERY_MS));

        // A wall clock set back does not hold the write off.
        clock.jump(-3_600_000);
        data.service.hello_again(&session, &hello, version).unwrap();
        assert_eq!(seen(), Some(start + SEEN_EVERY_MS - 3_600_000));

        // A new connection writes at once, whenever the last write was.
        clock.jump(3_600_000);
        clock.advance(1_000);
        data.service.hello(&hello).unwrap();
        assert_eq!(seen(), Some(start + SEEN_EVERY_MS + 1_000));

        // The session is read again all the same: a revoked device is
        // refused on its kept connection within the five minutes.
        let (session, _) = data.service.hello(&hello).unwrap();
        admin::revoke_device(&data, &enrolled.device_id.to_string()).unwrap();
        let refused = data.service.hello_again(&session, &hello, version);
        assert!(refused.is_err(), "{refused:?}");
    }

    #[test]
    fn each_request_is_served_with_the_users_cells_of_now() {
        // A kept connection says Hello only every few minutes (ADR 0041):
        // what IT changed since is read again by each request.
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), Limits::default()).unwrap();
        let bob = enrolled(&data, "bob", Role::Warden);
        let now = data.service.now() as u64;
        let report = create(&bob, now, "bob's report");
        let report_id = match &report.body {
            OpBody::Report { report_id, .. } => *report_id,
            other => panic!("{other:?}"),
        };
        let ack = data.service.push(&bob, Push { ops: vec![report] }).unwrap();
        assert_eq!(ack.results[0].outcome, Outcome::Applied);

        // Sam's connection began as a supervisor of the whole city.
        let sam = enrolled(&data, "sam", Role::Supervisor);
        assert!(sam.cells.is_empty());
        assert_eq!(data.service.session_now(&sam).unwrap(), None, "unchanged");

        // IT makes Sam the supervisor of another district (as `users cells`
        // writes it; a cell the report is not in).
        crate::store::write(&**data.store(), |tx| {
            tx.set_user_cells("sam", &["elsewhere".into()])
        })
        .unwrap();
        let renewed = data.service.session_now(&sam).unwrap().expect("rescoped");
        assert_eq!(renewed.cells, ["elsewhere"]);
        assert_eq!(
            (
                renewed.device_id,
                &renewed.user,
                renewed.role,
                renewed.seen_noted_ms
            ),
            (sam.device_id, &sam.user, sam.role, sam.seen_noted_ms),
            "the same connection's session"
        );
        assert_eq!(data.service.session_now(&renewed).unwrap(), None);

        // A push on the session of the connection's Hello: served as the
        // district's supervisor, who may not edit a report outside it.
        let edit = Op {
            op_id: Uuid::now_v7(),
            hlc: Hlc::new(now + 1, 0, node_id(sam.device_id)),
            body: OpBody::Report {
                report_id,
                op: ReportOp::Edit(gridwarden_protocol::ReportEdit {
                    note: Some("sam's edit".into()),
                    ..Default::default()
                }),
            },
        };
        let push = ClientMessage::Push(Push { ops: vec![edit] });
        match data.service.handle(&sam, push) {
            ServerMessage::Ack(ack) => assert!(
                matches!(
                    &ack.results[0].outcome,
                    Outcome::Rejected {
                        code: ErrorCode::Forbidden,
                        ..
                    }
                ),
                "{ack:?}"
            ),
            other => panic!("{other:?}"),
        }

        // Disabled by IT: refused on the session it had.
        admin::set_user_disabled(&data, "sam", true).unwrap();
        let refused = data.service.session_now(&renewed);
        assert!(
            matches!(
                &refused,
                Err(ServiceError::Refused {
                    code: ErrorCode::Unauthenticated,
                    ..
                })
            ),
            "{refused:?}"
        );
        match data
            .service
            .handle(&sam, ClientMessage::Push(Push { ops: vec![] }))
        {
            ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::Unauthenticated),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ops_stamped_beyond_the_allowed_skew_are_refused_and_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path(), Limits::default()).unwrap();
        let ann = enrolled(&data, "ann", Role::Warden);
        let now = data.service.now() as u64;
        let year = 365 * 24 * 3600 * 1000;
        let half_bound = Limits::default().max_clock_skew_ms / 2;
        let ops = vec![
            create(&ann, now + year, "from the future"),
            create(&ann, now + half_bound, "a bit fast"),
        ];
        let ack = data.service.push(&ann, Push { ops }).unwrap();
        match &ack.results[0].outcome {
            Outcome::Rejected {
                code: ErrorCode::ClockSkew,
                reason,
            } => {
                assert!(
                    reason.contains("365 d") && reason.contains("date and time"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ack.results[1].outcome,
            Outcome::Applied,
            "within the tolerance"
        );
        let stored = data.store().reports(false).unwrap();
        assert_eq!(stored.len(), 1);
        // Observed times are checked too: before 2020, or days ahead.
        let mut old = create(&ann, now, "1970");
        let mut ahead = create(&ann, now, "in three days");
        for (op, observed) in [(&mut old, 5), (&mut ahead, now as i64 + 3 * 86_400_000)] {
            if let OpBody::Report {
                op: ReportOp::Create(new),
                ..
            } = &mut op.body
            {
                new.observed_at_ms = observed;
            }
        }
        let ack = data
            .service
            .push(
                &ann,
                Push {
                    ops: vec![old, ahead],
                },
            )
            .unwrap();
        let reasons: Vec<String> = ack
            .results
            .iter()
            .map(|r| match &r.outcome {
                Outcome::Rejected {
                    code: ErrorCode::InvalidInput,
                    reason,
                } => reason.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reasons[0].contains("before 2020"), "{}", reasons[0]);
        assert!(reasons[1].contains("3 d 0 h 0 min after"), "{}", reasons[1]);
        assert!(
            ack.server_hlc.wall_ms < now + year,
            "a refused clock does not drag the server's along"
        );
    }
}
