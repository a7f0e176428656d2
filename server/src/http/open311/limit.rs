//! Per-key limits on filing requests: a token bucket per API client, from
//! the config file. A flood from one key is refused with 429 before
//! anything is stored, and slows no other key (nor QUIC sync, which has its
//! own buckets). Kept in memory: a restart forgets, letting a key in sooner.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Open311Section;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct KeyLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl KeyLimiter {
    pub fn new() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `client`'s allowance, or says how long to wait.
    pub fn take(
        &self,
        config: &Open311Section,
        client: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        let (burst, per_minute) = config.rate_of(client);
        let (burst, per_second) = (f64::from(burst), f64::from(per_minute) / 60.0);
        let mut buckets = self.buckets.lock().expect("open311 limiter lock");
        // Clients are the few keys IT issued: the map stays small.
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_other_keys_are_untouched() {
        let mut config = Open311Section {
            post_burst: 3,
            posts_per_minute: 60,
            ..Open311Section::default()
        };
        config.keys.insert(
            "big".into(),
            crate::config::KeyRate {
                post_burst: 10,
                posts_per_minute: 600,
            },
        );
        let l = KeyLimiter::new();
        let t0 = Instant::now();
        for _ in 0..3 {
            l.take(&config, "12345", t0).unwrap();
        }
        let wait = l.take(&config, "12345", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        for _ in 0..10 {
            l.take(&config, "big", t0).unwrap();
        }
        l.take(&config, "12345", t0 + Duration::from_secs(1))
            .unwrap();
    }
}
