//! `[protocol]`: when the server stops accepting a protocol version
//! (docs/protocol.md, "Versions"). The server speaks the current version and
//! the one before; IT sets a date for the older one once `gridwarden-server
//! status` shows few devices still speak it.

use std::collections::BTreeMap;

use anyhow::bail;
use gridwarden_protocol::{versions, PROTOCOL_VERSION};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolSection {
    /// Protocol version → RFC 3339 time from which devices speaking it are
    /// refused with "update the app", e.g. `refuse_after = { "2" =
    /// "2027-03-01T00:00:00Z" }`. Devices on a version that has the field
    /// (3 and later) are told in every `Welcome` until then.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refuse_after: BTreeMap<String, String>,
}

impl ProtocolSection {
    pub fn check(&self) -> anyhow::Result<()> {
        self.refuse_after_ms().map(drop)
    }

    /// The dates as the service holds them.
    pub fn refuse_after_ms(&self) -> anyhow::Result<BTreeMap<u16, i64>> {
        let mut out = BTreeMap::new();
        for (version, when) in &self.refuse_after {
            let Ok(v) = version.parse::<u16>() else {
                bail!("protocol.refuse_after: `{version}` is not a protocol version (a number such as \"2\")");
            };
            if !versions::supported(v) {
                bail!(
                    "protocol.refuse_after: this server speaks protocol versions {} to {PROTOCOL_VERSION} only, not {v}",
                    versions::OLDEST_SUPPORTED
                );
            }
            let Some(ms) = gridwarden_protocol::time::parse_rfc3339(
                when,
                gridwarden_protocol::time::Leniency::Strict,
            ) else {
                bail!("protocol.refuse_after.\"{version}\": `{when}` is not an RFC 3339 time such as 2027-03-01T00:00:00Z");
            };
            out.insert(v, ms);
        }
        Ok(out)
    }
}
