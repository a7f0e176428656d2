//! Synchronisation with the server: the IO-free [`engine`] decides, and the
//! driver here carries its messages over one QUIC connection.

pub mod engine;

use serde::Serialize;

use crate::error::{ClientError, Result};
use crate::store::meta;
use crate::store::rejections::Rejection;
use crate::transport::{self, Session};
use crate::Client;
use engine::{Step, SyncEngine};

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
pub(crate) async fn drive(
    client: &Client,
    session: &mut Session,
    mut engine: SyncEngine,
    first: gridwarden_protocol::ClientMessage,
) -> Result<SyncSummary> {
    let mut next = first;
    loop {
        let answer = session.request(&next).await?;
        let step = {
            let mut store = client.lock_store();
            engine.handle(&mut store, answer)?
        };
        match step {
            Step::Send(message) => next = message,
            Step::Done(mut summary) => {
                client.lock_store().checkpoint();
                summary.bytes_sent = session.bytes_sent;
                summary.bytes_received = session.bytes_received;
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
}
