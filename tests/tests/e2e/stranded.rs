//! Nothing a warden recorded is stranded (issue 21), over real QUIC with a
//! real server: a create refused because IT removed its category stays on
//! the phone with the reason, is edited and arrives once; a refused edit
//! marks its report only until the refusal was shown; a server that cannot
//! send its reference data still takes the records.

use std::path::Path;

use gridwarden_client_core::view::ReportStatus;
use gridwarden_client_core::{Client, ReportEdit};
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::Role;
use gridwarden_server::admin::grids::{self, GridImport, ImportOutcome};
use gridwarden_server::admin::workflow::import_categories;
use gridwarden_server::datadir::DEFAULT_CATEGORIES;
use uuid::Uuid;

/// Imports the bundled category table without `removed`, as IT would.
fn remove_category(server: &TestServer, dir: &Path, removed: &str) {
    let mut table: serde_json::Value = serde_json::from_str(DEFAULT_CATEGORIES).unwrap();
    table["categories"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["code"] != removed);
    let file = dir.join(format!("categories-without-{removed}.json"));
    std::fs::write(&file, table.to_string()).unwrap();
    import_categories(&server.admin(), &file).unwrap();
}

fn status_in_list(client: &Client, id: Uuid) -> ReportStatus {
    let list = client.list_reports().unwrap();
    list.into_iter()
        .find(|r| r.id == id)
        .expect("the report is on the phone")
        .status
}

fn category(code: &str) -> ReportEdit {
    ReportEdit {
        category: Some(code.into()),
        ..ReportEdit::default()
    }
}

#[test]
fn a_create_refused_for_a_removed_category_stays_is_edited_and_arrives_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("sam", Role::Supervisor, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let sam = server.enrol(&tmp.path().join("sam"), "sam");

    // Recorded offline with a category IT removes before the phone syncs.
    let id = ann
        .record_report(report_at("0110", here, "recorded in the basement"))
        .unwrap();
    remove_category(&server, tmp.path(), "0110");
    let summary = ann.sync().unwrap();
    assert_eq!(summary.pushed, 0);
    assert_eq!(summary.rejected.len(), 1, "{summary:?}");
    assert_eq!(summary.rejected[0].code, "unknown_category");
    assert!(server.admin().store().report(id).unwrap().is_none());
    match status_in_list(&ann, id) {
        ReportStatus::Rejected { code, reason } => {
            assert_eq!(code, "unknown_category");
            assert!(reason.contains("0110"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The phone took the new table with the same sync: the old code is now
    // refused on the phone, with the codes it has.
    assert!(ann.resend_report(id).is_err());

    // Edited to a category the server has, sent again: it arrives.
    ann.edit_report(id, category("0101")).unwrap();
    assert_eq!(status_in_list(&ann, id), ReportStatus::Pending);
    let summary = ann.sync().unwrap();
    assert_eq!(
        (summary.pushed, summary.rejected.len()),
        (1, 0),
        "{summary:?}"
    );
    assert_eq!(status_in_list(&ann, id), ReportStatus::Synced);
    let held = server.admin().store().report(id).unwrap().unwrap();
    assert_eq!(held.category(), Some("0101"));
    assert_eq!(held.note(), Some("recorded in the basement"));
    assert!(held.grid_cell().is_some());

    // Once: nothing goes again, and the supervisor sees one report.
    let summary = ann.sync().unwrap();
    assert_eq!((summary.pushed, summary.duplicates), (0, 0));
    sam.sync().unwrap();
    let seen: Vec<_> = sam
        .list_reports()
        .unwrap()
        .into_iter()
        .filter(|r| r.id == id)
        .collect();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].category, "0101");
    assert_eq!(seen[0].note, "recorded in the basement");
}

#[test]
fn a_refused_edit_marks_its_report_until_the_refusal_was_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let id = ann
        .record_report(report_at("0101", here, "a loose cover"))
        .unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 1);

    // Edited offline to a category IT removes meanwhile.
    ann.edit_report(id, category("0102")).unwrap();
    remove_category(&server, tmp.path(), "0102");
    let summary = ann.sync().unwrap();
    assert_eq!(summary.rejected.len(), 1, "{summary:?}");

    // The edit is undone; the report says why, however often it is listed,
    // until the warden opens it.
    for _ in 0..2 {
        assert!(matches!(
            status_in_list(&ann, id),
            ReportStatus::Rejected { .. }
        ));
    }
    let opened = ann.show_report(id).unwrap();
    assert_eq!(opened.category, "0101");
    assert!(matches!(opened.status, ReportStatus::Rejected { .. }));
    assert_eq!(status_in_list(&ann, id), ReportStatus::Synced);
    let summary = ann.sync().unwrap();
    assert_eq!((summary.pushed, summary.rejected.len()), (0, 0));
    assert_eq!(status_in_list(&ann, id), ReportStatus::Synced);
    assert_eq!(ann.rejections().unwrap().len(), 1, "the history stays");
}

/// The sample layer with one cell renamed: a new version of the layer.
fn another_layer() -> String {
    let sample = include_str!("../../../server/data/sample-grid.geojson");
    let mut layer: serde_json::Value = serde_json::from_str(sample).unwrap();
    let first = &mut layer["features"].as_array_mut().unwrap()[0];
    first["properties"]["code"] = serde_json::json!("990102009009009");
    layer.to_string()
}

#[test]
fn a_server_that_cannot_send_its_grid_still_takes_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(_, here), _] = server.two_cells();
    // A warden without cells of her own holds the whole layer's display
    // shapes, which the server keeps apart from the cells it assigns with.
    server.add_user("ann", Role::Warden, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let ids: Vec<Uuid> = (0..3)
        .map(|i| {
            ann.record_report(report_at("0101", here, &format!("report {i}")))
                .unwrap()
        })
        .collect();

    // IT imports a new layer whose display shapes the server cannot read
    // (a damaged row): it announces the version and fails to send it.
    let how = GridImport {
        name: "district v2",
        pattern: &gridwarden_grid::CodePattern::default_15(),
        fields: &gridwarden_grid::Fields::default(),
        apply: true,
        reassign: false,
        dry_run: false,
    };
    let outcome = grids::import(&server.admin(), another_layer().as_bytes(), &how).unwrap();
    assert!(matches!(outcome, ImportOutcome::Imported(_)));
    let db = server.data_dir.join(gridwarden_server::datadir::DB_FILE);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    let saved: Vec<(Vec<u8>, Vec<u8>)> = conn
        .prepare("SELECT hash, shapes FROM grid_cell_data")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    conn.execute("UPDATE grid_cell_data SET shapes = x'00'", [])
        .unwrap();
    let (grid_before, _) = ann.grid_cells_held().unwrap();

    let summary = ann.sync().unwrap();
    assert_eq!(summary.pushed, 3, "{summary:?}");
    assert_eq!(summary.reference_errors.len(), 1, "{summary:?}");
    assert!(
        summary.reference_errors[0].starts_with("grid cells not updated"),
        "{:?}",
        summary.reference_errors
    );
    for id in &ids {
        let held = server.admin().store().report(*id).unwrap().unwrap();
        assert!(held.grid_cell().is_some(), "assigned all the same");
    }
    assert_eq!(ann.outbox_len().unwrap(), 0);
    assert_eq!(ann.grid_cells_held().unwrap().0, grid_before);

    // Repaired: the next sync takes the new layer.
    for (hash, shapes) in &saved {
        conn.execute(
            "UPDATE grid_cell_data SET shapes = ?2 WHERE hash = ?1",
            rusqlite::params![hash, shapes],
        )
        .unwrap();
    }
    let summary = ann.sync().unwrap();
    assert!(summary.reference_errors.is_empty(), "{summary:?}");
    assert!(summary.grid_updated);
    assert!(ann
        .grid_cells_held()
        .unwrap()
        .0
        .contains(&"990102009009009".to_owned()));
}
