//! The engine fed crafted server messages against a temp store: no network.

use gridwarden_protocol::{
    ErrorCode, Hlc, OpBody, OpResult, ReportEdit, ReportOp, ReportState, Role,
};

use gridwarden_protocol::PROTOCOL_VERSION;

use super::*;
use crate::testutil::*;
use crate::time::now_ms;
use crate::view::ReportStatus;
use crate::Client;

fn welcome(categories_version: u64, grid_version: u64) -> ServerMessage {
    ServerMessage::Welcome(Welcome {
        protocol_version: PROTOCOL_VERSION,
        server_time_ms: now_ms(),
        user: "ann".into(),
        role: Role::Liaison,
        cells: vec!["150102001001001".into()],
        categories_version,
        grid_version,
        limits: gridwarden_protocol::DeviceLimits::unknown(),
        store_epoch: Uuid::nil(),
        update_required_by_ms: None,
    })
}

/// The server's refusal of an op stamped with a runaway clock.
fn skew() -> Outcome {
    Outcome::Rejected {
        code: ErrorCode::ClockSkew,
        reason: "clock ahead".into(),
    }
}

fn server_hlc() -> Hlc {
    Hlc::new(now_ms(), 0, 0)
}

fn ack(results: Vec<(Uuid, Outcome)>) -> ServerMessage {
    ServerMessage::Ack(Ack {
        results: results
            .into_iter()
            .map(|(op_id, outcome)| OpResult { op_id, outcome })
            .collect(),
        server_hlc: server_hlc(),
    })
}

fn page(records: Vec<ReportState>, cursor: &[u8], more: bool) -> ServerMessage {
    ServerMessage::PullPage(PullPage {
        records: records.into_iter().map(Record::Report).collect(),
        cursor: Cursor(cursor.to_vec()),
        more,
    })
}

/// An enrolled client whose cached reference versions match `welcome(1, 1)`.
fn client_in(dir: &std::path::Path) -> Client {
    let client = enrolled_client(dir);
    cache_reference(
        &client,
        Some(&category_table(1)),
        Some(&grid_layer(1, "A", "B")),
    );
    client
}

fn start(client: &Client) -> SyncEngine {
    let store = client.lock_store();
    let (engine, hello) =
        SyncEngine::start(&store, "test", gridwarden_protocol::clock::system()).unwrap();
    match hello {
        ClientMessage::Hello(h) => {
            assert_eq!(h.device_id, DEVICE);
            assert_eq!(h.token, vec![7; 32]);
            assert_eq!(h.protocol_version, PROTOCOL_VERSION);
        }
        other => panic!("{other:?}"),
    }
    engine
}

fn feed(engine: &mut SyncEngine, client: &Client, message: ServerMessage) -> Step {
    let mut store = client.lock_store();
    engine.handle(&mut store, message).unwrap()
}

fn expect_push(step: Step) -> Vec<Op> {
    match step {
        Step::Send(ClientMessage::Push(p)) => p.ops,
        other => panic!("expected a push, got {other:?}"),
    }
}

fn expect_pull(step: Step) -> Pull {
    match step {
        Step::Send(ClientMessage::Pull(p)) => p,
        other => panic!("expected a pull, got {other:?}"),
    }
}

fn expect_done(step: Step) -> SyncSummary {
    match step {
        Step::Done(s) => s,
        other => panic!("expected done, got {other:?}"),
    }
}

use gridwarden_protocol::Op;

fn op_ids(ops: &[Op]) -> Vec<Uuid> {
    ops.iter().map(|o| o.op_id).collect()
}

fn queued(client: &Client) -> Vec<Uuid> {
    outbox::op_ids(client.lock_store().conn()).unwrap()
}

#[test]
fn a_full_sync_pushes_acks_and_pulls_to_done() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    let mut engine = start(&client);

    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(ops.len(), 1);
    let pull = expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(ops[0].op_id, Outcome::Applied)]),
    ));
    assert_eq!(pull.cursor, Cursor::start());
    assert_eq!(
        (pull.max_records, pull.max_bytes),
        (PULL_MAX_RECORDS, PULL_MAX_BYTES)
    );

    // The server echoes the report with its grid cell assigned.
    let mut echoed = client
        .lock_store()
        .conn()
        .query_row("SELECT state FROM reports", [], |r| r.get::<_, Vec<u8>>(0))
        .map(|b| gridwarden_protocol::codec::decode::<ReportState>(&b).unwrap())
        .unwrap();
    echoed.set_grid_cell(Some("150102001001001".into()), server_hlc());
    let summary = expect_done(feed(&mut engine, &client, page(vec![echoed], b"c1", false)));
    assert!(engine.is_done());
    assert_eq!(
        (
            summary.pushed,
            summary.duplicates,
            summary.pulled,
            summary.pending
        ),
        (1, 0, 1, 0)
    );
    assert!(summary.rejected.is_empty());

    let shown = client.show_report(id).unwrap();
    assert_eq!(shown.status, ReportStatus::Synced);
    assert_eq!(shown.grid_cell.as_deref(), Some("150102001001001"));
    assert_eq!(
        shown.local_cell.as_deref(),
        Some("A"),
        "the device guess is kept beside it"
    );
    let status = client.status().unwrap();
    assert_eq!(
        status.role.as_deref(),
        Some("liaison"),
        "Welcome updates the role"
    );
    assert_eq!(status.cells, vec!["150102001001001".to_string()]);
    assert_eq!(status.pull_cursor, "6331");
    assert!(status.last_sync_ms.is_some());
}

#[test]
fn an_ack_removes_exactly_the_acked_ops() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    for _ in 0..3 {
        client
            .record_report(new_report("0101", 111.6, 40.8))
            .unwrap();
    }
    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(op_ids(&ops), queued(&client), "pushed in outbox order");

    // The server answers two of three (and names a stranger, ignored).
    let step = feed(
        &mut engine,
        &client,
        ack(vec![
            (ops[0].op_id, Outcome::Applied),
            (Uuid::now_v7(), Outcome::Applied),
            (ops[2].op_id, Outcome::Duplicate),
        ]),
    );
    assert_eq!(queued(&client), vec![ops[1].op_id]);
    // The unanswered op is not re-sent in a loop: the sync moves on to pull.
    expect_pull(step);
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    assert_eq!(
        (summary.pushed, summary.duplicates, summary.pending),
        (1, 1, 1)
    );
}

#[test]
fn a_rejected_op_leaves_the_outbox_and_its_reason_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    let rejected = Outcome::Rejected {
        code: ErrorCode::Forbidden,
        reason: "wardens may not report outside their cells".into(),
    };
    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(ops[0].op_id, rejected)]),
    ));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));

    assert_eq!(summary.pushed, 0);
    assert_eq!(summary.rejected.len(), 1);
    let r = &summary.rejected[0];
    assert_eq!(
        (r.op_id, r.report_id, r.code.as_str()),
        (ops[0].op_id, id, "forbidden")
    );
    assert!(queued(&client).is_empty());
    assert_eq!(client.rejections().unwrap(), summary.rejected);
    assert_eq!(
        client.show_report(id).unwrap().status.to_string(),
        "rejected: wardens may not report outside their cells"
    );
}

#[test]
fn pushing_the_same_ops_again_after_a_lost_ack_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();

    // First sync: the push goes out but the ack never arrives.
    let mut lost = start(&client);
    let first = expect_push(feed(&mut lost, &client, welcome(1, 1)));
    drop(lost);
    assert_eq!(
        queued(&client),
        op_ids(&first),
        "nothing leaves without an ack"
    );

    // Second sync sends the very same ops; the server says Duplicate.
    let mut engine = start(&client);
    let second = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(second, first);
    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(second[0].op_id, Outcome::Duplicate)]),
    ));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    assert_eq!((summary.pushed, summary.duplicates), (0, 1));
    assert!(queued(&client).is_empty());
}

#[test]
fn the_outbox_goes_in_batches_of_at_most_500() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    for _ in 0..(MAX_PUSH_OPS + 1) {
        client
            .record_report(new_report("0101", 111.6, 40.8))
            .unwrap();
    }
    let mut engine = start(&client);
    let batch1 = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(batch1.len(), MAX_PUSH_OPS);
    let results = batch1.iter().map(|o| (o.op_id, Outcome::Applied)).collect();
    let batch2 = expect_push(feed(&mut engine, &client, ack(results)));
    assert_eq!(batch2.len(), 1);
    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(batch2[0].op_id, Outcome::Applied)]),
    ));
    assert!(queued(&client).is_empty());
}

#[test]
fn pages_advance_and_store_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let mut engine = start(&client);
    expect_pull(feed(&mut engine, &client, welcome(1, 1)));

    let other = Uuid::now_v7();
    let mut remote = ReportState::empty(other);
    remote.apply(
        &ReportOp::Create(new_report("0102", 111.7, 40.9)),
        Hlc::new(now_ms(), 0, 99),
        "bob",
        Uuid::from_u128(99),
    );
    let next = expect_pull(feed(
        &mut engine,
        &client,
        page(vec![remote], &[1, 2, 3], true),
    ));
    assert_eq!(
        next.cursor,
        Cursor(vec![1, 2, 3]),
        "the next pull starts at the page's cursor"
    );
    assert_eq!(
        meta::pull_cursor(client.lock_store().conn()).unwrap(),
        Cursor(vec![1, 2, 3])
    );
    assert_eq!(client.show_report(other).unwrap().reporter, "bob");

    let summary = expect_done(feed(&mut engine, &client, page(vec![], &[4], false)));
    assert_eq!(summary.pulled, 1);
    assert_eq!(
        meta::pull_cursor(client.lock_store().conn()).unwrap(),
        Cursor(vec![4])
    );

    // The next sync resumes from the stored cursor.
    let mut again = start(&client);
    let pull = expect_pull(feed(&mut again, &client, welcome(1, 1)));
    assert_eq!(pull.cursor, Cursor(vec![4]));
}

/// Bob's report pulled in pieces: his edit before its create, then its
/// cell, then its deletion. A pulled change that leaves the listing's
/// columns as the row has them (the cell) is written without naming them
/// (`reports::update_merged`: their index is left alone); one that moves the
/// report in the listing (the create known at last, the deletion) is
/// written whole.
#[test]
fn an_edit_pulled_before_its_create_merges() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = Uuid::now_v7();
    let bob = Uuid::from_u128(99);
    let t = now_ms();
    let mut edit_only = ReportState::empty(id);
    let edit = ReportEdit {
        note: Some("cover replaced".into()),
        ..Default::default()
    };
    edit_only.apply(&ReportOp::Edit(edit), Hlc::new(t, 1, 99), "bob", bob);
    let mut create_only = ReportState::empty(id);
    create_only.apply(
        &ReportOp::Create(new_report("0101", 111.6, 40.8)),
        Hlc::new(t, 0, 99),
        "bob",
        bob,
    );
    let mut assigned = create_only.clone();
    assigned.set_grid_cell(Some("990102001001001".into()), Hlc::new(t, 2, 0));
    let mut deleted = ReportState::empty(id);
    deleted.apply(&ReportOp::Delete, Hlc::new(t, 3, 99), "bob", bob);
    let listed = |client: &Client| -> Vec<Uuid> {
        let listing = client.list_reports().unwrap();
        listing.iter().map(|r| r.id).collect()
    };

    let mut engine = start(&client);
    expect_pull(feed(&mut engine, &client, welcome(1, 1)));
    expect_pull(feed(
        &mut engine,
        &client,
        page(vec![edit_only], b"1", true),
    ));
    assert!(
        listed(&client).is_empty(),
        "invisible until its create is known"
    );
    assert!(matches!(
        client.show_report(id),
        Err(ClientError::NotFound(_))
    ));
    expect_pull(feed(
        &mut engine,
        &client,
        page(vec![create_only], b"2", true),
    ));
    assert_eq!(listed(&client), [id], "its create known: listed");
    let shown = client.show_report(id).unwrap();
    assert_eq!(
        shown.note, "cover replaced",
        "the later edit wins over the create's note"
    );
    assert_eq!(shown.category, "0101");
    assert_eq!(shown.status, ReportStatus::Synced);

    expect_pull(feed(&mut engine, &client, page(vec![assigned], b"3", true)));
    assert_eq!(listed(&client), [id], "its cell assigned: still listed");
    let shown = client.show_report(id).unwrap();
    assert_eq!(shown.grid_cell.as_deref(), Some("990102001001001"));
    assert_eq!(shown.note, "cover replaced");
    expect_done(feed(&mut engine, &client, page(vec![deleted], b"4", false)));
    assert!(listed(&client).is_empty(), "deleted: out of the listing");
    assert!(client.show_report(id).unwrap().deleted);
}

#[test]
fn a_pull_keeps_local_edits_not_yet_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let stale = client.lock_store();
    let server_copy = reports::state(stale.conn(), id).unwrap().unwrap();
    drop(stale);
    client
        .edit_report(
            id,
            ReportEdit {
                note: Some("newer".into()),
                ..Default::default()
            },
        )
        .unwrap();

    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    // Pretend the ack is lost mid-way: only the create is acknowledged.
    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(ops[0].op_id, Outcome::Applied)]),
    ));
    expect_done(feed(
        &mut engine,
        &client,
        page(vec![server_copy], b"x", false),
    ));
    let shown = client.show_report(id).unwrap();
    assert_eq!(shown.note, "newer");
    assert_eq!(shown.status, ReportStatus::Pending, "the edit still waits");
}

#[test]
fn new_reference_versions_are_fetched_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let mut engine = start(&client);
    let fetch = match feed(&mut engine, &client, welcome(2, 1)) {
        Step::Send(ClientMessage::FetchReference(f)) => f,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (fetch.categories_version, fetch.grid_version),
        (Some(1), Some(1))
    );
    let reference = ServerMessage::Reference(Reference {
        categories: Some(category_table(2)),
        grid: None,
    });
    expect_pull(feed(&mut engine, &client, reference));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    assert!(summary.categories_updated && !summary.grid_updated);
    assert_eq!(client.categories().unwrap().unwrap().version, 2);
    assert_eq!(client.status().unwrap().grid_version, Some(1));
}

#[test]
fn a_server_without_reference_data_is_not_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    let mut engine = start(&client);
    let fetch = match feed(&mut engine, &client, welcome(0, 0)) {
        Step::Send(ClientMessage::FetchReference(f)) => f,
        other => panic!("{other:?}"),
    };
    assert_eq!((fetch.categories_version, fetch.grid_version), (None, None));
    let empty = ServerMessage::Reference(Reference {
        categories: None,
        grid: None,
    });
    expect_pull(feed(&mut engine, &client, empty));
    let mut again = start(&client);
    expect_pull(feed(&mut again, &client, welcome(0, 0)));
}

#[test]
fn the_first_message_after_enrolment_fetches_everything() {
    let dir = tempfile::tempdir().unwrap();
    let client = enrolled_client(dir.path());
    let (mut engine, first) =
        SyncEngine::after_enrolment(DEVICE, gridwarden_protocol::clock::system());
    assert_eq!(
        first,
        ClientMessage::FetchReference(FetchReference {
            categories_version: None,
            grid_version: None
        })
    );
    let reference = ServerMessage::Reference(Reference {
        categories: Some(category_table(5)),
        grid: Some(grid_layer(6, "A", "B")),
    });
    let summary = expect_done(feed(&mut engine, &client, reference));
    assert!(summary.categories_updated && summary.grid_updated);
    assert_eq!(
        client.grid_cell_at(111.605, 40.805).unwrap().as_deref(),
        Some("A")
    );
    assert_eq!(
        client.status().unwrap().last_sync_ms,
        None,
        "not a full sync"
    );
}

#[test]
fn a_server_error_is_a_refusal_and_unexpected_answers_are_protocol_errors() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let mut engine = start(&client);
    let mut store = client.lock_store();
    let refusal = ServerMessage::error(ErrorCode::Unauthenticated, "this device was revoked");
    match engine.handle(&mut store, refusal).unwrap_err() {
        ClientError::Refused { code, message } => {
            assert_eq!(code, ErrorCode::Unauthenticated);
            assert_eq!(message, "this device was revoked");
        }
        other => panic!("{other:?}"),
    }
    drop(store);

    let mut engine = start(&client);
    let mut store = client.lock_store();
    let err = engine
        .handle(&mut store, page(vec![], b"", false))
        .unwrap_err();
    assert!(err.to_string().contains("waited for Welcome"), "{err}");
}

#[test]
fn a_page_that_promises_more_but_never_moves_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let mut engine = start(&client);
    expect_pull(feed(&mut engine, &client, welcome(1, 1)));
    let mut store = client.lock_store();
    let err = engine
        .handle(&mut store, page(vec![], b"", true))
        .unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
}

#[test]
fn the_server_clock_orders_later_local_edits_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    // Ahead, but inside what this device folds in (half the drift bound).
    let ahead = Hlc::new(now_ms() + MAX_SERVER_SKEW_MS / 2, 5, 0);
    let message = ServerMessage::Ack(Ack {
        results: vec![OpResult {
            op_id: ops[0].op_id,
            outcome: Outcome::Applied,
        }],
        server_hlc: ahead,
    });
    expect_pull(feed(&mut engine, &client, message));
    let edit = edit_and_take_stamp(&client, id);
    assert!(edit > ahead, "{edit} after {ahead}");
}

#[test]
fn a_server_clock_an_hour_ahead_does_not_drag_later_local_edits_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    let ahead = Hlc::new(now_ms() + 3_600_000, 5, 0);
    let message = ServerMessage::Ack(Ack {
        results: vec![OpResult {
            op_id: ops[0].op_id,
            outcome: Outcome::Applied,
        }],
        server_hlc: ahead,
    });
    expect_pull(feed(&mut engine, &client, message));
    let edit = edit_and_take_stamp(&client, id);
    assert!(
        edit.wall_ms.abs_diff(now_ms()) < 60_000,
        "{edit} stays at the time of the edit"
    );
}

/// Edits the note of `id` and returns the stamp of the queued edit.
fn edit_and_take_stamp(client: &Client, id: uuid::Uuid) -> Hlc {
    client
        .edit_report(
            id,
            ReportEdit {
                note: Some("later".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let store = client.lock_store();
    let queued = outbox::batch_after(store.conn(), 0, 10, usize::MAX).unwrap();
    let edit = queued.last().unwrap();
    assert!(matches!(
        edit.op.body,
        OpBody::Report {
            op: ReportOp::Edit(_),
            ..
        }
    ));
    edit.op.hlc
}

#[test]
fn ops_are_stamped_with_the_servers_time_once_a_hello_measured_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let mut engine = start(&client);
    // The server's clock reads one year before this device's.
    let year_ms = 365 * 24 * 3600 * 1000;
    let mut w = welcome(1, 1);
    if let ServerMessage::Welcome(w) = &mut w {
        w.server_time_ms -= year_ms;
    }
    feed(&mut engine, &client, w);
    client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let op = {
        let store = client.lock_store();
        outbox::batch_after(store.conn(), 0, 10, 1 << 20)
            .unwrap()
            .remove(0)
            .op
    };
    let server_now = now_ms() - year_ms;
    assert!(
        op.hlc.wall_ms.abs_diff(server_now) < 60_000,
        "stamped {} vs server {server_now}",
        op.hlc.wall_ms
    );
}

#[test]
fn a_clock_skew_refusal_restamps_the_change_once_and_sends_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    // A clock that ran years ahead stamped this report.
    {
        let mut store = client.lock_store();
        let tx = store.transaction().unwrap();
        let node = gridwarden_protocol::hlc::node_id(DEVICE);
        let ahead = now_ms() + 3 * 365 * 24 * 3600 * 1000;
        meta::set_last_hlc(&tx, Hlc::new(ahead, 0, node)).unwrap();
        tx.commit().unwrap();
    }
    let id = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let mut engine = start(&client);
    let first = expect_push(feed(&mut engine, &client, welcome(1, 1)));

    // Refused for its clock: the same change goes again, stamped right.
    let again = expect_push(feed(
        &mut engine,
        &client,
        ack(vec![(first[0].op_id, skew())]),
    ));
    assert_eq!(again.len(), 1);
    assert_ne!(
        again[0].op_id, first[0].op_id,
        "a new op id: the refused one was applied nowhere"
    );
    assert_eq!(again[0].body, first[0].body);
    assert!(
        again[0].hlc.wall_ms.abs_diff(now_ms()) < 60_000,
        "{}",
        again[0].hlc
    );
    let shown = client.show_report(id).unwrap();
    assert_eq!(shown.status, ReportStatus::Pending);

    // Refused again: an ordinary rejection, no loop.
    let summary = expect_done({
        let step = feed(&mut engine, &client, ack(vec![(again[0].op_id, skew())]));
        expect_pull(step);
        feed(
            &mut engine,
            &client,
            page(vec![], &[0, 0, 0, 0, 0, 0, 0, 1], false),
        )
    });
    assert_eq!(summary.rejected.len(), 1);
    assert!(matches!(
        client.show_report(id).unwrap().status,
        ReportStatus::Rejected { .. }
    ));
    // And the device's next changes are stamped at the right time.
    client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let store = client.lock_store();
    let next = outbox::batch_after(store.conn(), 0, 10, 1 << 20)
        .unwrap()
        .remove(0)
        .op;
    assert!(next.hlc.wall_ms.abs_diff(now_ms()) < 60_000, "{}", next.hlc);
}

mod pipeline;
mod stranded;
mod welcomed;
