//! Reference data cached for offline work: the category table, stored as
//! the wire encodes it. Grid cells have their own tables (`grid_cells.rs`).

use gridwarden_protocol::category::CategoryTable;
use gridwarden_protocol::codec;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;

use crate::error::{ClientError, Result};

const CATEGORIES: &str = "categories";

fn put(tx: &Transaction, kind: &str, version: u64, data: Vec<u8>) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO reference (kind, version, data) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![kind, version as i64, data])?;
    Ok(())
}

fn load<T: DeserializeOwned>(conn: &Connection, kind: &str) -> Result<Option<T>> {
    let data: Option<Vec<u8>> = conn
        .prepare_cached("SELECT data FROM reference WHERE kind = ?1")?
        .query_row([kind], |r| r.get(0))
        .optional()?;
    data.map(|d| {
        codec::decode(&d).map_err(|e| {
            ClientError::Protocol(format!(
                "the cached {kind} are unreadable ({e}); sync again"
            ))
        })
    })
    .transpose()
}

/// Version of a cached blob, without decoding it (cheap enough per action:
/// every recording asks, so the statement is cached).
fn version(conn: &Connection, kind: &str) -> Result<Option<u64>> {
    Ok(conn
        .prepare_cached("SELECT version FROM reference WHERE kind = ?1")?
        .query_row([kind], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|v| v as u64))
}

pub fn put_categories(tx: &Transaction, table: &CategoryTable) -> Result<()> {
    put(tx, CATEGORIES, table.version, codec::encode(table))
}

pub fn categories(conn: &Connection) -> Result<Option<CategoryTable>> {
    load(conn, CATEGORIES)
}

pub fn categories_version(conn: &Connection) -> Result<Option<u64>> {
    version(conn, CATEGORIES)
}
