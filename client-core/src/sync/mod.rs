//! Synchronisation with the server: the IO-free [`engine`] decides, and the
//! driver here carries its messages over one QUIC connection.

pub mod engine;
mod photos;
pub mod retry;

use serde::Serialize;

use crate::error::{ClientError, Result};
use crate::store::meta;
use crate::store::rejections::Rejection;
use crate::transport;
use crate::Client;
use engine::{Step, SyncEngine};
use gridwarden_protocol::{ClientMessage, ServerMessage};
pub use retry::{CancelToken, RetryPolicy, SyncProgress};

/// What one sync did. Serialised as the `--json` output of `gridwarden sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SyncSummary {
    /// Ops the server applied now.
    pub pushed: u64,
    /// Ops the server had already applied from an earlier push.
    pub duplicates: u64,
    /// Ops the server refused, with its reasons; they left the outbox.
    pub rejected: Vec<Rejection>,
    /// Reports (and out-of-scope notices) received from the server and
    /// merged here; each report's case travels with it, uncounted.
    pub pulled: u64,
    /// Ops still in the outbox afterwards (only ones the server did not
    /// answer; normally 0).
    pub pending: u64,
    pub categories_updated: bool,
    pub grid_updated: bool,
    /// Grid cells received (new or changed since the version held).
    pub grid_cells: u64,
    /// Frame bytes written to and read from the server's streams.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Photos the server now holds whole (sent now, or found there).
    pub photos_uploaded: u64,
    /// Photos the server refused, with its reasons (too large).
    pub photos_refused: Vec<String>,
    /// Photo bytes sent in chunks (a resumed upload sends only the rest).
    pub photo_bytes_sent: u64,
    /// Chunks sent again because the server found them damaged.
    pub photo_chunks_resent: u64,
    /// Photos still waiting to be sent afterwards.
    pub photos_waiting: u64,
    /// This user's edits that another user's later edit replaced, learnt
    /// in this sync (also kept: `Client::overwrites`).
    pub overwritten: Vec<crate::store::overwrites::Overwrite>,
    /// The server stops accepting this app's protocol version at this time
    /// (ms since the epoch): the app must be updated before then.
    pub update_required_by_ms: Option<i64>,
}

/// Runs an engine to its end over an open session, starting with `first`.
/// The store is locked only while the engine handles an answer, never across
/// a network wait.
/// Carries one client message to the server and returns its answer: the seam
/// between the sync engine and a transport. QUIC implements it in
/// `transport.rs`; tests implement it with in-process links that drop,
/// duplicate and reorder.
pub trait Exchange {
    fn exchange(
        &mut self,
        message: &ClientMessage,
    ) -> impl std::future::Future<Output = Result<ServerMessage>> + Send;

    /// Frame bytes sent and received so far, for the sync summary.
    fn bytes(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// Optional hooks of a sync: a way to stop it and a listener for progress.
#[derive(Clone, Copy, Default)]
pub struct Controls<'a> {
    pub cancel: Option<&'a CancelToken>,
    pub progress: Option<&'a (dyn Fn(SyncProgress) + Send + Sync)>,
}

/// One exchange that a cancellation stops at once. Dropping an exchange
/// mid-flight is safe: an op the server applied without our seeing the ack
/// comes back as a duplicate, a photo chunk it stored shows in the next offer.
pub(crate) async fn exchange<E: Exchange>(
    link: &mut E,
    message: &ClientMessage,
    controls: Controls<'_>,
) -> Result<ServerMessage> {
    controls.check()?;
    match controls.cancel {
        Some(cancel) => tokio::select! {
            answer = link.exchange(message) => answer,
            _ = cancel.cancelled() => Err(ClientError::Cancelled),
        },
        None => link.exchange(message).await,
    }
}

impl Controls<'_> {
    fn report(&self, progress: SyncProgress) {
        if let Some(listener) = self.progress {
            listener(progress);
        }
    }

    fn check(&self) -> Result<()> {
        match self.cancel {
            Some(c) if c.is_cancelled() => Err(ClientError::Cancelled),
            _ => Ok(()),
        }
    }
}

pub(crate) async fn drive<E: Exchange>(
    client: &Client,
    link: &mut E,
    mut engine: SyncEngine,
    first: ClientMessage,
    controls: Controls<'_>,
) -> Result<SyncSummary> {
    let mut next = first;
    loop {
        let answer = exchange(link, &next, controls).await?;
        let step = {
            let mut store = client.lock_store();
            engine.handle(&mut store, answer)?
        };
        let (bytes_sent, bytes_received) = link.bytes();
        let done = match &step {
            Step::Done(summary) => summary,
            Step::Send(_) => engine.summary(),
        };
        controls.report(SyncProgress::Transferring {
            pushed: done.pushed + done.duplicates,
            pulled: done.pulled,
            bytes_sent,
            bytes_received,
        });
        match step {
            Step::Send(message) => next = message,
            Step::Done(mut summary) => {
                client.lock_store().checkpoint();
                // Records are done and durable on both sides; photos follow.
                photos::upload_all(client, link, controls, &mut summary).await?;
                (summary.bytes_sent, summary.bytes_received) = link.bytes();
                return Ok(summary);
            }
        }
    }
}

impl Client {
    /// Sends the outbox, fetches newer reference data and pulls what the
    /// server has for this device. Blocking; owns a runtime for the call.
    /// Use [`Client::sync_async`] inside an async context.
    pub fn sync(&self) -> Result<SyncSummary> {
        transport::runtime()?.block_on(self.sync_async())
    }

    pub async fn sync_async(&self) -> Result<SyncSummary> {
        self.sync_attempt(Controls::default()).await
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
        let mut attempt = 1;
        loop {
            controls.check()?;
            controls.report(SyncProgress::Connecting { attempt });
            let error = match self.sync_attempt(controls).await {
                Ok(summary) => return Ok(summary),
                Err(e) if e.is_retryable() => e,
                Err(e) => return Err(e),
            };
            let Some(delay) = policy.delay_before(attempt + 1, rand::random::<f64>()) else {
                return Err(error);
            };
            controls.report(SyncProgress::Waiting {
                attempt,
                delay_ms: delay.as_millis() as u64,
                reason: error.to_string(),
            });
            tracing::info!(attempt, ?delay, %error, "sync failed; retrying");
            match controls.cancel {
                Some(cancel) => tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(ClientError::Cancelled),
                },
                None => tokio::time::sleep(delay).await,
            }
            attempt += 1;
        }
    }

    /// Blocking form of [`Client::sync_retrying`], for the command line.
    pub fn sync_retrying_blocking(
        &self,
        policy: &RetryPolicy,
        controls: Controls<'_>,
    ) -> Result<SyncSummary> {
        transport::runtime()?.block_on(self.sync_retrying(policy, controls))
    }

    async fn sync_attempt(&self, controls: Controls<'_>) -> Result<SyncSummary> {
        self.seal_tracks()?;
        let (engine, hello, server, pins) = {
            let store = self.lock_store();
            let enrolment = meta::enrolment(store.conn())?.ok_or(ClientError::NotEnrolled)?;
            let pins = meta::pins(store.conn(), &enrolment)?;
            let (engine, hello) =
                SyncEngine::start(&store, crate::client::CLIENT_NAME, self.clock().clone())?;
            (engine, hello, enrolment.server_addr, pins)
        };
        let connect = self.connect_enrolled(&server, pins);
        let mut session = match controls.cancel {
            Some(cancel) => tokio::select! {
                s = connect => s?,
                _ = cancel.cancelled() => return Err(ClientError::Cancelled),
            },
            None => connect.await?,
        };
        let result = drive(self, &mut session, engine, hello, controls).await;
        session.close().await;
        result
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
        self.seal_tracks()?;
        let (engine, hello) = SyncEngine::start(
            &self.lock_store(),
            crate::client::CLIENT_NAME,
            self.clock().clone(),
        )?;
        drive(self, link, engine, hello, controls).await
    }
}
