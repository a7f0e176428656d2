//! The hooks an app gives a sync: a listener told of its progress and a
//! token that cancels it, and the one call that hands both to the core.

use std::sync::Arc;

use gridwarden_client_core as core;

use crate::types::SyncProgress;

/// Told where a sync stands after every step; implemented by the app.
///
/// Called on one of the library's threads, never the UI thread: post to the
/// UI before touching views, return quickly (the sync waits for it), do not
/// throw, and do not start a blocking sync from inside it.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

/// Cancels the syncs it is given to, from any thread: the app went to the
/// background, the user pressed stop, the OS ended a background job. Safe at
/// any moment: what the server acknowledged is already stored on both
/// sides. A token stays cancelled; make a new one for the next sync.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancelToken {
    inner: core::CancelToken,
}

#[uniffi::export]
impl CancelToken {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn cancel(&self) {
        self.inner.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// One sync (with retries as `policy` says) of `client`, owning everything
/// it uses so it can run as a task of the client's runtime.
pub(crate) async fn run(
    client: Arc<core::Client>,
    policy: core::RetryPolicy,
    listener: Option<Arc<dyn SyncListener>>,
    cancel: Option<Arc<CancelToken>>,
) -> core::Result<core::SyncSummary> {
    let report = listener.map(|l| move |p: core::SyncProgress| l.on_progress(p.into()));
    let controls = core::Controls {
        cancel: cancel.as_ref().map(|c| &c.inner),
        progress: report
            .as_ref()
            .map(|f| f as &(dyn Fn(core::SyncProgress) + Send + Sync)),
    };
    client.sync_retrying(&policy, controls).await
}
