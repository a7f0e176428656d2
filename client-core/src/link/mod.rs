//! The link layer, the leaf of the client core: how one message reaches the
//! server and its one answer comes back. [`Exchange`] is one open
//! connection, [`Connect`] opens one; [`quic`] is the network's (the only
//! code on the device that touches quinn), the simulation has its own.
//! Nothing here knows the store or the sync: the layers above speak only
//! these two traits.

mod probe;
pub mod quic;

use std::future::Future;

use gridwarden_protocol::{ClientMessage, ServerMessage};

use crate::error::{ClientError, Result};

/// Carries one client message to the server and returns its answer: the seam
/// between the layers above and a transport. QUIC implements it in
/// [`quic`]; tests implement it with in-process links that drop,
/// duplicate and reorder.
pub trait Exchange {
    fn exchange(
        &mut self,
        message: &ClientMessage,
    ) -> impl Future<Output = Result<ServerMessage>> + Send;

    /// How many requests this link keeps in flight at once with
    /// [`Exchange::send`] and [`Exchange::receive`]; 1 (the default): it
    /// does not pipeline, and only [`Exchange::exchange`] is used.
    fn window(&self) -> usize {
        1
    }

    /// Sends `message` without waiting for its answer, which a later
    /// [`Exchange::receive`] returns: answers come back in the order the
    /// requests were sent. Only called on a link whose window is above 1.
    fn send(&mut self, message: &ClientMessage) -> impl Future<Output = Result<()>> + Send {
        let _ = message;
        async { Err(ClientError::Protocol("this link does not pipeline".into())) }
    }

    /// The answer to the oldest request sent with [`Exchange::send`].
    fn receive(&mut self) -> impl Future<Output = Result<ServerMessage>> + Send {
        async { Err(ClientError::Protocol("this link does not pipeline".into())) }
    }

    /// Frame bytes sent and received so far, for the sync summary.
    fn bytes(&self) -> (u64, u64) {
        (0, 0)
    }

    /// What the server proved in this link's handshake when that became
    /// known after the link opened, once: a resumed connection whose
    /// resumption the server refused learns it only with its first answer
    /// (a full handshake then ran). `None`: nothing new since it opened.
    fn handshake_presented(&self) -> Option<crate::tls::Presented> {
        None
    }

    /// When the server last welcomed a `Hello` on this connection, by the
    /// device's clock (ms since the epoch), as the layer above noted it with
    /// [`Exchange::note_welcomed_at_ms`]. A connection kept between syncs
    /// carries it to the next sync, which needs no `Hello` while it is
    /// recent (ADR 0041). `None` (the default): a new connection, or one
    /// whose last sync did not end well.
    fn welcomed_at_ms(&self) -> Option<u64> {
        None
    }

    /// Notes [`Exchange::welcomed_at_ms`]; a link that opens a connection in
    /// place of a lost one forgets it with the old connection.
    fn note_welcomed_at_ms(&mut self, at_ms: Option<u64>) {
        let _ = at_ms;
    }

    /// Whether the connection this link was handed was found gone before
    /// any answer came (a kept connection the network or a restarted
    /// server dropped unnoticed): the server's session went with it, and a
    /// sync that sent no `Hello` starts again on a new connection.
    fn lost_before_answer(&self) -> bool {
        false
    }

    /// Ends the connection once the work on it is done (QUIC closes it
    /// politely, so the server frees it at once).
    fn close(self) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        async {}
    }
}

/// Opens connections to the server: the sync, enrolment's reference fetch
/// and the on-demand requests each take one, so the same code runs over
/// QUIC and over the simulation's lossy links.
pub trait Connect {
    type Link: Exchange + Send;

    /// Opens one connection (no message sent yet).
    fn connect(&self) -> impl Future<Output = Result<Self::Link>> + Send;
}

/// A server answer that is not the one asked for: a refusal carries the
/// server's reason; anything else is a protocol error.
pub fn unexpected(answer: ServerMessage, asked: &str) -> ClientError {
    match answer {
        ServerMessage::Error(e) => ClientError::Refused {
            code: e.code,
            message: e.message,
        },
        other => ClientError::Protocol(format!(
            "unexpected answer to {asked}: {}",
            message_name(&other)
        )),
    }
}

/// The name of a server message, for errors that say what came instead.
pub fn message_name(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Welcome(_) => "Welcome",
        ServerMessage::Enrolled(_) => "Enrolled",
        ServerMessage::Ack(_) => "Ack",
        ServerMessage::PullPage(_) => "PullPage",
        ServerMessage::Reference(_) => "Reference",
        ServerMessage::Error(_) => "Error",
        ServerMessage::PhotoStatus(_) => "PhotoStatus",
        ServerMessage::PhotoData(_) => "PhotoData",
        ServerMessage::Patrols(_) => "Patrols",
        ServerMessage::PatrolTrack(_) => "PatrolTrack",
        ServerMessage::CellPage(_) => "CellPage",
        ServerMessage::Notice(_) => "Notice",
        ServerMessage::Packed(_) => "Packed",
    }
}
