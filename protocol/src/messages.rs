//! Every message on the wire. Each QUIC stream carries one request frame from
//! the client and one response frame from the server. The connection's first
//! stream carries `Hello` (or `Enroll`); nothing else is served before it.
//! Variants are only ever appended, never reordered (see docs/protocol.md).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::category::CategoryTable;
use crate::grid::{CellCoverage, CellShape, GridCellWire, GridLayerWire};
use crate::packed::Packed;
use crate::photo::{PhotoHash, PhotoRef};
use crate::track::{PatrolSummary, TrackPoint};
use crate::{ErrorCode, Hlc, Op, ReportState};

/// What a user may do; the server decides, the device only displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// 路长: patrols roads, records issues.
    Warden,
    /// 城管联络员: reports and verifies in a community.
    Liaison,
    /// 监督员 / command centre: sees everything, runs cases.
    Supervisor,
    /// IT: administers users, devices and layers.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Warden => "warden",
            Role::Liaison => "liaison",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Whether the role sees every report rather than its own cells'.
    pub fn sees_everything(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "warden" => Ok(Role::Warden),
            "liaison" => Ok(Role::Liaison),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`; expected warden, liaison, supervisor or admin"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// First message of an enrolled device's connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u16,
    pub device_id: Uuid,
    /// The 32-byte secret issued at enrolment.
    pub token: Vec<u8>,
    /// Client software name and version, for the server's logs.
    pub client: String,
}

/// First message of a device that is not enrolled yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enroll {
    pub protocol_version: u16,
    /// The secret part of the one-time enrolment code.
    pub secret: String,
    /// A label for the device, shown to IT (e.g. the phone model).
    pub device_label: String,
}

/// Most ops a device puts in one push: as many as a pulled page holds, so
/// a push is no bigger on the wire than the pages the same link already
/// carries (ADR 0044). A server must accept at least this many in one push
/// (its `limits.max_push_ops`), or every full push would be refused.
pub const MAX_PUSH_OPS: usize = 1000;
/// Most encoded op bytes a device puts in one push. A server's frame limit
/// must leave room for them.
pub const MAX_PUSH_BYTES: usize = 1024 * 1024;

/// A batch of outbox ops. Each op lands or is rejected on its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Push {
    pub ops: Vec<Op>,
}

/// An opaque position in the server's change feed, issued by the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub Vec<u8>);

impl Cursor {
    /// The cursor of a device that has pulled nothing yet.
    pub fn start() -> Self {
        Cursor(Vec::new())
    }
}

/// Asks for the next page of the device's scoped change feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pull {
    pub cursor: Cursor,
    /// Most records the device wants in one page.
    pub max_records: u32,
    /// Most encoded bytes the device wants in one page (the server may cap it lower).
    pub max_bytes: u32,
}

/// Asks for reference data newer than what the device has cached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchReference {
    pub categories_version: Option<u64>,
    pub grid_version: Option<u64>,
}

/// Announces a photo the device wants to upload; the server answers with
/// how much of it it already holds, so an upload resumes where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoOffer {
    pub photo: PhotoRef,
}

/// A piece of a photo's bytes, at `offset`. `chunk_hash` (BLAKE3 of `data`)
/// lets the server tell a damaged chunk from a good one before storing it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoChunk {
    pub hash: PhotoHash,
    /// The photo's whole size, as offered.
    pub total: u64,
    pub offset: u64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    pub chunk_hash: [u8; 32],
}

/// Asks for up to `max_len` bytes of a stored photo from `offset`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchPhoto {
    pub hash: PhotoHash,
    pub offset: u64,
    pub max_len: u32,
}

/// Asks for the summaries of patrols, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListPatrols {
    /// Only this warden's patrols.
    pub warden: Option<String>,
    /// Only patrols started at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only patrols started before this time.
    pub until_ms: Option<i64>,
    pub max_patrols: u32,
}

/// Asks for one patrol's summary and its whole track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchPatrol {
    pub patrol_id: Uuid,
}

/// Asks for the next page of the grid cells this device should hold (see
/// docs/adr/0019-paged-versioned-grid-sync.md). The server decides which
/// cells and in which detail from the user's role and cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchCells {
    /// The layer version being fetched; 0 asks for the current one.
    pub layer_version: u64,
    /// The `scope_tag` of the last page applied (0: none). When the user's
    /// scope has changed since, the server starts a whole download over.
    pub scope_tag: u64,
    /// A layer version the device holds completely for `scope_tag`: only
    /// the cells that changed since are sent.
    pub since_version: Option<u64>,
    /// Resume after this cell code: the `next` of the last page applied.
    pub after: Option<String>,
    /// Most encoded bytes the device wants in one page (the server may cap it lower).
    pub max_bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    Hello(Hello),
    Enroll(Enroll),
    Push(Push),
    Pull(Pull),
    FetchReference(FetchReference),
    PhotoOffer(PhotoOffer),
    PhotoChunk(PhotoChunk),
    FetchPhoto(FetchPhoto),
    ListPatrols(ListPatrols),
    FetchPatrol(FetchPatrol),
    FetchCells(FetchCells),
    /// Another request (a large `Push`), compressed (since 4; `packed.rs`,
    /// ADR 0032). Unpacked at the server's edge, never handled as such.
    Packed(Packed),
}

/// The server's answer to `Hello`: who the device belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u16,
    pub server_time_ms: u64,
    pub user: String,
    pub role: Role,
    /// Grid cells the user covers.
    pub cells: Vec<String>,
    pub categories_version: u64,
    pub grid_version: u64,
    /// What the server refuses, so the device refuses it first (since 3).
    pub limits: DeviceLimits,
    /// Names the server's data: a new random id whenever the server's store
    /// is restored from a backup, so a device can tell that the server may
    /// lack what it acknowledged before (since 3).
    pub store_epoch: Uuid,
    /// The server stops accepting this device's protocol version at this
    /// time (ms since the epoch): update the app before then (since 3).
    pub update_required_by_ms: Option<u64>,
}

/// Limits the server enforces that a device can check before sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLimits {
    /// Largest photo accepted, in bytes.
    pub max_photo_bytes: u64,
    /// Longest report note accepted, in characters.
    pub max_note_chars: u32,
    /// How far ahead of the server's clock a device's time may be (ms).
    pub max_clock_skew_ms: u64,
}

impl DeviceLimits {
    /// What a device assumes when the server did not say (an older server):
    /// zero means "unknown", never "nothing is accepted".
    pub fn unknown() -> Self {
        Self {
            max_photo_bytes: 0,
            max_note_chars: 0,
            max_clock_skew_ms: 0,
        }
    }
}

/// The server's answer to `Enroll`: the device's identity and its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enrolled {
    pub device_id: Uuid,
    pub token: Vec<u8>,
    pub user: String,
    pub role: Role,
    /// As in `Welcome` (since 3).
    pub limits: DeviceLimits,
    /// As in `Welcome` (since 3).
    pub store_epoch: Uuid,
}

/// What happened to one pushed op.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied now.
    Applied,
    /// Applied by an earlier push; nothing changed this time.
    Duplicate,
    /// Refused; will never apply. The reason is for the user.
    Rejected { code: ErrorCode, reason: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    pub op_id: Uuid,
    pub outcome: Outcome,
}

/// The answer to `Push`: one result per op, in the order sent. Every op in it
/// is durably stored (or durably refused) when the ack is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub results: Vec<OpResult>,
    pub server_hlc: Hlc,
}

/// A record in the change feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every record is a full report; boxing it would add an allocation to each for the rare notice"
)]
pub enum Record {
    /// The full merged state of a report the device may see.
    Report(ReportState),
    /// A report the device held has left its scope (moved to a cell it does
    /// not cover): drop the local copy. Its new state is not sent, because
    /// the device may no longer see it.
    OutOfScope { report_id: uuid::Uuid },
    /// The case of a report the device may see, whole; sent right after the
    /// report's own record whenever either changed.
    Case(crate::case::CaseState),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PullPage {
    pub records: Vec<Record>,
    /// Where the next pull starts; store it once the page is applied.
    pub cursor: Cursor,
    /// Whether more records are waiting beyond this page.
    pub more: bool,
}

/// Reference data the device caches; `None` where its cached copy is current.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub categories: Option<CategoryTable>,
    pub grid: Option<GridLayerWire>,
}

/// A refusal of a whole request, with a message a person can act on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub code: ErrorCode,
    pub message: String,
}

/// How much of a photo the server holds durably: the answer to an offer and
/// to each chunk. An upload continues from `received`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoStatus {
    pub hash: PhotoHash,
    pub received: u64,
    /// The whole photo is stored and its hash checked.
    pub complete: bool,
}

/// A piece of a stored photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoData {
    pub hash: PhotoHash,
    /// The photo's whole size.
    pub size: u64,
    pub offset: u64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// One patrol and its track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatrolTrack {
    pub summary: PatrolSummary,
    pub points: Vec<TrackPoint>,
}

/// A page of grid cells, in code order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellPage {
    pub layer_version: u64,
    pub layer_name: String,
    /// Names the scope these cells were chosen for; sent back in the next
    /// `FetchCells`.
    pub scope_tag: u64,
    pub coverage: CellCoverage,
    /// Drop every cell held before applying this page: a whole download
    /// starts here.
    pub reset: bool,
    /// Full geometry (coverage `Scope`).
    pub cells: Vec<GridCellWire>,
    /// Display shapes (coverage `WholeDisplay`).
    pub shapes: Vec<CellShape>,
    /// Codes to drop: cells removed from the layer or gone from the scope.
    pub removed: Vec<String>,
    /// Where the next page starts; `None` when this was the last one and the
    /// device now holds `layer_version` completely.
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    Welcome(Welcome),
    Enrolled(Enrolled),
    Ack(Ack),
    PullPage(PullPage),
    Reference(Reference),
    Error(ErrorMessage),
    PhotoStatus(PhotoStatus),
    PhotoData(PhotoData),
    Patrols(Vec<PatrolSummary>),
    PatrolTrack(PatrolTrack),
    CellPage(CellPage),
    /// Unprompted, on a long-lived connection: something changed that the
    /// device should fetch (since 3; not sent yet).
    Notice(Notice),
    /// Another answer (a `PullPage`, an `Ack`), compressed (since 4;
    /// `packed.rs`, ADR 0032). Unpacked by the device's link, never handled as
    /// such.
    Packed(Packed),
}

/// Something the server tells a connected device without being asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The reports (or other entities) concerned, when the kind names any.
    pub ids: Vec<Uuid>,
}

/// What a notice is about. Appended only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeKind {
    /// Records in the device's scope changed: pull.
    Changed,
    /// A task for the device's user (a verification, a case to act on).
    Task,
    /// The category table or grid layer changed.
    Reference,
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error(ErrorMessage {
            code,
            message: message.into(),
        })
    }
}
