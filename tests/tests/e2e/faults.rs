//! Faults over real QUIC on loopback: a server killed mid-push, a client
//! process killed mid-sync, a connection cut mid-page, a device that changes
//! port mid-push, a push replayed byte for byte, and a lossy, slow link.
//! Each ends the same way: the server holds every acknowledged op exactly
//! once, and every device holds exactly what the server says it may see.
//!
//! Three of these mostly wait: the lossy link (tens of seconds at 600 ms
//! round trip and 10% loss) and the two that wait out the client's 20 s idle
//! timeout. libtest starts tests in name order, so their names sort first.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gridwarden_client_core::transport::{self, Session};
use gridwarden_client_core::{Client, ClientError, Exchange, Location, SyncSummary};
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use gridwarden_e2e::raw::{hello_as, Raw};
use gridwarden_e2e::relay::{Direction, Relay};
use gridwarden_e2e::{bins, report_at, TestServer};
use gridwarden_protocol::frame::encode_frame;
use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::{
    ClientMessage, Hlc, Op, OpBody, Outcome, Push, ReportOp, ReportState, Role, ServerMessage,
};
use gridwarden_server::{admin, DataDir, Limits};
use uuid::Uuid;

/// Every device in this file gives up on a handshake after this long.
const CONNECT: Duration = Duration::from_secs(2);
/// Most ops the client puts in one push.
const PUSH_BATCH: u64 = gridwarden_client_core::sync::engine::MAX_PUSH_OPS as u64;
/// A point inside a cell of the bundled sample layer.
const IN_CELL: Location = Location {
    lon: 111.6874,
    lat: 40.84945,
    accuracy_m: Some(5.0),
};

fn log(test: &str, started: Instant, what: impl std::fmt::Display) {
    eprintln!(
        "[faults::{test} +{:.1}s] {what}",
        started.elapsed().as_secs_f64()
    );
}

/// Records `n` reports in one go; returns their ids in recording order.
fn record_many(client: &Client, n: usize, tag: &str) -> Vec<Uuid> {
    (0..n)
        .map(|i| {
            client
                .record_report(report_at("0101", IN_CELL, &format!("{tag} {i}")))
                .unwrap()
        })
        .collect()
}

/// The server holds exactly `expected`, each once; every device holds exactly
/// the same reports with the same content and has nothing left to send.
fn assert_converged(server: &DataDir, expected: &[Uuid], devices: &[&Client]) {
    let stored = server.store().reports(false).unwrap();
    let expected: HashSet<Uuid> = expected.iter().copied().collect();
    let by_id: HashMap<Uuid, &ReportState> = stored.iter().map(|r| (r.id, r)).collect();
    assert_eq!(by_id.len(), stored.len(), "a report id twice on the server");
    assert_eq!(
        by_id.keys().copied().collect::<HashSet<_>>(),
        expected,
        "the server holds exactly the acknowledged reports"
    );
    for device in devices {
        assert_eq!(device.outbox_len().unwrap(), 0, "outbox empty");
        let seen = device.list_reports().unwrap();
        let ids: HashSet<Uuid> = seen.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), seen.len(), "a report id twice on a device");
        assert_eq!(ids, expected, "the device holds what the server holds");
        for view in &seen {
            let server_side = by_id[&view.id];
            assert_eq!(
                (
                    Some(view.note.as_str()),
                    Some(view.category.as_str()),
                    view.grid_cell.as_deref()
                ),
                (
                    server_side.note(),
                    server_side.category(),
                    server_side.grid_cell()
                ),
                "report {} differs",
                view.id
            );
        }
    }
}

/// Polls `cond` every few milliseconds; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_server_killed_mid_push_and_restarted_ends_with_every_report_exactly_once() {
    const TEST: &str = "server_killed";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_udp_port();
    let addr = format!("127.0.0.1:{port}");
    // The admin's view of the data directory, as a second process would have.
    let admin = DataDir::open(&data, Limits::default()).unwrap();
    let mut server = ServerProcess::start(&data, port);
    log(TEST, started, "server process up");
    admin::add_user(&admin, "ann", Role::Warden, vec![]).unwrap();
    let code = admin::enrol_device(&admin, "ann", Some(&addr))
        .unwrap()
        .code;
    let ann = Client::open(tmp.path().join("ann"))
        .unwrap()
        .with_connect_timeout(CONNECT);
    ann.enroll(&code, "e2e phone").unwrap();

    let total = 10_000;
    let ids = record_many(&ann, total, "ann");
    log(TEST, started, format!("recorded {total}"));

    let store = admin.store().clone();
    let first_sync = std::thread::scope(|s| {
        let sync = s.spawn(|| ann.sync());
        // Kill once a quarter has landed: the push is well under way and far
        // from done (ops land in outbox order, one batch per transaction).
        wait_until(Duration::from_secs(120), "a quarter landed", || {
            assert!(!sync.is_finished(), "the sync ended before the kill");
            store.report(ids[total / 4]).unwrap().is_some()
        });
        assert!(
            store.report(ids[total - 1]).unwrap().is_none(),
            "the last report landed before the kill"
        );
        server.kill();
        log(TEST, started, "server killed");
        // Restarted at once, as a service manager does. The new process
        // derives the same stateless-reset key from the persisted private
        // key, so the phone learns its connection is gone right away instead
        // of waiting out its idle timeout.
        server = ServerProcess::start(&data, port);
        log(TEST, started, "server restarted");
        sync.join().unwrap()
    });
    let err = first_sync.expect_err("the server died mid-push");
    assert!(err.is_offline(), "{err:?}");
    log(TEST, started, format!("first sync failed: {err}"));

    let landed = store.reports(false).unwrap().len() as u64;
    let queued = ann.outbox_len().unwrap();
    let acked = total as u64 - queued;
    log(
        TEST,
        started,
        format!("landed {landed}, acknowledged {acked}, still queued {queued}"),
    );
    assert!(landed > 0 && landed < total as u64, "{landed}");
    // Everything acknowledged is on the server; at most the batches in
    // flight landed without their acks reaching the device.
    let window = gridwarden_client_core::sync::engine::PUSH_WINDOW as u64;
    assert!(
        landed >= acked && landed - acked <= window * PUSH_BATCH,
        "{landed} {acked}"
    );

    let second = ann.sync().unwrap();
    log(TEST, started, format!("second sync: {second:?}"));
    assert_eq!(second.pushed, total as u64 - landed);
    assert_eq!(second.pushed + second.duplicates, queued);
    assert_eq!(second.duplicates, landed - acked);
    assert!(second.rejected.is_empty());
    assert_eq!(second.pending, 0);
    assert_converged(&admin, &ids, &[&ann]);
    log(TEST, started, "done");
}

#[test]
fn the_cli_killed_mid_sync_sends_the_rest_on_its_next_run() {
    const TEST: &str = "client_killed";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let home = tmp.path().join("ann");
    let total = 5_000;
    let ids = {
        let ann = server.enrol(&home, "ann");
        record_many(&ann, total, "ann")
    };
    log(TEST, started, format!("recorded {total}"));

    let admin = server.admin();
    let store = admin.store().clone();
    let mut child = Command::new(bins::path("gridwarden"))
        .arg("sync")
        .arg("--home")
        .arg(&home)
        .env("GRIDWARDEN_CONNECT_TIMEOUT", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(120), "a quarter landed", || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before the kill"
        );
        store.report(ids[total / 4]).unwrap().is_some()
    });
    child.kill().unwrap();
    let status = child.wait().unwrap();
    log(TEST, started, format!("client killed: {status}"));
    assert!(!status.success());

    // The server may still commit a push it had fully received: wait until
    // its count holds still.
    let mut landed = store.reports(false).unwrap().len() as u64;
    let mut still_since = Instant::now();
    while still_since.elapsed() < Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(100));
        let now = store.reports(false).unwrap().len() as u64;
        if now != landed {
            (landed, still_since) = (now, Instant::now());
        }
    }
    assert!(landed > 0 && landed < total as u64, "{landed}");
    let queued = Client::open(&home).unwrap().outbox_len().unwrap();
    let acked = total as u64 - queued;
    log(
        TEST,
        started,
        format!("landed {landed}, acknowledged {acked}, still queued {queued}"),
    );
    // At most the pushes in flight landed unacknowledged.
    let window = gridwarden_client_core::sync::engine::PUSH_WINDOW as u64;
    assert!(
        landed >= acked && landed - acked <= window * PUSH_BATCH,
        "{landed} {acked}"
    );

    let out = Command::new(bins::path("gridwarden"))
        .args(["sync", "--json", "--home"])
        .arg(&home)
        .env("GRIDWARDEN_CONNECT_TIMEOUT", "2")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    log(TEST, started, format!("second run: {summary}"));
    let pushed = summary["pushed"].as_u64().unwrap();
    let duplicates = summary["duplicates"].as_u64().unwrap();
    assert_eq!(pushed, total as u64 - landed);
    assert_eq!(pushed + duplicates, queued);
    assert_eq!(summary["pending"], 0);
    assert_eq!(summary["rejected"], serde_json::json!([]));
    let ann = Client::open(&home).unwrap();
    assert_converged(&admin, &ids, &[&ann]);
    log(TEST, started, "done");
}

/// Enrols a device whose code names the relay instead of the server.
fn enrol_via(server: &TestServer, relay: &Relay, home: &Path, user: &str) -> Client {
    let code = server.enrolment_code(user);
    let code = code
        .strip_suffix(&server.addr.to_string())
        .map(|rest| format!("{rest}{}", relay.addr()))
        .expect("an enrolment code ends with the server address");
    let client = Client::open(home).unwrap().with_connect_timeout(CONNECT);
    client.enroll(&code, "phone behind a relay").unwrap();
    client
}

#[test]
fn a_pull_cut_mid_page_resumes_without_repeating_a_record() {
    const TEST: &str = "cut_mid_pull";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    server.add_user("sam", Role::Supervisor, &[]);
    server.add_user("tom", Role::Supervisor, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let total = 5_000;
    let ids = record_many(&ann, total, "ann");
    assert_eq!(ann.sync().unwrap().pushed, total as u64);
    log(TEST, started, format!("{total} recorded and pushed"));

    // How many bytes a page takes: pages are packed (protocol 4, ADR 0032),
    // so that depends on what they hold. Another supervisor's phone pulls
    // all five pages of 1,000 through a relay of its own.
    let probe_relay = Relay::start(server.addr, 4);
    let tom = enrol_via(&server, &probe_relay, &tmp.path().join("tom"), "tom");
    let before = probe_relay.stats(Direction::ToClient).forwarded_bytes;
    assert_eq!(tom.sync().unwrap().pulled, total as u64);
    let page = (probe_relay.stats(Direction::ToClient).forwarded_bytes - before) / 5;
    drop(tom);
    log(
        TEST,
        started,
        format!("a page takes about {page} bytes down"),
    );

    let relay = Relay::start(server.addr, 3);
    let sam = enrol_via(&server, &relay, &tmp.path().join("sam"), "sam");
    let enrolled = relay.stats(Direction::ToClient).forwarded_bytes;
    // Cutting after a page and a half of the pull lands in the middle of
    // the second page.
    let cut_at = enrolled + page * 3 / 2;
    relay.cut_when_forwarded(Direction::ToClient, cut_at);
    let err = sam.sync().expect_err("the relay cut the connection");
    assert!(err.is_offline(), "{err:?}");
    assert!(relay.is_cut());
    let stored = sam.list_reports().unwrap().len() as u64;
    let down = relay.stats(Direction::ToClient);
    log(
        TEST,
        started,
        format!(
            "first sync failed after {} bytes down ({} datagrams, {} dropped after the cut): {err}; \
             {stored} reports stored",
            down.forwarded_bytes - enrolled,
            down.forwarded_datagrams,
            down.dropped_datagrams
        ),
    );
    assert!(
        stored > 0 && stored < total as u64,
        "the cut fell inside the pull: {stored} stored"
    );
    assert_eq!(stored % 1000, 0, "only whole pages are stored");

    relay.set_cut(false);
    let second = sam.sync().unwrap();
    log(TEST, started, format!("second sync: {second:?}"));
    assert_eq!(
        stored + second.pulled,
        total as u64,
        "no record pulled twice, none missed"
    );
    assert_converged(&server.admin(), &ids, &[&ann, &sam]);
    let again = sam.sync().unwrap();
    assert_eq!(again.pulled, 0);
    log(TEST, started, "done");
}

/// A QUIC session that moves to a new local UDP socket after the first
/// push is acknowledged, as a phone switching networks does.
struct Migrating {
    session: Session,
    acks: u32,
    moved: Option<(SocketAddr, SocketAddr)>,
}

impl Exchange for Migrating {
    async fn exchange(
        &mut self,
        message: &ClientMessage,
    ) -> gridwarden_client_core::Result<ServerMessage> {
        let answer = self.session.request(message).await?;
        if matches!(answer, ServerMessage::Ack(_)) {
            self.acks += 1;
            if self.acks == 1 {
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
fn the_device_changing_port_mid_push_finishes_on_the_same_connection() {
    const TEST: &str = "rebind_mid_push";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let total = 3_000;
    let ids = record_many(&ann, total, "ann");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (summary, link) = runtime.block_on(async {
        let session = transport::connect(&server.addr.to_string(), server.fingerprint, CONNECT)
            .await
            .unwrap();
        let mut link = Migrating {
            session,
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
    assert_eq!(link.session.local_addr().unwrap(), to);
    let batches = (total as u64).div_ceil(PUSH_BATCH) as u32;
    assert_eq!(
        link.acks, batches,
        "every batch after the move was acked too"
    );
    // One session, one connection: had it broken, the sync would have failed.
    assert_eq!(
        (summary.pushed, summary.duplicates, summary.pending),
        (total as u64, 0, 0)
    );
    assert_eq!(summary.pulled, total as u64, "her own reports come back");
    runtime.block_on(link.session.close());
    assert_converged(&server.admin(), &ids, &[&ann]);
    log(TEST, started, "done");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn outcomes(answer: Result<ServerMessage, String>) -> Vec<(Uuid, Outcome)> {
    match answer {
        Ok(ServerMessage::Ack(ack)) => ack
            .results
            .into_iter()
            .map(|r| (r.op_id, r.outcome))
            .collect(),
        other => panic!("expected an ack, got {other:?}"),
    }
}

#[test]
fn a_push_replayed_byte_for_byte_changes_nothing() {
    const TEST: &str = "replayed_push";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let home = tmp.path().join("ann");
    let (raw, device) = hello_as(&server, "ann", &home);
    let wall = now_ms();
    let ops: Vec<Op> = (0..50u32)
        .map(|i| Op {
            op_id: Uuid::now_v7(),
            hlc: Hlc::new(wall, i, node_id(device)),
            body: OpBody::Report {
                report_id: Uuid::now_v7(),
                op: ReportOp::Create(report_at("0101", IN_CELL, &format!("raw {i}"))),
            },
        })
        .collect();
    let op_ids: Vec<Uuid> = ops.iter().map(|o| o.op_id).collect();
    let bytes = encode_frame(&ClientMessage::Push(Push { ops: ops.clone() }));

    let first = outcomes(raw.exchange(&bytes));
    assert_eq!(first.iter().map(|r| r.0).collect::<Vec<_>>(), op_ids);
    assert!(first.iter().all(|r| r.1 == Outcome::Applied), "{first:?}");
    let before = server.admin().store().reports(false).unwrap();
    assert_eq!(before.len(), ops.len());

    let second = outcomes(raw.exchange(&bytes));
    assert_eq!(second.iter().map(|r| r.0).collect::<Vec<_>>(), op_ids);
    assert!(
        second.iter().all(|r| r.1 == Outcome::Duplicate),
        "{second:?}"
    );
    // And once more on a fresh connection, after a new hello.
    drop(raw);
    let ann = Client::open(&home).unwrap().with_connect_timeout(CONNECT);
    let token = ann.device_token_for_tests().unwrap();
    let fresh = Raw::hello(server.addr, server.fingerprint, device, token);
    let third = outcomes(fresh.exchange(&bytes));
    assert!(third.iter().all(|r| r.1 == Outcome::Duplicate), "{third:?}");
    assert_eq!(
        server.admin().store().reports(false).unwrap(),
        before,
        "the replays changed nothing"
    );

    // The device itself pulls them once.
    let pulled = ann.sync().unwrap();
    assert_eq!((pulled.pushed, pulled.pulled), (0, ops.len() as u64));
    let report_ids: Vec<Uuid> = before.iter().map(|r| r.id).collect();
    assert_converged(&server.admin(), &report_ids, &[&ann]);
    log(TEST, started, "done");
}

/// How a sync that needed retries ended.
struct Retried {
    /// The summary of the attempt that completed.
    summary: SyncSummary,
    attempts: u32,
    /// Before that attempt: the device's outbox and stored reports, and the
    /// server's report count.
    queued_before: u64,
    stored_before: u64,
    landed_before: u64,
}

/// Syncs until one attempt completes, retrying only "offline" failures, at
/// most `max` times.
fn sync_with_retries(
    client: &Client,
    server: &DataDir,
    max: u32,
    test: &str,
    started: Instant,
) -> Retried {
    let mut errors: Vec<ClientError> = Vec::new();
    for attempt in 1..=max {
        let queued_before = client.outbox_len().unwrap();
        let stored_before = client.list_reports().unwrap().len() as u64;
        let landed_before = server.store().reports(false).unwrap().len() as u64;
        let t = Instant::now();
        match client.sync() {
            Ok(summary) => {
                log(
                    test,
                    started,
                    format!(
                        "attempt {attempt} completed in {:.1}s: {summary:?}",
                        t.elapsed().as_secs_f64()
                    ),
                );
                return Retried {
                    summary,
                    attempts: attempt,
                    queued_before,
                    stored_before,
                    landed_before,
                };
            }
            Err(e) if e.is_offline() => {
                log(
                    test,
                    started,
                    format!(
                        "attempt {attempt} failed after {:.1}s: {e}",
                        t.elapsed().as_secs_f64()
                    ),
                );
                errors.push(e);
            }
            Err(e) => panic!("attempt {attempt} failed for good: {e:?}"),
        }
    }
    panic!("no sync completed in {max} attempts: {errors:#?}");
}

#[test]
fn a_lossy_slow_link_carries_a_thousand_reports_each_exactly_once() {
    const TEST: &str = "lossy_link";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    server.add_user("sam", Role::Supervisor, &[]);
    let relay = Relay::start(server.addr, 0x6a11_d3a7);
    let ann = enrol_via(&server, &relay, &tmp.path().join("ann"), "ann");
    let sam = enrol_via(&server, &relay, &tmp.path().join("sam"), "sam");
    let total = 1_000;
    let ids = record_many(&ann, total, "ann");

    relay.set_loss(0.10);
    relay.set_delay(Duration::from_millis(300));
    let before = (
        relay.stats(Direction::ToServer),
        relay.stats(Direction::ToClient),
    );
    let admin = server.admin();
    let (push, pull) = std::thread::scope(|s| {
        let push = s.spawn(|| sync_with_retries(&ann, &admin, 5, TEST, started));
        // The supervisor starts as soon as the server holds all of ann's
        // reports, while ann still pulls her own back (a third of a sync's
        // bytes): the two connections share the lossy link.
        let store = admin.store().clone();
        wait_until(Duration::from_secs(300), "ann's push landed", || {
            // Ops land in outbox order: the last one lands last.
            push.is_finished() || store.report(ids[total - 1]).unwrap().is_some()
        });
        log(TEST, started, "every report on the server; sam starts");
        let pull = sync_with_retries(&sam, &admin, 5, TEST, started);
        (push.join().unwrap(), pull)
    });
    let (up, down) = (
        relay.stats(Direction::ToServer),
        relay.stats(Direction::ToClient),
    );
    log(
        TEST,
        started,
        format!(
            "attempts: ann {}, sam {}; up {} datagrams ({} dropped), {} bytes; \
             down {} datagrams ({} dropped), {} bytes",
            push.attempts,
            pull.attempts,
            up.seen_datagrams - before.0.seen_datagrams,
            up.dropped_datagrams - before.0.dropped_datagrams,
            up.seen_bytes - before.0.seen_bytes,
            down.seen_datagrams - before.1.seen_datagrams,
            down.dropped_datagrams - before.1.dropped_datagrams,
            down.seen_bytes - before.1.seen_bytes,
        ),
    );
    assert!(
        up.dropped_datagrams > before.0.dropped_datagrams
            && down.dropped_datagrams > before.1.dropped_datagrams,
        "the link really lost datagrams"
    );
    relay.set_loss(0.0);
    relay.set_delay(Duration::ZERO);

    // Each op applied once: what a failed attempt landed comes back as
    // duplicates, the rest as pushed.
    let total = total as u64;
    let s = &push.summary;
    assert_eq!(push.landed_before + s.pushed, total);
    assert_eq!(s.pushed + s.duplicates, push.queued_before);
    assert_eq!((s.pending, s.rejected.len()), (0, 0));
    // Each record pulled once: pages a failed attempt stored are not sent again.
    assert_eq!(pull.stored_before + pull.summary.pulled, total);
    assert_eq!(
        admin.store().reports(false).unwrap().len() as u64,
        total,
        "nothing lost, nothing duplicated"
    );
    // Clean syncs afterwards change nothing and find nothing new.
    for device in [&ann, &sam] {
        let clean = device.sync().unwrap();
        assert_eq!((clean.pushed, clean.duplicates, clean.pulled), (0, 0, 0));
    }
    assert_converged(&server.admin(), &ids, &[&ann, &sam]);
    log(TEST, started, "done");
}
