//! A POSTed request's form, checked field by field before anything is
//! stored: every refusal is the spec's 400 (or 404 for an unknown service)
//! with a sentence naming the field.

use std::collections::BTreeMap;

use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::time::{parse_rfc3339, Leniency};

use super::doc::Oops;
use crate::config::{AttributeDef, Open311Section};

/// Longest description the interface takes (the spec leaves it open).
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Longest contact field, attribute value, external id.
const MAX_FIELD_CHARS: usize = 200;
const MAX_URL_CHARS: usize = 2000;
/// Contact fields of the spec: kept for the city, never shown publicly.
pub const CONTACT_FIELDS: [&str; 6] = [
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
];
/// The attribute a client names its own request by (idempotence).
pub const EXTERNAL_ID: &str = "external_id";

/// Where the request is.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    Point {
        lat: f64,
        lon: f64,
    },
    /// An address the geocoder table puts in this cell.
    Cell(String),
}

/// A checked request, ready to become a report.
#[derive(Clone, Debug, PartialEq)]
pub struct Intake {
    pub api_key: String,
    pub service_code: String,
    pub place: Place,
    pub address: Option<String>,
    pub description: String,
    pub media_url: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub external_id: Option<String>,
    pub contact: Vec<(String, String)>,
}

/// Parses an `application/x-www-form-urlencoded` body into its pairs.
pub fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn one<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The API key, before anything else is looked at.
pub fn api_key(form: &[(String, String)]) -> Result<&str, Oops> {
    one(form, "api_key")
        .ok_or_else(|| Oops::forbidden("api_key was not provided; ask the city's IT for a key"))
}

/// Text a person typed: no control characters but line breaks and tabs,
/// no HTML, at most `max` characters.
pub fn plain_text(name: &str, value: &str, max: usize) -> Result<(), Oops> {
    let chars = value.chars().count();
    if chars > max {
        return Err(Oops::bad(format!(
            "{name} is {chars} characters; at most {max} are accepted"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Oops::bad(format!(
            "{name} contains control characters; send plain text"
        )));
    }
    if looks_like_html(value) {
        return Err(Oops::bad(format!(
            "{name} contains HTML markup; send plain text (no tags)"
        )));
    }
    Ok(())
}

/// A tag or an entity: `<p>`, `</b>`, `<!--`, `<?`, `&amp;`. A lone `<`
/// (as in "depth < 2 m") is text.
fn looks_like_html(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?')))
        || s.split('&').skip(1).any(|rest| {
            let Some((entity, _)) = rest.split_once(';') else {
                return false;
            };
            let numeric = entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                .or_else(|| {
                    entity
                        .strip_prefix('#')
                        .map(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
                })
                .unwrap_or(false);
            numeric || ["amp", "lt", "gt", "quot", "apos", "nbsp"].contains(&entity)
        })
}

fn coordinate(form: &[(String, String)], name: &str, max: f64) -> Result<Option<f64>, Oops> {
    let Some(text) = one(form, name) else {
        return Ok(None);
    };
    let value: f64 = text
        .parse()
        .map_err(|_| Oops::bad(format!("{name} `{text}` is not a number of degrees")))?;
    if !value.is_finite() || value.abs() > max {
        return Err(Oops::bad(format!(
            "{name} `{text}` is not on the planet: it must be a finite number between -{max} and {max}"
        )));
    }
    Ok(Some(value))
}

/// A link to a photo: http(s) with a host, nothing else.
fn media_url(text: &str) -> Result<(), Oops> {
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| Oops::bad("media_url must be an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty()
        || text.chars().count() > MAX_URL_CHARS
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"')
    {
        return Err(Oops::bad(format!(
            "media_url must be an http(s) URL with a host, without spaces, at most {MAX_URL_CHARS} characters"
        )));
    }
    Ok(())
}

/// `attribute[code]` and `attribute[code][]` pairs, by code.
fn attributes(form: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form {
        let Some(inner) = k.strip_prefix("attribute[") else {
            continue;
        };
        let code = inner
            .strip_suffix("][]")
            .or_else(|| inner.strip_suffix(']'))
            .unwrap_or(inner);
        out.entry(code.to_owned())
            .or_default()
            .push(v.trim().to_owned());
    }
    out
}

fn check_attribute(def: &AttributeDef, values: &[String]) -> Result<(), Oops> {
    let code = &def.code;
    if def.datatype != "multivaluelist" && values.len() > 1 {
        return Err(Oops::bad(format!("attribute[{code}] takes one value")));
    }
    for v in values {
        plain_text(&format!("attribute[{code}]"), v, MAX_FIELD_CHARS)?;
        let ok = match def.datatype.as_str() {
            "number" => v.parse::<f64>().is_ok_and(f64::is_finite),
            "datetime" => parse_rfc3339(v, Leniency::Lenient).is_some(),
            "singlevaluelist" | "multivaluelist" => def.values.iter().any(|x| &x.key == v),
            _ => true,
        };
        if !ok {
            let want = match def.datatype.as_str() {
                "number" => "a number".to_owned(),
                "datetime" => "an ISO 8601 time".to_owned(),
                _ => format!(
                    "one of {}",
                    def.values
                        .iter()
                        .map(|x| x.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(Oops::bad(format!("attribute[{code}] `{v}` must be {want}")));
        }
    }
    Ok(())
}

/// Checks a POSTed request against the category table and the city's
/// service definitions. The key is checked by the caller (403 first).
pub fn check(
    form: &[(String, String)],
    categories: &CategoryTable,
    config: &Open311Section,
) -> Result<Intake, Oops> {
    let api_key = api_key(form)?.to_owned();
    let service_code = one(form, "service_code")
        .ok_or_else(|| Oops::bad("service_code was not provided; see services.json"))?;
    if categories.get(service_code).is_none() {
        return Err(Oops::not_found(format!(
            "service_code `{service_code}` not found; see services.json for the city's services"
        )));
    }
    let lat = coordinate(form, "lat", 90.0)?;
    let lon = coordinate(form, "long", 180.0)?;
    let address = one(form, "address_string").map(str::to_owned);
    if let Some(a) = &address {
        plain_text(
            "address_string",
            a,
            gridwarden_protocol::validate::MAX_ADDRESS_CHARS,
        )?;
    }
    let place = match (lat, lon, &address) {
        (Some(lat), Some(lon), _) => Place::Point { lat, lon },
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(Oops::bad("lat and long go together: send both"))
        }
        (None, None, Some(a)) if !config.addresses.is_empty() => {
            let cell = config.addresses.get(a.as_str()).ok_or_else(|| {
                Oops::bad(format!(
                    "address_string `{a}` is not in the city's address table; send lat and long"
                ))
            })?;
            Place::Cell(cell.clone())
        }
        (None, None, _) => {
            return Err(Oops::bad(
                "lat and long are required: this city has no address table to place an address_string by",
            ))
        }
    };
    let description = one(form, "description").unwrap_or("").to_owned();
    plain_text("description", &description, MAX_DESCRIPTION_CHARS)?;
    let media = one(form, "media_url").map(str::to_owned);
    if let Some(url) = &media {
        media_url(url)?;
    }
    let mut contact = Vec::new();
    for field in CONTACT_FIELDS {
        if let Some(v) = one(form, field) {
            plain_text(field, v, MAX_FIELD_CHARS)?;
            contact.push((field.to_owned(), v.to_owned()));
        }
    }
    let mut given = attributes(form);
    let external_id = given.remove(EXTERNAL_ID).and_then(|mut v| v.pop());
    if let Some(ext) = &external_id {
        plain_text("attribute[external_id]", ext, MAX_FIELD_CHARS)?;
    }
    let defs: Vec<&AttributeDef> = config
        .attributes
        .iter()
        .filter(|a| a.service_code == service_code)
        .collect();
    for code in given.keys() {
        if !defs.iter().any(|d| &d.code == code) {
            return Err(Oops::bad(format!(
                "attribute[{code}] is not an attribute of service {service_code}; see services/{service_code}.json"
            )));
        }
    }
    let mut attrs = Vec::new();
    for def in defs {
        match given
            .get(&def.code)
            .filter(|v| v.iter().any(|x| !x.is_empty()))
        {
            Some(values) => {
                check_attribute(def, values)?;
                attrs.extend(values.iter().map(|v| (def.code.clone(), v.clone())));
            }
            None if def.required => {
                return Err(Oops::bad(format!(
                    "attribute[{}] is required for service {service_code}: {}",
                    def.code, def.description
                )))
            }
            None => {}
        }
    }
    Ok(Intake {
        api_key,
        service_code: service_code.to_owned(),
        place,
        address,
        description,
        media_url: media,
        attributes: attrs,
        external_id,
        contact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_told_from_text() {
        assert!(looks_like_html("<b>bold</b>"));
        assert!(looks_like_html("a <script>x</script>"));
        assert!(looks_like_html("fish &amp; chips"));
        assert!(looks_like_html("<!-- hi -->"));
        assert!(!looks_like_html("depth < 2 m & rising"));
        assert!(!looks_like_html("井盖破损，a<3"));
        assert!(!looks_like_html("AT&T; fine"));
    }

    #[test]
    fn media_urls_are_http_only() {
        assert!(media_url("https://example.org/a.jpg").is_ok());
        assert!(media_url("HTTP://example.org").is_ok());
        for bad in [
            "javascript:alert(1)",
            "ftp://x/y",
            "file:///etc/passwd",
            "https://",
            "https://a b",
        ] {
            assert!(media_url(bad).is_err(), "{bad}");
        }
    }
}
