//! Photo bytes on disk, named by their BLAKE3 hash (`photos/ab/abcd…`), so a
//! photo sent by two devices is stored once. An upload in progress is a file
//! in `photos/partial/`, grown one verified chunk at a time and fsynced
//! before the chunk is acknowledged; it becomes a photo only when its whole
//! hash checks out.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fs4::fs_std::FileExt;

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
        let path = self.partial_path(hash);
        let received = match fs::metadata(&path) {
            Ok(m) => m.len().min(total),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        if received == total && total > 0 {
            // Whole but not yet a photo: its writer (perhaps another
            // process) is checking and moving it. Its lock says how it ended.
            let file = open_locked(&path)?;
            if self.has(hash) {
                if file.metadata()?.len() == 0 {
                    let _ = fs::remove_file(&path);
                }
                return Ok(Progress {
                    received: total,
                    complete: true,
                });
            }
            return Ok(Progress {
                received: file.metadata()?.len().min(total),
                complete: false,
            });
        }
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
        if self.has(hash) {
            return self.progress(hash, total);
        }
        let path = self.partial_path(hash);
        // Several server processes share this directory (docs/scale.md,
        // ADR 0030): the mutex above orders this process's writers, the
        // file lock orders the processes'. Held until the chunk is synced
        // and, for the last one, the photo moved into place; what is stored
        // is read again under it.
        let mut file = open_locked(&path)?;
        if self.has(hash) {
            // Finished by another process while this one waited: the file
            // opened here is a new, empty one.
            if file.metadata()?.len() == 0 {
                let _ = fs::remove_file(&path);
            }
            return self.progress(hash, total);
        }
        let stored = file.metadata()?.len().min(total);
        if offset != stored {
            return Ok(Progress {
                received: stored,
                complete: false,
            });
        }
        file.write_all(data)?;
        file.sync_data()?;
        let received = offset + data.len() as u64;
        if received < total {
            return Ok(Progress {
                received,
                complete: false,
            });
        }
        self.finish(hash, &path)?;
        drop(file);
        Ok(Progress {
            received,
            complete: true,
        })
    }

    /// Checks the assembled file against its name and moves it into place
    /// (under the partial file's lock).
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

/// Opens the partial file for appending and locks it. The lock is taken on
/// what was open; if another process moved or removed the file meanwhile
/// (it finished the photo, or found it damaged), open what is there now.
fn open_locked(path: &Path) -> io::Result<File> {
    loop {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        file.lock_exclusive()?;
        if still_at(&file, path)? {
            return Ok(file);
        }
    }
}

#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    Ok(match fs::metadata(path) {
        Ok(now) => now.dev() == open.dev() && now.ino() == open.ino(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

#[cfg(not(unix))]
fn still_at(_file: &File, path: &Path) -> io::Result<bool> {
    Ok(path.exists())
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
    fn two_processes_on_one_directory_never_interleave_their_chunks() {
        // Two stores on one directory are two server processes sharing the
        // photos mount: each has its own mutex, only the file lock is common.
        let dir = tempfile::tempdir().unwrap();
        let photos: Vec<Vec<u8>> = (0..20u32)
            .map(|p| (0..40_000u32).map(|i| (i * 31 + p * 7) as u8).collect())
            .collect();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let store = PhotoStore::open(dir.path()).unwrap();
                let photos = &photos;
                scope.spawn(move || {
                    for photo in photos {
                        let hash = PhotoHash::of(photo);
                        let total = photo.len() as u64;
                        // Like a device whose retry landed on the other
                        // process while the first still ran: each asks what
                        // is stored and sends from there.
                        let parts = chunks(photo, 1_000);
                        loop {
                            let at = store.progress(hash, total).unwrap();
                            if at.complete {
                                break;
                            }
                            let (o, d, h) = &parts[(at.received / 1_000) as usize];
                            store.write_chunk(hash, total, *o, d, h).unwrap();
                        }
                    }
                });
            }
        });
        let store = PhotoStore::open(dir.path()).unwrap();
        for photo in &photos {
            let hash = PhotoHash::of(photo);
            let (_, bytes) = store.read(hash, 0, 1 << 20).unwrap();
            assert!(bytes == *photo, "photo {hash} assembled wrong");
        }
        let left = fs::read_dir(dir.path().join("partial")).unwrap().count();
        assert_eq!(left, 0, "no partial file is left behind");
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
