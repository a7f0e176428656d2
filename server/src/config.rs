//! The server's one configuration file (TOML). Every key is optional and
//! defaults to a safe value; an unknown key or a value out of range is refused
//! with the key's name, so a typo never silently leaves a limit at its
//! default. `gridwarden-server config show` prints the effective file.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::service::Limits;

mod open311;
mod protocol;
pub use open311::{AttributeDef, AttributeValue, KeyRate, Open311Section};
pub use protocol::ProtocolSection;

/// The name the data directory's own config file goes by.
pub const CONFIG_FILE: &str = "server.toml";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub limits: LimitsSection,
    pub connections: ConnectionsSection,
    pub rate: RateSection,
    pub console: ConsoleSection,
    pub open311: Open311Section,
    pub protocol: ProtocolSection,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// UDP address to listen on (`serve --listen` overrides it).
    pub listen: SocketAddr,
    /// Address enrolment codes tell phones to dial, when not `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_addr: Option<String>,
    /// Where the records live: absent or `sqlite` for the embedded store,
    /// or a `postgres://` URL (`--store` and `GRIDWARDEN_STORE` override it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Connections each process keeps to a PostgreSQL store. Several
    /// processes share the database's `max_connections` (docs/scale.md).
    pub store_pool_size: usize,
    /// This process's id inside every QUIC connection id it issues, which a
    /// QUIC-aware balancer routes by (docs/scale.md): unique among the
    /// processes behind one address (`--server-id` overrides it).
    pub server_id: u16,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: crate::DEFAULT_LISTEN
                .parse()
                .expect("default listen address"),
            public_addr: None,
            store: None,
            store_pool_size: crate::store::postgres::DEFAULT_POOL_SIZE,
            server_id: 0,
        }
    }
}

/// Sizes of what a device may send, and how long its credentials last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub max_frame_bytes: usize,
    pub max_push_ops: usize,
    pub max_page_records: usize,
    pub max_photo_bytes: u64,
    /// Longest report note, in characters (at most the protocol's 2,000).
    pub max_note_chars: usize,
    pub max_clock_skew_s: u64,
    pub enrolment_code_hours: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            max_frame_bytes: limits.max_frame,
            max_push_ops: limits.max_push_ops,
            max_page_records: limits.max_page_records,
            max_photo_bytes: limits.max_photo_bytes,
            max_note_chars: limits.max_note_chars,
            max_clock_skew_s: limits.max_clock_skew_ms / 1000,
            enrolment_code_hours: (limits.enrolment_ttl_ms / 3_600_000) as u32,
        }
    }
}

/// What the QUIC edge lets connections hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsSection {
    /// Open connections in all; more are refused at the handshake.
    pub max_connections: u32,
    /// Connections one device may hold open at once.
    pub max_per_device: u32,
    /// Connections still shaking hands or not yet authenticated, those
    /// waiting for their turn included; more are refused.
    pub max_unauthenticated: u32,
    /// Of those, connections shaking hands at once; the others wait their
    /// turn in arrival order (`net/admission.rs`). Enough to keep the cores
    /// busy over phones' round trips, few enough that a herd's handshakes
    /// each end in a fraction of the herd's time.
    pub max_handshaking: u32,
    /// A connection that waited this long for its turn is refused.
    pub handshake_queue_s: u64,
    /// Requests (streams) one connection may have in flight.
    pub max_streams: u32,
    /// Time to authenticate after the handshake.
    pub hello_timeout_s: u64,
    /// Window in which a request must keep arriving, or its answer keep
    /// being read (8 KiB per window, or its end): a stream that stalls or
    /// trickles is dropped, one that moves on a slow link is not.
    pub request_timeout_s: u64,
    /// A silent connection is closed after this.
    pub idle_timeout_s: u64,
    /// How often revocations made by admin commands are looked for, to cut
    /// off the revoked device's open connections.
    pub revocation_check_ms: u64,
}

impl Default for ConnectionsSection {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_per_device: 4,
            max_unauthenticated: 2_048,
            max_handshaking: 256,
            handshake_queue_s: 20,
            max_streams: 64,
            hello_timeout_s: 10,
            request_timeout_s: 30,
            idle_timeout_s: 60,
            revocation_check_ms: 1_000,
        }
    }
}

/// Per-device rate limits (token buckets: a burst, refilled at a rate).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateSection {
    pub connections_per_minute: u32,
    pub connection_burst: u32,
    pub requests_per_second: u32,
    pub request_burst: u32,
    /// Ops in pushes; the burst lets a device that was offline for a week
    /// send its whole outbox at once.
    pub ops_per_second: u32,
    pub op_burst: u32,
}

impl Default for RateSection {
    fn default() -> Self {
        Self {
            // A supervisor's review opens a connection per photo or patrol
            // it fetches: room for a burst of clicks.
            connections_per_minute: 120,
            connection_burst: 60,
            requests_per_second: 50,
            request_burst: 500,
            ops_per_second: 5_000,
            op_burst: 200_000,
        }
    }
}

/// The HTTP listener of the supervisor console (docs/console.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSection {
    /// TCP address of the console, or `off` (`serve --http` overrides it).
    pub http: String,
    /// PEM certificate chain and key files: with both, the console is served
    /// over HTTPS. Plain HTTP is meant for the loopback default only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<std::path::PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<std::path::PathBuf>,
    /// How long a sign-in lasts.
    pub session_hours: u32,
    /// Sign-in attempts per user name and per address: a burst, then this
    /// many per minute.
    pub signin_burst: u32,
    pub signin_per_minute: u32,
    /// Most rows a CSV export writes; more asks to narrow the filters.
    pub export_max_rows: u32,
    /// A case whose deadline is this close is "due soon".
    pub due_soon_hours: u32,
    /// A hot spot: at least `hotspot_reports` reports of one subclass in one
    /// cell within `hotspot_window_hours`.
    pub hotspot_reports: u32,
    pub hotspot_window_hours: u32,
    /// A city's own tile service drawn under the cells (`{z}/{x}/{y}` URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_layer_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_layer_attribution: Option<String>,
    /// A bearer token `/metrics` asks of every scrape; without one it is
    /// answered on loopback only (docs/operations.md, "Watch").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
}

impl Default for ConsoleSection {
    fn default() -> Self {
        Self {
            http: crate::DEFAULT_HTTP.into(),
            tls_cert: None,
            tls_key: None,
            session_hours: 12,
            signin_burst: 5,
            signin_per_minute: 2,
            export_max_rows: 100_000,
            due_soon_hours: 4,
            hotspot_reports: 3,
            hotspot_window_hours: 24,
            base_layer_url: None,
            base_layer_attribution: None,
            metrics_token: None,
        }
    }
}

impl ConsoleSection {
    /// The address to listen on, `None` for `off`.
    pub fn http_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        parse_http(&self.http).context("console.http")
    }
}

/// `off`, or a socket address.
pub fn parse_http(text: &str) -> anyhow::Result<Option<SocketAddr>> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        anyhow::anyhow!("`{text}` is neither `off` nor an address like 127.0.0.1:8080")
    })
}

impl Config {
    /// Reads `path`; every refusal names the file and the key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        config.check()?;
        Ok(config)
    }

    /// The file to use: `explicit`, else `DATA/server.toml` if it exists,
    /// else the defaults.
    pub fn find(explicit: Option<&Path>, data_dir: &Path) -> anyhow::Result<Self> {
        match explicit {
            Some(path) => Self::load(path),
            None => {
                let own = data_dir.join(CONFIG_FILE);
                if own.exists() {
                    Self::load(&own)
                } else {
                    Ok(Self::default())
                }
            }
        }
    }

    /// This configuration with the store URL's password masked: what
    /// `config show` prints.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        shown.server.store = shown
            .server
            .store
            .as_deref()
            .map(crate::store::postgres::redacted_url);
        shown
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config serialises")
    }

    fn check(&self) -> anyhow::Result<()> {
        self.protocol.check()?;
        let l = &self.limits;
        let c = &self.connections;
        let r = &self.rate;
        let pool = crate::store::postgres::MAX_POOL_SIZE;
        if !(1..=pool).contains(&self.server.store_pool_size) {
            bail!("server.store_pool_size must be between 1 and {pool}");
        }
        // A device sends a full push, or a photo chunk, whole in one frame,
        // with room for its envelope: one bound, said once.
        let photo_chunk = gridwarden_protocol::photo::CHUNK_SIZE;
        let push_bytes = gridwarden_protocol::MAX_PUSH_BYTES;
        let min_frame = push_bytes.max(photo_chunk) + 64 * 1024;
        if !(min_frame..=64 * 1024 * 1024).contains(&l.max_frame_bytes) {
            bail!(
                "limits.max_frame_bytes ({}) must be between {min_frame} and 67108864 (64 MiB): it must leave room for a device's full push of {push_bytes} bytes and a photo chunk of {photo_chunk} bytes",
                l.max_frame_bytes
            );
        }
        let push_ops = gridwarden_protocol::MAX_PUSH_OPS;
        if l.max_push_ops < push_ops {
            bail!(
                "limits.max_push_ops ({}) is below the {push_ops} ops a device puts in one push: every full push would be refused",
                l.max_push_ops
            );
        }
        positive("limits.max_page_records", l.max_page_records as u64)?;
        positive("limits.max_photo_bytes", l.max_photo_bytes)?;
        let note_max = gridwarden_protocol::validate::MAX_NOTE_CHARS;
        if !(1..=note_max).contains(&l.max_note_chars) {
            bail!("limits.max_note_chars must be between 1 and {note_max} (the protocol's limit)");
        }
        positive("limits.enrolment_code_hours", l.enrolment_code_hours.into())?;
        for (key, value) in [
            ("connections.max_connections", c.max_connections as u64),
            ("connections.max_per_device", c.max_per_device.into()),
            (
                "connections.max_unauthenticated",
                c.max_unauthenticated.into(),
            ),
            ("connections.max_handshaking", c.max_handshaking.into()),
            ("connections.handshake_queue_s", c.handshake_queue_s),
            ("connections.max_streams", c.max_streams.into()),
            ("connections.hello_timeout_s", c.hello_timeout_s),
            ("connections.request_timeout_s", c.request_timeout_s),
            ("connections.idle_timeout_s", c.idle_timeout_s),
            ("connections.revocation_check_ms", c.revocation_check_ms),
            (
                "rate.connections_per_minute",
                r.connections_per_minute.into(),
            ),
            ("rate.connection_burst", r.connection_burst.into()),
            ("rate.requests_per_second", r.requests_per_second.into()),
            ("rate.request_burst", r.request_burst.into()),
            ("rate.ops_per_second", r.ops_per_second.into()),
        ] {
            positive(key, value)?;
        }
        let k = &self.console;
        k.http_addr()?;
        if k.tls_cert.is_some() != k.tls_key.is_some() {
            bail!("console.tls_cert and console.tls_key go together: give both or neither");
        }
        for (key, value) in [
            ("console.session_hours", k.session_hours),
            ("console.signin_burst", k.signin_burst),
            ("console.signin_per_minute", k.signin_per_minute),
            ("console.export_max_rows", k.export_max_rows),
            ("console.hotspot_reports", k.hotspot_reports),
            ("console.hotspot_window_hours", k.hotspot_window_hours),
        ] {
            positive(key, value.into())?;
        }
        if let Some(url) = &k.base_layer_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("console.base_layer_url must be an http(s) URL");
            }
        }
        self.open311.check()?;
        if (r.op_burst as usize) < l.max_push_ops {
            bail!(
                "rate.op_burst ({}) is below limits.max_push_ops ({}): a full push could never pass",
                r.op_burst,
                l.max_push_ops
            );
        }
        Ok(())
    }

    /// The limits the service enforces.
    pub fn service_limits(&self) -> Limits {
        let l = &self.limits;
        Limits {
            max_frame: l.max_frame_bytes,
            max_push_ops: l.max_push_ops,
            max_page_records: l.max_page_records,
            max_clock_skew_ms: l.max_clock_skew_s * 1000,
            enrolment_ttl_ms: i64::from(l.enrolment_code_hours) * 3_600_000,
            max_photo_bytes: l.max_photo_bytes,
            max_note_chars: l.max_note_chars,
            // Checked when the file was read.
            refuse_versions_after: self.protocol.refuse_after_ms().unwrap_or_default(),
        }
    }

    pub fn hello_timeout(&self) -> Duration {
        Duration::from_secs(self.connections.hello_timeout_s)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.connections.request_timeout_s)
    }
}

fn positive(key: &str, value: u64) -> anyhow::Result<()> {
    if value == 0 {
        bail!("{key} must be greater than 0");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults_and_the_defaults_round_trip() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let shown = Config::default().to_toml();
        assert_eq!(Config::parse(&shown).unwrap(), Config::default());
        assert_eq!(Config::default().service_limits(), Limits::default());
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let config =
            Config::parse("[limits]\nmax_photo_bytes = 1000000\n[rate]\nrequests_per_second = 5\n")
                .unwrap();
        assert_eq!(config.limits.max_photo_bytes, 1_000_000);
        assert_eq!(config.rate.requests_per_second, 5);
        assert_eq!(
            config.rate.request_burst,
            RateSection::default().request_burst
        );
        assert_eq!(config.service_limits().max_photo_bytes, 1_000_000);
    }

    #[test]
    fn typos_and_bad_values_are_refused_by_name() {
        let cases = [
            ("[limits]\nmax_foto_bytes = 1\n", "max_foto_bytes"),
            ("[limit]\n", "limit"),
            ("[limits]\nmax_photo_bytes = -1\n", "max_photo_bytes"),
            (
                "[limits]\nmax_photo_bytes = 0\n",
                "limits.max_photo_bytes must be greater than 0",
            ),
            ("[limits]\nmax_note_chars = 5000\n", "limits.max_note_chars"),
            (
                "[limits]\nmax_frame_bytes = 100\n",
                "limits.max_frame_bytes",
            ),
            ("[rate]\nop_burst = 10\n", "rate.op_burst"),
            (
                "[limits]\nmax_push_ops = 500\n",
                "limits.max_push_ops (500) is below the 1000 ops a device puts in one push",
            ),
            (
                "[limits]\nmax_frame_bytes = 600000\n",
                "must leave room for a device's full push of 1048576 bytes",
            ),
            (
                "[connections]\nmax_per_device = 0\n",
                "connections.max_per_device",
            ),
            ("[server]\nlisten = \"not an address\"\n", "listen"),
            ("this is not toml", "key"),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", Config::parse(text).unwrap_err());
            assert!(err.contains(expected), "{text:?} gave {err}");
        }
    }

    #[test]
    fn the_data_directory_file_is_used_when_none_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::find(None, dir.path()).unwrap(), Config::default());
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[limits]\nmax_push_ops = 2000\n[rate]\nop_burst = 2000\n",
        )
        .unwrap();
        assert_eq!(
            Config::find(None, dir.path()).unwrap().limits.max_push_ops,
            2000
        );
        let missing = dir.path().join("nope.toml");
        let err = format!(
            "{:#}",
            Config::find(Some(&missing), dir.path()).unwrap_err()
        );
        assert!(err.contains("nope.toml"), "{err}");
    }
}
