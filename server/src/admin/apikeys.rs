//! API keys of the Open311 interface: one per hotline or citizen app. The
//! key is printed once and only its BLAKE3 hash is kept (a 256-bit random
//! secret needs no slow hash); the key's name is the reporter of the
//! client's requests. Adding and revoking are audited.

use anyhow::bail;
use gridwarden_protocol::enrolment::hex;
use serde::Serialize;

use super::access::record;
use crate::datadir::DataDir;
use crate::store::ApiKey;

/// What `apikeys add` prints, once.
#[derive(Debug, Serialize)]
pub struct NewKey {
    pub name: String,
    pub api_key: String,
}

/// A key as `apikeys list` shows it (never the key).
#[derive(Debug, Serialize)]
pub struct KeyLine {
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// The hash a presented key is looked up by.
pub fn key_hash(key: &str) -> [u8; 32] {
    *blake3::hash(key.as_bytes()).as_bytes()
}

pub fn add(data: &DataDir, name: &str) -> anyhow::Result<NewKey> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("an API client's name must be 1–64 characters without spaces (e.g. 12345 or fixmystreet)");
    }
    let bytes: [u8; 32] = rand::random();
    let api_key = hex(&bytes);
    let key = ApiKey {
        name: name.to_owned(),
        key_hash: key_hash(&api_key),
        created_ms: data.service.now(),
        revoked_ms: None,
    };
    let audit = record(data, "apikey.add", name, "Open311 API key issued".into());
    crate::store::write(data.store().as_ref(), |tx| {
        // The key's name is the reporter of its requests: a user of that
        // name would seem to have filed them.
        if tx.user(name)?.is_some() {
            return Ok(Err(anyhow::anyhow!(
                "`{name}` is a user's name; an API client's name is the reporter of its requests, so pick another"
            )));
        }
        tx.add_api_key(&key)?;
        tx.append_audit(&audit)?;
        Ok(Ok(()))
    })??;
    Ok(NewKey {
        name: name.to_owned(),
        api_key,
    })
}

pub fn list(data: &DataDir) -> anyhow::Result<Vec<KeyLine>> {
    Ok(data
        .store()
        .api_keys()?
        .into_iter()
        .map(|k| KeyLine {
            name: k.name,
            created_ms: k.created_ms,
            revoked_ms: k.revoked_ms,
        })
        .collect())
}

/// Revokes a key: the running server refuses it from its next request.
pub fn revoke(data: &DataDir, name: &str) -> anyhow::Result<KeyLine> {
    let audit = record(
        data,
        "apikey.revoke",
        name,
        "Open311 API key revoked".into(),
    );
    let k = data
        .store()
        .revoke_api_key(name, data.service.now(), &audit)?;
    Ok(KeyLine {
        name: k.name,
        created_ms: k.created_ms,
        revoked_ms: k.revoked_ms,
    })
}
