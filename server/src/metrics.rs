//! What the serving process counts, for `/metrics` (Prometheus / OpenMetrics
//! text, `http/ops.rs`): connections, syncs, ops, pulls, photos, the group
//! commit, the store, rate limits and audit lines.
//!
//! One set per process, reached through [`get`]: a process serves one data
//! directory (the serve lock), Prometheus scrapes processes, and the store's
//! group commit records here without a handle threaded through `trait Store`.
//! Servers started side by side in one test process share the set; tests
//! compare before and after, never absolute values.
//!
//! Labels come only from fixed sets in this code (request kinds, error
//! codes, limit names): never a device, user, cell or report, so a scrape
//! shows load and failures, not who did what.

use std::sync::OnceLock;
use std::time::Duration;

use gridwarden_protocol::ErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Code {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Limit {
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOp {
    pub op: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    /// Authenticated connections (a device's hello or enrolment accepted).
    pub connections: Counter,
    /// Connections open now.
    pub connections_open: Gauge,
    /// Connections turned away before or at authentication.
    pub connections_refused: Family<Reason, Counter>,
    /// Syncs that reached their end: the last page of a pull served (ADR
    /// 0041), on a connection of their own or on one an app keeps open.
    pub syncs: Counter,
    pub sync_seconds: Histogram,
    /// Notices sent to connected devices (something new in their scope).
    pub notices: Counter,
    /// Requests served on authenticated connections, by kind.
    pub requests: Family<Kind, Counter>,
    pub ops_applied: Counter,
    /// Ops a device had already delivered (a retry): nothing changed.
    pub ops_duplicate: Counter,
    pub ops_refused: Family<Code, Counter>,
    pub pull_pages: Counter,
    /// Pull pages served already read (`net/ahead.rs`): after the page
    /// before (`page`), or after the sync's push (`push`, ADR 0042).
    pub pull_pages_ahead: Family<Kind, Counter>,
    pub pull_records: Counter,
    pub photo_bytes_received: Counter,
    pub photo_bytes_sent: Counter,
    /// Photo offers answered with part of the photo already here.
    pub photo_resumes: Counter,
    pub photos_stored: Counter,
    /// Writes committed together by one fsync.
    pub group_commit_writes: Histogram,
    /// From a write's arrival to its changes being durable.
    pub group_commit_wait_seconds: Histogram,
    /// The store's share of a request.
    pub store_seconds: Histograms<StoreOp>,
    pub rate_limited: Family<Limit, Counter>,
    /// Audit lines written by this process (refusals, enrolments, case steps).
    pub audit_events: Counter,
    /// TLS certificate reloads on SIGHUP, by outcome.
    pub cert_reloads: Family<Reason, Counter>,
}

fn seconds() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("gridwarden");
        let m = Self {
            connections: Counter::default(),
            connections_open: Gauge::default(),
            connections_refused: Family::default(),
            syncs: Counter::default(),
            // 10 ms … ~5.5 min: a sync with photos over a slow link is long.
            sync_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            notices: Counter::default(),
            requests: Family::default(),
            ops_applied: Counter::default(),
            ops_duplicate: Counter::default(),
            ops_refused: Family::default(),
            pull_pages: Counter::default(),
            pull_pages_ahead: Family::default(),
            pull_records: Counter::default(),
            photo_bytes_received: Counter::default(),
            photo_bytes_sent: Counter::default(),
            photo_resumes: Counter::default(),
            photos_stored: Counter::default(),
            group_commit_writes: Histogram::new(exponential_buckets(1.0, 2.0, 7)),
            group_commit_wait_seconds: seconds(),
            store_seconds: Family::new_with_constructor(seconds as fn() -> Histogram),
            rate_limited: Family::default(),
            audit_events: Counter::default(),
            cert_reloads: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "connections",
            "Authenticated device connections",
            m.connections.clone(),
        );
        r.register(
            "connections_open",
            "Device connections open now",
            m.connections_open.clone(),
        );
        r.register(
            "connections_refused",
            "Connections turned away (at_capacity, authenticating, handshake_queue, refused, rate_limited, busy)",
            m.connections_refused.clone(),
        );
        r.register(
            "syncs",
            "Syncs that reached their end: the last page of a pull served",
            m.syncs.clone(),
        );
        r.register(
            "sync_duration_seconds",
            "A sync's duration, hello to close",
            m.sync_seconds.clone(),
        );
        r.register(
            "notices",
            "Notices sent to connected devices",
            m.notices.clone(),
        );
        r.register("requests", "Requests served, by kind", m.requests.clone());
        r.register("ops_applied", "Ops applied", m.ops_applied.clone());
        r.register(
            "ops_duplicate",
            "Ops received again, already applied",
            m.ops_duplicate.clone(),
        );
        r.register(
            "ops_refused",
            "Ops refused, by error code",
            m.ops_refused.clone(),
        );
        r.register("pull_pages", "Pull pages read", m.pull_pages.clone());
        r.register(
            "pull_pages_ahead",
            "Pull pages served already read: after the page before, or after the sync's push",
            m.pull_pages_ahead.clone(),
        );
        r.register(
            "pull_records",
            "Records sent in pull pages",
            m.pull_records.clone(),
        );
        r.register(
            "photo_received_bytes",
            "Photo bytes received in upload chunks",
            m.photo_bytes_received.clone(),
        );
        r.register(
            "photo_sent_bytes",
            "Photo bytes sent to devices",
            m.photo_bytes_sent.clone(),
        );
        r.register(
            "photo_resumes",
            "Photo uploads resumed from a part already stored",
            m.photo_resumes.clone(),
        );
        r.register(
            "photos_stored",
            "Photos completed and stored",
            m.photos_stored.clone(),
        );
        r.register(
            "group_commit_writes",
            "Writes committed together in one transaction (one fsync)",
            m.group_commit_writes.clone(),
        );
        r.register(
            "group_commit_wait_seconds",
            "A store write's wait from arrival until durable",
            m.group_commit_wait_seconds.clone(),
        );
        r.register(
            "store_seconds",
            "Time in the store per request (push: the ops' transaction; pull: the page's query)",
            m.store_seconds.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused by a device rate limit (connection, request, ops)",
            m.rate_limited.clone(),
        );
        r.register(
            "audit_events",
            "Audit lines written by the server",
            m.audit_events.clone(),
        );
        r.register(
            "cert_reloads",
            "TLS certificate reloads (SIGHUP), by outcome",
            m.cert_reloads.clone(),
        );
        Self { registry, ..m }
    }

    /// The text `/metrics` answers with.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    pub fn request(&self, kind: &'static str) {
        self.requests.get_or_create(&Kind { kind }).inc();
    }

    pub fn refused_op(&self, code: ErrorCode) {
        self.ops_refused
            .get_or_create(&Code {
                code: code_label(code),
            })
            .inc();
    }

    pub fn refused_connection(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&Reason { reason })
            .inc();
    }

    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&Limit { limit }).inc();
    }

    pub fn store_time(&self, op: &'static str, took: Duration) {
        self.store_seconds
            .get_or_create(&StoreOp { op })
            .observe(took.as_secs_f64());
    }
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// An error code as a label value: its name in snake_case (a fixed set;
/// new codes get their label without a change here).
pub fn code_label(code: ErrorCode) -> String {
    let mut label = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                label.push('_');
            }
            label.push(c.to_ascii_lowercase());
        } else {
            label.push(c);
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_family_and_carries_no_free_text() {
        let m = Metrics::new();
        m.connections.inc();
        m.refused_op(ErrorCode::Forbidden);
        m.store_time("push", Duration::from_millis(3));
        let text = m.encode();
        assert!(text.contains("gridwarden_connections_total 1"), "{text}");
        assert!(
            text.contains("gridwarden_ops_refused_total{code=\"forbidden\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gridwarden_store_seconds_count{op=\"push\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(code_label(ErrorCode::FrameTooLarge), "frame_too_large");
    }
}
