//! Golden byte vectors: the exact encoding of every message of the current
//! version, pinned in `golden/v3/*.hex` — the shapes of versions 3 and 4 are
//! the same but for version 4's packed envelopes (ADR 0032), pinned in
//! `golden/v4/*.hex`. Once a version is released (tagged) a change to any of
//! these bytes is a wire-format change and needs a new protocol version.
//! Regenerate deliberately with
//! `GRIDWARDEN_BLESS=1 cargo test -p gridwarden-protocol --test golden`.
//! The vectors of older versions in the window (`golden/v2/`, as released)
//! are never regenerated: `tests/golden_v2.rs` reads them.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is the report

use gridwarden_protocol::case::{Applying, CaseActor, CaseOp, CaseState};
use gridwarden_protocol::category::{Category, CategoryTable, Family, TimeLimit};
use gridwarden_protocol::grid::{
    CellCoverage, CellShape, GridCellWire, GridLayerWire, PolygonWire, ShapePolygon,
};
use gridwarden_protocol::report::{Lww, Origin};
use gridwarden_protocol::*;
use uuid::Uuid;

fn hlc() -> Hlc {
    Hlc::new(1_763_800_000_000, 2, 0x0123_4567_89ab_cdef)
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn new_report() -> NewReport {
    NewReport {
        category: "0101".into(),
        location: Location {
            lon: 111.7012345,
            lat: 40.8412345,
            accuracy_m: Some(4.5),
        },
        address: Some("青山路 12号".into()),
        note: "井盖缺失 manhole cover missing".into(),
        observed_at_ms: 1_763_799_999_000,
        patrol: None,
        asset: Some("LD-0412".into()),
    }
}

fn limits() -> DeviceLimits {
    DeviceLimits {
        max_photo_bytes: 25 * 1024 * 1024,
        max_note_chars: 2000,
        max_clock_skew_ms: 60_000,
    }
}

fn report_state() -> ReportState {
    let mut s = ReportState::empty(id(1));
    s.apply(&ReportOp::Create(new_report()), hlc(), "wang.wei", id(9));
    s.set_grid_cell(
        Some("990102001001001".into()),
        Hlc::new(1_763_800_000_500, 0, 0),
    );
    s.apply(
        &ReportOp::AttachPhotos(vec![photo_ref()]),
        hlc(),
        "wang.wei",
        id(9),
    );
    s
}

fn client_messages() -> Vec<(&'static str, ClientMessage)> {
    vec![
        (
            "client_hello",
            ClientMessage::Hello(Hello {
                // The vectors are version 3's (version 4 reads them alike).
                protocol_version: 3,
                device_id: id(9),
                token: vec![0xab; 32],
                client: "gridwarden-cli/0.1.0".into(),
            }),
        ),
        (
            "client_enroll",
            ClientMessage::Enroll(Enroll {
                protocol_version: 3,
                secret: "k3j4h5g6f7d8s9a0".into(),
                device_label: "Redmi 9A".into(),
            }),
        ),
        (
            "client_push_create",
            ClientMessage::Push(Push {
                ops: vec![Op {
                    op_id: id(2),
                    hlc: hlc(),
                    body: OpBody::Report {
                        report_id: id(1),
                        op: ReportOp::Create(new_report()),
                    },
                }],
            }),
        ),
        (
            "client_push_edit_delete",
            ClientMessage::Push(Push {
                ops: vec![
                    Op {
                        op_id: id(3),
                        hlc: hlc(),
                        body: OpBody::Report {
                            report_id: id(1),
                            op: ReportOp::Edit(ReportEdit {
                                category: Some("0102".into()),
                                note: None,
                                location: None,
                                address: Some(None),
                                asset: Some(Some("LD-0413".into())),
                            }),
                        },
                    },
                    Op {
                        op_id: id(4),
                        hlc: hlc(),
                        body: OpBody::Report {
                            report_id: id(1),
                            op: ReportOp::Delete,
                        },
                    },
                ],
            }),
        ),
        (
            "client_pull",
            ClientMessage::Pull(Pull {
                cursor: Cursor(vec![0, 0, 0, 0, 0, 0, 0, 42]),
                max_records: 1000,
                max_bytes: 1 << 20,
            }),
        ),
        (
            "client_fetch_reference",
            ClientMessage::FetchReference(FetchReference {
                categories_version: Some(1),
                grid_version: None,
            }),
        ),
        (
            "client_push_patrol",
            ClientMessage::Push(Push {
                ops: vec![
                    Op {
                        op_id: id(30),
                        hlc: hlc(),
                        body: OpBody::Patrol {
                            patrol_id: id(31),
                            op: PatrolOp::Start(NewPatrol {
                                started_at_ms: 1_763_799_000_000,
                                note: "青山路 morning round".into(),
                            }),
                        },
                    },
                    Op {
                        op_id: id(32),
                        hlc: hlc(),
                        body: OpBody::Patrol {
                            patrol_id: id(31),
                            op: PatrolOp::Points(vec![track_point(0), track_point(1)]),
                        },
                    },
                    Op {
                        op_id: id(33),
                        hlc: hlc(),
                        body: OpBody::Patrol {
                            patrol_id: id(31),
                            op: PatrolOp::Stop {
                                ended_at_ms: 1_763_802_600_000,
                            },
                        },
                    },
                    Op {
                        op_id: id(34),
                        hlc: hlc(),
                        body: OpBody::Report {
                            report_id: id(1),
                            op: ReportOp::AttachPhotos(vec![photo_ref()]),
                        },
                    },
                ],
            }),
        ),
        (
            "client_push_case",
            ClientMessage::Push(Push {
                ops: vec![
                    Op {
                        op_id: id(40),
                        hlc: hlc(),
                        body: OpBody::Case {
                            report_id: id(1),
                            op: CaseOp::Dispatch {
                                department: "water".into(),
                                note: "派遣 自来水公司".into(),
                            },
                        },
                    },
                    Op {
                        op_id: id(41),
                        hlc: hlc(),
                        body: OpBody::Case {
                            report_id: id(1),
                            op: CaseOp::Verify {
                                passed: false,
                                note: "井盖仍缺失 still missing".into(),
                                photos: vec![photo_ref()],
                            },
                        },
                    },
                    Op {
                        op_id: id(42),
                        hlc: hlc(),
                        body: OpBody::Case {
                            report_id: id(1),
                            op: CaseOp::Postpone {
                                reason: "rain".into(),
                                extension: TimeLimit::WorkingDays(2),
                            },
                        },
                    },
                ],
            }),
        ),
        (
            "client_photo_offer",
            ClientMessage::PhotoOffer(PhotoOffer { photo: photo_ref() }),
        ),
        (
            "client_photo_chunk",
            ClientMessage::PhotoChunk(PhotoChunk {
                hash: photo_ref().hash,
                total: photo_ref().size,
                offset: 524_288,
                data: b"\xff\xd8 jpeg bytes".to_vec(),
                chunk_hash: *blake3::hash(b"\xff\xd8 jpeg bytes").as_bytes(),
            }),
        ),
        (
            "client_fetch_photo",
            ClientMessage::FetchPhoto(FetchPhoto {
                hash: photo_ref().hash,
                offset: 0,
                max_len: 524_288,
            }),
        ),
        (
            "client_list_patrols",
            ClientMessage::ListPatrols(ListPatrols {
                warden: Some("wang.wei".into()),
                since_ms: Some(1_763_769_600_000),
                until_ms: None,
                max_patrols: 500,
            }),
        ),
        (
            "client_fetch_patrol",
            ClientMessage::FetchPatrol(FetchPatrol { patrol_id: id(31) }),
        ),
        (
            "client_fetch_cells",
            ClientMessage::FetchCells(FetchCells {
                layer_version: 7,
                scope_tag: 0x1234_5678_9abc_def0,
                since_version: Some(6),
                after: Some("990102001001012".into()),
                max_bytes: 1_048_576,
            }),
        ),
    ]
}

fn track_point(seq: u32) -> TrackPoint {
    TrackPoint {
        seq,
        time_ms: Some(1_763_799_000_000 + i64::from(seq) * 4_000),
        lon: 111.7012345 + f64::from(seq) * 0.0001,
        lat: 40.8412345,
        accuracy_m: Some(6.0),
        speed_mps: if seq == 0 { None } else { Some(1.4) },
        segment: 0,
    }
}

fn photo_ref() -> PhotoRef {
    PhotoRef {
        hash: PhotoHash::of(b"\xff\xd8 jpeg bytes"),
        size: 20 * 1024 * 1024,
        mime: "image/jpeg".into(),
    }
}

fn patrol_summary() -> PatrolSummary {
    PatrolSummary {
        info: PatrolInfo {
            id: id(31),
            warden: "wang.wei".into(),
            device: id(9),
            started_at_ms: 1_763_799_000_000,
            ended_at_ms: Some(1_763_802_600_000),
            note: "青山路 morning round".into(),
        },
        points: 2,
        flagged: 0,
        distance_m: 8.42,
        duration_ms: Some(4_000),
        scope_cells: 2,
        covered_cells: vec!["990102001001001".into()],
        visited_cells: vec!["990102001001001".into()],
        reports: vec![id(1)],
    }
}

fn case_state() -> CaseState {
    let mut case = CaseState::reported(id(1), Some(1_763_803_600_000));
    case.transition(
        &CaseOp::Register {
            note: "立案".into(),
        },
        Applying {
            actor: CaseActor {
                user: "li.na",
                role: Role::Supervisor,
                department: None,
                covers_cell: false,
            },
            device: id(10),
            device_ms: 1_763_800_100_000,
            server_ms: 1_763_800_100_400,
            next_deadline_ms: None,
        },
    )
    .unwrap();
    case
}

/// A registered case whose report a supervisor moved and re-categorised:
/// the amendment is the last variant of `CaseOp`.
fn case_state_amended() -> CaseState {
    let mut case = case_state();
    case.amend(
        CaseOp::Amend {
            category: Some(("0101".into(), "0203".into())),
            location: Some((
                new_report().location,
                Location {
                    lon: 111.7023456,
                    lat: 40.8423456,
                    accuracy_m: None,
                },
            )),
        },
        Applying {
            actor: CaseActor {
                user: "li.na",
                role: Role::Supervisor,
                department: None,
                covers_cell: true,
            },
            device: id(10),
            device_ms: 1_763_800_200_000,
            server_ms: 1_763_800_200_300,
            next_deadline_ms: None,
        },
    )
    .unwrap();
    case
}

fn server_messages() -> Vec<(&'static str, ServerMessage)> {
    vec![
        (
            "server_pull_page_case_amended",
            ServerMessage::PullPage(PullPage {
                records: vec![Record::Case(case_state_amended())],
                cursor: Cursor(vec![0, 0, 0, 0, 0, 0, 0, 45]),
                more: false,
            }),
        ),
        (
            "server_pull_page_case",
            ServerMessage::PullPage(PullPage {
                records: vec![Record::Report(report_state()), Record::Case(case_state())],
                cursor: Cursor(vec![0, 0, 0, 0, 0, 0, 0, 44]),
                more: true,
            }),
        ),
        (
            "server_welcome",
            ServerMessage::Welcome(Welcome {
                protocol_version: 3,
                server_time_ms: 1_763_800_000_000,
                user: "wang.wei".into(),
                role: Role::Warden,
                cells: vec!["990102001001001".into(), "990102001001002".into()],
                categories_version: 1,
                grid_version: 3,
                limits: limits(),
                store_epoch: id(77),
                update_required_by_ms: Some(1_798_761_600_000),
            }),
        ),
        (
            "server_enrolled",
            ServerMessage::Enrolled(Enrolled {
                device_id: id(9),
                token: vec![0xcd; 32],
                user: "wang.wei".into(),
                role: Role::Liaison,
                limits: limits(),
                store_epoch: id(77),
            }),
        ),
        (
            "server_notice",
            ServerMessage::Notice(Notice {
                kind: NoticeKind::Task,
                ids: vec![id(1)],
            }),
        ),
        (
            "server_ack",
            ServerMessage::Ack(Ack {
                results: vec![
                    OpResult {
                        op_id: id(2),
                        outcome: Outcome::Applied,
                    },
                    OpResult {
                        op_id: id(3),
                        outcome: Outcome::Duplicate,
                    },
                    OpResult {
                        op_id: id(4),
                        outcome: Outcome::Rejected {
                            code: ErrorCode::UnknownCategory,
                            reason: "unknown category 9999".into(),
                        },
                    },
                ],
                server_hlc: Hlc::new(1_763_800_000_500, 0, 0),
            }),
        ),
        (
            "server_pull_page",
            ServerMessage::PullPage(PullPage {
                records: vec![Record::Report(report_state())],
                cursor: Cursor(vec![0, 0, 0, 0, 0, 0, 0, 43]),
                more: false,
            }),
        ),
        (
            "server_pull_page_out_of_scope",
            ServerMessage::PullPage(PullPage {
                records: vec![Record::OutOfScope { report_id: id(1) }],
                cursor: Cursor(vec![0, 0, 0, 0, 0, 0, 0, 44]),
                more: true,
            }),
        ),
        (
            "server_reference",
            ServerMessage::Reference(Reference {
                categories: Some(CategoryTable {
                    version: 1,
                    categories: vec![Category {
                        code: "0101".into(),
                        family: Family::Component,
                        class_code: "01".into(),
                        class_name: "公用设施".into(),
                        name: "上水井盖".into(),
                        name_en: "water-supply manhole cover".into(),
                        register_limit: Some(TimeLimit::WorkingHours(1)),
                        dispose_limit: Some(TimeLimit::WorkingDays(2)),
                    }],
                }),
                grid: Some(GridLayerWire {
                    version: 3,
                    name: "sample".into(),
                    cells: vec![GridCellWire {
                        code: "990102001001001".into(),
                        name: None,
                        polygons: vec![PolygonWire {
                            exterior: vec![
                                [111.0, 40.0],
                                [111.1, 40.0],
                                [111.1, 40.1],
                                [111.0, 40.0],
                            ],
                            holes: vec![],
                        }],
                    }],
                }),
            }),
        ),
        (
            "server_error",
            ServerMessage::error(
                ErrorCode::Unauthenticated,
                "this device was revoked; ask IT to enrol it again",
            ),
        ),
        (
            "server_photo_status",
            ServerMessage::PhotoStatus(PhotoStatus {
                hash: photo_ref().hash,
                received: 18 * 1024 * 1024,
                complete: false,
            }),
        ),
        (
            "server_photo_data",
            ServerMessage::PhotoData(PhotoData {
                hash: photo_ref().hash,
                size: 20 * 1024 * 1024,
                offset: 0,
                data: b"\xff\xd8 jpeg bytes".to_vec(),
            }),
        ),
        (
            "server_patrols",
            ServerMessage::Patrols(vec![patrol_summary()]),
        ),
        (
            "server_patrol_track",
            ServerMessage::PatrolTrack(PatrolTrack {
                summary: patrol_summary(),
                points: vec![track_point(0), track_point(1)],
            }),
        ),
        (
            "server_cell_page",
            ServerMessage::CellPage(CellPage {
                layer_version: 7,
                layer_name: "青山新区 v7".into(),
                scope_tag: 0x1234_5678_9abc_def0,
                coverage: CellCoverage::Scope,
                reset: false,
                cells: vec![GridCellWire {
                    code: "990102001001001".into(),
                    name: Some("block 1".into()),
                    polygons: vec![PolygonWire {
                        exterior: vec![
                            [111.7, 40.84],
                            [111.701, 40.84],
                            [111.701, 40.841],
                            [111.7, 40.84],
                        ],
                        holes: vec![],
                    }],
                }],
                shapes: vec![],
                removed: vec!["990102001001099".into()],
                next: Some("990102001001001".into()),
            }),
        ),
        (
            "server_cell_page_shapes",
            ServerMessage::CellPage(CellPage {
                layer_version: 7,
                layer_name: "city".into(),
                scope_tag: 42,
                coverage: CellCoverage::WholeDisplay,
                reset: true,
                cells: vec![],
                shapes: vec![CellShape {
                    code: "990102001001001".into(),
                    name: None,
                    unit: 500,
                    polygons: vec![ShapePolygon {
                        rings: vec![vec![2_231_000, 815_000, 20, 0, 0, 20, -20, 0]],
                    }],
                }],
                removed: vec![],
                next: None,
            }),
        ),
    ]
}

fn check(name: &str, bytes: &[u8]) -> Option<String> {
    let path = format!("{}/golden/v3/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let actual = enrolment::hex(bytes);
    if std::env::var_os("GRIDWARDEN_BLESS").is_some() {
        std::fs::write(&path, format!("{actual}\n")).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    (expected.trim() != actual).then(|| {
        format!(
            "{name}: encoding changed\n expected {}\n   actual {actual}",
            expected.trim()
        )
    })
}

#[test]
fn every_message_matches_its_golden_bytes_and_round_trips() {
    let mut failures = Vec::new();
    for (name, msg) in client_messages() {
        let frame = frame::encode_frame(&msg);
        failures.extend(check(name, &frame));
        let mut dec = frame::FrameDecoder::new(frame::DEFAULT_MAX_FRAME);
        dec.extend(&frame).unwrap();
        assert_eq!(
            dec.next_message::<ClientMessage>().unwrap(),
            Some(msg),
            "{name}"
        );
    }
    for (name, msg) in server_messages() {
        let frame = frame::encode_frame(&msg);
        failures.extend(check(name, &frame));
        let mut dec = frame::FrameDecoder::new(frame::DEFAULT_MAX_FRAME);
        dec.extend(&frame).unwrap();
        assert_eq!(
            dec.next_message::<ServerMessage>().unwrap(),
            Some(msg),
            "{name}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_create_op_for_one_report_stays_small_on_the_wire() {
    // The brief's budget is 150 bytes per report without photos.
    let op = Op {
        op_id: id(2),
        hlc: hlc(),
        body: OpBody::Report {
            report_id: id(1),
            op: ReportOp::Create(new_report()),
        },
    };
    let len = codec::encode(&op).len();
    assert!(len <= 150, "a create op takes {len} bytes");
}

#[test]
fn truncated_frames_of_every_message_are_errors_not_panics() {
    // postcard is prefix-free: a message cut short is never a whole one, so
    // every cut must come back as an error (a panic fails the test too).
    // Read as the other side's message, the bytes may mean anything; that
    // only must not panic.
    for (name, m) in client_messages() {
        let bytes = codec::encode(&m);
        for cut in 0..bytes.len() {
            let err = codec::decode::<ClientMessage>(&bytes[..cut]);
            assert!(err.is_err(), "{name} cut at {cut} decoded: {err:?}");
            let _ = codec::decode::<ServerMessage>(&bytes[..cut]);
        }
    }
    for (name, m) in server_messages() {
        let bytes = codec::encode(&m);
        for cut in 0..bytes.len() {
            let err = codec::decode::<ServerMessage>(&bytes[..cut]);
            assert!(err.is_err(), "{name} cut at {cut} decoded: {err:?}");
            let _ = codec::decode::<ClientMessage>(&bytes[..cut]);
        }
    }
    let _unused: Option<Lww<u8>> = None;
    let _unused2: Option<Origin> = None;
}

/// Report `n` of a page: the golden report under another id, observed and
/// recorded `n` seconds later, its note numbered (as a page holds them).
fn nth_report(n: u128) -> ReportState {
    let mut r = new_report();
    r.note = format!("井盖缺失 manhole cover missing #{n}");
    r.observed_at_ms += n as i64 * 1000;
    let at = Hlc::new(hlc().wall_ms + n as u64 * 1000, 0, hlc().node);
    let mut s = ReportState::empty(id(100 + n));
    s.apply(&ReportOp::Create(r), at, "wang.wei", id(9));
    s.set_grid_cell(
        Some("990102001001001".into()),
        Hlc::new(at.wall_ms + 500, 0, 0),
    );
    s
}

/// Version 4's packed messages (ADR 0032): a page of 20 reports with their
/// cases as a version-4 server sends it, and a push of 20 creates as a
/// version-4 device does.
fn packed_messages() -> Vec<(&'static str, ClientMessage, ServerMessage)> {
    let mut records = Vec::new();
    for n in 0..20 {
        records.push(Record::Report(nth_report(n)));
        let mut case = case_state();
        case.report_id = id(100 + n);
        records.push(Record::Case(case));
    }
    let page = ServerMessage::PullPage(PullPage {
        records,
        cursor: Cursor(vec![0, 0, 0, 0, 0, 0, 0, 63]),
        more: true,
    });
    let ops = (0..20)
        .map(|n| Op {
            op_id: id(200 + n),
            hlc: Hlc::new(hlc().wall_ms + n as u64 * 1000, 0, hlc().node),
            body: OpBody::Report {
                report_id: id(100 + n),
                op: ReportOp::Create(NewReport {
                    note: format!("井盖缺失 manhole cover missing #{n}"),
                    ..new_report()
                }),
            },
        })
        .collect();
    let push = ClientMessage::Push(Push { ops });
    vec![("packed", push, page)]
}

/// A packed vector is pinned by what it reads as, not by its bytes: zstd
/// may write the same content differently in another release of the
/// library, and every such frame must still read. The envelope around the
/// zstd frame (variant, length) is pinned byte for byte.
fn check_packed(name: &str, frame: &[u8], read: impl Fn(&[u8]) -> bool) -> Option<String> {
    let path = format!("{}/golden/v4/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("GRIDWARDEN_BLESS").is_some() {
        std::fs::write(&path, format!("{}\n", enrolment::hex(frame))).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    let Some(pinned) = (0..expected.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&expected.trim()[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
        .filter(|b| b.len() > 12)
    else {
        return Some(format!("{name}: no vector in {path}"));
    };
    // Frame header (4), variant (1), length varint (≤ 3 here), zstd's magic.
    let head = |b: &[u8]| b[..12].to_vec();
    if head(&pinned) != head(frame) {
        return Some(format!("{name}: the envelope changed"));
    }
    (!read(&pinned[4..])).then(|| format!("{name}: the pinned bytes no longer read as the message"))
}

#[test]
fn packed_messages_read_as_pinned_and_pack_to_well_under_half() {
    let mut failures = Vec::new();
    for (name, push, page) in packed_messages() {
        let sent = frame::frame_payload(&versions::encode_client(4, &push).unwrap());
        let plain = codec::encode(&push).len();
        assert!(sent.len() * 2 < plain, "push: {} of {plain}", sent.len());
        failures.extend(check_packed(&format!("client_push_{name}"), &sent, |p| {
            matches!(codec::decode(p), Ok(ClientMessage::Packed(_)))
                && versions::decode_client(4, p).as_ref() == Ok(&push)
        }));
        let sent = frame::frame_payload(&versions::encode_server(4, &page));
        let plain = codec::encode(&page).len();
        assert!(sent.len() * 3 < plain, "page: {} of {plain}", sent.len());
        failures.extend(check_packed(
            &format!("server_pull_page_{name}"),
            &sent,
            |p| {
                matches!(codec::decode(p), Ok(ServerMessage::Packed(_)))
                    && versions::decode_server(4, p).as_ref() == Ok(&page)
            },
        ));
        // Version 3 is sent the same messages as they are.
        assert_eq!(versions::encode_server(3, &page), codec::encode(&page));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
