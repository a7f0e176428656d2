//! The README walkthrough, run as a user would: the real `gridwarden-server`
//! and `gridwarden` binaries as separate processes.

use std::path::Path;
use std::process::Command;

use gridwarden_e2e::bins;
use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use serde_json::Value;

/// Starts `gridwarden-server serve` and checks what it prints first.
fn serve(data: &Path, port: u16) -> ServerProcess {
    let server = ServerProcess::start(data, port);
    assert!(
        server.banner.iter().any(|l| l.contains("fingerprint")),
        "{:?}",
        server.banner
    );
    server
}

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bins::path(bin))
        .args(args)
        .env("GRIDWARDEN_CONNECT_TIMEOUT", "2")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn ok_run(bin: &str, args: &[&str]) -> String {
    let (code, out, err) = run(bin, args);
    assert_eq!(code, 0, "{bin} {args:?} failed: {err}");
    out
}

fn ok_json(bin: &str, args: &[&str]) -> Value {
    let (code, out, err) = run(bin, args);
    assert_eq!(code, 0, "{bin} {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{bin} {args:?}: not JSON ({e}): {out}"))
}

#[test]
fn the_readme_walkthrough_works_with_the_real_binaries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let port = free_udp_port();

    // IT: admin commands work before and while the server runs, once the
    // data directory exists (only `init` and `serve` create one).
    ok_run("gridwarden-server", &["init", "--data", d]);
    let grids = ok_json(
        "gridwarden-server",
        &["grids", "list", "--json", "--data", d],
    );
    let cells = grids["cells"].as_array().unwrap();
    assert!(
        (40..=200).contains(&cells.len()),
        "sample layer has {} cells",
        cells.len()
    );
    let cell = cells[0]["code"].as_str().unwrap().to_owned();
    assert_eq!(cell.len(), 15);
    let cats = ok_json(
        "gridwarden-server",
        &["categories", "list", "--json", "--data", d],
    );
    assert!(cats["categories"].as_array().unwrap().len() >= 12);

    let _server = serve(&data, port);
    ok_json(
        "gridwarden-server",
        &[
            "users", "add", "ann", "--role", "warden", "--grids", &cell, "--json", "--data", d,
        ],
    );
    ok_json(
        "gridwarden-server",
        &[
            "users",
            "add",
            "sam",
            "--role",
            "supervisor",
            "--json",
            "--data",
            d,
        ],
    );
    let (code, _, err) = run(
        "gridwarden-server",
        &["users", "add", "zed", "--role", "mayor", "--data", d],
    );
    assert_ne!(code, 0);
    assert!(err.contains("mayor"), "{err}");

    let enrol = |user: &str| {
        ok_json(
            "gridwarden-server",
            &["devices", "enroll", "--user", user, "--json", "--data", d],
        )["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ann = tmp.path().join("ann");
    let sam = tmp.path().join("sam");
    let (ann_h, sam_h) = (ann.to_str().unwrap(), sam.to_str().unwrap());
    let (code, _, err) = run("gridwarden", &["enroll", &enrol("ann"), "--home", ann_h]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run("gridwarden", &["enroll", &enrol("sam"), "--home", sam_h]);
    assert_eq!(code, 0, "{err}");

    // The warden records with the server down.
    drop(_server);
    let categories = ok_json("gridwarden", &["categories", "--json", "--home", ann_h]);
    assert!(!categories.as_array().map(|a| a.is_empty()).unwrap_or(true) || categories.is_object());
    let report = ok_json(
        "gridwarden",
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            "111.6874",
            "--lat",
            "40.84945",
            "--note",
            "井盖缺失",
            "--json",
            "--home",
            ann_h,
        ],
    );
    let id = report["id"].as_str().unwrap().to_owned();
    let (code, _, err) = run("gridwarden", &["sync", "--home", ann_h]);
    assert_eq!(code, 2, "offline sync exits 2: {err}");
    assert!(err.contains("kept on this device"), "{err}");
    let (code, _, err) = run(
        "gridwarden",
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            "NaN",
            "--lat",
            "40",
            "--home",
            ann_h,
        ],
    );
    assert_eq!(code, 1);
    assert!(!err.is_empty());

    let _server = serve(&data, port);
    let summary = ok_json("gridwarden", &["sync", "--json", "--home", ann_h]);
    assert_eq!(summary["pushed"], 1, "{summary}");
    let summary = ok_json("gridwarden", &["sync", "--json", "--home", sam_h]);
    assert_eq!(summary["pulled"], 1, "{summary}");
    let shown = ok_json("gridwarden", &["show", &id, "--json", "--home", sam_h]);
    assert_eq!(shown["reporter"], "ann");
    assert_eq!(shown["note"], "井盖缺失");
    assert!(shown["grid_cell"].is_string(), "{shown}");
    let listed = ok_json("gridwarden", &["list", "--json", "--home", sam_h]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let devices = ok_json(
        "gridwarden-server",
        &["devices", "list", "--json", "--data", d],
    );
    assert_eq!(devices.as_array().unwrap().len(), 2);
}
