//! `gc`: photo files nothing needs any more — a photo no live report and no
//! case step carries (its report deleted, its attachment refused, a restore
//! that went back before it), and upload parts of such photos — and the
//! photo index rows of deleted reports, listed, and with `--apply` removed.
//!
//! The rule that keeps data safe: a photo (or a part of one) is kept if a
//! report that is not deleted carries it (a patrol's photos are its reports'
//! photos), or any case step does (a case's history is never collected,
//! whatever became of its report), or its file changed within the grace
//! period (an upload under way, a photo a phone is giving back after a
//! restore). Each file's references are read again just before it is
//! removed, so a photo attached again meanwhile stays.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use gridwarden_protocol::PhotoHash;
use serde::Serialize;

use super::access;
use crate::datadir::{DataDir, PHOTOS_DIR};

#[derive(Debug, Serialize)]
pub struct Collected {
    pub hash: String,
    pub bytes: u64,
    /// `photo` (a finished photo) or `part` (an upload in part).
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct GcReport {
    /// Whether the files were removed (`--apply`) or only listed.
    pub applied: bool,
    pub grace_hours: u64,
    /// Photos and parts kept because something references them.
    pub kept_referenced: usize,
    /// Unreferenced, but changed within the grace period.
    pub kept_recent: usize,
    pub collected: Vec<Collected>,
    pub collected_bytes: u64,
    /// Photo index rows of deleted reports: dropped with `--apply` (in the
    /// unit of work that writes the audit line), counted otherwise.
    pub photo_rows: u64,
}

/// Every photo file and part under `DATA/photos` with its hash.
fn files(photos: &Path) -> anyhow::Result<Vec<(PhotoHash, PathBuf, &'static str)>> {
    let mut found = Vec::new();
    let Ok(dirs) = std::fs::read_dir(photos) else {
        return Ok(found);
    };
    for dir in dirs {
        let dir = dir?;
        let name = dir.file_name().to_string_lossy().into_owned();
        if !dir.file_type()?.is_dir() {
            continue;
        }
        let partial = name == "partial";
        for file in std::fs::read_dir(dir.path())? {
            let file = file?;
            let file_name = file.file_name().to_string_lossy().into_owned();
            let hex = if partial {
                match file_name.strip_suffix(".part") {
                    Some(hex) => hex.to_owned(),
                    None => continue,
                }
            } else {
                file_name
            };
            // Anything not named by a hash is not ours to judge.
            if let Ok(hash) = PhotoHash::from_hex(&hex) {
                found.push((hash, file.path(), if partial { "part" } else { "photo" }));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

fn referenced(data: &DataDir, hash: PhotoHash) -> anyhow::Result<bool> {
    let store = data.store();
    Ok(!store.photo_reports(hash)?.is_empty() || !store.case_photo_uses(hash)?.is_empty())
}

pub fn gc(data: &DataDir, apply: bool, grace: Duration) -> anyhow::Result<GcReport> {
    // Files are dated by the wall clock; "now" is the service's.
    let now = UNIX_EPOCH + Duration::from_millis(u64::try_from(data.service.now()).unwrap_or(0));
    let mut report = GcReport {
        applied: apply,
        grace_hours: grace.as_secs() / 3600,
        kept_referenced: 0,
        kept_recent: 0,
        collected: Vec::new(),
        collected_bytes: 0,
        photo_rows: data.store().photo_rows_of_deleted_reports()?,
    };
    for (hash, path, kind) in files(&data.path.join(PHOTOS_DIR))? {
        if referenced(data, hash)? {
            report.kept_referenced += 1;
            continue;
        }
        let meta = std::fs::metadata(&path)?;
        let age = now
            .duration_since(meta.modified()?)
            .unwrap_or(Duration::ZERO);
        if age < grace {
            report.kept_recent += 1;
            continue;
        }
        if apply {
            // Looked at again right before: attached meanwhile, it stays.
            if referenced(data, hash)? {
                report.kept_referenced += 1;
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("removing {}", path.display()))
                    )
                }
            }
        }
        report.collected_bytes += meta.len();
        report.collected.push(Collected {
            hash: hash.to_hex(),
            bytes: meta.len(),
            kind,
        });
    }
    if apply && (!report.collected.is_empty() || report.photo_rows > 0) {
        // The rows and the audit line land together; the files, which no
        // transaction covers, went first (a crash between leaves files
        // gone that the next run's line does not name, never a line for a
        // change that did not happen).
        let files = (report.collected.len(), report.collected_bytes);
        report.photo_rows = crate::store::write(data.store().as_ref(), |tx| {
            let rows = tx.forget_photos_of_deleted_reports()?;
            tx.append_audit(&access::record(
                data,
                "gc.apply",
                "photos",
                format!(
                    "{} files, {} bytes no live report or case step references; {rows} photo rows of deleted reports",
                    files.0, files.1
                ),
            ))?;
            Ok(rows)
        })?;
    }
    Ok(report)
}
