//! A sync on a kept connection whose `Hello` is recent sends none (ADR
//! 0041): it starts at the push, and says `Hello` only when the server
//! refuses ops for their clocks.

use super::*;

fn start_welcomed(client: &Client) -> (SyncEngine, ClientMessage) {
    let mut store = client.lock_store();
    SyncEngine::start_welcomed(&mut store, "test", gridwarden_protocol::clock::system()).unwrap()
}

#[test]
fn a_sync_without_a_hello_starts_at_the_push_and_pulls_to_done() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    client
        .record_report(new_report("0101", 111.605, 40.805))
        .unwrap();
    let (mut engine, first) = start_welcomed(&client);
    let ops = expect_push(Step::Send(first));
    assert_eq!(ops.len(), 1);
    let pull = expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(ops[0].op_id, Outcome::Applied)]),
    ));
    assert_eq!(pull.cursor, Cursor::start());
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"c1", false)));
    assert_eq!(summary.pushed, 1);
    assert!(queued(&client).is_empty());
}

#[test]
fn a_sync_without_a_hello_and_nothing_queued_pulls_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    // The last Welcome set a protocol deadline: the app still sees it.
    {
        let mut store = client.lock_store();
        let tx = store.transaction().unwrap();
        meta::set_update_required_by_ms(&tx, Some(1_900_000_000_000)).unwrap();
        tx.commit().unwrap();
    }
    let (mut engine, first) = start_welcomed(&client);
    expect_pull(Step::Send(first));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"c1", false)));
    assert_eq!((summary.pushed, summary.pulled), (0, 0));
    assert_eq!(summary.update_required_by_ms, Some(1_900_000_000_000));
}

#[test]
fn ops_refused_for_their_clock_in_a_sync_without_a_hello_wait_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let refused = client
        .record_report(new_report("0101", 111.6, 40.8))
        .unwrap();
    let fine = client
        .record_report(new_report("0101", 111.7, 40.9))
        .unwrap();
    let (mut engine, first) = start_welcomed(&client);
    let ops = expect_push(Step::Send(first));
    assert_eq!(ops.len(), 2);

    // One op refused for its clock, the other applied: the applied one is
    // done, the refused one stays queued as it was (not stamped again with
    // an estimate no Welcome checked, not rejected), and the sync says Hello.
    let step = feed(
        &mut engine,
        &client,
        ack(vec![
            (ops[0].op_id, skew()),
            (ops[1].op_id, Outcome::Applied),
        ]),
    );
    match step {
        Step::Send(ClientMessage::Hello(h)) => assert_eq!(h.device_id, DEVICE),
        other => panic!("expected a Hello, got {other:?}"),
    }
    assert_eq!(queued(&client), [ops[0].op_id]);
    assert!(client.rejections().unwrap().is_empty());

    // After the Welcome the queued op goes again, by its own id: a refusal
    // now is handled as in any sync (stamped again, once).
    let again = expect_push(feed(&mut engine, &client, welcome(1, 1)));
    assert_eq!(op_ids(&again), [ops[0].op_id]);
    let restamped = expect_push(feed(
        &mut engine,
        &client,
        ack(vec![(again[0].op_id, skew())]),
    ));
    assert_eq!(restamped.len(), 1);
    assert_ne!(restamped[0].op_id, ops[0].op_id);
    expect_pull(feed(
        &mut engine,
        &client,
        ack(vec![(restamped[0].op_id, Outcome::Applied)]),
    ));
    let summary = expect_done(feed(&mut engine, &client, page(vec![], b"c1", false)));
    assert_eq!(summary.pushed, 2);
    assert!(summary.rejected.is_empty());
    assert!(queued(&client).is_empty());
    for id in [refused, fine] {
        assert_eq!(
            client.show_report(id).unwrap().status,
            ReportStatus::Synced,
            "{id}"
        );
    }
}

#[test]
fn a_clock_skew_refusal_with_pushes_in_flight_says_hello_after_the_last_ack() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    for _ in 0..MAX_PUSH_OPS + 1 {
        client
            .record_report(new_report("0101", 111.6, 40.8))
            .unwrap();
    }
    let (mut engine, first) = start_welcomed(&client);
    let first = expect_push(Step::Send(first));
    let second = {
        let mut store = client.lock_store();
        match engine.ahead(&mut store).unwrap() {
            Some(ClientMessage::Push(p)) => p.ops,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!((first.len(), second.len()), (MAX_PUSH_OPS, 1));

    // The first batch's first op is refused for its clock: nothing more goes
    // ahead, and the answer to the push in flight comes before the Hello.
    let mut results: Vec<_> = first.iter().map(|o| (o.op_id, Outcome::Applied)).collect();
    results[0].1 = skew();
    assert!(matches!(
        feed(&mut engine, &client, ack(results)),
        Step::Await
    ));
    assert!(engine.ahead(&mut client.lock_store()).unwrap().is_none());
    let step = feed(
        &mut engine,
        &client,
        ack(vec![(second[0].op_id, Outcome::Applied)]),
    );
    assert!(
        matches!(step, Step::Send(ClientMessage::Hello(_))),
        "{step:?}"
    );
    assert_eq!(queued(&client), [first[0].op_id]);
}
