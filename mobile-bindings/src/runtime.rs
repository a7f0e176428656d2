//! The tokio runtime each client owns.
//!
//! A phone app has no tokio of its own, and Kotlin coroutines, Swift tasks
//! and Python's asyncio cannot drive tokio's sockets and timers. So the
//! client carries a small runtime and every network call runs on its thread:
//! an async call hands the app a future its own executor awaits, a blocking
//! call parks the calling thread (a background worker's) until it is done.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use crate::error::GridwardenError;

#[derive(Debug)]
pub(crate) struct Runtime {
    /// `None` only while dropping.
    inner: Option<tokio::runtime::Runtime>,
}

impl Runtime {
    pub fn new() -> std::io::Result<Self> {
        let inner = tokio::runtime::Builder::new_multi_thread()
            // Syncs wait on the network, not the CPU: one thread drives the
            // connections of every sync of this client.
            .worker_threads(1)
            .thread_name("gridwarden-sync")
            .enable_all()
            .build()?;
        Ok(Self { inner: Some(inner) })
    }

    fn handle(&self) -> &tokio::runtime::Runtime {
        self.inner.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `work` on the runtime and waits for it. Not for the UI thread,
    /// nor for a thread of this runtime (a `SyncListener` callback).
    pub fn block_on<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, GridwardenError> {
        self.handle().block_on(self.spawn(work))
    }

    /// Runs `work` on the runtime until it ends or the runtime is dropped,
    /// with nobody awaiting it (the live connection's watch).
    pub fn detach(&self, work: impl Future<Output = ()> + Send + 'static) {
        drop(self.handle().spawn(work));
    }

    /// Runs `work` on the runtime; the returned future completes with its
    /// result wherever it is awaited.
    pub fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> OnRuntime<T> {
        OnRuntime(self.handle().spawn(work))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The app may drop its client on the UI thread: never wait there for
        // a sync to notice. Dropping a sync mid-way is safe (see CancelToken).
        if let Some(runtime) = self.inner.take() {
            runtime.shutdown_background();
        }
    }
}

/// Work running on the runtime. Dropping it (a cancelled Kotlin coroutine or
/// Swift task) stops the work instead of leaving it running unobserved.
pub(crate) struct OnRuntime<T>(JoinHandle<T>);

impl<T> Future for OnRuntime<T> {
    type Output = Result<T, GridwardenError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.map_err(|e| {
                if e.is_cancelled() {
                    GridwardenError::Cancelled {
                        message: "the task running the request was cancelled".into(),
                    }
                } else {
                    GridwardenError::Other {
                        message: format!("the request failed inside the library: {e}"),
                    }
                }
            })
        })
    }
}

impl<T> Drop for OnRuntime<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
