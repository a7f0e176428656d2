//! The app's long-lived connection over real QUIC (brief decision 7, ADR
//! 0028): a liaison whose app is open hears of a new verification task and
//! pulls it without calling sync; syncs on the kept connection cost no
//! handshake; keep-alives carry it through silence; a dropped one is
//! opened again at the next use.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwarden_client_core::case::CaseOp;
use gridwarden_client_core::{CancelToken, Client, Controls, LinkTiming, LiveEvent};
use gridwarden_e2e::{app_runtime, report_at, TestServer};
use gridwarden_protocol::{NoticeKind, Role};
use gridwarden_server::admin;
use tokio::sync::mpsc;
use uuid::Uuid;

/// A bound on waiting for an event, so a broken build fails instead of
/// hanging; never a pause the test relies on.
const AT_MOST: Duration = Duration::from_secs(120);

fn next(
    rt: &tokio::runtime::Runtime,
    events: &mut mpsc::UnboundedReceiver<LiveEvent>,
) -> LiveEvent {
    rt.block_on(async { tokio::time::timeout(AT_MOST, events.recv()).await })
        .expect("an event within the bound")
        .expect("the watch is running")
}

/// An app opened on `client`: it watches its kept connection on `rt`; its
/// events, the token that closes it, and the watch's task.
fn open_app(
    rt: &tokio::runtime::Runtime,
    client: &Arc<Client>,
) -> (
    mpsc::UnboundedReceiver<LiveEvent>,
    CancelToken,
    tokio::task::JoinHandle<gridwarden_client_core::Result<()>>,
) {
    let (tx, events) = mpsc::unbounded_channel();
    let cancel = CancelToken::new();
    let watch = rt.spawn({
        let (client, cancel) = (client.clone(), cancel.clone());
        async move {
            let on_event = move |event| {
                let _ = tx.send(event);
            };
            let controls = Controls {
                cancel: Some(&cancel),
                progress: None,
            };
            client.watch_async(controls, &on_event).await
        }
    });
    (events, cancel, watch)
}

/// A case of category 1102 (routed to sanitation, which a supervisor acts
/// for) in `cell`, registered, dispatched and disposed of by `sam`.
fn disposed_case(ann: &Client, sam: &Client, here: gridwarden_protocol::Location) -> Uuid {
    let report = ann
        .record_report(report_at("1102", here, "rubbish by the gate"))
        .unwrap();
    ann.sync().unwrap();
    sam.sync().unwrap();
    let steps = [
        CaseOp::Register {
            note: "立案".into(),
        },
        CaseOp::Dispatch {
            department: String::new(),
            note: String::new(),
        },
        CaseOp::Dispose {
            note: "cleared".into(),
            photos: vec![],
        },
    ];
    for op in steps {
        sam.case_step(report, op).unwrap();
    }
    assert!(sam.sync().unwrap().rejected.is_empty());
    report
}

#[test]
fn an_open_app_hears_of_a_new_task_and_pulls_it_on_its_kept_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    {
        let data = server.admin();
        admin::workflow::add_department(&data, "sanitation", "环卫处 sanitation", false).unwrap();
        let csv = tmp.path().join("categories.csv");
        std::fs::write(
            &csv,
            "code,family,class_code,class_name,name,name_en,register_limit,dispose_limit,department\n\
             1102,event,11,市容环境,暴露垃圾,exposed rubbish,1h,4h,sanitation\n",
        )
        .unwrap();
        admin::workflow::import_categories(&data, &csv).unwrap();
    }
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("lee", Role::Liaison, &[&cell]);
    server.add_user("sam", Role::Supervisor, &[]);
    let home = |name: &str| tmp.path().join(name);
    let ann = server.enrol(&home("ann"), "ann");
    let sam = server.enrol(&home("sam"), "sam");
    let lee = Arc::new(
        server
            .enrol(&home("lee"), "lee")
            .with_kept_connection(LinkTiming::default()),
    );
    for device in [&ann, &sam] {
        device.sync().unwrap();
    }
    let report = disposed_case(&ann, &sam, here);

    // Lee's app opens: the kept connection, a first sync, then it listens.
    let rt = app_runtime();
    let (mut events, cancel, watch) = open_app(&rt, &lee);
    match next(&rt, &mut events) {
        LiveEvent::Connected(summary) => assert!(summary.pulled >= 1, "{summary:?}"),
        other => panic!("{other:?}"),
    }
    assert!(lee.tasks().unwrap().is_empty());

    // Sam asks Lee to verify; Lee's app pulls the task by itself.
    sam.case_step(
        report,
        CaseOp::SendForVerification {
            verifier: Some("lee".into()),
        },
    )
    .unwrap();
    let stepped = Instant::now();
    assert!(sam.sync().unwrap().rejected.is_empty());
    let opened = server.connections_opened();
    match next(&rt, &mut events) {
        LiveEvent::Pulled { notice, result } => {
            assert_eq!(notice.kind, NoticeKind::Task);
            assert_eq!(notice.ids, vec![report]);
            let summary = result.unwrap();
            assert!(summary.pulled >= 1, "{summary:?}");
        }
        other => panic!("{other:?}"),
    }
    eprintln!(
        "notice latency (step synced → task pulled): {:?}",
        stepped.elapsed()
    );
    let tasks = lee.tasks().unwrap();
    assert_eq!(
        tasks.iter().map(|t| t.report_id).collect::<Vec<_>>(),
        vec![report]
    );
    assert_eq!(
        server.connections_opened(),
        opened,
        "the pull went over the kept connection: no handshake"
    );

    // A sync the app asks for goes over it too.
    let summary = rt.block_on(lee.sync_async()).unwrap();
    assert_eq!(summary.pushed, 0);
    assert_eq!(server.connections_opened(), opened, "no new handshake");
    assert!(rt.block_on(lee.is_connected()));

    cancel.cancel();
    let ended = rt.block_on(watch).unwrap();
    assert!(
        matches!(ended, Err(gridwarden_client_core::ClientError::Cancelled)),
        "{ended:?}"
    );
}

#[test]
fn the_kept_connection_outlives_silence_and_is_opened_again_after_a_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(&tmp.path().join("server"));
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    // A short idle timeout, so that silence is a few seconds: without its
    // keep-alives the connection would be gone after 1.5 s.
    let timing = LinkTiming {
        idle: Duration::from_millis(1_500),
        keep_alive: Duration::from_millis(300),
    };
    let ann = server
        .enrol(&tmp.path().join("ann"), "ann")
        .with_kept_connection(timing);
    let rt = app_runtime();
    rt.block_on(ann.sync_async()).unwrap();
    let opened = server.connections_opened();

    // Silence three times the idle timeout: the passing time is what is
    // tested, not a wait for something else.
    std::thread::sleep(timing.idle * 3);
    assert!(rt.block_on(ann.is_connected()), "kept alive");
    ann.record_report(report_at("0101", here, "after a quiet spell"))
        .unwrap();
    let summary = rt.block_on(ann.sync_async()).unwrap();
    assert_eq!(summary.pushed, 1);
    assert_eq!(server.connections_opened(), opened, "the same connection");

    // The server restarts: the connection is gone, the next sync opens
    // another and the one after reuses that.
    server.restart();
    ann.record_report(report_at("0101", here, "after the restart"))
        .unwrap();
    let summary = rt.block_on(ann.sync_async()).unwrap();
    assert_eq!(summary.pushed, 1);
    assert_eq!(server.connections_opened(), 1);
    rt.block_on(ann.sync_async()).unwrap();
    assert_eq!(server.connections_opened(), 1);
}

/// A kept connection says `Hello` only every few minutes (ADR 0041), so
/// what IT changes of a user reaches the connection without one: given a
/// cell, a warden's open app hears of the reports recorded there.
#[test]
fn a_warden_given_a_cell_hears_of_its_reports_on_the_kept_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    let [(mine, _), (theirs, there)] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&mine]);
    server.add_user("bob", Role::Warden, &[&theirs]);
    let home = |name: &str| tmp.path().join(name);
    let bob = server.enrol(&home("bob"), "bob");
    let ann = Arc::new(
        server
            .enrol(&home("ann"), "ann")
            .with_kept_connection(LinkTiming::default()),
    );
    let rt = app_runtime();
    let (mut events, cancel, watch) = open_app(&rt, &ann);
    assert!(matches!(next(&rt, &mut events), LiveEvent::Connected(_)));

    admin::set_user_cells(&server.admin(), "ann", std::slice::from_ref(&theirs), &[]).unwrap();
    // The server rescopes open connections when it next looks at what IT
    // changed (a second here): until then a report there is not Ann's news.
    // Bob records until one is heard; each is a new report.
    let deadline = Instant::now() + AT_MOST;
    let mut recorded = Vec::new();
    let heard = loop {
        assert!(
            Instant::now() < deadline,
            "no notice after the cell was given"
        );
        recorded.push(
            bob.record_report(report_at("0101", there, "in the cell ann was given"))
                .unwrap(),
        );
        bob.sync().unwrap();
        let event = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(2), events.recv()).await });
        match event {
            // A slow machine may hear of an earlier report after its wait.
            Ok(Some(LiveEvent::Pulled { notice, result })) => {
                let summary = result.unwrap();
                let report = *recorded
                    .iter()
                    .find(|r| notice.ids.contains(r))
                    .unwrap_or_else(|| panic!("{notice:?} names none of {recorded:?}"));
                assert!(summary.pulled >= 1, "{summary:?}");
                break report;
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => continue,
        }
    };
    assert!(
        ann.show_report(heard).is_ok(),
        "pulled on the kept connection"
    );
    cancel.cancel();
    let _ = rt.block_on(watch);
}
