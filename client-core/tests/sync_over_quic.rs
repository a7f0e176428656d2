//! The client against an in-process QUIC server: enrolment, pinning, push,
//! rejections and pull over real streams.

mod support;

use std::time::Duration;

use gridwarden_client_core::{Client, ClientError, Location, NewReport, ReportStatus};
use gridwarden_protocol::ErrorCode;
use support::fake_server::{FakeServer, ASSIGNED_CELL, REFUSED_CATEGORY, SECRET};

fn report(category: &str) -> NewReport {
    NewReport {
        category: category.into(),
        location: Location {
            lon: 111.605,
            lat: 40.805,
            accuracy_m: Some(3.0),
        },
        address: None,
        note: "cover missing".into(),
        observed_at_ms: 1_700_000_000_000,
        patrol: None,
    }
}

fn client(dir: &tempfile::TempDir) -> Client {
    Client::open(dir.path())
        .unwrap()
        .with_connect_timeout(Duration::from_secs(5))
}

#[test]
fn enrol_record_offline_then_sync() {
    let server = FakeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let client = client(&dir);

    let info = client.enroll(&server.code(SECRET), "test phone").unwrap();
    assert_eq!((info.user.as_str(), info.role.as_str()), ("ann", "warden"));
    assert_eq!(info.server, server.addr.to_string());
    assert_eq!(
        (info.categories_version, info.grid_version),
        (Some(1), Some(1))
    );

    // Reference data arrived with enrolment: the device works offline now.
    assert_eq!(client.categories().unwrap().unwrap().categories.len(), 2);
    assert_eq!(
        client.grid_cell_at(111.605, 40.805).unwrap().as_deref(),
        Some(ASSIGNED_CELL)
    );
    let err = client.record_report(report("9999")).unwrap_err();
    assert!(
        matches!(err, ClientError::UnknownCategory { .. }),
        "{err:?}"
    );

    let good = client.record_report(report("0101")).unwrap();
    let refused = client.record_report(report(REFUSED_CATEGORY)).unwrap();
    assert_eq!(
        client.show_report(good).unwrap().local_cell.as_deref(),
        Some(ASSIGNED_CELL)
    );

    let summary = client.sync().unwrap();
    assert_eq!(
        (summary.pushed, summary.duplicates, summary.pulled),
        (1, 0, 1)
    );
    assert_eq!(summary.rejected.len(), 1);
    assert_eq!(summary.rejected[0].report_id, refused);
    assert_eq!(summary.rejected[0].code, "forbidden");
    assert!(summary.bytes_sent > 0 && summary.bytes_received > 0);
    assert!(!summary.categories_updated, "versions were current");
    assert_eq!(client.outbox_len().unwrap(), 0);

    let shown = client.show_report(good).unwrap();
    assert_eq!(shown.status, ReportStatus::Synced);
    assert_eq!(shown.grid_cell.as_deref(), Some(ASSIGNED_CELL));
    assert_eq!(server.report(good).unwrap().note(), Some("cover missing"));
    assert!(client
        .show_report(refused)
        .unwrap()
        .status
        .to_string()
        .starts_with("rejected: "));

    // A second sync has nothing to push and resumes the pull from its cursor.
    let again = client.sync().unwrap();
    assert_eq!(
        (again.pushed, again.pulled, again.rejected.len()),
        (0, 0, 0)
    );
    assert_eq!(server.ops_seen(), 2);

    let err = client.enroll(&server.code(SECRET), "again").unwrap_err();
    assert!(
        matches!(err, ClientError::AlreadyEnrolled { .. }),
        "{err:?}"
    );
}

#[test]
fn a_refused_enrolment_code_stores_nothing() {
    let server = FakeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let client = client(&dir);
    match client
        .enroll(&server.code("wrongsecret"), "phone")
        .unwrap_err()
    {
        ClientError::Refused { code, message } => {
            assert_eq!(code, ErrorCode::EnrolmentRefused);
            assert!(message.contains("ask IT"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!client.is_enrolled().unwrap());
    let bad = client.enroll("not-a-code", "phone").unwrap_err();
    assert!(matches!(bad, ClientError::InvalidInput(_)), "{bad:?}");
}

#[test]
fn a_server_with_another_certificate_is_refused() {
    let real = FakeServer::start();
    let impostor = FakeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let client = client(&dir);
    // The code pins the real server's certificate but points at the impostor.
    let code = gridwarden_protocol::enrolment::EnrolmentCode {
        secret: SECRET.into(),
        fingerprint: real.fingerprint,
        server_addr: impostor.addr.to_string(),
    };
    let err = client.enroll(&code.encode(), "phone").unwrap_err();
    match &err {
        ClientError::CertificateMismatch {
            expected, actual, ..
        } => {
            assert_eq!(
                *expected,
                gridwarden_protocol::enrolment::hex(&real.fingerprint)
            );
            assert_eq!(
                *actual,
                gridwarden_protocol::enrolment::hex(&impostor.fingerprint)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("contact IT"), "{err}");
    assert!(!client.is_enrolled().unwrap());
    assert_eq!(impostor.ops_seen(), 0);
}

#[test]
fn a_stopped_server_leaves_reports_queued() {
    let server = FakeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let client = client(&dir).with_connect_timeout(Duration::from_millis(500));
    client.enroll(&server.code(SECRET), "phone").unwrap();
    drop(server);
    let id = client.record_report(report("0101")).unwrap();
    let err = client.sync().unwrap_err();
    assert!(err.is_offline(), "{err:?}");
    assert!(err.to_string().contains("kept on this device"), "{err}");
    assert_eq!(client.outbox_len().unwrap(), 1);
    assert_eq!(
        client.show_report(id).unwrap().status,
        ReportStatus::Pending
    );
}
