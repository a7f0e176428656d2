//! `status`: the health of a data directory from the command line — is a
//! server running on it, does the database pass SQLite's check, how much
//! disk is left, which devices were seen lately.

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::datadir::{holder, DataDir, DB_FILE};

/// Devices seen within this long count as connected lately.
const RECENT_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Serialize)]
pub struct Status {
    pub data_dir: String,
    /// The PID of the `serve` holding the directory.
    pub server_pid: Option<String>,
    /// SQLite's `quick_check`: `ok`, or what is wrong.
    pub database_check: String,
    pub database_bytes: u64,
    pub disk_available_bytes: u64,
    pub fingerprint: String,
    pub public_addr: Option<String>,
    pub reports: i64,
    pub devices_enrolled: usize,
    /// Devices seen by the server in the last 15 minutes.
    pub devices_seen_recently: usize,
}

impl Status {
    pub fn healthy(&self) -> bool {
        self.database_check == "ok"
    }
}

pub fn status(data: &DataDir) -> anyhow::Result<Status> {
    let db = data.path.join(DB_FILE);
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let checks: Vec<String> = conn
        .prepare("PRAGMA quick_check")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let devices = data.store().devices()?;
    let active = devices.iter().filter(|d| d.revoked_ms.is_none());
    let since = data.service.now() - RECENT_MS;
    Ok(Status {
        data_dir: data.path.display().to_string(),
        server_pid: holder(&data.path)?,
        database_check: checks.join("; "),
        database_bytes: std::fs::metadata(&db)?.len(),
        disk_available_bytes: fs4::available_space(&data.path)?,
        fingerprint: gridwarden_protocol::enrolment::hex(&data.identity.fingerprint()),
        public_addr: data.store().meta(crate::PUBLIC_ADDR_KEY)?,
        reports: conn.query_row("SELECT count(*) FROM reports", [], |r| r.get(0))?,
        devices_enrolled: active.clone().count(),
        devices_seen_recently: active
            .filter(|d| d.last_seen_ms.is_some_and(|t| t >= since))
            .count(),
    })
}
