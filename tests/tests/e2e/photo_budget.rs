//! Phones fill up no more (ADR 0031), over real QUIC: a device with a photo
//! storage budget keeps a thumbnail of each photo the server holds and drops
//! the full files over the budget, never one not yet uploaded; a dropped
//! photo comes back whole on demand; a photo too large for the server among
//! others in one attach is refused alone, removed from the phone with its
//! refusal listed, and the others reach the server.

use std::path::{Path, PathBuf};
use std::process::Command;

use gridwarden_client_core::{Client, ReportStatus};
use gridwarden_e2e::{bins, report_at, TestServer};
use gridwarden_protocol::{Location, PhotoHash, PhotoRef, Role};
use gridwarden_server::Limits;
use serde_json::Value;

const MB: u64 = 1024 * 1024;

/// A real JPEG (640×480, decodable: it gets a thumbnail) padded after its
/// end to `len` bytes, as big as a phone camera's, different for each seed.
fn photo(seed: u64, len: usize) -> Vec<u8> {
    let image = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([
            (x as u64 + seed * 31) as u8,
            (y as u64 + seed * 17) as u8,
            seed as u8,
        ])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&image)
        .unwrap();
    assert!(bytes.len() < len, "{} bytes", bytes.len());
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Bytes of the files under `dir`, temporary ones included.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                bytes_under(&path)
            } else {
                std::fs::metadata(path).unwrap().len()
            }
        })
        .sum()
}

/// Records `n` reports with one photo of `size` bytes each (seeds from
/// `first`); returns the reports and their photos' bytes.
fn take_photos(
    client: &Client,
    dir: &Path,
    at: &Location,
    first: u64,
    n: u64,
    size: usize,
) -> Vec<(uuid::Uuid, Vec<u8>)> {
    (first..first + n)
        .map(|seed| {
            let bytes = photo(seed, size);
            let file = write(dir, &format!("p{seed}.jpg"), &bytes);
            let id = client
                .record_report_with_photos(
                    report_at("0101", *at, &format!("photo {seed}")),
                    &[file],
                )
                .unwrap();
            (id, bytes)
        })
        .collect()
}

fn photo_ref(bytes: &[u8]) -> PhotoRef {
    PhotoRef {
        hash: PhotoHash::of(bytes),
        size: bytes.len() as u64,
        mime: "image/jpeg".into(),
    }
}

/// Takes `n` photos of `size` bytes under a budget of `budget`, syncs, and
/// checks what stays: returns the bytes under `photos/` and `thumbs/`.
fn day_under_budget(n: u64, size: usize, budget: u64) -> (Client, tempfile::TempDir, u64, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let home = tmp.path().join("ann");
    let ann = server.enrol(&home, "ann");
    let [(_, here), _] = server.two_cells();
    ann.set_photo_budget(Some(budget)).unwrap();

    let taken = take_photos(&ann, tmp.path(), &here, 0, n, size);
    // Nothing is uploaded yet: nothing goes, however far over the budget.
    assert_eq!(ann.set_photo_budget(Some(budget)).unwrap().dropped, 0);
    let before = ann.photo_storage().unwrap().usage;
    assert_eq!(before.full_bytes, n * size as u64);
    assert_eq!(before.unsent_bytes, n * size as u64);

    let summary = ann.sync().unwrap();
    assert_eq!(summary.photos_uploaded, n, "{summary:?}");
    let kept = budget / size as u64;
    assert_eq!(summary.photos_dropped, n - kept, "{summary:?}");
    let storage = ann.photo_storage().unwrap();
    let (full, thumbs) = (
        bytes_under(&home.join("photos")),
        bytes_under(&home.join("thumbs")),
    );
    assert_eq!(
        full, storage.usage.full_bytes,
        "the store says what is on disk"
    );
    assert_eq!(thumbs, storage.usage.thumbnail_bytes);
    assert!(
        full <= budget,
        "{full} bytes held over a budget of {budget}"
    );
    assert_eq!(storage.usage.thumbnail_only, n - kept);
    // Uploads go oldest first, so the ones acknowledged last stay whole.
    for (i, (id, _)) in taken.iter().enumerate() {
        let [view] = ann.report_photos(*id).unwrap().try_into().unwrap();
        let expect = if (i as u64) < n - kept {
            "thumbnail"
        } else {
            "full"
        };
        assert_eq!(view.here, expect, "photo {i}");
        assert_eq!(view.state, "uploaded");
        let thumb = image::open(view.thumbnail.as_ref().expect("a thumbnail")).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
    }
    drop(server);
    (ann, tmp, full, thumbs)
}

#[test]
fn a_device_keeps_its_photos_within_its_budget_and_fetches_a_dropped_one_back_byte_for_byte() {
    const SIZE: usize = 3_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let home = tmp.path().join("ann");
    let ann = server.enrol(&home, "ann");
    let [(_, here), _] = server.two_cells();
    ann.set_photo_budget(Some(10 * MB)).unwrap();

    let taken = take_photos(&ann, tmp.path(), &here, 0, 8, SIZE);
    let summary = ann.sync().unwrap();
    assert_eq!(summary.photos_uploaded, 8);
    assert_eq!(summary.photos_dropped, 5, "three of 3 MB fit in 10 MB");
    assert!(bytes_under(&home.join("photos")) <= 10 * MB);

    // The oldest was dropped: it comes back from the server on demand, byte
    // for byte, and stays whole while the budget makes room around it.
    let (first, bytes) = &taken[0];
    assert_eq!(ann.report_photos(*first).unwrap()[0].here, "thumbnail");
    let out = tmp.path().join("back.jpg");
    let size = ann.fetch_photo_blocking(&photo_ref(bytes), &out).unwrap();
    assert_eq!(size, SIZE as u64);
    assert!(std::fs::read(&out).unwrap() == *bytes, "byte for byte");
    let [view] = ann.report_photos(*first).unwrap().try_into().unwrap();
    assert_eq!(
        (view.here.as_str(), view.state.as_str()),
        ("full", "uploaded")
    );
    let kept = ann.photo_storage().unwrap().usage;
    assert!(kept.full_bytes <= 10 * MB, "another gave way: {kept:?}");
    assert!(bytes_under(&home.join("photos")) <= 10 * MB);

    // A budget of nothing: every photo the server holds goes, and a photo
    // not uploaded yet stays, over the budget, until it is.
    let [(unsent, unsent_bytes)] = take_photos(&ann, tmp.path(), &here, 100, 1, SIZE)
        .try_into()
        .unwrap();
    let applied = ann.set_photo_budget(Some(0)).unwrap();
    assert_eq!(applied.dropped, 3, "{applied:?}");
    let storage = ann.photo_storage().unwrap();
    assert_eq!(storage.usage.full_bytes, SIZE as u64);
    assert_eq!(storage.usage.unsent_bytes, SIZE as u64);
    assert_eq!(ann.report_photos(unsent).unwrap()[0].here, "full");
    let summary = ann.sync().unwrap();
    assert_eq!((summary.photos_uploaded, summary.photos_dropped), (1, 1));
    assert_eq!(bytes_under(&home.join("photos")), 0);
    let copy = tmp.path().join("unsent.jpg");
    ann.fetch_photo_blocking(&photo_ref(&unsent_bytes), &copy)
        .unwrap();
    assert!(std::fs::read(&copy).unwrap() == unsent_bytes);
}

/// The number the issue asks for: 50 photos of ~3 MB, a budget of 20 MB.
#[test]
fn fifty_photos_of_3_mb_leave_at_most_the_budget_and_their_thumbnails() {
    let budget = 20 * MB;
    let (ann, _tmp, full, thumbs) = day_under_budget(50, 3_000_000, budget);
    let status = ann.status().unwrap();
    println!(
        "50 photos of 3,000,000 bytes, budget {budget}: {full} bytes of full photos and {thumbs} bytes of thumbnails held ({} whole, {} thumbnail only); {} bytes without a budget",
        status.photos.usage.full_photos,
        status.photos.usage.thumbnail_only,
        50 * 3_000_000
    );
    assert_eq!(
        status.photos.usage.full_photos, 6,
        "six of 3 MB fit in 20 MB"
    );
    assert!(thumbs < 50 * 40_000, "{thumbs} bytes of thumbnails");
}

#[test]
fn a_too_large_photo_among_others_in_one_attach_is_refused_alone_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    // The device enrols while the server takes larger photos; the limit is
    // lowered before its next sync, so the photos recorded meanwhile (the
    // device refuses what it knows the server refuses) meet the server's
    // own refusal.
    let dir = tmp.path().join("server");
    let mut server = TestServer::start(&dir);
    server.add_user("ann", Role::Warden, &[]);
    server.add_user("sam", Role::Supervisor, &[]);
    let home = tmp.path().join("ann");
    let ann = server.enrol(&home, "ann");
    let sam = server.enrol(&tmp.path().join("sam"), "sam");
    let [(_, here), _] = server.two_cells();
    let small = [photo(1, 200_000), photo(3, 300_000)];
    let big = photo(2, 4 * MB as usize);
    let files = [
        write(tmp.path(), "a.jpg", &small[0]),
        write(tmp.path(), "big.jpg", &big),
        write(tmp.path(), "b.jpg", &small[1]),
    ];
    let id = ann
        .record_report_with_photos(report_at("0101", here, "three photos, one too big"), &files)
        .unwrap();
    let addr = server.addr;
    server.stop();
    let limits = Limits {
        max_photo_bytes: 3 * MB,
        ..Limits::default()
    };
    let server = TestServer::start_with(&dir, addr, limits);

    let summary = ann.sync().unwrap();
    assert!(summary.rejected.is_empty(), "{:?}", summary.rejected);
    assert_eq!(summary.photos_uploaded, 2, "the others went through");
    let [reason] = summary.photos_refused.clone().try_into().unwrap();
    assert!(
        reason.contains("4.0 MB") && reason.contains("3.0 MB"),
        "{reason}"
    );

    // The server holds the report with the two others, and their bytes.
    let held = server.admin().store().report(id).unwrap().unwrap();
    let mut on_server: Vec<_> = held.photos.iter().map(|p| p.hash).collect();
    on_server.sort();
    let mut expected: Vec<_> = small.iter().map(|b| PhotoHash::of(b)).collect();
    expected.sort();
    assert_eq!(on_server, expected);
    sam.sync().unwrap();
    let out = tmp.path().join("seen.jpg");
    sam.fetch_photo_blocking(&photo_ref(&small[1]), &out)
        .unwrap();
    assert!(std::fs::read(&out).unwrap() == small[1]);

    // On the phone: the refusal listed like the others, the report not
    // "rejected", the big photo's file gone.
    let listed = ann.rejections().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].report_id, listed[0].code.as_str()),
        (id, "photo_too_large")
    );
    assert_eq!(listed[0].reason, reason);
    let view = ann.show_report(id).unwrap();
    assert_eq!(view.status, ReportStatus::Synced);
    assert_eq!(view.photos.len(), 2);
    let listed_status = ann.list_reports().unwrap()[0].status.clone();
    assert_eq!(listed_status, ReportStatus::Synced);
    let hex = PhotoHash::of(&big).to_hex();
    assert!(!home.join("photos").join(&hex[..2]).join(&hex).exists());
    assert_eq!(
        ann.photo_storage().unwrap().usage.full_bytes,
        500_000,
        "only the two others are held"
    );
}

fn gw(home: &Path, args: &[&str]) -> String {
    let out = Command::new(bins::path("gridwarden"))
        .args(args)
        .arg("--home")
        .arg(home)
        .env("GRIDWARDEN_CONNECT_TIMEOUT", "5")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn the_command_line_sets_the_budget_shows_what_is_held_and_fetches_a_dropped_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("server"));
    server.add_user("ann", Role::Warden, &[]);
    let home = tmp.path().join("ann");
    gw(&home, &["enroll", &server.enrolment_code("ann")]);
    let bytes = photo(5, 1_500_000);
    let file = write(tmp.path(), "cover.jpg", &bytes);
    gw(
        &home,
        &[
            "report",
            "--category",
            "0101",
            "--lon",
            "111.6874",
            "--lat",
            "40.84945",
            "--note",
            "cover",
            "--photo",
            file.to_str().unwrap(),
        ],
    );
    let set = gw(&home, &["photos", "budget", "1MB"]);
    assert!(set.contains("Photo budget set to 1.0 MB"), "{set}");
    let synced = gw(&home, &["sync"]);
    assert!(synced.contains("1 full photo files"), "{synced}");

    let status = gw(&home, &["status"]);
    assert!(
        status.contains("Photos held: 0 whole (0.0 MB, budget 1.0 MB); 1 as thumbnails only"),
        "{status}"
    );
    let json: Value = serde_json::from_str(&gw(&home, &["status", "--json"])).unwrap();
    assert_eq!(json["photos"]["budget"], MB, "{json}");
    assert_eq!(json["photos"]["thumbnail_only"], 1, "{json}");

    let hash = PhotoHash::of(&bytes).to_hex();
    let fetched = gw(&home, &["photo", "fetch", &hash[..10]]);
    assert!(
        fetched.contains("is on this device whole (1500000 bytes)"),
        "{fetched}"
    );
    let path = home.join("photos").join(&hash[..2]).join(&hash);
    assert!(std::fs::read(path).unwrap() == bytes, "byte for byte");
    let shown: Value = serde_json::from_str(&gw(&home, &["photos", "budget", "--json"])).unwrap();
    assert_eq!(shown["full_photos"], 1, "{shown}");
    let off = gw(&home, &["photos", "budget", "unlimited"]);
    assert!(off.contains("unlimited"), "{off}");
}
