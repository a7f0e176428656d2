//! Faults with several server processes on one PostgreSQL database
//! (docs/scale.md, "When a process dies"): a photo upload cut on one
//! process and resumed on the other, and a process killed mid-push while the
//! other serves the same device. Both over real QUIC, through one address (a
//! relay standing in for the balancer). Each ends with every report exactly
//! once at a supervisor. Skipped with a notice where PostgreSQL is not
//! installed; under `CI=true` that is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gridwarden_client_core::{Client, Controls, Location, RetryPolicy, SyncProgress};
use gridwarden_e2e::relay::{Direction, Relay};
use gridwarden_e2e::{bins, cells_with_points, jpeg, report_at};
use gridwarden_protocol::Role;
use gridwarden_server::admin;
use gridwarden_server::datadir::PHOTOS_DIR;
use gridwarden_server::store::postgres::cluster;
use gridwarden_server::DataDir;
use uuid::Uuid;

use crate::postgres::{enrol, pair, pair_on};

fn log(test: &str, started: Instant, what: impl std::fmt::Display) {
    eprintln!(
        "[pg_faults::{test} +{:.1}s] {what}",
        started.elapsed().as_secs_f64()
    );
}

/// Polls `cond` every few milliseconds; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn record_many(client: &Client, n: usize, at: Location, tag: &str) -> Vec<Uuid> {
    (0..n)
        .map(|i| {
            client
                .record_report(report_at("0101", at, &format!("{tag} {i}")))
                .unwrap()
        })
        .collect()
}

/// The supervisor holds exactly `expected`, each once, and so does the
/// database.
fn assert_exactly_once(admin: &DataDir, supervisor: &Client, expected: &BTreeSet<Uuid>) {
    let seen = supervisor.list_reports().unwrap();
    let mut counts: BTreeMap<Uuid, usize> = BTreeMap::new();
    for view in &seen {
        *counts.entry(view.id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "reports twice at the supervisor: {twice:?}"
    );
    let ids: BTreeSet<Uuid> = counts.into_keys().collect();
    assert_eq!(
        ids.len(),
        expected.len(),
        "the supervisor holds {} reports, {} were recorded",
        ids.len(),
        expected.len()
    );
    assert_eq!(&ids, expected, "the supervisor holds every report");
    let stored = admin.store().reports(false).unwrap();
    let stored_ids: BTreeSet<Uuid> = stored.iter().map(|r| r.id).collect();
    assert_eq!(
        stored.len(),
        stored_ids.len(),
        "a report twice in the database"
    );
    assert_eq!(
        &stored_ids, expected,
        "the database holds every report once"
    );
}

/// The partial uploads in the shared photo directory: (file, bytes).
fn partial_uploads(photos: &Path) -> Vec<(PathBuf, u64)> {
    std::fs::read_dir(photos.join("partial"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path(), e.metadata().unwrap().len())
        })
        .collect()
}

#[test]
fn a_photo_upload_cut_on_one_process_resumes_on_the_other() {
    const TEST: &str = "photo_resumed";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let Some(pair) = pair(tmp.path()) else {
        return;
    };
    let (cell, here) = cells_with_points(&pair.admin, 1).remove(0);
    admin::add_user(&pair.admin, "ann", Role::Warden, vec![cell]).unwrap();
    admin::add_user(&pair.admin, "sam", Role::Supervisor, vec![]).unwrap();
    let relay = Relay::start(pair.addrs[0], 31);
    let ann = enrol(&pair, &relay, &tmp.path().join("ann"), "ann");
    let sam = enrol(&pair, &relay, &tmp.path().join("sam"), "sam");

    let total = 8 * 1024 * 1024;
    let photo = jpeg(61, total);
    let file = tmp.path().join("big.jpg");
    std::fs::write(&file, &photo).unwrap();
    let report = ann
        .record_report_with_photos(report_at("0101", here, "photo across processes"), &[file])
        .unwrap();

    // Process 1 takes the report and half the photo; then the link is cut
    // (everything dropped both ways, as when a phone walks out of coverage).
    let acked_at_cut = Mutex::new(None);
    let progress = |p: SyncProgress| {
        if let SyncProgress::Photo { sent, total, .. } = p {
            let mut cut = acked_at_cut.lock().unwrap();
            if sent * 2 >= total && cut.is_none() {
                relay.set_cut(true);
                *cut = Some(sent);
            }
        }
    };
    let once = RetryPolicy {
        max_attempts: Some(1),
        ..RetryPolicy::default()
    };
    let err = ann
        .sync_retrying_blocking(
            &once,
            Controls {
                cancel: None,
                progress: Some(&progress),
            },
        )
        .expect_err("the link was cut mid-photo");
    log(TEST, started, format!("first sync failed: {err}"));
    assert!(err.is_offline(), "{err:?}");
    assert!(err.to_string().contains("kept on this device"), "{err}");
    let acked = acked_at_cut
        .lock()
        .unwrap()
        .expect("the photo upload started");
    assert!(acked < total as u64, "{acked}");
    assert_eq!(ann.outbox_len().unwrap(), 0, "the report itself landed");
    let photos = pair.dirs[0].join(PHOTOS_DIR);
    let partial = partial_uploads(&photos);
    assert_eq!(partial.len(), 1, "{partial:?}");
    let held = partial[0].1;
    assert!(
        held >= acked && held < total as u64,
        "process 1 holds {held} bytes of {total}, {acked} acknowledged"
    );

    // The balancer sends the phone's next connection to process 2, which
    // finds the partial file on the shared directory and takes the rest.
    relay.set_cut(false);
    relay.set_server(pair.addrs[1]);
    let summary = ann.sync().unwrap();
    log(TEST, started, format!("resumed on process 2: {summary:?}"));
    assert_eq!(summary.photos_uploaded, 1);
    assert!(
        summary.photo_bytes_sent > 0 && summary.photo_bytes_sent <= total as u64 - held,
        "only the tail is sent again: {} bytes for the {} missing",
        summary.photo_bytes_sent,
        total as u64 - held
    );
    assert!(partial_uploads(&photos).is_empty(), "the upload finished");

    // The supervisor, on process 1, fetches the photo byte for byte.
    relay.set_server(pair.addrs[0]);
    sam.sync().unwrap();
    let view = sam.show_report(report).unwrap();
    assert_eq!(view.photos.len(), 1);
    let hash = sam.resolve_photo(&view.photos[0].hash).unwrap();
    let out = tmp.path().join("fetched.jpg");
    sam.fetch_photo_blocking(&hash, &out).unwrap();
    assert!(
        std::fs::read(&out).unwrap() == photo,
        "the photo is byte-identical after a resume on another process"
    );
    assert_exactly_once(&pair.admin, &sam, &BTreeSet::from([report]));
    log(TEST, started, "done");
}

#[test]
fn a_process_killed_mid_push_while_the_other_serves_the_device_loses_and_repeats_nothing() {
    const TEST: &str = "process_killed";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut pair) = pair(tmp.path()) else {
        return;
    };
    let (cell, here) = cells_with_points(&pair.admin, 1).remove(0);
    for name in ["ann", "bo"] {
        admin::add_user(&pair.admin, name, Role::Warden, vec![cell.clone()]).unwrap();
    }
    admin::add_user(&pair.admin, "sam", Role::Supervisor, vec![]).unwrap();
    let relay = Relay::start(pair.addrs[0], 32);
    let ann = enrol(&pair, &relay, &tmp.path().join("ann"), "ann");
    let bo = enrol(&pair, &relay, &tmp.path().join("bo"), "bo");
    let sam = enrol(&pair, &relay, &tmp.path().join("sam"), "sam");

    // More batches than the first sync can send: the answers it reads
    // after the cut are at most those already on their way, and each lets
    // one more push go (`sync::engine::PUSH_WINDOW` in flight).
    let batch = gridwarden_client_core::sync::engine::MAX_PUSH_OPS;
    let total = 8 * batch;
    let ann_ids = record_many(&ann, total, here, "ann");
    let bo_ids = record_many(&bo, 300, here, "bo");
    log(TEST, started, format!("recorded {total} + 300"));

    let store = pair.admin.store().clone();
    // Once two batches are acknowledged, process 1's answers stop reaching
    // the phone: the pushes sent after that (a window's worth; the last of
    // them left after the cut) commit there, unacknowledged.
    let acked_at_cut = Mutex::new(None);
    let cut_answers = |p: SyncProgress| {
        if let SyncProgress::Transferring { pushed, .. } = p {
            let mut cut = acked_at_cut.lock().unwrap();
            if pushed >= 2 * batch as u64 && cut.is_none() {
                relay.set_cut_toward(Direction::ToClient, true);
                *cut = Some(pushed as usize);
            }
        }
    };
    let once = RetryPolicy {
        max_attempts: Some(1),
        ..RetryPolicy::default()
    };
    let (first, killed_at) = std::thread::scope(|s| {
        // Ann's push goes to process 1, one batch per transaction.
        let sync = s.spawn(|| {
            ann.sync_retrying_blocking(
                &once,
                Controls {
                    cancel: None,
                    progress: Some(&cut_answers),
                },
            )
        });
        wait_until(
            Duration::from_secs(300),
            "a batch landed unacknowledged",
            || {
                assert!(!sync.is_finished(), "the sync ended before the kill");
                let cut = *acked_at_cut.lock().unwrap();
                // The last push of the window sent after the cut landed.
                let window = gridwarden_client_core::sync::engine::PUSH_WINDOW;
                cut.is_some_and(|acked| {
                    store
                        .report(ann_ids[acked + window * batch - 1])
                        .unwrap()
                        .is_some()
                })
            },
        );
        assert!(
            store.report(ann_ids[total - 1]).unwrap().is_none(),
            "the last report landed before the kill"
        );
        // New connections go to process 2 from now on, and process 1 dies
        // while the phone waits for its answer.
        relay.set_server(pair.addrs[1]);
        pair.processes[0].kill();
        let killed_at = Instant::now();
        log(TEST, started, "process 1 killed");
        relay.set_cut_toward(Direction::ToClient, false);
        // Process 2 serves Bo meanwhile.
        let bo_summary = bo.sync().unwrap();
        assert_eq!(bo_summary.pushed, 300);
        (sync.join().unwrap(), killed_at)
    });
    let err = first.expect_err("process 1 died mid-push");
    log(
        TEST,
        started,
        format!(
            "Ann's sync failed {:.1}s after the kill: {err}",
            killed_at.elapsed().as_secs_f64()
        ),
    );
    assert!(err.is_offline(), "{err:?}");
    assert!(err.to_string().contains("kept on this device"), "{err}");

    let stored: BTreeSet<Uuid> = store.reports(false).unwrap().iter().map(|r| r.id).collect();
    let landed = ann_ids.iter().filter(|id| stored.contains(id)).count() as u64;
    let queued = ann.outbox_len().unwrap();
    let acked = total as u64 - queued;
    log(
        TEST,
        started,
        format!("landed {landed}, acknowledged {acked}, still queued {queued}"),
    );
    assert!(landed > 0 && landed < total as u64, "{landed}");
    assert!(
        landed > acked,
        "acknowledged {acked}, stored {landed}: a batch landed unacknowledged"
    );

    // Ann's next sync reaches process 2, which takes the rest and answers
    // `Duplicate` for what landed on process 1 unacknowledged.
    let second = ann.sync().unwrap();
    log(
        TEST,
        started,
        format!("Ann's sync on process 2: {second:?}"),
    );
    assert_eq!(second.pushed, total as u64 - landed);
    assert_eq!(second.duplicates, landed - acked);
    assert!(second.rejected.is_empty());
    assert_eq!((second.pending, ann.outbox_len().unwrap()), (0, 0));

    sam.sync().unwrap();
    let expected: BTreeSet<Uuid> = ann_ids.iter().chain(&bo_ids).copied().collect();
    assert_exactly_once(&pair.admin, &sam, &expected);
    // Each device ends with the same, once.
    for device in [&ann, &bo] {
        device.sync().unwrap();
        let ids: Vec<Uuid> = device
            .list_reports()
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids.len(), expected.len());
        assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), expected);
    }
    log(TEST, started, "done");
}

/// What one device saw while it recorded and synced in a loop.
#[derive(Default)]
struct Seen {
    recorded: Vec<Uuid>,
    synced: u64,
    failed: u64,
    /// When each failed sync ended, and what it said.
    errors: Vec<(Instant, String)>,
    /// When each successful sync ended.
    successes: Vec<Instant>,
}

/// Records a report and syncs, over and over, until `stop`: the load the
/// database restarts under. Every failure must be one the device may retry.
fn keep_syncing(client: &Client, at: Location, tag: &str, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = client
            .record_report(report_at("0101", at, &format!("{tag} {i}")))
            .unwrap();
        i += 1;
        seen.lock().unwrap().recorded.push(id);
        let result = client.sync();
        let mut seen = seen.lock().unwrap();
        match result {
            Ok(summary) => {
                assert!(summary.rejected.is_empty(), "{summary:?}");
                seen.synced += 1;
                seen.successes.push(Instant::now());
            }
            Err(e) => {
                assert!(e.is_retryable(), "{tag}: a failure not to retry: {e:?}");
                assert!(e.to_string().contains("kept on this device"), "{e}");
                seen.failed += 1;
                seen.errors.push((Instant::now(), e.to_string()));
            }
        }
    }
}

#[test]
fn the_database_restarted_under_load_loses_nothing_and_the_processes_recover() {
    const TEST: &str = "database_restarted";
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    // A cluster of the test's own: the shared one serves other tests.
    let Some(cluster) = cluster::private() else {
        return;
    };
    // Devices sync back to back here: room for it in the connection rate.
    let pair = pair_on(
        tmp.path(),
        cluster.database(),
        "[rate]\nconnections_per_minute = 60000\nconnection_burst = 1000\n",
    );
    let (cell, here) = cells_with_points(&pair.admin, 1).remove(0);
    for name in ["ann", "bo", "cy"] {
        admin::add_user(&pair.admin, name, Role::Warden, vec![cell.clone()]).unwrap();
    }
    admin::add_user(&pair.admin, "sam", Role::Supervisor, vec![]).unwrap();
    // Ann on process 1, Bo on process 2, each through its own address; Cy
    // syncs once, while the database is down, and lets her app retry.
    let relays = [
        Relay::start(pair.addrs[0], 41),
        Relay::start(pair.addrs[1], 42),
    ];
    let ann = enrol(&pair, &relays[0], &tmp.path().join("ann"), "ann");
    let bo = enrol(&pair, &relays[1], &tmp.path().join("bo"), "bo");
    let sam = enrol(&pair, &relays[0], &tmp.path().join("sam"), "sam");
    let cy = enrol(&pair, &relays[1], &tmp.path().join("cy"), "cy");
    let waits = AtomicU64::new(0);
    let count_waits = |p: SyncProgress| {
        if let SyncProgress::Waiting { .. } = p {
            waits.fetch_add(1, Ordering::SeqCst);
        }
    };
    let retrying = RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
        multiplier: 2.0,
        max_attempts: None,
    };

    let seen = [Mutex::new(Seen::default()), Mutex::new(Seen::default())];
    let stop = AtomicBool::new(false);
    let count = |i: usize| {
        let s = seen[i].lock().unwrap();
        (s.synced, s.failed)
    };
    let (stopped_at, resumed_at, resumed_synced, cy_summary) = std::thread::scope(|s| {
        let load = [
            s.spawn(|| keep_syncing(&ann, here, "ann", &seen[0], &stop)),
            s.spawn(|| keep_syncing(&bo, here, "bo", &seen[1], &stop)),
        ];
        wait_until(Duration::from_secs(120), "both devices synced", || {
            count(0).0 >= 3 && count(1).0 >= 3
        });
        log(TEST, started, "under load; stopping the database");
        let failed_before = [count(0).1, count(1).1];
        assert_eq!(failed_before, [0, 0], "failures before the restart");
        let stopped_at = Instant::now();
        cluster.stop().unwrap();
        log(TEST, started, "database stopped");
        wait_until(Duration::from_secs(120), "both devices saw it", || {
            count(0).1 > 0 && count(1).1 > 0
        });
        cy.record_report(report_at("0101", here, "cy while the database is down"))
            .unwrap();
        let cy_sync = s.spawn(|| {
            cy.sync_retrying_blocking(
                &retrying,
                Controls {
                    cancel: None,
                    progress: Some(&count_waits),
                },
            )
        });
        wait_until(
            Duration::from_secs(120),
            "Cy's app was told to wait",
            || waits.load(Ordering::SeqCst) > 0,
        );
        cluster.resume().unwrap();
        let resumed_at = Instant::now();
        log(TEST, started, "database started again");
        let synced = [count(0).0, count(1).0];
        // The same processes answer again (nothing restarts them here).
        wait_until(
            Duration::from_secs(120),
            "both devices synced again",
            || count(0).0 >= synced[0] + 3 && count(1).0 >= synced[1] + 3,
        );
        stop.store(true, Ordering::SeqCst);
        for l in load {
            l.join().unwrap();
        }
        let cy_summary = cy_sync.join().unwrap().expect("Cy's retries end in a sync");
        (stopped_at, resumed_at, synced, cy_summary)
    });
    // Cy's one report went through on a retry, with nothing for her to do.
    assert_eq!((cy_summary.pushed, cy_summary.pending), (1, 0));
    log(
        TEST,
        started,
        format!(
            "Cy's app retried {} times, then synced",
            waits.load(Ordering::SeqCst)
        ),
    );

    for (i, (name, client)) in [("ann", &ann), ("bo", &bo)].into_iter().enumerate() {
        let s = seen[i].lock().unwrap();
        let first_error = s.errors.first().expect("an error").0;
        let last_error = s.errors.last().expect("an error").0;
        let back = s
            .successes
            .iter()
            .find(|t| **t > last_error)
            .expect("a sync after the last error");
        log(
            TEST,
            started,
            format!(
                "{name}: {} syncs, {} failed; errors from {:.2}s to {:.2}s after the stop \
                 (the database was down {:.2}s), synced again {:.2}s after it was back; \
                 first error: {}",
                s.synced,
                s.failed,
                (first_error - stopped_at).as_secs_f64(),
                (last_error - stopped_at).as_secs_f64(),
                (resumed_at - stopped_at).as_secs_f64(),
                back.saturating_duration_since(resumed_at).as_secs_f64(),
                s.errors[0].1,
            ),
        );
        assert!(s.synced > resumed_synced[i]);
        // Whatever was not acknowledged is still on the device: the next
        // sync sends it, once.
        drop(s);
        let last = client.sync().unwrap();
        assert_eq!((last.pending, client.outbox_len().unwrap()), (0, 0));
    }
    sam.sync().unwrap();
    let mut expected: BTreeSet<Uuid> = seen
        .iter()
        .flat_map(|s| s.lock().unwrap().recorded.clone())
        .collect();
    expected.extend(
        cy.list_reports()
            .unwrap()
            .iter()
            .filter(|r| r.note.starts_with("cy"))
            .map(|r| r.id),
    );
    assert_exactly_once(&pair.admin, &sam, &expected);
    log(
        TEST,
        started,
        format!("{} reports, each once at the supervisor", expected.len()),
    );
}

fn server_command(data: &Path) -> Command {
    let mut command = Command::new(bins::path("gridwarden-server"));
    command.arg("--data").arg(data);
    command
}

fn serve_args(command: &mut Command) -> &mut Command {
    command.args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
}

#[test]
fn serve_on_an_unreachable_database_names_it_without_its_password_and_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let no_socket = tmp.path().join("no-such-dir").display().to_string();
    // Nothing listens on loopback's TCP port 1, and no socket is in a
    // directory that does not exist. Needs no PostgreSQL.
    let cases = [
        (
            "postgres://warden:s3cret-pw@127.0.0.1:1/city".to_owned(),
            "postgres://warden@127.0.0.1:1/city".to_owned(),
        ),
        (
            format!(
                "postgresql://warden:s3cret-pw@{}:5432/city?connect_timeout=5",
                no_socket.replace('/', "%2F")
            ),
            format!(
                "postgresql://warden@{}:5432/city",
                no_socket.replace('/', "%2F")
            ),
        ),
    ];
    for (i, (url, shown)) in cases.iter().enumerate() {
        let data = tmp.path().join(format!("data{i}"));
        // By flag, and by the environment variable.
        let by_flag = serve_args(server_command(&data).args(["--store", url])).output();
        let by_env = serve_args(server_command(&data).env("GRIDWARDEN_STORE", url)).output();
        for out in [by_flag.unwrap(), by_env.unwrap()] {
            let said = String::from_utf8_lossy(&out.stderr);
            let printed = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{said}");
            assert!(said.contains(shown.as_str()), "{said}");
            assert!(said.contains("cannot reach the database"), "{said}");
            assert!(
                !said.contains("s3cret") && !printed.contains("s3cret"),
                "the password was printed: {said}{printed}"
            );
            assert!(!printed.contains("listening"), "{printed}");
        }
    }
}

#[test]
fn serve_on_a_database_from_a_newer_build_refuses_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.database();
    let data = tmp.path().join("data");
    let init = server_command(&data)
        .args(["--store", &url, "init"])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    cluster
        .sql(
            &url,
            "UPDATE schema_lock SET version = version + 7 WHERE id = 1",
        )
        .unwrap();
    let newer = cluster
        .sql(&url, "SELECT version FROM schema_lock WHERE id = 1")
        .unwrap();
    let before = cluster.dump(&url).unwrap();
    for out in [
        serve_args(server_command(&data).args(["--store", &url])).output(),
        server_command(&data)
            .args(["--store", &url, "status"])
            .output(),
    ] {
        let out = out.unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(&format!("schema {newer}")), "{said}");
        assert!(said.contains("upgrade the server"), "{said}");
    }
    let after = cluster.dump(&url).unwrap();
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(b, a)| b != a)
        .take(5)
        .collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "the refusal changed the database: {changed:?}"
    );
}

#[test]
fn config_show_and_help_never_print_the_store_password() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("server.toml");
    std::fs::write(
        &file,
        "[server]\nstore = \"postgres://warden:s3cret-pw@db.example.org/city?sslmode=disable\"\n\
         store_pool_size = 40\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let show = server_command(&data)
        .arg("--config")
        .arg(&file)
        .args(["config", "show"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&show.stdout);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(
        printed.contains("postgres://warden:***@db.example.org/city?sslmode=disable"),
        "{printed}"
    );
    assert!(printed.contains("store_pool_size = 40"), "{printed}");

    let help = server_command(&data)
        .env("GRIDWARDEN_STORE", "postgres://warden:s3cret-pw@db/city")
        .arg("--help")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&help.stdout);
    assert!(printed.contains("GRIDWARDEN_STORE"), "{printed}");
    assert!(!printed.contains("s3cret"), "{printed}");

    // A pool size out of range is refused with the key's name.
    std::fs::write(&file, "[server]\nstore_pool_size = 0\n").unwrap();
    let check = server_command(&data)
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success());
    assert!(said.contains("server.store_pool_size"), "{said}");
}
