//! One device's sync, timed phase by phase. It is client-core's own sync —
//! its `SyncEngine`, `Store` and QUIC `transport` — driven by the same loop
//! as `Client::sync`, with clocks read between the steps: when the last ack
//! was committed, how long each pulled page took to apply. It can also stop
//! after the push, and dial another address than the enrolled one (a relay).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use gridwarden_client_core::store::Store;
use gridwarden_client_core::sync::engine::{Step, SyncEngine};
use gridwarden_client_core::{transport, Client};
use gridwarden_protocol::{ClientMessage, ServerMessage};

const CLIENT_NAME: &str = "gridwarden-bench";

/// Pushes kept in flight: the client's window, unless the environment
/// says otherwise (`GRIDWARDEN_BENCH_PUSH_WINDOW`, at least 1).
fn push_window() -> usize {
    std::env::var("GRIDWARDEN_BENCH_PUSH_WINDOW")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .unwrap_or(gridwarden_client_core::sync::engine::PUSH_WINDOW)
        .max(1)
}
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Enrols a new device in `home` with `code`, fetching reference data as
/// every device does.
pub fn enrol(home: &Path, code: &str) -> anyhow::Result<()> {
    Client::open(home)?
        .with_connect_timeout(CONNECT_TIMEOUT)
        .enroll(code, "benchmark device")
        .context("enrolling a device")?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Stop once the whole outbox is acknowledged, before pulling.
    Pushed,
    /// The whole sync.
    Done,
}

/// What one sync did and when.
#[derive(Clone, Debug)]
pub struct SyncTrace {
    /// From dialling the server to the last ack committed on the device.
    pub push_time: Duration,
    /// From dialling the server to the end of the sync (before closing).
    pub total_time: Duration,
    /// Per pulled page: its records and how long the device took to apply it.
    pub pages: Vec<(usize, Duration)>,
    /// Frame bytes written to and read from streams (no QUIC or UDP headers).
    pub frame_bytes_sent: u64,
    pub frame_bytes_received: u64,
    pub pushed: u64,
    pub pulled: u64,
}

pub struct Device {
    store: Store,
}

impl Device {
    /// Opens an enrolled device's store.
    pub fn open(home: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            store: Store::open(home)?,
        })
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// One sync with the server at `server` (the enrolled certificate is
    /// still the one trusted), on a runtime of its own like `Client::sync`.
    pub fn sync(
        &mut self,
        server: &str,
        fingerprint: [u8; 32],
        until: Until,
    ) -> anyhow::Result<SyncTrace> {
        // As `Client`'s: the sync on this thread, the connection's QUIC
        // tasks on one worker, so a page is stored while the next arrives.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        runtime.block_on(self.sync_async(server, fingerprint, until))
    }

    async fn sync_async(
        &mut self,
        server: &str,
        fingerprint: [u8; 32],
        until: Until,
    ) -> anyhow::Result<SyncTrace> {
        let started = Instant::now();
        let clock = gridwarden_protocol::clock::system();
        let (mut engine, hello) = SyncEngine::start(&self.store, CLIENT_NAME, clock)?;
        let mut session = transport::connect(server, fingerprint, CONNECT_TIMEOUT).await?;
        let mut trace = SyncTrace {
            push_time: Duration::ZERO,
            total_time: Duration::ZERO,
            pages: Vec::new(),
            frame_bytes_sent: 0,
            frame_bytes_received: 0,
            pushed: 0,
            pulled: 0,
        };
        // Pushes in flight at once, as the client's own loop keeps them
        // (`GRIDWARDEN_BENCH_PUSH_WINDOW=1`: one at a time, for comparison).
        let window = push_window();
        let mut next = Some(hello);
        let mut in_flight = 0usize;
        let mut pushing = true;
        loop {
            if pushing && matches!(next, Some(ClientMessage::Pull(_))) {
                pushing = false;
                trace.push_time = started.elapsed();
                if until == Until::Pushed {
                    let summary = engine.summary();
                    trace.pushed = summary.pushed + summary.duplicates;
                    break;
                }
            }
            let answer = match next.take() {
                Some(message) if window == 1 || !matches!(message, ClientMessage::Push(_)) => {
                    session.request(&message).await?
                }
                message => {
                    if let Some(message) = message {
                        session.send(&message).await?;
                        in_flight += 1;
                    }
                    while in_flight < window {
                        let Some(more) = engine.ahead(&mut self.store)? else {
                            break;
                        };
                        session.send(&more).await?;
                        in_flight += 1;
                    }
                    anyhow::ensure!(in_flight > 0, "the engine awaits an answer to nothing");
                    let answer = session.receive().await?;
                    in_flight -= 1;
                    answer
                }
            };
            // As the client's driver does (`sync::drive`): the next page's
            // pull goes out before this page is stored.
            if window > 1 {
                if let Some(pull) = engine.page_ahead(&answer) {
                    session.send(&pull).await?;
                    in_flight += 1;
                }
            }
            let page_records = match &answer {
                ServerMessage::PullPage(page) => Some(page.records.len()),
                _ => None,
            };
            let handling = Instant::now();
            let step = engine.handle(&mut self.store, answer)?;
            if let Some(records) = page_records {
                trace.pages.push((records, handling.elapsed()));
            }
            match step {
                Step::Send(message) => next = Some(message),
                Step::Await => {}
                Step::Done(summary) => {
                    trace.pushed = summary.pushed + summary.duplicates;
                    trace.pulled = summary.pulled;
                    break;
                }
            }
        }
        trace.total_time = started.elapsed();
        if pushing {
            // Nothing asked for a pull (a short conversation): all was push.
            trace.push_time = trace.total_time;
        }
        trace.frame_bytes_sent = session.bytes_sent;
        trace.frame_bytes_received = session.bytes_received;
        session.close().await;
        // The checkpoint `Client::sync` asks for after a sync, waited for
        // outside the timed part, so that it does not run into the next one.
        self.store.checkpoint();
        Ok(trace)
    }
}
