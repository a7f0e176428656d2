//! Timeouts that measure progress, not whole requests: a request (or its
//! answer) may take as long as it needs while its bytes keep moving, so a
//! photo chunk crosses a 64 kbit/s link, but a stream that trickles — fewer
//! than [`MIN_BYTES_PER_WINDOW`] in a whole window — is dropped.

use std::time::Duration;

use tokio::time::Instant;

/// Bytes a stream must move in each window (unless it ends first). Far
/// below what the slowest link a warden uses carries in the default 30 s
/// (64 kbit/s with 10 % loss moves about 200 KB), far above a trickle.
pub(super) const MIN_BYTES_PER_WINDOW: u64 = 8 * 1024;

/// Piece written at a time, so an answer's progress is seen as it drains.
pub(super) const WRITE_PIECE: usize = 16 * 1024;

/// The deadline of one stream: moved a window further each time the stream
/// has moved [`MIN_BYTES_PER_WINDOW`] since the last move.
#[derive(Debug)]
pub(super) struct Progress {
    window: Duration,
    deadline: Instant,
    since_move: u64,
}

impl Progress {
    pub(super) fn start(window: Duration, now: Instant) -> Self {
        Self {
            window,
            deadline: now + window,
            since_move: 0,
        }
    }

    /// When the stream is given up unless it moves enough before.
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Counts `bytes` moved at `now`.
    pub(super) fn moved(&mut self, bytes: u64, now: Instant) {
        self.since_move += bytes;
        if self.since_move >= MIN_BYTES_PER_WINDOW {
            self.since_move = 0;
            self.deadline = now + self.window;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_bytes_keep_a_stream_alive_and_a_trickle_does_not() {
        let window = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut p = Progress::start(window, t0);
        // 8 KB every 20 s: a 1 MiB request takes 43 minutes and is kept.
        for i in 1..=128u32 {
            let now = t0 + Duration::from_secs(20) * i;
            assert!(now < p.deadline(), "dropped at step {i}");
            p.moved(MIN_BYTES_PER_WINDOW, now);
        }
        // 100 bytes every 10 s never moves the deadline.
        let t1 = p.deadline() - window;
        let mut p2 = Progress::start(window, t1);
        for i in 1..=2u32 {
            p2.moved(100, t1 + Duration::from_secs(10) * i);
        }
        assert_eq!(p2.deadline(), t1 + window);
    }
}
