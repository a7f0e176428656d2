//! The `[open311]` section: the hotline interface's jurisdiction, its
//! per-key rate limits, the city's service definitions (extra attributes
//! per subclass) and the optional geocoder table (docs/open311.md).

use std::collections::BTreeMap;

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Open311Section {
    /// The one jurisdiction this server answers for; requests naming
    /// another get 404.
    pub jurisdiction_id: String,
    /// Who to ask about the interface, for `discovery`.
    pub contact: String,
    /// How a client gets a key, for `discovery`.
    pub key_service: String,
    /// Requests a key may file: a burst, then this many per minute.
    pub post_burst: u32,
    pub posts_per_minute: u32,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    // Tables last: TOML writes plain values before tables.
    /// Limits of particular keys, by client name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, KeyRate>,
    /// Geocoder table: an address a hotline sends without coordinates, as
    /// written, → the grid cell it lies in. Without it coordinates are required.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub addresses: BTreeMap<String, String>,
    /// Extra attributes the city asks for per subclass (service definitions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeDef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRate {
    pub post_burst: u32,
    pub posts_per_minute: u32,
}

/// One attribute of a service definition, as GeoReport v2 lays it out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDef {
    /// The subclass it belongs to.
    pub service_code: String,
    pub code: String,
    /// string, number, datetime, text, singlevaluelist or multivaluelist.
    pub datatype: String,
    #[serde(default)]
    pub required: bool,
    pub description: String,
    #[serde(default)]
    pub datatype_description: String,
    #[serde(default)]
    pub order: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<AttributeValue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeValue {
    pub key: String,
    pub name: String,
}

impl Default for Open311Section {
    fn default() -> Self {
        Self {
            jurisdiction_id: "gridwarden".into(),
            contact: String::new(),
            key_service: "ask the city's IT for a key (gridwarden-server apikeys add NAME)".into(),
            post_burst: 20,
            posts_per_minute: 60,
            keys: BTreeMap::new(),
            max_body_bytes: 64 * 1024,
            addresses: BTreeMap::new(),
            attributes: Vec::new(),
        }
    }
}

pub const DATATYPES: [&str; 6] = [
    "string",
    "number",
    "datetime",
    "text",
    "singlevaluelist",
    "multivaluelist",
];

impl Open311Section {
    /// The limit of one key: its own, else the section's.
    pub fn rate_of(&self, client: &str) -> (u32, u32) {
        match self.keys.get(client) {
            Some(k) => (k.post_burst, k.posts_per_minute),
            None => (self.post_burst, self.posts_per_minute),
        }
    }

    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.jurisdiction_id.is_empty() {
            bail!("open311.jurisdiction_id must not be empty");
        }
        let rates = std::iter::once((
            "open311".to_owned(),
            (self.post_burst, self.posts_per_minute),
        ))
        .chain(self.keys.iter().map(|(k, r)| {
            (
                format!("open311.keys.{k}"),
                (r.post_burst, r.posts_per_minute),
            )
        }));
        for (key, (burst, per_minute)) in rates {
            if burst == 0 || per_minute == 0 {
                bail!("{key}: post_burst and posts_per_minute must be at least 1");
            }
        }
        if !(4096..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            bail!("open311.max_body_bytes must be between 4096 and 16777216");
        }
        for a in &self.attributes {
            if !DATATYPES.contains(&a.datatype.as_str()) {
                bail!(
                    "open311.attributes: `{}` of service {} has datatype `{}`; one of {}",
                    a.code,
                    a.service_code,
                    a.datatype,
                    DATATYPES.join(", ")
                );
            }
            let list = a.datatype.ends_with("valuelist");
            if list == a.values.is_empty() {
                bail!(
                    "open311.attributes: `{}` of service {}: values go with (and only with) a value list",
                    a.code,
                    a.service_code
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const SAMPLE: &str = r#"
[open311]
jurisdiction_id = "hohhot"
post_burst = 20
posts_per_minute = 60

[open311.keys.12345]
post_burst = 200
posts_per_minute = 600

[open311.addresses]
"人民路1号" = "150102001001"

[[open311.attributes]]
service_code = "0101"
code = "ticket"
datatype = "string"
required = true
description = "12345 ticket number"
order = 1

[[open311.attributes]]
service_code = "0101"
code = "depth"
datatype = "singlevaluelist"
description = "how deep"
values = [{ key = "s", name = "shallow" }, { key = "d", name = "deep" }]
"#;

    #[test]
    fn the_documented_section_parses_and_shows_again() {
        let config = Config::parse(SAMPLE).unwrap();
        let o = &config.open311;
        assert_eq!(o.rate_of("12345"), (200, 600));
        assert_eq!(o.rate_of("12319"), (20, 60));
        assert_eq!(o.attributes.len(), 2);
        assert_eq!(Config::parse(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn mistakes_name_their_key() {
        for (text, expected) in [
            ("[open311]\nposts_per_minute = 0", "posts_per_minute"),
            ("[open311.keys.x]\npost_burst = 0\nposts_per_minute = 1", "open311.keys.x"),
            ("[open311]\nmax_body_bytes = 10", "max_body_bytes"),
            (
                "[[open311.attributes]]\nservice_code = \"0101\"\ncode = \"a\"\ndatatype = \"colour\"\ndescription = \"\"",
                "datatype `colour`",
            ),
            (
                "[[open311.attributes]]\nservice_code = \"0101\"\ncode = \"a\"\ndatatype = \"singlevaluelist\"\ndescription = \"\"",
                "values go with",
            ),
        ] {
            let err = format!("{:#}", Config::parse(text).unwrap_err());
            assert!(err.contains(expected), "{text:?} gave {err}");
        }
    }
}
