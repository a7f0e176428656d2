//! Reconnect policy: exponential backoff with full jitter, cancellation, and
//! progress reports. The backoff is a pure state machine (attempt in, delay
//! out, randomness supplied by the caller) so it is tested without a clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// How a sync retries when the server cannot be reached.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Delay ceiling of the first retry.
    pub initial: Duration,
    /// Delays never exceed this, however many attempts failed.
    pub max: Duration,
    /// Growth of the ceiling per failed attempt.
    pub multiplier: f64,
    /// Attempts in all, the first included; `None` retries until cancelled.
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    /// Suits a phone in a basement: retry soon, then back off to a minute,
    /// without a fleet of phones reconnecting in lockstep after an outage.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            max_attempts: Some(8),
        }
    }
}

impl RetryPolicy {
    /// A single attempt, no retries.
    pub fn once() -> Self {
        Self {
            max_attempts: Some(1),
            ..Self::default()
        }
    }

    /// Delay before attempt `next` (2 for the first retry), or `None` when
    /// the policy gives up. `unit` is a random number in [0, 1): full jitter
    /// spreads reconnects uniformly below the exponential ceiling.
    pub fn delay_before(&self, next: u32, unit: f64) -> Option<Duration> {
        if next <= 1 {
            return Some(Duration::ZERO);
        }
        if self.max_attempts.is_some_and(|max| next > max) {
            return None;
        }
        let exponent = i32::try_from(next - 2).unwrap_or(i32::MAX);
        let ceiling = (self.initial.as_secs_f64() * self.multiplier.powi(exponent))
            .min(self.max.as_secs_f64());
        Some(Duration::from_secs_f64(ceiling * unit.clamp(0.0, 1.0)))
    }
}

/// Cancels a sync from another thread or task (the app went to the
/// background, the user pressed stop). Cancelling is always safe: every
/// acknowledged op and every stored page was committed before the next step.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    cancelled: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Completes once cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Where a sync stands, reported after every step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum SyncProgress {
    /// Attempt `attempt` is connecting.
    Connecting { attempt: u32 },
    /// Ops acknowledged and records pulled so far in this attempt.
    Transferring {
        pushed: u64,
        pulled: u64,
        bytes_sent: u64,
        bytes_received: u64,
    },
    /// Bytes of a photo the server holds so far: photo `photo` of the
    /// `photos` this sync sends, at the measured rate (0 until measured),
    /// with the time left for this photo and those after it.
    Photo {
        hash: String,
        sent: u64,
        total: u64,
        photo: u32,
        photos: u32,
        rate_bytes_per_s: u64,
        left_ms: Option<u64>,
    },
    /// Attempt `attempt` failed; the next starts after `delay_ms`.
    Waiting {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_grows_exponentially_up_to_the_maximum() {
        let p = RetryPolicy {
            max_attempts: None,
            ..RetryPolicy::default()
        };
        let ceilings: Vec<f64> = (2..12)
            .map(|n| p.delay_before(n, 0.999_999).unwrap().as_secs_f64())
            .collect();
        assert!(
            (ceilings[0] - 0.5).abs() < 1e-3
                && (ceilings[1] - 1.0).abs() < 1e-3
                && (ceilings[2] - 2.0).abs() < 1e-3
        );
        assert!(ceilings.iter().all(|c| *c <= 60.0));
        assert!((ceilings[9] - 60.0).abs() < 1e-3, "{ceilings:?}");
    }

    #[test]
    fn jitter_spreads_delays_below_the_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_before(4, 0.0), Some(Duration::ZERO));
        assert_eq!(p.delay_before(4, 0.5), Some(Duration::from_secs(1)));
        assert_eq!(
            p.delay_before(1, 0.7),
            Some(Duration::ZERO),
            "the first attempt never waits"
        );
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let p = RetryPolicy {
            max_attempts: Some(3),
            ..RetryPolicy::default()
        };
        assert!(p.delay_before(3, 0.5).is_some());
        assert_eq!(p.delay_before(4, 0.5), None);
        assert_eq!(RetryPolicy::once().delay_before(2, 0.5), None);
    }

    #[test]
    fn a_huge_attempt_number_does_not_overflow() {
        let p = RetryPolicy {
            max_attempts: None,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_before(u32::MAX, 0.5), Some(Duration::from_secs(30)));
    }

    #[test]
    fn cancel_wakes_a_waiter() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let token = CancelToken::new();
        let other = token.clone();
        rt.block_on(async move {
            let waiter = tokio::spawn(async move { other.cancelled().await });
            tokio::task::yield_now().await;
            token.cancel();
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .unwrap()
                .unwrap();
        });
    }
}
