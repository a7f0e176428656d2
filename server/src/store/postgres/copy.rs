//! An embedded (SQLite) store copied into an empty PostgreSQL database, for
//! `gridwarden-server migrate --to postgres://…`: a city that started on the
//! default grows without losing anything. The two schemas have the same
//! tables and columns (migration 0001 here is SQLite's 0012), so the copy
//! goes table by table, column by column, converting by the target
//! column's type; one transaction, checked before it commits (row counts
//! per table, and a checksum of the feed: every report's position, id and
//! state in feed order).

use std::path::Path;

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::PgStore;
use crate::store::{StoreError, StoreResult};

/// Every table of the schema, parents before the tables that refer to them.
const TABLES: &[&str] = &[
    "users",
    "user_cells",
    "enrolments",
    "devices",
    "grid_layers",
    "grid_cell_data",
    "grid_layer_cells",
    "category_tables",
    "reports",
    "report_left_cells",
    "applied_ops",
    "meta",
    "patrols",
    "track_points",
    "report_photos",
    "audit_log",
    "cases",
    "departments",
    "category_routes",
    "department_members",
    "case_photos",
    "console_links",
    "console_sessions",
    "api_keys",
    "open311_requests",
    "open311_feedback",
];
/// The PostgreSQL store's own bookkeeping, set after the copy.
const OWN: &[&str] = &["counters", "schema_lock"];

/// What was copied.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    /// Rows per table, in copy order.
    pub tables: Vec<(String, u64)>,
    /// BLAKE3 over every report's feed position, id and state, in feed
    /// order: the same on both sides.
    pub feed_checksum: String,
}

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("reading the embedded store: {e}"))
}

/// One value of the source, converted to the target column's type.
fn convert(value: Value, pg_type: &str, column: &str) -> StoreResult<Box<dyn ToSql + Sync + Send>> {
    let bad = |v: &Value| {
        StoreError::Corrupt(format!(
            "column {column}: {v:?} does not fit the PostgreSQL type {pg_type}"
        ))
    };
    Ok(match (pg_type, value) {
        ("bigint", Value::Null) => Box::new(None::<i64>),
        ("bigint", Value::Integer(i)) => Box::new(i),
        ("integer", Value::Null) => Box::new(None::<i32>),
        ("integer", Value::Integer(i)) => {
            Box::new(i32::try_from(i).map_err(|_| bad(&Value::Integer(i)))?)
        }
        ("boolean", Value::Integer(i)) => Box::new(i != 0),
        ("boolean", Value::Null) => Box::new(None::<bool>),
        ("double precision", Value::Null) => Box::new(None::<f64>),
        ("double precision", Value::Real(f)) => Box::new(f),
        ("double precision", Value::Integer(i)) => Box::new(i as f64),
        ("bytea", Value::Null) => Box::new(None::<Vec<u8>>),
        ("bytea", Value::Blob(b)) => Box::new(b),
        ("text", Value::Null) => Box::new(None::<String>),
        ("text", Value::Text(t)) => Box::new(t),
        // `reports.left_cells`: a JSON array of codes in SQLite.
        ("ARRAY", Value::Text(t)) => {
            let cells: Vec<String> =
                serde_json::from_str(&t).map_err(|_| bad(&Value::Text(t.clone())))?;
            Box::new(cells)
        }
        (_, v) => return Err(bad(&v)),
    })
}

/// BLAKE3 over (position, id, state) of every report in feed order.
fn feed_checksum(rows: impl Iterator<Item = (i64, Vec<u8>, Vec<u8>)>) -> String {
    let mut hasher = blake3::Hasher::new();
    for (seq, id, state) in rows {
        hasher.update(&seq.to_le_bytes());
        hasher.update(&(id.len() as u64).to_le_bytes());
        hasher.update(&id);
        hasher.update(&(state.len() as u64).to_le_bytes());
        hasher.update(&state);
    }
    hasher.finalize().to_hex().to_string()
}

impl PgStore {
    /// Copies the SQLite store at `source` (at the current schema version,
    /// and not being written) into this database, which must hold no
    /// records. Nothing is written unless every table's count and the
    /// feed's checksum match.
    pub fn copy_from_sqlite(&self, source: &Path) -> StoreResult<Copied> {
        let src = rusqlite::Connection::open_with_flags(
            source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .map_err(sqlite_err)?;
        let mut client = self.client()?;
        let tx = self.block(client.transaction())?;

        let found: Vec<String> = self
            .block(tx.query(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                &[],
            ))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if let Some(unknown) = found
            .iter()
            .find(|t| !TABLES.contains(&t.as_str()) && !OWN.contains(&t.as_str()))
        {
            return Err(StoreError::Corrupt(format!(
                "the target has a table the copy does not know: {unknown}"
            )));
        }
        for table in TABLES {
            let row =
                self.block(tx.query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[]))?;
            if row.get::<_, bool>(0) {
                return Err(StoreError::Backend(format!(
                    "the database at {} is not empty (table {table} has rows): migrate copies into an empty database only",
                    self.shown
                )));
            }
        }

        let mut tables = Vec::new();
        for table in TABLES {
            let target: Vec<(String, String)> = self
                .block(tx.query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1
                     ORDER BY ordinal_position",
                    &[table],
                ))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let source_columns: Vec<String> = src
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .and_then(|mut s| {
                    s.query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<_, _>>()
                })
                .map_err(sqlite_err)?;
            if source_columns.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "the embedded store has no table {table}: open it with this build first"
                )));
            }
            // Columns both sides have; one only the target has keeps its
            // default, one only the source has (SQLite's retired
            // `grid_layers.layer`) is left behind.
            let columns: Vec<&(String, String)> = target
                .iter()
                .filter(|(c, _)| source_columns.contains(c))
                .collect();
            let names = columns
                .iter()
                .map(|(c, _)| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let placeholders = (1..=columns.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let insert = self.block(tx.prepare(&format!(
                "INSERT INTO {table} ({names}) VALUES ({placeholders})"
            )))?;
            let mut select = src
                .prepare(&format!("SELECT {names} FROM {table}"))
                .map_err(sqlite_err)?;
            let mut rows = select.query([]).map_err(sqlite_err)?;
            let mut copied = 0u64;
            while let Some(row) = rows.next().map_err(sqlite_err)? {
                let mut values = Vec::with_capacity(columns.len());
                for (i, (column, pg_type)) in columns.iter().enumerate() {
                    let value: Value = row.get(i).map_err(sqlite_err)?;
                    values.push(convert(value, pg_type, &format!("{table}.{column}"))?);
                }
                let params: Vec<&(dyn ToSql + Sync)> = values
                    .iter()
                    .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                self.block(tx.execute(&insert, &params))?;
                copied += 1;
            }
            let source_count: i64 = src
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .map_err(sqlite_err)?;
            let target_count: i64 = self
                .block(tx.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]))?
                .get(0);
            if source_count != target_count || copied != source_count as u64 {
                return Err(StoreError::Corrupt(format!(
                    "table {table}: {source_count} rows in the embedded store, {target_count} copied; nothing was written"
                )));
            }
            tables.push((table.to_string(), copied));
        }

        // The counters go on from the copied numbers.
        self.block(tx.batch_execute(
            "UPDATE counters SET value = (SELECT COALESCE(MAX(seq), 0) FROM reports) WHERE name = 'feed';
             UPDATE counters SET value = (SELECT COALESCE(MAX(seq), 0) FROM audit_log) WHERE name = 'audit';
             UPDATE counters SET value = (SELECT COALESCE(MAX(version), 0) FROM grid_layers) WHERE name = 'grid';
             UPDATE counters SET value = (SELECT COALESCE(MAX(version), 0) FROM category_tables) WHERE name = 'categories';",
        ))?;

        let source_feed = {
            let mut s = src
                .prepare("SELECT seq, id, state FROM reports ORDER BY seq")
                .map_err(sqlite_err)?;
            let rows = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(sqlite_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqlite_err)?;
            feed_checksum(rows.into_iter())
        };
        let target_feed = feed_checksum(
            self.block(tx.query("SELECT seq, id, state FROM reports ORDER BY seq", &[]))?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2))),
        );
        if source_feed != target_feed {
            return Err(StoreError::Corrupt(
                "the copied feed differs from the embedded store's; nothing was written".into(),
            ));
        }
        self.block(tx.commit())?;
        Ok(Copied {
            tables,
            feed_checksum: target_feed,
        })
    }
}
