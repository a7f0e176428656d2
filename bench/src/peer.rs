//! The peer run side by side: the same reports replicated by PouchDB to a
//! PouchDB server (express-pouchdb, LevelDB) over HTTP on loopback. The
//! node scripts are in `bench/peer/`; `bench/peer/install.sh` installs their
//! npm packages and is run here when they are missing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

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
        let mut server = crate::malloc::as_shipped(&mut Command::new("node"))
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
        batch: Batch,
    ) -> anyhow::Result<(String, Replication)> {
        let db = self.new_db();
        let local = self.new_local();
        let run = self.replicate("push", &db, &local, Some(reports_file), count_bytes, batch)?;
        Ok((db, run))
    }

    /// A new, empty local PouchDB replicates server database `db`.
    pub fn pull(
        &mut self,
        db: &str,
        count_bytes: bool,
        batch: Batch,
    ) -> anyhow::Result<Replication> {
        let local = self.new_local();
        self.replicate("pull", db, &local, None, count_bytes, batch)
    }

    /// The whole process, as `gridwarden sync` is measured: the reports of
    /// `reports_file` are loaded into a local PouchDB by one node process
    /// (not timed), then a fresh node process replicates them to a new
    /// database of the server; the time is from spawning that process to
    /// its exit (node's start-up, loading PouchDB, opening the database,
    /// the replication, closing).
    pub fn whole_push(&mut self, reports_file: &Path, batch: Batch) -> anyhow::Result<f64> {
        let db = self.new_db();
        let local = self.new_local();
        self.replicate("load", &db, &local, Some(reports_file), false, batch)?;
        let started = Instant::now();
        let run = self.replicate("push", &db, &local, None, false, batch)?;
        let seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(run.docs > 0, "the fresh process replicated nothing");
        Ok(seconds)
    }

    fn new_db(&mut self) -> String {
        self.databases += 1;
        format!("reports-{}", self.databases)
    }

    fn new_local(&mut self) -> PathBuf {
        self.databases += 1;
        self.local_dir.join(format!("local-{}", self.databases))
    }

    fn replicate(
        &mut self,
        mode: &str,
        db: &str,
        local: &Path,
        reports_file: Option<&Path>,
        count_bytes: bool,
        batch: Batch,
    ) -> anyhow::Result<Replication> {
        let mut cmd = Command::new("node");
        crate::malloc::as_shipped(&mut cmd)
            .arg(scripts_dir().join("replicate.js"))
            .arg(mode)
            .arg(self.port.to_string())
            .arg(db)
            .arg(local);
        if let Some(file) = reports_file {
            cmd.arg("--reports").arg(file);
        }
        if count_bytes {
            cmd.arg("--count-bytes");
        }
        if let Batch::Tuned = batch {
            cmd.arg("--batch-size").arg(TUNED_BATCH_SIZE.to_string());
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

/// PouchDB's replication `batch_size` as its users set it for thousands of
/// docs (its default is 100, with 10 batches in flight).
pub const TUNED_BATCH_SIZE: u32 = 1_000;

/// Which replication settings a peer run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// PouchDB's defaults (`batch_size` 100).
    Default,
    /// `batch_size` [`TUNED_BATCH_SIZE`].
    Tuned,
}

impl Batch {
    pub const BOTH: [Batch; 2] = [Batch::Default, Batch::Tuned];

    /// How a row's label names it.
    pub fn label(self) -> String {
        match self {
            Batch::Default => "PouchDB's defaults (batch_size 100)".to_owned(),
            Batch::Tuned => format!(
                "batch_size {}, as its users tune it",
                crate::table::grouped(i64::from(TUNED_BATCH_SIZE))
            ),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
