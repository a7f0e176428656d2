//! Photos: who may attach, upload and fetch them, and the size limit.
//!
//! A photo is accepted for upload only once a report of the uploader's
//! refers to it (records travel first), so a device cannot fill the server
//! with bytes nobody asked for. Whoever may see a report may fetch its photos.

use gridwarden_protocol::photo::CHUNK_SIZE;
use gridwarden_protocol::{
    ErrorCode, FetchPhoto, PhotoChunk, PhotoData, PhotoHash, PhotoOffer, PhotoRef, PhotoStatus,
    ReportState,
};

use super::{Limits, Service, ServiceError, ServiceResult, Session};
use crate::authz::{self, Action, Actor, Target};
use crate::photos::{PhotoError, PhotoStore, Progress};
use crate::store::Rejection;

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

fn too_large(hash: PhotoHash, size: u64, limits: &Limits) -> String {
    format!(
        "photo {} is {}; this server accepts photos up to {}. The report is kept without it; take a smaller photo or lower the camera resolution",
        &hash.to_hex()[..12],
        megabytes(size),
        megabytes(limits.max_photo_bytes)
    )
}

/// Checks photos being attached to a report, beyond their shape.
pub(super) fn check_attach(
    state: &ReportState,
    photos: &[PhotoRef],
    limits: &Limits,
) -> Result<(), Rejection> {
    if let Some(big) = photos.iter().find(|p| p.size > limits.max_photo_bytes) {
        return Err(Rejection::new(
            ErrorCode::PhotoTooLarge,
            too_large(big.hash, big.size, limits),
        ));
    }
    let mut all: Vec<&PhotoHash> = state.photos.iter().map(|p| &p.hash).collect();
    all.extend(photos.iter().map(|p| &p.hash));
    all.sort();
    all.dedup();
    let max = gridwarden_protocol::photo::MAX_PHOTOS_PER_REPORT;
    if all.len() > max {
        return Err(Rejection::new(
            ErrorCode::InvalidInput,
            format!(
                "a report carries at most {max} photos; this would make {}",
                all.len()
            ),
        ));
    }
    Ok(())
}

fn report_target(r: &ReportState) -> Target<'_> {
    Target {
        owner: r.origin.as_ref().map(|o| o.reporter.as_str()),
        cell: r.grid_cell(),
    }
}

fn status(hash: PhotoHash, p: Progress) -> PhotoStatus {
    PhotoStatus {
        hash,
        received: p.received,
        complete: p.complete,
    }
}

impl Service {
    fn photo_store(&self) -> ServiceResult<&PhotoStore> {
        self.photos.as_ref().ok_or_else(|| {
            ServiceError::refused(ErrorCode::NotFound, "this server keeps no photos")
        })
    }

    /// Refuses an upload of a photo none of the user's reports refers to.
    fn may_upload(&self, session: &Session, photo: PhotoHash, size: u64) -> ServiceResult<()> {
        if size > self.limits.max_photo_bytes {
            return Err(ServiceError::refused(
                ErrorCode::PhotoTooLarge,
                too_large(photo, size, &self.limits),
            ));
        }
        let reports = self.store.photo_reports(photo)?;
        let announced = reports.iter().any(|r| {
            r.photos.iter().any(|p| p.hash == photo && p.size == size)
                && authz::check(&session.actor(), Action::AttachPhoto, &report_target(r)).is_ok()
        }) || self
            .store
            .case_photo_uses(photo)?
            .iter()
            .any(|u| u.taken_by == session.user && u.size == size);
        if !announced {
            return Err(ServiceError::refused(
                ErrorCode::NotFound,
                format!(
                    "no report or case step of yours refers to photo {} of {} bytes; sync it first",
                    &photo.to_hex()[..12],
                    size
                ),
            ));
        }
        Ok(())
    }

    pub fn photo_offer(&self, session: &Session, offer: &PhotoOffer) -> ServiceResult<PhotoStatus> {
        let photo = &offer.photo;
        self.may_upload(session, photo.hash, photo.size)?;
        let progress = self
            .photo_store()?
            .progress(photo.hash, photo.size)
            .map_err(photo_failure)?;
        if progress.received > 0 && !progress.complete {
            crate::metrics::get().photo_resumes.inc();
        }
        Ok(status(photo.hash, progress))
    }

    pub fn photo_chunk(&self, session: &Session, chunk: &PhotoChunk) -> ServiceResult<PhotoStatus> {
        if chunk.data.len() > 2 * CHUNK_SIZE {
            return Err(ServiceError::refused(
                ErrorCode::InvalidInput,
                format!("a photo chunk may carry at most {} bytes", 2 * CHUNK_SIZE),
            ));
        }
        self.may_upload(session, chunk.hash, chunk.total)?;
        let progress = self
            .photo_store()?
            .write_chunk(
                chunk.hash,
                chunk.total,
                chunk.offset,
                &chunk.data,
                &chunk.chunk_hash,
            )
            .map_err(photo_failure)?;
        let metrics = crate::metrics::get();
        metrics.photo_bytes_received.inc_by(chunk.data.len() as u64);
        if progress.complete {
            metrics.photos_stored.inc();
            tracing::info!(photo = %chunk.hash, bytes = chunk.total, device = %session.device_id, "photo stored");
        }
        Ok(status(chunk.hash, progress))
    }

    pub fn fetch_photo(&self, session: &Session, fetch: &FetchPhoto) -> ServiceResult<PhotoData> {
        let user = self.active_user(&session.user)?;
        let reader = Actor {
            user: &user.name,
            role: user.role,
            cells: &user.cells,
        };
        let may_read =
            |r: &ReportState| authz::check(&reader, Action::ReadReport, &report_target(r)).is_ok();
        let mut visible = self.store.photo_reports(fetch.hash)?.iter().any(may_read);
        if !visible {
            // A photo of a case step: readable with the case's report.
            for taken in self.store.case_photo_uses(fetch.hash)? {
                if self
                    .store
                    .report(taken.report_id)?
                    .as_ref()
                    .is_some_and(may_read)
                {
                    visible = true;
                    break;
                }
            }
        }
        if !visible {
            return Err(ServiceError::refused(
                ErrorCode::NotFound,
                format!(
                    "photo {} is not on a report you may see",
                    &fetch.hash.to_hex()[..12]
                ),
            ));
        }
        let max_len = (fetch.max_len as usize).clamp(1, 2 * CHUNK_SIZE);
        let (size, data) = self
            .photo_store()?
            .read(fetch.hash, fetch.offset, max_len)
            .map_err(photo_failure)?;
        crate::metrics::get()
            .photo_bytes_sent
            .inc_by(data.len() as u64);
        Ok(PhotoData {
            hash: fetch.hash,
            size,
            offset: fetch.offset.min(size),
            data,
        })
    }
}

fn photo_failure(e: PhotoError) -> ServiceError {
    let code = match &e {
        PhotoError::CorruptChunk { .. } | PhotoError::CorruptPhoto { .. } => {
            ErrorCode::CorruptChunk
        }
        PhotoError::OutOfBounds { .. } => ErrorCode::InvalidInput,
        PhotoError::Missing(_) => ErrorCode::NotFound,
        PhotoError::Io(io) => {
            tracing::error!(error = %io, "photo storage failed");
            return ServiceError::refused(
                ErrorCode::Internal,
                "the server could not store the photo; it will be sent again at the next sync",
            );
        }
    };
    ServiceError::refused(code, e.to_string())
}
