//! Chunk sizes that follow the link: each chunk is sized to take about
//! [`TARGET_MS`] on the rate the previous chunks measured, so a slow link
//! sends small chunks (a cut loses little, no request outlasts a timeout) and
//! a fast one large chunks (few round trips), within the protocol's bound.

use gridwarden_protocol::photo::CHUNK_SIZE;

/// The first chunk of a sync, before anything is measured: 2 s at 64 kbit/s.
pub(crate) const FIRST_CHUNK: usize = 16 * 1024;
/// Never smaller: below this the per-chunk round trip and header dominate.
pub(crate) const MIN_CHUNK: usize = 8 * 1024;
/// Never larger: the protocol's chunk size (the server takes up to twice it).
pub(crate) const MAX_CHUNK: usize = CHUNK_SIZE;
/// Time one chunk should take, round trip included. Short enough that a
/// cut costs at most this much of the link, long enough that the round
/// trip waited after each chunk is a small part of it.
pub(crate) const TARGET_MS: u64 = 2_500;

/// The measured rate and the next chunk's size.
#[derive(Clone, Debug)]
pub(crate) struct Pace {
    next: usize,
    /// Bytes per second: the last sample when it was slower, else smoothed.
    rate: Option<f64>,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            next: FIRST_CHUNK,
            rate: None,
        }
    }
}

impl Pace {
    /// Bytes to put in the next chunk.
    pub(crate) fn chunk_len(&self) -> usize {
        self.next
    }

    /// Bytes per second measured so far.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// A chunk of `bytes` was acknowledged `elapsed_ms` after it was sent.
    pub(crate) fn acknowledged(&mut self, bytes: usize, elapsed_ms: u64) {
        if elapsed_ms == 0 {
            // Too fast to measure: grow as fast as allowed.
            self.next = (self.next * 2).clamp(MIN_CHUNK, MAX_CHUNK);
            return;
        }
        let sample = bytes as f64 * 1000.0 / elapsed_ms as f64;
        // A slower sample is believed at once (a cut or a worse network
        // must not meet a chunk sized for the old one); a faster one is
        // averaged in.
        let rate = match self.rate {
            Some(old) if sample > old => 0.5 * old + 0.5 * sample,
            _ => sample,
        };
        self.rate = Some(rate);
        let ideal = (rate * TARGET_MS as f64 / 1000.0) as usize;
        // Grows at most twofold a chunk (one lucky sample must not make the
        // next chunk outlast the link); shrinks at once.
        self.next = ideal.min(self.next * 2).clamp(MIN_CHUNK, MAX_CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk sizes a link of `bytes_per_s` with `rtt_ms` settles on.
    fn settle(bytes_per_s: f64, rtt_ms: u64) -> usize {
        let mut pace = Pace::default();
        for _ in 0..20 {
            let len = pace.chunk_len();
            let ms = rtt_ms + (len as f64 * 1000.0 / bytes_per_s) as u64;
            pace.acknowledged(len, ms);
        }
        pace.chunk_len()
    }

    #[test]
    fn a_slow_link_gets_small_chunks_and_a_fast_one_the_largest() {
        // 64 kbit/s with a 500 ms round trip: about 2 s of link a chunk.
        let slow = settle(8_000.0, 500);
        assert!((MIN_CHUNK..=20 * 1024).contains(&slow), "{slow}");
        // 100 Mbit/s on a LAN: the protocol's bound.
        assert_eq!(settle(12_500_000.0, 1), MAX_CHUNK);
        // A dead slow link never goes under the floor.
        assert_eq!(settle(100.0, 2_000), MIN_CHUNK);
    }

    #[test]
    fn growth_is_at_most_twofold_and_a_slowdown_shrinks_at_once() {
        let mut pace = Pace::default();
        pace.acknowledged(FIRST_CHUNK, 1);
        assert_eq!(pace.chunk_len(), 2 * FIRST_CHUNK);
        pace.acknowledged(2 * FIRST_CHUNK, 0);
        assert_eq!(pace.chunk_len(), 4 * FIRST_CHUNK);
        // The link drops to 1 KB/s: the next chunk is near the floor.
        pace.acknowledged(4 * FIRST_CHUNK, 64_000);
        pace.acknowledged(pace.chunk_len(), 8_000);
        assert!(pace.chunk_len() <= 2 * MIN_CHUNK, "{}", pace.chunk_len());
    }
}
