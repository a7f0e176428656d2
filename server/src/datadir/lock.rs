//! The serving process's lock on its data directory. Two servers on one
//! directory would both accept pushes and both record where devices should
//! dial; the second is refused, naming the process that holds the lock.
//!
//! The lock is an OS file lock (`flock`), not a PID file: the kernel drops it
//! when the holder dies, even by SIGKILL, so no stale lock is ever left. The
//! file's content (the holder's PID) is only for the message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use fs4::fs_std::FileExt;

pub const LOCK_FILE: &str = "serve.lock";

/// Held for as long as the server runs; dropping it (or the process ending)
/// releases the directory.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
    pub path: PathBuf,
}

impl ServeLock {
    /// Takes the lock on `dir`, or says which process holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(LOCK_FILE);
        // Not truncated on open: a refused second server must not wipe the
        // holder's PID before it reads it.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        let locked = FileExt::try_lock_exclusive(&file)
            .with_context(|| format!("locking {}", path.display()))?;
        if !locked {
            let mut holder = String::new();
            file.read_to_string(&mut holder).ok();
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_owned()
            } else {
                format!("the process with pid {holder}")
            };
            bail!(
                "the data directory {} is in use by {who}: another `gridwarden-server serve` is running on it; stop that one first (a second server on one directory is refused)",
                dir.display()
            );
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all().ok();
        Ok(Self { _file: file, path })
    }
}

/// The PID of the `serve` holding `dir`, if one does. Probing takes the lock
/// for an instant: a `serve` starting in that instant is refused and says so.
pub fn holder(dir: &Path) -> anyhow::Result<Option<String>> {
    let path = dir.join(LOCK_FILE);
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    if FileExt::try_lock_exclusive(&file)? {
        FileExt::unlock(&file)?;
        return Ok(None);
    }
    let mut pid = String::new();
    file.read_to_string(&mut pid).ok();
    Ok(Some(pid.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServeLock::acquire(dir.path()).unwrap();
        let err = ServeLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert_eq!(
            holder(dir.path()).unwrap(),
            Some(std::process::id().to_string())
        );
        drop(first);
        assert_eq!(holder(dir.path()).unwrap(), None);
        ServeLock::acquire(dir.path()).unwrap();
    }
}
