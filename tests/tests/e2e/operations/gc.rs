//! `gridwarden-server gc` through the real binary: a deleted report's photo
//! (its file and its index row) and an orphan upload part are listed (dry
//! run), then removed with
//! `--apply`; a live report's photo never is; recent files wait out the
//! grace period.

use std::time::{Duration, SystemTime};

use gridwarden_e2e::process::{free_udp_port, ServerProcess};
use gridwarden_e2e::report_at;
use gridwarden_protocol::PhotoHash;
use serde_json::Value;

use super::ok;
use super::watch::{enrol, IN_CELL};

fn photo(seed: u32) -> Vec<u8> {
    [0xFF, 0xD8, 0xFF, 0xE0]
        .into_iter()
        .chain(
            (0..20_000u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8),
        )
        .collect()
}

fn collected(report: &Value) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = report["collected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn gc_lists_then_removes_only_what_nothing_live_references() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    ok(&data, &["users", "add", "ann", "--role", "warden"]);
    let _server = ServerProcess::start(&data, free_udp_port());
    let ann = enrol(&data, &tmp.path().join("ann"), "ann");

    let (kept, gone) = (photo(1), photo(2));
    let mut ids = Vec::new();
    for (i, bytes) in [&kept, &gone].into_iter().enumerate() {
        let file = tmp.path().join(format!("{i}.jpg"));
        std::fs::write(&file, bytes).unwrap();
        let id = ann
            .record_report(report_at("0101", IN_CELL, &format!("gc {i}")))
            .unwrap();
        ann.attach_photos(id, &[file]).unwrap();
        ids.push(id);
    }
    ann.sync().unwrap();
    ann.delete_report(ids[1]).unwrap();
    ann.sync().unwrap();
    let path = |bytes: &[u8]| {
        let hex = PhotoHash::of(bytes).to_hex();
        data.join("photos").join(&hex[..2]).join(hex)
    };
    assert!(path(&kept).is_file() && path(&gone).is_file());

    // An upload part of a photo no report carries, untouched for two days.
    let orphan = PhotoHash::of(b"never finished").to_hex();
    let part = data.join("photos/partial").join(format!("{orphan}.part"));
    std::fs::write(&part, b"half a photo").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&part)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(48 * 3600))
        .unwrap();

    // The default: a dry run with a day's grace. The deleted report's photo
    // was stored a moment ago, so it waits; the old part would go.
    let dry: Value = serde_json::from_str(&ok(&data, &["gc", "--json"])).unwrap();
    assert_eq!(dry["applied"], false);
    assert_eq!(collected(&dry), vec![("part".to_owned(), orphan.clone())]);
    assert_eq!(dry["kept_recent"], 1, "{dry}");
    assert_eq!(dry["kept_referenced"], 1, "{dry}");
    // The deleted report's photo row is counted, not dropped.
    assert_eq!(dry["photo_rows"], 1, "{dry}");
    assert!(part.is_file(), "a dry run removes nothing");
    let text = ok(&data, &["gc"]);
    assert!(text.contains("run again with --apply"), "{text}");

    // No grace, applied: both go, the live report's photo stays.
    let gone_hex = PhotoHash::of(&gone).to_hex();
    let applied: Value = serde_json::from_str(&ok(
        &data,
        &["gc", "--apply", "--grace-hours", "0", "--json"],
    ))
    .unwrap();
    assert_eq!(applied["applied"], true);
    let mut expected = vec![
        ("part".to_owned(), orphan.clone()),
        ("photo".to_owned(), gone_hex),
    ];
    expected.sort();
    assert_eq!(collected(&applied), expected);
    assert!(!part.exists() && !path(&gone).exists());
    assert!(path(&kept).is_file());
    assert_eq!(applied["photo_rows"], 1, "{applied}");
    // Audited, rows and files in one line; a second run finds nothing.
    let audit = ok(&data, &["audit", "--json"]);
    assert!(audit.contains("gc.apply"), "{audit}");
    assert!(audit.contains("1 photo rows of deleted reports"), "{audit}");
    let again: Value = serde_json::from_str(&ok(
        &data,
        &["gc", "--apply", "--grace-hours", "0", "--json"],
    ))
    .unwrap();
    assert!(collected(&again).is_empty(), "{again}");
    assert_eq!(again["photo_rows"], 0, "{again}");

    // The kept photo still reaches a device that may see it.
    let fresh = enrol(&data, &tmp.path().join("ann2"), "ann");
    fresh.sync().unwrap();
    let view = fresh
        .list_reports()
        .unwrap()
        .into_iter()
        .find(|r| r.id == ids[0])
        .unwrap();
    let photo = fresh.resolve_photo(&view.photos[0].hash).unwrap();
    let copy = tmp.path().join("fetched.jpg");
    fresh.fetch_photo_blocking(&photo, &copy).unwrap();
    assert_eq!(std::fs::read(copy).unwrap(), kept);
}
