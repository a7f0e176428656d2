//! TLS session resumption and 0-RTT over real QUIC (ADR 0029): a device that
//! synced before resumes and its Hello rides in early data; a server that
//! lost its sessions declines and the sync still works; an eavesdropper's
//! replay of that early data changes nothing on the server.

use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwarden_client_core::tls::Pins;
use gridwarden_client_core::transport::{self, QuicConnect, Session};
use gridwarden_client_core::{Client, Connect, Controls, Exchange};
use gridwarden_e2e::relay::Relay;
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::{ClientMessage, Hello, Role, ServerMessage, PROTOCOL_VERSION};
use uuid::Uuid;

/// Every device here gives up on a handshake after this long.
const CONNECT: Duration = Duration::from_secs(10);

/// One way across the relay: large against loopback and the server's work,
/// so elapsed time counts round trips (printed, never asserted: a loaded
/// machine adds its own time).
const ONE_WAY: Duration = Duration::from_millis(100);

/// The code IT issued, pointing at `relay` instead of the server.
fn code_via(server: &TestServer, relay: &Relay, user: &str) -> String {
    let code = server.enrolment_code(user);
    code.strip_suffix(&server.addr.to_string())
        .map(|rest| format!("{rest}{}", relay.addr()))
        .expect("an enrolment code ends with the server address")
}

fn phone(home: &Path) -> Client {
    Client::open(home).unwrap().with_connect_timeout(CONNECT)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn hello_of(phone: &Client) -> ClientMessage {
    ClientMessage::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        device_id: phone.status().unwrap().device_id.unwrap(),
        token: phone.device_token_for_tests().unwrap(),
        client: "e2e".into(),
    })
}

/// Connects through `relay` and says hello: whether the server took the
/// hello in 0-RTT, and how many round trips until the Welcome.
fn hello_through(relay: &Relay, phone: &Client, fingerprint: [u8; 32]) -> (bool, f64) {
    let hello = hello_of(phone);
    runtime().block_on(async {
        let started = Instant::now();
        let mut session =
            transport::connect_pinned(&relay.addr().to_string(), Pins::only(fingerprint), CONNECT)
                .await
                .unwrap();
        let answer = session.request(&hello).await.unwrap();
        let rtts = started.elapsed().as_secs_f64() / (2.0 * ONE_WAY.as_secs_f64());
        assert!(matches!(answer, ServerMessage::Welcome(_)), "{answer:?}");
        let early = session.early_data_accepted();
        session.close().await;
        (early, rtts)
    })
}

/// Counts the requests of the connections it opens.
struct Counted {
    inner: QuicConnect,
    requests: Arc<AtomicU64>,
}

struct CountedLink {
    session: Session,
    requests: Arc<AtomicU64>,
}

impl Connect for Counted {
    type Link = CountedLink;

    async fn connect(&self) -> gridwarden_client_core::Result<CountedLink> {
        Ok(CountedLink {
            session: self.inner.connect().await?,
            requests: self.requests.clone(),
        })
    }
}

impl Exchange for CountedLink {
    async fn exchange(
        &mut self,
        message: &ClientMessage,
    ) -> gridwarden_client_core::Result<ServerMessage> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.session.request(message).await
    }

    fn bytes(&self) -> (u64, u64) {
        (self.session.bytes_sent, self.session.bytes_received)
    }

    async fn close(self) {
        self.session.close().await
    }
}

/// An empty sync through `relay`: its requests (each one round trip, the
/// requests of a sync go one after another) and its round trips, timed
/// across the relay.
fn counted_sync(relay: &Relay, phone: &Client, fingerprint: [u8; 32]) -> (u64, f64) {
    let requests = Arc::new(AtomicU64::new(0));
    let connect = Counted {
        inner: QuicConnect {
            server: relay.addr().to_string(),
            pins: Pins::only(fingerprint),
            timeout: CONNECT,
        },
        requests: requests.clone(),
    };
    let started = Instant::now();
    let summary = runtime()
        .block_on(phone.sync_with(&connect, Controls::default()))
        .unwrap();
    // The time includes the close, which waits up to 500 ms for the
    // server's acknowledgement.
    let took = started.elapsed().as_secs_f64();
    assert_eq!(summary.pushed, 0);
    (
        requests.load(Ordering::SeqCst),
        took / (2.0 * ONE_WAY.as_secs_f64()),
    )
}

#[test]
fn a_second_sync_resumes_its_session_and_says_hello_in_0rtt() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let relay = Relay::start(server.addr, 7);
    let via = relay.addr().to_string();
    let ann = phone(&tmp.path().join("ann"));
    ann.enroll(&code_via(&server, &relay, "ann"), "phone")
        .unwrap();
    // The enrolment never resumes (it proves the device's key) and keeps
    // no session.
    assert_eq!(transport::early_data_accepted(&via, server.fingerprint), 0);
    relay.set_delay(ONE_WAY);

    // The first sync of the process: a full handshake, which leaves
    // tickets; the second resumes and its Hello goes in 0-RTT.
    let (requests, fresh) = counted_sync(&relay, &ann, server.fingerprint);
    assert_eq!(transport::early_data_accepted(&via, server.fingerprint), 0);
    let (again, resumed) = counted_sync(&relay, &ann, server.fingerprint);
    assert_eq!(
        transport::early_data_accepted(&via, server.fingerprint),
        1,
        "the second sync resumed and the server took its hello in 0-RTT"
    );
    eprintln!(
        "an empty sync: {requests} then {again} requests; timed with the close: \
         {fresh:.2} round trips fresh, {resumed:.2} resumed"
    );

    // The same, up to the Welcome only, and every reconnect resumes again
    // (each connection leaves new single-use tickets).
    let (early, to_welcome) = hello_through(&relay, &ann, server.fingerprint);
    assert!(early, "the hello went in 0-RTT and the server took it");
    eprintln!("round trips until the Welcome, resumed: {to_welcome:.2}");
    ann.record_report(report_at("0101", gridwarden_e2e::nowhere(), "resumed"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);
    assert_eq!(transport::early_data_accepted(&via, server.fingerprint), 3);

    // A server that lost its sessions (a restart) declines the early data:
    // the hello goes again after the full handshake and the sync works.
    let mut server = server;
    server.restart();
    let (early, to_welcome) = hello_through(&relay, &ann, server.fingerprint);
    assert!(!early, "a restarted server has no session to resume");
    eprintln!("round trips until the Welcome, declined and redone: {to_welcome:.2}");
    ann.record_report(report_at(
        "0101",
        gridwarden_e2e::nowhere(),
        "after a restart",
    ))
    .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);
    assert_eq!(transport::early_data_accepted(&via, server.fingerprint), 4);
}

fn last_seen(server: &TestServer, device: Uuid) -> Option<i64> {
    let device = server.admin().store().device(device).unwrap().unwrap();
    device.last_seen_ms
}

#[test]
fn a_replayed_early_data_hello_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let relay = Relay::start(server.addr, 8);
    let ann = phone(&tmp.path().join("ann"));
    ann.enroll(&code_via(&server, &relay, "ann"), "phone")
        .unwrap();
    let device = ann.status().unwrap().device_id.unwrap();
    ann.sync().unwrap();

    // An eavesdropper records a resumed connection's every datagram: the
    // first flight carries the Hello in 0-RTT, which the server takes.
    relay.record();
    let (early, _) = hello_through(&relay, &ann, server.fingerprint);
    assert!(early, "the recorded connection resumed");
    let flight = relay.take_recorded();
    assert!(!flight.is_empty());
    let seen = last_seen(&server, device);
    assert!(seen.is_some());

    // It sends the recording to the server from its own address until the
    // server answers it as a new connection (while the original connection
    // is still known, its copies are dropped as duplicates). By then the
    // server has looked up the session the flight names: used, so gone.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 2048];
    let answered = loop {
        assert!(
            Instant::now() < deadline,
            "the server never answered the replay"
        );
        for datagram in &flight {
            attacker.send_to(datagram, server.addr).unwrap();
        }
        if let Ok((len, _)) = attacker.recv_from(&mut buf) {
            break len;
        }
    };
    assert!(answered > 0);
    // Its early data would be served within milliseconds of the first
    // flight; give a loaded machine ample time before looking. (What is
    // awaited is an absence: there is no event to wait for.)
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        let _ = attacker.recv_from(&mut buf);
    }
    assert_eq!(
        last_seen(&server, device),
        seen,
        "the replayed hello was not served: the device was not seen again"
    );

    // The check can see a Hello: the device's own next sync is seen.
    let before = Instant::now();
    while last_seen(&server, device) == seen {
        assert!(before.elapsed() < Duration::from_secs(60));
        ann.sync().unwrap();
    }
}
