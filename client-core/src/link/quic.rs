//! QUIC transport: one quinn connection per sync, one bidirectional stream per
//! request. All quinn code of the device lives here; the layers above see
//! only [`Exchange`] and [`Connect`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gridwarden_protocol::enrolment::hex;
use gridwarden_protocol::frame::{self, FrameDecoder, DEFAULT_MAX_FRAME, HEADER_LEN};
use gridwarden_protocol::{
    versions, ClientMessage, Notice, ServerMessage, PROTOCOL_VERSION, SERVER_NAME,
};
use quinn::crypto::rustls::QuicClientConfig;

use super::{Connect, Exchange};
use crate::error::{ClientError, Result};
use crate::tls::{self, DeviceKey, Pins, Presented};

/// How long a connection waits for the server's handshake by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a silent connection lives, and how often the device says it is
/// there: for phones' radios and carriers' NATs (ADR 0028). The keep-alive
/// also keeps a connection open while the server prepares a large answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// A connection that hears nothing for this long is dead.
    pub idle: Duration,
    /// A keep-alive packet after this much silence.
    pub keep_alive: Duration,
}

impl Default for Timing {
    /// 25 s stays under the 30 s after which many carrier NATs forget a UDP
    /// mapping; 60 s lets two keep-alives be lost before the connection is.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(60),
            keep_alive: Duration::from_secs(25),
        }
    }
}

/// Unprompted streams the device takes from the server at once (notices).
const MAX_NOTICE_STREAMS: u32 = 8;
/// A notice is a few dozen bytes; a stream longer than this is not one.
const MAX_NOTICE_BYTES: usize = 64 * 1024;
/// Longest wait for one answer, on top of the idle timeout, so a server that
/// keeps the connection alive but never answers cannot hang a sync.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What the user can do about an unreachable server, appended to every
/// "offline" message.
const KEPT_LOCALLY: &str = "your reports are kept on this device and will be sent at the next sync";

/// An open connection to the server, counting the frame bytes it carries.
pub struct Session {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    server: String,
    presented: Presented,
    /// Whether `presented` changed since it was last handed out (a refused
    /// resumption's full handshake showed it with the first answer): handed
    /// out once, so a link kept for hours never writes back a stale sight.
    presented_changed: std::sync::atomic::AtomicBool,
    /// A resumed connection's handshake, not yet complete: the first
    /// request goes out in 0-RTT (ADR 0029).
    early: Option<Early>,
    /// Whether the server took this connection's 0-RTT request.
    early_data_accepted: bool,
    /// Requests sent whose answers are not read yet, oldest first.
    in_flight: VecDeque<Pending>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// `Exchange::welcomed_at_ms`: noted by the sync, kept with the
    /// connection.
    welcomed_at_ms: Option<u64>,
}

/// Requests a session keeps in flight at once (pushes, `Exchange::send`).
const WINDOW: usize = 4;
/// How long closing may wait for the close frame to go out.
const CLOSE_SEND_LIMIT: Duration = Duration::from_millis(500);
/// How often closing looks whether it has.
const CLOSE_POLL: Duration = Duration::from_millis(1);

/// A request sent whose answer is still to be read.
enum Pending {
    /// The answer is read and decoded by a task of its own, as it arrives:
    /// a page of a pull (decoding it costs a page about 8 M instructions)
    /// is ready when the sync has stored the page before it, instead of
    /// being read and decoded only then.
    Reading(Reader),
    /// Answered already (a resumed connection's first request, which waits
    /// for its handshake).
    Answered(Box<ServerMessage>),
}

/// The task reading one answer; stopped when the answer is no longer
/// wanted (a failed or cancelled sync drops it unread).
struct Reader(tokio::task::JoinHandle<Read>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a reading task found: the answer and its frame bytes, or why not.
type Read = std::result::Result<(ServerMessage, u64), Unread>;

/// Why an answer could not be read.
enum Unread {
    /// The connection was lost: the device is offline (`Session::lost`).
    Lost(String),
    /// The server answered wrongly.
    Refused(ClientError),
}

/// Reads the whole answer on `recv` and decodes it.
async fn read_and_decode(mut recv: quinn::RecvStream) -> Read {
    let answer = recv
        .read_to_end(DEFAULT_MAX_FRAME + HEADER_LEN)
        .await
        .map_err(|e| match e {
            quinn::ReadToEndError::TooLong => Unread::Refused(ClientError::Protocol(format!(
                "the server's answer exceeds the {DEFAULT_MAX_FRAME}-byte frame limit"
            ))),
            quinn::ReadToEndError::Read(quinn::ReadError::ConnectionLost(e)) => {
                Unread::Lost(e.to_string())
            }
            quinn::ReadToEndError::Read(e) => Unread::Refused(ClientError::Protocol(format!(
                "the server abandoned the request: {e}"
            ))),
        })?;
    let message = decode_answer(&answer).map_err(Unread::Refused)?;
    Ok((message, answer.len() as u64))
}

/// The handshake of a resumed connection, still under way.
struct Early {
    accepted: quinn::ZeroRttAccepted,
    /// The server's address, probed so a dead one fails at once.
    addr: SocketAddr,
    /// How long the handshake and the first answer may take together.
    timeout: Duration,
    /// Should the server not resume, the full handshake checks the pins.
    verifier: Arc<tls::PinnedCertVerifier>,
    pins: Pins,
    sessions: Arc<tls::Sessions>,
}

fn unreachable(server: &str, why: impl std::fmt::Display) -> ClientError {
    ClientError::Offline(format!(
        "cannot reach the server at {server}: {why}; {KEPT_LOCALLY}"
    ))
}

async fn resolve(server: &str) -> Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(server)
        .await
        .map_err(|e| unreachable(server, format!("the address does not resolve ({e})")))?;
    addrs
        .next()
        .ok_or_else(|| unreachable(server, "the address resolves to nothing"))
}

/// Connects to `server` (`host:port`), trusting only the certificate whose
/// SHA-256 is `fingerprint`, within `timeout`.
pub async fn connect(server: &str, fingerprint: [u8; 32], timeout: Duration) -> Result<Session> {
    connect_pinned(server, Pins::only(fingerprint), timeout).await
}

/// Connects trusting only `pins` (the pinned certificate and, during a
/// rotation, the next one).
pub async fn connect_pinned(server: &str, pins: Pins, timeout: Duration) -> Result<Session> {
    connect_with_key(server, pins, timeout, None).await
}

/// [`connect_pinned`] with the connection's `timing` (a long-lived one).
pub async fn connect_timed(
    server: &str,
    pins: Pins,
    timeout: Duration,
    timing: Timing,
) -> Result<Session> {
    let (endpoint, conn, presented, early) = open(server, pins, timeout, None, timing).await?;
    Ok(Session {
        endpoint,
        conn,
        server: server.to_owned(),
        presented,
        presented_changed: Default::default(),
        early,
        early_data_accepted: false,
        in_flight: VecDeque::new(),
        bytes_sent: 0,
        bytes_received: 0,
        welcomed_at_ms: None,
    })
}

/// Connects trusting only `pins`, showing `key` in the handshake (a device
/// that enrols: its retry after a lost answer is recognised by it).
pub async fn connect_with_key(
    server: &str,
    pins: Pins,
    timeout: Duration,
    key: Option<&DeviceKey>,
) -> Result<Session> {
    let (endpoint, conn, presented, early) =
        open(server, pins, timeout, key, Timing::default()).await?;
    Ok(Session {
        endpoint,
        conn,
        server: server.to_owned(),
        presented,
        presented_changed: Default::default(),
        early,
        early_data_accepted: false,
        in_flight: VecDeque::new(),
        bytes_sent: 0,
        bytes_received: 0,
        welcomed_at_ms: None,
    })
}

/// Opens a raw pinned QUIC connection to `server` the way the client does
/// (same TLS, ALPN and server name), for tests and tools that need to speak
/// the protocol by hand. The endpoint must outlive the connection.
pub async fn connect_quic(
    server: &str,
    fingerprint: [u8; 32],
) -> Result<(quinn::Endpoint, quinn::Connection)> {
    let (endpoint, conn, _, early) = open(
        server,
        Pins::only(fingerprint),
        DEFAULT_CONNECT_TIMEOUT,
        None,
        Timing::default(),
    )
    .await?;
    // Hand-made requests wait for the whole handshake: nothing in 0-RTT.
    // A server that did not resume ran a full handshake, checked against
    // the pins like any other (after a certificate rotation, say).
    if let Some(early) = early {
        if !early.accepted.await {
            if let Some(actual) = early.verifier.mismatch() {
                return Err(ClientError::CertificateMismatch {
                    server: server.to_owned(),
                    expected: hex(&early.pins.current),
                    actual: hex(&actual),
                });
            }
            if let Some(why) = conn.close_reason() {
                return Err(unreachable(server, why));
            }
        }
    }
    Ok((endpoint, conn))
}

async fn open(
    server: &str,
    pins: Pins,
    timeout: Duration,
    key: Option<&DeviceKey>,
    timing: Timing,
) -> Result<(quinn::Endpoint, quinn::Connection, Presented, Option<Early>)> {
    let addr = resolve(server).await?;
    // An enrolling device starts afresh (its key must be proven); an
    // enrolled one resumes its last session with this server if it can.
    let tls_error = |e: rustls::Error| ClientError::Protocol(format!("cannot set up TLS: {e}"));
    let sessions = match key {
        None => Some(tls::Sessions::of(server, pins).map_err(tls_error)?),
        Some(_) => None,
    };
    let (tls_config, verifier) = match &sessions {
        Some(sessions) => sessions.client_config(),
        None => tls::client_config(pins, key).map_err(tls_error)?,
    };
    let crypto = QuicClientConfig::try_from(tls_config)
        .map_err(|e| ClientError::Protocol(format!("cannot set up QUIC TLS: {e}")))?;
    let mut transport = quinn::TransportConfig::default();
    let idle = timing
        .idle
        .try_into()
        .map_err(|_| ClientError::Protocol("the idle timeout is too long for QUIC".into()))?;
    transport.max_idle_timeout(Some(idle));
    transport.keep_alive_interval(Some(timing.keep_alive));
    transport.max_concurrent_uni_streams(MAX_NOTICE_STREAMS.into());
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport));

    let bind: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let endpoint = quinn::Endpoint::client(bind)
        .map_err(|e| unreachable(server, format!("no local UDP socket ({e})")))?;
    let connecting = endpoint
        .connect_with(config, addr, SERVER_NAME)
        .map_err(|e| unreachable(server, e))?;
    let connecting = match connecting.into_0rtt() {
        Ok((conn, accepted)) => {
            // Resumed from a session only a pinned handshake made: what
            // that handshake presented still holds.
            let sessions = sessions.ok_or_else(|| {
                ClientError::Protocol("resumed a session that was never kept".into())
            })?;
            // The sessions are shared by every home of this process that
            // talks to the server: another connection's full handshake may
            // have stored its ticket before that connection remembered what
            // it was shown. The shared verifier saw it already, and gives
            // it only if the pins trust it.
            let presented = sessions
                .presented()
                .or_else(|| verifier.presented())
                .ok_or_else(|| {
                    ClientError::Protocol("a resumed session without its certificate".into())
                })?;
            tracing::debug!(%server, "resuming; the first request goes in 0-RTT");
            return Ok((
                endpoint,
                conn,
                presented,
                Some(Early {
                    accepted,
                    addr,
                    timeout,
                    verifier,
                    pins,
                    sessions,
                }),
            ));
        }
        Err(connecting) => connecting,
    };
    // A refused port or an unreachable host ends the wait at once.
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(timeout, connecting) => outcome,
        refused = super::probe::refusal(addr) => {
            return Err(unreachable(server, format!("nothing answers at that address ({refused})")));
        }
    };
    let conn = match outcome {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            if let Some(actual) = verifier.mismatch() {
                return Err(ClientError::CertificateMismatch {
                    server: server.to_owned(),
                    expected: hex(&pins.current),
                    actual: hex(&actual),
                });
            }
            return Err(unreachable(server, e));
        }
        Err(_) => {
            return Err(unreachable(
                server,
                format!("no answer within {} s", timeout.as_secs_f32()),
            ))
        }
    };
    tracing::debug!(%server, "connected");
    // This connection's own chain, not the verifier's last sight: the
    // verifier is shared, and a handshake that failed after it looked (a
    // forged chain without the key) leaves what it saw behind.
    let presented = presented_by(&conn, &pins).ok_or_else(|| {
        ClientError::Protocol("the handshake completed without a pinned certificate".into())
    })?;
    if let Some(sessions) = &sessions {
        sessions.remember(presented);
    }
    Ok((endpoint, conn, presented, None))
}

/// How many connections of this process to `server`, pinned to
/// `fingerprint`, resumed their TLS session and had their first request
/// taken in 0-RTT (ADR 0029).
pub fn early_data_accepted(server: &str, fingerprint: [u8; 32]) -> u64 {
    tls::Sessions::of(server, Pins::only(fingerprint)).map_or(0, |s| s.early_accepted())
}

impl Session {
    /// The certificate the server proved it holds, and the next one it
    /// announced for a rotation.
    pub fn presented(&self) -> Presented {
        self.presented
    }

    /// Moves the connection to a new local UDP socket, as a phone does when
    /// it switches from Wi-Fi to cellular; QUIC connection migration keeps
    /// the same connection and streams going.
    pub fn rebind(&self, socket: std::net::UdpSocket) -> std::io::Result<()> {
        self.endpoint.rebind(socket)
    }

    /// Whether the connection is still open (a long-lived one may have
    /// been closed by the server, a timeout or the network since).
    pub fn is_open(&self) -> bool {
        self.conn.close_reason().is_none()
    }

    /// The server's notices on this connection, as they come.
    pub fn notices(&self) -> Notices {
        Notices {
            conn: self.conn.clone(),
        }
    }

    /// The local address the connection currently sends from.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    fn lost(&self, why: impl std::fmt::Display) -> ClientError {
        ClientError::Offline(format!(
            "the connection to the server at {} was lost: {why}; {KEPT_LOCALLY}",
            self.server
        ))
    }

    /// Whether this connection resumed a session and the server took its
    /// first request in 0-RTT (known once that request was answered).
    pub fn early_data_accepted(&self) -> bool {
        self.early_data_accepted
    }

    /// Sends one request on a new stream and reads the server's one answer.
    pub async fn request(&mut self, message: &ClientMessage) -> Result<ServerMessage> {
        match self.early.take() {
            Some(early) => self.first_in_0rtt(message, early).await,
            None => self.request_now(message).await,
        }
    }

    async fn request_now(&mut self, message: &ClientMessage) -> Result<ServerMessage> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(message)).await {
            Ok(result) => result,
            Err(_) => Err(self.lost(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))),
        }
    }

    /// The first request of a resumed connection, sent in 0-RTT (only the
    /// Hello is ever first: ADR 0029 says why its replay is harmless). It
    /// must be answered within the connect timeout, handshake included, or
    /// the server counts as unreachable. A server that declined the early
    /// data (it lost the session, e.g. in a restart) gets it again now.
    async fn first_in_0rtt(
        &mut self,
        message: &ClientMessage,
        early: Early,
    ) -> Result<ServerMessage> {
        let Early {
            accepted,
            addr,
            timeout,
            verifier,
            pins,
            sessions,
        } = early;
        let server = self.server.clone();
        // A dead address fails at once here too (the probe, as for a fresh
        // handshake): a resumed session says nothing about the server.
        let answered = tokio::select! {
            answered = tokio::time::timeout(timeout, async {
                let answer = self.exchange(message).await;
                (answer, accepted.await)
            }) => answered,
            refused = super::probe::refusal(addr) => {
                return Err(unreachable(&server, format!("nothing answers at that address ({refused})")));
            }
        };
        match answered {
            Err(_) => Err(unreachable(
                &self.server,
                format!("no answer within {} s", timeout.as_secs_f32()),
            )),
            Ok((answer, true)) => {
                self.early_data_accepted = answer.is_ok();
                if self.early_data_accepted {
                    sessions.count_early_accepted();
                }
                answer
            }
            Ok((_, false)) => {
                // The server did not resume: a full handshake, pins checked.
                if let Some(actual) = verifier.mismatch() {
                    return Err(ClientError::CertificateMismatch {
                        server: self.server.clone(),
                        expected: hex(&pins.current),
                        actual: hex(&actual),
                    });
                }
                if let Some(why) = self.conn.close_reason() {
                    return Err(unreachable(&self.server, why));
                }
                // What this connection's completed handshake proved (a
                // resumption the server refused, or one it took without the
                // early data: then the resumed session's chain).
                if let Some(presented) = presented_by(&self.conn, &pins) {
                    if presented != self.presented {
                        self.presented = presented;
                        *self.presented_changed.get_mut() = true;
                    }
                    sessions.remember(presented);
                }
                self.request_now(message).await
            }
        }
    }

    async fn exchange(&mut self, message: &ClientMessage) -> Result<ServerMessage> {
        // Answers a failed sync left unread belong to nobody now.
        self.in_flight.clear();
        let recv = self.open_request(message).await?;
        self.read_answer(recv).await
    }

    /// Sends one request on a new stream; the answer comes on the stream
    /// returned. Streams are opened in the order requests are sent, and the
    /// server takes them in that order.
    async fn open_request(&mut self, message: &ClientMessage) -> Result<quinn::RecvStream> {
        // In this build's version: a large push goes packed (ADR 0032).
        let bytes = frame::frame_payload(&versions::encode_client(PROTOCOL_VERSION, message)?);
        let (mut send, recv) = self.conn.open_bi().await.map_err(|e| self.lost(e))?;
        send.write_all(&bytes).await.map_err(|e| self.lost(e))?;
        send.finish().map_err(|e| self.lost(e))?;
        self.bytes_sent += bytes.len() as u64;
        Ok(recv)
    }

    async fn read_answer(&mut self, recv: quinn::RecvStream) -> Result<ServerMessage> {
        let read = read_and_decode(recv).await;
        self.answer(read)
    }

    /// The answer a read found, its bytes counted; a lost connection said
    /// as this session says it.
    fn answer(&mut self, read: Read) -> Result<ServerMessage> {
        match read {
            Ok((message, bytes)) => {
                self.bytes_received += bytes;
                Ok(message)
            }
            Err(Unread::Lost(why)) => Err(self.lost(why)),
            Err(Unread::Refused(e)) => Err(e),
        }
    }

    /// Sends a request and leaves its answer for [`Session::receive`], so
    /// several can be in flight (a push while the one before is applied).
    pub async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        let pending = if self.early.is_some() {
            Pending::Answered(Box::new(self.request(message).await?))
        } else {
            let opened = tokio::time::timeout(REQUEST_TIMEOUT, self.open_request(message)).await;
            match opened {
                Ok(recv) => Pending::Reading(Reader(tokio::spawn(read_and_decode(recv?)))),
                Err(_) => {
                    return Err(self.lost(format!(
                        "a request could not be sent within {} s",
                        REQUEST_TIMEOUT.as_secs()
                    )))
                }
            }
        };
        self.in_flight.push_back(pending);
        Ok(())
    }

    /// The answer to the oldest request sent with [`Session::send`].
    pub async fn receive(&mut self) -> Result<ServerMessage> {
        match self.in_flight.pop_front() {
            None => Err(ClientError::Protocol(
                "an answer was awaited with no request in flight".into(),
            )),
            Some(Pending::Answered(answer)) => Ok(*answer),
            Some(Pending::Reading(mut reader)) => {
                match tokio::time::timeout(REQUEST_TIMEOUT, &mut reader.0).await {
                    Ok(Ok(read)) => self.answer(read),
                    Ok(Err(failed)) => Err(ClientError::Protocol(format!(
                        "reading the server's answer failed: {failed}"
                    ))),
                    Err(_) => {
                        Err(self.lost(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())))
                    }
                }
            }
        }
    }

    /// Closes the connection politely so the server frees it at once rather
    /// than at its idle timeout; bounded so a dead server cannot delay us.
    ///
    /// What frees the server's side is the close frame reaching it, so this
    /// waits until the frame has gone out, not for the endpoint to go idle:
    /// that waits out the draining period too (three probe timeouts, 85 ms
    /// on loopback, a sixth of a whole `gridwarden sync` of 5,000 reports),
    /// which only absorbs the server's late packets. Should the frame be
    /// lost, the server frees the connection at its idle timeout, as it does
    /// for a phone that dies.
    pub async fn close(self) {
        let sent_before = self.conn.stats().udp_tx.datagrams;
        self.conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(CLOSE_SEND_LIMIT, close_sent(&self.conn, sent_before)).await;
    }
}

/// Until `conn`, closed after it had sent `sent_before` datagrams, has sent
/// another: a closed connection sends nothing but its close frame. (quinn
/// counts the frames it receives by kind, not a close it sends.)
async fn close_sent(conn: &quinn::Connection, sent_before: u64) {
    while conn.stats().udp_tx.datagrams == sent_before {
        tokio::time::sleep(CLOSE_POLL).await;
    }
}

/// What the server tells this device unprompted on a connection, each on a
/// stream it opens (brief decision 7).
pub struct Notices {
    conn: quinn::Connection,
}

impl Notices {
    /// The next notice; `None` once the connection is closed. A stream
    /// that holds something else is an error, and the next call goes on.
    pub async fn next(&mut self) -> Option<Result<Notice>> {
        let mut stream = self.conn.accept_uni().await.ok()?;
        let read = stream.read_to_end(MAX_NOTICE_BYTES).await;
        Some(match read {
            Err(e) => Err(ClientError::Protocol(format!("an unreadable notice: {e}"))),
            Ok(bytes) => match decode_answer(&bytes) {
                Ok(ServerMessage::Notice(notice)) => Ok(notice),
                Ok(other) => Err(ClientError::Protocol(format!(
                    "the server sent {} unasked",
                    super::message_name(&other)
                ))),
                Err(e) => Err(e),
            },
        })
    }
}

/// Decodes a whole stream as exactly one frame holding one server message,
/// unpacked when the server packed it (at most a frame's bytes unpacked).
pub(crate) fn decode_answer(bytes: &[u8]) -> Result<ServerMessage> {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
    decoder.extend(bytes)?;
    let payload = decoder.next_payload()?.ok_or_else(|| {
        ClientError::Protocol("the server's answer ended before a whole frame arrived".into())
    })?;
    let message = versions::decode_server_within(PROTOCOL_VERSION, &payload, DEFAULT_MAX_FRAME)?;
    if decoder.buffered() != 0 {
        return Err(ClientError::Protocol(format!(
            "the server sent {} bytes after its answer",
            decoder.buffered()
        )));
    }
    Ok(message)
}

impl Exchange for Session {
    async fn exchange(&mut self, message: &ClientMessage) -> Result<ServerMessage> {
        self.request(message).await
    }

    fn window(&self) -> usize {
        WINDOW
    }

    async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        Session::send(self, message).await
    }

    async fn receive(&mut self) -> Result<ServerMessage> {
        Session::receive(self).await
    }

    fn handshake_presented(&self) -> Option<Presented> {
        let changed = self
            .presented_changed
            .swap(false, std::sync::atomic::Ordering::Relaxed);
        changed.then_some(self.presented)
    }

    fn bytes(&self) -> (u64, u64) {
        (self.bytes_sent, self.bytes_received)
    }

    fn welcomed_at_ms(&self) -> Option<u64> {
        self.welcomed_at_ms
    }

    fn note_welcomed_at_ms(&mut self, at_ms: Option<u64>) {
        self.welcomed_at_ms = at_ms;
    }

    async fn close(self) {
        Session::close(self).await
    }
}

/// Opens pinned QUIC connections to one server.
#[derive(Clone, Debug)]
pub struct QuicConnect {
    pub server: String,
    pub pins: Pins,
    pub timeout: Duration,
}

impl Connect for QuicConnect {
    type Link = Session;

    async fn connect(&self) -> Result<Session> {
        connect_pinned(&self.server, self.pins, self.timeout).await
    }
}

/// What `conn`'s completed handshake proved, from its own certificate chain
/// (for a resumed session, the chain of the handshake that made it): the
/// certificate, if one of `pins`, and the next one the server announced as
/// its chain's second entry (ADR 0011). The handshake's signature covers the
/// whole chain, so nothing in it is taken from a handshake that failed.
fn presented_by(conn: &quinn::Connection, pins: &Pins) -> Option<Presented> {
    let chain = conn
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    let presented = Presented::of_chain(chain.first()?, chain.get(1).map(|c| c.as_ref()));
    pins.trusts(presented.certificate).then_some(presented)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwarden_protocol::{ErrorCode, ServerMessage};

    #[test]
    fn decodes_exactly_one_frame() {
        let msg = ServerMessage::error(ErrorCode::Internal, "boom");
        let bytes = frame::encode_frame(&msg);
        assert_eq!(decode_answer(&bytes).unwrap(), msg);
        let err = decode_answer(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("ended before"), "{err}");
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let err = decode_answer(&two).unwrap_err();
        assert!(err.to_string().contains("after its answer"), "{err}");
    }

    #[test]
    fn unpacks_a_packed_answer_and_refuses_a_bomb() {
        let page = ServerMessage::PullPage(gridwarden_protocol::PullPage {
            records: (0..300)
                .map(|i| gridwarden_protocol::Record::OutOfScope {
                    report_id: uuid::Uuid::from_u128(i),
                })
                .collect(),
            cursor: gridwarden_protocol::Cursor(vec![1; 40]),
            more: false,
        });
        let packed = frame::frame_payload(&versions::encode_server(PROTOCOL_VERSION, &page));
        assert!(packed.len() * 2 < frame::encode_frame(&page).len());
        assert_eq!(decode_answer(&packed).unwrap(), page);
        // An envelope announcing more than a frame is refused unopened.
        let bomb = ServerMessage::Packed(gridwarden_protocol::packed::Packed {
            len: (DEFAULT_MAX_FRAME + 1) as u32,
            zstd: vec![0; 16],
        });
        let err = decode_answer(&frame::encode_frame(&bomb)).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn refuses_an_oversized_header() {
        let err = decode_answer(&u32::MAX.to_be_bytes()).unwrap_err();
        assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
    }

    #[test]
    fn an_unreachable_server_is_reported_as_offline() {
        // Nothing listens on this port: the handshake times out.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(connect("127.0.0.1:9", [0; 32], Duration::from_millis(300)))
            .err()
            .expect("no server there");
        assert!(err.is_offline(), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("cannot reach the server at 127.0.0.1:9"),
            "{msg}"
        );
        assert!(msg.contains("kept on this device"), "{msg}");
    }
}
