//! Power cuts, simulated on the files: what a cut leaves on the storage is
//! the database file plus a prefix of the log (frames reach the flash in
//! order of the appends that wrote them; the syncer's `fdatasync` makes every
//! frame before it durable). Every prefix, cut at a frame border or inside a
//! frame, and a checkpoint torn between pages, must open as a consistent
//! store holding a prefix of what the user recorded: each report whole with
//! its outbox op, none half-there.

use std::fs;
use std::path::Path;

use rusqlite::Connection;

use super::wal_path;
use crate::store::{Store, DB_FILE};
use crate::testutil::{cache_reference, category_table, enrolled_client, new_report};

/// WAL header and frame header sizes (sqlite.org/fileformat2.html#walformat).
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

struct Image {
    db: Vec<u8>,
    log: Vec<u8>,
    page_size: usize,
}

fn page_size(db: &[u8]) -> usize {
    match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65_536,
        n => n as usize,
    }
}

/// Copies the files of an open store as they are now (no close, so no
/// checkpoint on the way).
fn snapshot(home: &Path) -> Image {
    let db = fs::read(home.join(DB_FILE)).unwrap();
    let log = fs::read(wal_path(&home.join(DB_FILE))).unwrap();
    let page_size = page_size(&db);
    Image { db, log, page_size }
}

/// Opens a power-cut image in a fresh home through the real store (its
/// migrations, WAL recovery) and returns (reports, create ops in the outbox).
fn open_image(db: &[u8], log: &[u8]) -> (i64, i64) {
    let home = tempfile::tempdir().unwrap();
    fs::write(home.path().join(DB_FILE), db).unwrap();
    fs::write(wal_path(&home.path().join(DB_FILE)), log).unwrap();
    let store = Store::open(home.path()).expect("a power-cut image opens");
    let conn: &Connection = store.conn();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let reports: i64 = conn
        .query_row("SELECT count(*) FROM reports", [], |r| r.get(0))
        .unwrap();
    let ops: i64 = conn
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    (reports, ops)
}

/// A warden's device after `n` reports, each its own transaction.
fn device_with_reports(home: &Path, n: usize) -> crate::Client {
    let client = enrolled_client(home);
    cache_reference(&client, Some(&category_table(3)), None);
    // Everything so far (enrolment, reference data) into the database file,
    // and the log emptied, so that it holds only the reports: a log longer
    // than theirs (the migrations' writes) would leave stale frames at its
    // end, and "the last frame" would be one of those. The checkpoint the
    // store's opening asked for is waited for first: it would keep the log
    // from being truncated.
    client.lock_store().checkpoint();
    let busy: i64 = client
        .lock_store()
        .conn()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 0, "the log was truncated");
    client.flush_to_storage();
    for i in 0..n {
        client
            .record_report(new_report("0101", 111.6 + i as f64 * 1e-5, 40.8))
            .unwrap();
    }
    client.flush_to_storage();
    client
}

#[test]
fn a_cut_anywhere_in_the_log_leaves_whole_reports_in_the_order_recorded() {
    let home = tempfile::tempdir().unwrap();
    let client = device_with_reports(home.path(), 12);
    let image = snapshot(home.path());
    let frame = FRAME_HEADER + image.page_size;
    assert!(
        image.log.len() > WAL_HEADER + frame,
        "the reports are in the log"
    );

    let mut cuts: Vec<usize> = vec![0, WAL_HEADER / 2];
    let mut border = WAL_HEADER;
    while border <= image.log.len() {
        cuts.extend([border, border + FRAME_HEADER / 2, border + frame / 2]);
        border += frame;
    }
    cuts.push(image.log.len());
    cuts.retain(|&c| c <= image.log.len());

    let mut last = 0;
    let mut seen = std::collections::BTreeSet::new();
    for cut in cuts {
        let (reports, ops) = open_image(&image.db, &image.log[..cut]);
        assert_eq!(
            reports, ops,
            "cut at {cut}: a report without its op, or the reverse"
        );
        assert!(reports >= last, "cut at {cut}: a longer log lost a report");
        last = reports;
        seen.insert(reports);
    }
    // Each report is its own commit, and a cut fell after each of them.
    assert_eq!(seen, (0..=12).collect(), "every prefix of the reports");
    drop(client);
}

#[test]
fn a_cut_with_garbage_after_the_last_frame_keeps_what_was_whole() {
    let home = tempfile::tempdir().unwrap();
    let client = device_with_reports(home.path(), 5);
    let image = snapshot(home.path());
    let frame = FRAME_HEADER + image.page_size;
    // A cut mid-write can leave sectors of old or random bytes after the last
    // frame that reached the flash: SQLite's frame checksums end the log there.
    let mut log = image.log.clone();
    log.extend(std::iter::repeat_n(0xA5u8, frame));
    assert_eq!(open_image(&image.db, &log), (5, 5));
    // A sector of the last commit's frames never written: that commit is
    // dropped whole, the ones before stay.
    let mut torn = image.log.clone();
    let last_frame = WAL_HEADER + ((torn.len() - WAL_HEADER) / frame - 1) * frame;
    torn[last_frame + FRAME_HEADER + 100] ^= 0xFF;
    let (reports, ops) = open_image(&image.db, &torn);
    assert_eq!(reports, ops);
    assert_eq!(reports, 4, "only the torn last commit is dropped");
    drop(client);
}

#[test]
fn a_checkpoint_torn_between_pages_is_replayed_from_the_log() {
    let home = tempfile::tempdir().unwrap();
    let client = device_with_reports(home.path(), 20);
    let before = snapshot(home.path());
    // The checkpoint syncs the log, then copies its pages into the database:
    // a cut while copying leaves some pages new and some old, log intact.
    client.lock_store().checkpoint();
    let after = fs::read(home.path().join(DB_FILE)).unwrap();
    let pages = after.len() / before.page_size;
    assert!(pages > 2);
    for new_pages in [1, pages / 2, pages - 1] {
        let split = new_pages * before.page_size;
        let mut db = after[..split].to_vec();
        db.extend_from_slice(before.db.get(split..).unwrap_or(&[]));
        assert_eq!(
            open_image(&db, &before.log),
            (20, 20),
            "{new_pages} of {pages} pages new"
        );
    }
    drop(client);
}

#[test]
fn flushing_waits_for_a_sync_of_every_write_before_it() {
    let home = tempfile::tempdir().unwrap();
    let client = device_with_reports(home.path(), 3);
    let sync = client.lock_store().durable_handle();
    let ticket = client.lock_store().request_durable();
    sync.wait(ticket);
    // Later requests get later tickets; a flush covers them all.
    let next = client.lock_store().request_durable();
    assert!(next > ticket);
    client.flush_to_storage();
    sync.wait(next);
    drop(client);
}

#[test]
fn a_checkpoint_runs_on_its_own_thread_while_the_store_is_held() {
    let home = tempfile::tempdir().unwrap();
    let client = device_with_reports(home.path(), 20);
    let sync = client.lock_store().durable_handle();
    // The store's lock stays taken (a sync applying a page, a report being
    // recorded) while the log is copied into the database.
    let store = client.lock_store();
    let ticket = store.request_checkpoint();
    let (done, copied) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        sync.wait_checkpoint(ticket);
        let _ = done.send(());
    });
    copied
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the checkpoint finished without the store's lock");
    // The database file alone, without its log, holds every report.
    let db = fs::read(home.path().join(DB_FILE)).unwrap();
    assert_eq!(open_image(&db, &[]), (20, 20));
    drop(store);
    drop(client);
}
