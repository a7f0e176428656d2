//! Hostile and mistaken input: each is refused with a message a person can
//! act on, and stored data stays as it was.

use gridwarden_client_core::{ClientError, Location};
use gridwarden_e2e::raw::{hello_as, Raw};
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::hlc::node_id;
use gridwarden_protocol::{
    ClientMessage, ErrorCode, Hello, Hlc, Op, OpBody, Outcome, Push, ReportOp, Role, ServerMessage,
    PROTOCOL_VERSION,
};
use uuid::Uuid;

fn refusal(answer: Result<ServerMessage, String>) -> (ErrorCode, String) {
    match answer {
        Ok(ServerMessage::Error(e)) => (e.code, e.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_device_refuses_bad_coordinates_and_unknown_categories_and_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let [(_, here), _] = server.two_cells();
    let cases = [
        (
            Location {
                lon: f64::NAN,
                ..here
            },
            "0101",
            "coordinates",
        ),
        (Location { lat: 91.0, ..here }, "0101", "latitude"),
        (
            Location {
                lon: -180.5,
                ..here
            },
            "0101",
            "longitude",
        ),
        (here, "9999", "9999"),
    ];
    for (location, category, needle) in cases {
        let err = ann
            .record_report(report_at(category, location, "x"))
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert!(
            matches!(
                err,
                ClientError::InvalidInput(_) | ClientError::UnknownCategory { .. }
            ),
            "{err:?}"
        );
    }
    assert_eq!(
        (ann.outbox_len().unwrap(), ann.list_reports().unwrap().len()),
        (0, 0)
    );
}

fn create_op(device: Uuid, category: &str, location: Location) -> Op {
    let new = report_at(category, location, "raw");
    Op {
        op_id: Uuid::now_v7(),
        hlc: Hlc::new(1_763_800_000_000, 0, node_id(device)),
        body: OpBody::Report {
            report_id: Uuid::now_v7(),
            op: ReportOp::Create(new),
        },
    }
}

#[test]
fn the_server_rejects_bad_ops_with_reasons_and_lands_the_rest_of_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let (raw, device) = hello_as(&server, "ann", &tmp.path().join("ann"));
    let [(_, here), _] = server.two_cells();
    let ops = vec![
        create_op(
            device,
            "0101",
            Location {
                lon: f64::NAN,
                ..here
            },
        ),
        create_op(device, "0101", Location { lat: -95.0, ..here }),
        create_op(device, "9999", here),
        Op {
            hlc: Hlc::new(1, 0, 12345),
            ..create_op(device, "0101", here)
        },
        create_op(device, "0101", here),
    ];
    let Ok(ServerMessage::Ack(ack)) = raw.request(&ClientMessage::Push(Push { ops: ops.clone() }))
    else {
        panic!("expected an ack");
    };
    let codes: Vec<_> = ack
        .results
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Rejected { code, reason } => {
                assert!(!reason.is_empty());
                Some(*code)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        [
            Some(ErrorCode::InvalidInput),
            Some(ErrorCode::InvalidInput),
            Some(ErrorCode::UnknownCategory),
            Some(ErrorCode::InvalidInput),
            None
        ]
    );
    let stored = server.admin().store().reports(false).unwrap();
    assert_eq!(
        stored.iter().map(|r| r.id).collect::<Vec<_>>().len(),
        1,
        "only the valid op landed"
    );
}

#[test]
fn unknown_devices_and_wrong_tokens_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let device_id = ann.status().unwrap().device_id.unwrap();
    for (device, token) in [
        (Uuid::new_v4(), vec![0; 32]),
        (device_id, vec![1; 32]),
        (device_id, vec![]),
    ] {
        let raw = Raw::connect(server.addr, server.fingerprint);
        let hello = ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            device_id: device,
            token,
            client: "x".into(),
        });
        let (code, message) = refusal(raw.request(&hello));
        assert_eq!(code, ErrorCode::Unauthenticated);
        assert!(message.contains("enrol"), "{message}");
    }
    // A push without hello is refused and stores nothing.
    let raw = Raw::connect(server.addr, server.fingerprint);
    let (code, _) = refusal(raw.request(&ClientMessage::Push(Push { ops: vec![] })));
    assert_eq!(code, ErrorCode::UnexpectedMessage);
    // An old protocol version is told to update.
    let raw = Raw::connect(server.addr, server.fingerprint);
    let token = ann.device_token_for_tests().unwrap();
    let hello = ClientMessage::Hello(Hello {
        protocol_version: 1,
        device_id,
        token,
        client: "x".into(),
    });
    let (code, message) = refusal(raw.request(&hello));
    assert_eq!(code, ErrorCode::UnsupportedVersion);
    assert!(message.contains("update"), "{message}");
    assert!(server.admin().store().reports(false).unwrap().is_empty());
}

#[test]
fn an_enrolment_code_works_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let code = server.enrolment_code("ann");
    let first = gridwarden_client_core::Client::open(tmp.path().join("one")).unwrap();
    first.enroll(&code, "phone one").unwrap();
    let second = gridwarden_client_core::Client::open(tmp.path().join("two")).unwrap();
    let err = second.enroll(&code, "phone two").unwrap_err();
    assert!(err.to_string().contains("already used"), "{err}");
    assert!(!second.is_enrolled().unwrap());
    assert_eq!(server.admin().store().devices().unwrap().len(), 1);
    let garbage = second.enroll("not a code", "phone two").unwrap_err();
    assert!(garbage.to_string().contains("enrolment code"), "{garbage}");
}

#[test]
fn garbage_and_oversized_frames_drop_that_stream_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    server.add_user("bo", Role::Warden, &[]);
    let (raw, _) = hello_as(&server, "ann", &tmp.path().join("ann"));
    let bo = server.enrol(&tmp.path().join("bo"), "bo");
    let [(_, here), _] = server.two_cells();

    let (code, message) = refusal(raw.exchange(&[0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0xff]));
    assert_eq!(code, ErrorCode::BadFrame, "{message}");
    let (code, _) = refusal(raw.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(matches!(
        code,
        ErrorCode::FrameTooLarge | ErrorCode::BadFrame
    ));
    let (code, _) = refusal(raw.exchange(&[0, 0, 0]));
    assert_eq!(code, ErrorCode::BadFrame);
    // A frame that announces 100 MB: refused from the header alone.
    let (code, message) = refusal(raw.exchange(&(100u32 << 20).to_be_bytes()));
    assert_eq!(code, ErrorCode::FrameTooLarge);
    assert!(message.contains("limit"), "{message}");
    // Really sending more than the limit is cut off too.
    let big = vec![7u8; gridwarden_protocol::frame::DEFAULT_MAX_FRAME + 1024];
    let (code, _) = refusal(raw.exchange(&big));
    assert_eq!(code, ErrorCode::FrameTooLarge);

    // The same connection still serves a well-formed request...
    assert!(matches!(
        raw.request(&ClientMessage::Push(Push { ops: vec![] })),
        Ok(ServerMessage::Ack(_))
    ));
    // ...and other devices sync normally.
    bo.record_report(report_at("0101", here, "still fine"))
        .unwrap();
    assert_eq!(bo.sync().unwrap().pushed, 1);
    assert_eq!(server.admin().store().reports(false).unwrap().len(), 1);
}

#[test]
fn broken_geojson_is_refused_and_the_current_layer_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let admin = server.admin();
    let before = admin.store().grid_version().unwrap();
    let pattern = gridwarden_grid::CodePattern::default_15();
    let square = r#"[[[1,1],[2,1],[2,2],[1,2],[1,1]]]"#;
    let cases = [
        ("{ not json".to_string(), "line"),
        (
            format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":{square}}}}}]}}"#
            ),
            "code",
        ),
        (
            format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"code":90102001001001}},"geometry":{{"type":"Polygon","coordinates":{square}}}}}]}}"#
            ),
            // A number is a code only when its digits fit the pattern: this
            // one lost the leading zero of a 15-digit code.
            "does not match the code pattern",
        ),
        (
            format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"code":"12"}},"geometry":{{"type":"Polygon","coordinates":{square}}}}}]}}"#
            ),
            "12",
        ),
    ];
    for (text, needle) in cases {
        let err = gridwarden_server::admin::import_grid(&admin, &text, "bad", &pattern, false)
            .unwrap_err();
        assert!(format!("{err:#}").contains(needle), "{err:#}");
    }
    assert_eq!(
        admin.store().grid_version().unwrap(),
        before,
        "nothing imported"
    );
    assert!(server.admin().service.grid().unwrap().unwrap().len() >= 40);
}

#[test]
fn a_device_refuses_a_server_with_another_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let code = server.enrolment_code("ann");
    // An impostor with its own certificate on another port, same code otherwise.
    let impostor = TestServer::start(&tmp.path().join("impostor"));
    let forged = code.replace(&server.addr.to_string(), &impostor.addr.to_string());
    let device = gridwarden_client_core::Client::open(tmp.path().join("ann")).unwrap();
    let err = device.enroll(&forged, "phone").unwrap_err();
    assert!(
        matches!(err, ClientError::CertificateMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("contact IT"), "{err}");
    assert!(!device.is_enrolled().unwrap());
}
