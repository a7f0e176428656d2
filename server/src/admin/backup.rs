//! `backup` and `restore`: a consistent copy of a data directory taken while
//! the server runs, and a new data directory made from one.
//!
//! The database is copied with SQLite's online backup API in one step, which
//! reads one snapshot (WAL readers never block writers): every push
//! acknowledged before the copy started is in it, nothing half-applied is.
//! Photos are copied after the snapshot. A finished photo is renamed into
//! place only once whole and is never changed, so every photo the snapshot
//! refers to is copied whole; photos finished during the copy come along
//! unreferenced (harmless), and partial uploads are left out (the phone
//! sends them again from the start).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::datadir::{is_data_dir, DB_FILE, LOCK_FILE, PHOTOS_DIR};

/// What a backup or restore copied.
#[derive(Debug, Serialize)]
pub struct Copied {
    pub path: PathBuf,
    pub database_bytes: u64,
    pub photos: u64,
    pub photo_bytes: u64,
    /// Certificate, key and config files.
    pub files: Vec<String>,
    pub reports: i64,
}

/// Copies the data directory `src` (running or not) into `dest`, which must
/// not exist or be empty.
pub fn backup(src: &Path, dest: &Path) -> anyhow::Result<Copied> {
    if !is_data_dir(src) {
        bail!("{} is no gridwarden data directory", src.display());
    }
    copy_dir(src, dest)
}

/// Makes the data directory `data` from the backup `src`; refuses a `data`
/// that exists and is not empty, so a restore never mixes with or
/// overwrites a live directory.
pub fn restore(src: &Path, data: &Path) -> anyhow::Result<Copied> {
    if !is_data_dir(src) {
        bail!(
            "{} is no gridwarden backup: it has no {DB_FILE}",
            src.display()
        );
    }
    let copied = copy_dir(src, data)?;
    let mut conn = Connection::open(data.join(DB_FILE))?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        bail!(
            "the restored database in {} fails SQLite's integrity check ({check}); the backup is damaged, take another",
            data.display()
        );
    }
    jump_feed(&mut conn)?;
    // The data is no longer what devices last saw: a new epoch tells them
    // (`Welcome::store_epoch`).
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [
            crate::service::versions::STORE_EPOCH_KEY,
            &uuid::Uuid::new_v4().to_string(),
        ],
    )?;
    Ok(copied)
}

/// How far a restore moves the change feed on: more writes than a server
/// takes between a backup and its restore.
pub const FEED_JUMP: i64 = 1 << 32;

/// Devices' pull cursors are feed positions, and theirs may be ahead of the
/// restored server's (they pulled what came after the backup). Were new
/// writes numbered on from the backup's last position, a device would skip
/// them until the feed passed its cursor. Moving the newest report far
/// ahead makes every later write land beyond any cursor a device can hold;
/// that one report is sent again, which the merge absorbs.
fn jump_feed(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE report_left_cells SET seq = seq + ?1 WHERE seq = (SELECT MAX(seq) FROM reports)",
        [FEED_JUMP],
    )?;
    tx.execute(
        "UPDATE reports SET seq = seq + ?1 WHERE seq = (SELECT MAX(seq) FROM reports)",
        [FEED_JUMP],
    )?;
    tx.commit()?;
    Ok(())
}

fn copy_dir(src: &Path, dest: &Path) -> anyhow::Result<Copied> {
    refuse_non_empty(dest)?;
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let database_bytes = copy_database(&src.join(DB_FILE), &dest.join(DB_FILE))?;
    // The certificate and key (devices pin them) and the config file.
    let mut files = Vec::new();
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skip = name.starts_with(DB_FILE)
            || name == LOCK_FILE
            || name.starts_with(crate::datadir::live::LIVE_FILE);
        if entry.file_type()?.is_file() && !skip {
            fs::copy(entry.path(), dest.join(&name))
                .with_context(|| format!("copying {}", entry.path().display()))?;
            files.push(name);
        }
    }
    files.sort();
    let (photos, photo_bytes) = copy_photos(&src.join(PHOTOS_DIR), &dest.join(PHOTOS_DIR))?;
    let conn = Connection::open_with_flags(dest.join(DB_FILE), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let reports = conn.query_row("SELECT count(*) FROM reports", [], |r| r.get(0))?;
    Ok(Copied {
        path: dest.to_owned(),
        database_bytes,
        photos,
        photo_bytes,
        files,
        reports,
    })
}

fn refuse_non_empty(dir: &Path) -> anyhow::Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty; give a new or empty directory (nothing was changed)",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// The whole database in one backup step: one read snapshot.
fn copy_database(src: &Path, dest: &Path) -> anyhow::Result<u64> {
    let from = Connection::open(src).with_context(|| format!("opening {}", src.display()))?;
    from.busy_timeout(Duration::from_secs(30))?;
    let mut to = Connection::open(dest).with_context(|| format!("creating {}", dest.display()))?;
    {
        let backup = Backup::new(&from, &mut to)?;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                // Another connection holds a lock SQLite's backup cannot wait
                // on by itself; try again shortly.
                StepResult::Busy | StepResult::Locked | StepResult::More => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    drop(to);
    Ok(fs::metadata(dest)?.len())
}

/// Finished photos (`photos/ab/abcd…`); `partial/` stays behind.
fn copy_photos(src: &Path, dest: &Path) -> anyhow::Result<(u64, u64)> {
    fs::create_dir_all(dest.join("partial"))?;
    let (mut count, mut bytes) = (0, 0);
    let Ok(shards) = fs::read_dir(src) else {
        return Ok((0, 0));
    };
    for shard in shards {
        let shard = shard?;
        if !shard.file_type()?.is_dir() || shard.file_name() == "partial" {
            continue;
        }
        let into = dest.join(shard.file_name());
        fs::create_dir_all(&into)?;
        for photo in fs::read_dir(shard.path())? {
            let photo = photo?;
            if photo.file_type()?.is_file() {
                bytes += fs::copy(photo.path(), into.join(photo.file_name()))
                    .with_context(|| format!("copying {}", photo.path().display()))?;
                count += 1;
            }
        }
    }
    Ok((count, bytes))
}
