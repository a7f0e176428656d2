//! The QUIC edge: accepts connections, authenticates the first stream, then
//! serves one request per bidirectional stream. Nothing read from the network
//! can panic this code or make it buffer more than one maximum frame.

use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwarden_protocol::frame::{frame_payload, FrameDecoder, HEADER_LEN};
use gridwarden_protocol::{
    versions, ClientMessage, ErrorCode, ErrorMessage, ServerMessage, PROTOCOL_VERSION,
};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::{ConnectionsSection, RateSection};
use crate::metrics;
use crate::service::{Service, ServiceError};
use crate::tls;

mod admission;
mod ahead;
mod audience;
pub mod cid;
mod notices;
mod order;
mod progress;
mod rate;
mod registry;

use admission::Admission;
use progress::Progress;
use rate::RateLimiter;
use registry::{Live, Registry, SessionCell};

/// How long a shutdown waits for connection closes to be delivered.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(1);
/// UDP buffer sizes asked of the kernel (it caps them at net.core.rmem_max
/// and wmem_max). A city's phones syncing at once send thousands of
/// handshake packets in the same instant: with the default buffer (208 KiB
/// on the project machine) the excess was dropped, and every dropped
/// handshake packet waits out QUIC's backoff (1 s, 2 s, 4 s…) — the fleet
/// benchmark's slowest rounds and its failed devices.
const UDP_BUFFER_BYTES: usize = 8 << 20;

/// Close codes the server uses; the reason travels as text.
const CLOSE_NO_HELLO: u32 = 1;
const CLOSE_REFUSED: u32 = 2;
const CLOSE_REVOKED: u32 = 3;
const CLOSE_BUSY: u32 = 4;
const CLOSE_RECONNECT: u32 = 5;

/// What the edge lets connections hold and how fast devices may go
/// (the `[connections]` and `[rate]` sections of the config file).
#[derive(Clone, Debug, Default)]
pub struct EdgeConfig {
    pub connections: ConnectionsSection,
    pub rate: RateSection,
    /// Written into every connection id, for a balancer (`[server] server_id`).
    pub server_id: u16,
}

/// Shared by every task of a running server.
struct Edge {
    service: Arc<Service>,
    connections: ConnectionsSection,
    limiter: RateLimiter,
    registry: Arc<Registry>,
    /// Connections not yet authenticated: how many, and how many shake
    /// hands at once.
    admission: Admission,
}

impl Edge {
    fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.connections.request_timeout_s)
    }
}

pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub fingerprint: [u8; 32],
    endpoint: quinn::Endpoint,
    edge: Arc<Edge>,
    accept_task: JoinHandle<()>,
    watch_task: JoinHandle<()>,
    notice_task: JoinHandle<()>,
    /// The next certificate the server announces in its handshakes now.
    announced: std::sync::Mutex<Option<[u8; 32]>>,
}

impl RunningServer {
    /// Binds `listen` and serves with the default edge limits until
    /// [`RunningServer::shutdown`].
    pub fn start(
        service: Arc<Service>,
        identity: &tls::Identity,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        Self::start_with(service, identity, listen, EdgeConfig::default())
    }

    /// The same with the edge limits of a config file.
    pub fn start_with(
        service: Arc<Service>,
        identity: &tls::Identity,
        listen: SocketAddr,
        edge: EdgeConfig,
    ) -> anyhow::Result<Self> {
        let config = tls::quic_server_config(
            identity,
            service.limits().max_frame,
            Duration::from_secs(edge.connections.idle_timeout_s),
        )?;
        let socket = bind_udp(listen)?;
        let mut endpoint_config =
            quinn::EndpointConfig::new(Arc::new(identity.stateless_reset_key()));
        // Connection ids that name this process for a balancer, and that a
        // restarted server or a sibling still recognises as the deployment's,
        // so it answers a phone's stale connection with a stateless reset.
        let (cid_key, server_id) = (identity.connection_id_key(), edge.server_id);
        endpoint_config
            .cid_generator(move || Box::new(cid::ServerIdGenerator::new(server_id, cid_key)));
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        let local_addr = endpoint.local_addr()?;
        crate::admin::cert::note_announcement(&service, identity.next_fingerprint())?;
        let edge = Arc::new(Edge {
            service,
            admission: Admission::new(
                edge.connections.max_unauthenticated,
                edge.connections.max_handshaking,
                Duration::from_secs(edge.connections.handshake_queue_s),
            ),
            connections: edge.connections,
            limiter: RateLimiter::new(edge.rate),
            registry: Arc::new(Registry::default()),
        });
        let accept_task = tokio::spawn(accept_loop(endpoint.clone(), edge.clone()));
        let watch_task = tokio::spawn(watch_revocations(edge.clone()));
        let notice_task = tokio::spawn(notices::tell_devices(edge.clone()));
        Ok(Self {
            local_addr,
            fingerprint: identity.fingerprint(),
            endpoint,
            edge,
            accept_task,
            watch_task,
            notice_task,
            announced: std::sync::Mutex::new(identity.next_fingerprint()),
        })
    }

    /// Serves new connections with `identity` (a rotated certificate, read
    /// again on SIGHUP); open connections keep the one they started with.
    /// The stateless-reset and connection-id keys stay those of the start.
    pub fn reload_identity(&self, identity: &tls::Identity) -> anyhow::Result<()> {
        let config = tls::quic_server_config(
            identity,
            self.edge.service.limits().max_frame,
            Duration::from_secs(self.edge.connections.idle_timeout_s),
        )?;
        self.endpoint.set_server_config(Some(config));
        let next = identity.next_fingerprint();
        crate::admin::cert::note_announcement(&self.edge.service, next)?;
        let mut announced = self.announced.lock().expect("announcement lock");
        if next.is_some() && *announced != next {
            // A device learns the next certificate only in a handshake (ADR
            // 0011), and `cert status` counts it ready once it was seen after
            // the announcement. A connection kept open through the rollover
            // would be seen without its device having learnt anything, and
            // after `cert activate` that device could not connect again. So
            // every device connects again now, and learns it.
            let open = self.edge.registry.snapshot();
            tracing::info!(
                devices = open.len(),
                "a next certificate is announced: open connections closed so their devices learn it"
            );
            for conn in open.iter().flat_map(|(_, conns)| conns) {
                conn.close(
                    CLOSE_RECONNECT.into(),
                    b"the server announces its next certificate; connect again",
                );
            }
        }
        *announced = next;
        Ok(())
    }

    /// Devices with a connection open now.
    pub fn connected_devices(&self) -> usize {
        self.edge.registry.snapshot().len()
    }

    /// Connections authenticated since the start (each a handshake): a
    /// sync on a device's long-lived connection adds none.
    pub fn connections_opened(&self) -> u64 {
        self.edge.registry.opened()
    }

    /// Closes every connection and waits briefly for the close to reach the
    /// peers. A peer that vanished mid-handshake would otherwise hold the
    /// wait until its idle timeout: an operator's Ctrl-C must not hang.
    pub async fn shutdown(self) {
        self.endpoint.close(0u32.into(), b"server shutting down");
        self.accept_task.abort();
        self.watch_task.abort();
        self.notice_task.abort();
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN, self.endpoint.wait_idle()).await;
    }
}

/// The server's one UDP socket, with buffers for a burst of handshakes.
fn bind_udp(listen: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Best effort: a smaller buffer than asked still works, only worse.
    if let Err(e) = socket.set_recv_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!(error = %e, "could not enlarge the UDP receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!(error = %e, "could not enlarge the UDP send buffer");
    }
    socket.bind(&listen.into())?;
    Ok(socket.into())
}

async fn accept_loop(endpoint: quinn::Endpoint, edge: Arc<Edge>) {
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        // Both caps are checked before any cryptography: a flood of
        // handshakes costs the server a refusal packet each, no more.
        if endpoint.open_connections() >= edge.connections.max_connections as usize {
            tracing::warn!(%remote, "connection refused: the server is at its connection limit");
            metrics::get().refused_connection("at_capacity");
            incoming.refuse();
            continue;
        }
        let Some(queued) = edge.admission.arrive() else {
            tracing::warn!(%remote, "connection refused: too many connections are still authenticating");
            metrics::get().refused_connection("authenticating");
            incoming.refuse();
            continue;
        };
        let edge = edge.clone();
        tokio::spawn(async move {
            // Its turn among the connections shaking hands (`admission.rs`).
            let Some(admitted) = queued.turn().await else {
                tracing::warn!(%remote, "connection refused: it waited too long for its handshake");
                metrics::get().refused_connection("handshake_queue");
                incoming.refuse();
                return;
            };
            let connecting = match incoming.accept() {
                Ok(connecting) => connecting,
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "handshake failed");
                    return;
                }
            };
            let Some((conn, handshake)) = early(connecting, edge.request_timeout()).await else {
                tracing::debug!(%remote, "handshake failed or timed out");
                return;
            };
            let Some((session, version, registration)) =
                authenticate(&conn, &edge, handshake.clone()).await
            else {
                return;
            };
            drop(admitted);
            serve_connection(conn, session, version, registration, edge, handshake).await;
        });
    }
}

/// Resolves once a connection's handshake completed (`true`), or failed or
/// timed out (`false`); may be awaited any number of times.
type Handshake = Shared<BoxFuture<'static, bool>>;

/// The connection before its handshake completes, so a resumed device's
/// Hello sent in 0-RTT is answered at once (ADR 0029), and the handshake.
async fn early(
    connecting: quinn::Connecting,
    timeout: Duration,
) -> Option<(quinn::Connection, Handshake)> {
    match connecting.into_0rtt() {
        Ok((conn, accepted)) => {
            let watched = conn.clone();
            // `accepted` resolves when the handshake ends, with whether the
            // early data was taken (quinn says `false` for a handshake that
            // had none): it completed unless the connection closed.
            let handshake = async move {
                tokio::time::timeout(timeout, accepted).await.is_ok()
                    && watched.close_reason().is_none()
            };
            Some((conn, handshake.boxed().shared()))
        }
        // Never on a server (quinn), but the whole handshake will do.
        Err(connecting) => match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(conn)) => Some((conn, async { true }.boxed().shared())),
            _ => None,
        },
    }
}

/// Ends a sync in the metrics when its connection's task ends.
struct SyncEnd(Instant);

impl Drop for SyncEnd {
    fn drop(&mut self) {
        let metrics = metrics::get();
        metrics.connections_open.dec();
        metrics.sync_seconds.observe(self.0.elapsed().as_secs_f64());
    }
}

/// Serves an authenticated connection's requests in protocol `version`
/// (what its first message said): older versions are read with their frozen
/// shapes and answered in them (`gridwarden_protocol::versions`).
async fn serve_connection(
    conn: quinn::Connection,
    session: SessionCell,
    version: u16,
    _registration: registry::Registration,
    edge: Arc<Edge>,
    handshake: Handshake,
) {
    let remote = conn.remote_address();
    // More streams as soon as the Hello is authenticated, so a resumed
    // device's next request leaves with its handshake's last flight
    // instead of a round trip later. Their requests are read only once the
    // handshake completed: only the Hello is ever served from early data,
    // which could be a replay.
    conn.set_max_concurrent_bi_streams(edge.connections.max_streams.into());
    if !handshake.await {
        tracing::debug!(%remote, "handshake failed after the hello");
        conn.close(CLOSE_NO_HELLO.into(), b"no handshake");
        return;
    }
    let first = session.current();
    tracing::info!(%remote, device = %first.device_id, user = %first.user, version, "device connected");
    let metrics = metrics::get();
    metrics.connections.inc();
    metrics.connections_open.inc();
    let started = Instant::now();
    // Counted when the connection ends, however it ends.
    let _sync = SyncEnd(started);
    let order = order::Order::new();
    let ahead = Arc::new(ahead::ReadAhead::default());
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let (edge, session, ahead) = (edge.clone(), session.clone(), ahead.clone());
                // Taken here, in the order the device opened its streams.
                let ticket = order.ticket();
                let stream = Stream {
                    edge,
                    cell: session,
                    version,
                    ticket,
                    ahead,
                };
                tokio::spawn(async move { serve_stream(send, recv, stream).await });
            }
            Err(e) => {
                tracing::debug!(%remote, error = %e, "connection ended");
                return;
            }
        }
    }
}

/// The hash of the key the device showed in the handshake, if any
/// (`tls/device_key.rs`).
fn device_key(conn: &quinn::Connection) -> Option<[u8; 32]> {
    let identity = conn.peer_identity()?;
    let certs = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    crate::tls::device_key::hash(certs.first()?)
}

/// Reads the first stream's Hello or Enroll; closes the connection if it is
/// anything else, is refused, or comes from a device over its limits. Also
/// returns the protocol version the connection speaks.
async fn authenticate(
    conn: &quinn::Connection,
    edge: &Arc<Edge>,
    handshake: Handshake,
) -> Option<(SessionCell, u16, registry::Registration)> {
    let remote = conn.remote_address();
    let hello_timeout = Duration::from_secs(edge.connections.hello_timeout_s);
    let (mut send, recv) = match tokio::time::timeout(hello_timeout, conn.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        _ => {
            conn.close(CLOSE_NO_HELLO.into(), b"no hello");
            return None;
        }
    };
    let max = edge.service.limits().max_frame;
    // Which shapes to read the rest of the message with, and to answer in:
    // the version it announces when this server speaks it, else the current
    // one (every version's Hello, Enroll and Error read alike, so a device
    // outside the window still reads its refusal).
    let mut version = PROTOCOL_VERSION;
    let outcome = match read_payload(recv, max, hello_timeout).await {
        Err(refusal) => Err(refusal),
        Ok(payload) => {
            if let Some(v) = versions::first_message_version(&payload) {
                if versions::supported(v) {
                    version = v;
                }
            }
            decode(version, &payload, max)
        }
    };
    let outcome = match outcome {
        Err(refusal) => Err(refusal),
        Ok(message) => {
            // A Hello may come in 0-RTT (ADR 0029); anything else waits for
            // the completed handshake (an enrolment also for the key the
            // device proves in it).
            if !matches!(message, ClientMessage::Hello(_)) && !handshake.await {
                conn.close(CLOSE_NO_HELLO.into(), b"no handshake");
                return None;
            }
            let service = edge.service.clone();
            let device_key = device_key(conn);
            run_blocking(move || service.open_session_from(message, Some(remote), device_key))
                .await
                .map_err(|e| e.to_wire())
                .and_then(|(session, reply)| {
                    let limited = |message| ErrorMessage {
                        code: ErrorCode::RateLimited,
                        message,
                    };
                    let device = session.device_id;
                    edge.limiter
                        .connection(device, Instant::now())
                        .map_err(|rate::Limited(why)| {
                            metrics::get().rate_limited("connection");
                            limited(why)
                        })?;
                    let max = edge.connections.max_per_device as usize;
                    let session = SessionCell::new(session);
                    let live = Live {
                        conn: conn.clone(),
                        version,
                        session: session.clone(),
                    };
                    let registration =
                        edge.registry
                            .register(device, live, max)
                            .map_err(|open| {
                                limited(format!(
                                "this device already has {open} connections open; close the others or wait"
                            ))
                            })?;
                    Ok((session, registration, reply))
                })
        }
    };
    match outcome {
        Ok((session, registration, reply)) => {
            write_response(&mut send, &reply, version, edge.request_timeout()).await;
            Some((session, version, registration))
        }
        Err(refusal) => {
            tracing::warn!(%remote, code = ?refusal.code, reason = %refusal.message, "connection refused");
            metrics::get().refused_connection(if refusal.code == ErrorCode::RateLimited {
                "rate_limited"
            } else {
                "refused"
            });
            write_response(
                &mut send,
                &ServerMessage::Error(refusal),
                version,
                edge.request_timeout(),
            )
            .await;
            // Give the refusal a moment to reach the device before closing.
            let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
            conn.close(CLOSE_REFUSED.into(), b"refused");
            None
        }
    }
}

/// What a request stream is served with, besides the stream itself.
struct Stream {
    edge: Arc<Edge>,
    cell: SessionCell,
    version: u16,
    ticket: order::Ticket,
    /// The connection's page read ahead (`ahead.rs`).
    ahead: Arc<ahead::ReadAhead>,
}

async fn serve_stream(mut send: quinn::SendStream, mut recv: quinn::RecvStream, stream: Stream) {
    let Stream {
        edge,
        cell,
        version,
        ticket,
        ahead,
    } = stream;
    // A push waits for its turn among this connection's streams and says
    // whether it was applied (`order.rs`); any other stream is done with
    // its ticket once it is read (or dropped unread).
    let session = cell.current();
    let device = session.device_id;
    let timeout = edge.request_timeout();
    if let Err(rate::Limited(why)) = edge.limiter.request(device, Instant::now()) {
        metrics::get().rate_limited("request");
        // Not even read: a flooding device costs the server one answer.
        let _ = recv.stop(CLOSE_BUSY.into());
        let refusal = ServerMessage::error(ErrorCode::RateLimited, why);
        write_response(&mut send, &refusal, version, timeout).await;
        return;
    }
    let max = edge.service.limits().max_frame;
    let request = read_payload(recv, max, timeout)
        .await
        .and_then(|payload| decode(version, &payload, max));
    let stream_number = ticket.number();
    if !matches!(request, Ok(ClientMessage::Pull(_))) {
        // Anything but a pull ends the pull a page was read ahead for.
        ahead.forget(stream_number);
    }
    let reply = match request {
        Ok(message) => {
            let ops = match &message {
                ClientMessage::Push(push) => push.ops.len(),
                _ => 0,
            };
            match edge.limiter.ops(device, ops, Instant::now()) {
                Err(rate::Limited(why)) => {
                    // A push refused whole: the ones after it wait too.
                    ticket.done(ops == 0);
                    metrics::get().rate_limited("ops");
                    ServerMessage::error(ErrorCode::RateLimited, why)
                }
                Ok(()) => match message {
                    // A later sync on a long-lived connection: the session
                    // is read again (cells, a disabled user) for it, once
                    // the pushes of the last sync are done.
                    ClientMessage::Hello(hello) => {
                        ticket.turn().await;
                        ticket.start_afresh();
                        let service = edge.service.clone();
                        let outcome = run_blocking(move || {
                            // Read before the user is: see `SessionCell`.
                            let epoch = service.store().auth_epoch()?;
                            let (renewed, welcome) =
                                service.hello_again(&session, &hello, version)?;
                            Ok((renewed, welcome, epoch))
                        })
                        .await;
                        ticket.done(true);
                        match outcome {
                            Ok((renewed, welcome, epoch)) => {
                                edge.registry.rescope(&cell, renewed, epoch);
                                ServerMessage::Welcome(welcome)
                            }
                            Err(e) => ServerMessage::Error(e.to_wire()),
                        }
                    }
                    // Applied in the order sent, after the ones before.
                    ClientMessage::Push(push) => match ticket.turn().await {
                        order::Turn::AfterFailure => {
                            ticket.done(false);
                            ServerMessage::error(
                                ErrorCode::Conflict,
                                "an earlier push on this connection was not applied, so this one \
                                 was not either; sync again",
                            )
                        }
                        order::Turn::Clear => {
                            let reply =
                                apply_push(&edge, session, push, version, &ahead, stream_number)
                                    .await;
                            ticket.done(matches!(reply, ServerMessage::Ack(_)));
                            reply
                        }
                    },
                    ClientMessage::Pull(pull) => {
                        ticket.done(true);
                        let frame = answer_pull(&edge, session, pull, version, &ahead).await;
                        write_frame(&mut send, &frame, timeout).await;
                        return;
                    }
                    message => {
                        ticket.done(true);
                        let service = edge.service.clone();
                        run_blocking(move || Ok(service.handle(&session, message)))
                            .await
                            .unwrap_or_else(|e| ServerMessage::Error(e.to_wire()))
                    }
                },
            }
        }
        Err(refusal) => {
            tracing::warn!(%device, code = ?refusal.code, reason = %refusal.message, "bad request stream dropped");
            ServerMessage::Error(refusal)
        }
    };
    write_response(&mut send, &reply, version, timeout).await;
}

/// Cuts off the open connections of devices that IT revoked (or whose user
/// it disabled), and rescopes the others whose user's cells changed, by this
/// process or by an admin command in another one: the store's auth epoch
/// says when to look. A kept connection says `Hello` only every few minutes
/// (ADR 0041); its notices follow the user's cells from here.
async fn watch_revocations(edge: Arc<Edge>) {
    let every = Duration::from_millis(edge.connections.revocation_check_ms);
    let mut seen_epoch = None;
    loop {
        tokio::time::sleep(every).await;
        edge.limiter.forget_idle(Instant::now());
        let service = edge.service.clone();
        let epoch = match run_blocking(move || Ok(service.store().auth_epoch()?)).await {
            Ok(epoch) => epoch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the revocation epoch");
                continue;
            }
        };
        if seen_epoch == Some(epoch) {
            continue;
        }
        let open = edge.registry.live();
        let sessions: Vec<_> = open.iter().map(|live| live.session.current()).collect();
        let service = edge.service.clone();
        let verdicts = run_blocking(move || {
            Ok(sessions
                .iter()
                .map(|session| service.session_now(session))
                .collect::<Vec<_>>())
        })
        .await;
        let Ok(verdicts) = verdicts else { continue };
        // Looked at again at the next tick if any session could not be read.
        let mut all_read = true;
        for (live, verdict) in open.into_iter().zip(verdicts) {
            match verdict {
                Ok(None) => {}
                Ok(Some(renewed)) => {
                    tracing::info!(device = %renewed.device_id, user = %renewed.user, "an open connection rescoped");
                    edge.registry.rescope(&live.session, renewed, epoch);
                }
                Err(refusal @ ServiceError::Refused { .. }) => {
                    let device = live.session.current().device_id;
                    cut_off(device, &[live.conn], &refusal.to_wire().message);
                }
                Err(e) => {
                    all_read = false;
                    tracing::error!(error = %e, "cannot read an open connection's session");
                }
            }
        }
        if all_read {
            seen_epoch = Some(epoch);
        }
    }
}

fn cut_off(device: Uuid, conns: &[quinn::Connection], reason: &str) {
    tracing::warn!(%device, connections = conns.len(), %reason, "open connections closed");
    for conn in conns {
        conn.close(CLOSE_REVOKED.into(), reason.as_bytes());
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(join) => {
            tracing::error!(error = %join, "request handler failed");
            Err(ServiceError::Refused {
                code: ErrorCode::Internal,
                message: "the server failed on this request".into(),
            })
        }
    }
}

/// Reads one whole request frame's payload from a stream the client has
/// finished, for as long as its bytes keep arriving (`progress::Progress`
/// with `window`).
async fn read_payload(
    mut recv: quinn::RecvStream,
    max_frame: usize,
    window: Duration,
) -> Result<Vec<u8>, ErrorMessage> {
    let refuse = |code, message: String| ErrorMessage { code, message };
    let limit = max_frame + HEADER_LEN;
    let mut progress = Progress::start(window, tokio::time::Instant::now());
    let mut bytes = Vec::new();
    loop {
        let read = tokio::time::timeout_at(
            progress.deadline(),
            recv.read_chunk(limit + 1 - bytes.len(), true),
        )
        .await;
        match read {
            Err(_) => {
                return Err(refuse(
                    ErrorCode::BadFrame,
                    format!(
                        "the request stopped arriving (under {} bytes in {} s)",
                        progress::MIN_BYTES_PER_WINDOW,
                        window.as_secs()
                    ),
                ))
            }
            Ok(Err(e)) => {
                return Err(refuse(
                    ErrorCode::BadFrame,
                    format!("the request stream failed: {e}"),
                ))
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                bytes.extend_from_slice(&chunk.bytes);
                if bytes.len() > limit {
                    let _ = recv.stop(1u32.into());
                    return Err(refuse(
                        ErrorCode::FrameTooLarge,
                        format!("the request is larger than the server's limit of {max_frame} bytes; send smaller batches"),
                    ));
                }
                progress.moved(chunk.bytes.len() as u64, tokio::time::Instant::now());
            }
        }
    }
    let mut decoder = FrameDecoder::new(max_frame);
    let malformed = |e: gridwarden_protocol::ProtocolError| {
        refuse(e.code(), format!("unreadable request: {e}"))
    };
    decoder.extend(&bytes).map_err(malformed)?;
    let payload = decoder.next_payload().map_err(malformed)?.ok_or_else(|| {
        refuse(
            ErrorCode::BadFrame,
            "unreadable request: the frame is incomplete".into(),
        )
    })?;
    if decoder.buffered() != 0 {
        return Err(refuse(
            ErrorCode::BadFrame,
            "unreadable request: bytes after the frame".into(),
        ));
    }
    Ok(payload)
}

/// A request in protocol `version`'s shapes, as the current message; a
/// packed one (since 4) unpacks to at most a frame's `max` bytes.
fn decode(version: u16, payload: &[u8], max: usize) -> Result<ClientMessage, ErrorMessage> {
    versions::decode_client_within(version, payload, max).map_err(|e| ErrorMessage {
        code: e.code(),
        message: format!("unreadable request: {e}"),
    })
}

/// The answer to a pull: the page read ahead for it when there is one, else
/// read now; then the page after it is read ahead (`ahead.rs`).
async fn answer_pull(
    edge: &Arc<Edge>,
    session: Arc<crate::service::Session>,
    pull: gridwarden_protocol::Pull,
    version: u16,
    ahead: &ahead::ReadAhead,
) -> Vec<u8> {
    let kept = match ahead.take(&pull, Instant::now()) {
        Some(reading) => {
            let after = reading.after();
            let answer = reading.answer().await.filter(|answer| !answer.failed);
            if answer.is_some() {
                metrics::get()
                    .pull_pages_ahead
                    .get_or_create(&metrics::Kind { kind: after })
                    .inc();
            }
            answer
        }
        None => None,
    };
    let answer = match kept {
        Some(answer) => answer,
        None => {
            let (service, session) = (edge.service.clone(), session.clone());
            let read = run_blocking(move || Ok(ahead::read(&service, &session, pull, version)));
            match read.await {
                Ok(answer) => answer,
                Err(failed) => {
                    let failed = ServerMessage::Error(failed.to_wire());
                    return frame_payload(&versions::encode_server(version, &failed));
                }
            }
        }
    };
    if let Some(resume) = answer.resume {
        // The last page: a sync ends here, whether it opened its connection
        // or said Hello on a kept one or neither (ADR 0041); the next one
        // pulls from here.
        metrics::get().syncs.inc();
        ahead.resume_from(resume);
    }
    if let Some(next) = answer.next {
        let service = edge.service.clone();
        let reading = {
            let next = next.clone();
            tokio::task::spawn_blocking(move || ahead::read(&service, &session, next, version))
        };
        ahead.start(next, reading, Instant::now());
    }
    answer.frame
}

/// The largest push after which the page of the device's next pull is read
/// in the same blocking task (`ahead.rs`, ADR 0042): a phone's sync on a
/// kept connection pushes a few ops; a device that catches up pushes
/// batches of hundreds, and only its last one is followed by the pull.
const READ_AFTER_PUSH_OPS: usize = 64;

/// Applies a push on the blocking pool. After a small one that was applied,
/// the same task reads the page the device's pull will ask for next, once
/// the push's answer is handed back: that pull then costs no trip to the
/// blocking pool.
async fn apply_push(
    edge: &Arc<Edge>,
    session: Arc<crate::service::Session>,
    push: gridwarden_protocol::Push,
    version: u16,
    ahead: &Arc<ahead::ReadAhead>,
    stream: u64,
) -> ServerMessage {
    let small = push.ops.len() <= READ_AFTER_PUSH_OPS;
    let (service, ahead) = (edge.service.clone(), ahead.clone());
    let (answered, answer) = tokio::sync::oneshot::channel();
    let task = tokio::task::spawn_blocking(move || {
        let reply = service.handle(&session, ClientMessage::Push(push));
        // Kept before the answer leaves, so the pull cannot come first.
        let next = match &reply {
            ServerMessage::Ack(_) if small => ahead.after_push(stream, Instant::now()),
            _ => None,
        };
        let _ = answered.send(reply);
        if let Some((pull, page)) = next {
            let _ = page.send(ahead::read(&service, &session, pull, version));
        }
    });
    match answer.await {
        Ok(reply) => reply,
        Err(_) => {
            if let Err(join) = task.await {
                tracing::error!(error = %join, "request handler failed");
            }
            ServerMessage::error(ErrorCode::Internal, "the server failed on this request")
        }
    }
}

/// Writes `message` in protocol `version`'s shapes, for as long as the
/// peer keeps reading it (`progress::Progress` with `window`).
async fn write_response(
    send: &mut quinn::SendStream,
    message: &ServerMessage,
    version: u16,
    window: Duration,
) {
    let frame = frame_payload(&versions::encode_server(version, message));
    write_frame(send, &frame, window).await;
}

/// Writes one encoded answer, giving up on a peer that stops reading.
async fn write_frame(send: &mut quinn::SendStream, frame: &[u8], window: Duration) {
    let mut progress = Progress::start(window, tokio::time::Instant::now());
    for piece in frame.chunks(progress::WRITE_PIECE) {
        // A peer that stops reading must not pin this task and its buffer.
        match tokio::time::timeout_at(progress.deadline(), send.write_all(piece)).await {
            Ok(Ok(())) => progress.moved(piece.len() as u64, tokio::time::Instant::now()),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not write a response");
                return;
            }
            Err(_) => {
                tracing::warn!("a response stopped being read; stream reset");
                let _ = send.reset(0u32.into());
                return;
            }
        }
    }
    let _ = send.finish();
}
