//! Admission of new connections: a city's phones syncing at the same moment
//! (the morning shift's first sync) shake hands a bounded number at a time,
//! in the order they arrived, instead of all at once.
//!
//! Why: every handshake in progress shares the CPU with every other. With
//! 2,000 at once each one's crypto, and its device's Hello, completed only
//! near the end of the whole herd, so every round was as long as the herd's
//! and the slowest ran past the Hello timeout (the fleet benchmark's failed
//! devices). Admitted a few hundred at a time, a connection goes from its
//! first packet to its authenticated Hello in a fraction of the herd's time
//! while the next ones wait, costing nothing: an `Incoming` that was not
//! accepted holds only its first packets (quinn buffers them), and the
//! device's own retransmissions keep it alive.
//!
//! Two bounds, both counted before any cryptography:
//! - `max_unauthenticated` connections waiting or shaking hands: more are
//!   refused at once (a flood costs a refusal packet each);
//! - `max_handshaking` of them admitted at once; the rest wait in arrival
//!   order (tokio's semaphore is fair), each at most `handshake_queue_s`,
//!   after which it is refused (a phone gave up on it long ago).
//!
//! A slot is held from the first packet until the Hello is answered, so a
//! device that finished its crypto but never speaks holds it only until the
//! Hello timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The edge's two bounds on connections not yet authenticated.
pub(super) struct Admission {
    waiting_or_shaking: Arc<Semaphore>,
    shaking: Arc<Semaphore>,
    max_wait: Duration,
}

/// A connection counted against `max_unauthenticated`, not yet admitted.
pub(super) struct Queued {
    counted: OwnedSemaphorePermit,
    shaking: Arc<Semaphore>,
    max_wait: Duration,
}

/// A connection admitted to shake hands; dropping it makes room for the
/// next one (done once its Hello is answered, or it failed).
pub(super) struct Admitted {
    _counted: OwnedSemaphorePermit,
    _shaking: OwnedSemaphorePermit,
}

impl Admission {
    pub(super) fn new(max_unauthenticated: u32, max_handshaking: u32, max_wait: Duration) -> Self {
        Self {
            waiting_or_shaking: Arc::new(Semaphore::new(max_unauthenticated as usize)),
            shaking: Arc::new(Semaphore::new(max_handshaking as usize)),
            max_wait,
        }
    }

    /// Counts a new connection, or `None` when `max_unauthenticated` are
    /// already waiting or shaking hands: refuse it.
    pub(super) fn arrive(&self) -> Option<Queued> {
        let counted = self.waiting_or_shaking.clone().try_acquire_owned().ok()?;
        Some(Queued {
            counted,
            shaking: self.shaking.clone(),
            max_wait: self.max_wait,
        })
    }
}

impl Queued {
    /// Waits for this connection's turn to shake hands, in arrival order;
    /// `None` if it waited past the bound: refuse it.
    pub(super) async fn turn(self) -> Option<Admitted> {
        let shaking = tokio::time::timeout(self.max_wait, self.shaking.acquire_owned())
            .await
            .ok()?
            // Never closed: the semaphore lives as long as the edge.
            .ok()?;
        Some(Admitted {
            _counted: self.counted,
            _shaking: shaking,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_past_the_bound_wait_in_arrival_order() {
        let admission = Admission::new(10, 2, Duration::from_secs(20));
        let first = admission.arrive().unwrap().turn().await.unwrap();
        let _second = admission.arrive().unwrap().turn().await.unwrap();
        let third = admission.arrive().unwrap();
        let fourth = admission.arrive().unwrap();
        let third = tokio::spawn(third.turn());
        tokio::task::yield_now().await;
        let fourth = tokio::spawn(fourth.turn());
        tokio::task::yield_now().await;
        assert!(!third.is_finished() && !fourth.is_finished());
        drop(first);
        let third = third.await.unwrap();
        assert!(third.is_some(), "the first to wait is the first let in");
        tokio::task::yield_now().await;
        assert!(!fourth.is_finished(), "one slot freed lets one in");
        drop(third);
        assert!(fourth.await.unwrap().is_some());
    }

    #[tokio::test]
    async fn past_the_cap_a_connection_is_refused_at_once() {
        let admission = Admission::new(2, 1, Duration::from_secs(20));
        let _shaking = admission.arrive().unwrap().turn().await.unwrap();
        let _waiting = admission.arrive().unwrap();
        assert!(admission.arrive().is_none());
    }

    #[tokio::test]
    async fn a_connection_that_waited_too_long_is_refused_and_frees_its_place() {
        let admission = Admission::new(2, 1, Duration::from_millis(50));
        let _shaking = admission.arrive().unwrap().turn().await.unwrap();
        let waiting = admission.arrive().unwrap();
        assert!(admission.arrive().is_none());
        assert!(waiting.turn().await.is_none(), "given up after its wait");
        assert!(admission.arrive().is_some(), "its place is free again");
    }
}
