//! Protocol versions across the window (docs/protocol.md, "Versions"): a
//! phone still on protocol 2 — gridwarden 0.1.0's frozen frames, over real
//! QUIC, pinning the server's certificate like any device — against the
//! current server, beside a device on the current protocol (the real client
//! core). It enrols, pushes reports with photos and case steps, pulls,
//! edits: nothing is lost or duplicated, and the field only protocol 3 and
//! later know survives the old phone's edit of the fields it knows. A phone
//! on protocol 3 (the current shapes without packed messages, ADR 0032)
//! pushes and pulls beside protocol 4 and is never sent a packed answer.

use std::collections::BTreeMap;
use std::path::Path;

use gridwarden_client_core::ReportEdit;
use gridwarden_e2e::{bins, raw::Raw, report_at, TestServer};
use gridwarden_protocol::enrolment::EnrolmentCode;
use gridwarden_protocol::frame::{frame_payload, FrameDecoder, DEFAULT_MAX_FRAME};
use gridwarden_protocol::v2::shapes as v2;
use gridwarden_protocol::{
    codec, hlc, versions, ClientMessage, Cursor, Hello, Hlc, NewReport, Op, OpBody, Outcome, Pull,
    Push, Record, ReportOp, ReportState, Role, ServerMessage,
};
use gridwarden_server::admin;
use uuid::Uuid;

/// A phone that speaks protocol 2 only: every byte it sends and reads is in
/// the frozen shapes of gridwarden 0.1.0.
struct OldPhone {
    raw: Raw,
}

impl OldPhone {
    fn connect(server: &TestServer) -> Self {
        Self {
            raw: Raw::connect(server.addr, server.fingerprint),
        }
    }

    /// One request on its own stream; the answer read as protocol 2.
    fn ask(&self, message: &v2::ClientMessage) -> v2::ServerMessage {
        let frame = frame_payload(&codec::encode(message));
        self.raw.runtime.block_on(async {
            let (mut send, mut recv) = self.raw.conn.open_bi().await.unwrap();
            send.write_all(&frame).await.unwrap();
            send.finish().unwrap();
            let answer = recv.read_to_end(DEFAULT_MAX_FRAME + 4).await.unwrap();
            let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME);
            dec.extend(&answer).unwrap();
            let payload = dec.next_payload().unwrap().expect("a whole answer");
            codec::decode::<v2::ServerMessage>(&payload)
                .unwrap_or_else(|e| panic!("a protocol-2 phone cannot read the answer: {e}"))
        })
    }

    fn hello(server: &TestServer, device: Uuid, token: &[u8]) -> (Self, v2::ServerMessage) {
        let phone = Self::connect(server);
        let answer = phone.ask(&v2::ClientMessage::Hello(v2::Hello {
            protocol_version: 2,
            device_id: device,
            token: token.to_vec(),
            client: "gridwarden-android/0.1.0".into(),
        }));
        (phone, answer)
    }

    fn push(&self, ops: &[v2::Op]) -> Vec<v2::Outcome> {
        match self.ask(&v2::ClientMessage::Push(v2::Push { ops: ops.to_vec() })) {
            v2::ServerMessage::Ack(ack) => ack.results.into_iter().map(|r| r.outcome).collect(),
            other => panic!("push answered {other:?}"),
        }
    }

    /// Every page from `cursor`; returns the records and the new cursor.
    fn pull(&self, mut cursor: v2::Cursor) -> (Vec<v2::Record>, v2::Cursor) {
        let mut records = Vec::new();
        loop {
            let page = match self.ask(&v2::ClientMessage::Pull(v2::Pull {
                cursor: cursor.clone(),
                max_records: 1000,
                max_bytes: 1 << 20,
            })) {
                v2::ServerMessage::PullPage(page) => page,
                other => panic!("pull answered {other:?}"),
            };
            records.extend(page.records);
            cursor = page.cursor;
            if !page.more {
                return (records, cursor);
            }
        }
    }
}

/// Bytes that look like a JPEG (the server sniffs the type).
fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..len - 4).map(|i| (i * 31 % 251) as u8));
    bytes
}

fn now_ms() -> u64 {
    gridwarden_protocol::clock::system().now_ms()
}

struct Clock {
    node: u64,
    counter: u32,
}

impl Clock {
    fn op(&mut self, body: v2::OpBody) -> v2::Op {
        self.counter += 1;
        v2::Op {
            op_id: Uuid::now_v7(),
            hlc: v2::Hlc {
                wall_ms: now_ms(),
                counter: self.counter,
                node: self.node,
            },
            body,
        }
    }
}

fn applied(outcomes: &[v2::Outcome]) -> bool {
    outcomes.iter().all(|o| *o == v2::Outcome::Applied)
}

fn reports(records: &[v2::Record]) -> BTreeMap<Uuid, v2::ReportState> {
    records
        .iter()
        .filter_map(|r| match r {
            v2::Record::Report(s) => Some((s.id, s.clone())),
            _ => None,
        })
        .collect()
}

fn cases(records: &[v2::Record]) -> BTreeMap<Uuid, v2::CaseState> {
    records
        .iter()
        .filter_map(|r| match r {
            v2::Record::Case(c) => Some((c.report_id, c.clone())),
            _ => None,
        })
        .collect()
}

fn enrol_old_phone(server: &TestServer, user: &str) -> (Uuid, Vec<u8>) {
    let code = EnrolmentCode::parse(&server.enrolment_code(user)).unwrap();
    let phone = OldPhone::connect(server);
    let enrolled = match phone.ask(&v2::ClientMessage::Enroll(v2::Enroll {
        protocol_version: 2,
        secret: code.secret,
        device_label: "Redmi 9A".into(),
    })) {
        v2::ServerMessage::Enrolled(e) => e,
        other => panic!("enrol answered {other:?}"),
    };
    assert_eq!(enrolled.user, user);
    // The rest of the enrolment connection, as 0.1.0 runs it.
    let reference = phone.ask(&v2::ClientMessage::FetchReference(v2::FetchReference {
        categories_version: None,
        grid_version: None,
    }));
    match reference {
        v2::ServerMessage::Reference(r) => {
            assert!(r.categories.is_some_and(|t| !t.categories.is_empty()))
        }
        other => panic!("reference answered {other:?}"),
    }
    (enrolled.device_id, enrolled.token)
}

#[test]
fn a_protocol_2_phone_pushes_pulls_and_edits_beside_protocol_3_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&dir.path().join("server"));
    let [(cell, place), _] = server.two_cells();
    server.add_user("zhao", Role::Supervisor, &[]);
    server.add_user("sam", Role::Supervisor, &[]);

    // The old phone enrols and says hello in protocol 2.
    let (device, token) = enrol_old_phone(&server, "zhao");
    let (old, welcome) = OldPhone::hello(&server, device, &token);
    match welcome {
        v2::ServerMessage::Welcome(w) => {
            assert_eq!((w.protocol_version, w.user.as_str()), (2, "zhao"))
        }
        other => panic!("hello answered {other:?}"),
    }

    // Two reports, a photo on the first, each case registered.
    let mut clock = Clock {
        node: hlc::node_id(device),
        counter: 0,
    };
    let (r1, r2) = (Uuid::now_v7(), Uuid::now_v7());
    let location = v2::Location {
        lon: place.lon,
        lat: place.lat,
        accuracy_m: Some(5.0),
    };
    let create = |note: &str, address: Option<&str>| {
        v2::ReportOp::Create(v2::NewReport {
            category: "0101".into(),
            location,
            address: address.map(str::to_owned),
            note: note.into(),
            observed_at_ms: now_ms() as i64 - 60_000,
            patrol: None,
        })
    };
    let bytes = jpeg(70_000);
    let photo = v2::PhotoRef {
        hash: v2::PhotoHash(gridwarden_protocol::PhotoHash::of(&bytes).0),
        size: bytes.len() as u64,
        mime: "image/jpeg".into(),
    };
    let ops = vec![
        clock.op(v2::OpBody::Report {
            report_id: r1,
            op: create("井盖缺失", Some("青山路 12号")),
        }),
        clock.op(v2::OpBody::Report {
            report_id: r1,
            op: v2::ReportOp::AttachPhotos(vec![photo.clone()]),
        }),
        clock.op(v2::OpBody::Case {
            report_id: r1,
            op: v2::CaseOp::Register {
                note: "立案".into(),
            },
        }),
        clock.op(v2::OpBody::Report {
            report_id: r2,
            op: create("路灯不亮", None),
        }),
        clock.op(v2::OpBody::Case {
            report_id: r2,
            op: v2::CaseOp::Register {
                note: "立案".into(),
            },
        }),
    ];
    let outcomes = old.push(&ops);
    assert!(applied(&outcomes), "{outcomes:?}");
    // Sent again (an ack lost on the way): nothing applies twice.
    assert!(old.push(&ops).iter().all(|o| *o == v2::Outcome::Duplicate));
    // The photo, in chunks, as 0.1.0 uploads it.
    match old.ask(&v2::ClientMessage::PhotoOffer(v2::PhotoOffer {
        photo: photo.clone(),
    })) {
        v2::ServerMessage::PhotoStatus(s) => assert_eq!(s.received, 0),
        other => panic!("offer answered {other:?}"),
    }
    let mut offset = 0;
    for chunk in bytes.chunks(32 * 1024) {
        let status = old.ask(&v2::ClientMessage::PhotoChunk(v2::PhotoChunk {
            hash: photo.hash,
            total: photo.size,
            offset,
            data: chunk.to_vec(),
            chunk_hash: gridwarden_protocol::PhotoHash::of(chunk).0,
        }));
        offset += chunk.len() as u64;
        match status {
            v2::ServerMessage::PhotoStatus(s) => {
                assert_eq!((s.received, s.complete), (offset, offset == photo.size))
            }
            other => panic!("chunk answered {other:?}"),
        }
    }

    // A device on the current protocol sees all of it, then changes the
    // category of the first report (an amendment in its case's history) and
    // sets the field protocol 2 does not know.
    let sam = server.enrol(&dir.path().join("sam"), "sam");
    sam.sync().unwrap();
    let shown = sam.show_report(r1).unwrap();
    assert_eq!(shown.address.as_deref(), Some("青山路 12号"));
    assert_eq!((shown.photos.len(), shown.asset.as_deref()), (1, None));
    assert_eq!(sam.case(r2).unwrap().status, "registered");
    sam.edit_report(
        r1,
        ReportEdit {
            category: Some("0102".into()),
            asset: Some(Some("LD-0412".into())),
            ..ReportEdit::default()
        },
    )
    .unwrap();
    sam.sync().unwrap();
    let steps: Vec<String> = sam
        .case(r1)
        .unwrap()
        .history
        .iter()
        .map(|s| s.op.clone())
        .collect();
    assert!(steps.iter().any(|s| s == "amend"), "{steps:?}");

    // The old phone pulls everything: pages with an amended case read in
    // its shapes, the amendment left out of the history it shows.
    let (records, cursor) = old.pull(v2::Cursor::default());
    let held = reports(&records);
    assert_eq!(held.keys().copied().collect::<Vec<_>>(), {
        let mut ids = vec![r1, r2];
        ids.sort();
        ids
    });
    let first = &held[&r1];
    assert_eq!(first.category.as_ref().unwrap().value, "0102");
    assert_eq!(first.photos, vec![photo.clone()]);
    assert_eq!(
        first.grid_cell.as_ref().unwrap().value.as_deref(),
        Some(cell.as_str())
    );
    let held_cases = cases(&records);
    let amendments = steps.iter().filter(|s| *s == "amend").count();
    assert_eq!(held_cases[&r1].history.len(), steps.len() - amendments);
    assert_eq!(held_cases[&r1].status, v2::CaseStatus::Registered);
    assert_eq!(held_cases[&r2].status, v2::CaseStatus::Registered);

    // The old phone edits the note of the first report: an op that cannot
    // carry the asset, so it leaves it as it is.
    let edit = clock.op(v2::OpBody::Report {
        report_id: r1,
        op: v2::ReportOp::Edit(v2::ReportEdit {
            note: Some("井盖已临时围挡".into()),
            ..v2::ReportEdit::default()
        }),
    });
    assert!(applied(&old.push(&[edit])));
    sam.sync().unwrap();
    let after = sam.show_report(r1).unwrap();
    assert_eq!(after.note, "井盖已临时围挡");
    assert_eq!(after.asset.as_deref(), Some("LD-0412"));
    assert_eq!(after.category, "0102");
    assert_eq!(sam.list_reports().unwrap().len(), 2);
    // The photo the old phone sent, byte for byte.
    let out = dir.path().join("fetched.jpg");
    let sent = sam.show_report(r1).unwrap().photos[0].hash.clone();
    let photo_ref = gridwarden_protocol::PhotoRef {
        hash: gridwarden_protocol::PhotoHash::from_hex(&sent).unwrap(),
        size: photo.size,
        mime: photo.mime.clone(),
    };
    sam.fetch_photo_blocking(&photo_ref, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // And the old phone's next pull brings its own edit back once.
    let (records, _) = old.pull(cursor);
    let again = reports(&records);
    assert_eq!(again.len(), 1);
    assert_eq!(again[&r1].note.as_ref().unwrap().value, "井盖已临时围挡");

    // IT sees which devices speak which version.
    let status = admin::status::status(&server.admin(), None).unwrap();
    assert_eq!(
        status.devices_by_protocol,
        BTreeMap::from([("2".to_owned(), 1), ("4".to_owned(), 1)])
    );
    drop(old);

    // IT sets dates: protocol 2 refused since 2020, protocol 4 from 2099.
    server.stop();
    let config = gridwarden_server::config::Config::parse(
        r#"
        [protocol]
        refuse_after = { "2" = "2020-01-01T00:00:00Z", "4" = "2099-01-01T00:00:00Z" }
        "#,
    )
    .unwrap();
    let server = TestServer::start_configured_on(&server.data_dir.clone(), server.addr, &config);
    let (_refused, answer) = OldPhone::hello(&server, device, &token);
    match answer {
        v2::ServerMessage::Error(e) => {
            assert_eq!(e.code, v2::ErrorCode::UnsupportedVersion);
            assert!(e.message.contains("update the app"), "{}", e.message);
        }
        other => panic!("a refused version was answered {other:?}"),
    }
    let by_2099 = 4_070_908_800_000;
    assert_eq!(sam.sync().unwrap().update_required_by_ms, Some(by_2099));
    assert_eq!(sam.status().unwrap().update_required_by_ms, Some(by_2099));
    drop(sam);
    let status = cli_status(&dir.path().join("sam"));
    assert!(status.contains("update required by 2099-01-01"), "{status}");
}

fn cli_status(home: &Path) -> String {
    let out = std::process::Command::new(bins::path("gridwarden"))
        .args(["status", "--home"])
        .arg(home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_phone_outside_the_window_is_told_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    // A version-1 app, and one newer than the server: both refused by name,
    // in an Error every version reads.
    for (version, says) in [(1, "update the app"), (5, "upgrade the server")] {
        let code = EnrolmentCode::parse(&server.enrolment_code("ann")).unwrap();
        let phone = OldPhone::connect(&server);
        match phone.ask(&v2::ClientMessage::Enroll(v2::Enroll {
            protocol_version: version,
            secret: code.secret,
            device_label: "old".into(),
        })) {
            v2::ServerMessage::Error(e) => {
                assert_eq!(e.code, v2::ErrorCode::UnsupportedVersion);
                assert!(e.message.contains(says), "{version}: {}", e.message);
            }
            other => panic!("version {version} was answered {other:?}"),
        }
    }
    // Nothing was enrolled.
    assert!(server.admin().store().devices().unwrap().is_empty());
}

/// A phone on protocol 3 (the current shapes, no packed messages) or 4,
/// over a hand-made connection, so its bytes can be counted. A protocol-3
/// phone decodes every answer as it is, so a packed one would fail it.
struct RawPhone {
    raw: Raw,
    version: u16,
}

impl RawPhone {
    fn hello(server: &TestServer, version: u16, device: Uuid, token: Vec<u8>) -> Self {
        let phone = Self {
            raw: Raw::connect(server.addr, server.fingerprint),
            version,
        };
        match phone.ask(&ClientMessage::Hello(Hello {
            protocol_version: version,
            device_id: device,
            token,
            client: format!("gridwarden-android/protocol-{version}"),
        })) {
            (ServerMessage::Welcome(w), _) => assert_eq!(w.protocol_version, version),
            other => panic!("hello answered {other:?}"),
        }
        phone
    }

    /// The answer to `message` sent plainly, with the answer's size.
    fn ask(&self, message: &ClientMessage) -> (ServerMessage, usize) {
        self.ask_bytes(&frame_payload(&codec::encode(message)))
    }

    fn ask_bytes(&self, frame: &[u8]) -> (ServerMessage, usize) {
        self.raw.runtime.block_on(async {
            let (mut send, mut recv) = self.raw.conn.open_bi().await.unwrap();
            send.write_all(frame).await.unwrap();
            send.finish().unwrap();
            let answer = recv.read_to_end(DEFAULT_MAX_FRAME + 4).await.unwrap();
            let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME);
            dec.extend(&answer).unwrap();
            let payload = dec.next_payload().unwrap().expect("a whole answer");
            if self.version < versions::PACKED_SINCE {
                let message = codec::decode::<ServerMessage>(&payload).unwrap_or_else(|e| {
                    panic!(
                        "a protocol-{} phone cannot read the answer: {e}",
                        self.version
                    )
                });
                assert!(
                    !matches!(message, ServerMessage::Packed(_)),
                    "a protocol-{} phone was sent a packed answer",
                    self.version
                );
            }
            let message = versions::decode_server(self.version, &payload).unwrap();
            (message, answer.len())
        })
    }

    /// Every page from the start: the reports and the bytes of the answers.
    fn pull_all(&self) -> (BTreeMap<Uuid, ReportState>, usize) {
        let (mut reports, mut bytes, mut cursor) = (BTreeMap::new(), 0, Cursor::start());
        loop {
            let (page, len) = match self.ask(&ClientMessage::Pull(Pull {
                cursor: cursor.clone(),
                max_records: 1000,
                max_bytes: 1 << 20,
            })) {
                (ServerMessage::PullPage(page), len) => (page, len),
                other => panic!("pull answered {other:?}"),
            };
            bytes += len;
            for record in page.records {
                if let Record::Report(state) = record {
                    reports.insert(state.id, state);
                }
            }
            cursor = page.cursor;
            if !page.more {
                return (reports, bytes);
            }
        }
    }
}

#[test]
fn a_protocol_3_phone_pushes_and_pulls_beside_protocol_4_and_is_never_sent_a_packed_answer() {
    const N: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let [(_, place), _] = server.two_cells();
    server.add_user("li", Role::Supervisor, &[]);
    server.add_user("sam", Role::Supervisor, &[]);
    // Li's phone is enrolled as any; it then speaks protocol 3 only.
    let li = server.enrol(&dir.path().join("li"), "li");
    let device = li.status().unwrap().device_id.unwrap();
    let token = li.device_token_for_tests().unwrap();
    drop(li);

    // Sam, on protocol 4, records reports; his push goes packed.
    let sam = server.enrol(&dir.path().join("sam"), "sam");
    let sams: Vec<Uuid> = (0..N)
        .map(|i| {
            sam.record_report(report_at("0101", place, &format!("路灯不亮 {i}")))
                .unwrap()
        })
        .collect();
    assert_eq!(sam.sync().unwrap().pushed, N as u64);

    // Li's protocol-3 phone pulls all of them, each answer as it is; the
    // same pull in protocol 4 brings the same reports, packed and smaller.
    let phone = RawPhone::hello(&server, 3, device, token.clone());
    let (pulled, plain_bytes) = phone.pull_all();
    assert!(sams.iter().all(|id| pulled.contains_key(id)));
    let (packed_pulled, packed_bytes) = RawPhone::hello(&server, 4, device, token).pull_all();
    assert_eq!(packed_pulled, pulled);
    println!("a pull of {N} reports: {plain_bytes} B in protocol 3, {packed_bytes} B in 4");
    assert!(packed_bytes * 10 < plain_bytes * 7);

    // It pushes a batch as version 3 sends it: applied, answered plainly.
    let node = hlc::node_id(device);
    let ops: Vec<Op> = (0..N)
        .map(|i| Op {
            op_id: Uuid::now_v7(),
            hlc: Hlc::new(now_ms(), i as u32, node),
            body: OpBody::Report {
                report_id: Uuid::now_v7(),
                op: ReportOp::Create(NewReport {
                    category: "0102".into(),
                    location: place,
                    address: None,
                    note: format!("井盖缺失 {i}"),
                    observed_at_ms: now_ms() as i64 - 60_000,
                    patrol: None,
                    asset: Some(format!("LD-{i:04}")),
                }),
            },
        })
        .collect();
    let push = ClientMessage::Push(Push { ops: ops.clone() });
    match phone.ask(&push) {
        (ServerMessage::Ack(ack), _) => assert!(
            ack.results.iter().all(|r| r.outcome == Outcome::Applied),
            "{:?}",
            ack.results
        ),
        other => panic!("push answered {other:?}"),
    }
    // A packed push is not version 3's: refused by name.
    let packed = versions::encode_client(4, &push).unwrap();
    assert!(matches!(
        codec::decode(&packed),
        Ok(ClientMessage::Packed(_))
    ));
    match phone.ask_bytes(&frame_payload(&packed)) {
        (ServerMessage::Error(e), _) => {
            assert!(e.message.contains("no packed messages"), "{}", e.message)
        }
        other => panic!("a packed push from protocol 3 was answered {other:?}"),
    }

    // Sam sees Li's reports, asset and all.
    sam.sync().unwrap();
    for op in &ops {
        let OpBody::Report { report_id, .. } = op.body else {
            unreachable!("every op made above is a report's")
        };
        assert!(sam.show_report(report_id).unwrap().asset.is_some());
    }
}
