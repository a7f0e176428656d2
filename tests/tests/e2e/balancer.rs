//! A QUIC-aware balancer in front of two server processes on one PostgreSQL
//! database (docs/scale.md, "Balancers"): each real `serve` process writes
//! its server id (`--server-id`) into every connection id it issues, and the
//! test relay, standing in for the balancer, routes each packet by the id it
//! reads from the packet's destination connection id. Skipped with a notice
//! where PostgreSQL is not installed; under `CI=true` that is a failure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridwarden_client_core::transport::{self, Session};
use gridwarden_client_core::{Client, Exchange};
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use gridwarden_e2e::raw::Raw;
use gridwarden_e2e::relay::Relay;
use gridwarden_e2e::{cells_with_points, report_at};
use gridwarden_protocol::{clock, ClientMessage, Role, ServerMessage};
use gridwarden_server::datadir::{StoreLocation, PHOTOS_DIR};
use gridwarden_server::store::postgres::cluster;
use gridwarden_server::{admin, tls, DataDir, Limits};

/// The server ids of the two processes.
const IDS: [u16; 2] = [1, 2];
const CONNECT: Duration = Duration::from_secs(5);
/// Most ops the client puts in one push.
const PUSH_BATCH: u64 = gridwarden_client_core::sync::engine::MAX_PUSH_OPS as u64;

fn log(test: &str, started: Instant, what: impl std::fmt::Display) {
    eprintln!(
        "[balancer::{test} +{:.1}s] {what}",
        started.elapsed().as_secs_f64()
    );
}

/// Two processes with server ids 1 and 2 on one database, sharing the
/// certificate (and so the connection-id and stateless-reset keys).
struct Pair {
    admin: DataDir,
    processes: [ServerProcess; 2],
    addrs: [SocketAddr; 2],
}

fn pair(root: &Path) -> Option<Pair> {
    let url = cluster::fresh_database()?;
    let store = StoreLocation::Postgres(url.clone());
    let dirs: [PathBuf; 2] = [root.join("one"), root.join("two")];
    let admin = DataDir::open_on(&dirs[0], &store, Limits::default(), clock::system()).unwrap();
    std::fs::create_dir_all(&dirs[1]).unwrap();
    for file in [tls::CERT_FILE, tls::KEY_FILE] {
        std::fs::copy(dirs[0].join(file), dirs[1].join(file)).unwrap();
    }
    std::os::unix::fs::symlink(dirs[0].join(PHOTOS_DIR), dirs[1].join(PHOTOS_DIR)).unwrap();
    let ports = [free_udp_port(), free_udp_port()];
    let processes = [0, 1].map(|i| {
        let id = IDS[i].to_string();
        ServerProcess::start_with_args(&dirs[i], ports[i], &["--store", &url, "--server-id", &id])
    });
    let addrs = ports.map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    Some(Pair {
        admin,
        processes,
        addrs,
    })
}

/// The relay as a balancer routing by server id; new connections (whose
/// first packets carry an id the phone chose) go to `first`.
fn balancer(pair: &Pair, first: usize, seed: u64) -> Relay {
    let relay = Relay::start(pair.addrs[first], seed);
    for (id, addr) in IDS.into_iter().zip(pair.addrs) {
        relay.route_server_id(id, addr);
    }
    relay
}

fn enrol(pair: &Pair, relay: &Relay, home: &Path, user: &str) -> Client {
    let code = admin::enrol_device(&pair.admin, user, Some(&relay.addr().to_string()))
        .unwrap()
        .code;
    let client = Client::open(home).unwrap().with_connect_timeout(CONNECT);
    client.enroll(&code, "e2e phone").unwrap();
    client
}

/// A QUIC session that moves to a new local UDP socket after the first push
/// is acknowledged, as a phone switching networks does; just before, the
/// balancer starts sending new flows to the other process, so only routing
/// by connection id keeps the moved session on its own.
struct Moving<'a> {
    session: Session,
    relay: &'a Relay,
    other: SocketAddr,
    acks: u32,
    moved: Option<(SocketAddr, SocketAddr)>,
}

impl Exchange for Moving<'_> {
    async fn exchange(
        &mut self,
        message: &ClientMessage,
    ) -> gridwarden_client_core::Result<ServerMessage> {
        let answer = self.session.request(message).await?;
        if matches!(answer, ServerMessage::Ack(_)) {
            self.acks += 1;
            if self.acks == 1 {
                self.relay.set_server(self.other);
                let from = self.session.local_addr()?;
                self.session
                    .rebind(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
                self.moved = Some((from, self.session.local_addr()?));
            }
        }
        Ok(answer)
    }

    fn bytes(&self) -> (u64, u64) {
        (self.session.bytes_sent, self.session.bytes_received)
    }
}

#[test]
fn a_device_changing_address_mid_push_keeps_its_process_and_its_connection() {
    const TEST: &str = "new_address_same_process";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let Some(pair) = pair(tmp.path()) else {
        return;
    };
    let (cell, here) = cells_with_points(&pair.admin, 1).remove(0);
    admin::add_user(&pair.admin, "ann", Role::Warden, vec![cell]).unwrap();
    // The session starts on the second process.
    let relay = balancer(&pair, 1, 21);
    let ann = enrol(&pair, &relay, &tmp.path().join("ann"), "ann");
    let total = 1_200;
    for i in 0..total {
        ann.record_report(report_at("0101", here, &format!("ann {i}")))
            .unwrap();
    }
    let to_first_before = relay.sent_to(pair.addrs[0]);
    let to_second_before = relay.sent_to(pair.addrs[1]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (summary, link) = runtime.block_on(async {
        let session = transport::connect(
            &relay.addr().to_string(),
            pair.admin.identity.fingerprint(),
            CONNECT,
        )
        .await
        .unwrap();
        let mut link = Moving {
            session,
            relay: &relay,
            other: pair.addrs[0],
            acks: 0,
            moved: None,
        };
        let summary = ann.sync_over(&mut link).await;
        (summary, link)
    });
    let summary = summary.unwrap();
    let (from, to) = link.moved.expect("the session moved");
    log(
        TEST,
        started,
        format!("moved {from} -> {to}; {} acks; {summary:?}", link.acks),
    );
    assert_ne!(from.port(), to.port());
    let batches = (total as u64).div_ceil(PUSH_BATCH) as u32;
    assert_eq!(link.acks, batches, "every batch after the move was acked");
    // One session, one connection: had a packet of it reached the other
    // process, that process would have reset it and the sync failed.
    assert_eq!(
        (summary.pushed, summary.duplicates, summary.pending),
        (total as u64, 0, 0)
    );
    assert_eq!(summary.pulled, total as u64);
    assert_eq!(
        relay.sent_to(pair.addrs[0]),
        to_first_before,
        "nothing of the connection went to the first process"
    );
    assert!(relay.sent_to(pair.addrs[1]) > to_second_before);
    runtime.block_on(link.session.close());
    assert_eq!(
        pair.admin.store().reports(false).unwrap().len(),
        total,
        "each report stored once"
    );
    log(TEST, started, "done");
}

#[test]
fn a_process_killed_mid_connection_resets_its_devices_and_the_other_serves_them() {
    const TEST: &str = "killed_process";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut pair) = pair(tmp.path()) else {
        return;
    };
    let (cell, here) = cells_with_points(&pair.admin, 1).remove(0);
    admin::add_user(&pair.admin, "ann", Role::Warden, vec![cell]).unwrap();
    let relay = balancer(&pair, 0, 22);
    let ann = enrol(&pair, &relay, &tmp.path().join("ann"), "ann");
    ann.record_report(report_at("0101", here, "before"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);

    // The phone holds a connection open on the first process.
    let device = ann.status().unwrap().device_id.unwrap();
    let token = ann.device_token_for_tests().unwrap();
    let raw = Raw::hello(
        relay.addr(),
        pair.admin.identity.fingerprint(),
        device,
        token,
    );

    // The process dies; the balancer's health check takes it out of the
    // table and sends new connections to the survivor.
    pair.processes[0].kill();
    relay.forget_server_id(IDS[0]);
    relay.set_server(pair.addrs[1]);
    log(TEST, started, "first process killed");

    // The phone's next packet names the dead process; the balancer sends it
    // to the survivor, which recognises the deployment's id and answers
    // with a stateless reset: the phone knows at once, not after its idle
    // timeout, that the connection is gone.
    let answer = raw.exchange(b"");
    assert!(answer.is_err(), "{answer:?}");
    let reason = raw.conn.close_reason().expect("the connection is closed");
    log(
        TEST,
        started,
        format!("the open connection ended: {reason}"),
    );
    assert!(
        matches!(reason, quinn::ConnectionError::Reset),
        "closed by a stateless reset, not {reason:?}"
    );

    // The next sync opens a connection to the survivor and goes on.
    ann.record_report(report_at("0101", here, "after")).unwrap();
    let summary = ann.sync().unwrap();
    assert_eq!((summary.pushed, summary.rejected.len()), (1, 0));
    assert_eq!(pair.admin.store().reports(false).unwrap().len(), 2);
    log(TEST, started, "done");
}
