//! `GridwardenClient`: one device's store, as an app holds it.
//!
//! Each method is one client-core call with its inputs and outputs mapped.
//! Local calls (record, list, patrol points) take milliseconds and may run
//! on the UI thread; the network calls (`enroll`, `sync`, `fetch_photo`,
//! `remote_patrols`, `remote_patrol`) come twice: async, for the app's own executor, and `_blocking`, for a
//! background worker's thread. Both run on the client's own runtime.
//!
//! Several clients may be open on one home at once, in one process or in
//! several (the app and its background sync job): the store is SQLite in
//! WAL mode, and each change is one transaction.

use std::sync::Arc;

use gridwarden_client_core::workflow::Period;
use gridwarden_client_core::{
    Client, EnrolmentInfo as CoreEnrolment, ListPatrols, PatrolSummary as CoreSummary,
    PatrolTrack as CoreTrack, Result as CoreResult,
};
use gridwarden_protocol::clock::SharedClock;

use crate::error::GridwardenError;
use crate::live::{LiveListener, Watch};
use crate::runtime::Runtime;
use crate::sync::{self, CancelToken, SyncListener};
use crate::types::{
    long, millis, parse_id, paths, Case, CaseFilter, CaseStep, Category, ClientOptions,
    ClientStatus, EnrolmentInfo, GpsFix, ImportedPatrol, KpiGroup, KpiRow, NewReport, Overwrite,
    PatrolQuery, PatrolSummary, PatrolTrack, PhotoStorage, Rejection, Report, ReportChanges,
    SyncOptions, SyncSummary,
};

type Result<T, E = GridwardenError> = std::result::Result<T, E>;

#[derive(Debug, uniffi::Object)]
pub struct GridwardenClient {
    core: Arc<Client>,
    runtime: Runtime,
    /// The core's clock too: "now" for a report observed now.
    clock: SharedClock,
    /// The live connection's watch, while the app runs it.
    watch: Watch,
}

#[uniffi::export]
impl GridwardenClient {
    /// Opens the device store in directory `home` (created if missing):
    /// the app's private files directory on a phone. Works offline and
    /// before enrolment.
    #[uniffi::constructor]
    pub fn open(home: String) -> Result<Arc<Self>> {
        Self::open_with_options(home, ClientOptions::default())
    }

    #[uniffi::constructor]
    pub fn open_with_options(home: String, options: ClientOptions) -> Result<Arc<Self>> {
        let clock = gridwarden_protocol::clock::system();
        let core = Client::open(&home)?
            .with_clock(clock.clone())
            .with_connect_timeout(millis(options.connect_timeout_ms, "connect_timeout_ms")?)
            .with_connection_kept_while_watching(gridwarden_client_core::LinkTiming::default());
        let runtime = Runtime::new().map_err(|e| GridwardenError::Other {
            message: format!("cannot start the library's network thread: {e}"),
        })?;
        Ok(Arc::new(Self {
            core: Arc::new(core),
            runtime,
            clock,
            watch: Watch::default(),
        }))
    }

    pub fn status(&self) -> Result<ClientStatus> {
        Ok(self.core.status()?.into())
    }

    /// Enrols this device with the one-time code IT issued. Fetches the
    /// category table and grid layer too, so recording works offline at
    /// once.
    pub async fn enroll(&self, code: String, device_label: String) -> Result<EnrolmentInfo> {
        let work = enroll(self.core.clone(), code, device_label);
        Ok(self.runtime.spawn(work).await??.into())
    }

    pub fn enroll_blocking(&self, code: String, device_label: String) -> Result<EnrolmentInfo> {
        let work = enroll(self.core.clone(), code, device_label);
        Ok(self.runtime.block_on(work)??.into())
    }

    /// The cached category table (empty before enrolment).
    pub fn categories(&self) -> Result<Vec<Category>> {
        let table = self.core.categories()?;
        Ok(table
            .map(|t| t.categories.iter().map(Into::into).collect())
            .unwrap_or_default())
    }

    /// The grid cell at a position (the phone's GPS fix), from the grid
    /// layer cached on the device: works offline. `None` outside every cell
    /// or before the layer was fetched. The server assigns the real cell.
    pub fn grid_cell_at(&self, lon: f64, lat: f64) -> Result<Option<String>> {
        Ok(self.core.grid_cell_at(lon, lat)?)
    }

    /// Records a report, with its photos, in one local transaction; never
    /// waits for the network. Returns its id.
    pub fn record_report(&self, report: NewReport) -> Result<String> {
        let (input, photos) = report.into_core(self.clock.now_ms() as i64)?;
        let id = self.core.record_report_with_photos(input, &photos)?;
        Ok(id.to_string())
    }

    pub fn edit_report(&self, report_id: String, changes: ReportChanges) -> Result<()> {
        let id = self.core.resolve_report_id(&report_id)?;
        Ok(self.core.edit_report(id, changes.try_into()?)?)
    }

    /// Sends again, as it stands, a report whose creation the server
    /// refused (its category since removed, say); editing it does too.
    pub fn resend_report(&self, report_id: String) -> Result<()> {
        let id = self.core.resolve_report_id(&report_id)?;
        Ok(self.core.resend_report(id)?)
    }

    pub fn delete_report(&self, report_id: String) -> Result<()> {
        let id = self.core.resolve_report_id(&report_id)?;
        Ok(self.core.delete_report(id)?)
    }

    /// Adds photo files to a report (copied into the client's home).
    pub fn attach_photos(&self, report_id: String, photo_paths: Vec<String>) -> Result<()> {
        let id = self.core.resolve_report_id(&report_id)?;
        Ok(self.core.attach_photos(id, &paths(photo_paths))?)
    }

    /// Reports not deleted, newest observation first.
    pub fn list_reports(&self) -> Result<Vec<Report>> {
        Ok(self
            .core
            .list_reports()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// One report, deleted ones included, with where each photo stands.
    pub fn show_report(&self, report_id: String) -> Result<Report> {
        let id = self.core.resolve_report_id(&report_id)?;
        Ok(self.core.show_report(id)?.into())
    }

    /// This user's edits another user's later edit replaced, newest first.
    pub fn overwrites(&self) -> Result<Vec<Overwrite>> {
        Ok(self
            .core
            .overwrites()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Sets the storage budget for full photo files in bytes (`None`:
    /// unlimited) and applies it at once: photos the server holds give way,
    /// the longest held first, keeping a thumbnail; photos not yet sent
    /// never do. Kept on the device; the default is 256 MiB. Makes
    /// thumbnails (decodes photos): call it off the UI thread.
    pub fn set_photo_budget(&self, bytes: Option<i64>) -> Result<PhotoStorage> {
        let bytes = bytes
            .map(|b| {
                u64::try_from(b)
                    .map_err(|_| GridwardenError::rejected("a budget is 0 bytes or more"))
            })
            .transpose()?;
        self.core.set_photo_budget(bytes)?;
        Ok(self.core.photo_storage()?.into())
    }

    /// The storage budget for full photo files and what the photos take.
    pub fn photo_storage(&self) -> Result<PhotoStorage> {
        Ok(self.core.photo_storage()?.into())
    }

    /// Changes the server refused, newest first.
    pub fn rejections(&self) -> Result<Vec<Rejection>> {
        Ok(self
            .core
            .rejections()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Starts a patrol; reports recorded until it stops belong to it.
    #[uniffi::method(default(note = ""))]
    pub fn patrol_start(&self, note: String) -> Result<String> {
        Ok(self.core.patrol_start(&note)?.to_string())
    }

    /// Adds a GPS fix to the patrol under way; returns whether it was kept
    /// (fixes a few metres from the last kept one are dropped).
    pub fn patrol_add_point(&self, fix: GpsFix) -> Result<bool> {
        Ok(self.core.patrol_point(fix.into())?)
    }

    /// Stops the patrol under way and returns its id.
    pub fn patrol_stop(&self) -> Result<String> {
        Ok(self.core.patrol_stop()?.to_string())
    }

    /// The patrol under way, if any (after an app restart, too).
    pub fn running_patrol(&self) -> Result<Option<String>> {
        Ok(self.core.running_patrol()?.map(|id| id.to_string()))
    }

    /// Imports a GPX 1.0/1.1 track from another app as a finished patrol.
    #[uniffi::method(default(note = None))]
    pub fn patrol_import_gpx(&self, gpx: Vec<u8>, note: Option<String>) -> Result<ImportedPatrol> {
        Ok(self.core.patrol_import_gpx(&gpx, note.as_deref())?.into())
    }

    /// This device's patrols, newest first.
    pub fn list_patrols(&self) -> Result<Vec<PatrolSummary>> {
        Ok(self.core.patrols()?.into_iter().map(Into::into).collect())
    }

    /// One patrol of this device with its track.
    pub fn show_patrol(&self, patrol_id: String) -> Result<PatrolTrack> {
        let id = parse_id(&patrol_id, "patrol")?;
        Ok(self.core.patrol(id)?.into())
    }

    /// Patrols from the server: a supervisor's review of the wardens'
    /// patrols (a warden gets their own), newest first.
    #[uniffi::method(default(query))]
    pub async fn remote_patrols(&self, query: PatrolQuery) -> Result<Vec<PatrolSummary>> {
        let work = remote_patrols(self.core.clone(), query.try_into()?);
        Ok(summaries(self.runtime.spawn(work).await??))
    }

    #[uniffi::method(default(query))]
    pub fn remote_patrols_blocking(&self, query: PatrolQuery) -> Result<Vec<PatrolSummary>> {
        let work = remote_patrols(self.core.clone(), query.try_into()?);
        Ok(summaries(self.runtime.block_on(work)??))
    }

    /// One patrol and its track from the server (any warden's, for a
    /// supervisor).
    pub async fn remote_patrol(&self, patrol_id: String) -> Result<PatrolTrack> {
        let work = remote_patrol(self.core.clone(), parse_id(&patrol_id, "patrol")?);
        Ok(self.runtime.spawn(work).await??.into())
    }

    pub fn remote_patrol_blocking(&self, patrol_id: String) -> Result<PatrolTrack> {
        let work = remote_patrol(self.core.clone(), parse_id(&patrol_id, "patrol")?);
        Ok(self.runtime.block_on(work)??.into())
    }

    /// Takes a step of a report's case. Queued like any change, offline
    /// too, and decided by the server at the next sync: a step the server
    /// refuses (not this user's to take, or another user moved the case
    /// first) comes back in `SyncSummary.rejected` and `rejections()` with
    /// the reason, and in the case's `rejected`. Returns the queued
    /// change's id.
    pub fn case_step(&self, report_id: String, step: CaseStep) -> Result<String> {
        let id = self.core.resolve_report_id(&report_id)?;
        let photos = step.photo_paths();
        Ok(self
            .core
            .case_step_with_photos(id, step.try_into()?, &photos)?
            .to_string())
    }

    /// The cases of the reports on this device (a report nobody acted on
    /// is `reported`), newest report first.
    #[uniffi::method(default(filter))]
    pub fn list_cases(&self, filter: CaseFilter) -> Result<Vec<Case>> {
        let filter = filter.try_into()?;
        cases(self.core.cases(&filter)?)
    }

    /// One report's case with its whole history.
    pub fn show_case(&self, report_id: String) -> Result<Case> {
        let id = self.core.resolve_report_id(&report_id)?;
        self.core.case(id)?.try_into()
    }

    /// Verification tasks for this liaison or warden, as of the last sync:
    /// cases named to them or in a cell they cover. One answered here
    /// leaves the list at once, offline too. Empty for other roles.
    pub fn tasks(&self) -> Result<Vec<Case>> {
        cases(self.core.tasks()?)
    }

    /// KPIs over the cases on this device (a supervisor's holds the whole
    /// city), over server time `[from_ms, to_ms)`, one row per group,
    /// sorted by key. Computed offline.
    pub fn kpi(&self, group_by: KpiGroup, from_ms: i64, to_ms: i64) -> Result<Vec<KpiRow>> {
        let period = Period { from_ms, to_ms };
        Ok(self
            .core
            .kpi(group_by.into(), period)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Sends what was recorded here, then pulls what this user may see.
    /// `listener` hears progress; `cancel` stops the sync at any moment, as
    /// does cancelling the awaiting coroutine or task.
    #[uniffi::method(default(listener = None, cancel = None, options))]
    pub async fn sync(
        &self,
        options: SyncOptions,
        listener: Option<Arc<dyn SyncListener>>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<SyncSummary> {
        let work = sync::run(self.core.clone(), options.try_into()?, listener, cancel);
        Ok(self.runtime.spawn(work).await??.into())
    }

    /// `sync` for a background worker's thread (WorkManager, BGTask):
    /// returns when the sync is over. Never on the UI thread.
    #[uniffi::method(default(listener = None, cancel = None, options))]
    pub fn sync_blocking(
        &self,
        options: SyncOptions,
        listener: Option<Arc<dyn SyncListener>>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<SyncSummary> {
        let work = sync::run(self.core.clone(), options.try_into()?, listener, cancel);
        Ok(self.runtime.block_on(work)??.into())
    }

    /// Keeps a connection to the server open while the app is in the
    /// foreground: syncs use it (no handshake each), and whenever the
    /// server says something new is in this device's scope the device
    /// pulls at once and tells `listener`. Reconnects by itself. Call
    /// `stop_live` when the app goes to the background; starting it again
    /// while it runs does nothing.
    pub fn start_live(&self, listener: Arc<dyn LiveListener>) {
        if let Some(work) = self.watch.start(self.core.clone(), listener) {
            // Runs until `stop_live` or the client is dropped.
            self.runtime.detach(work);
        }
    }

    /// Stops the live connection (the app went to the background); syncs
    /// connect per call again.
    pub fn stop_live(&self) {
        self.watch.stop();
    }

    /// Writes a report's photo (by its hash, or a unique prefix of it) to
    /// `out_path`, fetching it from the server unless it is on this device.
    /// Returns its size in bytes.
    pub async fn fetch_photo(&self, hash: String, out_path: String) -> Result<i64> {
        let work = fetch_photo(self.core.clone(), hash, out_path);
        Ok(long(self.runtime.spawn(work).await??))
    }

    pub fn fetch_photo_blocking(&self, hash: String, out_path: String) -> Result<i64> {
        let work = fetch_photo(self.core.clone(), hash, out_path);
        Ok(long(self.runtime.block_on(work)??))
    }
}

// The network calls as futures that own what they use, so they can run as
// tasks of the client's runtime whichever way the app called them.

async fn enroll(core: Arc<Client>, code: String, label: String) -> CoreResult<CoreEnrolment> {
    core.enroll_async(&code, &label).await
}

async fn fetch_photo(core: Arc<Client>, hash: String, out_path: String) -> CoreResult<u64> {
    let photo = core.resolve_photo(&hash)?;
    core.fetch_photo(&photo, out_path.as_ref()).await
}

async fn remote_patrols(core: Arc<Client>, query: ListPatrols) -> CoreResult<Vec<CoreSummary>> {
    core.remote_patrols(query).await
}

async fn remote_patrol(core: Arc<Client>, patrol_id: uuid::Uuid) -> CoreResult<CoreTrack> {
    core.remote_patrol(patrol_id).await
}

fn cases(list: Vec<gridwarden_client_core::CaseView>) -> Result<Vec<Case>> {
    list.into_iter().map(TryInto::try_into).collect()
}

fn summaries(list: Vec<CoreSummary>) -> Vec<PatrolSummary> {
    list.into_iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app and its background job may open a home for the first time at
    /// the same moment.
    #[test]
    fn two_clients_open_one_new_home_at_once_from_two_threads() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let home = dir.path().join("home").display().to_string();
            let start = Arc::new(std::sync::Barrier::new(2));
            let openers: Vec<_> = (0..2)
                .map(|_| {
                    let (home, start) = (home.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        GridwardenClient::open(home).map(|c| c.status())
                    })
                })
                .collect();
            for opener in openers {
                let status = opener.join().unwrap().unwrap().unwrap();
                assert!(!status.enrolled);
            }
        }
    }

    /// A home written by a newer app (a downgrade, an old install restoring
    /// a new backup) is not the user's input to correct: it arrives as
    /// `UpdateRequired`, and the database is left as it was.
    #[test]
    fn a_home_from_a_newer_app_asks_for_an_update() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().display().to_string();
        drop(GridwardenClient::open(home.clone()).unwrap());
        let db = dir.path().join(gridwarden_client_core::store::DB_FILE);
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        let err = GridwardenClient::open(home).err().unwrap();
        assert!(
            matches!(&err, GridwardenError::UpdateRequired { message } if message.contains("newer gridwarden")),
            "{err:?}"
        );
        let conn = rusqlite::Connection::open(&db).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 999, "nothing was changed");
    }

    /// A step the device's own checks refuse never reaches the outbox; it
    /// is `Rejected` with the core's sentence, enrolled or not.
    #[test]
    fn a_case_step_the_device_refuses_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let client = GridwardenClient::open(dir.path().display().to_string()).unwrap();
        let report = uuid::Uuid::new_v4().to_string();
        let empty_reason = CaseStep::Reject {
            reason: "  ".into(),
        };
        let err = client.case_step(report.clone(), empty_reason).unwrap_err();
        assert!(
            matches!(&err, GridwardenError::Rejected { reason } if reason.contains("needs a reason")),
            "{err:?}"
        );
        let err = client
            .case_step(
                "not-an-id".into(),
                CaseStep::Close {
                    note: String::new(),
                },
            )
            .unwrap_err();
        assert!(matches!(err, GridwardenError::Rejected { .. }), "{err:?}");
        assert_eq!(client.status().unwrap().outbox, 0);
    }

    #[test]
    fn a_device_that_is_not_enrolled_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let client = GridwardenClient::open(dir.path().display().to_string()).unwrap();
        let report = NewReport {
            category: "0101".into(),
            location: crate::types::GeoPoint {
                lon: 111.68,
                lat: 40.84,
                accuracy_m: None,
            },
            note: String::new(),
            address: None,
            observed_at_ms: None,
            photo_paths: vec![],
            patrol_id: None,
        };
        let err = client.record_report(report).unwrap_err();
        assert!(
            matches!(err, GridwardenError::NotEnrolled { .. }),
            "{err:?}"
        );
        let err = client
            .sync_blocking(SyncOptions::default(), None, None)
            .unwrap_err();
        assert!(
            matches!(err, GridwardenError::NotEnrolled { .. }),
            "{err:?}"
        );
    }
}
