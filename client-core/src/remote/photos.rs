//! Photos fetched on demand by whoever reviews a report or a case: in
//! chunks, checked against the photo's hash, kept on the device.

use std::path::{Path, PathBuf};

use gridwarden_protocol::clock::Clock;
use gridwarden_protocol::{ClientMessage, FetchPhoto, PhotoHash, PhotoRef, ServerMessage};

use super::{closing, open};
use crate::error::{ClientError, Result};
use crate::link::{unexpected, Connect, Exchange};
use crate::local::{budget, photos, Device};
use crate::sync::photos::pace::Pace;

/// Writes a photo to `out`, fetching it from the server first unless its
/// full file is on this device (never there, or dropped under the storage
/// budget). Returns its size.
pub async fn fetch<C: Connect>(
    device: &Device,
    connect: &C,
    photo: &PhotoRef,
    out: &Path,
) -> Result<u64> {
    let files = device.photo_files();
    let _whole = device.photo_pins().pin(photo.hash);
    bring_here(device, connect, photo, &files).await?;
    photos::copy_out(&files, photo, out)
}

/// Brings a photo's full file onto this device (from the server unless it
/// is here) and returns where it is. It is the newest whole one kept: the
/// budget drops it after the others, at a later pass.
pub async fn fetch_here<C: Connect>(
    device: &Device,
    connect: &C,
    photo: &PhotoRef,
) -> Result<PathBuf> {
    let files = device.photo_files();
    let _whole = device.photo_pins().pin(photo.hash);
    bring_here(device, connect, photo, &files).await?;
    Ok(files.path(photo.hash))
}

/// Under the caller's pin: a fetched photo is kept, checked against its
/// hash, and the budget applied again around it (the one asked for stays).
async fn bring_here<C: Connect>(
    device: &Device,
    connect: &C,
    photo: &PhotoRef,
    files: &photos::PhotoFiles,
) -> Result<()> {
    // A budget pass under way ends before the file is looked at: every later
    // one sees the pin (`local::budget::apply`).
    drop(device.lock_store());
    if files.has(photo.hash) {
        return Ok(());
    }
    let mut link = open(device, connect).await?;
    let downloaded = download(&mut link, photo.hash, device.clock().as_ref()).await;
    let bytes = closing(link, downloaded).await?;
    device.write(|tx, clock| photos::keep_fetched(tx, files, clock, photo, &bytes))?;
    budget::apply(device)?;
    Ok(())
}

/// Fetches a whole photo chunk by chunk, each sized to the measured link
/// as uploads are (`sync::photos::pace`), and checks it against its hash.
async fn download<E: Exchange>(
    link: &mut E,
    hash: PhotoHash,
    clock: &dyn Clock,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut pace = Pace::default();
    loop {
        let ask = ClientMessage::FetchPhoto(FetchPhoto {
            hash,
            offset: bytes.len() as u64,
            max_len: pace.chunk_len() as u32,
        });
        let asked_at = clock.now_ms();
        match link.exchange(&ask).await? {
            ServerMessage::PhotoData(d) if d.hash == hash && d.offset == bytes.len() as u64 => {
                pace.acknowledged(d.data.len(), clock.now_ms().saturating_sub(asked_at));
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
            refusal @ ServerMessage::Error(_) => return Err(unexpected(refusal, "a photo fetch")),
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
