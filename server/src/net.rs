//! The QUIC edge: accepts connections, authenticates the first stream, then
//! serves one request per bidirectional stream. Nothing read from the network
//! can panic this code or make it buffer more than one maximum frame.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gridwarden_protocol::frame::{encode_frame, FrameDecoder, HEADER_LEN};
use gridwarden_protocol::{ClientMessage, ErrorCode, ServerMessage};
use tokio::task::JoinHandle;

use crate::service::{Service, ServiceError, Session};
use crate::tls;

/// How long a client may take to send its first message or a whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent requests an authenticated connection may have open.
const STREAMS_AFTER_HELLO: u32 = 64;
/// How long a shutdown waits for connection closes to be delivered.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(1);
/// UDP buffer sizes asked of the kernel (it caps them at net.core.rmem_max
/// and wmem_max). A city's phones syncing at once send thousands of
/// handshake packets in the same instant: with the default buffer (208 KiB
/// on the project machine) the excess was dropped, and every dropped
/// handshake packet waits out QUIC's backoff (1 s, 2 s, 4 s…) — the fleet
/// benchmark's slowest rounds and its failed devices.
const UDP_BUFFER_BYTES: usize = 8 << 20;

pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub fingerprint: [u8; 32],
    endpoint: quinn::Endpoint,
    accept_task: JoinHandle<()>,
}

impl RunningServer {
    /// Binds `listen` and serves until [`RunningServer::shutdown`].
    pub fn start(
        service: Arc<Service>,
        identity: &tls::Identity,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        let config = tls::quic_server_config(identity)?;
        let socket = bind_udp(listen)?;
        let mut endpoint_config =
            quinn::EndpointConfig::new(Arc::new(identity.stateless_reset_key()));
        // Connection ids a restarted server still recognises as its own, so
        // it answers a phone's stale connection with a stateless reset.
        let cid_key = identity.connection_id_key();
        endpoint_config.cid_generator(move || {
            Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
        });
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        let local_addr = endpoint.local_addr()?;
        let accept_task = tokio::spawn(accept_loop(endpoint.clone(), service));
        Ok(Self {
            local_addr,
            fingerprint: identity.fingerprint(),
            endpoint,
            accept_task,
        })
    }

    /// Closes every connection and waits briefly for the close to reach the
    /// peers. A peer that vanished mid-handshake would otherwise hold the
    /// wait until its idle timeout: an operator's Ctrl-C must not hang.
    pub async fn shutdown(self) {
        self.endpoint.close(0u32.into(), b"server shutting down");
        self.accept_task.abort();
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

async fn accept_loop(endpoint: quinn::Endpoint, service: Arc<Service>) {
    while let Some(incoming) = endpoint.accept().await {
        let service = service.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => serve_connection(conn, service).await,
                Err(e) => tracing::debug!(%remote, error = %e, "handshake failed"),
            }
        });
    }
}

async fn serve_connection(conn: quinn::Connection, service: Arc<Service>) {
    let remote = conn.remote_address();
    let Some(session) = authenticate(&conn, &service).await else {
        return;
    };
    tracing::info!(%remote, device = %session.device_id, user = %session.user, "device connected");
    conn.set_max_concurrent_bi_streams(STREAMS_AFTER_HELLO.into());
    let session = Arc::new(session);
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let (service, session) = (service.clone(), session.clone());
                tokio::spawn(async move { serve_stream(send, recv, service, session).await });
            }
            Err(e) => {
                tracing::debug!(%remote, error = %e, "connection ended");
                return;
            }
        }
    }
}

/// Reads the first stream's Hello or Enroll; closes the connection if it is
/// anything else or is refused.
async fn authenticate(conn: &quinn::Connection, service: &Arc<Service>) -> Option<Session> {
    let remote = conn.remote_address();
    let (mut send, recv) = match tokio::time::timeout(REQUEST_TIMEOUT, conn.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        _ => {
            conn.close(1u32.into(), b"no hello");
            return None;
        }
    };
    let max = service.limits().max_frame;
    let outcome = match read_request(recv, max).await {
        Err(refusal) => Err(refusal),
        Ok(message) => {
            let service = service.clone();
            run_blocking(move || service.open_session(message))
                .await
                .map_err(|e| e.to_wire())
        }
    };
    match outcome {
        Ok((session, reply)) => {
            write_response(&mut send, &reply).await;
            Some(session)
        }
        Err(refusal) => {
            tracing::warn!(%remote, code = ?refusal.code, reason = %refusal.message, "connection refused");
            write_response(&mut send, &ServerMessage::Error(refusal)).await;
            // Give the refusal a moment to reach the device before closing.
            let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
            conn.close(2u32.into(), b"refused");
            None
        }
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    recv: quinn::RecvStream,
    service: Arc<Service>,
    session: Arc<Session>,
) {
    let max = service.limits().max_frame;
    let reply = match read_request(recv, max).await {
        Ok(message) => {
            let service = service.clone();
            let session = session.clone();
            run_blocking(move || Ok(service.handle(&session, message)))
                .await
                .unwrap_or_else(|e| ServerMessage::Error(e.to_wire()))
        }
        Err(refusal) => {
            tracing::warn!(device = %session.device_id, code = ?refusal.code, reason = %refusal.message, "bad request stream dropped");
            ServerMessage::Error(refusal)
        }
    };
    write_response(&mut send, &reply).await;
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

/// Reads one whole request frame from a stream the client has finished.
async fn read_request(
    mut recv: quinn::RecvStream,
    max_frame: usize,
) -> Result<ClientMessage, gridwarden_protocol::ErrorMessage> {
    use gridwarden_protocol::ErrorMessage;
    let refuse = |code, message: String| ErrorMessage { code, message };
    let bytes = match tokio::time::timeout(
        REQUEST_TIMEOUT,
        recv.read_to_end(max_frame + HEADER_LEN),
    )
    .await
    {
        Err(_) => {
            return Err(refuse(
                ErrorCode::BadFrame,
                "the request did not arrive in time".into(),
            ))
        }
        Ok(Err(quinn::ReadToEndError::TooLong)) => {
            let _ = recv.stop(1u32.into());
            return Err(refuse(
                ErrorCode::FrameTooLarge,
                format!("the request is larger than the server's limit of {max_frame} bytes; send smaller batches"),
            ));
        }
        Ok(Err(e)) => {
            return Err(refuse(
                ErrorCode::BadFrame,
                format!("the request stream failed: {e}"),
            ))
        }
        Ok(Ok(bytes)) => bytes,
    };
    let mut decoder = FrameDecoder::new(max_frame);
    let malformed = |e: gridwarden_protocol::ProtocolError| {
        refuse(e.code(), format!("unreadable request: {e}"))
    };
    decoder.extend(&bytes).map_err(malformed)?;
    let message = decoder
        .next_message::<ClientMessage>()
        .map_err(malformed)?
        .ok_or_else(|| {
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
    Ok(message)
}

async fn write_response(send: &mut quinn::SendStream, message: &ServerMessage) {
    let frame = encode_frame(message);
    // A peer that never reads must not pin this task and its buffer.
    match tokio::time::timeout(REQUEST_TIMEOUT, send.write_all(&frame)).await {
        Ok(Ok(())) => {
            let _ = send.finish();
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "could not write a response"),
        Err(_) => {
            tracing::warn!("a response was not read in time; stream reset");
            let _ = send.reset(0u32.into());
        }
    }
}
