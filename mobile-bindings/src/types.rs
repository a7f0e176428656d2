//! The records and enums that cross the boundary, each a plain copy of its
//! client-core counterpart.
//!
//! Ids travel as UUID text (every binding language has strings; few have a
//! UUID type uniffi maps to), times as milliseconds since the epoch, and
//! files as paths the app can read or write.

use std::path::PathBuf;
use std::time::Duration;

use gridwarden_client_core as core;
use uuid::Uuid;

use crate::error::GridwardenError;

/// How a client is opened.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ClientOptions {
    /// How long `sync` and `enroll` wait for the server's handshake before
    /// answering `Offline`.
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: i64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout_ms: core::DEFAULT_CONNECT_TIMEOUT.as_millis() as i64,
        }
    }
}

/// A WGS84 position.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
    /// Horizontal accuracy in metres, when the location service gives it.
    #[uniffi(default = None)]
    pub accuracy_m: Option<f32>,
}

impl From<GeoPoint> for core::Location {
    fn from(p: GeoPoint) -> Self {
        core::Location {
            lon: p.lon,
            lat: p.lat,
            accuracy_m: p.accuracy_m,
        }
    }
}

/// A report as the warden records it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct NewReport {
    /// Category code from `categories()`, e.g. `0101`.
    pub category: String,
    pub location: GeoPoint,
    #[uniffi(default = "")]
    pub note: String,
    #[uniffi(default = None)]
    pub address: Option<String>,
    /// When the warden saw the issue; `None` means now.
    #[uniffi(default = None)]
    pub observed_at_ms: Option<i64>,
    /// Photo files the app wrote (JPEG, PNG or HEIC). They are copied into
    /// the client's home; the app may delete its files afterwards.
    #[uniffi(default = [])]
    pub photo_paths: Vec<String>,
    /// The patrol the report belongs to; `None` links it to the patrol
    /// under way, if any.
    #[uniffi(default = None)]
    pub patrol_id: Option<String>,
}

impl NewReport {
    /// The core's input and the photo files, apart.
    /// `now_ms` stands for a missing `observed_at_ms`.
    pub(crate) fn into_core(
        self,
        now_ms: i64,
    ) -> Result<(core::NewReport, Vec<PathBuf>), GridwardenError> {
        let patrol = self
            .patrol_id
            .as_deref()
            .map(|id| parse_id(id, "patrol"))
            .transpose()?;
        let report = core::NewReport {
            category: self.category,
            location: self.location.into(),
            address: self.address,
            note: self.note,
            observed_at_ms: self.observed_at_ms.unwrap_or(now_ms),
            patrol,
            asset: None,
        };
        Ok((report, paths(self.photo_paths)))
    }
}

/// Fields to change in a report; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct ReportChanges {
    #[uniffi(default = None)]
    pub category: Option<String>,
    #[uniffi(default = None)]
    pub note: Option<String>,
    #[uniffi(default = None)]
    pub location: Option<GeoPoint>,
    #[uniffi(default = None)]
    pub address: Option<String>,
    /// Removes the address (an explicit flag: `None` already means "keep").
    #[uniffi(default = false)]
    pub clear_address: bool,
}

impl TryFrom<ReportChanges> for core::ReportEdit {
    type Error = GridwardenError;

    fn try_from(c: ReportChanges) -> Result<Self, GridwardenError> {
        let address = match (c.address, c.clear_address) {
            (Some(_), true) => {
                return Err(GridwardenError::rejected(
                    "give a new address or clear it, not both",
                ))
            }
            (Some(address), false) => Some(Some(address)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        Ok(core::ReportEdit {
            category: c.category,
            note: c.note,
            location: c.location.map(Into::into),
            address,
            asset: None,
        })
    }
}

/// Where a report stands between this device and the server.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum ReportStatus {
    /// Changes of it wait to be sent.
    Pending,
    /// Everything recorded here was acknowledged by the server.
    Synced,
    /// The server refused a change of it; `reason` is for the user.
    Rejected { code: String, reason: String },
}

impl From<core::ReportStatus> for ReportStatus {
    fn from(s: core::ReportStatus) -> Self {
        match s {
            core::ReportStatus::Pending => ReportStatus::Pending,
            core::ReportStatus::Synced => ReportStatus::Synced,
            core::ReportStatus::Rejected { code, reason } => {
                ReportStatus::Rejected { code, reason }
            }
        }
    }
}

/// A photo of a report (never its bytes: `fetch_photo` writes them).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Photo {
    /// BLAKE3 of the bytes, lower-case hex: the photo's identity.
    pub hash: String,
    pub size: i64,
    pub mime: String,
    /// `queued`, `ready`, `uploaded`, `refused`, `fetched`, or `remote` (on
    /// the server only).
    pub state: String,
    pub reason: Option<String>,
    /// What of it is on this device: `full`, `thumbnail` (the full file was
    /// dropped under the storage budget; `fetch_photo` brings it back) or
    /// `none`. Filled in by `show_report`, not by `list_reports`.
    pub here: String,
    /// Path of its thumbnail (JPEG, longest side 320 px) once the server
    /// holds it; `None` before, or for a photo this device cannot decode
    /// (HEIC).
    pub thumbnail: Option<String>,
}

impl From<core::PhotoView> for Photo {
    fn from(p: core::PhotoView) -> Self {
        Photo {
            hash: p.hash,
            size: long(p.size),
            mime: p.mime,
            state: p.state,
            reason: p.reason,
            here: p.here,
            thumbnail: p.thumbnail,
        }
    }
}

/// The storage budget for full photo files and what the photos take.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PhotoStorage {
    /// The budget in bytes; `None`: unlimited.
    pub budget: Option<i64>,
    /// Photos whose full file is here, and its bytes.
    pub full_photos: i64,
    pub full_bytes: i64,
    /// Of those bytes, photos not sent yet: never dropped, so the device
    /// may hold more than the budget until they are uploaded.
    pub unsent_bytes: i64,
    /// Photos of which only the thumbnail is here.
    pub thumbnail_only: i64,
    pub thumbnail_bytes: i64,
}

impl From<core::photo::PhotoStorage> for PhotoStorage {
    fn from(s: core::photo::PhotoStorage) -> Self {
        PhotoStorage {
            budget: s.budget.map(long),
            full_photos: long(s.usage.full_photos),
            full_bytes: long(s.usage.full_bytes),
            unsent_bytes: long(s.usage.unsent_bytes),
            thumbnail_only: long(s.usage.thumbnail_only),
            thumbnail_bytes: long(s.usage.thumbnail_bytes),
        }
    }
}

/// A report as the device shows it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Report {
    pub id: String,
    pub category: String,
    /// Name of the category in the cached table, if the device has one.
    pub category_name: Option<String>,
    pub note: String,
    pub location: GeoPoint,
    pub address: Option<String>,
    pub observed_at_ms: i64,
    /// User name of the warden who recorded it.
    pub reporter: String,
    pub device_id: String,
    pub patrol_id: Option<String>,
    /// The cell the server assigned; `None` until it has.
    pub grid_cell: Option<String>,
    /// This device's own guess from its cached grid layer.
    pub local_cell: Option<String>,
    pub deleted: bool,
    pub status: ReportStatus,
    pub photos: Vec<Photo>,
}

impl From<core::ReportView> for Report {
    fn from(r: core::ReportView) -> Self {
        Report {
            id: r.id.to_string(),
            category: r.category,
            category_name: r.category_name,
            note: r.note,
            location: GeoPoint {
                lon: r.lon,
                lat: r.lat,
                accuracy_m: r.accuracy_m,
            },
            address: r.address,
            observed_at_ms: r.observed_at_ms,
            reporter: r.reporter,
            device_id: r.device.to_string(),
            patrol_id: r.patrol.map(|p| p.to_string()),
            grid_cell: r.grid_cell,
            local_cell: r.local_cell,
            deleted: r.deleted,
            status: r.status.into(),
            photos: r.photos.into_iter().map(Into::into).collect(),
        }
    }
}

/// One of this user's edits that another user's later edit replaced: the
/// app shows it, so no change is undone silently.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Overwrite {
    pub report_id: String,
    /// `category`, `note`, `location` or `address`.
    pub field: String,
    /// This user's value and the one that won, as text.
    pub mine: String,
    pub winner: String,
    /// Who wrote the winning value, when the phone knows.
    pub winner_by: Option<String>,
    /// When this user's edit and the winning one were made.
    pub lost_at_ms: i64,
    pub winner_at_ms: i64,
    /// When the phone learnt of it.
    pub at_ms: i64,
}

impl From<core::Overwrite> for Overwrite {
    fn from(o: core::Overwrite) -> Self {
        Overwrite {
            report_id: o.report_id.to_string(),
            field: o.field,
            mine: o.mine,
            winner: o.winner,
            winner_by: o.winner_by,
            lost_at_ms: o.lost_at_ms,
            winner_at_ms: o.winner_at_ms,
            at_ms: o.at_ms,
        }
    }
}

/// A change the server refused, with its reason.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Rejection {
    pub op_id: String,
    pub report_id: String,
    /// snake_case error code, e.g. `unknown_category`.
    pub code: String,
    pub reason: String,
    pub at_ms: i64,
}

impl From<core::Rejection> for Rejection {
    fn from(r: core::Rejection) -> Self {
        Rejection {
            op_id: r.op_id.to_string(),
            report_id: r.report_id.to_string(),
            code: r.code,
            reason: r.reason,
            at_ms: r.at_ms,
        }
    }
}

/// One entry of the category table the device caches.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Category {
    /// Subclass code, what a report carries, e.g. `0101`.
    pub code: String,
    pub class_code: String,
    pub class_name: String,
    pub name: String,
    pub name_en: String,
}

impl From<&gridwarden_protocol::category::Category> for Category {
    fn from(c: &gridwarden_protocol::category::Category) -> Self {
        Category {
            code: c.code.clone(),
            class_code: c.class_code.clone(),
            class_name: c.class_name.clone(),
            name: c.name.clone(),
            name_en: c.name_en.clone(),
        }
    }
}

/// Where this device stands.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ClientStatus {
    pub home: String,
    pub enrolled: bool,
    pub device_id: Option<String>,
    pub user: Option<String>,
    pub role: Option<String>,
    pub server: Option<String>,
    /// SHA-256 of the pinned server certificate, lower-case hex.
    pub fingerprint: Option<String>,
    /// The grid cells this user covers.
    pub cells: Vec<String>,
    /// Reports stored here, deleted ones included.
    pub reports: i64,
    /// Changes waiting to be sent.
    pub outbox: i64,
    pub rejections: i64,
    pub last_sync_ms: Option<i64>,
    pub categories_version: Option<i64>,
    pub grid_version: Option<i64>,
    /// The server stops accepting this app's protocol version at this time
    /// (ms since the epoch): tell the user to update the app before then.
    pub update_required_by_ms: Option<i64>,
    /// The photos' storage budget and what they take on this device.
    pub photos: PhotoStorage,
}

impl From<core::ClientStatus> for ClientStatus {
    fn from(s: core::ClientStatus) -> Self {
        ClientStatus {
            home: s.home,
            enrolled: s.enrolled,
            device_id: s.device_id.map(|d| d.to_string()),
            user: s.user,
            role: s.role,
            server: s.server,
            fingerprint: s.fingerprint,
            cells: s.cells,
            reports: long(s.reports),
            outbox: long(s.outbox),
            rejections: long(s.rejections),
            last_sync_ms: s.last_sync_ms,
            categories_version: s.categories_version.map(long),
            grid_version: s.grid_version.map(long),
            update_required_by_ms: s.update_required_by_ms,
            photos: s.photos.into(),
        }
    }
}

/// What enrolling gave this device.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct EnrolmentInfo {
    pub device_id: String,
    pub user: String,
    pub role: String,
    pub server: String,
    pub fingerprint: String,
    /// Versions of the reference data cached at enrolment; `None` when it
    /// could not be fetched (the first sync does).
    pub categories_version: Option<i64>,
    pub grid_version: Option<i64>,
}

impl From<core::EnrolmentInfo> for EnrolmentInfo {
    fn from(e: core::EnrolmentInfo) -> Self {
        EnrolmentInfo {
            device_id: e.device_id.to_string(),
            user: e.user,
            role: e.role,
            server: e.server,
            fingerprint: e.fingerprint,
            categories_version: e.categories_version.map(long),
            grid_version: e.grid_version.map(long),
        }
    }
}

/// A GPS fix as the phone's location service gives it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct GpsFix {
    pub lon: f64,
    pub lat: f64,
    /// When the fix was taken; `None` takes the device's clock.
    #[uniffi(default = None)]
    pub time_ms: Option<i64>,
    #[uniffi(default = None)]
    pub accuracy_m: Option<f32>,
    #[uniffi(default = None)]
    pub speed_mps: Option<f32>,
}

impl From<GpsFix> for core::PointInput {
    fn from(f: GpsFix) -> Self {
        core::PointInput {
            time_ms: f.time_ms,
            lon: f.lon,
            lat: f.lat,
            accuracy_m: f.accuracy_m,
            speed_mps: f.speed_mps,
        }
    }
}

/// One kept point of a patrol's track.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct TrackPoint {
    pub seq: i32,
    pub time_ms: Option<i64>,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: Option<f32>,
    pub speed_mps: Option<f32>,
    /// The track is not drawn between segments (a GPX `trkseg`).
    pub segment: i32,
}

impl From<core::TrackPoint> for TrackPoint {
    fn from(p: core::TrackPoint) -> Self {
        TrackPoint {
            seq: int(p.seq),
            time_ms: p.time_ms,
            lon: p.lon,
            lat: p.lat,
            accuracy_m: p.accuracy_m,
            speed_mps: p.speed_mps,
            segment: int(p.segment),
        }
    }
}

/// What a supervisor judges a patrol by, computed on the device with its
/// cached grid layer (the same function the server runs).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PatrolSummary {
    pub id: String,
    pub warden: String,
    pub device_id: String,
    pub started_at_ms: i64,
    /// `None` while the patrol is under way.
    pub ended_at_ms: Option<i64>,
    pub note: String,
    pub points: i32,
    /// Points that jump faster than a person walks.
    pub flagged: i32,
    pub distance_m: f64,
    pub duration_ms: Option<i64>,
    /// How many grid cells the warden covers.
    pub scope_cells: i32,
    /// The warden's cells the track passed through.
    pub covered_cells: Vec<String>,
    /// Every cell the track passed through.
    pub visited_cells: Vec<String>,
    /// Share of the warden's cells covered, 0.0 to 1.0.
    pub coverage: f64,
    /// Reports recorded on this patrol.
    pub report_ids: Vec<String>,
}

impl From<core::PatrolSummary> for PatrolSummary {
    fn from(s: core::PatrolSummary) -> Self {
        let coverage = s.coverage();
        PatrolSummary {
            id: s.info.id.to_string(),
            warden: s.info.warden,
            device_id: s.info.device.to_string(),
            started_at_ms: s.info.started_at_ms,
            ended_at_ms: s.info.ended_at_ms,
            note: s.info.note,
            points: int(s.points),
            flagged: int(s.flagged),
            distance_m: s.distance_m,
            duration_ms: s.duration_ms,
            scope_cells: int(s.scope_cells),
            covered_cells: s.covered_cells,
            visited_cells: s.visited_cells,
            coverage,
            report_ids: s.reports.iter().map(Uuid::to_string).collect(),
        }
    }
}

/// A patrol with its track.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PatrolTrack {
    pub summary: PatrolSummary,
    pub points: Vec<TrackPoint>,
}

impl From<core::PatrolTrack> for PatrolTrack {
    fn from(t: core::PatrolTrack) -> Self {
        PatrolTrack {
            summary: t.summary.into(),
            points: t.points.into_iter().map(Into::into).collect(),
        }
    }
}

/// What importing a GPX file did.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ImportedPatrol {
    pub patrol_id: String,
    /// The track's name in the file.
    pub name: Option<String>,
    pub points_in_file: i64,
    /// Points kept after thinning.
    pub points_kept: i64,
    pub segments: i32,
}

impl From<core::ImportedPatrol> for ImportedPatrol {
    fn from(i: core::ImportedPatrol) -> Self {
        ImportedPatrol {
            patrol_id: i.patrol.to_string(),
            name: i.name,
            points_in_file: long(i.points_in_file),
            points_kept: long(i.points_kept),
            segments: int(i.segments),
        }
    }
}

/// How a sync retries while the server cannot be reached.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SyncOptions {
    /// Attempts in all, the first included: 1 tries once (a background job
    /// whose scheduler retries), 0 retries until cancelled.
    #[uniffi(default = 1)]
    pub max_attempts: i32,
    /// Delay ceiling before the first retry; it doubles per failure.
    #[uniffi(default = 500)]
    pub first_retry_ms: i64,
    /// No delay is longer than this.
    #[uniffi(default = 60000)]
    pub max_retry_ms: i64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            first_retry_ms: 500,
            max_retry_ms: 60_000,
        }
    }
}

impl TryFrom<SyncOptions> for core::RetryPolicy {
    type Error = GridwardenError;

    fn try_from(o: SyncOptions) -> Result<Self, GridwardenError> {
        let max_attempts: u32 = unsigned(o.max_attempts.into(), "max_attempts")?;
        Ok(core::RetryPolicy {
            initial: millis(o.first_retry_ms, "first_retry_ms")?,
            max: millis(o.max_retry_ms, "max_retry_ms")?,
            max_attempts: (max_attempts > 0).then_some(max_attempts),
            ..core::RetryPolicy::default()
        })
    }
}

/// Where a sync stands, told to the `SyncListener` after every step.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum SyncProgress {
    /// Attempt `attempt` (from 1) is connecting.
    Connecting { attempt: i32 },
    /// Changes acknowledged and records pulled so far in this attempt.
    Transferring {
        pushed: i64,
        pulled: i64,
        bytes_sent: i64,
        bytes_received: i64,
    },
    /// Bytes of a photo the server holds so far: photo `photo` (from 1) of
    /// the `photos` this sync sends, at `rate_bytes_per_s` (0 until
    /// measured), with `left_ms` for it and those after it (absent until
    /// measured): what a progress bar shows on a long upload.
    Photo {
        hash: String,
        sent: i64,
        total: i64,
        photo: i32,
        photos: i32,
        rate_bytes_per_s: i64,
        left_ms: Option<i64>,
    },
    /// Attempt `attempt` failed (`reason`); the next starts after
    /// `delay_ms`.
    Waiting {
        attempt: i32,
        delay_ms: i64,
        reason: String,
    },
}

impl From<core::SyncProgress> for SyncProgress {
    fn from(p: core::SyncProgress) -> Self {
        match p {
            core::SyncProgress::Connecting { attempt } => SyncProgress::Connecting {
                attempt: int(attempt),
            },
            core::SyncProgress::Transferring {
                pushed,
                pulled,
                bytes_sent,
                bytes_received,
            } => SyncProgress::Transferring {
                pushed: long(pushed),
                pulled: long(pulled),
                bytes_sent: long(bytes_sent),
                bytes_received: long(bytes_received),
            },
            core::SyncProgress::Photo {
                hash,
                sent,
                total,
                photo,
                photos,
                rate_bytes_per_s,
                left_ms,
            } => SyncProgress::Photo {
                hash,
                sent: long(sent),
                total: long(total),
                photo: int(photo),
                photos: int(photos),
                rate_bytes_per_s: long(rate_bytes_per_s),
                left_ms: left_ms.map(long),
            },
            core::SyncProgress::Waiting {
                attempt,
                delay_ms,
                reason,
            } => SyncProgress::Waiting {
                attempt: int(attempt),
                delay_ms: long(delay_ms),
                reason,
            },
        }
    }
}

/// What one sync did.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SyncSummary {
    /// Changes the server applied now.
    pub pushed: i64,
    /// Changes the server had already applied from an earlier push.
    pub duplicates: i64,
    /// Changes the server refused, with its reasons.
    pub rejected: Vec<Rejection>,
    /// Records received from the server.
    pub pulled: i64,
    /// Changes still waiting to be sent (normally 0).
    pub pending: i64,
    pub categories_updated: bool,
    pub grid_updated: bool,
    pub bytes_sent: i64,
    pub bytes_received: i64,
    /// Photos the server now holds whole.
    pub photos_uploaded: i64,
    /// Photos the server refused, with its reasons.
    pub photos_refused: Vec<String>,
    pub photo_bytes_sent: i64,
    pub photo_chunks_resent: i64,
    /// Photos still waiting to be sent.
    pub photos_waiting: i64,
    /// Full photo files dropped under the storage budget after the upload;
    /// their thumbnails stay.
    pub photos_dropped: i64,
    /// This user's edits another user's later edit replaced, learnt now.
    pub overwritten: Vec<Overwrite>,
    /// The server stops accepting this app's protocol version at this time
    /// (ms since the epoch): tell the user to update the app before then.
    pub update_required_by_ms: Option<i64>,
    /// Changes given back to a server restored from a backup (it may have
    /// lost them); the server applies only the ones it lacks.
    pub given_back: i64,
    /// Reference data (categories, grid cells) the server could not send in
    /// this sync, with its reasons: the changes were sent all the same; the
    /// next sync asks again.
    pub reference_errors: Vec<String>,
}

impl From<core::SyncSummary> for SyncSummary {
    fn from(s: core::SyncSummary) -> Self {
        SyncSummary {
            pushed: long(s.pushed),
            duplicates: long(s.duplicates),
            rejected: s.rejected.into_iter().map(Into::into).collect(),
            pulled: long(s.pulled),
            pending: long(s.pending),
            categories_updated: s.categories_updated,
            grid_updated: s.grid_updated,
            bytes_sent: long(s.bytes_sent),
            bytes_received: long(s.bytes_received),
            photos_uploaded: long(s.photos_uploaded),
            photos_refused: s.photos_refused,
            photo_bytes_sent: long(s.photo_bytes_sent),
            photo_chunks_resent: long(s.photo_chunks_resent),
            photos_waiting: long(s.photos_waiting),
            photos_dropped: long(s.photos_dropped),
            overwritten: s.overwritten.into_iter().map(Into::into).collect(),
            update_required_by_ms: s.update_required_by_ms,
            given_back: long(s.given_back),
            reference_errors: s.reference_errors,
        }
    }
}

/// A length of working time (the city's working calendar): how far a
/// postponement moves a case's deadline.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum WorkingTime {
    Hours { hours: i32 },
    Days { days: i32 },
}

impl TryFrom<WorkingTime> for core::category::TimeLimit {
    type Error = GridwardenError;

    fn try_from(t: WorkingTime) -> Result<Self, GridwardenError> {
        use core::category::TimeLimit;
        Ok(match t {
            WorkingTime::Hours { hours } => {
                TimeLimit::WorkingHours(unsigned(hours.into(), "hours")?)
            }
            WorkingTime::Days { days } => TimeLimit::WorkingDays(unsigned(days.into(), "days")?),
        })
    }
}

/// A step of a report's case, as a user takes it (docs/cli-client.md,
/// "Cases", says who may take which). Queued like any change and decided by
/// the server at the next sync.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum CaseStep {
    /// Accept the report as a case (立案). Supervisors.
    Register {
        #[uniffi(default = "")]
        note: String,
    },
    /// Not a case (不予立案): a duplicate, outside the remit. Supervisors;
    /// the reason may not be empty.
    Reject { reason: String },
    /// Send to a department (派遣); an empty `department` means the
    /// category's default one. Supervisors.
    Dispatch {
        #[uniffi(default = "")]
        department: String,
        #[uniffi(default = "")]
        note: String,
    },
    /// The department reports it fixed (处置反馈). The department's users,
    /// or supervisors for them.
    Dispose {
        #[uniffi(default = "")]
        note: String,
        /// Photo files of the result; kept by the core and uploaded once
        /// the step is accepted.
        #[uniffi(default = [])]
        photo_paths: Vec<String>,
    },
    /// Accept the disposal and ask the field to check: the named liaison
    /// or warden, else whoever covers the case's cell. Supervisors.
    SendForVerification {
        #[uniffi(default = None)]
        verifier: Option<String>,
    },
    /// The field's verdict (核查); not `passed` sends the case back to its
    /// department (返工). The asked liaison or warden.
    Verify {
        passed: bool,
        #[uniffi(default = "")]
        note: String,
        /// Photo files from the field; uploaded once the verdict is accepted.
        #[uniffi(default = [])]
        photo_paths: Vec<String>,
    },
    /// Close a verified case (结案). Supervisors.
    Close {
        #[uniffi(default = "")]
        note: String,
    },
    /// Open a closed or rejected case again. Supervisors.
    Reopen { reason: String },
    /// Give a dispatched case more time (缓办). Supervisors.
    Postpone {
        reason: String,
        extension: WorkingTime,
    },
}

impl CaseStep {
    /// The photo files a disposal or verification carries.
    pub(crate) fn photo_paths(&self) -> Vec<std::path::PathBuf> {
        match self {
            CaseStep::Dispose { photo_paths, .. } | CaseStep::Verify { photo_paths, .. } => {
                photo_paths.iter().map(std::path::PathBuf::from).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl TryFrom<CaseStep> for core::case::CaseOp {
    type Error = GridwardenError;

    fn try_from(step: CaseStep) -> Result<Self, GridwardenError> {
        use core::case::CaseOp;
        Ok(match step {
            CaseStep::Register { note } => CaseOp::Register { note },
            CaseStep::Reject { reason } => CaseOp::Reject { reason },
            CaseStep::Dispatch { department, note } => CaseOp::Dispatch { department, note },
            CaseStep::Dispose { note, .. } => CaseOp::Dispose {
                note,
                photos: vec![],
            },
            CaseStep::SendForVerification { verifier } => CaseOp::SendForVerification { verifier },
            CaseStep::Verify { passed, note, .. } => CaseOp::Verify {
                passed,
                note,
                photos: vec![],
            },
            CaseStep::Close { note } => CaseOp::Close { note },
            CaseStep::Reopen { reason } => CaseOp::Reopen { reason },
            CaseStep::Postpone { reason, extension } => CaseOp::Postpone {
                reason,
                extension: extension.try_into()?,
            },
        })
    }
}

/// Where a case stands: an enum, so an app's `when`/`switch` over it is
/// checked for completeness by its compiler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum CaseStatus {
    /// Reported from the field, nobody acted on it yet (信息收集).
    Reported,
    /// Accepted as a case (立案).
    Registered,
    /// Not a case (不予立案).
    Rejected,
    /// Sent to a department, with a deadline (派遣).
    Dispatched,
    /// The department reports it fixed (处置反馈).
    Disposed,
    /// Sent to the field for verification (核查).
    Verifying,
    /// Verified fixed; awaits closing.
    Verified,
    /// Closed (结案).
    Closed,
}

impl From<CaseStatus> for core::case::CaseStatus {
    fn from(s: CaseStatus) -> Self {
        use core::case::CaseStatus as Core;
        match s {
            CaseStatus::Reported => Core::Reported,
            CaseStatus::Registered => Core::Registered,
            CaseStatus::Rejected => Core::Rejected,
            CaseStatus::Dispatched => Core::Dispatched,
            CaseStatus::Disposed => Core::Disposed,
            CaseStatus::Verifying => Core::Verifying,
            CaseStatus::Verified => Core::Verified,
            CaseStatus::Closed => Core::Closed,
        }
    }
}

impl CaseStatus {
    const ALL: [CaseStatus; 8] = [
        CaseStatus::Reported,
        CaseStatus::Registered,
        CaseStatus::Rejected,
        CaseStatus::Dispatched,
        CaseStatus::Disposed,
        CaseStatus::Verifying,
        CaseStatus::Verified,
        CaseStatus::Closed,
    ];

    /// The core's views carry the status by name (`CaseStatus::as_str`).
    fn named(name: &str) -> Result<Self, GridwardenError> {
        Self::ALL
            .into_iter()
            .find(|s| core::case::CaseStatus::from(*s).as_str() == name)
            .ok_or_else(|| GridwardenError::Other {
                message: format!("the library met a case status it does not know: `{name}`"),
            })
    }
}

/// Which cases `list_cases` returns; every field left out matches all.
#[derive(Clone, Debug, Default, PartialEq, uniffi::Record)]
pub struct CaseFilter {
    #[uniffi(default = None)]
    pub status: Option<CaseStatus>,
    #[uniffi(default = None)]
    pub grid_cell: Option<String>,
    /// Only cases past the deadline of their current step.
    #[uniffi(default = false)]
    pub overdue_only: bool,
}

impl TryFrom<CaseFilter> for core::CaseFilter {
    type Error = GridwardenError;

    fn try_from(f: CaseFilter) -> Result<Self, GridwardenError> {
        Ok(core::CaseFilter {
            status: f.status.map(Into::into),
            grid_cell: f.grid_cell,
            overdue_only: f.overdue_only,
        })
    }
}

/// One step of a case's history, as the server applied it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct CaseHistoryStep {
    /// The step's name: `register`, `reject`, `dispatch`, `dispose`,
    /// `send_for_verification`, `verify`, `close`, `reopen`, `postpone`.
    pub op: String,
    /// Case status before and after (not `from`/`to`: `from` is a
    /// keyword in Python).
    pub from_status: CaseStatus,
    pub to_status: CaseStatus,
    /// User name and role of who took it.
    pub by: String,
    pub role: String,
    pub device_id: String,
    /// The device's clock when the user acted.
    pub device_ms: i64,
    /// When the server applied it.
    pub server_ms: i64,
    /// The step's note or reason.
    pub text: String,
    /// The department of a dispatch.
    pub department: Option<String>,
    /// The verdict of a verification.
    pub passed: Option<bool>,
    /// Hashes of the photos taken at the step (`fetch_photo` gets them).
    pub photos: Vec<String>,
}

impl TryFrom<core::StepView> for CaseHistoryStep {
    type Error = GridwardenError;

    fn try_from(s: core::StepView) -> Result<Self, GridwardenError> {
        Ok(CaseHistoryStep {
            op: s.op,
            from_status: CaseStatus::named(&s.from)?,
            to_status: CaseStatus::named(&s.to)?,
            by: s.by,
            role: s.role,
            device_id: s.device.to_string(),
            device_ms: s.device_ms,
            server_ms: s.server_ms,
            text: s.text,
            department: s.department,
            passed: s.passed,
            photos: s.photos,
        })
    }
}

/// A report's case as the device shows it: the report's facts and the
/// case's, with its whole history.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Case {
    pub report_id: String,
    pub status: CaseStatus,
    pub category: Option<String>,
    pub note: Option<String>,
    pub grid_cell: Option<String>,
    /// User name of the warden who reported it.
    pub reporter: Option<String>,
    /// The department it is (or was last) dispatched to.
    pub department: Option<String>,
    /// When the current step is due, server time.
    pub deadline_ms: Option<i64>,
    pub overdue: bool,
    /// Times a failed verification sent it back to its department.
    pub reworks: i32,
    /// The liaison or warden asked to verify, if one was named.
    pub verifier: Option<String>,
    /// This device's steps not yet sent, by name (e.g. `["verify"]`).
    pub pending: Vec<String>,
    /// Why the server refused this device's latest step of it (or another
    /// change of the report), if it did.
    pub rejected: Option<String>,
    pub history: Vec<CaseHistoryStep>,
}

impl TryFrom<core::CaseView> for Case {
    type Error = GridwardenError;

    fn try_from(c: core::CaseView) -> Result<Self, GridwardenError> {
        Ok(Case {
            report_id: c.report_id.to_string(),
            status: CaseStatus::named(&c.status)?,
            category: c.category,
            note: c.note,
            grid_cell: c.grid_cell,
            reporter: c.reporter,
            department: c.department,
            deadline_ms: c.deadline_ms,
            overdue: c.overdue,
            reworks: int(c.reworks),
            verifier: c.verifier,
            pending: c.pending,
            rejected: c.rejected,
            history: c
                .history
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// What KPI rows are grouped by (docs/kpi.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum KpiGroup {
    /// The report's grid cell.
    Grid,
    /// Region and street: the first 9 digits of a 15-digit cell code.
    Street,
    /// The department the case is or was last dispatched to.
    Department,
    /// The user who reported it.
    Warden,
}

impl From<KpiGroup> for core::workflow::GroupBy {
    fn from(g: KpiGroup) -> Self {
        use core::workflow::GroupBy;
        match g {
            KpiGroup::Grid => GroupBy::Grid,
            KpiGroup::Street => GroupBy::Street,
            KpiGroup::Department => GroupBy::Department,
            KpiGroup::Warden => GroupBy::Warden,
        }
    }
}

/// The KPIs of one group over a period; every figure is defined in
/// docs/kpi.md under the same name. Rates are `None` when their
/// denominator is 0.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct KpiRow {
    /// The group: a cell code, a street prefix, a department code or a user
    /// name; `(none)` for cases outside every group.
    pub key: String,
    pub reported: i32,
    pub registered: i32,
    pub rejected: i32,
    pub dispatched: i32,
    /// Cases whose disposal deadline fell in the period (应结案数).
    pub due: i32,
    pub closed: i32,
    pub closed_on_time: i32,
    pub reworked: i32,
    pub overdue: i32,
    pub postponed: i32,
    pub closed_in_period: i32,
    pub mean_hours_to_close: Option<f64>,
    /// 结案率 = closed / due.
    pub closing_rate: Option<f64>,
    /// 按期结案率 = closed_on_time / due.
    pub on_time_rate: Option<f64>,
    /// 返工率 = reworked / closed_in_period.
    pub rework_rate: Option<f64>,
}

impl From<core::workflow::KpiRow> for KpiRow {
    fn from(r: core::workflow::KpiRow) -> Self {
        KpiRow {
            key: r.key,
            reported: int(r.reported),
            registered: int(r.registered),
            rejected: int(r.rejected),
            dispatched: int(r.dispatched),
            due: int(r.due),
            closed: int(r.closed),
            closed_on_time: int(r.closed_on_time),
            reworked: int(r.reworked),
            overdue: int(r.overdue),
            postponed: int(r.postponed),
            closed_in_period: int(r.closed_in_period),
            mean_hours_to_close: r.mean_hours_to_close,
            closing_rate: r.closing_rate,
            on_time_rate: r.on_time_rate,
            rework_rate: r.rework_rate,
        }
    }
}

/// Which patrols a supervisor's review asks the server for.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct PatrolQuery {
    /// Only this warden's patrols (a warden always gets their own).
    #[uniffi(default = None)]
    pub warden: Option<String>,
    /// Only patrols started at or after this time.
    #[uniffi(default = None)]
    pub since_ms: Option<i64>,
    /// Only patrols started before this time.
    #[uniffi(default = None)]
    pub until_ms: Option<i64>,
    /// At most this many, newest first (the server caps it at 500).
    #[uniffi(default = 500)]
    pub max_patrols: i32,
}

impl Default for PatrolQuery {
    fn default() -> Self {
        Self {
            warden: None,
            since_ms: None,
            until_ms: None,
            max_patrols: 500,
        }
    }
}

impl TryFrom<PatrolQuery> for core::ListPatrols {
    type Error = GridwardenError;

    fn try_from(q: PatrolQuery) -> Result<Self, GridwardenError> {
        Ok(core::ListPatrols {
            warden: q.warden,
            since_ms: q.since_ms,
            until_ms: q.until_ms,
            max_patrols: unsigned(q.max_patrols.into(), "max_patrols")?,
        })
    }
}

// Counts, sizes and durations cross as signed numbers: Kotlin's `Int` and
// `Long`, not `UInt`/`ULong`, which Android code cannot mix with its own
// numbers without a conversion at every use (Swift and Python do not mind).
// Nothing the core counts comes near `i32::MAX`/`i64::MAX`; saturating
// keeps a figure that did from wrapping negative.

/// A core count as a Kotlin `Long`.
pub(crate) fn long(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A core count as a Kotlin `Int`.
pub(crate) fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A number the app gave, which may not be negative (nor too large).
pub(crate) fn unsigned<T: TryFrom<i64>>(n: i64, what: &str) -> Result<T, GridwardenError> {
    T::try_from(n).map_err(|_| {
        GridwardenError::rejected(format!(
            "`{what}` must be 0 or more (and not huge), not {n}"
        ))
    })
}

/// Milliseconds the app gave, as a duration.
pub(crate) fn millis(ms: i64, what: &str) -> Result<Duration, GridwardenError> {
    unsigned(ms, what).map(Duration::from_millis)
}

/// A full UUID as ids are handed out by this interface.
pub(crate) fn parse_id(text: &str, what: &str) -> Result<Uuid, GridwardenError> {
    Uuid::parse_str(text.trim())
        .map_err(|_| GridwardenError::rejected(format!("`{text}` is not a {what} id")))
}

pub(crate) fn paths(files: Vec<String>) -> Vec<PathBuf> {
    files.into_iter().map(PathBuf::from).collect()
}
