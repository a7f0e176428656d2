//! Requests in flight several at once: pushes, and what an ack writes (one
//! kept op per acknowledged op, never the report row); the next page's pull.

use super::*;

/// Records `n` reports; returns their ids in order.
fn record(client: &Client, n: usize) -> Vec<Uuid> {
    (0..n)
        .map(|_| {
            client
                .record_report(new_report("0101", 111.6, 40.8))
                .unwrap()
        })
        .collect()
}

fn applied(ops: &[Op]) -> ServerMessage {
    ack(ops.iter().map(|op| (op.op_id, Outcome::Applied)).collect())
}

fn ahead(engine: &mut SyncEngine, client: &Client) -> Option<Vec<Op>> {
    let mut store = client.lock_store();
    engine.ahead(&mut store).unwrap().map(|m| match m {
        ClientMessage::Push(p) => p.ops,
        other => panic!("expected a push, got {other:?}"),
    })
}

/// A reports row as stored: id, state, confirmed state, local sequence.
type ReportRow = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, i64);

/// Every row of the reports table, as stored.
fn report_rows(client: &Client) -> Vec<ReportRow> {
    let store = client.lock_store();
    let mut stmt = store
        .conn()
        .prepare("SELECT id, state, confirmed, local_seq FROM reports ORDER BY id")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn further_pushes_go_ahead_and_their_acks_are_taken_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    record(&client, 2 * MAX_PUSH_OPS + 1);
    let mut engine = start(&client);
    let first = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    let second = ahead(&mut engine, &client).expect("a second batch");
    let third = ahead(&mut engine, &client).expect("a third batch");
    assert!(
        ahead(&mut engine, &client).is_none(),
        "the outbox is all sent"
    );
    assert_eq!(
        (first.len(), second.len(), third.len()),
        (MAX_PUSH_OPS, MAX_PUSH_OPS, 1)
    );
    let all: Vec<Uuid> = [&first, &second, &third]
        .iter()
        .flat_map(|ops| op_ids(ops))
        .collect();
    assert_eq!(all, queued(&client), "in outbox order, each once");

    assert!(matches!(
        feed(&mut engine, &client, applied(&first)),
        Step::Await
    ));
    assert_eq!(queued(&client).len(), MAX_PUSH_OPS + 1);
    assert!(matches!(
        feed(&mut engine, &client, applied(&second)),
        Step::Await
    ));
    expect_pull(feed(&mut engine, &client, applied(&third)));
    assert!(queued(&client).is_empty());
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    assert_eq!(
        (summary.pushed, summary.pending),
        (2 * MAX_PUSH_OPS as u64 + 1, 0)
    );
}

#[test]
fn pushes_in_flight_when_the_sync_ends_go_again_and_count_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    record(&client, 2 * MAX_PUSH_OPS + 1);
    let mut engine = start(&client);
    let first = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    let second = ahead(&mut engine, &client).unwrap();
    let _third = ahead(&mut engine, &client).unwrap();
    // The first ack arrives; then the connection is cut with two pushes in
    // flight, which the server may or may not have applied.
    assert!(matches!(
        feed(&mut engine, &client, applied(&first)),
        Step::Await
    ));
    drop(engine);
    assert_eq!(queued(&client).len(), MAX_PUSH_OPS + 1);

    // The next sync sends what was in flight again, from the first op not
    // acknowledged: the server applied the second push before the cut.
    let mut engine = start(&client);
    let again = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(op_ids(&again), op_ids(&second));
    let rest = ahead(&mut engine, &client).unwrap();
    assert_eq!(rest.len(), 1);
    let duplicates = ack(again
        .iter()
        .map(|op| (op.op_id, Outcome::Duplicate))
        .collect());
    assert!(matches!(
        feed(&mut engine, &client, duplicates),
        Step::Await
    ));
    expect_pull(feed(&mut engine, &client, applied(&rest)));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"", false)));
    assert_eq!(
        (summary.pushed, summary.duplicates, summary.pending),
        (1, MAX_PUSH_OPS as u64, 0)
    );
    assert!(queued(&client).is_empty());
}

#[test]
fn an_ack_writes_one_kept_op_per_op_and_leaves_the_report_rows_alone() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let ids = record(&client, 20);
    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    let rows_before = report_rows(&client);
    let changes_before = client.lock_store().conn().total_changes();
    expect_pull(feed(&mut engine, &client, applied(&ops)));
    let changed = client.lock_store().conn().total_changes() - changes_before;
    // Per op: its outbox row deleted and its kept row inserted; then the
    // device's clock once for the whole ack.
    assert_eq!(changed, 2 * ops.len() as u64 + 1, "rows changed by the ack");
    assert_eq!(report_rows(&client), rows_before, "no report row rewritten");
    let kept: i64 = client
        .lock_store()
        .conn()
        .query_row(
            "SELECT count(*) FROM given_ops WHERE report_id IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, ops.len() as i64, "each op waits to be folded");

    // What the server is known to hold is read with the acknowledged ops.
    for id in &ids {
        let confirmed = reports::confirmed(client.lock_store().conn(), *id)
            .unwrap()
            .expect("the create is acknowledged");
        let shown = reports::state(client.lock_store().conn(), *id)
            .unwrap()
            .unwrap();
        assert_eq!(confirmed, shown, "in step with the server");
    }

    // A pulled change of one of them folds its acknowledged op into the row.
    let mut changed_remotely = reports::state(client.lock_store().conn(), ids[0])
        .unwrap()
        .unwrap();
    changed_remotely.set_grid_cell(Some("150102001001001".into()), server_hlc());
    expect_done(feed(
        &mut engine,
        &client,
        page(vec![changed_remotely.clone()], b"c1", false),
    ));
    let store = client.lock_store();
    let folded: Option<Vec<u8>> = store
        .conn()
        .query_row(
            "SELECT confirmed FROM reports WHERE id = ?1",
            [ids[0].as_bytes().as_slice()],
            |r| r.get(0),
        )
        .unwrap();
    let folded: ReportState = gridwarden_protocol::codec::decode(&folded.unwrap()).unwrap();
    assert_eq!(
        folded, changed_remotely,
        "the create folded with the change"
    );
    let waiting: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM given_ops WHERE report_id = ?1",
            [ids[0].as_bytes().as_slice()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(waiting, 0);
}

#[test]
fn a_refused_edit_rolls_back_to_a_create_acknowledged_but_not_folded() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let id = record(&client, 1)[0];
    let created = reports::state(client.lock_store().conn(), id)
        .unwrap()
        .unwrap();
    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    expect_pull(feed(&mut engine, &client, applied(&ops)));
    expect_done(feed(&mut engine, &client, page(vec![], b"", false)));

    client
        .edit_report(
            id,
            ReportEdit {
                note: Some("changed".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let mut engine = start(&client);
    let ops = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    let refused = Outcome::Rejected {
        code: ErrorCode::Forbidden,
        reason: "no".into(),
    };
    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(ops[0].op_id, refused)]),
    ));
    let shown = reports::state(client.lock_store().conn(), id)
        .unwrap()
        .unwrap();
    assert_eq!(shown, created, "the edit is gone, the create stays");
}

fn pull_cursor(client: &Client) -> Vec<u8> {
    crate::store::meta::pull_cursor(client.lock_store().conn())
        .unwrap()
        .0
}

/// A device with nothing to push whose sync has been welcomed and asked for
/// its first page.
fn started_at_pull(dir: &std::path::Path) -> (Client, SyncEngine) {
    let client = client_in(dir);
    let mut engine = start(&client);
    expect_pull(feed(&mut engine, &client, welcome(1, 1)));
    (client, engine)
}

#[test]
fn the_next_page_is_asked_for_before_the_one_received_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (client, mut engine) = started_at_pull(dir.path());

    let first = page(vec![], b"c1", true);
    let ahead = match engine.page_ahead(&first) {
        Some(ClientMessage::Pull(p)) => p,
        other => panic!("expected the next page's pull, got {other:?}"),
    };
    assert_eq!(ahead.cursor, Cursor(b"c1".to_vec()));
    assert!(
        pull_cursor(&client).is_empty(),
        "asked for before anything of the page is stored"
    );
    assert!(
        matches!(feed(&mut engine, &client, first), Step::Await),
        "the pull is already in flight: nothing more to send"
    );
    assert_eq!(pull_cursor(&client), b"c1");

    let last = page(vec![], b"c2", false);
    assert!(engine.page_ahead(&last).is_none(), "no page after the last");
    expect_done(feed(&mut engine, &client, last));
    assert_eq!(pull_cursor(&client), b"c2");
}

#[test]
fn a_page_that_does_not_move_the_cursor_is_not_asked_for_again_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let (client, mut engine) = started_at_pull(dir.path());
    let stuck = page(vec![], b"", true);
    assert!(engine.page_ahead(&stuck).is_none());
    let mut store = client.lock_store();
    assert!(
        matches!(
            engine.handle(&mut store, stuck),
            Err(ClientError::Protocol(_))
        ),
        "the server's loop is refused, not followed"
    );
}

#[test]
fn a_page_without_a_pull_ahead_asks_for_the_next_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (client, mut engine) = started_at_pull(dir.path());
    // A link that does not pipeline never calls `page_ahead`.
    let next = expect_pull(feed(&mut engine, &client, page(vec![], b"c1", true)));
    assert_eq!(next.cursor, Cursor(b"c1".to_vec()));
}
