//! Tells connected devices that something new is in their scope: each
//! change the service publishes after a commit (`service/notify.rs`) becomes
//! a `ServerMessage::Notice` on a stream the server opens (one way) on each
//! connection it concerns. The device pulls at once. With several server
//! processes on one PostgreSQL store, the changes the others committed
//! arrive through the store's fan-out (ADR 0033), relayed here too.

use std::sync::Arc;
use std::time::Duration;

use gridwarden_protocol::frame::frame_payload;
use gridwarden_protocol::{versions, Notice, NoticeKind, ServerMessage};
use tokio::sync::broadcast::error::RecvError;

use super::registry::Live;
use super::Edge;
use crate::service::notify::Told;

/// Protocol 2 has no notice: its connections are left out.
const NOTICES_SINCE: u16 = 3;
/// A device that does not take a notice within this gives it up (it syncs
/// anyway); the sending task ends.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs for as long as the server: one change at a time, a task per notice
/// sent so a slow device holds up nobody. Beside it, the other processes'
/// changes are relayed in (a store without a fan-out has none).
pub(super) async fn tell_devices(edge: Arc<Edge>) {
    let mut changes = edge.service.notifier().subscribe();
    let relay = edge.service.notifier().relay();
    let tell = async {
        loop {
            let change = match changes.recv().await {
                Ok(Told::Change(change)) => Some(change),
                // Another process's changes went unheard (the database
                // restarted): which is unknown, so every connected device
                // is told to pull.
                Ok(Told::Missed) => None,
                // Fell behind: the same.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "notices fell behind; every connected device is told to pull"
                    );
                    None
                }
                Err(RecvError::Closed) => return,
            };
            // Only the connections the change may concern: looking at
            // every one for each change cost a third of the steady
            // server's CPU with 2,000 open (docs/benchmarks.md).
            let concerned = match &change {
                Some(change) => edge.registry.concerned(change),
                None => edge.registry.live(),
            };
            for live in concerned {
                if live.version < NOTICES_SINCE {
                    continue;
                }
                let notice = match &change {
                    Some(change) => edge.service.notice_for(&live.session.current(), change),
                    None => Some(Notice {
                        kind: NoticeKind::Changed,
                        ids: Vec::new(),
                    }),
                };
                if let Some(notice) = notice {
                    tokio::spawn(send(live, notice));
                }
            }
        }
    };
    // The relay returns at once without a fan-out; telling goes on.
    tokio::join!(relay, tell);
}

async fn send(live: Live, notice: Notice) {
    let frame = frame_payload(&versions::encode_server(
        live.version,
        &ServerMessage::Notice(notice),
    ));
    let sent = tokio::time::timeout(SEND_TIMEOUT, async {
        let mut stream = live.conn.open_uni().await?;
        stream.write_all(&frame).await?;
        stream.finish()?;
        anyhow::Ok(())
    })
    .await;
    match sent {
        Ok(Ok(())) => {
            crate::metrics::get().notices.inc();
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "a notice was not delivered"),
        Err(_) => tracing::debug!("a notice was not taken in time"),
    }
}
