//! The storage budget for photos (ADR 0031): once the server holds a photo,
//! the device keeps a thumbnail of it and may drop its full file, the one the
//! server has held longest first, until the full files fit the budget the app
//! set. A photo not yet uploaded is never dropped, nor one being fetched or
//! viewed ([`Pins`]); a dropped photo comes back whole on demand
//! (`remote::photos::fetch`).

use std::collections::HashMap;
use std::sync::Mutex;

use gridwarden_protocol::PhotoHash;
use serde::Serialize;

use super::photos::PhotoFiles;
use super::{thumbnail, Device};
use crate::error::Result;
use crate::store::photos;

/// Photos whose full file must stay while someone holds a [`Pinned`]: the
/// one being fetched or viewed.
#[derive(Debug, Default)]
pub struct Pins(Mutex<HashMap<PhotoHash, u32>>);

impl Pins {
    /// Keeps `hash` whole until the guard is dropped.
    pub fn pin(&self, hash: PhotoHash) -> Pinned<'_> {
        *self.lock().entry(hash).or_default() += 1;
        Pinned { pins: self, hash }
    }

    pub fn is_pinned(&self, hash: PhotoHash) -> bool {
        self.lock().contains_key(&hash)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PhotoHash, u32>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A photo kept whole while this lives.
#[derive(Debug)]
pub struct Pinned<'a> {
    pins: &'a Pins,
    hash: PhotoHash,
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        let mut pins = self.pins.lock();
        if let Some(count) = pins.get_mut(&self.hash) {
            *count -= 1;
            if *count == 0 {
                pins.remove(&self.hash);
            }
        }
    }
}

/// What one pass of the budget did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Thumbnails made (of photos the server now holds).
    pub thumbnails: u64,
    /// Full files dropped, and their bytes.
    pub dropped: u64,
    pub dropped_bytes: u64,
}

/// Makes the thumbnails the server's photos lack, then drops full files,
/// oldest acknowledged first, until they fit the budget. Runs after each
/// sync, when the budget changes and after a fetch.
pub fn apply(device: &Device) -> Result<Applied> {
    let files = device.photo_files();
    let mut applied = Applied {
        thumbnails: make_thumbnails(device, &files)?,
        ..Applied::default()
    };
    let mut store = device.lock_store();
    let tx = store.transaction()?;
    let Some(budget) = photos::budget(&tx)? else {
        return Ok(applied);
    };
    // What the store says is here, checked against the files: a drop cut
    // between the file's removal and the commit leaves a row that says
    // "whole" for a file that is gone.
    let mut held = 0;
    for photo in photos::held(&tx)? {
        if files.has(photo.photo.hash) {
            held += photo.photo.size;
        } else {
            photos::set_full(&tx, photo.photo.hash, false)?;
        }
    }
    if held > budget {
        let pins = device.photo_pins();
        for photo in photos::droppable(&tx)? {
            if held <= budget {
                break;
            }
            let hash = photo.photo.hash;
            // Pins are taken before the store is locked to look at a file
            // (`remote::photos::fetch`), so one pinned now stays whole.
            if pins.is_pinned(hash) {
                continue;
            }
            files.remove(hash)?;
            photos::set_full(&tx, hash, false)?;
            held -= photo.photo.size;
            applied.dropped += 1;
            applied.dropped_bytes += photo.photo.size;
        }
    }
    tx.commit()?;
    if applied.dropped > 0 {
        tracing::info!(
            dropped = applied.dropped,
            bytes = applied.dropped_bytes,
            held,
            budget,
            "photo files dropped under the storage budget; thumbnails kept"
        );
    }
    Ok(applied)
}

/// Thumbnails for the photos the server holds that have none tried yet,
/// made without holding the store: decoding a photo takes tens of
/// milliseconds a photo, and recording must not wait for it.
fn make_thumbnails(device: &Device, files: &PhotoFiles) -> Result<u64> {
    let todo = photos::thumbless(device.lock_store().conn())?;
    if todo.is_empty() {
        return Ok(0);
    }
    let mut made = Vec::with_capacity(todo.len());
    for photo in &todo {
        let hash = photo.photo.hash;
        // Unreadable now (dropped by another pass meanwhile): tried later.
        let Ok(bytes) = std::fs::read(files.path(hash)) else {
            continue;
        };
        let size = match thumbnail::make(&bytes) {
            Some(thumb) => {
                files.write_thumb(hash, &thumb)?;
                thumb.len() as u64
            }
            None => 0,
        };
        made.push((hash, size));
    }
    let count = made.iter().filter(|(_, size)| *size > 0).count() as u64;
    device.write(|tx, _| {
        for (hash, size) in &made {
            photos::set_thumb(tx, *hash, *size)?;
        }
        Ok(())
    })?;
    Ok(count)
}

/// Sets the budget (`None`: unlimited) and applies it at once.
pub fn set(device: &Device, bytes: Option<u64>) -> Result<Applied> {
    device.write(|tx, _| photos::set_budget(tx, bytes))?;
    apply(device)
}

/// The budget and what the photos take now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Storage {
    /// The budget for full files in bytes; `None`: unlimited.
    pub budget: Option<u64>,
    #[serde(flatten)]
    pub usage: photos::Usage,
}

pub fn storage(conn: &rusqlite::Connection) -> Result<Storage> {
    Ok(Storage {
        budget: photos::budget(conn)?,
        usage: photos::usage(conn)?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use gridwarden_protocol::{PhotoHash, PhotoRef};
    use uuid::Uuid;

    use super::*;
    use crate::store::photos::{self, PhotoState};
    use crate::testutil::{enrolled_client, new_report};
    use crate::Client;

    const SIZE: usize = 100_000;

    /// A real JPEG (decodable: it gets a thumbnail), padded after its end to
    /// `SIZE` bytes with `seed` so each photo is a different file.
    fn photo_file(dir: &Path, seed: u8) -> PathBuf {
        let image = image::RgbImage::from_fn(480, 360, |x, y| {
            image::Rgb([(x as u8).wrapping_add(seed), y as u8, seed])
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80)
            .encode_image(&image)
            .unwrap();
        assert!(bytes.len() < SIZE);
        bytes.resize(SIZE, seed);
        let path = dir.join(format!("p{seed}.jpg"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Records a report with one photo; returns the report and the photo.
    fn record(client: &Client, dir: &Path, seed: u8) -> (Uuid, PhotoRef) {
        let id = client
            .record_report_with_photos(
                new_report("0101", 111.605, 40.805),
                &[photo_file(dir, seed)],
            )
            .unwrap();
        let state = crate::store::reports::state(client.lock_store().conn(), id)
            .unwrap()
            .unwrap();
        (id, state.photos[0].clone())
    }

    /// As the sync does: the attach acknowledged, then the photo uploaded
    /// at `at_ms`.
    fn acknowledge(client: &Client, photo: &PhotoRef, at_ms: i64) {
        let mut store = client.lock_store();
        let tx = store.transaction().unwrap();
        photos::mark_ready(&tx, std::slice::from_ref(photo)).unwrap();
        photos::mark_uploaded(&tx, photo.hash, at_ms).unwrap();
        tx.commit().unwrap();
    }

    fn full_here(client: &Client, hash: PhotoHash) -> bool {
        let stored = photos::get(client.lock_store().conn(), hash)
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.full,
            client.device().photo_files().has(hash),
            "the store says what the files are"
        );
        stored.full
    }

    fn bytes_of_dir(dir: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .map(|e| {
                let path = e.unwrap().path();
                if path.is_dir() {
                    bytes_of_dir(&path)
                } else {
                    std::fs::metadata(path).unwrap().len()
                }
            })
            .sum()
    }

    #[test]
    fn the_oldest_acknowledged_go_first_and_a_photo_not_uploaded_never() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let client = enrolled_client(dir.path());
        let recorded: Vec<(Uuid, PhotoRef)> =
            (0..5).map(|i| record(&client, files.path(), i)).collect();
        let photo = |i: usize| recorded[i].1.clone();
        // Acknowledged in another order than taken: 2, then 0, then 3.
        // 1 and 4 are not uploaded yet (4 is not even acknowledged as
        // attached).
        acknowledge(&client, &photo(2), 1_000);
        acknowledge(&client, &photo(0), 2_000);
        acknowledge(&client, &photo(3), 3_000);
        {
            let mut store = client.lock_store();
            let tx = store.transaction().unwrap();
            photos::mark_ready(&tx, &[photo(1)]).unwrap();
            tx.commit().unwrap();
        }

        let applied = client.set_photo_budget(Some(250_000)).unwrap();
        assert_eq!(applied.thumbnails, 3, "one for each photo the server holds");
        assert_eq!(applied.dropped, 3);
        assert_eq!(applied.dropped_bytes, 3 * SIZE as u64);
        let held: Vec<bool> = (0..5).map(|i| full_here(&client, photo(i).hash)).collect();
        // 500 KB held: 2 and 0 go (300 KB left), then 3 (200 KB ≤ 250 KB).
        assert_eq!(held, vec![false, true, false, false, true]);

        // A budget of nothing: the two not uploaded stay all the same.
        let applied = client.set_photo_budget(Some(0)).unwrap();
        assert_eq!(applied.dropped, 0);
        assert!(full_here(&client, photo(1).hash) && full_here(&client, photo(4).hash));
        let storage = client.photo_storage().unwrap();
        assert_eq!(storage.budget, Some(0));
        assert_eq!(storage.usage.full_photos, 2);
        assert_eq!(storage.usage.full_bytes, 2 * SIZE as u64);
        assert_eq!(storage.usage.unsent_bytes, 2 * SIZE as u64);
        assert_eq!(storage.usage.thumbnail_only, 3);
        assert_eq!(
            bytes_of_dir(&dir.path().join("photos")),
            storage.usage.full_bytes
        );
        assert_eq!(
            bytes_of_dir(&dir.path().join("thumbs")),
            storage.usage.thumbnail_bytes
        );

        // What a report shows: only the thumbnail here, and where it is.
        let views = client.report_photos(recorded[0].0).unwrap();
        assert_eq!(views[0].here, "thumbnail");
        assert_eq!(views[0].state, "uploaded");
        let thumb = views[0].thumbnail.as_ref().expect("a thumbnail path");
        let decoded = image::open(thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 240));
        let unsent = &client.report_photos(recorded[1].0).unwrap()[0];
        assert_eq!(
            (unsent.here.as_str(), unsent.thumbnail.as_deref()),
            ("full", None)
        );
        let shown = client.show_report(recorded[0].0).unwrap();
        assert_eq!(shown.photos[0].here, "thumbnail");
        assert_eq!(shown.photos[0].thumbnail.as_deref(), Some(thumb.as_str()));
    }

    #[test]
    fn a_photo_fetched_back_is_whole_again_and_goes_after_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let client = enrolled_client(dir.path());
        let photos: Vec<PhotoRef> = (0..3).map(|i| record(&client, files.path(), i).1).collect();
        for (i, p) in photos.iter().enumerate() {
            acknowledge(&client, p, 1_000 * (i as i64 + 1));
        }
        client.set_photo_budget(Some(0)).unwrap();
        assert!(photos.iter().all(|p| !full_here(&client, p.hash)));

        // Photo 0 comes back (as `remote::photos::fetch` keeps it).
        let bytes = std::fs::read(files.path().join("p0.jpg")).unwrap();
        client
            .device()
            .write(|tx, clock| {
                crate::local::photos::keep_fetched(
                    tx,
                    &client.device().photo_files(),
                    clock,
                    &photos[0],
                    &bytes,
                )
            })
            .unwrap();
        assert!(full_here(&client, photos[0].hash));
        let stored = photos::get(client.lock_store().conn(), photos[0].hash)
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.state,
            PhotoState::Uploaded,
            "still this device's own"
        );
        // Photo 1 back too, later: with room for one, 0 goes first.
        let bytes = std::fs::read(files.path().join("p1.jpg")).unwrap();
        client
            .device()
            .write(|tx, _| {
                crate::local::photos::keep_fetched(
                    tx,
                    &client.device().photo_files(),
                    &*gridwarden_protocol::clock::ManualClock::new(u64::MAX / 4),
                    &photos[1],
                    &bytes,
                )
            })
            .unwrap();
        client.set_photo_budget(Some(SIZE as u64)).unwrap();
        assert!(!full_here(&client, photos[0].hash));
        assert!(full_here(&client, photos[1].hash));
    }

    #[test]
    fn a_pinned_photo_stays_whole_until_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let client = enrolled_client(dir.path());
        let (_, photo) = record(&client, files.path(), 9);
        acknowledge(&client, &photo, 1_000);
        let pinned = client.device().photo_pins().pin(photo.hash);
        let second = client.device().photo_pins().pin(photo.hash);
        assert_eq!(client.set_photo_budget(Some(0)).unwrap().dropped, 0);
        drop(pinned);
        assert_eq!(apply(client.device()).unwrap().dropped, 0, "pinned twice");
        drop(second);
        assert_eq!(apply(client.device()).unwrap().dropped, 1);
        assert!(!full_here(&client, photo.hash));
    }

    #[test]
    fn a_photo_that_is_not_a_decodable_image_has_no_thumbnail_and_may_still_go() {
        let dir = tempfile::tempdir().unwrap();
        let client = enrolled_client(dir.path());
        let source = dir.path().join("fake.jpg");
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.resize(4096, 7);
        std::fs::write(&source, &bytes).unwrap();
        let id = client
            .record_report_with_photos(new_report("0101", 111.605, 40.805), &[source])
            .unwrap();
        let photo = client.report_photos(id).unwrap()[0].clone();
        let hash = PhotoHash::from_hex(&photo.hash).unwrap();
        acknowledge(
            &client,
            &PhotoRef {
                hash,
                size: photo.size,
                mime: photo.mime,
            },
            1_000,
        );
        let applied = client.set_photo_budget(Some(0)).unwrap();
        assert_eq!((applied.thumbnails, applied.dropped), (0, 1));
        let view = &client.report_photos(id).unwrap()[0];
        assert_eq!(
            (view.here.as_str(), view.thumbnail.as_deref()),
            ("none", None)
        );
    }

    #[test]
    fn the_budget_is_kept_and_unlimited_drops_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let client = enrolled_client(dir.path());
        assert_eq!(
            client.photo_storage().unwrap().budget,
            photos::DEFAULT_BUDGET
        );
        let (_, photo) = record(&client, files.path(), 1);
        acknowledge(&client, &photo, 1_000);
        assert_eq!(client.set_photo_budget(None).unwrap().dropped, 0);
        drop(client);
        let client = Client::open(dir.path()).unwrap();
        assert_eq!(client.photo_storage().unwrap().budget, None, "kept");
        assert!(full_here(&client, photo.hash));
        // The thumbnail was made all the same: the server holds the photo.
        let stored = photos::get(client.lock_store().conn(), photo.hash)
            .unwrap()
            .unwrap();
        assert!(stored.has_thumbnail());
    }

    #[test]
    fn a_file_gone_behind_the_stores_back_is_counted_gone() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let client = enrolled_client(dir.path());
        let (_, a) = record(&client, files.path(), 1);
        let (_, b) = record(&client, files.path(), 2);
        acknowledge(&client, &a, 1_000);
        acknowledge(&client, &b, 2_000);
        // A drop cut after the file went, before its commit.
        client.device().photo_files().remove(a.hash).unwrap();
        assert_eq!(
            client.set_photo_budget(Some(SIZE as u64)).unwrap().dropped,
            0
        );
        assert!(!full_here(&client, a.hash));
        assert!(full_here(&client, b.hash));
    }
}
