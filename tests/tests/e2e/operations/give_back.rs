//! A server killed and restored from a backup is behind its phones: each
//! phone sees the new store epoch in the Welcome and gives back what it
//! authored, by op id, so the restored server ends up with every record any
//! phone was ever told was stored, once. A real `gridwarden-server serve`
//! process, its `backup` and `restore` commands, and 20 real devices.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use gridwarden_client_core::{Client, ReportEdit, SyncSummary};
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use gridwarden_e2e::{cells_with_points, jpeg, report_at};
use gridwarden_server::{DataDir, Limits};
use uuid::Uuid;

use super::ok;
use super::watch::enrol;

const DEVICES: usize = 20;

/// Every device syncs at once; each must finish with nothing left queued.
fn sync_all(devices: &[Client]) -> Vec<SyncSummary> {
    std::thread::scope(|s| {
        let running: Vec<_> = devices
            .iter()
            .map(|d| s.spawn(move || d.sync().unwrap()))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    })
    .into_iter()
    .inspect(|summary| {
        assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
        assert_eq!(summary.pending, 0, "{summary:?}");
    })
    .collect()
}

/// What a device shows: each report's note by id (a report listed twice
/// fails here).
fn shown(device: &Client) -> BTreeMap<Uuid, String> {
    let mut seen = BTreeMap::new();
    for r in device.list_reports().unwrap() {
        assert!(
            seen.insert(r.id, r.note).is_none(),
            "report {} listed twice",
            r.id
        );
    }
    seen
}

fn total(summaries: &[SyncSummary], f: impl Fn(&SyncSummary) -> u64) -> u64 {
    summaries.iter().map(f).sum()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../grid/tests/fixtures/gpx")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn phones_give_back_what_a_restored_server_lacks_and_every_record_is_held_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    let (cell, here) = cells_with_points(&DataDir::open(&data, Limits::default()).unwrap(), 1)
        .pop()
        .expect("the sample layer has a cell");
    // Every warden covers the one cell: all see all, so all converge.
    for i in 0..DEVICES {
        ok(
            &data,
            &[
                "users",
                "add",
                &format!("w{i}"),
                "--role",
                "warden",
                "--grids",
                &cell,
            ],
        );
    }
    ok(&data, &["users", "add", "boss", "--role", "supervisor"]);
    let port = free_udp_port();
    let mut server = ServerProcess::start(&data, port);
    let devices: Vec<Client> = (0..DEVICES)
        .map(|i| {
            let user = format!("w{i}");
            enrol(&data, &tmp.path().join(&user), &user)
        })
        .collect();
    // What the devices were told is stored: each report's latest note.
    let mut expected: BTreeMap<Uuid, String> = BTreeMap::new();
    let record = |expected: &mut BTreeMap<Uuid, String>, device: &Client, note: String| {
        let id = device
            .record_report(report_at("0101", here, &note))
            .unwrap();
        expected.insert(id, note);
        id
    };

    // Before the backup: two reports each, one of device 0's with a photo.
    let mut first_ids = Vec::new();
    for (i, device) in devices.iter().enumerate() {
        first_ids.push(record(
            &mut expected,
            device,
            format!("w{i} before the backup"),
        ));
        record(
            &mut expected,
            device,
            format!("w{i} before the backup, second"),
        );
    }
    let kept_photo = jpeg(1, 50_000);
    let kept_file = tmp.path().join("kept.jpg");
    std::fs::write(&kept_file, &kept_photo).unwrap();
    devices[0]
        .attach_photos(first_ids[0], &[kept_file])
        .unwrap();
    let before = sync_all(&devices);
    let in_backup_ops = total(&before, |s| s.pushed);

    let backup = tmp.path().join("backup");
    ok(&data, &["backup", backup.to_str().unwrap()]);

    // After the backup: what only the phones will have once the server is
    // restored — new reports, an edit of a report in the backup, a photo,
    // a patrol's points.
    for (i, device) in devices.iter().enumerate() {
        record(&mut expected, device, format!("w{i} after the backup"));
        let note = format!("w{i} edited after the backup");
        device
            .edit_report(
                first_ids[i],
                ReportEdit {
                    note: Some(note.clone()),
                    ..Default::default()
                },
            )
            .unwrap();
        expected.insert(first_ids[i], note);
    }
    let lost_photo = jpeg(2, 70_000);
    let lost_file = tmp.path().join("lost.jpg");
    std::fs::write(&lost_file, &lost_photo).unwrap();
    let with_lost_photo = record(
        &mut expected,
        &devices[0],
        "w0 with a photo after the backup".into(),
    );
    devices[0]
        .attach_photos(with_lost_photo, &[lost_file])
        .unwrap();
    let patrol = devices[1]
        .patrol_import_gpx(&fixture("phone_app_1_1.gpx"), None)
        .unwrap();
    let after = sync_all(&devices);
    let lost_ops = total(&after, |s| s.pushed);
    assert_eq!(total(&after, |s| s.photos_uploaded), 1);

    // The server dies; IT restores the backup into a new directory and
    // serves it on the same address (the same certificate: phones pinned it).
    server.kill();
    let restored = tmp.path().join("restored");
    ok(
        &restored,
        &[
            "restore",
            backup.to_str().unwrap(),
            "--data",
            restored.to_str().unwrap(),
        ],
    );
    let _server = ServerProcess::start(&restored, port);

    // Each phone sees the new store epoch and gives back every op the
    // server ever acknowledged it; the server applies exactly the ones the
    // backup missed and counts the rest as duplicates.
    let again = sync_all(&devices);
    for (i, s) in again.iter().enumerate() {
        assert!(s.given_back > 0, "device {i} gave nothing back: {s:?}");
    }
    assert_eq!(
        total(&again, |s| s.given_back),
        in_backup_ops + lost_ops,
        "every acknowledged op is given back"
    );
    assert_eq!(
        total(&again, |s| s.pushed),
        lost_ops,
        "applied: what was lost"
    );
    assert_eq!(
        total(&again, |s| s.duplicates),
        in_backup_ops,
        "duplicates: what the backup held"
    );
    // Both photos are offered again; the server holds the first already.
    assert_eq!(total(&again, |s| s.photos_uploaded), 2);
    assert!(again[0].photo_bytes_sent >= lost_photo.len() as u64);
    assert!(again[0].photo_bytes_sent < (lost_photo.len() + kept_photo.len()) as u64);

    // Once more: phones that gave back early now pull what the others
    // gave back later. Nothing is given back twice.
    let settled = sync_all(&devices);
    assert_eq!(total(&settled, |s| s.given_back), 0);
    assert_eq!(total(&settled, |s| s.pushed + s.duplicates), 0);

    // A new supervisor device sees every acknowledged report once, as last
    // edited, and nothing else.
    let boss = enrol(&restored, &tmp.path().join("boss"), "boss");
    boss.sync().unwrap();
    assert_eq!(shown(&boss), expected, "the restored server's reports");
    // Every phone converged on the same.
    for (i, device) in devices.iter().enumerate() {
        assert_eq!(shown(device), expected, "device {i}");
    }

    // The photo given back arrives byte for byte; the patrol's points are
    // held once (the server's track equals the phone's).
    let view = boss.show_report(with_lost_photo).unwrap();
    let photo = boss.resolve_photo(&view.photos[0].hash).unwrap();
    let out = tmp.path().join("fetched.jpg");
    boss.fetch_photo_blocking(&photo, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), lost_photo);
    let local = devices[1].patrol(patrol.patrol).unwrap();
    let remote = boss.remote_patrol_blocking(patrol.patrol).unwrap();
    assert_eq!(remote.points, local.points);
    assert_eq!(remote.summary.points as u64, patrol.points_kept);

    // And in the server's own tables: each photo attached once, each point
    // stored once.
    let db = rusqlite::Connection::open_with_flags(
        restored.join(gridwarden_server::datadir::DB_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM report_photos"), 2);
    assert_eq!(
        count("SELECT count(*) FROM track_points"),
        patrol.points_kept as i64
    );
    let reports: HashSet<Uuid> = expected.keys().copied().collect();
    assert_eq!(
        count("SELECT count(*) FROM reports") as usize,
        reports.len()
    );
}
