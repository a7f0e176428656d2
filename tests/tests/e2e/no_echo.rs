//! No echo on pull (issue 22), over real QUIC: a warden's phone that pushes
//! 300 new reports gets back only what the server added (the grid cell,
//! with each report's case), not the 300 reports it sent; her tablet, which
//! never held them, gets them whole; and afterwards the phone, the tablet
//! and the server hold the same state of every report.

use gridwarden_client_core::store::{reports, Store};
use gridwarden_client_core::CaseFilter;
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::Role;

const REPORTS: usize = 300;

/// A note of 12 characters, different for every report as wardens' notes
/// are. Notes that differ only by a number pack (protocol 4, ADR 0032) to
/// a few bytes a report, and the bytes would then no longer show the echo.
fn varied_note(i: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..12)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_u32(0x4E00 + (x % 3000) as u32).expect("a CJK ideograph")
        })
        .collect()
}

#[test]
fn a_sync_that_pushes_new_reports_does_not_pull_them_back_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    let (phone_home, tablet_home) = (tmp.path().join("phone"), tmp.path().join("tablet"));
    let phone = server.enrol(&phone_home, "ann");
    let tablet = server.enrol(&tablet_home, "ann");
    let ids: Vec<_> = (0..REPORTS)
        .map(|i| {
            phone
                .record_report(report_at("0101", here, &varied_note(i)))
                .unwrap()
        })
        .collect();

    let pushed = phone.sync().unwrap();
    assert_eq!(pushed.pushed, REPORTS as u64);
    assert_eq!(
        pushed.pulled, REPORTS as u64,
        "the server's part of each comes back"
    );
    let pulled = tablet.sync().unwrap();
    assert_eq!(pulled.pulled, REPORTS as u64);
    // The tablet's sync received the reports whole; the phone's carried its
    // acks and only the cells and cases. Before, the phone received more
    // than the tablet (the same records, plus the acks).
    println!(
        "a sync pushing {REPORTS} reports: {} B sent, {} B received; a device pulling them: {} B received",
        pushed.bytes_sent, pushed.bytes_received, pulled.bytes_received
    );
    assert!(
        pushed.bytes_received * 10 < pulled.bytes_received * 6,
        "the pushing device received {} B, the pulling one {} B",
        pushed.bytes_received,
        pulled.bytes_received
    );

    // Nothing is missing on the phone: the server's cell and each case.
    for client in [&phone, &tablet] {
        let views = client.list_reports().unwrap();
        assert_eq!(views.len(), REPORTS);
        assert!(views
            .iter()
            .all(|v| v.grid_cell.as_deref() == Some(cell.as_str())));
        assert_eq!(client.cases(&CaseFilter::default()).unwrap().len(), REPORTS);
    }
    drop((phone, tablet));
    let admin = server.admin();
    let phone = Store::open(&phone_home).unwrap();
    let tablet = Store::open(&tablet_home).unwrap();
    for id in ids {
        let on_server = admin.store().report(id).unwrap().unwrap();
        assert_eq!(
            reports::state(phone.conn(), id).unwrap(),
            Some(on_server.clone())
        );
        assert_eq!(reports::state(tablet.conn(), id).unwrap(), Some(on_server));
    }
}
