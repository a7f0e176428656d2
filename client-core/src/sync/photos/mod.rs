//! Photo upload, after the records of a sync: each photo the server may take
//! is offered (the answer says how much it already holds, so an upload cut
//! at 90% sends only the last 10%), then sent in chunks, each with its own
//! BLAKE3 so a damaged chunk is caught and sent again. Every request is its
//! own QUIC stream, so records never queue behind photo bytes. Chunk sizes
//! follow the measured link ([`pace`]).

pub(crate) mod pace;

use gridwarden_protocol::{
    ClientMessage, ErrorCode, PhotoChunk, PhotoHash, PhotoOffer, ServerMessage,
};

use super::{exchange, Controls, Exchange, SyncProgress, SyncSummary};
use crate::error::{ClientError, Result};
use crate::link::unexpected;
use crate::local::Device;
use crate::store::photos::{self, LocalPhoto, PhotoState};
use pace::Pace;

/// Damaged chunks in a row after which the upload gives up for this sync.
const MAX_DAMAGED_IN_A_ROW: u32 = 3;

/// Uploads every photo waiting for the server.
pub(crate) async fn upload_all<E: Exchange>(
    device: &Device,
    link: &mut E,
    controls: Controls<'_>,
    summary: &mut SyncSummary,
) -> Result<()> {
    let waiting = photos::ready(device.lock_store().conn())?;
    let mut run = Run {
        pace: Pace::default(),
        photo: 0,
        photos: waiting.len() as u32,
        later_bytes: waiting.iter().map(|p| p.photo.size).sum(),
    };
    for photo in waiting {
        run.photo += 1;
        run.later_bytes -= photo.photo.size;
        upload_one(device, link, controls, summary, &photo, &mut run).await?;
    }
    summary.photos_waiting = photos::waiting(device.lock_store().conn())?;
    // The server now holds these whole: thumbnails, and the storage budget.
    // A failure here loses nothing (the files stay, the next pass tries
    // again) and must not fail a sync whose records and photos went through.
    match crate::local::budget::apply(device) {
        Ok(applied) => summary.photos_dropped += applied.dropped,
        Err(e) => tracing::warn!(reason = %e, "the photo storage budget was not applied"),
    }
    Ok(())
}

/// The server holds this photo whole.
fn uploaded(device: &Device, photo: &LocalPhoto) -> Result<()> {
    let now = device.clock().now_ms() as i64;
    device.write(|tx, _| photos::mark_uploaded(tx, photo.photo.hash, now))
}

fn set_state(
    device: &Device,
    photo: &LocalPhoto,
    state: PhotoState,
    reason: Option<&str>,
) -> Result<()> {
    let mut store = device.lock_store();
    let tx = store.transaction()?;
    photos::set_state(&tx, photo.photo.hash, state, reason)?;
    tx.commit()?;
    Ok(())
}

/// Where the uploads of one sync stand: the link's pace carries over from
/// photo to photo.
struct Run {
    pace: Pace,
    /// The photo being sent (from 1) and how many this sync sends.
    photo: u32,
    photos: u32,
    /// Bytes of the photos after the current one.
    later_bytes: u64,
}

impl Run {
    fn progress(&self, hash: PhotoHash, sent: u64, total: u64) -> SyncProgress {
        let rate = self.pace.rate();
        let left = total.saturating_sub(sent) + self.later_bytes;
        SyncProgress::Photo {
            hash: hash.to_hex(),
            sent,
            total,
            photo: self.photo,
            photos: self.photos,
            rate_bytes_per_s: rate.map_or(0, |r| r as u64),
            left_ms: rate
                .filter(|r| *r > 0.0)
                .map(|r| (left as f64 * 1000.0 / r) as u64),
        }
    }
}

async fn upload_one<E: Exchange>(
    device: &Device,
    link: &mut E,
    controls: Controls<'_>,
    summary: &mut SyncSummary,
    local: &LocalPhoto,
    run: &mut Run,
) -> Result<()> {
    let photo = &local.photo;
    let files = device.photo_files();
    let offer = ClientMessage::PhotoOffer(PhotoOffer {
        photo: photo.clone(),
    });
    let mut received = match exchange(link, &offer, controls).await? {
        ServerMessage::PhotoStatus(s) if s.complete => {
            uploaded(device, local)?;
            summary.photos_uploaded += 1;
            return Ok(());
        }
        ServerMessage::PhotoStatus(s) => s.received,
        ServerMessage::Error(e) if e.code == ErrorCode::PhotoTooLarge => {
            set_state(device, local, PhotoState::Refused, Some(&e.message))?;
            // The server will never take it: it only fills the phone.
            files.remove(photo.hash)?;
            device.write(|tx, _| photos::set_full(tx, photo.hash, false))?;
            summary.photos_refused.push(e.message);
            return Ok(());
        }
        other => return Err(unexpected(other, "a photo offer")),
    };
    let mut damaged_in_a_row = 0;
    while received < photo.size {
        let data = files
            .read_at(photo.hash, received, run.pace.chunk_len())
            .map_err(|e| {
                ClientError::InvalidInput(format!(
                    "photo {} cannot be read on this device ({e}); it cannot be sent",
                    photo.hash
                ))
            })?;
        if data.is_empty() {
            return Err(ClientError::InvalidInput(format!(
                "photo {} on this device is shorter than recorded; it cannot be sent",
                photo.hash
            )));
        }
        let len = data.len() as u64;
        let chunk = ClientMessage::PhotoChunk(PhotoChunk {
            hash: photo.hash,
            total: photo.size,
            offset: received,
            chunk_hash: PhotoHash::of(&data).0,
            data,
        });
        summary.photo_bytes_sent += len;
        let clock = device.clock();
        let sent_at = clock.now_ms();
        match exchange(link, &chunk, controls).await? {
            ServerMessage::PhotoStatus(s) => {
                damaged_in_a_row = 0;
                run.pace
                    .acknowledged(len as usize, clock.now_ms().saturating_sub(sent_at));
                received = s.received;
                controls.report(run.progress(photo.hash, received, photo.size));
                if s.complete {
                    break;
                }
            }
            ServerMessage::Error(e) if e.code == ErrorCode::CorruptChunk => {
                damaged_in_a_row += 1;
                summary.photo_chunks_resent += 1;
                tracing::warn!(photo = %photo.hash, offset = received, reason = %e.message, "photo chunk damaged; sending it again");
                if damaged_in_a_row >= MAX_DAMAGED_IN_A_ROW {
                    return Err(ClientError::Offline(format!(
                        "photo {} keeps arriving damaged ({}); it will be tried again at the next sync",
                        photo.hash, e.message
                    )));
                }
                // The server may have dropped a whole damaged photo: ask
                // again where it stands.
                match exchange(link, &offer, controls).await? {
                    ServerMessage::PhotoStatus(s) => received = s.received,
                    other => return Err(unexpected(other, "a photo offer")),
                }
            }
            other => return Err(unexpected(other, "a photo chunk")),
        }
    }
    uploaded(device, local)?;
    summary.photos_uploaded += 1;
    Ok(())
}
