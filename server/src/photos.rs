//! Photo bytes on disk, named by their BLAKE3 hash (`photos/ab/abcd…`), so a
//! photo sent by two devices is stored once. An upload in progress is a file
//! in `photos/partial/`, grown one verified chunk at a time and fsynced
//! before the chunk is acknowledged; it becomes a photo only when its whole
//! hash checks out.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gridwarden_protocol::PhotoHash;

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("chunk at byte {offset} of photo {hash} is damaged (its check failed); it will be sent again")]
    CorruptChunk { hash: PhotoHash, offset: u64 },
    #[error(
        "photo {hash} does not match its hash once assembled; it will be sent again from the start"
    )]
    CorruptPhoto { hash: PhotoHash },
    #[error("chunk at byte {offset} of {len} bytes runs past the photo's size of {total} bytes")]
    OutOfBounds { offset: u64, len: usize, total: u64 },
    #[error(
        "photo {0} has not reached the server yet: the phone that took it has not uploaded it"
    )]
    Missing(PhotoHash),
    #[error("photo storage failed: {0}")]
    Io(#[from] io::Error),
}

/// How much of a photo is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub received: u64,
    pub complete: bool,
}

pub struct PhotoStore {
    dir: PathBuf,
    /// Appends to partial files one at a time: two devices uploading the
    /// same photo must not interleave their chunks.
    writing: Mutex<()>,
}

impl PhotoStore {
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir.join("partial"))?;
        Ok(Self {
            dir: dir.to_owned(),
            writing: Mutex::new(()),
        })
    }

    fn final_path(&self, hash: PhotoHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    fn partial_path(&self, hash: PhotoHash) -> PathBuf {
        self.dir
            .join("partial")
            .join(format!("{}.part", hash.to_hex()))
    }

    pub fn has(&self, hash: PhotoHash) -> bool {
        self.final_path(hash).is_file()
    }

    /// How much of the photo is here, whole or in part.
    pub fn progress(&self, hash: PhotoHash, total: u64) -> Result<Progress, PhotoError> {
        if self.has(hash) {
            return Ok(Progress {
                received: total,
                complete: true,
            });
        }
        let received = match fs::metadata(self.partial_path(hash)) {
            Ok(m) => m.len().min(total),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(Progress {
            received,
            complete: false,
        })
    }

    /// Stores one chunk if it continues the partial file exactly; a chunk
    /// already stored (its ack was lost) or one ahead of the file changes
    /// nothing. Returns what is stored afterwards, durably.
    pub fn write_chunk(
        &self,
        hash: PhotoHash,
        total: u64,
        offset: u64,
        data: &[u8],
        chunk_hash: &[u8; 32],
    ) -> Result<Progress, PhotoError> {
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > total)
        {
            return Err(PhotoError::OutOfBounds {
                offset,
                len: data.len(),
                total,
            });
        }
        if blake3::hash(data) != blake3::Hash::from(*chunk_hash) {
            return Err(PhotoError::CorruptChunk { hash, offset });
        }
        let _writing = self.writing.lock().expect("photo write lock");
        let progress = self.progress(hash, total)?;
        if progress.complete || offset != progress.received {
            return Ok(progress);
        }
        let path = self.partial_path(hash);
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.write_all(data)?;
        file.sync_data()?;
        let received = offset + data.len() as u64;
        if received < total {
            return Ok(Progress {
                received,
                complete: false,
            });
        }
        drop(file);
        self.finish(hash, &path)?;
        Ok(Progress {
            received,
            complete: true,
        })
    }

    /// Checks the assembled file against its name and moves it into place.
    fn finish(&self, hash: PhotoHash, partial: &Path) -> Result<(), PhotoError> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(File::open(partial)?)?;
        if hasher.finalize() != blake3::Hash::from(hash.0) {
            fs::remove_file(partial)?;
            return Err(PhotoError::CorruptPhoto { hash });
        }
        let target = self.final_path(hash);
        let parent = target.parent().expect("photo paths have a parent");
        fs::create_dir_all(parent)?;
        fs::rename(partial, &target)?;
        // The rename is durable once the directory is.
        File::open(parent)?.sync_all()?;
        Ok(())
    }

    /// Reads up to `max_len` bytes from `offset`; returns the photo's size
    /// and the bytes.
    pub fn read(
        &self,
        hash: PhotoHash,
        offset: u64,
        max_len: usize,
    ) -> Result<(u64, Vec<u8>), PhotoError> {
        let mut file = match File::open(self.final_path(hash)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(PhotoError::Missing(hash)),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata()?.len();
        let start = offset.min(size);
        file.seek(SeekFrom::Start(start))?;
        let mut data = Vec::with_capacity(max_len.min((size - start) as usize));
        file.take(max_len as u64).read_to_end(&mut data)?;
        Ok((size, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(bytes: &[u8], size: usize) -> Vec<(u64, Vec<u8>, [u8; 32])> {
        bytes
            .chunks(size)
            .enumerate()
            .map(|(i, c)| ((i * size) as u64, c.to_vec(), *blake3::hash(c).as_bytes()))
            .collect()
    }

    #[test]
    fn a_photo_is_assembled_from_chunks_and_resumes_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let store = PhotoStore::open(dir.path()).unwrap();
        let photo: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let hash = PhotoHash::of(&photo);
        let total = photo.len() as u64;
        let parts = chunks(&photo, 3_000);
        for (offset, data, h) in &parts[..2] {
            store.write_chunk(hash, total, *offset, data, h).unwrap();
        }
        // A store opened afresh (a restarted server) sees what was stored.
        let store = PhotoStore::open(dir.path()).unwrap();
        assert_eq!(store.progress(hash, total).unwrap().received, 6_000);
        // A repeated chunk (lost ack) and one sent too early change nothing.
        let (o, d, h) = &parts[1];
        assert_eq!(
            store.write_chunk(hash, total, *o, d, h).unwrap().received,
            6_000
        );
        let (o, d, h) = &parts[3];
        assert_eq!(
            store.write_chunk(hash, total, *o, d, h).unwrap().received,
            6_000
        );
        for (offset, data, h) in &parts[2..] {
            store.write_chunk(hash, total, *offset, data, h).unwrap();
        }
        assert!(store.has(hash));
        let (size, bytes) = store.read(hash, 0, 1 << 20).unwrap();
        assert_eq!((size, bytes), (total, photo.clone()));
        let (_, tail) = store.read(hash, 9_000, 5_000).unwrap();
        assert_eq!(tail, photo[9_000..]);
    }

    #[test]
    fn a_damaged_chunk_is_refused_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = PhotoStore::open(dir.path()).unwrap();
        let photo = vec![1u8; 100];
        let hash = PhotoHash::of(&photo);
        let good = *blake3::hash(&photo[..50]).as_bytes();
        let mut flipped = photo[..50].to_vec();
        flipped[10] ^= 0x40;
        let err = store
            .write_chunk(hash, 100, 0, &flipped, &good)
            .unwrap_err();
        assert!(matches!(err, PhotoError::CorruptChunk { .. }), "{err}");
        assert_eq!(store.progress(hash, 100).unwrap().received, 0);
        let err = store
            .write_chunk(hash, 100, 90, &photo[..50], &good)
            .unwrap_err();
        assert!(matches!(err, PhotoError::OutOfBounds { .. }), "{err}");
    }

    #[test]
    fn bytes_that_do_not_match_the_name_never_become_a_photo() {
        let dir = tempfile::tempdir().unwrap();
        let store = PhotoStore::open(dir.path()).unwrap();
        let claimed = PhotoHash::of(b"the real photo");
        let data = b"something else";
        let h = *blake3::hash(data).as_bytes();
        let err = store
            .write_chunk(claimed, data.len() as u64, 0, data, &h)
            .unwrap_err();
        assert!(matches!(err, PhotoError::CorruptPhoto { .. }), "{err}");
        assert!(!store.has(claimed));
        assert_eq!(store.progress(claimed, 14).unwrap().received, 0);
    }
}
