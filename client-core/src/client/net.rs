//! The calls that talk to the server, async: over QUIC to the enrolled
//! server by default, or over any [`Connect`]/[`Exchange`] (`_with`/`_over`,
//! as the simulation does). Each delegates to the sync or remote layer.

use std::path::{Path, PathBuf};

use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::{ListPatrols, PatrolSummary, PatrolTrack, PhotoRef};
use uuid::Uuid;

use super::Client;
use crate::error::Result;
use crate::link::{Connect, Exchange};
use crate::remote::enrol::{self, EnrolmentInfo, Kind};
use crate::remote::{patrols, photos};
use crate::sync::{self, Controls, Enrolled, RetryPolicy, SyncSummary};

impl Client {
    /// QUIC connections to the server this device is enrolled with.
    pub(super) fn enrolled(&self) -> Enrolled<'_> {
        Enrolled {
            device: &self.device,
            timeout: self.connect_timeout,
        }
    }

    /// Sends the outbox, fetches newer reference data and pulls what the
    /// server has for this device.
    /// Over the kept connection if this client keeps one (`live.rs`).
    pub async fn sync_async(&self) -> Result<SyncSummary> {
        let controls = Controls::default();
        match &self.kept {
            Some(kept) => {
                let connect = kept.connector(self.enrolled());
                sync::sync_once(&self.device, &connect, controls).await
            }
            None => sync::sync_once(&self.device, &self.enrolled(), controls).await,
        }
    }

    /// Syncs over QUIC, retrying with backoff while the server cannot be
    /// reached, until `policy` gives up or `controls.cancel` fires. Refusals
    /// (a revoked device, a bad request) are not retried: trying again would
    /// get the same answer.
    pub async fn sync_retrying(
        &self,
        policy: &RetryPolicy,
        controls: Controls<'_>,
    ) -> Result<SyncSummary> {
        match &self.kept {
            Some(kept) => {
                let connect = kept.connector(self.enrolled());
                sync::sync_retrying(&self.device, &connect, policy, controls).await
            }
            None => sync::sync_retrying(&self.device, &self.enrolled(), policy, controls).await,
        }
    }

    /// One sync over a new connection from `connect`.
    pub async fn sync_with<C: Connect>(
        &self,
        connect: &C,
        controls: Controls<'_>,
    ) -> Result<SyncSummary> {
        sync::sync_once(&self.device, connect, controls).await
    }

    /// One sync over any link (see [`Exchange`]).
    pub async fn sync_over<E: Exchange>(&self, link: &mut E) -> Result<SyncSummary> {
        self.sync_over_with(link, Controls::default()).await
    }

    /// One sync over any link, with cancellation and progress.
    pub async fn sync_over_with<E: Exchange>(
        &self,
        link: &mut E,
        controls: Controls<'_>,
    ) -> Result<SyncSummary> {
        sync::sync_over(&self.device, link, controls).await
    }

    /// Enrols this device with the code IT issued (`gw1.SECRET.FINGERPRINT.ADDR`).
    pub async fn enroll_async(&self, code: &str, device_label: &str) -> Result<EnrolmentInfo> {
        let timeout = self.connect_timeout;
        enrol::over_quic(&self.device, code, device_label, timeout, Kind::First).await
    }

    /// Enrols this home again with a new code for the same user, keeping
    /// its unsent work, which the next sync pushes under the new identity.
    /// The server's audit log records the enrolment as recovered from the
    /// old device (in its label).
    pub async fn reenroll_async(&self, code: &str, device_label: &str) -> Result<EnrolmentInfo> {
        self.forget_kept_connection().await;
        let timeout = self.connect_timeout;
        enrol::over_quic(&self.device, code, device_label, timeout, Kind::Again).await
    }

    /// Enrols over any link (see [`Exchange`]); the code's address and
    /// fingerprint are the caller's business.
    pub async fn enroll_over<E: Exchange>(
        &self,
        link: &mut E,
        code: &EnrolmentCode,
        device_label: &str,
    ) -> Result<EnrolmentInfo> {
        enrol::first(&self.device, link, code, device_label).await
    }

    /// [`Client::reenroll`] over any link.
    pub async fn reenroll_over<E: Exchange>(
        &self,
        link: &mut E,
        code: &EnrolmentCode,
        device_label: &str,
    ) -> Result<EnrolmentInfo> {
        self.forget_kept_connection().await;
        enrol::again(&self.device, link, code, device_label).await
    }

    /// Closes the kept connection, if any, before this device becomes
    /// another one: the connection speaks for the old device, and a sync on
    /// it without a Hello (ADR 0041) would push the new device's ops there.
    async fn forget_kept_connection(&self) {
        if let Some(kept) = &self.kept {
            kept.close().await;
        }
    }

    /// Writes a photo to `out`, fetching it from the server first (in
    /// chunks, checked against its hash) unless it is on this device.
    /// Returns its size.
    pub async fn fetch_photo(&self, photo: &PhotoRef, out: &Path) -> Result<u64> {
        photos::fetch(&self.device, &self.enrolled(), photo, out).await
    }

    /// Brings a photo's full file back onto this device (one dropped under
    /// the storage budget, or never here), checked against its hash, and
    /// returns where it is.
    pub async fn fetch_photo_here(&self, photo: &PhotoRef) -> Result<PathBuf> {
        photos::fetch_here(&self.device, &self.enrolled(), photo).await
    }

    /// [`Client::fetch_photo`] over connections from `connect`.
    pub async fn fetch_photo_with<C: Connect>(
        &self,
        connect: &C,
        photo: &PhotoRef,
        out: &Path,
    ) -> Result<u64> {
        photos::fetch(&self.device, connect, photo, out).await
    }

    /// Patrol summaries from the server (a supervisor's review; a warden
    /// gets their own).
    pub async fn remote_patrols(&self, query: ListPatrols) -> Result<Vec<PatrolSummary>> {
        patrols::list(&self.device, &self.enrolled(), query).await
    }

    /// [`Client::remote_patrols`] over connections from `connect`.
    pub async fn remote_patrols_with<C: Connect>(
        &self,
        connect: &C,
        query: ListPatrols,
    ) -> Result<Vec<PatrolSummary>> {
        patrols::list(&self.device, connect, query).await
    }

    /// One patrol and its track from the server.
    pub async fn remote_patrol(&self, patrol_id: Uuid) -> Result<PatrolTrack> {
        patrols::get(&self.device, &self.enrolled(), patrol_id).await
    }

    /// [`Client::remote_patrol`] over connections from `connect`.
    pub async fn remote_patrol_with<C: Connect>(
        &self,
        connect: &C,
        patrol_id: Uuid,
    ) -> Result<PatrolTrack> {
        patrols::get(&self.device, connect, patrol_id).await
    }

    /// What this phone holds unsent: its queued ops and their reports.
    pub fn export_unsent(&self) -> Result<crate::UnsentWork> {
        let now = self.device.clock().now_ms() as i64;
        crate::local::enrolment::export_unsent(self.device.lock_store().conn(), now)
    }
}
