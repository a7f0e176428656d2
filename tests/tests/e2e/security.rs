//! Security over real QUIC: revocation cuts off open connections at once,
//! disabled users are refused, a flood or garbage from one device does not
//! stop the others, a herd of handshakes is let in a bounded number at a
//! time, and a device refuses a server whose certificate changed.

use std::process::Command;
use std::time::{Duration, Instant};

use gridwarden_client_core::ClientError;
use gridwarden_e2e::raw::{hello_as, Raw};
use gridwarden_e2e::{bins, report_at, TestServer};
use gridwarden_protocol::enrolment::hex;
use gridwarden_protocol::{ClientMessage, ErrorCode, Pull, Push, Role, ServerMessage};
use gridwarden_server::config::{Config, ConnectionsSection, RateSection};

/// Waits until the server closes `raw`'s connection; returns the reason.
fn closed_reason(raw: &Raw, within: Duration) -> String {
    let closed = raw
        .runtime
        .block_on(async { tokio::time::timeout(within, raw.conn.closed()).await })
        .expect("the server did not close the connection in time");
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            String::from_utf8_lossy(&close.reason).into_owned()
        }
        other => panic!("closed for another reason: {other}"),
    }
}

fn refused(err: ClientError) -> (ErrorCode, String) {
    match err {
        ClientError::Refused { code, message } => (code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_device_revoked_from_the_command_line_is_cut_off_mid_connection_and_refused_after() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("bo", Role::Warden, &[&cell]);
    // The admin binary first: building it (on a changed tree, under load)
    // can outlast the idle timeout of the raw connection below, which is
    // driven only while this test waits on it.
    let admin_binary = bins::path("gridwarden-server");
    let (raw, device) = hello_as(&server, "ann", &tmp.path().join("ann"));
    let ann = gridwarden_client_core::Client::open(tmp.path().join("ann")).unwrap();
    let bo = server.enrol(&tmp.path().join("bo"), "bo");
    ann.record_report(report_at("0101", here, "before"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);

    // IT revokes the phone with the real command, a separate process, while
    // the device holds a connection open.
    let started = Instant::now();
    let out = Command::new(admin_binary)
        .args(["--data", server.data_dir.to_str().unwrap()])
        .args(["devices", "revoke", &device.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("revoked"), "{said}");

    let reason = closed_reason(&raw, Duration::from_secs(10));
    assert!(reason.contains("revoked by IT"), "{reason}");
    eprintln!(
        "cut off {:?} after the revoke command started",
        started.elapsed()
    );

    // Its next sync is refused with a sentence to act on, and what it
    // records meanwhile stays on the phone.
    ann.record_report(report_at("0101", here, "after")).unwrap();
    let (code, message) = refused(ann.sync().unwrap_err());
    assert_eq!(code, ErrorCode::Unauthenticated);
    assert!(message.contains("revoked by IT"), "{message}");
    let stored = server.admin().store().reports(false).unwrap();
    assert_eq!(stored.len(), 1, "nothing from the revoked device landed");

    // Others go on; the revocation is in the audit log with who did it.
    bo.record_report(report_at("0101", here, "bo still syncs"))
        .unwrap();
    assert_eq!(bo.sync().unwrap().pushed, 1);
    let log = server.admin().store().audit_log(None).unwrap();
    let revoke = log
        .iter()
        .find(|e| e.record.action == "device.revoke")
        .expect("the revocation is audited");
    assert_eq!(revoke.record.subject, device.to_string());
    assert!(
        revoke.record.actor.starts_with("cli:"),
        "{:?}",
        revoke.record
    );
    assert!(revoke.record.detail.contains("ann"), "{:?}", revoke.record);
}

#[test]
fn a_disabled_user_is_cut_off_everywhere_and_can_be_enabled_again() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Liaison, &[]);
    let (phone, _) = hello_as(&server, "ann", &tmp.path().join("phone"));
    let (tablet, _) = hello_as(&server, "ann", &tmp.path().join("tablet"));
    let ann = gridwarden_client_core::Client::open(tmp.path().join("phone")).unwrap();

    gridwarden_server::admin::set_user_disabled(&server.admin(), "ann", true).unwrap();
    for raw in [&phone, &tablet] {
        let reason = closed_reason(raw, Duration::from_secs(10));
        assert!(reason.contains("disabled"), "{reason}");
    }
    let (code, message) = refused(ann.sync().unwrap_err());
    assert_eq!(code, ErrorCode::Unauthenticated);
    assert!(message.contains("`ann` is disabled"), "{message}");

    gridwarden_server::admin::set_user_disabled(&server.admin(), "ann", false).unwrap();
    ann.sync().unwrap();
    let actions: Vec<_> = server
        .admin()
        .store()
        .audit_log(None)
        .unwrap()
        .into_iter()
        .map(|e| e.record.action)
        .collect();
    // The refused sync while disabled is audited as a security event.
    assert!(
        actions.ends_with(&[
            "user.disable".to_string(),
            "security.refused".to_string(),
            "user.enable".to_string()
        ]),
        "{actions:?}"
    );
}

/// Garbage on one connection, a request flood and a connection flood from
/// another device: both are held back, and a third device syncs as usual.
#[test]
fn garbage_and_a_flood_from_one_device_do_not_stop_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        rate: RateSection {
            requests_per_second: 20,
            request_burst: 50,
            connections_per_minute: 6,
            // Enrolment, `flood`, one more, one refused for being a third.
            connection_burst: 4,
            ..RateSection::default()
        },
        connections: ConnectionsSection {
            max_per_device: 2,
            ..ConnectionsSection::default()
        },
        ..Config::default()
    };
    let server = TestServer::start_configured(&tmp.path().join("server"), &config);
    let [(cell, here), _] = server.two_cells();
    for user in ["mallory", "trudy", "ann"] {
        server.add_user(user, Role::Warden, &[&cell]);
    }
    let (garbage, _) = hello_as(&server, "mallory", &tmp.path().join("mallory"));
    let (flood, trudy) = hello_as(&server, "trudy", &tmp.path().join("trudy"));
    let trudy_token = gridwarden_client_core::Client::open(tmp.path().join("trudy"))
        .unwrap()
        .device_token_for_tests()
        .unwrap();
    let ann = server.enrol(&tmp.path().join("ann"), "ann");

    // 10,000 garbage frames, 64 streams at a time.
    let garbage_answers = garbage.runtime.block_on(async {
        let mut codes = std::collections::BTreeMap::<String, usize>::new();
        for batch in 0..(10_000 / 64 + 1) {
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..64usize {
                let n = batch * 64 + i;
                if n >= 10_000 {
                    break;
                }
                let conn = garbage.conn.clone();
                tasks.spawn(async move {
                    let (mut send, mut recv) = conn.open_bi().await.ok()?;
                    let junk: Vec<u8> = (0..(n % 97) + 1).map(|b| (b * 31 + n) as u8).collect();
                    let _ = send.write_all(&junk).await;
                    let _ = send.finish();
                    let answer = recv.read_to_end(1 << 16).await.ok()?;
                    let mut dec = gridwarden_protocol::frame::FrameDecoder::new(1 << 16);
                    dec.extend(&answer).ok()?;
                    match dec.next_message::<ServerMessage>().ok()?? {
                        ServerMessage::Error(e) => Some(format!("{:?}", e.code)),
                        other => Some(format!("unexpected {other:?}")),
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                let key = done.unwrap().unwrap_or_else(|| "no answer".into());
                *codes.entry(key).or_default() += 1;
            }
        }
        codes
    });
    eprintln!("answers to 10,000 garbage frames: {garbage_answers:?}");
    assert!(
        garbage_answers
            .keys()
            .all(|k| k == "BadFrame" || k == "FrameTooLarge" || k == "RateLimited"),
        "{garbage_answers:?}"
    );
    assert!(
        garbage_answers.get("RateLimited").copied().unwrap_or(0) > 5_000,
        "{garbage_answers:?}"
    );

    // A request flood from another device is held back with a reason.
    let mut limited = None;
    for _ in 0..200 {
        match flood.request(&ClientMessage::Pull(Pull {
            cursor: Default::default(),
            max_records: 10,
            max_bytes: 1 << 16,
        })) {
            Ok(ServerMessage::Error(e)) if e.code == ErrorCode::RateLimited => {
                limited = Some(e.message);
                break;
            }
            Ok(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let why = limited.expect("the flood was never held back");
    assert!(
        why.contains("requests a second") && why.contains("wait"),
        "{why}"
    );

    // So is a connection flood: a third connection of one device is refused
    // while two are open, then its connection rate runs out.
    let mut closed = Vec::new();
    let mut kept = Vec::new();
    for _ in 0..6 {
        let raw = Raw::connect(server.addr, server.fingerprint);
        let answer = raw.request(&ClientMessage::Hello(gridwarden_protocol::Hello {
            protocol_version: gridwarden_protocol::PROTOCOL_VERSION,
            device_id: trudy,
            token: trudy_token.clone(),
            client: "flood".into(),
        }));
        match answer {
            Ok(ServerMessage::Welcome(_)) => kept.push(raw),
            Ok(ServerMessage::Error(e)) => closed.push(format!("{:?}: {}", e.code, e.message)),
            other => panic!("{other:?}"),
        }
    }
    eprintln!("connection flood: {} kept, refused: {closed:?}", kept.len());
    assert_eq!(kept.len(), 1, "with `flood`, two connections are the most");
    assert!(
        closed
            .iter()
            .any(|r| r.contains("RateLimited") && r.contains("2 connections open")),
        "{closed:?}"
    );
    assert!(
        closed
            .iter()
            .any(|r| r.contains("RateLimited") && r.contains("connections a minute")),
        "{closed:?}"
    );

    // Meanwhile an honest device syncs as usual.
    for i in 0..20 {
        ann.record_report(report_at("0101", here, &format!("honest {i}")))
            .unwrap();
    }
    let summary = ann.sync().unwrap();
    assert_eq!(summary.pushed, 20);
    assert_eq!(server.admin().store().reports(false).unwrap().len(), 20);
    // And a push from the flooding device that passed changed nothing it
    // should not have: nothing was pushed at all.
    assert!(matches!(
        flood.request(&ClientMessage::Push(Push { ops: vec![] })),
        Ok(ServerMessage::Ack(_)) | Ok(ServerMessage::Error(_))
    ));
}

#[test]
fn a_herd_past_the_handshake_bound_waits_its_turn_and_one_that_waits_too_long_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        connections: ConnectionsSection {
            max_handshaking: 1,
            handshake_queue_s: 1,
            hello_timeout_s: 4,
            ..ConnectionsSection::default()
        },
        ..Config::default()
    };
    let server = TestServer::start_configured(&tmp.path().join("server"), &config);
    let [(cell, here), _] = server.two_cells();
    let names = ["ann", "bo", "cy", "di", "ed", "flo"];
    let phones: Vec<_> = names
        .iter()
        .map(|name| {
            server.add_user(name, Role::Warden, &[&cell]);
            let phone = server.enrol(&tmp.path().join(name), name);
            phone
                .record_report(report_at("0101", here, &format!("{name}'s report")))
                .unwrap();
            phone
        })
        .collect();

    // Six phones sync at the same moment through one handshake at a time:
    // each waits its turn, none is refused.
    let pushed: Vec<u64> = std::thread::scope(|s| {
        let syncs: Vec<_> = phones.iter().map(|p| s.spawn(|| p.sync())).collect();
        syncs
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap()
                    .expect("a phone of the herd was refused")
                    .pushed
            })
            .collect()
    });
    assert_eq!(pushed, vec![1; names.len()]);

    // A connection that shook hands and never says Hello holds the only
    // turn: a phone that waits a second for it is refused, and changes
    // nothing...
    let silent = Raw::connect(server.addr, server.fingerprint);
    phones[0]
        .record_report(report_at("0101", here, "while the turn is held"))
        .unwrap();
    let started = Instant::now();
    let err = phones[0]
        .sync()
        .expect_err("the turn is held by the silent one");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused after its wait, not left to time out: {err}"
    );
    assert_eq!(
        phones[0].outbox_len().unwrap(),
        1,
        "its report stays queued"
    );
    // ...until the Hello timeout closes the silent one; then it gets through.
    assert_eq!(closed_reason(&silent, Duration::from_secs(10)), "no hello");
    assert_eq!(phones[0].sync().unwrap().pushed, 1);
}

#[test]
fn an_enrolled_device_refuses_the_server_once_its_certificate_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    ann.record_report(report_at("0101", here, "pinned"))
        .unwrap();

    // Someone replaces the certificate (an impostor on the same address, or
    // a rotation done without a rollover window): the device will not talk.
    server.stop();
    for file in ["server-cert.der", "server-key.der"] {
        std::fs::remove_file(server.data_dir.join(file)).unwrap();
    }
    let server = TestServer::start_on(&server.data_dir.clone(), server.addr);
    let err = ann.sync().unwrap_err();
    assert!(
        matches!(err, ClientError::CertificateMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("do not sync"), "{err}");
    assert!(server.admin().store().reports(false).unwrap().is_empty());
    assert_eq!(ann.list_reports().unwrap().len(), 1, "kept on the phone");
}

#[test]
fn a_phone_that_keeps_its_connection_through_a_rollover_learns_the_next_certificate() {
    use gridwarden_client_core::{Client, LinkTiming};
    use gridwarden_server::admin::cert;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    let home = tmp.path().join("ann");
    drop(server.enrol(&home, "ann"));
    // Ann's app is open: its connection is kept between syncs.
    let ann = Client::open(&home)
        .unwrap()
        .with_kept_connection(LinkTiming::default());
    ann.sync().unwrap();
    let opened = server.connections_opened();

    // IT starts the rotation and reloads the server (SIGHUP, the runbook's
    // way: no restart). Ann's kept connection started before the
    // announcement, so it never carried the next certificate: the server
    // closes it, and Ann's next sync connects again and learns it.
    let next = cert::rotate(&server.admin()).unwrap();
    server.reload_certificates();
    ann.record_report(report_at("0101", here, "during the window"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);
    assert_eq!(server.connections_opened(), opened + 1, "a new handshake");
    let status = cert::status(&server.admin()).unwrap();
    assert_eq!(status.devices_ready, 1);
    assert!(status.devices_not_ready.is_empty());

    // A reload that announces nothing new leaves kept connections alone.
    server.reload_certificates();
    ann.sync().unwrap();
    assert_eq!(server.connections_opened(), opened + 1);

    // The switch; Ann's phone is restarted later: a new connection, to the
    // next certificate, which it learnt.
    assert_eq!(cert::activate(&server.admin()).unwrap(), next);
    server.restart();
    drop(ann);
    let ann = Client::open(&home).unwrap();
    ann.record_report(report_at("0101", here, "after the switch"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);
    assert_eq!(ann.status().unwrap().fingerprint.unwrap(), next, "promoted");
}

#[test]
fn a_certificate_rotation_carries_the_devices_that_connected_during_the_rollover() {
    use gridwarden_server::admin::cert;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    for user in ["ann", "bo", "cy"] {
        server.add_user(user, Role::Warden, &[&cell]);
    }
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let bo = server.enrol(&tmp.path().join("bo"), "bo");
    let old = ann.status().unwrap().fingerprint.unwrap();

    // IT starts the rotation and restarts the server: it now announces the
    // next certificate. Ann syncs during the window, Bo's phone stays off,
    // Cy enrols during the window with a code carrying the old fingerprint.
    let next = cert::rotate(&server.admin()).unwrap();
    server.restart();
    let status = cert::status(&server.admin()).unwrap();
    assert_eq!(status.next_fingerprint.as_deref(), Some(next.as_str()));
    assert!(status.announced_ms.is_some());
    ann.record_report(report_at("0101", here, "during the window"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);
    let cy = server.enrol(&tmp.path().join("cy"), "cy");
    let status = cert::status(&server.admin()).unwrap();
    assert_eq!(status.devices_ready, 2, "ann and cy");
    assert_eq!(status.devices_not_ready.len(), 1);
    assert_eq!(status.devices_not_ready[0].user, "bo");

    // The switch: the server now serves the next certificate.
    assert_eq!(cert::activate(&server.admin()).unwrap(), next);
    server.restart();
    assert_eq!(hex(&server.fingerprint), next);
    for (device, note) in [(&ann, "after the switch"), (&cy, "cy after the switch")] {
        device.record_report(report_at("0101", here, note)).unwrap();
        assert_eq!(device.sync().unwrap().pushed, 1, "{note}");
        assert_eq!(
            device.status().unwrap().fingerprint.unwrap(),
            next,
            "promoted"
        );
    }
    // A device that missed the window refuses the new certificate: it needs
    // a new code, and keeps what it recorded.
    bo.record_report(report_at("0101", here, "bo was away"))
        .unwrap();
    let err = bo.sync().unwrap_err();
    assert!(
        matches!(err, ClientError::CertificateMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(bo.status().unwrap().fingerprint.unwrap(), old);

    let actions: Vec<_> = server
        .admin()
        .store()
        .audit_log(None)
        .unwrap()
        .into_iter()
        .map(|e| e.record.action)
        .filter(|a| a.starts_with("cert."))
        .collect();
    assert_eq!(actions, ["cert.rotate", "cert.activate"]);
    assert!(
        cert::activate(&server.admin()).is_err(),
        "nothing left to activate"
    );
}

#[test]
fn a_district_supervisor_sees_and_runs_only_their_district() {
    use gridwarden_client_core::case::CaseOp;
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell_a, in_a), (cell_b, in_b)] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell_a]);
    server.add_user("bo", Role::Warden, &[&cell_b]);
    server.add_user("sue", Role::Supervisor, &[&cell_a]);
    server.add_user("sam", Role::Supervisor, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let bo = server.enrol(&tmp.path().join("bo"), "bo");
    let sue = server.enrol(&tmp.path().join("sue"), "sue");
    let sam = server.enrol(&tmp.path().join("sam"), "sam");
    let in_district = ann.record_report(report_at("0101", in_a, "in A")).unwrap();
    let elsewhere = bo.record_report(report_at("0101", in_b, "in B")).unwrap();
    ann.sync().unwrap();
    bo.sync().unwrap();

    sue.sync().unwrap();
    let seen: Vec<_> = sue
        .list_reports()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(seen, [in_district], "the district's reports only");
    sam.sync().unwrap();
    assert_eq!(
        sam.list_reports().unwrap().len(),
        2,
        "a city supervisor sees all"
    );

    // Sue registers her district's case; a step on another district's case
    // (she cannot even hold it, so it is sent by hand) is refused.
    sue.case_step(
        in_district,
        CaseOp::Register {
            note: String::new(),
        },
    )
    .unwrap();
    assert!(sue.sync().unwrap().rejected.is_empty());
    let (raw, device) = gridwarden_e2e::raw::hello_as(&server, "sue", &tmp.path().join("sue-raw"));
    let op = gridwarden_protocol::Op {
        op_id: uuid::Uuid::now_v7(),
        hlc: gridwarden_protocol::Hlc::new(
            gridwarden_protocol::clock::Clock::now_ms(&gridwarden_protocol::clock::SystemClock),
            0,
            gridwarden_protocol::hlc::node_id(device),
        ),
        body: gridwarden_protocol::OpBody::Case {
            report_id: elsewhere,
            op: CaseOp::Register {
                note: String::new(),
            },
        },
    };
    match raw.request(&ClientMessage::Push(Push { ops: vec![op] })) {
        Ok(ServerMessage::Ack(ack)) => match &ack.results[0].outcome {
            gridwarden_protocol::Outcome::Rejected { code, reason } => {
                assert_eq!(*code, ErrorCode::Forbidden);
                assert!(reason.contains("outside your district"), "{reason}");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let cases = server.admin().store().cases().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].report_id, in_district);
}
