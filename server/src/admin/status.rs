//! `status`: the health of a data directory from the command line — is a
//! server running on it and how many devices it has connected now (from the
//! live file `serve` keeps, `datadir/live.rs`), when the certificates
//! expire, does the database pass SQLite's check, how much disk is left,
//! which devices were seen lately.

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::datadir::{holder, DataDir, DB_FILE};

/// Devices seen within this long count as connected lately.
const RECENT_MS: i64 = 15 * 60 * 1000;
/// A certificate expiring sooner than this is a warning.
pub const CERT_WARN_DAYS: i64 = 30;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Serialize)]
pub struct Status {
    pub data_dir: String,
    /// The PID of the `serve` holding the directory.
    pub server_pid: Option<String>,
    /// Devices with a connection open to the running server, as it wrote
    /// them at `live_as_of_ms` (every 2 s); `None` when no server runs.
    pub connected_devices: Option<usize>,
    pub live_as_of_ms: Option<i64>,
    /// The console's URL (`/metrics`, `/healthz`, `/readyz` beside it).
    pub http: Option<String>,
    /// The certificate devices pin, and the console's when it has one.
    pub certificates: Vec<CertExpiry>,
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
    /// Active devices by the protocol version they last spoke ("unknown":
    /// not seen since versions were recorded), so IT knows when the previous
    /// version can be dropped (docs/protocol.md, "Versions").
    pub devices_by_protocol: std::collections::BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct CertExpiry {
    /// `quic` (the pinned certificate) or `console`.
    pub which: &'static str,
    pub path: String,
    pub not_after_ms: Option<i64>,
    /// Whole days left; negative once expired.
    pub days_left: Option<i64>,
    /// Fewer than 30 days left, expired, or unreadable.
    pub warning: Option<String>,
}

impl Status {
    pub fn healthy(&self) -> bool {
        self.database_check == "ok"
    }

    pub fn warnings(&self) -> Vec<&str> {
        self.certificates
            .iter()
            .filter_map(|c| c.warning.as_deref())
            .collect()
    }
}

fn expiry(
    which: &'static str,
    path: &std::path::Path,
    der: anyhow::Result<Vec<u8>>,
    now: i64,
) -> CertExpiry {
    let not_after = der.and_then(|der| Ok(crate::tls::validity_ms(&der)?.1));
    let (not_after_ms, days_left, warning) = match not_after {
        Ok(at) => {
            let days = (at - now).div_euclid(DAY_MS);
            let warning = if at <= now {
                Some(format!("the {which} certificate has expired"))
            } else if days < CERT_WARN_DAYS {
                Some(format!("the {which} certificate expires in {days} days"))
            } else {
                None
            };
            (Some(at), Some(days), warning)
        }
        Err(e) => (
            None,
            None,
            Some(format!("the {which} certificate is unreadable: {e:#}")),
        ),
    };
    CertExpiry {
        which,
        path: path.display().to_string(),
        not_after_ms,
        days_left,
        warning,
    }
}

/// The expiry of the pinned certificate and of the console's (its first
/// PEM certificate), if one is configured.
pub fn certificates(
    data: &DataDir,
    console_cert: Option<&std::path::Path>,
    now: i64,
) -> Vec<CertExpiry> {
    let quic = data.path.join(crate::tls::CERT_FILE);
    let mut all = vec![expiry(
        "quic",
        &quic,
        std::fs::read(&quic).map_err(Into::into),
        now,
    )];
    if let Some(path) = console_cert {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .and_then(|mut certs| {
                certs
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("no certificate in the file"))?
                    .map(|c| c.to_vec())
                    .map_err(|e| anyhow::anyhow!("{e}"))
            });
        all.push(expiry("console", path, der, now));
    }
    all
}

pub fn status(data: &DataDir, console_cert: Option<&std::path::Path>) -> anyhow::Result<Status> {
    let db = data.path.join(DB_FILE);
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let checks: Vec<String> = conn
        .prepare("PRAGMA quick_check")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let devices = data.store().devices()?;
    let active = devices.iter().filter(|d| d.revoked_ms.is_none());
    let now = data.service.now();
    let since = now - RECENT_MS;
    let server_pid = holder(&data.path)?;
    // Only a running server's file says anything.
    let live = server_pid
        .as_ref()
        .and_then(|_| crate::datadir::live::read(&data.path));
    let active_ids: std::collections::HashSet<_> = active.clone().map(|d| d.id).collect();
    let mut devices_by_protocol = std::collections::BTreeMap::new();
    for p in data.store().device_protocols()? {
        if active_ids.contains(&p.device) {
            let key = p
                .protocol_version
                .map_or_else(|| "unknown".to_owned(), |v| v.to_string());
            *devices_by_protocol.entry(key).or_insert(0) += 1;
        }
    }
    Ok(Status {
        devices_by_protocol,
        data_dir: data.path.display().to_string(),
        server_pid,
        connected_devices: live.as_ref().map(|l| l.connected_devices),
        live_as_of_ms: live.as_ref().map(|l| l.updated_ms),
        http: live.and_then(|l| l.http),
        certificates: certificates(data, console_cert, now),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_until(year: i32, month: u8, day: u8) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["gw.example".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, month, day);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificate_warns_under_thirty_days_and_once_expired() {
        let path = std::path::Path::new("cert.der");
        // 2026-12-06T00:00Z.
        let now = 1_796_515_200_000;
        let far = expiry("console", path, Ok(cert_until(2028, 1, 1)), now);
        assert!(
            far.warning.is_none() && far.days_left.unwrap() > 365,
            "{far:?}"
        );
        let soon = expiry("console", path, Ok(cert_until(2026, 12, 20)), now);
        assert_eq!(soon.days_left, Some(14));
        assert_eq!(
            soon.warning.as_deref(),
            Some("the console certificate expires in 14 days")
        );
        let gone = expiry("console", path, Ok(cert_until(2026, 1, 1)), now);
        assert!(gone.days_left.unwrap() < 0);
        assert_eq!(
            gone.warning.as_deref(),
            Some("the console certificate has expired")
        );
        let junk = expiry("quic", path, Ok(b"junk".to_vec()), now);
        assert!(junk.warning.unwrap().contains("unreadable"));
    }
}
