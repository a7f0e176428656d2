//! `DATA/serve.live.json`: what only the serving process knows (the devices
//! connected right now), kept fresh by `serve` every few seconds for
//! `status`, which runs as another process. Read only while the serve lock
//! is held: a file left by a server that died says nothing.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub const LIVE_FILE: &str = "serve.live.json";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Live {
    pub pid: u32,
    /// When `serve` wrote this (Unix ms).
    pub updated_ms: i64,
    /// Devices with a connection open.
    pub connected_devices: usize,
    /// The console's URL, `/metrics` and `/readyz` beside it.
    pub http: Option<String>,
}

/// Replaces the file whole (write, then rename): a reader never sees half.
pub fn write(dir: &Path, live: &Live) -> anyhow::Result<()> {
    let path = dir.join(LIVE_FILE);
    let temp = dir.join(format!("{LIVE_FILE}.tmp"));
    std::fs::write(&temp, serde_json::to_vec(live)?)
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

pub fn read(dir: &Path) -> Option<Live> {
    let bytes = std::fs::read(dir.join(LIVE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Gone with the server that wrote it.
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(LIVE_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let live = Live {
            pid: 7,
            updated_ms: 1,
            connected_devices: 3,
            http: None,
        };
        write(dir.path(), &live).unwrap();
        assert_eq!(read(dir.path()), Some(live));
        remove(dir.path());
        assert_eq!(read(dir.path()), None);
    }
}
