//! The long-lived connection of an app that runs (brief decision 7, ADR
//! 0028): kept open between syncs, so a sync after the first costs no
//! handshake, and listened on for the server's notices, so the device
//! pulls the moment something new is in its scope. The command line does
//! not keep one: it connects per command.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gridwarden_protocol::Notice;
use tokio::sync::{Mutex, MutexGuard};

use super::{sync_once, sync_retrying, Controls, Enrolled, RetryPolicy, SyncSummary};
use crate::error::{ClientError, Result};
use crate::link::quic::{self, Notices, Session, Timing};
use crate::link::{Connect, Exchange};
use crate::local::Device;
use gridwarden_protocol::{ClientMessage, ServerMessage};

/// The kept connection, if one is open. One sync at a time uses it (a
/// sync's pull is one conversation); notices are heard beside it.
#[derive(Default)]
pub struct Kept {
    slot: Mutex<Option<Session>>,
    timing: Timing,
    /// Kept between every sync; else only while [`watch`] runs (an app
    /// keeps it while it is in the foreground and watching).
    always: bool,
    watching: AtomicBool,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl Kept {
    /// Kept with `timing`; between all syncs if `always`, else only while
    /// watched.
    pub fn new(timing: Timing, always: bool) -> Self {
        Self {
            slot: Mutex::default(),
            timing,
            always,
            watching: AtomicBool::new(false),
        }
    }

    fn keeps(&self) -> bool {
        self.always || self.watching.load(Ordering::SeqCst)
    }

    /// Opens kept connections to the enrolled server for `enrolled`'s device.
    pub(crate) fn connector<'a>(&'a self, enrolled: Enrolled<'a>) -> KeptConnect<'a> {
        KeptConnect {
            kept: self,
            enrolled,
        }
    }

    /// The notices of the connection open now, if one is.
    async fn notices(&self) -> Option<Notices> {
        let slot = self.slot.lock().await;
        slot.as_ref().filter(|s| s.is_open()).map(Session::notices)
    }

    /// Whether a connection is kept open now.
    pub async fn is_open(&self) -> bool {
        self.slot
            .lock()
            .await
            .as_ref()
            .is_some_and(Session::is_open)
    }

    /// Closes the kept connection (the app goes to the background).
    pub async fn close(&self) {
        if let Some(session) = self.slot.lock().await.take() {
            session.close().await;
        }
    }
}

/// A [`Connect`] that hands out the kept connection, opening it first when
/// none is open (the first sync, or the one after a loss).
pub(crate) struct KeptConnect<'a> {
    kept: &'a Kept,
    enrolled: Enrolled<'a>,
}

impl<'a> Connect for KeptConnect<'a> {
    type Link = KeptLink<'a>;

    async fn connect(&self) -> Result<KeptLink<'a>> {
        let mut slot = self.kept.slot.lock().await;
        let reused = slot.as_ref().is_some_and(Session::is_open);
        if !reused {
            *slot = Some(self.enrolled.connect_timed(self.kept.timing).await?);
        }
        let base = slot.as_ref().map(Exchange::bytes).unwrap_or_default();
        Ok(KeptLink {
            kept: self.kept,
            slot,
            base,
            stale: reused.then_some((self.enrolled, self.kept.timing)),
            lost: false,
        })
    }
}

/// The kept connection, held by one sync.
pub(crate) struct KeptLink<'a> {
    kept: &'a Kept,
    slot: MutexGuard<'a, Option<Session>>,
    /// The connection's byte counts when this sync took it.
    base: (u64, u64),
    /// Set until the first answer on a reused connection: one the network
    /// or a restarted server dropped unnoticed is replaced once.
    stale: Option<(Enrolled<'a>, Timing)>,
    /// The reused connection was found gone before its first answer.
    lost: bool,
}

impl KeptLink<'_> {
    /// `message`'s answer on the connection held, and whether the
    /// connection is closed afterwards (not merely slow to answer).
    async fn request(&mut self, message: &ClientMessage) -> (Result<ServerMessage>, bool) {
        let answer = match self.session() {
            Ok(session) => session.request(message).await,
            Err(e) => Err(e),
        };
        let closed = self.closed();
        (self.forget_if_lost(answer), closed)
    }

    /// The connection this sync holds; offline once it was lost.
    fn session(&mut self) -> Result<&mut Session> {
        self.slot
            .as_mut()
            .ok_or_else(|| ClientError::Offline("the connection to the server was lost".into()))
    }

    /// Whether the connection held is gone (closed, reset, timed out idle).
    fn closed(&self) -> bool {
        !self.slot.as_ref().is_some_and(Session::is_open)
    }

    /// A pipelined request or answer on a reused connection: the first
    /// answer shows it alive; the connection closed before it shows it was
    /// gone. A request that only took long on a live connection is not a
    /// lost connection: running the sync again at once would press a busy
    /// server with the same pushes.
    fn note_first<T>(&mut self, outcome: &Result<T>, answered: bool, closed: bool) {
        if self.stale.is_some() {
            match outcome {
                Err(e) if e.is_offline() && closed => self.lost = true,
                Ok(_) if answered => self.stale = None,
                _ => {}
            }
        }
    }

    /// Drops a connection that failed as lost: the next sync opens a new one.
    fn forget_if_lost<T>(&mut self, outcome: Result<T>) -> Result<T> {
        if matches!(&outcome, Err(e) if e.is_offline()) {
            *self.slot = None;
        }
        outcome
    }
}

impl Exchange for KeptLink<'_> {
    async fn exchange(&mut self, message: &ClientMessage) -> Result<ServerMessage> {
        let (answer, closed) = self.request(message).await;
        let Some((enrolled, timing)) = self.stale.take() else {
            return answer;
        };
        if !matches!(&answer, Err(e) if e.is_offline()) {
            return answer;
        }
        if !matches!(message, ClientMessage::Hello(_)) {
            // The session this request needed went with the connection:
            // the sync starts again with a Hello (`lost_before_answer`).
            self.lost = closed;
            return answer;
        }
        tracing::debug!("the kept connection was gone; connecting again");
        *self.slot = Some(enrolled.connect_timed(timing).await?);
        self.base = (0, 0);
        self.request(message).await.0
    }

    /// The first request goes through `exchange`, which replaces a stale
    /// connection for a Hello; the pushes after it may be pipelined.
    fn window(&self) -> usize {
        self.slot.as_ref().map_or(1, Exchange::window)
    }

    async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        let sent = self.session()?.send(message).await;
        let closed = self.closed();
        self.note_first(&sent, false, closed);
        self.forget_if_lost(sent)
    }

    async fn receive(&mut self) -> Result<ServerMessage> {
        let answer = self.session()?.receive().await;
        let closed = self.closed();
        self.note_first(&answer, true, closed);
        self.forget_if_lost(answer)
    }

    fn handshake_presented(&self) -> Option<crate::tls::Presented> {
        self.slot.as_ref().and_then(Exchange::handshake_presented)
    }

    fn bytes(&self) -> (u64, u64) {
        let (sent, received) = self.slot.as_ref().map(Exchange::bytes).unwrap_or(self.base);
        (
            sent.saturating_sub(self.base.0),
            received.saturating_sub(self.base.1),
        )
    }

    fn welcomed_at_ms(&self) -> Option<u64> {
        self.slot.as_ref().and_then(Exchange::welcomed_at_ms)
    }

    fn note_welcomed_at_ms(&mut self, at_ms: Option<u64>) {
        if let Some(session) = self.slot.as_mut() {
            session.note_welcomed_at_ms(at_ms);
        }
    }

    fn lost_before_answer(&self) -> bool {
        self.lost
    }

    /// Kept open for the next sync, unless nothing keeps it.
    async fn close(mut self) {
        if !self.kept.keeps() {
            if let Some(session) = self.slot.take() {
                session.close().await;
            }
        }
    }
}

/// What the watch of a kept connection tells the app.
#[derive(Debug)]
pub enum LiveEvent {
    /// The connection is open and the device caught up with a sync.
    Connected(SyncSummary),
    /// The server said something new is in scope; the device pulled.
    Pulled {
        notice: Notice,
        result: Result<SyncSummary>,
    },
    /// The connection closed; the watch opens another (with backoff while
    /// the server cannot be reached).
    Lost,
}

/// How long the watch waits before it tries again after a sync that failed
/// for a reason other than the network (a refusal): not in a tight loop.
const AFTER_REFUSAL: Duration = Duration::from_secs(30);

/// Keeps `kept` open and answers each notice on it with a sync, telling
/// `on_event`, until `controls.cancel` fires (the only way it ends, with
/// `Cancelled`).
pub(crate) async fn watch(
    device: &Device,
    kept: &Kept,
    enrolled: Enrolled<'_>,
    controls: Controls<'_>,
    on_event: &(dyn Fn(LiveEvent) + Send + Sync),
) -> Result<()> {
    let _watching = Watching::start(kept);
    let connect = kept.connector(enrolled);
    let reconnect = RetryPolicy {
        max_attempts: None,
        ..RetryPolicy::default()
    };
    loop {
        controls.check()?;
        let mut notices = match kept.notices().await {
            Some(notices) => notices,
            None => {
                // Opened, and whatever was missed meanwhile is pulled.
                match sync_retrying(device, &connect, &reconnect, controls).await {
                    Ok(summary) => on_event(LiveEvent::Connected(summary)),
                    Err(ClientError::Cancelled) => return Err(ClientError::Cancelled),
                    Err(e) => {
                        tracing::warn!(error = %e, "the live connection's sync was refused");
                        super::cancellable(
                            async {
                                tokio::time::sleep(AFTER_REFUSAL).await;
                                Ok(())
                            },
                            controls,
                        )
                        .await?;
                    }
                }
                continue;
            }
        };
        match super::cancellable(async { Ok(notices.next().await) }, controls).await? {
            Some(Ok(notice)) => {
                tracing::debug!(kind = ?notice.kind, ids = notice.ids.len(), "notice; pulling");
                let result = sync_once(device, &connect, controls).await;
                if matches!(result, Err(ClientError::Cancelled)) {
                    return Err(ClientError::Cancelled);
                }
                on_event(LiveEvent::Pulled { notice, result });
            }
            Some(Err(e)) => tracing::warn!(error = %e, "a notice could not be read"),
            None => on_event(LiveEvent::Lost),
        }
    }
}

/// Marks a kept connection watched for as long as it lives.
struct Watching<'a>(&'a Kept);

impl<'a> Watching<'a> {
    fn start(kept: &'a Kept) -> Self {
        kept.watching.store(true, Ordering::SeqCst);
        Self(kept)
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        // The next sync closes the connection after itself.
        self.0.watching.store(false, Ordering::SeqCst);
    }
}

impl Enrolled<'_> {
    /// [`Connect::connect`] with a long-lived connection's timing.
    async fn connect_timed(&self, timing: Timing) -> Result<Session> {
        self.connect_with(|server, pins, timeout| async move {
            quic::connect_timed(&server, pins, timeout, timing).await
        })
        .await
    }
}
