//! Nothing a warden recorded is stranded: a refused create sent again, a
//! "rejected" status that clears, reference data that fails to come.

use super::*;

fn refused(code: ErrorCode, reason: &str) -> Outcome {
    Outcome::Rejected {
        code,
        reason: reason.into(),
    }
}

fn report_ops(ops: &[Op]) -> Vec<(Uuid, &'static str)> {
    ops.iter()
        .map(|op| match &op.body {
            OpBody::Report { report_id, op } => (
                *report_id,
                match op {
                    ReportOp::Create(_) => "create",
                    ReportOp::Edit(_) => "edit",
                    ReportOp::AttachPhotos(_) => "attach",
                    ReportOp::Delete => "delete",
                },
            ),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Pushes the outbox, answers every op with `outcome`, pulls nothing.
fn sync_answering(client: &Client, outcome: impl Fn(&Op) -> Outcome) -> (Vec<Op>, SyncSummary) {
    let mut engine = start(client);
    let ops = expect_push(feed(&mut engine, client, welcome(1, 1)));
    let results = ops.iter().map(|op| (op.op_id, outcome(op))).collect();
    expect_pull(feed(&mut engine, client, ack(results)));
    let summary = expect_done(feed(&mut engine, client, page(vec![], b"", false)));
    (ops, summary)
}

fn is_rejected(client: &Client, id: Uuid) -> bool {
    let listed = client.list_reports().unwrap();
    let view = listed.iter().find(|r| r.id == id).expect("listed");
    matches!(view.status, ReportStatus::Rejected { .. })
}

#[test]
fn a_refused_create_edited_to_another_category_is_sent_again_whole_under_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    let (first, summary) = sync_answering(&client, |_| {
        refused(ErrorCode::UnknownCategory, "category 0101 was removed")
    });
    assert_eq!(summary.rejected.len(), 1);
    assert!(is_rejected(&client, id), "kept here, with its reason");

    // Edited to a category the server has: a new create, not an edit of a
    // report the server does not know.
    client
        .edit_report(
            id,
            ReportEdit {
                category: Some("0102".into()),
                ..ReportEdit::default()
            },
        )
        .unwrap();
    let mut engine = start(&client);
    let again = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(report_ops(&again), vec![(id, "create")]);
    assert_ne!(again[0].op_id, first[0].op_id, "a new op id");
    let OpBody::Report {
        op: ReportOp::Create(sent),
        ..
    } = &again[0].body
    else {
        unreachable!()
    };
    assert_eq!(sent.category, "0102");
    assert_eq!(sent.note, "manhole cover missing", "the rest as recorded");
    assert_eq!(sent.observed_at_ms, 1_700_000_000_000);
    assert_eq!(
        client.show_report(id).unwrap().status,
        ReportStatus::Pending
    );

    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(again[0].op_id, Outcome::Applied)]),
    ));
    expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    let view = client.show_report(id).unwrap();
    assert_eq!(view.status, ReportStatus::Synced, "back in step, shown");
    assert_eq!(view.category, "0102");
    assert!(client.resend_report(id).is_err(), "nothing left to resend");
}

#[test]
fn a_refused_create_is_resent_as_it_stands_or_deleted_here_alone() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let kept = client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    let dropped = client
        .record_report(new_report("0102", 111.605, 40.805))
        .unwrap();
    sync_answering(&client, |_| {
        refused(ErrorCode::Forbidden, "the server was not ready")
    });
    client.resend_report(kept).unwrap();
    client.delete_report(dropped).unwrap();
    assert!(
        client.show_report(dropped).is_err(),
        "never on the server: gone"
    );
    let (ops, summary) = sync_answering(&client, |_| Outcome::Applied);
    assert_eq!(report_ops(&ops), vec![(kept, "create")], "no delete sent");
    assert_eq!(summary.pushed, 1);
    assert_eq!(
        client.show_report(kept).unwrap().status,
        ReportStatus::Synced
    );
}

#[test]
fn a_refused_edit_marks_its_report_until_the_refusal_was_shown() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    sync_answering(&client, |_| Outcome::Applied);
    client
        .edit_report(
            id,
            ReportEdit {
                note: Some("not mine to change".into()),
                ..ReportEdit::default()
            },
        )
        .unwrap();
    sync_answering(&client, |_| refused(ErrorCode::Forbidden, "not yours"));

    // Rolled back, so in step; but not yet shown: still marked, in lists
    // as often as they are read.
    assert!(is_rejected(&client, id));
    assert!(is_rejected(&client, id));
    let shown = client.show_report(id).unwrap();
    assert_eq!(shown.note, "manhole cover missing", "the edit undone");
    assert!(
        matches!(shown.status, ReportStatus::Rejected { ref reason, .. } if reason == "not yours")
    );
    // Shown once and in step: synced from now on.
    assert!(!is_rejected(&client, id));
    assert_eq!(client.rejections().unwrap().len(), 1, "the history stays");
}

#[test]
fn a_refusal_listed_in_rejections_counts_as_shown_but_an_unsent_report_stays_marked() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    sync_answering(&client, |_| refused(ErrorCode::Forbidden, "no"));
    assert_eq!(client.rejections().unwrap().len(), 1);
    assert!(
        is_rejected(&client, id),
        "a refused create the server never held is not in step"
    );
}

#[test]
fn a_failing_category_fetch_does_not_hold_the_push_back() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    let mut engine = start(&client);
    match feed(&mut engine, &client, welcome(2, 1)) {
        Step::Send(ClientMessage::FetchReference(_)) => {}
        other => panic!("{other:?}"),
    }
    let failure = ServerMessage::error(ErrorCode::Internal, "the category table is unreadable");
    let ops = expect_push(feed(&mut engine, &client, failure));
    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(ops[0].op_id, Outcome::Applied)]),
    ));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    assert_eq!(summary.pushed, 1);
    assert!(!summary.categories_updated);
    assert_eq!(summary.reference_errors.len(), 1);
    assert!(
        summary.reference_errors[0].contains("the category table is unreadable"),
        "{:?}",
        summary.reference_errors
    );
    // The cached table stays, and the next sync asks again.
    assert_eq!(client.categories().unwrap().unwrap().version, 1);
    let mut again = start(&client);
    match feed(&mut again, &client, welcome(2, 1)) {
        Step::Send(ClientMessage::FetchReference(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failing_cell_fetch_does_not_hold_the_push_back() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    let mut engine = start(&client);
    match feed(&mut engine, &client, welcome(1, 2)) {
        Step::Send(ClientMessage::FetchCells(_)) => {}
        other => panic!("{other:?}"),
    }
    let failure = ServerMessage::error(ErrorCode::Internal, "the layer is unreadable");
    let ops = expect_push(feed(&mut engine, &client, failure));
    assert_eq!(ops.len(), 1);
    assert_eq!(engine.summary().reference_errors.len(), 1);
    // Enrolment's short conversation still fails on it: nothing to push.
    let (mut enrolling, _) =
        SyncEngine::after_enrolment(DEVICE, gridwarden_protocol::clock::system());
    let mut store = client.lock_store();
    let failure = ServerMessage::error(ErrorCode::Internal, "unreadable");
    assert!(enrolling.handle(&mut store, failure).is_err());
}

#[test]
fn a_photo_refused_as_too_large_is_the_photos_refusal_not_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let source = dir.path().join("big.jpg");
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(4096, 7);
    std::fs::write(&source, &bytes).unwrap();
    let id = client
        .record_report_with_photos(new_report("0101", 111.605, 40.805), &[source])
        .unwrap();
    let (ops, summary) = sync_answering(&client, |op| match &op.body {
        OpBody::Report {
            op: ReportOp::AttachPhotos(_),
            ..
        } => refused(
            ErrorCode::PhotoTooLarge,
            "photo is 4 KB; this server takes 1 KB",
        ),
        _ => Outcome::Applied,
    });
    assert_eq!(report_ops(&ops), vec![(id, "create"), (id, "attach")]);
    assert!(summary.rejected.is_empty(), "{summary:?}");
    assert_eq!(
        summary.photos_refused,
        vec!["photo is 4 KB; this server takes 1 KB".to_owned()]
    );
    let view = client.show_report(id).unwrap();
    assert_eq!(view.status, ReportStatus::Synced);
    assert!(
        view.photos.is_empty(),
        "rolled back to what the server holds"
    );
    let hash = gridwarden_protocol::PhotoHash::of(&bytes);
    let stored = photos::get(client.lock_store().conn(), hash)
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, PhotoState::Refused);
}

#[test]
fn a_too_large_photo_among_others_is_refused_alone_and_the_others_go_again() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let files: Vec<std::path::PathBuf> = (0..3u8)
        .map(|i| {
            let source = dir.path().join(format!("p{i}.jpg"));
            let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
            bytes.resize(if i == 1 { 8192 } else { 1024 }, i);
            std::fs::write(&source, &bytes).unwrap();
            source
        })
        .collect();
    let big = gridwarden_protocol::PhotoHash::of(&std::fs::read(&files[1]).unwrap());
    let id = client
        .record_report_with_photos(new_report("0101", 111.605, 40.805), &files)
        .unwrap();
    let reason = "photo is 8 KB; this server takes 4 KB";
    let mut engine = start(&client);
    let first = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(report_ops(&first), vec![(id, "create"), (id, "attach")]);
    let results = first
        .iter()
        .map(|op| match &op.body {
            OpBody::Report {
                op: ReportOp::AttachPhotos(_),
                ..
            } => (op.op_id, refused(ErrorCode::PhotoTooLarge, reason)),
            _ => (op.op_id, Outcome::Applied),
        })
        .collect();
    // The answer does not say which: each photo goes again alone, in the
    // same sync.
    let again = expect_push(feed(&mut engine, &client, ack(results)));
    assert_eq!(report_ops(&again), vec![(id, "attach"); 3]);
    let results = again
        .iter()
        .map(|op| match &op.body {
            OpBody::Report {
                op: ReportOp::AttachPhotos(p),
                ..
            } if p.len() == 1 && p[0].hash == big => {
                (op.op_id, refused(ErrorCode::PhotoTooLarge, reason))
            }
            OpBody::Report {
                op: ReportOp::AttachPhotos(p),
                ..
            } if p.len() == 1 => (op.op_id, Outcome::Applied),
            other => panic!("{other:?}"),
        })
        .collect();
    expect_pull(feed(&mut engine, &client, ack(results)));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    assert!(summary.rejected.is_empty(), "{summary:?}");
    assert_eq!(summary.photos_refused, vec![reason.to_owned()]);

    // The refusal is listed with the others; the report is not "rejected".
    let listed = client.rejections().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].report_id, listed[0].code.as_str()),
        (id, "photo_too_large")
    );
    assert!(!is_rejected(&client, id));
    let view = client.show_report(id).unwrap();
    assert_eq!(view.status, ReportStatus::Synced);
    let mut shown: Vec<_> = view.photos.iter().map(|p| p.state.as_str()).collect();
    shown.sort();
    assert_eq!(shown, vec!["ready", "ready"], "the two others, to upload");
    assert!(view.photos.iter().all(|p| p.hash != big.to_hex()));
    let stored = photos::get(client.lock_store().conn(), big)
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.state, stored.reason.as_deref()),
        (PhotoState::Refused, Some(reason))
    );
}
