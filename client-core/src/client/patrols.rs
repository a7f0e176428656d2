//! Patrols on this device (`local::patrols`).

use gridwarden_protocol::{PatrolSummary, PatrolTrack};
use uuid::Uuid;

use super::Client;
use crate::error::Result;
use crate::local::patrols::{self, ImportedPatrol, PointInput};
use crate::store::patrols as stored;

impl Client {
    /// Starts a patrol; refused while another is under way.
    pub fn patrol_start(&self, note: &str) -> Result<Uuid> {
        self.device
            .write(|tx, clock| patrols::start(tx, clock, note))
    }

    /// The patrol under way, if any.
    pub fn running_patrol(&self) -> Result<Option<Uuid>> {
        Ok(stored::running(self.device.lock_store().conn())?.map(|p| p.id))
    }

    /// Adds a GPS fix to the patrol under way. Returns whether it was kept
    /// (a fix a few metres from the last kept one is dropped).
    pub fn patrol_point(&self, input: PointInput) -> Result<bool> {
        self.device
            .write(|tx, clock| patrols::point(tx, clock, input))
    }

    /// Stops the patrol under way: its last fix is kept so the track ends
    /// where the warden stopped, and its points are sealed for the next sync.
    pub fn patrol_stop(&self) -> Result<Uuid> {
        self.device.write(patrols::stop)
    }

    /// Imports a track recorded by another app (GPX 1.0/1.1) as a finished
    /// patrol of this device, thinned like a live one.
    pub fn patrol_import_gpx(&self, gpx: &[u8], note: Option<&str>) -> Result<ImportedPatrol> {
        self.device
            .write(|tx, clock| patrols::import_gpx(tx, clock, gpx, note))
    }

    /// Summaries of this device's patrols, newest first, computed here with
    /// the cached grid layer and this user's cells (the same function the
    /// server uses).
    pub fn patrols(&self) -> Result<Vec<PatrolSummary>> {
        let store = self.device.lock_store();
        patrols::list(store.conn(), &mut self.device.lock_cache())
    }

    /// One patrol of this device with its track.
    pub fn patrol(&self, id: Uuid) -> Result<PatrolTrack> {
        let store = self.device.lock_store();
        patrols::get(store.conn(), &mut self.device.lock_cache(), id)
    }

    /// Resolves a patrol id typed by hand (full, or a unique prefix of a
    /// patrol on this device).
    pub fn resolve_patrol_id(&self, text: &str) -> Result<Uuid> {
        patrols::resolve_id(self.device.lock_store().conn(), text)
    }
}
