//! Synchronisation with the server: the IO-free [`engine`] decides, and the
//! driver here carries its messages over one QUIC connection.

pub mod engine;

use serde::Serialize;

use crate::error::{ClientError, Result};
use crate::store::meta;
use crate::store::rejections::Rejection;
use crate::transport;
use crate::Client;
use engine::{Step, SyncEngine};
use gridwarden_protocol::{ClientMessage, ServerMessage};

/// What one sync did. Serialised as the `--json` output of `gridwarden sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SyncSummary {
    /// Ops the server applied now.
    pub pushed: u64,
    /// Ops the server had already applied from an earlier push.
    pub duplicates: u64,
    /// Ops the server refused, with its reasons; they left the outbox.
    pub rejected: Vec<Rejection>,
    /// Records received from the server and merged here.
    pub pulled: u64,
    /// Ops still in the outbox afterwards (only ones the server did not
    /// answer; normally 0).
    pub pending: u64,
    pub categories_updated: bool,
    pub grid_updated: bool,
    /// Frame bytes written to and read from the server's streams.
    pub bytes_sent: u64,
    pub bytes_received: u64,
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

pub(crate) async fn drive<E: Exchange>(
    client: &Client,
    link: &mut E,
    mut engine: SyncEngine,
    first: ClientMessage,
) -> Result<SyncSummary> {
    let mut next = first;
    loop {
        let answer = link.exchange(&next).await?;
        let step = {
            let mut store = client.lock_store();
            engine.handle(&mut store, answer)?
        };
        match step {
            Step::Send(message) => next = message,
            Step::Done(mut summary) => {
                client.lock_store().checkpoint();
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
        let (engine, hello, server, fingerprint) = {
            let store = self.lock_store();
            let enrolment = meta::enrolment(store.conn())?.ok_or(ClientError::NotEnrolled)?;
            let (engine, hello) = SyncEngine::start(&store, crate::client::CLIENT_NAME)?;
            (engine, hello, enrolment.server_addr, enrolment.fingerprint)
        };
        let mut session = transport::connect(&server, fingerprint, self.connect_timeout()).await?;
        let result = drive(self, &mut session, engine, hello).await;
        session.close().await;
        result
    }

    /// One sync over any link (see [`Exchange`]).
    pub async fn sync_over<E: Exchange>(&self, link: &mut E) -> Result<SyncSummary> {
        let (engine, hello) = SyncEngine::start(&self.lock_store(), crate::client::CLIENT_NAME)?;
        drive(self, link, engine, hello).await
    }
}
