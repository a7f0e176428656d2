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
//!
//! The same holds for the first page of the next sync on a kept connection
//! (ADR 0042): a small push is followed by the pull from where the device's
//! last sync ended, so once the push is applied, the blocking task that
//! applied it reads that page too, after the push's answer is handed back.
//! The pull then costs no trip to the blocking pool. Only the push that was
//! sent last may leave a page: a later request drops it, and an earlier
//! push answered late does not replace it (`ReadAhead::forget`).

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gridwarden_protocol::frame::frame_payload;
use gridwarden_protocol::{versions, ClientMessage, Pull, ServerMessage};
use tokio::sync::oneshot;
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
    /// The pull the device's next sync starts with, when this page was the
    /// last: from this page's cursor, with the same limits.
    pub resume: Option<Pull>,
    /// The answer is an error (never used when read ahead).
    pub failed: bool,
}

/// Reads the page `pull` asks for and encodes its answer (blocking: run it
/// on the blocking pool).
pub(super) fn read(service: &Service, session: &Session, pull: Pull, version: u16) -> Answer {
    let message = service.handle(session, ClientMessage::Pull(pull.clone()));
    let (next, resume) = match &message {
        ServerMessage::PullPage(page) => {
            let from_here = Pull {
                cursor: page.cursor.clone(),
                ..pull
            };
            match page.more {
                true => (Some(from_here), None),
                false => (None, Some(from_here)),
            }
        }
        _ => (None, None),
    };
    Answer {
        failed: matches!(message, ServerMessage::Error(_)),
        frame: frame_payload(&versions::encode_server(version, &message)),
        next,
        resume,
    }
}

/// A page being read ahead: on a task of its own, or by the blocking task
/// that applied a push, which sends it when it is read.
pub(super) enum Reading {
    Task(JoinHandle<Answer>),
    AfterPush(oneshot::Receiver<Answer>),
}

impl Reading {
    /// The page, once read; `None` if its reading failed or was dropped.
    pub(super) async fn answer(self) -> Option<Answer> {
        match self {
            Reading::Task(task) => task.await.ok(),
            Reading::AfterPush(sent) => sent.await.ok(),
        }
    }

    /// What it was read after, for the metrics.
    pub(super) fn after(&self) -> &'static str {
        match self {
            Reading::Task(_) => "page",
            Reading::AfterPush(_) => "push",
        }
    }
}

/// The page read ahead on one connection, if any.
#[derive(Default)]
pub(super) struct ReadAhead {
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    ahead: Option<Ahead>,
    /// The stream number of the latest request that was not a pull: only a
    /// push with this number may leave a page for the next sync.
    latest: u64,
    /// Where the device's next sync will pull from: the last page served
    /// on this connection ended there.
    resume: Option<Pull>,
}

struct Ahead {
    pull: Pull,
    started: Instant,
    answer: Reading,
}

impl ReadAhead {
    /// Starts reading the page `pull` asks for, in place of any kept.
    pub(super) fn start(&self, pull: Pull, answer: JoinHandle<Answer>, now: Instant) {
        self.lock().ahead = Some(Ahead {
            pull,
            started: now,
            answer: Reading::Task(answer),
        });
    }

    /// The answer read ahead for `pull`, when that is the page being read
    /// and it is fresh; whatever was kept is gone afterwards.
    pub(super) fn take(&self, pull: &Pull, now: Instant) -> Option<Reading> {
        let ahead = self.lock().ahead.take()?;
        let fresh = now.saturating_duration_since(ahead.started) < FRESH_FOR;
        (fresh && ahead.pull == *pull).then_some(ahead.answer)
    }

    /// Drops the page kept: the connection asked for something else, in
    /// its stream number `stream`.
    pub(super) fn forget(&self, stream: u64) {
        let mut slot = self.lock();
        slot.ahead = None;
        slot.latest = slot.latest.max(stream);
    }

    /// Notes where the device's next sync will pull from: a last page was
    /// served.
    pub(super) fn resume_from(&self, pull: Pull) {
        self.lock().resume = Some(pull);
    }

    /// For the push in stream `stream`, applied now: the pull the device
    /// will send next and where the page read for it goes, unless a later
    /// request came meanwhile or no sync ended on this connection yet.
    pub(super) fn after_push(
        &self,
        stream: u64,
        now: Instant,
    ) -> Option<(Pull, oneshot::Sender<Answer>)> {
        let mut slot = self.lock();
        if stream < slot.latest {
            return None;
        }
        let pull = slot.resume.clone()?;
        let (sender, answer) = oneshot::channel();
        slot.ahead = Some(Ahead {
            pull: pull.clone(),
            started: now,
            answer: Reading::AfterPush(answer),
        });
        Some((pull, sender))
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
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
                resume: None,
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
        ahead.forget(0);
        assert!(ahead.take(&pull(b"a"), t0).is_none(), "forgotten");

        ahead.start(pull(b"a"), answer(), t0);
        let kept = ahead
            .take(&pull(b"a"), t0)
            .expect("the pull it was read for");
        assert_eq!(kept.answer().await.unwrap().frame, vec![1]);
        assert!(ahead.take(&pull(b"a"), t0).is_none(), "used once");
    }

    #[tokio::test]
    async fn only_the_push_sent_last_leaves_the_next_syncs_page() {
        let ahead = ReadAhead::default();
        let t0 = Instant::now();
        assert!(ahead.after_push(1, t0).is_none(), "no sync ended yet");
        ahead.resume_from(pull(b"end"));

        // Pushes in streams 4 and 5; the one in 4 is applied after 5 came.
        ahead.forget(4);
        ahead.forget(5);
        assert!(ahead.after_push(4, t0).is_none(), "a later push came");
        let (asked, sender) = ahead.after_push(5, t0).expect("the last push");
        assert_eq!(asked, pull(b"end"));
        let page = Answer {
            frame: vec![2],
            next: None,
            resume: None,
            failed: false,
        };
        let _ = sender.send(page);
        let kept = ahead
            .take(&pull(b"end"), t0)
            .expect("the pull it predicted");
        assert_eq!(kept.answer().await.unwrap().frame, vec![2]);

        // A request after the push drops the page; a push whose page was
        // never read (refused) leaves nothing to use.
        let (_, sender) = ahead.after_push(5, t0).unwrap();
        ahead.forget(6);
        assert!(ahead.take(&pull(b"end"), t0).is_none());
        drop(sender);
        let (_, sender) = ahead.after_push(6, t0).unwrap();
        drop(sender);
        let dropped = ahead.take(&pull(b"end"), t0).expect("kept until asked");
        assert!(dropped.answer().await.is_none(), "served afresh instead");
    }
}
