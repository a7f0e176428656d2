//! The reconnect policy over real QUIC: a sync started while the server is
//! down keeps trying with backoff and completes once it is back; a sync can
//! be cancelled at any point; progress is reported along the way.

use std::sync::Mutex;
use std::time::Duration;

use gridwarden_client_core::{CancelToken, ClientError, Controls, RetryPolicy, SyncProgress};
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::Role;

fn quick_policy(max_attempts: Option<u32>) -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        multiplier: 2.0,
        max_attempts,
    }
}

#[test]
fn a_sync_started_offline_completes_when_the_server_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    let ann = server
        .enrol(&tmp.path().join("ann"), "ann")
        .with_connect_timeout(Duration::from_millis(300));
    for i in 0..50 {
        ann.record_report(report_at("0101", here, &format!("{i}")))
            .unwrap();
    }
    server.stop();

    let events = Mutex::new(Vec::new());
    let listener = |p: SyncProgress| events.lock().unwrap().push(p);
    let summary = std::thread::scope(|scope| {
        let sync = scope.spawn(|| {
            let controls = Controls {
                cancel: None,
                progress: Some(&listener),
            };
            ann.sync_retrying_blocking(&quick_policy(Some(50)), controls)
        });
        std::thread::sleep(Duration::from_millis(1500));
        server.restart();
        sync.join().unwrap()
    })
    .unwrap();
    assert_eq!(summary.pushed, 50);
    let events = events.into_inner().unwrap();
    let waits = events
        .iter()
        .filter(|e| matches!(e, SyncProgress::Waiting { .. }))
        .count();
    assert!(
        waits >= 2,
        "it retried while the server was down: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SyncProgress::Transferring { pushed: 50, .. })),
        "{events:?}"
    );
    for e in &events {
        if let SyncProgress::Waiting {
            delay_ms, reason, ..
        } = e
        {
            assert!(*delay_ms <= 400, "delays stay under the policy's maximum");
            assert!(reason.contains("kept on this device"), "{reason}");
        }
    }
    assert_eq!(server.admin().store().reports(false).unwrap().len(), 50);
}

#[test]
fn a_sync_can_be_cancelled_while_waiting_and_gives_up_after_its_attempts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let ann = server
        .enrol(&tmp.path().join("ann"), "ann")
        .with_connect_timeout(Duration::from_millis(200));
    server.stop();

    // Cancelled from the progress listener as the sync starts waiting after
    // its second attempt: the result is `Cancelled` and no third attempt
    // starts (with no limit on attempts, only the cancel ends it).
    let cancel = CancelToken::new();
    let events = Mutex::new(Vec::new());
    let listener = |p: SyncProgress| {
        if matches!(p, SyncProgress::Waiting { attempt: 2, .. }) {
            cancel.cancel();
        }
        events.lock().unwrap().push(p);
    };
    let controls = Controls {
        cancel: Some(&cancel),
        progress: Some(&listener),
    };
    let result = ann.sync_retrying_blocking(&quick_policy(None), controls);
    assert!(matches!(result, Err(ClientError::Cancelled)), "{result:?}");
    let events = events.into_inner().unwrap();
    assert!(
        matches!(
            events.last(),
            Some(SyncProgress::Waiting { attempt: 2, .. })
        ),
        "cancel takes effect at once: {events:?}"
    );

    let limited = ann.sync_retrying_blocking(&quick_policy(Some(3)), Controls::default());
    assert!(
        matches!(limited, Err(ClientError::Offline(_))),
        "{limited:?}"
    );
}
