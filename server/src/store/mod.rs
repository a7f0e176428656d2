//! The storage boundary of the server. Everything the server keeps goes
//! through [`Store`], so a PostgreSQL-compatible backend can replace the
//! embedded SQLite one without touching the protocol or the service logic
//! (docs/adr/0004-store-trait.md). Every backend runs the shared suite in
//! `suite.rs`.
//!
//! The trait is blocking: the async edge calls it from `spawn_blocking`.

pub mod sqlite;
#[cfg(test)]
mod suite;

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::grid::GridLayerWire;

pub use crate::grid::{GridMember, StoredCell};
use gridwarden_protocol::{
    ErrorCode, Op, Outcome, PatrolInfo, PhotoHash, ReportState, Role, TrackPoint,
};
use uuid::Uuid;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("the database at {path} was written by a newer gridwarden (schema {found}, this build knows {known}); upgrade the server")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// Grid cell codes the user covers.
    pub cells: Vec<String>,
    pub disabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub user: String,
    pub label: String,
    /// BLAKE3 of the device token; the token itself is never stored.
    pub token_hash: [u8; 32],
    pub enrolled_ms: i64,
    pub revoked_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    pub version: u64,
    pub name: String,
    pub imported_ms: i64,
    pub cell_count: u64,
}

/// Which reports a pull may return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Supervisors and admins: everything.
    All,
    /// Wardens and liaisons: reports in their cells, and their own reports.
    Cells { user: String, cells: Vec<String> },
}

#[derive(Clone, Debug)]
pub struct PullQuery {
    /// Return changes after this position of the feed.
    pub after_seq: u64,
    pub scope: Scope,
    pub max_records: usize,
    /// Stop adding records once their encoded size would pass this.
    pub max_bytes: usize,
}

/// One entry of a device's change feed.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "mirrors protocol::Record: nearly every item is a full report"
)]
pub enum FeedItem {
    /// A report in the device's scope, whole.
    Report(ReportState),
    /// A report that moved out of the device's scope (it covered a cell the
    /// report has left).
    OutOfScope(Uuid),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub items: Vec<FeedItem>,
    /// Feed position of the last record returned (or `after_seq` if none).
    pub last_seq: u64,
    pub more: bool,
}

/// Why the service refused one op; travels back to the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub reason: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// The service's decision for one op given the stored state of its report:
/// the new state, or why not. Backends call it inside their write
/// transaction, so every backend applies exactly the same rules.
pub type Decide<'a> = dyn Fn(&Op, Option<&ReportState>) -> Result<ReportState, Rejection> + 'a;

/// A patrol as stored: its facts and how many points its track holds.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPatrol {
    pub info: PatrolInfo,
    pub point_count: u32,
    /// What the service keeps of the track as its points arrive (its
    /// summary's parts; opaque here); `None` until points arrive after
    /// migration 0011.
    pub digest: Option<Vec<u8>>,
}

/// What a patrol op changes: the patrol's facts, and points to add to its
/// track (points already there are left as they are).
#[derive(Clone, Debug, PartialEq)]
pub struct PatrolChange {
    pub info: PatrolInfo,
    pub points: Vec<TrackPoint>,
}

/// The service's decision for one patrol op given the stored patrol.
pub type DecidePatrol<'a> =
    dyn Fn(&Op, Option<&StoredPatrol>) -> Result<PatrolChange, Rejection> + 'a;

/// What the service keeps of a patrol's track, given what it kept before and
/// the track before and after new points were added (each in any order):
/// the new digest. Called in the push's transaction, so a track and its
/// digest never disagree; the digest is what listings read, so they never
/// walk a track.
pub type DigestTrack<'a> = dyn Fn(Option<&[u8]>, &[TrackPoint], &[TrackPoint]) -> Vec<u8> + 'a;

/// The service's decision for one case op given the report and its case
/// (`None` while nobody acted on the report): the case's next state.
pub type DecideCase<'a> =
    dyn Fn(&Op, Option<&ReportState>, Option<&CaseState>) -> Result<CaseState, Rejection> + 'a;

/// What a report op that was applied writes into its case's history, given
/// the report before and after and the stored case: the case's next state
/// (an amendment when a live case's category or location changed), or
/// `None` to leave the case as it is. Decided in the same transaction, so
/// the report and its history change together.
pub type AmendCase<'a> = dyn Fn(&Op, &ReportState, &ReportState, &CaseState) -> Result<Option<CaseState>, Rejection>
    + 'a;

/// The rules a push is applied by, one per kind of entity.
pub struct Rules<'a> {
    pub report: &'a Decide<'a>,
    pub patrol: &'a DecidePatrol<'a>,
    pub track: &'a DigestTrack<'a>,
    pub case: &'a DecideCase<'a>,
    pub amend: &'a AmendCase<'a>,
}

/// A photo taken at a case step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CasePhotoUse {
    pub report_id: Uuid,
    pub taken_by: String,
    pub size: u64,
}

/// A department or utility company cases are dispatched to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Department {
    pub code: String,
    pub name: String,
    /// A utility company (公用事业单位) rather than a government department.
    pub utility: bool,
}

/// Which patrols a listing returns, newest start first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatrolFilter {
    pub warden: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
}

/// One line of the audit log, as appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub at_ms: i64,
    /// A user name, or `cli:OSUSER@HOST` for an admin command.
    pub actor: String,
    /// The device the action came from, if it came from one.
    pub device: Option<Uuid>,
    /// Dotted name of the action: `device.revoke`, `user.disable`, …
    pub action: String,
    /// What it acted on: a device id, a user name, a layer.
    pub subject: String,
    pub detail: String,
}

/// One line of the audit log, as stored: its place in the log and the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    pub record: AuditRecord,
}

/// The label of the device row each console user acts through.
pub const CONSOLE_DEVICE_LABEL: &str = "console (web)";

/// A signed-in console session, as stored. The cookie holds the token; only
/// its hash is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    pub token_hash: [u8; 32],
    pub user: String,
    /// The value every state-changing request must echo in `X-CSRF-Token`.
    pub csrf: String,
    /// The user's console device: steps taken in the console are its ops.
    pub device: Uuid,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// An Open311 client's key, as stored: only the BLAKE3 hash of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// The client's name: the reporter of its requests.
    pub name: String,
    pub key_hash: [u8; 32],
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// What an Open311 request carries besides the report it became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotlineRequest {
    pub report_id: Uuid,
    /// The public token a citizen follows the request (and rates it) by.
    pub token: String,
    /// The API client (key name) that filed it.
    pub client: String,
    /// The client's own id for the request: a repeat returns this one.
    pub external_id: Option<String>,
    pub service_code: String,
    /// The whole description (up to 4,000 characters); the report's note
    /// holds as much of it as a note may.
    pub description: String,
    pub requested_ms: i64,
    pub media_url: Option<String>,
    /// `attribute[code]` values as sent (service definition order not kept).
    pub attributes: Vec<(String, String)>,
    /// Contact fields (email, names, phone, …): never served publicly.
    pub contact: Vec<(String, String)>,
}

/// Which hotline requests a listing returns, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HotlineFilter {
    pub since_ms: i64,
    pub until_ms: i64,
    pub service_code: Option<String>,
    pub limit: usize,
}

/// A citizen's rating of a closed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feedback {
    pub report_id: Uuid,
    /// 1 to 5.
    pub rating: u8,
    pub comment: String,
    pub at_ms: i64,
}

/// Recomputes a report's grid cell; `None` leaves the report untouched.
pub type Reassign<'a> = dyn Fn(&ReportState) -> Option<ReportState> + 'a;

pub trait Store: Send + Sync + 'static {
    // Users and their scope.
    fn add_user(&self, user: &User, now_ms: i64) -> StoreResult<()>;
    fn user(&self, name: &str) -> StoreResult<Option<User>>;
    fn users(&self) -> StoreResult<Vec<User>>;

    // Enrolment and devices.
    fn create_enrolment(
        &self,
        user: &str,
        secret_hash: [u8; 32],
        now_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()>;
    /// Consumes an enrolment code and registers the device, atomically: a code
    /// works once. Refused if unknown, used or expired.
    fn redeem_enrolment(
        &self,
        secret_hash: [u8; 32],
        device: &Device,
        now_ms: i64,
    ) -> StoreResult<User>;
    fn device(&self, id: Uuid) -> StoreResult<Option<Device>>;
    fn devices(&self) -> StoreResult<Vec<Device>>;
    fn touch_device(&self, id: Uuid, now_ms: i64) -> StoreResult<()>;
    /// Revokes a device and appends `audit`, atomically; bumps the
    /// [`Store::auth_epoch`]. Revoking a revoked device changes nothing and
    /// returns it as it is.
    fn revoke_device(&self, id: Uuid, audit: &AuditRecord) -> StoreResult<Device>;
    /// Disables (or enables again) a user and appends `audit`, atomically;
    /// bumps the [`Store::auth_epoch`].
    fn set_user_disabled(
        &self,
        name: &str,
        disabled: bool,
        audit: &AuditRecord,
    ) -> StoreResult<User>;
    /// A number that changes whenever a device is revoked or a user disabled
    /// or enabled, by this process or another: cheap, polled by the server to
    /// cut off open connections at once.
    fn auth_epoch(&self) -> StoreResult<u64>;

    // The audit log: append-only.
    fn append_audit(&self, audit: &AuditRecord) -> StoreResult<u64>;
    /// Entries at or after `since_ms` (all if `None`), oldest first.
    fn audit_log(&self, since_ms: Option<i64>) -> StoreResult<Vec<AuditEntry>>;

    // Reference data.
    /// Stores cells' content (idempotent by hash). Invisible until a layer
    /// version lists them.
    fn put_grid_cells(&self, cells: &[StoredCell]) -> StoreResult<()>;
    /// Publishes a new layer version made of `members` (whose content was
    /// put before) in one transaction; returns its version.
    fn commit_grid_layer(
        &self,
        name: &str,
        members: &[GridMember],
        now_ms: i64,
    ) -> StoreResult<u64>;
    /// The cells of a version: code, content hash and box.
    fn grid_members(&self, version: u64) -> StoreResult<Vec<GridMember>>;
    /// The stored content of `codes` in `version`, in the order asked, as
    /// (code, bytes): `GridCellWire`, or with `shapes` the display shapes.
    /// Codes not in the version are left out.
    fn grid_cell_data(
        &self,
        version: u64,
        codes: &[String],
        shapes: bool,
    ) -> StoreResult<Vec<(String, Vec<u8>)>>;
    fn grid_layers(&self) -> StoreResult<Vec<LayerInfo>>;
    /// The whole current layer in one value. Memory grows with the layer:
    /// for small layers and tools; devices get theirs in pages.
    fn current_grid_layer(&self) -> StoreResult<Option<GridLayerWire>>;
    /// Version of the current layer, 0 if none. Cheap: polled per request.
    fn grid_version(&self) -> StoreResult<u64>;
    /// Stores a new category table, returning its version.
    fn put_categories(&self, categories: &CategoryTable, now_ms: i64) -> StoreResult<u64>;
    fn categories(&self) -> StoreResult<Option<CategoryTable>>;
    fn categories_version(&self) -> StoreResult<u64>;

    // Sync.
    /// Applies ops in order in one transaction. An op id seen before yields
    /// `Duplicate` and changes nothing; a rejected op changes nothing; every
    /// applied op is durable when this returns.
    fn apply_ops(
        &self,
        device: Uuid,
        ops: &[Op],
        rules: &Rules,
        now_ms: i64,
    ) -> StoreResult<Vec<Outcome>>;
    /// As [`Store::apply_ops`], and once every op is decided sets the meta
    /// entry `key` to what `value` returns (the server clock after a push),
    /// durable together with the ops. A backend that can should do both in
    /// one transaction: a push then costs one commit, not two.
    fn apply_ops_with_meta(
        &self,
        device: Uuid,
        ops: &[Op],
        rules: &Rules,
        now_ms: i64,
        key: &str,
        value: &dyn Fn() -> String,
    ) -> StoreResult<Vec<Outcome>> {
        let outcomes = self.apply_ops(device, ops, rules, now_ms)?;
        self.set_meta(key, &value())?;
        Ok(outcomes)
    }
    fn pull(&self, query: &PullQuery) -> StoreResult<Page>;
    fn report(&self, id: Uuid) -> StoreResult<Option<ReportState>>;
    /// All reports (deleted ones excluded), or only those with no grid cell.
    fn reports(&self, unassigned_only: bool) -> StoreResult<Vec<ReportState>>;
    /// Runs `reassign` over live reports (all, or only unassigned ones) and
    /// stores the states it returns. Returns how many changed.
    fn reassign(
        &self,
        only_unassigned: bool,
        reassign: &Reassign,
        now_ms: i64,
    ) -> StoreResult<usize>;

    // Patrols and photos.
    fn patrol(&self, id: Uuid) -> StoreResult<Option<StoredPatrol>>;
    fn patrols(&self, filter: &PatrolFilter) -> StoreResult<Vec<StoredPatrol>>;
    /// A patrol's track points in sequence order.
    fn track(&self, patrol: Uuid) -> StoreResult<Vec<TrackPoint>>;
    /// Live reports recorded on a patrol, by id.
    fn patrol_reports(&self, patrol: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Live reports that carry a photo: who may fetch or upload it.
    fn photo_reports(&self, hash: PhotoHash) -> StoreResult<Vec<ReportState>>;

    // Cases.
    /// The cases of these reports that have one, in no particular order.
    fn cases_of(&self, reports: &[Uuid]) -> StoreResult<Vec<CaseState>>;
    /// Every case with a row (reports somebody acted on).
    fn cases(&self) -> StoreResult<Vec<CaseState>>;
    /// Case steps that carry this photo: who took it, for which report.
    fn case_photo_uses(&self, hash: PhotoHash) -> StoreResult<Vec<CasePhotoUse>>;
    fn add_department(&self, department: &Department, audit: &AuditRecord) -> StoreResult<()>;
    fn departments(&self) -> StoreResult<Vec<Department>>;
    /// Replaces the category → default department routes.
    fn set_category_routes(&self, routes: &[(String, String)]) -> StoreResult<()>;
    fn category_routes(&self) -> StoreResult<Vec<(String, String)>>;
    /// Makes `user` act for `department` (or for none).
    fn set_user_department(
        &self,
        user: &str,
        department: Option<&str>,
        audit: &AuditRecord,
    ) -> StoreResult<()>;
    fn user_department(&self, user: &str) -> StoreResult<Option<String>>;

    // The console's sign-in (docs/console-api.md).
    /// Sets a user's password hash (a PHC string) and appends `audit`;
    /// ends the user's console sessions.
    fn set_password_hash(&self, user: &str, hash: &str, audit: &AuditRecord) -> StoreResult<()>;
    fn password_hash(&self, user: &str) -> StoreResult<Option<String>>;
    /// Stores a one-time sign-in link's token hash and appends `audit`.
    fn create_console_link(
        &self,
        token_hash: [u8; 32],
        user: &str,
        expires_ms: i64,
        audit: &AuditRecord,
    ) -> StoreResult<()>;
    /// Consumes a sign-in link, atomically: a link works once. Returns its
    /// user; refused if unknown, used or expired.
    fn redeem_console_link(&self, token_hash: [u8; 32], now_ms: i64) -> StoreResult<String>;
    /// The device a console user's steps are ops of, created on first use.
    fn console_device(&self, user: &str, now_ms: i64) -> StoreResult<Uuid>;
    fn create_console_session(
        &self,
        session: &ConsoleSession,
        audit: &AuditRecord,
    ) -> StoreResult<()>;
    fn console_session(&self, token_hash: [u8; 32]) -> StoreResult<Option<ConsoleSession>>;
    /// Ends a session (appending `audit` if there was one).
    fn end_console_session(&self, token_hash: [u8; 32], audit: &AuditRecord) -> StoreResult<()>;
    /// The last position of the change feed: changes whenever a report or
    /// its case does. Cheap.
    fn feed_position(&self) -> StoreResult<u64>;

    // Open311 intake (docs/open311.md).
    /// Stores a new API key and appends `audit`; refused if the name is taken
    /// by a key or a user.
    fn add_api_key(&self, key: &ApiKey, audit: &AuditRecord) -> StoreResult<()>;
    fn api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    fn api_key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<ApiKey>>;
    /// Revokes a key and appends `audit`; revoking a revoked key changes
    /// nothing and returns it as it is.
    fn revoke_api_key(&self, name: &str, now_ms: i64, audit: &AuditRecord) -> StoreResult<ApiKey>;
    /// Records a request's extra fields; a request already recorded (same
    /// report, or same client and external id) is returned as it is.
    fn add_hotline_request(&self, request: &HotlineRequest) -> StoreResult<HotlineRequest>;
    fn hotline_request(&self, report_id: Uuid) -> StoreResult<Option<HotlineRequest>>;
    fn hotline_request_by_token(&self, token: &str) -> StoreResult<Option<HotlineRequest>>;
    fn hotline_request_by_external_id(
        &self,
        client: &str,
        external_id: &str,
    ) -> StoreResult<Option<HotlineRequest>>;
    fn hotline_requests(&self, filter: &HotlineFilter) -> StoreResult<Vec<HotlineRequest>>;
    /// Stores a rating; refused if the request was rated already.
    fn add_feedback(&self, feedback: &Feedback) -> StoreResult<()>;
    fn feedback(&self) -> StoreResult<Vec<Feedback>>;

    // Small settings (public address, the server clock).
    fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;
}
