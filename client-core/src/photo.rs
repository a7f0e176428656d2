//! Photos on the device: kept in `HOME/photos/` under their BLAKE3 hash (so a
//! photo attached twice is stored once), attached to reports in the same
//! transaction as the report, uploaded at sync after the records, and fetched
//! on demand by whoever reviews a report. List views never fetch photos.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gridwarden_protocol::clock::Clock;
use gridwarden_protocol::photo::{sniff_mime, CHUNK_SIZE};
use gridwarden_protocol::{
    validate, ClientMessage, FetchPhoto, NewReport, PhotoHash, PhotoRef, ReportOp, ServerMessage,
};
use uuid::Uuid;

use crate::client::{apply_local, live_report, require_enrolment};
use crate::error::{ClientError, Result};
use crate::store::photos::{self, LocalPhoto};
use crate::store::reports::LocalCell;
use crate::Client;

/// Largest photo this device accepts from the camera or a file. The server
/// has its own, usually lower, limit: above it the report syncs without the
/// photo and the refusal is shown.
pub const DEVICE_MAX_PHOTO_BYTES: u64 = 64 * 1024 * 1024;

/// Where photo bytes live.
#[derive(Debug)]
pub(crate) struct PhotoFiles {
    dir: PathBuf,
}

impl PhotoFiles {
    pub fn new(home: &Path) -> Self {
        Self {
            dir: home.join("photos"),
        }
    }

    pub fn path(&self, hash: PhotoHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir.join(&hex[..2]).join(hex)
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

    fn write(&self, hash: PhotoHash, bytes: &[u8]) -> Result<()> {
        let target = self.path(hash);
        if target.is_file() {
            return Ok(());
        }
        let parent = target.parent().expect("photo paths have a parent");
        fs::create_dir_all(parent)?;
        let temp = parent.join(format!(".{}.tmp", hash.to_hex()));
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, &target)?;
        Ok(())
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
}

impl PhotoView {
    pub(crate) fn of(photo: &PhotoRef, local: Option<LocalPhoto>) -> Self {
        let (state, reason) = match local {
            Some(l) => (l.state.as_str().to_owned(), l.reason),
            None => ("remote".to_owned(), None),
        };
        Self {
            hash: photo.hash.to_hex(),
            size: photo.size,
            mime: photo.mime.clone(),
            state,
            reason,
        }
    }
}

impl Client {
    pub(crate) fn photo_files(&self) -> PhotoFiles {
        PhotoFiles::new(self.home())
    }

    /// Records a new report with photos (files the user chose): the photos
    /// are copied into the device's photo store, then the report and its
    /// photo references are written in one transaction.
    pub fn record_report_with_photos(
        &self,
        input: NewReport,
        photo_files: &[PathBuf],
    ) -> Result<Uuid> {
        validate::new_report(&input)?;
        let refs = self.import_photos(photo_files)?;
        let id = self.record_report_inner(input, |tx, enrolment, state, now| {
            if !refs.is_empty() {
                attach(tx, enrolment, state, &refs, now)?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    /// Adds photos to a report recorded here or pulled.
    pub fn attach_photos(&self, id: Uuid, photo_files: &[PathBuf]) -> Result<()> {
        let refs = self.import_photos(photo_files)?;
        if refs.is_empty() {
            return Err(ClientError::InvalidInput("no photos given".into()));
        }
        let mut store = self.lock_store();
        let tx = store.transaction()?;
        let enrolment = require_enrolment(&tx)?;
        let mut state = live_report(&tx, id, "given photos")?;
        attach(&tx, &enrolment, &mut state, &refs, &**self.clock())?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn import_photos(&self, photo_files: &[PathBuf]) -> Result<Vec<PhotoRef>> {
        let files = self.photo_files();
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

    /// The local photos of a report, with where each stands.
    pub fn report_photos(&self, id: Uuid) -> Result<Vec<PhotoView>> {
        let store = self.lock_store();
        let state = crate::store::reports::state(store.conn(), id)?
            .ok_or_else(|| ClientError::NotFound(id.to_string()))?;
        state
            .photos
            .iter()
            .map(|p| Ok(PhotoView::of(p, photos::get(store.conn(), p.hash)?)))
            .collect()
    }

    /// Resolves a photo hash or a unique prefix of one among the photos of
    /// reports on this device.
    pub fn resolve_photo(&self, text: &str) -> Result<PhotoRef> {
        let text = text.trim().to_ascii_lowercase();
        let store = self.lock_store();
        let case_photos = crate::store::cases::all(store.conn())?
            .into_iter()
            .flat_map(|c| c.history)
            .flat_map(|t| t.op.photos().to_vec());
        let mut found: Vec<PhotoRef> = crate::store::reports::all_states(store.conn())?
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

    /// Writes a photo to `out`, fetching it from the server first (in
    /// chunks, checked against its hash) unless it is on this device.
    /// Returns its size.
    pub fn fetch_photo_blocking(&self, photo: &PhotoRef, out: &Path) -> Result<u64> {
        crate::transport::runtime()?.block_on(self.fetch_photo(photo, out))
    }

    pub async fn fetch_photo(&self, photo: &PhotoRef, out: &Path) -> Result<u64> {
        let files = self.photo_files();
        if !files.has(photo.hash) {
            let bytes = self
                .with_server(|session| Box::pin(download(session, photo.hash)))
                .await?;
            files.write(photo.hash, &bytes)?;
            let recorded = PhotoRef {
                size: bytes.len() as u64,
                mime: sniff_mime(&bytes)
                    .unwrap_or("application/octet-stream")
                    .to_owned(),
                ..photo.clone()
            };
            let mut store = self.lock_store();
            let tx = store.transaction()?;
            photos::record_fetched(&tx, &recorded, self.clock().now_ms() as i64)?;
            tx.commit()?;
        }
        fs::copy(files.path(photo.hash), out)
            .map_err(|e| ClientError::InvalidInput(format!("cannot write {}: {e}", out.display())))
    }
}

fn attach(
    tx: &rusqlite::Transaction,
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

/// Fetches a whole photo chunk by chunk and checks it against its hash.
async fn download(session: &mut crate::transport::Session, hash: PhotoHash) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    loop {
        let ask = ClientMessage::FetchPhoto(FetchPhoto {
            hash,
            offset: bytes.len() as u64,
            max_len: CHUNK_SIZE as u32,
        });
        match session.request(&ask).await? {
            ServerMessage::PhotoData(d) if d.hash == hash && d.offset == bytes.len() as u64 => {
                if d.data.is_empty() && (bytes.len() as u64) < d.size {
                    return Err(ClientError::Protocol(
                        "the server sent an empty photo chunk".into(),
                    ));
                }
                bytes.extend_from_slice(&d.data);
                if bytes.len() as u64 >= d.size {
                    break;
                }
            }
            ServerMessage::Error(e) => {
                return Err(ClientError::Refused {
                    code: e.code,
                    message: e.message,
                })
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "unexpected answer to a photo fetch: {other:?}"
                )))
            }
        }
    }
    if PhotoHash::of(&bytes) != hash {
        return Err(ClientError::Protocol(format!(
            "photo {hash} arrived damaged (its hash does not match); fetch it again"
        )));
    }
    Ok(bytes)
}
