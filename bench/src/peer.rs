//! The peer run side by side: the same reports replicated by PouchDB to a
//! PouchDB server (express-pouchdb, LevelDB) over HTTP on loopback. The
//! node scripts are in `bench/peer/`; `bench/peer/install.sh` installs their
//! npm packages and is run here when they are missing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::reports;

/// The scripts and their `node_modules`.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer")
}

/// One replication as `replicate.js` reports it.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Replication {
    pub docs: u64,
    pub seconds: f64,
    /// Bytes through the counting relay (0 when not counted).
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl Replication {
    pub fn docs_per_second(&self) -> f64 {
        self.docs as f64 / self.seconds
    }
}

pub struct Peer {
    server: Child,
    port: u16,
    local_dir: PathBuf,
    databases: usize,
}

impl Peer {
    /// Installs the packages if needed and starts the PouchDB server with
    /// its data in `work`. The error says why the peer cannot run.
    pub fn start(work: &Path) -> Result<Peer, String> {
        let scripts = scripts_dir();
        if !scripts.join("node_modules").is_dir() {
            eprintln!("installing the PouchDB peer (bench/peer/install.sh)");
            let status = Command::new("bash")
                .arg(scripts.join("install.sh"))
                .status()
                .map_err(|e| format!("cannot run bench/peer/install.sh: {e}"))?;
            if !status.success() {
                return Err("bench/peer/install.sh failed (node 20 and npm are needed)".into());
            }
        }
        Self::spawn(&scripts, work).map_err(|e| format!("the PouchDB server did not start: {e:#}"))
    }

    fn spawn(scripts: &Path, work: &Path) -> anyhow::Result<Peer> {
        let server_dir = work.join("pouchdb-server");
        let mut server = Command::new("node")
            .arg(scripts.join("server.js"))
            .arg(&server_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("running node")?;
        let stdout = server.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .context("the PouchDB server printed nothing")??;
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("unexpected first line: {first}"))?;
        std::thread::spawn(move || for _ in lines {});
        Ok(Peer {
            server,
            port,
            local_dir: work.join("pouchdb-local"),
            databases: 0,
        })
    }

    /// Writes `count` reports, the ones gridwarden records, as PouchDB
    /// documents (one JSON object a line).
    pub fn write_reports(path: &Path, count: usize, places: &[(f64, f64)]) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for i in 0..count {
            let r = reports::report(i, places);
            let doc = serde_json::json!({
                "_id": uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | i as u128).to_string(),
                "category": r.category,
                "location": { "lon": r.location.lon, "lat": r.location.lat, "accuracy_m": r.location.accuracy_m },
                "address": r.address,
                "note": r.note,
                "observed_at_ms": r.observed_at_ms,
                "reporter": crate::context::WARDEN,
            });
            writeln!(out, "{doc}")?;
        }
        out.flush()?;
        Ok(())
    }

    /// A local PouchDB holding the reports of `reports_file` replicates them
    /// to a new database on the server; returns it with the replication.
    pub fn push(
        &mut self,
        reports_file: &Path,
        count_bytes: bool,
    ) -> anyhow::Result<(String, Replication)> {
        self.databases += 1;
        let db = format!("reports-{}", self.databases);
        let run = self.replicate("push", &db, Some(reports_file), count_bytes)?;
        Ok((db, run))
    }

    /// A new, empty local PouchDB replicates server database `db`.
    pub fn pull(&mut self, db: &str, count_bytes: bool) -> anyhow::Result<Replication> {
        self.replicate("pull", db, None, count_bytes)
    }

    fn replicate(
        &mut self,
        mode: &str,
        db: &str,
        reports_file: Option<&Path>,
        count_bytes: bool,
    ) -> anyhow::Result<Replication> {
        self.databases += 1;
        let local = self.local_dir.join(format!("local-{}", self.databases));
        let mut cmd = Command::new("node");
        cmd.arg(scripts_dir().join("replicate.js"))
            .arg(mode)
            .arg(self.port.to_string())
            .arg(db)
            .arg(&local);
        if let Some(file) = reports_file {
            cmd.arg("--reports").arg(file);
        }
        if count_bytes {
            cmd.arg("--count-bytes");
        }
        let output = cmd.stderr(Stdio::inherit()).output()?;
        if !output.status.success() {
            bail!("replicate.js {mode} failed");
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let last = text
            .lines()
            .last()
            .context("replicate.js printed nothing")?;
        serde_json::from_str(last).with_context(|| format!("replicate.js printed {last}"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
