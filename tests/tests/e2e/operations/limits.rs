//! Limits agreed once: the device learns the server's limits at enrolment
//! and at every sync, and the real `gridwarden` command line refuses at
//! recording time a note or a photo the server would refuse, recording
//! nothing, instead of keeping it until a sync is refused.

use std::path::Path;
use std::process::Command;

use gridwarden_e2e::{bins, jpeg, TestServer};
use gridwarden_protocol::Role;
use gridwarden_server::Limits;
use serde_json::Value;

fn gw(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bins::path("gridwarden"))
        .args(args)
        .arg("--home")
        .arg(home)
        .env("GRIDWARDEN_CONNECT_TIMEOUT", "5")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn gw_ok(home: &Path, args: &[&str]) -> String {
    let (code, out, err) = gw(home, args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    out
}

fn status(home: &Path) -> Value {
    serde_json::from_str(&gw_ok(home, &["status", "--json"])).unwrap()
}

/// `gridwarden report` at a point of the sample layer with `note` and photos.
fn report(home: &Path, note: &str, photos: &[&Path]) -> (i32, String, String) {
    let mut args = vec![
        "report",
        "--category",
        "0101",
        "--lon",
        "111.6874",
        "--lat",
        "40.84945",
        "--note",
        note,
    ];
    for p in photos {
        args.extend(["--photo", p.to_str().unwrap()]);
    }
    gw(home, &args)
}

#[test]
fn the_device_learns_the_servers_limits_and_refuses_at_recording_what_the_server_would_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    let strict = Limits {
        max_photo_bytes: 1024 * 1024,
        max_note_chars: 20,
        ..Limits::default()
    };
    let mut server = TestServer::start_with(&data, "127.0.0.1:0".parse().unwrap(), strict);
    server.add_user("ann", Role::Warden, &[]);
    let home = tmp.path().join("ann");
    gw_ok(&home, &["enroll", &server.enrolment_code("ann")]);

    // Learnt at enrolment, shown by `status`.
    let limits = &status(&home)["limits"];
    assert_eq!(limits["max_note_chars"], 20, "{limits}");
    assert_eq!(limits["max_photo_bytes"], 1024 * 1024, "{limits}");

    // A note one character too long (characters, not bytes) is refused
    // with the limit named, and nothing is recorded.
    let (code, _, err) = report(&home, &"井".repeat(21), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("21 characters") && err.contains("at most 20"),
        "{err}"
    );
    // A photo over the limit: refused before it is copied in.
    let big = tmp.path().join("big.jpg");
    std::fs::write(&big, jpeg(1, 1536 * 1024)).unwrap();
    let (code, _, err) = report(&home, "manhole cover", &[&big]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("1.5 MB") && err.contains("at most 1.0 MB"),
        "{err}"
    );
    let s = status(&home);
    assert_eq!(s["reports"], 0, "nothing recorded: {s}");
    assert_eq!(s["outbox"], 0, "{s}");
    let copied = std::fs::read_dir(home.join("photos"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(copied, 0, "the refused photo was not kept");

    // Within the limits: recorded, and the server takes it.
    let small = tmp.path().join("small.jpg");
    std::fs::write(&small, jpeg(2, 200 * 1024)).unwrap();
    let (code, _, err) = report(&home, &"井".repeat(20), &[&small]);
    assert_eq!(code, 0, "{err}");
    let synced: Value = serde_json::from_str(&gw_ok(&home, &["sync", "--json"])).unwrap();
    assert_eq!(synced["pushed"], 2, "{synced}");
    assert_eq!(synced["rejected"], Value::Array(vec![]), "{synced}");
    assert_eq!(synced["photos_uploaded"], 1, "{synced}");

    // IT raises the limits; the next sync teaches the device.
    let addr = server.addr;
    server.stop();
    let _server = TestServer::start_with(&data, addr, Limits::default());
    gw_ok(&home, &["sync"]);
    let limits = &status(&home)["limits"];
    assert_eq!(
        limits["max_note_chars"],
        gridwarden_protocol::validate::MAX_NOTE_CHARS,
        "{limits}"
    );
    let (code, _, err) = report(&home, &"井".repeat(21), &[&big]);
    assert_eq!(code, 0, "{err}");
    let synced: Value = serde_json::from_str(&gw_ok(&home, &["sync", "--json"])).unwrap();
    assert_eq!(synced["pushed"], 2, "{synced}");
    assert_eq!(synced["photos_uploaded"], 1, "{synced}");
}
