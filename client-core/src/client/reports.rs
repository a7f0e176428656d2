//! Reports, their photos and the device's reference data: each call one
//! local transaction or read (`local::reports`, `local::photos`).

use std::path::PathBuf;

use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::{validate, Location, NewReport, PhotoRef, ReportEdit};
use uuid::Uuid;

use super::Client;
use crate::error::Result;
use crate::local::budget::{self, Applied, Storage};
use crate::local::cache::CellGuess;
use crate::local::photos::{self, PhotoView};
use crate::local::reports;
use crate::local::view::ReportView;
use crate::store::overwrites::{self, Overwrite};
use crate::store::rejections::{self, Rejection};
use crate::store::{grid_cells, outbox};

impl Client {
    /// Records a new report: one local transaction writing the report and
    /// its Create op. Returns the report's id (UUIDv7). A report recorded
    /// while a patrol is under way belongs to that patrol unless it names
    /// one.
    pub fn record_report(&self, input: NewReport) -> Result<Uuid> {
        validate::new_report(&input)?;
        self.device
            .write_cached(|tx, cache, clock| reports::record(tx, cache, clock, input, &[]))
    }

    /// Records a new report with photos (files the user chose): the photos
    /// are copied into the device's photo store, then the report and its
    /// photo references are written in one transaction.
    pub fn record_report_with_photos(
        &self,
        input: NewReport,
        photo_files: &[PathBuf],
    ) -> Result<Uuid> {
        validate::new_report(&input)?;
        let limits = self.device.limits()?;
        // Before the photos are copied in: a refused report keeps none.
        crate::local::limits::check_note(&limits, &input.note)?;
        let refs = photos::import(&self.device.photo_files(), photo_files, &limits)?;
        self.device
            .write_cached(|tx, cache, clock| reports::record(tx, cache, clock, input, &refs))
    }

    /// Changes fields of a report recorded here or pulled. Refused for a
    /// report this device does not know or that was deleted.
    pub fn edit_report(&self, id: Uuid, edit: ReportEdit) -> Result<()> {
        validate::report_edit(&edit)?;
        self.device
            .write_cached(|tx, cache, clock| reports::edit(tx, cache, clock, id, edit))
    }

    /// Sends again, as it stands, a report whose create the server refused
    /// (a category since removed from its table, say): a new create under
    /// the same report id, so it arrives once. Editing such a report sends
    /// it again too.
    pub fn resend_report(&self, id: Uuid) -> Result<()> {
        self.device
            .write_cached(|tx, cache, clock| reports::resend(tx, cache, clock, id))
    }

    /// Deletes a report (a tombstone that wins over every edit).
    pub fn delete_report(&self, id: Uuid) -> Result<()> {
        self.device
            .write(|tx, clock| reports::delete(tx, clock, id))
    }

    /// Adds photos to a report recorded here or pulled.
    pub fn attach_photos(&self, id: Uuid, photo_files: &[PathBuf]) -> Result<()> {
        let refs = photos::import(
            &self.device.photo_files(),
            photo_files,
            &self.device.limits()?,
        )?;
        self.device
            .write(|tx, clock| photos::attach_to(tx, clock, id, &refs))
    }

    /// Visible reports (not deleted), newest observation first.
    pub fn list_reports(&self) -> Result<Vec<ReportView>> {
        let store = self.device.lock_store();
        reports::list(store.conn(), &mut self.device.lock_cache())
    }

    /// One report, deleted ones included (their `deleted` is true). A
    /// refusal it shows counts as shown: once the report is back in step
    /// with the server, its status is no longer "rejected".
    pub fn show_report(&self, id: Uuid) -> Result<ReportView> {
        let files = self.device.photo_files();
        self.device.write_cached(|tx, cache, clock| {
            let mut view = reports::show(tx, cache, id)?;
            photos::describe(tx, &files, &mut view.photos)?;
            rejections::mark_shown(tx, id, clock.now_ms() as i64)?;
            Ok(view)
        })
    }

    /// Resolves what a user typed as a report id: a full UUID, or a unique
    /// prefix of its hex digits (dashes optional), as lists print them.
    pub fn resolve_report_id(&self, text: &str) -> Result<Uuid> {
        reports::resolve_id(self.device.lock_store().conn(), text)
    }

    /// The photos of a report, with where each stands: its state with the
    /// server, whether its full file or only its thumbnail is here, and the
    /// thumbnail's path.
    pub fn report_photos(&self, id: Uuid) -> Result<Vec<PhotoView>> {
        let files = self.device.photo_files();
        photos::of_report(self.device.lock_store().conn(), &files, id)
    }

    /// Sets the storage budget for full photo files, in bytes (`None`:
    /// unlimited), and applies it at once: photos the server holds give way,
    /// the longest held first, keeping their thumbnails; photos not yet
    /// uploaded never do. Kept on the device (ADR 0031). Decodes photos to
    /// make thumbnails: call it off the UI thread.
    pub fn set_photo_budget(&self, bytes: Option<u64>) -> Result<Applied> {
        budget::set(&self.device, bytes)
    }

    /// The storage budget for full photo files and what the photos take.
    pub fn photo_storage(&self) -> Result<Storage> {
        budget::storage(self.device.lock_store().conn())
    }

    /// Resolves a photo hash or a unique prefix of one among the photos of
    /// reports and cases on this device.
    pub fn resolve_photo(&self, text: &str) -> Result<PhotoRef> {
        photos::resolve(self.device.lock_store().conn(), text)
    }

    /// The cached category table, `None` before the first reference fetch.
    pub fn categories(&self) -> Result<Option<CategoryTable>> {
        let store = self.device.lock_store();
        let table = self.device.lock_cache().categories(store.conn())?;
        Ok(table.map(|t| (*t).clone()))
    }

    /// The offline guess of the grid cell at a point, from the cached layer.
    pub fn grid_cell_at(&self, lon: f64, lat: f64) -> Result<Option<String>> {
        Ok(self.grid_guess(lon, lat)?.code().map(str::to_owned))
    }

    /// The codes of the grid cells this device holds, in order, and whether
    /// they are the whole layer (rather than its user's part).
    pub fn grid_cells_held(&self) -> Result<(Vec<String>, bool)> {
        let store = self.device.lock_store();
        let codes = grid_cells::codes(store.conn())?;
        let whole = grid_cells::state(store.conn())?.whole;
        Ok((codes, whole))
    }

    /// The offline guess of the grid cell at a point, saying why there is
    /// none: "outside the cells on this device" where the device holds only
    /// its user's part of the layer.
    pub fn grid_guess(&self, lon: f64, lat: f64) -> Result<CellGuess> {
        validate::location(&Location {
            lon,
            lat,
            accuracy_m: None,
        })?;
        let store = self.device.lock_store();
        let guess = self.device.lock_cache().guess(store.conn(), lon, lat)?;
        Ok(guess)
    }

    pub fn outbox_len(&self) -> Result<u64> {
        outbox::len(self.device.lock_store().conn())
    }

    /// Ops the server refused, newest first, with its reasons; each counts
    /// as shown from now on (see [`Client::show_report`]).
    pub fn rejections(&self) -> Result<Vec<Rejection>> {
        self.device.write(|tx, clock| {
            let list = rejections::list(tx)?;
            rejections::mark_all_shown(tx, clock.now_ms() as i64)?;
            Ok(list)
        })
    }

    /// This user's edits that another user's later edit replaced, newest
    /// first: which field, both values, who won and when.
    pub fn overwrites(&self) -> Result<Vec<Overwrite>> {
        overwrites::list(self.device.lock_store().conn())
    }

    /// The same for one report, oldest first (part of its history).
    pub fn overwrites_of(&self, report_id: Uuid) -> Result<Vec<Overwrite>> {
        overwrites::of_report(self.device.lock_store().conn(), report_id)
    }
}
