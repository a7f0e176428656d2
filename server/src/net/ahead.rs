//! The next page of a pull, read while the device stores this one.
//!
//! A new device's first pull is a hundred pages. The device asks for the
//! next page as soon as one arrives (client-core `SyncEngine::page_ahead`),
//! so the server reads page N+1 while the device stores page N. But reading
//! a page (the feed, the cases, encoding and packing) costs the server about
//! as long as storing it costs the device: whichever was slower set the pace
//! and the other waited, and on two cores only 1.4 were busy. So once a page
//! with more after it is answered, the page after that is read at once on
//! the blocking pool and kept for this connection; the pull that asks for it
//! (same cursor, same limits) gets it already encoded.
//!
//! What it returns is what a pull made at the moment it was read returns: a
//! report written in between has a later feed position and comes in a later
//! page, as it would for any pull. It is kept for one pull only, for
//! [`FRESH_FOR`] at most, and any other request on the connection drops it
//! (a Hello starts a new sync, maybe in a new scope; a push brings new data).
//! A page read ahead that came out as an error is not used: that pull is
//! served afresh.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gridwarden_protocol::frame::frame_payload;
use gridwarden_protocol::{versions, ClientMessage, Pull, ServerMessage};
use tokio::task::JoinHandle;

use crate::service::{Service, Session};

/// How long a page read ahead may wait for its pull.
pub(super) const FRESH_FOR: Duration = Duration::from_secs(2);

/// A pull's answer, ready to write.
pub(super) struct Answer {
    /// The whole frame, encoded in the connection's protocol version.
    pub frame: Vec<u8>,
    /// The pull of the page after this one, when there is more.
    pub next: Option<Pull>,
    /// The answer is an error (never used when read ahead).
    pub failed: bool,
}

/// Reads the page `pull` asks for and encodes its answer (blocking: run it
/// on the blocking pool).
pub(super) fn read(service: &Service, session: &Session, pull: Pull, version: u16) -> Answer {
    let message = service.handle(session, ClientMessage::Pull(pull.clone()));
    let next = match &message {
        ServerMessage::PullPage(page) if page.more => Some(Pull {
            cursor: page.cursor.clone(),
            ..pull
        }),
        _ => None,
    };
    Answer {
        failed: matches!(message, ServerMessage::Error(_)),
        frame: frame_payload(&versions::encode_server(version, &message)),
        next,
    }
}

/// The page read ahead on one connection, if any.
#[derive(Default)]
pub(super) struct ReadAhead {
    slot: Mutex<Option<Ahead>>,
}

struct Ahead {
    pull: Pull,
    started: Instant,
    answer: JoinHandle<Answer>,
}

impl ReadAhead {
    /// Starts reading the page `pull` asks for, in place of any kept.
    pub(super) fn start(&self, pull: Pull, answer: JoinHandle<Answer>, now: Instant) {
        *self.lock() = Some(Ahead {
            pull,
            started: now,
            answer,
        });
    }

    /// The answer read ahead for `pull`, when that is the page being read
    /// and it is fresh; whatever was kept is gone afterwards.
    pub(super) fn take(&self, pull: &Pull, now: Instant) -> Option<JoinHandle<Answer>> {
        let ahead = self.lock().take()?;
        let fresh = now.saturating_duration_since(ahead.started) < FRESH_FOR;
        (fresh && ahead.pull == *pull).then_some(ahead.answer)
    }

    /// Drops the page kept: the connection asked for something else.
    pub(super) fn forget(&self) {
        self.lock().take();
    }

    fn lock(&self) -> MutexGuard<'_, Option<Ahead>> {
        // Only ever replaced whole: a panic elsewhere cannot leave it torn.
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwarden_protocol::Cursor;

    fn pull(cursor: &[u8]) -> Pull {
        Pull {
            cursor: Cursor(cursor.to_vec()),
            max_records: 1000,
            max_bytes: 1 << 20,
        }
    }

    fn answer() -> JoinHandle<Answer> {
        tokio::spawn(async {
            Answer {
                frame: vec![1],
                next: None,
                failed: false,
            }
        })
    }

    #[tokio::test]
    async fn a_page_read_ahead_serves_only_the_pull_that_names_it_once_and_while_fresh() {
        let ahead = ReadAhead::default();
        let t0 = Instant::now();
        ahead.start(pull(b"a"), answer(), t0);
        assert!(ahead.take(&pull(b"b"), t0).is_none(), "another cursor");
        assert!(ahead.take(&pull(b"a"), t0).is_none(), "dropped by the miss");

        ahead.start(pull(b"a"), answer(), t0);
        let other_limits = Pull {
            max_records: 10,
            ..pull(b"a")
        };
        assert!(ahead.take(&other_limits, t0).is_none(), "other limits");

        ahead.start(pull(b"a"), answer(), t0);
        assert!(ahead.take(&pull(b"a"), t0 + FRESH_FOR).is_none(), "stale");

        ahead.start(pull(b"a"), answer(), t0);
        ahead.forget();
        assert!(ahead.take(&pull(b"a"), t0).is_none(), "forgotten");

        ahead.start(pull(b"a"), answer(), t0);
        let kept = ahead
            .take(&pull(b"a"), t0)
            .expect("the pull it was read for");
        assert_eq!(kept.await.unwrap().frame, vec![1]);
        assert!(ahead.take(&pull(b"a"), t0).is_none(), "used once");
    }
}
