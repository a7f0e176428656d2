//! Hybrid logical clock (Kulkarni et al., 2014): physical milliseconds, a
//! counter for events within the same millisecond, and the node id as the
//! final tie-break. Ordering is total, so last-writer-wins is deterministic on
//! every replica, and a device whose wall clock runs slow still orders its
//! writes after everything it has already seen.

use serde::{Deserialize, Serialize};

/// How far any clock may be ahead of the server's wall clock (docs/adr, the
/// clock rules). The server refuses ops stamped further ahead and never lets
/// its own clock run further ahead of its wall clock; devices fold in server
/// clocks only up to half of it ahead of their own corrected time. Edits made
/// more than this apart in real time are ordered by real time.
pub const MAX_DRIFT_MS: u64 = 60_000;

/// A hybrid logical timestamp. Field order is the comparison order.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch, as far as this clock knows.
    pub wall_ms: u64,
    /// Events within the same `wall_ms`.
    pub counter: u32,
    /// The writing node (derived from the device id; 0 for the server).
    pub node: u64,
}

impl Hlc {
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
        node: 0,
    };

    pub fn new(wall_ms: u64, counter: u32, node: u64) -> Self {
        Self {
            wall_ms,
            counter,
            node,
        }
    }
}

impl std::fmt::Display for Hlc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}@{:016x}", self.wall_ms, self.counter, self.node)
    }
}

/// Derives a clock node id from a device id: the low 64 bits, which are the
/// random part of a UUIDv4 or UUIDv7.
pub fn node_id(device: uuid::Uuid) -> u64 {
    let bytes = device.as_bytes();
    u64::from_be_bytes(bytes[8..16].try_into().expect("uuid has 16 bytes"))
}

/// A remote timestamp too far ahead of this node's physical time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("clock {remote_ms} ms is {ahead_ms} ms ahead of local time (allowed {max_skew_ms} ms)")]
pub struct ClockSkew {
    pub remote_ms: u64,
    pub ahead_ms: u64,
    pub max_skew_ms: u64,
}

/// The clock state of one node. The caller supplies physical time, so the
/// clock is deterministic under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    pub fn new(node: u64) -> Self {
        Self {
            last: Hlc {
                wall_ms: 0,
                counter: 0,
                node,
            },
        }
    }

    /// Resumes from a persisted last timestamp (for example after restart).
    pub fn resume(last: Hlc, node: u64) -> Self {
        Self {
            last: Hlc { node, ..last },
        }
    }

    /// Resumes from a persisted timestamp, unless it is more than
    /// `bound_ms` ahead of `physical_ms`: a clock that ran ahead (a wall
    /// clock set wrong, then corrected) starts again from physical time
    /// instead of stamping ahead for as long as it was wrong. Returns how
    /// far ahead the dropped timestamp was.
    pub fn resume_bounded(
        last: Hlc,
        node: u64,
        physical_ms: u64,
        bound_ms: u64,
    ) -> (Self, Option<u64>) {
        let ahead = last.wall_ms.saturating_sub(physical_ms);
        if ahead > bound_ms {
            (
                Self::resume(Hlc::new(physical_ms, 0, node), node),
                Some(ahead),
            )
        } else {
            (Self::resume(last, node), None)
        }
    }

    /// A timestamp for a local event that never runs more than `bound_ms`
    /// ahead of `physical_ms`: if the clock is further ahead, it steps back
    /// to physical time first. Returns the stamp and, when it stepped back,
    /// how far ahead the clock had been.
    pub fn tick_bounded(&mut self, physical_ms: u64, bound_ms: u64) -> (Hlc, Option<u64>) {
        let ahead = self.last.wall_ms.saturating_sub(physical_ms);
        let stepped = (ahead > bound_ms).then(|| {
            self.last.wall_ms = physical_ms;
            self.last.counter = 0;
            ahead
        });
        (self.tick(physical_ms), stepped)
    }

    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A timestamp for a local event, strictly after every one issued or
    /// observed before.
    pub fn tick(&mut self, physical_ms: u64) -> Hlc {
        if physical_ms > self.last.wall_ms {
            self.last.wall_ms = physical_ms;
            self.last.counter = 0;
        } else {
            self.advance_counter();
        }
        self.last
    }

    /// Folds in a timestamp received from another node, so that later local
    /// events order after it. Refuses a remote clock more than `max_skew_ms`
    /// ahead of `physical_ms`: one device with a wrong clock must not drag
    /// every replica's clock into the future.
    pub fn observe(
        &mut self,
        remote: Hlc,
        physical_ms: u64,
        max_skew_ms: u64,
    ) -> Result<(), ClockSkew> {
        let ahead_ms = remote.wall_ms.saturating_sub(physical_ms);
        if ahead_ms > max_skew_ms {
            return Err(ClockSkew {
                remote_ms: remote.wall_ms,
                ahead_ms,
                max_skew_ms,
            });
        }
        let wall = self.last.wall_ms.max(remote.wall_ms).max(physical_ms);
        let counter = if wall == self.last.wall_ms && wall == remote.wall_ms {
            self.last.counter.max(remote.counter)
        } else if wall == self.last.wall_ms {
            self.last.counter
        } else if wall == remote.wall_ms {
            remote.counter
        } else {
            self.last.wall_ms = wall;
            self.last.counter = 0;
            return Ok(());
        };
        self.last.wall_ms = wall;
        self.last.counter = counter;
        Ok(())
    }

    fn advance_counter(&mut self) {
        match self.last.counter.checked_add(1) {
            Some(c) => self.last.counter = c,
            None => {
                // 4 billion events in one millisecond: borrow the next one.
                self.last.wall_ms += 1;
                self.last.counter = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ticks_are_strictly_increasing_even_when_wall_clock_goes_back() {
        let mut c = HlcClock::new(1);
        let a = c.tick(1000);
        let b = c.tick(900);
        let d = c.tick(1000);
        assert!(a < b && b < d, "{a} {b} {d}");
    }

    #[test]
    fn observe_orders_later_local_events_after_remote() {
        let mut c = HlcClock::new(1);
        c.tick(1000);
        c.observe(Hlc::new(5000, 3, 2), 1000, 10_000).unwrap();
        let next = c.tick(1000);
        assert!(next > Hlc::new(5000, 3, 2), "{next}");
    }

    #[test]
    fn observe_refuses_a_clock_far_in_the_future() {
        let mut c = HlcClock::new(1);
        let before = c.last();
        let err = c
            .observe(Hlc::new(10_000_000, 0, 2), 1000, 60_000)
            .unwrap_err();
        assert_eq!(err.ahead_ms, 9_999_000);
        assert_eq!(c.last(), before, "a refused observation changes nothing");
    }

    #[test]
    fn a_clock_far_ahead_resumes_from_physical_time() {
        let (c, ahead) = HlcClock::resume_bounded(Hlc::new(900_000, 4, 0), 0, 1000, 60_000);
        assert_eq!(ahead, Some(899_000));
        assert_eq!(c.last(), Hlc::new(1000, 0, 0));
        let (c, ahead) = HlcClock::resume_bounded(Hlc::new(30_000, 4, 0), 0, 1000, 60_000);
        assert_eq!((c.last(), ahead), (Hlc::new(30_000, 4, 0), None));
    }

    #[test]
    fn a_bounded_tick_never_runs_further_ahead_than_the_bound() {
        let mut c = HlcClock::resume(Hlc::new(10_000_000, 0, 0), 0);
        let (t, stepped) = c.tick_bounded(1000, 60_000);
        assert_eq!((t, stepped), (Hlc::new(1000, 1, 0), Some(9_999_000)));
        let (t, stepped) = c.tick_bounded(1000, 60_000);
        assert_eq!((t, stepped), (Hlc::new(1000, 2, 0), None));
    }

    proptest! {
        #[test]
        fn tick_after_any_observations_exceeds_all(
            events in proptest::collection::vec((0u64..10_000, 0u32..5, any::<bool>()), 1..50)
        ) {
            let mut c = HlcClock::new(7);
            let mut max_seen = Hlc::ZERO;
            for (ms, counter, remote) in events {
                if remote {
                    let r = Hlc::new(ms, counter, 9);
                    c.observe(r, ms, 0).unwrap();
                    max_seen = max_seen.max(r);
                } else {
                    let t = c.tick(ms);
                    prop_assert!(t > max_seen);
                    max_seen = t;
                }
            }
            prop_assert!(c.tick(0) > max_seen);
        }
    }
}
