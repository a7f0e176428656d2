//! The app's live connection: while the app is in the foreground it keeps
//! one connection to the server (no handshake per sync) and pulls as soon
//! as the server says something new is in its scope (a verification task,
//! a case step, a report in its cells). The app hears it through its
//! [`LiveListener`]; nothing polls.

use std::sync::{Arc, Mutex};

use gridwarden_client_core as core;
use gridwarden_protocol::NoticeKind as CoreKind;

use crate::types::SyncSummary;

/// What a notice from the server was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum NoticeKind {
    /// Records in this device's scope changed.
    Changed,
    /// A task for this device's user (a verification).
    Task,
    /// The category table or grid layer changed.
    Reference,
}

/// What the live connection brings, in the order it happens.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum LiveEvent {
    /// The connection is open and the device has caught up with a sync.
    Connected { summary: SyncSummary },
    /// The server said something new is in scope (`ids`: the reports
    /// concerned) and the device pulled it: `summary`, or `error` when the
    /// pull failed (it is tried again at the next notice or sync).
    Pulled {
        kind: NoticeKind,
        ids: Vec<String>,
        summary: Option<SyncSummary>,
        error: Option<String>,
    },
    /// The connection closed; another is opened, with backoff while the
    /// server cannot be reached.
    Lost,
}

/// Told of the live connection's events; implemented by the app.
///
/// Called on one of the library's threads, never the UI thread: post to
/// the UI before touching views, return quickly, do not throw, and do not
/// start a blocking call of the client from inside it.
#[uniffi::export(foreign)]
pub trait LiveListener: Send + Sync {
    fn on_event(&self, event: LiveEvent);
}

impl From<core::LiveEvent> for LiveEvent {
    fn from(event: core::LiveEvent) -> Self {
        match event {
            core::LiveEvent::Connected(summary) => LiveEvent::Connected {
                summary: summary.into(),
            },
            core::LiveEvent::Pulled { notice, result } => {
                let (summary, error) = match result {
                    Ok(summary) => (Some(summary.into()), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                LiveEvent::Pulled {
                    kind: match notice.kind {
                        CoreKind::Changed => NoticeKind::Changed,
                        CoreKind::Task => NoticeKind::Task,
                        CoreKind::Reference => NoticeKind::Reference,
                    },
                    ids: notice.ids.iter().map(ToString::to_string).collect(),
                    summary,
                    error,
                }
            }
            core::LiveEvent::Lost => LiveEvent::Lost,
        }
    }
}

/// The watch running for a client, if one is.
#[derive(Debug, Default)]
pub(crate) struct Watch(Mutex<Option<core::CancelToken>>);

impl Watch {
    /// Starts `client`'s watch unless one runs; returns the work to spawn.
    pub fn start(
        &self,
        client: Arc<core::Client>,
        listener: Arc<dyn LiveListener>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let mut running = self.0.lock().expect("watch lock");
        if running.as_ref().is_some_and(|c| !c.is_cancelled()) {
            return None;
        }
        let cancel = core::CancelToken::new();
        *running = Some(cancel.clone());
        Some(async move {
            let on_event = move |event: core::LiveEvent| listener.on_event(event.into());
            let controls = core::Controls {
                cancel: Some(&cancel),
                progress: None,
            };
            // It ends only when stopped (the client keeps a connection for
            // it, so the one other error cannot come).
            let _ = client.watch_async(controls, &on_event).await;
            client.disconnect().await;
        })
    }

    pub fn stop(&self) {
        if let Some(cancel) = self.0.lock().expect("watch lock").take() {
            cancel.cancel();
        }
    }
}
