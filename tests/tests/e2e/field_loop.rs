//! The field-to-server loop: record offline, sync, assign cells, scoped pull.

use std::collections::HashSet;

use gridwarden_client_core::Client;
use gridwarden_e2e::{nowhere, report_at, TestServer};
use gridwarden_protocol::Role;

#[test]
fn wardens_record_offline_and_a_supervisor_pulls_each_report_once_with_its_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell_a, in_a), (cell_b, in_b)] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell_a]);
    server.add_user("bo", Role::Warden, &[&cell_b]);
    server.add_user("sam", Role::Supervisor, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let bo = server.enrol(&tmp.path().join("bo"), "bo");
    let sam = server.enrol(&tmp.path().join("sam"), "sam");

    // The server goes down; the wardens keep working.
    server.stop();
    let mut ann_ids = Vec::new();
    for i in 0..5 {
        ann_ids.push(
            ann.record_report(report_at("0101", in_a, &format!("ann {i}")))
                .unwrap(),
        );
    }
    let mut bo_ids = Vec::new();
    for i in 0..4 {
        bo_ids.push(
            bo.record_report(report_at("1102", in_b, &format!("bo {i}")))
                .unwrap(),
        );
    }
    // Anyone may report anywhere: bo passes through ann's cell.
    let bo_in_a = bo
        .record_report(report_at("0201", in_a, "bo in a"))
        .unwrap();
    let bo_lost = bo
        .record_report(report_at("1901", nowhere(), "far away"))
        .unwrap();
    let offline = ann.sync().unwrap_err();
    assert!(offline.is_offline(), "{offline}");
    assert_eq!(
        ann.outbox_len().unwrap(),
        5,
        "nothing leaves the outbox while offline"
    );
    assert_eq!(
        ann.show_report(ann_ids[0]).unwrap().local_cell.as_deref(),
        Some(cell_a.as_str()),
        "offline guess"
    );

    server.restart();
    let pushed_ann = ann.sync().unwrap();
    let pushed_bo = bo.sync().unwrap();
    assert_eq!((pushed_ann.pushed, pushed_ann.rejected.len()), (5, 0));
    assert_eq!((pushed_bo.pushed, pushed_bo.rejected.len()), (6, 0));
    assert_eq!(ann.outbox_len().unwrap() + bo.outbox_len().unwrap(), 0);

    let first = sam.sync().unwrap();
    assert_eq!(first.pulled, 11);
    let seen = sam.list_reports().unwrap();
    assert_eq!(seen.len(), 11);
    assert_eq!(
        seen.iter().map(|r| r.id).collect::<HashSet<_>>().len(),
        11,
        "each report exactly once"
    );
    for id in &ann_ids {
        let r = sam.show_report(*id).unwrap();
        assert_eq!(
            (r.grid_cell.as_deref(), r.reporter.as_str()),
            (Some(cell_a.as_str()), "ann")
        );
    }
    for id in &bo_ids {
        assert_eq!(
            sam.show_report(*id).unwrap().grid_cell.as_deref(),
            Some(cell_b.as_str())
        );
    }
    assert_eq!(
        sam.show_report(bo_in_a).unwrap().grid_cell.as_deref(),
        Some(cell_a.as_str())
    );
    assert_eq!(
        sam.show_report(bo_lost).unwrap().grid_cell,
        None,
        "outside every cell: unassigned"
    );
    let unassigned = server.admin().store().reports(true).unwrap();
    assert_eq!(
        unassigned.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![bo_lost]
    );

    // Syncing again changes nothing anywhere.
    let before = server.admin().store().reports(false).unwrap();
    for client in [&ann, &bo, &sam] {
        let again = client.sync().unwrap();
        assert_eq!((again.pushed, again.duplicates), (0, 0));
        if std::ptr::eq(client, &sam) {
            assert_eq!(again.pulled, 0, "a supervisor pulls nothing twice");
        }
    }
    assert_eq!(server.admin().store().reports(false).unwrap(), before);

    // The server restarted keeps everything; a new supervisor device sees it all.
    server.restart();
    let sam2 = server.enrol(&tmp.path().join("sam2"), "sam");
    assert_eq!(sam2.sync().unwrap().pulled, 11);

    // A warden pulls only their own cells' reports and their own reports.
    let ann_view: HashSet<_> = ann
        .list_reports()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let expected: HashSet<_> = ann_ids.iter().copied().chain([bo_in_a]).collect();
    assert_eq!(ann_view, expected);
    let bo_view: HashSet<_> = bo
        .list_reports()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        bo_view.len(),
        6,
        "bo sees his own reports, wherever they lie"
    );
}

#[test]
fn a_device_killed_before_the_ack_was_stored_repushes_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    let home = tmp.path().join("ann");
    let ann = server.enrol(&home, "ann");
    for i in 0..20 {
        ann.record_report(report_at("0101", here, &format!("{i}")))
            .unwrap();
    }
    // Copy the device's database before the sync: it is the state of a phone
    // killed after the server applied the push but before it stored the ack.
    let snapshot = tmp.path().join("ann-snapshot");
    drop(ann);
    copy_dir(&home, &snapshot);
    let ann = Client::open(&home).unwrap();
    assert_eq!(ann.sync().unwrap().pushed, 20);
    drop(ann);

    let revived = Client::open(&snapshot).unwrap();
    assert_eq!(revived.outbox_len().unwrap(), 20);
    let again = revived.sync().unwrap();
    assert_eq!((again.pushed, again.duplicates), (0, 20));
    assert_eq!(revived.outbox_len().unwrap(), 0);
    assert_eq!(
        server.admin().store().reports(false).unwrap().len(),
        20,
        "nothing duplicated"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn an_admin_change_on_the_data_directory_reaches_the_running_server_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("sam", Role::Supervisor, &[]);
    let sam = server.enrol(&tmp.path().join("sam"), "sam");
    // A report far from the sample district stays unassigned...
    let id = sam
        .record_report(report_at("0101", gridwarden_e2e::nowhere(), "paris"))
        .unwrap();
    sam.sync().unwrap();
    assert_eq!(sam.show_report(id).unwrap().grid_cell, None);
    // ...until IT imports a layer covering it, with the server still running.
    let layer = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
        "properties":{"code":"750101001001001","name":"Paris test cell"},
        "geometry":{"type":"Polygon","coordinates":[[[2.3,48.8],[2.4,48.8],[2.4,48.9],[2.3,48.9],[2.3,48.8]]]}}]}"#;
    let pattern = gridwarden_grid::CodePattern::default_15();
    let summary =
        gridwarden_server::admin::import_grid(&server.admin(), layer, "paris", &pattern, false)
            .unwrap();
    assert_eq!(
        (
            summary.cells,
            summary.reports_assigned,
            summary.reports_unassigned
        ),
        (1, 1, 0)
    );
    let pulled = sam.sync().unwrap();
    assert!(pulled.grid_updated, "the device picks up the new layer");
    assert_eq!(
        sam.show_report(id).unwrap().grid_cell.as_deref(),
        Some("750101001001001")
    );
    // A new report is assigned against the new layer at once.
    let id2 = sam
        .record_report(report_at("0101", gridwarden_e2e::nowhere(), "paris 2"))
        .unwrap();
    assert_eq!(
        sam.show_report(id2).unwrap().local_cell.as_deref(),
        Some("750101001001001")
    );
    sam.sync().unwrap();
    assert_eq!(
        sam.show_report(id2).unwrap().grid_cell.as_deref(),
        Some("750101001001001")
    );
}

#[test]
fn a_refused_edit_comes_back_with_its_reason_and_leaves_no_trace() {
    use gridwarden_client_core::{ReportEdit, ReportStatus};
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell_a, in_a), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell_a]);
    server.add_user("bo", Role::Warden, &[]);
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let bo = server.enrol(&tmp.path().join("bo"), "bo");
    let theirs = bo
        .record_report(report_at("0101", in_a, "bo saw it"))
        .unwrap();
    bo.sync().unwrap();
    let mine = ann
        .record_report(report_at("0101", in_a, "ann saw it"))
        .unwrap();
    ann.sync().unwrap();

    // Offline, ann edits her own report and tries to edit and delete bo's.
    let edit = |note: &str| ReportEdit {
        note: Some(note.into()),
        ..Default::default()
    };
    ann.edit_report(mine, edit("ann: cover replaced")).unwrap();
    ann.edit_report(theirs, edit("ann: not bo's any more"))
        .unwrap();
    ann.delete_report(theirs).unwrap();
    assert!(
        ann.show_report(theirs).unwrap().deleted,
        "locally the change shows at once"
    );

    let summary = ann.sync().unwrap();
    assert_eq!(summary.pushed, 1, "her own edit lands");
    assert_eq!(summary.rejected.len(), 2);
    for r in &summary.rejected {
        assert_eq!(r.report_id, theirs);
        assert!(r.reason.contains("only bo"), "{}", r.reason);
    }
    let shown = ann.show_report(theirs).unwrap();
    assert_eq!(
        (shown.note.as_str(), shown.deleted),
        ("bo saw it", false),
        "rolled back to the server's state"
    );
    assert!(
        matches!(shown.status, ReportStatus::Rejected { .. }),
        "{:?}",
        shown.status
    );
    assert_eq!(ann.show_report(mine).unwrap().note, "ann: cover replaced");

    // The server and bo never saw the refused changes.
    let stored = server.admin().store().report(theirs).unwrap().unwrap();
    assert_eq!(
        (stored.note(), stored.is_deleted()),
        (Some("bo saw it"), false)
    );
    bo.sync().unwrap();
    assert_eq!(bo.show_report(theirs).unwrap().note, "bo saw it");
    // And ann converges with the server on the report she may not change.
    ann.sync().unwrap();
    assert_eq!(ann.show_report(theirs).unwrap().note, "bo saw it");
}
