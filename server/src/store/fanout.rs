//! Messages between the server processes sharing one store (ADR 0033): what
//! a process committed that the devices connected to the others should hear
//! of (`service/notify.rs` says what the messages mean; this layer carries
//! text and nothing else). The PostgreSQL backend carries them with
//! `LISTEN`/`NOTIFY` (`postgres/fanout.rs`); the embedded store has one
//! process and no fan-out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

/// The longest message a backend must carry: PostgreSQL's `NOTIFY` payload
/// is shorter than 8,000 bytes.
pub const MAX_MESSAGE: usize = 7_900;

/// What a listener hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A message a process sent (this one's own included).
    Message(String),
    /// The listener was cut off and is listening again: messages sent in
    /// between are lost, and which they were is unknown.
    Missed,
}

/// Carries messages to every process listening on the same store.
pub trait Fanout: Send + Sync {
    /// Queues `message` (at most [`MAX_MESSAGE`] bytes) for every process
    /// listening, this one included. Never waits for the database: a
    /// message that cannot be sent is dropped and logged (they are hints).
    fn send(&self, message: String);

    /// Waits up to `within` until what was queued before has been sent
    /// (a command that exits right after it published); `false` if it was
    /// not.
    fn flush(&self, within: Duration) -> bool;

    /// Starts listening on a connection of its own, reconnecting when the
    /// database goes away; what is heard arrives on the receiver, which must
    /// be read from inside a tokio runtime.
    fn listen(&self) -> mpsc::UnboundedReceiver<Heard>;
}

/// A backend's fan-out, if it has one.
pub trait FanoutStore {
    /// `None`: one process serves this store, and its own channel is enough.
    fn fanout(&self) -> Option<Arc<dyn Fanout>> {
        None
    }
}
