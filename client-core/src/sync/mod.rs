//! The sync layer: the IO-free [`engine`] decides, and the driver here
//! carries its messages over any [`Connect`] (QUIC, or the simulation's
//! lossy links), then uploads the photos waiting. Above the local layer and
//! the link; below the remote calls and the [`crate::Client`] facade.

mod connect;
pub mod engine;
pub mod live;
pub(crate) mod photos;
pub mod retry;
mod storing;

use serde::Serialize;

use crate::error::{ClientError, Result};
pub use crate::link::{Connect, Exchange};
use crate::local::Device;
use crate::store::meta;
use crate::store::rejections::Rejection;
pub(crate) use connect::Enrolled;
use engine::{Step, SyncEngine};
use gridwarden_protocol::{ClientMessage, Hello, ServerMessage, PROTOCOL_VERSION};
pub use retry::{CancelToken, RetryPolicy, SyncProgress};
use storing::storing;

/// The client software name sent in Hello, for the server's logs.
pub(crate) const CLIENT_NAME: &str = concat!("gridwarden-client-core/", env!("CARGO_PKG_VERSION"));

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
    /// Reference data (categories, grid cells) the server could not send in
    /// this sync, with its reasons: the records were pushed and pulled all
    /// the same, and the next sync asks again.
    pub reference_errors: Vec<String>,
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
    /// Full photo files dropped under the storage budget after the upload
    /// (their thumbnails stay; `fetch_photo` brings one back, ADR 0031).
    pub photos_dropped: u64,
    /// This user's edits that another user's later edit replaced, learnt
    /// in this sync (also kept: `Client::overwrites`).
    pub overwritten: Vec<crate::store::overwrites::Overwrite>,
    /// The server stops accepting this app's protocol version at this time
    /// (ms since the epoch): the app must be updated before then.
    pub update_required_by_ms: Option<i64>,
    /// Ops this device gave back to a server restored from a backup (its
    /// data changed since the last sync): they are pushed again by their
    /// ids, and the server applies only the ones it lacks.
    pub given_back: u64,
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

/// Sends a request whose answer [`receive`] takes later; a cancellation
/// stops it at once (safe for the same reasons as [`exchange`]).
async fn send<E: Exchange>(
    link: &mut E,
    message: &ClientMessage,
    controls: Controls<'_>,
) -> Result<()> {
    cancellable(link.send(message), controls).await
}

/// The answer to the oldest request in flight.
async fn receive<E: Exchange>(link: &mut E, controls: Controls<'_>) -> Result<ServerMessage> {
    cancellable(link.receive(), controls).await
}

/// Runs an engine to its end over an open link, starting with `first`.
/// The store is locked only while the engine handles an answer, never across
/// a network wait. On a link that pipelines, further pushes go out while
/// the answer to the first is awaited (`SyncEngine::ahead`), up to
/// [`engine::PUSH_WINDOW`] at once, and the pull of the next page goes out
/// before the page received is stored.
pub(crate) async fn drive<E: Exchange>(
    device: &Device,
    link: &mut E,
    mut engine: SyncEngine,
    first: ClientMessage,
    controls: Controls<'_>,
) -> Result<SyncSummary> {
    let window = link.window().clamp(1, engine::PUSH_WINDOW);
    let mut next = Some(first);
    let mut in_flight = 0usize;
    loop {
        let answer = match next.take() {
            // One request at a time: everything but pushes, and every
            // request on a link that does not pipeline (the kept
            // connection's Hello goes here too, to replace a stale one).
            Some(message) if window == 1 || !matches!(message, ClientMessage::Push(_)) => {
                debug_assert_eq!(in_flight, 0, "a request overtook requests in flight");
                exchange(link, &message, controls).await?
            }
            message => {
                if let Some(message) = message {
                    send(link, &message, controls).await?;
                    in_flight += 1;
                }
                while in_flight < window {
                    let more = storing(|| engine.ahead(&mut device.lock_store()))?;
                    let Some(message) = more else { break };
                    send(link, &message, controls).await?;
                    in_flight += 1;
                }
                if in_flight == 0 {
                    return Err(nothing_to_await());
                }
                let answer = receive(link, controls).await?;
                in_flight -= 1;
                answer
            }
        };
        if window > 1 {
            if let Some(pull) = engine.page_ahead(&answer) {
                send(link, &pull, controls).await?;
                in_flight += 1;
            }
        }
        // The next answer keeps arriving meanwhile (`storing.rs`).
        let step = storing(|| engine.handle(&mut device.lock_store(), answer))?;
        let (bytes_sent, bytes_received) = link.bytes();
        let done = match &step {
            Step::Done(summary) => summary,
            Step::Send(_) | Step::Await => engine.summary(),
        };
        controls.report(SyncProgress::Transferring {
            pushed: done.pushed + done.duplicates,
            pulled: done.pulled,
            bytes_sent,
            bytes_received,
        });
        match step {
            Step::Send(message) => next = Some(message),
            Step::Await => {}
            Step::Done(mut summary) => {
                device.lock_store().request_checkpoint();
                crate::local::photos::drop_too_large(device)?;
                // Records are done and durable on both sides; photos follow.
                photos::upload_all(device, link, controls, &mut summary).await?;
                (summary.bytes_sent, summary.bytes_received) = link.bytes();
                return Ok(summary);
            }
        }
    }
}

/// The engine waits for an answer to nothing: a bug, not the network's.
fn nothing_to_await() -> ClientError {
    ClientError::Protocol("the sync waits for an answer to a request it never sent".into())
}

/// The Hello that opens every authenticated connection of this device.
pub(crate) fn hello(conn: &rusqlite::Connection, client_name: &str) -> Result<Hello> {
    let e = meta::enrolment(conn)?.ok_or(ClientError::NotEnrolled)?;
    Ok(Hello {
        protocol_version: PROTOCOL_VERSION,
        device_id: e.device_id,
        token: e.token,
        client: client_name.to_owned(),
    })
}

/// How long a `Hello` that the server welcomed on a kept connection serves
/// the syncs after it on that connection, which send none (ADR 0041): the
/// same five minutes the server waits before it notes a kept connection's
/// device as seen again (`SEEN_EVERY_MS`).
pub const RENEW_EVERY_MS: u64 = 5 * 60 * 1000;

/// Seals the patrol points kept since the last sync, then starts an engine:
/// with a `Hello`, or without one on a link whose last `Hello` the server
/// welcomed within [`RENEW_EVERY_MS`] (`welcomed`).
fn start(device: &Device, welcomed: bool) -> Result<(SyncEngine, ClientMessage)> {
    device.write(crate::local::patrols::seal_tracks)?;
    let clock = device.clock().clone();
    if welcomed {
        SyncEngine::start_welcomed(&mut device.lock_store(), CLIENT_NAME, clock)
    } else {
        SyncEngine::start(&device.lock_store(), CLIENT_NAME, clock)
    }
}

/// One sync over `link`: says `Hello` unless the link's last one is recent,
/// and notes the time of the `Hello` on the link when the sync ends well.
async fn sync_on<E: Exchange>(
    device: &Device,
    link: &mut E,
    controls: Controls<'_>,
) -> Result<SyncSummary> {
    let now = device.clock().now_ms();
    // A clock set back, or a renewal period over: Hello.
    let welcomed = link
        .welcomed_at_ms()
        .filter(|&at| at <= now && now - at < RENEW_EVERY_MS);
    // Noted again only once this sync ends well: after a failed one the
    // server holds the connection's later pushes back until a Hello
    // (`server/src/net/order.rs`), and a refusal may mean the session
    // changed.
    link.note_welcomed_at_ms(None);
    let (engine, first) = start(device, welcomed.is_some())?;
    let summary = drive(device, link, engine, first, controls).await?;
    // Reference data the server could not send is asked for again at the
    // next sync's Welcome, as on a connection of its own.
    if summary.reference_errors.is_empty() {
        link.note_welcomed_at_ms(Some(welcomed.unwrap_or(now)));
    }
    Ok(summary)
}

/// One sync over a connection from `connect` (a new one, or the kept one),
/// closed afterwards unless it is kept.
pub(crate) async fn sync_once<C: Connect>(
    device: &Device,
    connect: &C,
    controls: Controls<'_>,
) -> Result<SyncSummary> {
    let mut link = cancellable(connect.connect(), controls).await?;
    let mut result = sync_on(device, &mut link, controls).await;
    if matches!(&result, Err(e) if e.is_offline()) && link.lost_before_answer() {
        // A kept connection that was gone unnoticed, and a sync that sent
        // no Hello on it: the server's session went with it. Once more on a
        // new connection, with a Hello; the ops whose acks were lost go
        // again by their ids (nothing is applied twice).
        tracing::debug!("the kept connection was gone; syncing again on a new one");
        link.close().await;
        link = cancellable(connect.connect(), controls).await?;
        result = sync_on(device, &mut link, controls).await;
    }
    remember_presented(device, &link);
    link.close().await;
    result
}

/// Stores what the link's handshake presented, now that its first answer
/// came (`connect::remember`). A failure to store it leaves the pins as they
/// were, and the sync's own outcome stands.
fn remember_presented<E: Exchange>(device: &Device, link: &E) {
    if let Some(presented) = link.handshake_presented() {
        if let Err(e) = connect::remember(device, presented) {
            tracing::warn!(error = %e, "the server's certificate pins were not stored");
        }
    }
}

/// One sync over a link already open (see [`Exchange`]).
pub(crate) async fn sync_over<E: Exchange>(
    device: &Device,
    link: &mut E,
    controls: Controls<'_>,
) -> Result<SyncSummary> {
    let result = sync_on(device, link, controls).await;
    remember_presented(device, link);
    result
}

/// Syncs, retrying with backoff while the server cannot be reached, until
/// `policy` gives up or `controls.cancel` fires. Refusals (a revoked device,
/// a bad request) are not retried: trying again would get the same answer.
pub(crate) async fn sync_retrying<C: Connect>(
    device: &Device,
    connect: &C,
    policy: &RetryPolicy,
    controls: Controls<'_>,
) -> Result<SyncSummary> {
    let mut attempt = 1;
    loop {
        controls.check()?;
        controls.report(SyncProgress::Connecting { attempt });
        let error = match sync_once(device, connect, controls).await {
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
        cancellable(
            async {
                tokio::time::sleep(delay).await;
                Ok(())
            },
            controls,
        )
        .await?;
        attempt += 1;
    }
}

/// Waits for `work` unless `controls.cancel` fires first.
pub(crate) async fn cancellable<T>(
    work: impl std::future::Future<Output = Result<T>>,
    controls: Controls<'_>,
) -> Result<T> {
    match controls.cancel {
        Some(cancel) => tokio::select! {
            out = work => out,
            _ = cancel.cancelled() => Err(ClientError::Cancelled),
        },
        None => work.await,
    }
}
