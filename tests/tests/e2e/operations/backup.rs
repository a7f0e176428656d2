//! A backup taken with the real binary while a fleet of devices pushes,
//! restored into a new directory and served.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::Instant;

use gridwarden_client_core::Client;
use gridwarden_e2e::{bins, report_at, TestServer};
use gridwarden_protocol::Role;
use serde_json::Value;
use uuid::Uuid;

const DEVICES: usize = 20;
/// Rounds a device pushes at most while the backup runs; it pushes once
/// more after the backup is done either way.
const MAX_ROUNDS: usize = 20;

/// Set once; waited for.
#[derive(Default)]
struct Flag(Mutex<bool>, Condvar);

impl Flag {
    fn set(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
    fn is_set(&self) -> bool {
        *self.0.lock().unwrap()
    }
    fn wait(&self) {
        let mut set = self.0.lock().unwrap();
        while !*set {
            set = self.1.wait(set).unwrap();
        }
    }
}

fn server_bin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bins::path("gridwarden-server"))
        .args(args)
        .env_remove("GRIDWARDEN_DATA")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_backup_taken_while_devices_push_restores_every_acknowledged_report_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Built before the clock starts: the backup is timed against the pushes.
    bins::path("gridwarden-server");
    let mut server = TestServer::start(&data);
    let [(cell, here), _] = server.two_cells();
    let devices: Vec<Client> = (0..DEVICES)
        .map(|i| {
            let user = format!("w{i}");
            server.add_user(&user, Role::Warden, &[&cell]);
            server.enrol(&tmp.path().join(&user), &user)
        })
        .collect();

    // Device 0's first report carries a photo.
    let photo: Vec<u8> = (0..60_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let photo = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &photo].concat();
    let photo_file = tmp.path().join("cover.jpg");
    std::fs::write(&photo_file, &photo).unwrap();

    // Every device pushes in rounds, each report's ack time noted, until
    // the backup is done and then once more. The backup starts once every
    // device has pushed a first round.
    let acked: Arc<Mutex<Vec<(Uuid, Instant)>>> = Arc::default();
    let pushing = Arc::new(Barrier::new(DEVICES + 1));
    let done = Arc::new(Flag::default());
    let threads: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, device)| {
            let (acked, pushing, done) = (acked.clone(), pushing.clone(), done.clone());
            let photo_file = photo_file.clone();
            std::thread::spawn(move || {
                let mut last = false;
                for round in 0.. {
                    let id = device
                        .record_report(report_at("0101", here, &format!("w{i} round {round}")))
                        .unwrap();
                    if i == 0 && round == 0 {
                        device
                            .attach_photos(id, std::slice::from_ref(&photo_file))
                            .unwrap();
                    }
                    if round == 1 {
                        pushing.wait();
                    }
                    let summary = device.sync().unwrap();
                    assert!(summary.pushed >= 1, "{summary:?}");
                    acked.lock().unwrap().push((id, Instant::now()));
                    if last {
                        break;
                    }
                    last = done.is_set();
                    if round + 1 >= MAX_ROUNDS && !last {
                        // Pushed enough; the last round must still come
                        // after the backup.
                        done.wait();
                        last = true;
                    }
                }
                device
            })
        })
        .collect();
    pushing.wait();
    let backup_started = Instant::now();
    let dest = tmp.path().join("backup");
    let (code, out, err) = server_bin(&["backup", path(&dest), "--json", "--data", path(&data)]);
    done.set();
    assert_eq!(code, 0, "backup failed: {err}");
    let copied: Value = serde_json::from_str(&out).unwrap();
    let devices: Vec<Client> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let before: HashSet<Uuid> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < backup_started)
        .map(|(id, _)| *id)
        .collect();
    eprintln!(
        "{} reports acknowledged before the backup, {} in it, {} pushed in all",
        before.len(),
        copied["reports"],
        acked.lock().unwrap().len()
    );
    assert!(before.len() >= DEVICES, "every device pushed round 0 first");
    let pushed = acked.lock().unwrap().len() as i64;
    let in_backup = copied["reports"].as_i64().unwrap();
    assert!(
        in_backup < pushed,
        "devices pushed after the backup: {in_backup} in it of {pushed}"
    );
    assert_eq!(copied["photos"], 1, "{copied}");
    let (fingerprint, addr) = (server.fingerprint, server.addr);
    server.stop();

    // A restore refuses a directory in use or not empty, and changes nothing.
    let (code, _, err) = server_bin(&["restore", path(&dest), "--data", path(&data)]);
    assert_eq!(code, 1);
    assert!(err.contains("not empty"), "{err}");
    let (code, _, err) = server_bin(&[
        "restore",
        path(&data.join("photos")),
        "--data",
        path(&tmp.path().join("x")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no gridwarden backup"), "{err}");

    let restored = tmp.path().join("restored");
    let (code, out, err) = server_bin(&["restore", path(&dest), "--data", path(&restored)]);
    assert_eq!(code, 0, "restore failed: {err}");
    assert!(out.contains("restored into"), "{out}");

    // Served, the restored directory has every acknowledged report once,
    // with the same certificate the devices pinned.
    let server = TestServer::start_on(&restored, addr);
    assert_eq!(server.fingerprint, fingerprint);
    // A new store epoch: devices learn the server's data is not what they
    // last saw (Welcome::store_epoch).
    let epoch = |dir: &Path| {
        gridwarden_server::datadir::DataDir::open(dir, Default::default())
            .unwrap()
            .service
            .store_epoch()
    };
    assert_ne!(epoch(&restored), epoch(&data));
    server.add_user("boss", Role::Supervisor, &[]);
    let boss = server.enrol(&tmp.path().join("boss"), "boss");
    boss.sync().unwrap();
    let seen = boss.list_reports().unwrap();
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for r in &seen {
        *counts.entry(r.id).or_default() += 1;
    }
    let missing: Vec<_> = before
        .iter()
        .filter(|id| !counts.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "lost in the restore: {missing:?}");
    assert!(counts.values().all(|&n| n == 1), "a report listed twice");
    assert_eq!(seen.len() as i64, in_backup);

    // The devices carry on against the restored server: what one records
    // now reaches another. (Each also gives back what it pushed after the
    // backup: operations::give_back counts that.)
    let id = devices[2]
        .record_report(report_at("0101", here, "after the restore"))
        .unwrap();
    let summary = devices[2].sync().unwrap();
    assert!(summary.given_back > 0, "{summary:?}");
    assert!(summary.pushed >= 1, "{summary:?}");
    devices[1].sync().unwrap();
    assert!(
        devices[1]
            .list_reports()
            .unwrap()
            .iter()
            .any(|r| r.id == id),
        "a write after the restore was skipped by a device's cursor"
    );

    // The photo came along, byte for byte.
    let with_photo = seen
        .iter()
        .find(|r| !r.photos.is_empty())
        .expect("the photo's report");
    let out = tmp.path().join("fetched.jpg");
    let photo_ref = boss.resolve_photo(&with_photo.photos[0].hash).unwrap();
    boss.fetch_photo_blocking(&photo_ref, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), photo);
}
