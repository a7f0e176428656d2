//! Refusals are evidence: every refused op and request is counted and
//! written to the audit log as a security event (who, device, remote
//! address, what, why). Rate-limited per device (or address, before a
//! device is known) so a flood cannot fill the disk: past the limit in a
//! minute, refusals are only counted, and the count is written once the
//! next minute's first refusal comes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use gridwarden_protocol::ErrorCode;
use uuid::Uuid;

use super::Service;
use crate::store::AuditRecord;

/// Audit records of refusals per device (or address) per minute.
pub const REFUSALS_AUDITED_PER_MINUTE: u32 = 30;
const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub struct Refusals {
    /// Every refusal since start, written or not.
    total: AtomicU64,
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: i64,
    written: u32,
    suppressed: u32,
}

/// One refusal, as the audit log keeps it.
pub struct Refused<'a> {
    pub user: Option<&'a str>,
    pub device: Option<Uuid>,
    pub remote: Option<SocketAddr>,
    /// What was attempted: `push report.edit`, `pull`, `hello`, …
    pub what: &'a str,
    /// What it was attempted on (a report id), if anything.
    pub subject: String,
    pub code: ErrorCode,
    pub why: &'a str,
}

impl Refusals {
    /// Refusals counted since the server started.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

impl Service {
    /// Counts a refusal and, within the rate limit, audits it. Never fails
    /// the request it explains: a store error here is logged.
    pub fn audit_refusal(&self, r: Refused<'_>) {
        self.refusals.total.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let key = match (r.device, r.remote) {
            (Some(d), _) => d.to_string(),
            (None, Some(a)) => a.ip().to_string(),
            (None, None) => "unknown".into(),
        };
        let (write, suppressed_before) = {
            let mut windows = self.refusals.windows.lock().expect("refusal lock");
            if windows.len() > 10_000 {
                // Old windows of devices that went quiet.
                windows.retain(|_, w| now - w.start_ms < WINDOW_MS);
            }
            let w = windows.entry(key.clone()).or_insert(Window {
                start_ms: now,
                written: 0,
                suppressed: 0,
            });
            let mut earlier = 0;
            if now - w.start_ms >= WINDOW_MS {
                earlier = w.suppressed;
                *w = Window {
                    start_ms: now,
                    written: 0,
                    suppressed: 0,
                };
            }
            if w.written < REFUSALS_AUDITED_PER_MINUTE {
                w.written += 1;
                (true, earlier)
            } else {
                w.suppressed += 1;
                (false, earlier)
            }
        };
        let actor = r.user.unwrap_or("unknown").to_owned();
        let from = r
            .remote
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        if suppressed_before > 0 {
            self.write_audit(AuditRecord {
                at_ms: now,
                actor: actor.clone(),
                device: r.device,
                action: "security.refusals_suppressed".into(),
                subject: key,
                detail: format!(
                    "{suppressed_before} more refusals in the minute before were counted, not written (limit {REFUSALS_AUDITED_PER_MINUTE} a minute)"
                ),
            });
        }
        if !write {
            return;
        }
        tracing::warn!(user = %actor, device = ?r.device, remote = %from, what = r.what, code = ?r.code, why = r.why, "refused");
        self.write_audit(AuditRecord {
            at_ms: now,
            actor,
            device: r.device,
            action: "security.refused".into(),
            subject: r.subject,
            detail: format!("{} from {from}: {:?}: {}", r.what, r.code, r.why),
        });
    }

    fn write_audit(&self, record: AuditRecord) {
        if let Err(e) = self.store.append_audit(&record) {
            tracing::error!(error = %e, action = %record.action, "could not write an audit record");
        }
    }

    pub fn refusals(&self) -> &Refusals {
        &self.refusals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;
    use crate::Limits;

    #[test]
    fn a_flood_of_refusals_is_counted_whole_and_written_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let clock = gridwarden_protocol::clock::ManualClock::new(1_767_225_600_000);
        let data = DataDir::open_with_clock(dir.path(), Limits::default(), clock.clone()).unwrap();
        let device = Uuid::new_v4();
        let refuse = || {
            data.service.audit_refusal(Refused {
                user: Some("bo"),
                device: Some(device),
                remote: None,
                what: "report.edit",
                subject: "r".into(),
                code: ErrorCode::Forbidden,
                why: "not yours",
            })
        };
        for _ in 0..100 {
            refuse();
        }
        let written = |action: &str| {
            data.store()
                .audit_log(None)
                .unwrap()
                .iter()
                .filter(|e| e.record.action == action)
                .count()
        };
        assert_eq!(data.service.refusals().total(), 100);
        assert_eq!(
            written("security.refused"),
            REFUSALS_AUDITED_PER_MINUTE as usize
        );
        clock.advance(61_000);
        refuse();
        assert_eq!(written("security.refusals_suppressed"), 1);
        let note = data
            .store()
            .audit_log(None)
            .unwrap()
            .into_iter()
            .find(|e| e.record.action == "security.refusals_suppressed")
            .unwrap();
        assert!(
            note.record.detail.starts_with("70 more"),
            "{}",
            note.record.detail
        );
    }
}
