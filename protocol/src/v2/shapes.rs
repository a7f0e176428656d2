//! FROZEN: the message shapes of protocol version 2 exactly as released in
//! gridwarden 0.1.0 (tag `v0.1.0`), copied from that tag's `protocol/src`.
//! Never edit this file: phones in the field encode and decode these bytes.
//! Its golden vectors are `protocol/golden/v2/`; conversions to and from the
//! current shapes live in `convert.rs`, which does change.
//!
//! Only the shapes are kept (no methods): field order, types and variant
//! order are what postcard encodes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
    pub node: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    BadFrame,
    FrameTooLarge,
    UnsupportedVersion,
    Unauthenticated,
    EnrolmentRefused,
    InvalidInput,
    UnknownCategory,
    Forbidden,
    NotFound,
    Conflict,
    UnexpectedMessage,
    Internal,
    ClockSkew,
    PhotoTooLarge,
    CorruptChunk,
    RateLimited,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Warden,
    Liaison,
    Supervisor,
    Admin,
}

// ---- photo.rs ----

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PhotoHash(pub [u8; 32]);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PhotoRef {
    pub hash: PhotoHash,
    pub size: u64,
    pub mime: String,
}

// ---- category.rs ----

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Component,
    Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLimit {
    WorkingHours(u32),
    WorkingDays(u32),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub code: String,
    pub family: Family,
    pub class_code: String,
    pub class_name: String,
    pub name: String,
    pub name_en: String,
    pub register_limit: Option<TimeLimit>,
    pub dispose_limit: Option<TimeLimit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryTable {
    pub version: u64,
    pub categories: Vec<Category>,
}

// ---- grid.rs ----

pub type Ring = Vec<[f64; 2]>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolygonWire {
    pub exterior: Ring,
    pub holes: Vec<Ring>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridCellWire {
    pub code: String,
    pub name: Option<String>,
    pub polygons: Vec<PolygonWire>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridLayerWire {
    pub version: u64,
    pub name: String,
    pub cells: Vec<GridCellWire>,
}

// ---- track.rs ----

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    pub seq: u32,
    pub time_ms: Option<i64>,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: Option<f32>,
    pub speed_mps: Option<f32>,
    pub segment: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPatrol {
    pub started_at_ms: i64,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PatrolOp {
    Start(NewPatrol),
    Points(Vec<TrackPoint>),
    Stop { ended_at_ms: i64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatrolInfo {
    pub id: Uuid,
    pub warden: String,
    pub device: Uuid,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatrolSummary {
    pub info: PatrolInfo,
    pub points: u32,
    pub flagged: u32,
    pub distance_m: f64,
    pub duration_ms: Option<i64>,
    pub scope_cells: u32,
    pub covered_cells: Vec<String>,
    pub visited_cells: Vec<String>,
    pub reports: Vec<Uuid>,
}

// ---- case.rs ----

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Reported,
    Registered,
    Rejected,
    Dispatched,
    Disposed,
    Verifying,
    Verified,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CaseOp {
    Register {
        note: String,
    },
    Reject {
        reason: String,
    },
    Dispatch {
        department: String,
        note: String,
    },
    Dispose {
        note: String,
        photos: Vec<PhotoRef>,
    },
    SendForVerification {
        verifier: Option<String>,
    },
    Verify {
        passed: bool,
        note: String,
        photos: Vec<PhotoRef>,
    },
    Close {
        note: String,
    },
    Reopen {
        reason: String,
    },
    Postpone {
        reason: String,
        extension: TimeLimit,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseTransition {
    pub op: CaseOp,
    pub from: CaseStatus,
    pub to: CaseStatus,
    pub by: String,
    pub role: Role,
    pub device: Uuid,
    pub device_ms: i64,
    pub server_ms: i64,
    pub deadline_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    pub report_id: Uuid,
    pub status: CaseStatus,
    pub department: Option<String>,
    pub deadline_ms: Option<i64>,
    pub disposal_late: bool,
    pub reworks: u32,
    pub verifier: Option<String>,
    pub history: Vec<CaseTransition>,
}

// ---- report.rs ----

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: Option<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewReport {
    pub category: String,
    pub location: Location,
    pub address: Option<String>,
    pub note: String,
    pub observed_at_ms: i64,
    pub patrol: Option<Uuid>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportEdit {
    pub category: Option<String>,
    pub note: Option<String>,
    pub location: Option<Location>,
    pub address: Option<Option<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReportOp {
    Create(NewReport),
    Edit(ReportEdit),
    Delete,
    AttachPhotos(Vec<PhotoRef>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpBody {
    Report { report_id: Uuid, op: ReportOp },
    Patrol { patrol_id: Uuid, op: PatrolOp },
    Case { report_id: Uuid, op: CaseOp },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub op_id: Uuid,
    pub hlc: Hlc,
    pub body: OpBody,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lww<T> {
    pub value: T,
    pub hlc: Hlc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub reporter: String,
    pub device: Uuid,
    pub observed_at_ms: i64,
    pub patrol: Option<Uuid>,
    pub created: Hlc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportState {
    pub id: Uuid,
    pub origin: Option<Origin>,
    pub category: Option<Lww<String>>,
    pub note: Option<Lww<String>>,
    pub location: Option<Lww<Location>>,
    pub address: Option<Lww<Option<String>>>,
    pub deleted: Option<Hlc>,
    pub grid_cell: Option<Lww<Option<String>>>,
    pub photos: Vec<PhotoRef>,
}

// ---- messages.rs ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u16,
    pub device_id: Uuid,
    pub token: Vec<u8>,
    pub client: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enroll {
    pub protocol_version: u16,
    pub secret: String,
    pub device_label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Push {
    pub ops: Vec<Op>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub Vec<u8>);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pull {
    pub cursor: Cursor,
    pub max_records: u32,
    pub max_bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchReference {
    pub categories_version: Option<u64>,
    pub grid_version: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoOffer {
    pub photo: PhotoRef,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoChunk {
    pub hash: PhotoHash,
    pub total: u64,
    pub offset: u64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    pub chunk_hash: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchPhoto {
    pub hash: PhotoHash,
    pub offset: u64,
    pub max_len: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListPatrols {
    pub warden: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub max_patrols: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchPatrol {
    pub patrol_id: Uuid,
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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u16,
    pub server_time_ms: u64,
    pub user: String,
    pub role: Role,
    pub cells: Vec<String>,
    pub categories_version: u64,
    pub grid_version: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enrolled {
    pub device_id: Uuid,
    pub token: Vec<u8>,
    pub user: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Applied,
    Duplicate,
    Rejected { code: ErrorCode, reason: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    pub op_id: Uuid,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub results: Vec<OpResult>,
    pub server_hlc: Hlc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant, reason = "frozen shape: as released")]
pub enum Record {
    Report(ReportState),
    OutOfScope { report_id: Uuid },
    Case(CaseState),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PullPage {
    pub records: Vec<Record>,
    pub cursor: Cursor,
    pub more: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub categories: Option<CategoryTable>,
    pub grid: Option<GridLayerWire>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoStatus {
    pub hash: PhotoHash,
    pub received: u64,
    pub complete: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoData {
    pub hash: PhotoHash,
    pub size: u64,
    pub offset: u64,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatrolTrack {
    pub summary: PatrolSummary,
    pub points: Vec<TrackPoint>,
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
}
