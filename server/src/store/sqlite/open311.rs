//! Open311 intake in the SQLite backend: API keys (hashes only), the
//! requests' extra fields and citizens' ratings.

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{hash_from, uuid_from};
use crate::store::{
    ApiKey, Clash, Feedback, HotlineFilter, HotlineRequest, Missing, StoreError, StoreResult,
};

fn key_from(r: &Row) -> rusqlite::Result<(String, Vec<u8>, i64, Option<i64>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_key(
    (name, hash, created_ms, revoked_ms): (String, Vec<u8>, i64, Option<i64>),
) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        name,
        key_hash: hash_from(hash)?,
        created_ms,
        revoked_ms,
    })
}

const KEY_COLUMNS: &str = "name, key_hash, created_ms, revoked_ms";

pub(super) fn add_key(tx: &Connection, key: &ApiKey) -> StoreResult<()> {
    let inserted = tx.execute(
        "INSERT INTO api_keys (name, key_hash, created_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        params![key.name, key.key_hash.as_slice(), key.created_ms],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(Clash::ApiKey(key.name.clone())));
    }
    Ok(())
}

pub(super) fn key_named(tx: &Connection, name: &str) -> StoreResult<Option<ApiKey>> {
    tx.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE name = ?1"
    ))?
    .query_row([name], key_from)
    .optional()?
    .map(to_key)
    .transpose()
}

pub(super) fn keys(conn: &Connection) -> StoreResult<Vec<ApiKey>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY name"))?;
    let rows = stmt.query_map([], key_from)?;
    rows.map(|r| to_key(r?)).collect()
}

pub(super) fn key_by_hash(conn: &Connection, hash: [u8; 32]) -> StoreResult<Option<ApiKey>> {
    conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"
    ))?
    .query_row([hash.as_slice()], key_from)
    .optional()?
    .map(to_key)
    .transpose()
}

pub(super) fn revoke_key(tx: &Connection, name: &str, now_ms: i64) -> StoreResult<(ApiKey, bool)> {
    let key =
        key_named(tx, name)?.ok_or_else(|| StoreError::NotFound(Missing::ApiKey(name.into())))?;
    if key.revoked_ms.is_some() {
        return Ok((key, false));
    }
    tx.execute(
        "UPDATE api_keys SET revoked_ms = ?2 WHERE name = ?1",
        params![name, now_ms],
    )?;
    Ok((
        ApiKey {
            revoked_ms: Some(now_ms),
            ..key
        },
        true,
    ))
}

const REQUEST_COLUMNS: &str = "report_id, token, client, external_id, service_code, requested_ms, \
                               media_url, attributes, contact, description";

fn pairs(json: &str) -> StoreResult<Vec<(String, String)>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("open311 fields: {e}")))
}

fn request_from(r: &Row) -> rusqlite::Result<RawRequest> {
    Ok(RawRequest {
        report_id: r.get(0)?,
        token: r.get(1)?,
        client: r.get(2)?,
        external_id: r.get(3)?,
        service_code: r.get(4)?,
        requested_ms: r.get(5)?,
        media_url: r.get(6)?,
        attributes: r.get(7)?,
        contact: r.get(8)?,
        description: r.get(9)?,
    })
}

struct RawRequest {
    report_id: Vec<u8>,
    token: String,
    client: String,
    external_id: Option<String>,
    service_code: String,
    requested_ms: i64,
    media_url: Option<String>,
    attributes: String,
    contact: String,
    description: String,
}

impl RawRequest {
    fn parse(self) -> StoreResult<HotlineRequest> {
        Ok(HotlineRequest {
            report_id: uuid_from(self.report_id)?,
            token: self.token,
            client: self.client,
            external_id: self.external_id,
            service_code: self.service_code,
            requested_ms: self.requested_ms,
            media_url: self.media_url,
            attributes: pairs(&self.attributes)?,
            contact: pairs(&self.contact)?,
            description: self.description,
        })
    }
}

pub(super) fn request_where(
    conn: &Connection,
    condition: &str,
    args: &[&dyn ToSql],
) -> StoreResult<Option<HotlineRequest>> {
    conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM open311_requests WHERE {condition}"
    ))?
    .query_row(args, request_from)
    .optional()?
    .map(RawRequest::parse)
    .transpose()
}

pub(super) fn add_request(tx: &Connection, q: &HotlineRequest) -> StoreResult<HotlineRequest> {
    let id = q.report_id.as_bytes().as_slice();
    if let Some(existing) = request_where(tx, "report_id = ?1", &[&id])? {
        return Ok(existing);
    }
    if let Some(ext) = &q.external_id {
        if let Some(existing) =
            request_where(tx, "client = ?1 AND external_id = ?2", &[&q.client, ext])?
        {
            return Ok(existing);
        }
    }
    let json = |v: &Vec<(String, String)>| serde_json::to_string(v).expect("pairs serialise");
    tx.execute(
        &format!("INSERT INTO open311_requests ({REQUEST_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            id,
            q.token,
            q.client,
            q.external_id,
            q.service_code,
            q.requested_ms,
            q.media_url,
            json(&q.attributes),
            json(&q.contact),
            q.description,
        ],
    )?;
    Ok(q.clone())
}

pub(super) fn requests(conn: &Connection, f: &HotlineFilter) -> StoreResult<Vec<HotlineRequest>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM open311_requests
         WHERE requested_ms >= ?1 AND requested_ms <= ?2 AND (?3 IS NULL OR service_code = ?3)
         ORDER BY requested_ms DESC, report_id DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![f.since_ms, f.until_ms, f.service_code, f.limit as i64],
        request_from,
    )?;
    rows.map(|r| r?.parse()).collect()
}

pub(super) fn add_feedback(tx: &Connection, fb: &Feedback) -> StoreResult<()> {
    let inserted = tx.execute(
        "INSERT INTO open311_feedback (report_id, rating, comment, at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (report_id) DO NOTHING",
        params![
            fb.report_id.as_bytes().as_slice(),
            fb.rating,
            fb.comment,
            fb.at_ms
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(Clash::Feedback(fb.report_id)));
    }
    Ok(())
}

pub(super) fn feedback(conn: &Connection) -> StoreResult<Vec<Feedback>> {
    let mut stmt = conn.prepare_cached(
        "SELECT report_id, rating, comment, at_ms FROM open311_feedback ORDER BY at_ms",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, u8>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    rows.map(|r| {
        let (id, rating, comment, at_ms) = r?;
        Ok(Feedback {
            report_id: uuid_from(id)?,
            rating,
            comment,
            at_ms,
        })
    })
    .collect()
}
