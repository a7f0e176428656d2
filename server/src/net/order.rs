//! A connection's pushes applied in the order the device sent them.
//!
//! A device keeps several pushes in flight on one connection (the next batch
//! is on the wire while this one is applied), each on its own stream, and
//! the edge serves streams concurrently. QUIC hands streams over in the
//! order the device opened them, so each takes a ticket as it is accepted;
//! a push (and a Hello, which starts a new sync) waits until every stream
//! with an earlier ticket is done, other requests never wait.
//!
//! A push after one that was read but not applied (refused whole: a rate
//! limit, a store failure) is not applied either: its ops may build on the
//! missing ones (a case step on the step before), and the device, which
//! commits acks in order and stops at the first refusal, sends both again.
//! The next Hello on the connection starts afresh. A stream that could not
//! be read at all does not hold the ones after it back: the device never
//! reads an answer after the one that failed, so nothing it commits can
//! depend on the order, and a connection must go on serving after garbage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// The tickets of one connection.
pub(super) struct Order {
    state: Mutex<State>,
    /// The lowest ticket not yet done.
    next: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    issued: u64,
    next: u64,
    /// Tickets done out of turn: whether each failed.
    ended: BTreeMap<u64, bool>,
    /// A ticket before `next` failed since the last Hello.
    failed: bool,
}

impl Order {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            next: watch::Sender::new(0),
        })
    }

    /// The next stream's place; taken as it is accepted, in stream order.
    pub(super) fn ticket(self: &Arc<Self>) -> Ticket {
        let mut state = self.lock();
        let number = state.issued;
        state.issued += 1;
        Ticket {
            order: self.clone(),
            number,
            done: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One stream's place in its connection's order. Dropped without
/// [`Ticket::done`], it counts as done with nothing held against it.
pub(super) struct Ticket {
    order: Arc<Order>,
    number: u64,
    done: bool,
}

impl Ticket {
    /// Waits until every stream accepted before this one is done; then
    /// says whether one of them failed since the last Hello.
    pub(super) async fn turn(&self) -> Turn {
        let mut next = self.order.next.subscribe();
        // The sender lives as long as `self.order`: this cannot fail.
        let _ = next.wait_for(|next| *next >= self.number).await;
        if self.order.lock().failed {
            Turn::AfterFailure
        } else {
            Turn::Clear
        }
    }

    /// At a Hello's turn: a new sync, which owes nothing to the last one.
    /// This stream's place among the connection's streams.
    pub(super) fn number(&self) -> u64 {
        self.number
    }

    pub(super) fn start_afresh(&self) {
        self.order.lock().failed = false;
    }

    /// The stream is done: `false` for a push that was not applied.
    pub(super) fn done(mut self, ok: bool) {
        self.end(ok);
    }

    fn end(&mut self, ok: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let mut state = self.order.lock();
        state.ended.insert(self.number, !ok);
        let before = state.next;
        loop {
            let next = state.next;
            let Some(failed) = state.ended.remove(&next) else {
                break;
            };
            state.failed |= failed;
            state.next += 1;
        }
        if state.next != before {
            let next = state.next;
            drop(state);
            self.order.next.send_replace(next);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.end(true);
    }
}

/// What a push finds at its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Turn {
    Clear,
    AfterFailure,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn waits(ticket: &Ticket) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), ticket.turn())
                .await
                .is_err()
        })
    }

    fn turn(ticket: &Ticket) -> Turn {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(ticket.turn())
    }

    #[test]
    fn a_ticket_waits_for_every_earlier_one_in_any_order_of_ending() {
        let order = Order::new();
        let (a, b, c) = (order.ticket(), order.ticket(), order.ticket());
        assert_eq!(turn(&a), Turn::Clear);
        assert!(waits(&c));
        drop(b);
        assert!(waits(&c), "the first is still running");
        a.done(true);
        assert_eq!(
            turn(&c),
            Turn::Clear,
            "an unreadable stream holds nothing back"
        );
    }

    #[test]
    fn a_push_not_applied_marks_later_turns_until_a_hello_starts_afresh() {
        let order = Order::new();
        let (unread, a, b) = (order.ticket(), order.ticket(), order.ticket());
        drop(unread);
        a.done(false);
        assert_eq!(turn(&b), Turn::AfterFailure);
        b.done(false);
        let hello = order.ticket();
        assert_eq!(turn(&hello), Turn::AfterFailure);
        hello.start_afresh();
        hello.done(true);
        let push = order.ticket();
        assert_eq!(turn(&push), Turn::Clear);
    }
}
