//! The values the store keeps and answers with, shared by every concern's
//! trait and every backend.

use gridwarden_protocol::case::CaseState;
use gridwarden_protocol::{ErrorCode, Op, PatrolInfo, ReportState, Role, TrackPoint};
use uuid::Uuid;

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

/// The protocol version and app a device last spoke with (migration 0012).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeviceProtocol {
    pub device: Uuid,
    /// `None`: not seen since the server recorded versions.
    pub protocol_version: Option<u16>,
    /// The app's name and version from its `Hello`.
    pub client: Option<String>,
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
