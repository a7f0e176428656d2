//! Photos on the device: kept in `HOME/photos/` under their BLAKE3 hash (so a
//! photo attached twice is stored once), attached to reports in the same
//! transaction as the report, uploaded at sync after the records, and fetched
//! on demand by whoever reviews a report. List views never fetch photos.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gridwarden_protocol::clock::Clock;
use gridwarden_protocol::photo::sniff_mime;
use gridwarden_protocol::{validate, PhotoHash, PhotoRef, ReportOp};
use rusqlite::{Connection, Transaction};
use uuid::Uuid;

use super::{apply_local, live_report, require_enrolment};
use crate::error::{ClientError, Result};
use crate::store::photos::{self, LocalPhoto};
use crate::store::reports::LocalCell;

/// Largest photo this device accepts from the camera or a file. The server
/// has its own, usually lower, limit: above it the report syncs without the
/// photo and the refusal is shown.
pub const DEVICE_MAX_PHOTO_BYTES: u64 = 64 * 1024 * 1024;

/// Where photo bytes live: full files in `HOME/photos/`, thumbnails
/// (`super::thumbnail`) in `HOME/thumbs/`.
#[derive(Debug)]
pub struct PhotoFiles {
    dir: PathBuf,
    thumbs: PathBuf,
}

impl PhotoFiles {
    pub fn new(home: &Path) -> Self {
        Self {
            dir: home.join("photos"),
            thumbs: home.join("thumbs"),
        }
    }

    pub fn path(&self, hash: PhotoHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    pub fn thumb_path(&self, hash: PhotoHash) -> PathBuf {
        let hex = hash.to_hex();
        self.thumbs.join(&hex[..2]).join(format!("{hex}.jpg"))
    }

    /// Stores a thumbnail (atomically, as photos are).
    pub fn write_thumb(&self, hash: PhotoHash, bytes: &[u8]) -> Result<()> {
        atomic_write(&self.thumb_path(hash), bytes)
    }

    pub fn has(&self, hash: PhotoHash) -> bool {
        self.path(hash).is_file()
    }

    /// Reads a photo file the user chose, checks it and stores a copy under
    /// its hash.
    pub fn import(&self, source: &Path) -> Result<PhotoRef> {
        let shown = source.display();
        let size = fs::metadata(source)
            .map_err(|e| ClientError::InvalidInput(format!("cannot read photo {shown}: {e}")))?
            .len();
        if size > DEVICE_MAX_PHOTO_BYTES {
            return Err(ClientError::InvalidInput(format!(
                "photo {shown} is {:.1} MB; this device takes photos up to {} MB",
                size as f64 / 1048576.0,
                DEVICE_MAX_PHOTO_BYTES / 1048576
            )));
        }
        let bytes = fs::read(source)
            .map_err(|e| ClientError::InvalidInput(format!("cannot read photo {shown}: {e}")))?;
        self.store(&bytes, &shown.to_string())
    }

    /// Stores bytes under their hash (atomically: a killed app leaves no
    /// half-written photo under a good name).
    pub fn store(&self, bytes: &[u8], label: &str) -> Result<PhotoRef> {
        if bytes.is_empty() {
            return Err(ClientError::InvalidInput(format!("photo {label} is empty")));
        }
        let mime = sniff_mime(bytes).ok_or_else(|| {
            ClientError::InvalidInput(format!("{label} is not a JPEG, PNG or HEIC photo"))
        })?;
        let photo = PhotoRef {
            hash: PhotoHash::of(bytes),
            size: bytes.len() as u64,
            mime: mime.to_owned(),
        };
        self.write(photo.hash, bytes)?;
        Ok(photo)
    }

    pub fn write(&self, hash: PhotoHash, bytes: &[u8]) -> Result<()> {
        let target = self.path(hash);
        if target.is_file() {
            return Ok(());
        }
        atomic_write(&target, bytes)
    }

    /// Removes a photo's file (gone already is fine).
    pub fn remove(&self, hash: PhotoHash) -> Result<()> {
        match fs::remove_file(self.path(hash)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Up to `len` bytes from `offset`.
    pub fn read_at(&self, hash: PhotoHash, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut file = File::open(self.path(hash))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut data = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut data)?;
        Ok(data)
    }
}

/// Writes `bytes` to `target` under a temporary name, then renames it: a
/// killed app leaves no half-written file under a good name.
fn atomic_write(target: &Path, bytes: &[u8]) -> Result<()> {
    let parent = target.parent().expect("photo paths have a parent");
    fs::create_dir_all(parent)?;
    let name = target.file_name().expect("photo paths have a name");
    let temp = parent.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut file = File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temp, target)?;
    Ok(())
}

/// A photo of a report as a device shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PhotoView {
    pub hash: String,
    pub size: u64,
    pub mime: String,
    /// `queued`, `ready`, `uploaded`, `refused`, `fetched`, or `remote` (on
    /// the server only, not on this device).
    pub state: String,
    pub reason: Option<String>,
    /// What of it is on this device: `full` (the whole file), `thumbnail`
    /// (only its thumbnail: the full file was dropped under the storage
    /// budget, `fetch_photo` brings it back) or `none`.
    pub here: String,
    /// The thumbnail's file (JPEG, longest side 320 px), once the server
    /// holds the photo; `None` for one not yet uploaded, or not an image
    /// this device decodes (HEIC).
    pub thumbnail: Option<String>,
}

impl PhotoView {
    pub(crate) fn of(photo: &PhotoRef, local: Option<LocalPhoto>) -> Self {
        let mut view = Self {
            hash: photo.hash.to_hex(),
            size: photo.size,
            mime: photo.mime.clone(),
            state: "remote".to_owned(),
            reason: None,
            here: "none".to_owned(),
            thumbnail: None,
        };
        if let Some(local) = local {
            view.set_local(local, None);
        }
        view
    }

    fn set_local(&mut self, local: LocalPhoto, files: Option<&PhotoFiles>) {
        self.here = if local.full {
            "full"
        } else if local.has_thumbnail() {
            "thumbnail"
        } else {
            "none"
        }
        .to_owned();
        self.thumbnail = files
            .filter(|_| local.has_thumbnail())
            .map(|f| f.thumb_path(local.photo.hash).display().to_string());
        self.state = local.state.as_str().to_owned();
        self.reason = local.reason;
    }
}

/// Fills in where each photo stands on this device: its state, whether its
/// full file or only its thumbnail is here, and the thumbnail's path.
pub fn describe(conn: &Connection, files: &PhotoFiles, views: &mut [PhotoView]) -> Result<()> {
    for view in views {
        let hash = PhotoHash::from_hex(&view.hash)?;
        if let Some(local) = photos::get(conn, hash)? {
            view.set_local(local, Some(files));
        }
    }
    Ok(())
}

/// Copies the photo files the user chose into the device's photo store;
/// their references, sorted, each once, checked. A photo larger than the
/// server takes (`limits`) is refused before any is copied.
pub fn import(
    files: &PhotoFiles,
    photo_files: &[PathBuf],
    limits: &gridwarden_protocol::DeviceLimits,
) -> Result<Vec<PhotoRef>> {
    for p in photo_files {
        // One that cannot be read is refused by the import, with its reason.
        if let Ok(meta) = fs::metadata(p) {
            super::limits::check_photo(limits, meta.len(), &p.display().to_string())?;
        }
    }
    let mut refs: Vec<PhotoRef> = photo_files
        .iter()
        .map(|p| files.import(p))
        .collect::<Result<_>>()?;
    refs.sort();
    refs.dedup();
    if !refs.is_empty() {
        validate::photo_refs(&refs)?;
    }
    Ok(refs)
}

/// Adds photos to a report recorded here or pulled.
pub fn attach_to(tx: &Transaction, clock: &dyn Clock, id: Uuid, refs: &[PhotoRef]) -> Result<()> {
    if refs.is_empty() {
        return Err(ClientError::InvalidInput("no photos given".into()));
    }
    let enrolment = require_enrolment(tx)?;
    let mut state = live_report(tx, id, "given photos")?;
    attach(tx, &enrolment, &mut state, refs, clock)
}

/// The local photos of a report, with where each stands.
pub fn of_report(conn: &Connection, files: &PhotoFiles, id: Uuid) -> Result<Vec<PhotoView>> {
    let state = crate::store::reports::state(conn, id)?
        .ok_or_else(|| ClientError::NotFound(id.to_string()))?;
    let mut views: Vec<PhotoView> = state
        .photos
        .iter()
        .map(|p| PhotoView::of(p, None))
        .collect();
    describe(conn, files, &mut views)?;
    Ok(views)
}

/// Resolves a photo hash or a unique prefix of one among the photos of
/// reports and cases on this device.
pub fn resolve(conn: &Connection, text: &str) -> Result<PhotoRef> {
    let text = text.trim().to_ascii_lowercase();
    let case_photos = crate::store::cases::all(conn)?
        .into_iter()
        .flat_map(|c| c.history)
        .flat_map(|t| t.op.photos().to_vec());
    let mut found: Vec<PhotoRef> = crate::store::reports::all_states(conn)?
        .into_iter()
        .flat_map(|s| s.photos)
        .chain(case_photos)
        .filter(|p| p.hash.to_hex().starts_with(&text))
        .collect();
    found.sort();
    found.dedup();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 if text.len() == 64 => {
            // Not on a report here: fetch it by hash all the same (the
            // server decides whether this user may see it).
            let hash = PhotoHash::from_hex(&text)?;
            Ok(PhotoRef {
                hash,
                size: 0,
                mime: String::new(),
            })
        }
        0 => Err(ClientError::InvalidInput(format!(
            "no photo starting with `{text}` on a report or case on this device; sync, or give all 64 hex digits"
        ))),
        _ => Err(ClientError::InvalidInput(format!(
            "`{text}` matches more than one photo; give more of its hash"
        ))),
    }
}

/// Keeps a photo fetched from the server (already checked against its
/// hash) and records it as fetched, or as whole here again when it is one of
/// this device's own dropped under the budget.
pub fn keep_fetched(
    tx: &Transaction,
    files: &PhotoFiles,
    clock: &dyn Clock,
    photo: &PhotoRef,
    bytes: &[u8],
) -> Result<()> {
    files.write(photo.hash, bytes)?;
    let recorded = PhotoRef {
        size: bytes.len() as u64,
        mime: sniff_mime(bytes)
            .unwrap_or("application/octet-stream")
            .to_owned(),
        ..photo.clone()
    };
    photos::record_fetched(tx, &recorded, clock.now_ms() as i64)
}

/// Removes the files of the photos the server refused as larger than it
/// takes (its limit as it told this device at the last hello): it will never
/// take them, and they only fill the phone. Their rows stay, with the
/// refusal, for the user to see. Returns how many files went.
pub fn drop_too_large(device: &super::Device) -> Result<u64> {
    let (limit, refused) = {
        let store = device.lock_store();
        (
            super::limits::current(store.conn())?.max_photo_bytes,
            photos::refused(store.conn())?,
        )
    };
    let files = device.photo_files();
    let mut dropped = 0;
    for photo in refused.iter().filter(|p| p.photo.size > limit && p.full) {
        files.remove(photo.photo.hash)?;
        device.write(|tx, _| photos::set_full(tx, photo.photo.hash, false))?;
        dropped += 1;
    }
    Ok(dropped)
}

/// The photos of an attach the server refused as too large, when it carried
/// more than one: the answer does not say which was too large, so each is
/// attached again in its own op. The ones the server takes go through; the
/// too-large one alone is refused, and removed (ADR 0031). Nothing is sent
/// again for a report deleted meanwhile.
pub fn attach_apart(
    tx: &Transaction,
    clock: &dyn Clock,
    id: Uuid,
    refs: &[PhotoRef],
) -> Result<()> {
    let enrolment = require_enrolment(tx)?;
    let mut state = match live_report(tx, id, "given photos") {
        Ok(state) => state,
        Err(ClientError::NotFound(_) | ClientError::InvalidInput(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    for photo in refs {
        attach(
            tx,
            &enrolment,
            &mut state,
            std::slice::from_ref(photo),
            clock,
        )?;
    }
    Ok(())
}

/// Writes a photo held on this device to `out`; returns its size.
pub fn copy_out(files: &PhotoFiles, photo: &PhotoRef, out: &Path) -> Result<u64> {
    fs::copy(files.path(photo.hash), out)
        .map_err(|e| ClientError::InvalidInput(format!("cannot write {}: {e}", out.display())))
}

/// Queues `refs` for upload and applies the AttachPhotos op.
pub(crate) fn attach(
    tx: &Transaction,
    enrolment: &crate::store::meta::Enrolment,
    state: &mut gridwarden_protocol::ReportState,
    refs: &[PhotoRef],
    wall: &dyn Clock,
) -> Result<()> {
    for photo in refs {
        photos::queue(tx, photo, wall.now_ms() as i64)?;
    }
    apply_local(
        tx,
        enrolment,
        state,
        ReportOp::AttachPhotos(refs.to_vec()),
        LocalCell::Keep,
        wall,
    )?;
    Ok(())
}
