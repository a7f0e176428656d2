//! Tells at once that nothing can answer at the server's address. A QUIC
//! endpoint's socket is not connected, so the kernel keeps ICMP "port
//! unreachable" and "host unreachable" from it and a handshake to a dead
//! address waits out the whole connect timeout. A connected UDP socket is
//! told: this sends it empty datagrams (a QUIC server drops them unread) and
//! waits for such a refusal while the handshake runs.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Probes sent in all, this far apart: an ICMP answer may be rate-limited or
/// lost like any datagram.
const PROBES: u32 = 4;
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Whether `error` says the address cannot answer, as opposed to a passing
/// failure of this socket.
fn is_refusal(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Completes with the refusal if the network says nothing listens at
/// `addr`; otherwise never completes (the handshake's own timeout rules).
pub(crate) async fn refusal(addr: SocketAddr) -> io::Error {
    if let Some(refused) = probe(addr).await {
        return refused;
    }
    std::future::pending().await
}

async fn probe(addr: SocketAddr) -> Option<io::Error> {
    let bind: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await.ok()?;
    if let Err(e) = socket.connect(addr).await {
        return is_refusal(&e).then_some(e);
    }
    let mut buf = [0u8; 1];
    for _ in 0..PROBES {
        if let Err(e) = socket.send(&[]).await {
            return is_refusal(&e).then_some(e);
        }
        match tokio::time::timeout(PROBE_EVERY, socket.recv(&mut buf)).await {
            Ok(Err(e)) if is_refusal(&e) => return Some(e),
            // An answer (nothing a QUIC server sends to an empty datagram)
            // or a passing error: the address is not known to be dead.
            Ok(_) => return None,
            Err(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_refused_at_once() {
        // A port just freed: nothing listens there.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
        let refused = tokio::time::timeout(Duration::from_secs(30), refusal(addr))
            .await
            .expect("the kernel refuses a closed loopback port");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn a_listening_port_is_not_refused() {
        let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // All probes go unanswered: not known to be dead.
        assert!(probe(addr).await.is_none());
    }
}
