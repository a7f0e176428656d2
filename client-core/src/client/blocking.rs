//! The blocking forms of the network calls, for callers without a runtime
//! of their own (the command line, tests). They all run on one runtime the
//! client builds at the first blocking call and keeps, never one per call.
//! A caller that has a runtime (the phone bindings own one per client)
//! awaits the async forms instead.

use std::path::Path;

use gridwarden_protocol::{ListPatrols, PatrolSummary, PatrolTrack, PhotoRef};
use uuid::Uuid;

use super::Client;
use crate::error::Result;
use crate::remote::enrol::EnrolmentInfo;
use crate::sync::{Controls, RetryPolicy, SyncSummary};

/// The blocking calls' runtime: each call's future runs on the calling
/// thread (it waits anyway), the connections' QUIC tasks on one worker of
/// their own; several threads may block on it at once.
#[derive(Debug)]
pub(crate) struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        // A client may be dropped inside another runtime (an async test, a
        // binding's task): shutting down in the background never blocks.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Client {
    fn block_on<F: std::future::Future>(&self, work: F) -> Result<F::Output> {
        let runtime = match self.runtime.get() {
            Some(runtime) => runtime,
            None => {
                // One worker for the connection's QUIC tasks; the sync
                // itself runs on the calling thread, so a page is stored
                // while the next one arrives (`sync/storing.rs`).
                let built = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("gridwarden-sync")
                    .enable_all()
                    .build()?;
                // Two threads may build one at once: the first kept wins
                // and the other is dropped unused.
                let _ = self.runtime.set(Runtime(Some(built)));
                self.runtime.get().expect("set above")
            }
        };
        let runtime = runtime.0.as_ref().expect("the runtime lives until drop");
        Ok(runtime.block_on(work))
    }

    /// Blocking [`Client::sync_async`]. Not from inside an async context.
    pub fn sync(&self) -> Result<SyncSummary> {
        self.block_on(self.sync_async())?
    }

    /// Blocking form of [`Client::sync_retrying`], for the command line.
    pub fn sync_retrying_blocking(
        &self,
        policy: &RetryPolicy,
        controls: Controls<'_>,
    ) -> Result<SyncSummary> {
        self.block_on(self.sync_retrying(policy, controls))?
    }

    /// Blocking [`Client::enroll_async`].
    pub fn enroll(&self, code: &str, device_label: &str) -> Result<EnrolmentInfo> {
        self.block_on(self.enroll_async(code, device_label))?
    }

    /// Blocking [`Client::reenroll_async`].
    pub fn reenroll(&self, code: &str, device_label: &str) -> Result<EnrolmentInfo> {
        self.block_on(self.reenroll_async(code, device_label))?
    }

    /// Blocking [`Client::fetch_photo`].
    pub fn fetch_photo_blocking(&self, photo: &PhotoRef, out: &Path) -> Result<u64> {
        self.block_on(self.fetch_photo(photo, out))?
    }

    pub fn fetch_photo_here_blocking(&self, photo: &PhotoRef) -> Result<std::path::PathBuf> {
        self.block_on(self.fetch_photo_here(photo))?
    }

    pub fn remote_patrols_blocking(&self, query: ListPatrols) -> Result<Vec<PatrolSummary>> {
        self.block_on(self.remote_patrols(query))?
    }

    pub fn remote_patrol_blocking(&self, patrol_id: Uuid) -> Result<PatrolTrack> {
        self.block_on(self.remote_patrol(patrol_id))?
    }
}
