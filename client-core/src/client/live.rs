//! The app's long-lived connection (brief decision 7, ADR 0028): a client
//! made `with_kept_connection` syncs over one connection it keeps open, and
//! [`Client::watch_async`] pulls whenever the server says something new is
//! in scope. Needs a runtime that keeps running between calls (the phone
//! bindings' own): the keep-alives are sent by it.

use super::Client;
use crate::error::{ClientError, Result};
use crate::link::quic::Timing;
use crate::sync::live::{self, Kept, LiveEvent};
use crate::sync::Controls;

impl Client {
    /// Keeps one connection open between syncs, with `timing` (the
    /// default suits phones: ADR 0028). The command line does not.
    pub fn with_kept_connection(mut self, timing: Timing) -> Self {
        self.kept = Some(Kept::new(timing, true));
        self
    }

    /// Keeps a connection only while [`Client::watch_async`] runs (an app
    /// in the foreground); otherwise each sync has its own.
    pub fn with_connection_kept_while_watching(mut self, timing: Timing) -> Self {
        self.kept = Some(Kept::new(timing, false));
        self
    }

    /// Whether a kept connection is open now.
    pub async fn is_connected(&self) -> bool {
        match &self.kept {
            Some(kept) => kept.is_open().await,
            None => false,
        }
    }

    /// Closes the kept connection (the app went to the background); the
    /// next sync opens another.
    pub async fn disconnect(&self) {
        if let Some(kept) = &self.kept {
            kept.close().await;
        }
    }

    /// Opens the kept connection (with a sync) and, on every notice from
    /// the server, pulls and tells `on_event`; reconnects with backoff when
    /// the connection is lost. Ends only when `controls.cancel` fires.
    pub async fn watch_async(
        &self,
        controls: Controls<'_>,
        on_event: &(dyn Fn(LiveEvent) + Send + Sync),
    ) -> Result<()> {
        let kept = self.kept.as_ref().ok_or_else(|| {
            ClientError::InvalidInput(
                "this client keeps no connection: open it with a kept connection to watch".into(),
            )
        })?;
        live::watch(&self.device, kept, self.enrolled(), controls, on_event).await
    }
}
