//! Per-device rate limits: one token bucket per device for connections,
//! requests and pushed ops. A device over its limit is told how long to wait;
//! other devices are not slowed by it. State lives in memory: a restart
//! forgets it, which only ever lets a device through sooner.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::config::RateSection;

/// Devices not seen for this long are forgotten (their buckets were full).
const FORGET_AFTER: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    fn full(burst: u32, per_second: f64, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now;
    }

    /// Takes `n` tokens, or says how long until they would be there.
    fn take(&mut self, n: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= n {
            self.tokens -= n;
            return Ok(());
        }
        let missing = n.min(self.burst) - self.tokens;
        Err(Duration::from_secs_f64(missing / self.per_second))
    }
}

#[derive(Debug)]
struct DeviceBuckets {
    connections: TokenBucket,
    requests: TokenBucket,
    ops: TokenBucket,
    last_seen: Instant,
}

/// Why a device was held back, as a sentence for its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limited(pub String);

pub struct RateLimiter {
    config: RateSection,
    devices: Mutex<HashMap<Uuid, DeviceBuckets>>,
}

impl RateLimiter {
    pub fn new(config: RateSection) -> Self {
        Self {
            config,
            devices: Mutex::new(HashMap::new()),
        }
    }

    fn with_device<T>(
        &self,
        device: Uuid,
        now: Instant,
        f: impl FnOnce(&mut DeviceBuckets) -> T,
    ) -> T {
        let c = &self.config;
        let mut devices = self.devices.lock().expect("rate limiter lock");
        let buckets = devices.entry(device).or_insert_with(|| DeviceBuckets {
            connections: TokenBucket::full(
                c.connection_burst,
                f64::from(c.connections_per_minute) / 60.0,
                now,
            ),
            requests: TokenBucket::full(c.request_burst, c.requests_per_second.into(), now),
            ops: TokenBucket::full(c.op_burst, c.ops_per_second.into(), now),
            last_seen: now,
        });
        buckets.last_seen = now;
        f(buckets)
    }

    /// A new authenticated connection of `device`.
    pub fn connection(&self, device: Uuid, now: Instant) -> Result<(), Limited> {
        self.with_device(device, now, |b| b.connections.take(1.0, now))
            .map_err(|wait| {
                Limited(format!(
                    "this device opened more than {} connections a minute; wait {} s and sync again",
                    self.config.connections_per_minute,
                    wait.as_secs().max(1)
                ))
            })
    }

    /// One request (stream) of `device`, counted before it is read: garbage
    /// costs a device its budget like anything else.
    pub fn request(&self, device: Uuid, now: Instant) -> Result<(), Limited> {
        self.with_device(device, now, |b| b.requests.take(1.0, now))
            .map_err(|wait| {
                Limited(format!(
                    "this device sent more than {} requests a second; wait {} s and sync again",
                    self.config.requests_per_second,
                    wait.as_secs().max(1)
                ))
            })
    }

    /// `ops` pushed ops of `device`.
    pub fn ops(&self, device: Uuid, ops: usize, now: Instant) -> Result<(), Limited> {
        self.with_device(device, now, |b| b.ops.take(ops as f64, now))
            .map_err(|wait| {
                Limited(format!(
                    "this device pushed more than {} ops a second; wait {} s and sync again",
                    self.config.ops_per_second,
                    wait.as_secs().max(1)
                ))
            })
    }

    /// Forgets devices idle long enough for their buckets to be full again.
    pub fn forget_idle(&self, now: Instant) {
        self.devices
            .lock()
            .expect("rate limiter lock")
            .retain(|_, b| now.saturating_duration_since(b.last_seen) < FORGET_AFTER);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.devices.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(RateSection {
            connections_per_minute: 6,
            connection_burst: 2,
            requests_per_second: 10,
            request_burst: 5,
            ops_per_second: 100,
            op_burst: 1_000,
        })
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_says_how_long_to_wait() {
        let (rl, t0) = (limiter(), Instant::now());
        let ann = Uuid::from_u128(1);
        for _ in 0..5 {
            rl.request(ann, t0).unwrap();
        }
        let Limited(why) = rl.request(ann, t0).unwrap_err();
        assert!(
            why.contains("10 requests a second") && why.contains("wait 1 s"),
            "{why}"
        );
        // 100 ms later one token is back.
        rl.request(ann, t0 + Duration::from_millis(100)).unwrap();
        rl.request(ann, t0 + Duration::from_millis(100))
            .unwrap_err();
    }

    #[test]
    fn one_device_over_its_limit_does_not_hold_back_another() {
        let (rl, t0) = (limiter(), Instant::now());
        let (ann, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        rl.connection(ann, t0).unwrap();
        rl.connection(ann, t0).unwrap();
        let Limited(why) = rl.connection(ann, t0).unwrap_err();
        assert!(
            why.contains("6 connections a minute") && why.contains("wait 10 s"),
            "{why}"
        );
        rl.connection(bob, t0).unwrap();
    }

    #[test]
    fn ops_are_counted_per_push_apart_from_requests() {
        let (rl, t0) = (limiter(), Instant::now());
        let ann = Uuid::from_u128(1);
        rl.ops(ann, 1_000, t0).unwrap();
        let Limited(why) = rl.ops(ann, 1, t0).unwrap_err();
        assert!(why.contains("100 ops a second"), "{why}");
        rl.request(ann, t0).unwrap();
        // Five seconds refill 500 ops.
        rl.ops(ann, 500, t0 + Duration::from_secs(5)).unwrap();
        // A push larger than the burst waits for a full bucket, not forever.
        let Limited(why) = rl.ops(ann, 5_000, t0 + Duration::from_secs(5)).unwrap_err();
        assert!(why.contains("wait 10 s"), "{why}");
    }

    #[test]
    fn idle_devices_are_forgotten() {
        let (rl, t0) = (limiter(), Instant::now());
        rl.request(Uuid::from_u128(1), t0).unwrap();
        rl.request(Uuid::from_u128(2), t0 + FORGET_AFTER).unwrap();
        rl.forget_idle(t0 + FORGET_AFTER);
        assert_eq!(rl.tracked(), 1);
    }
}
