//! Baselines: the same rows written by plain SQLite with nothing else in the
//! way — prepared statements, pre-encoded values, the same schema, indexes
//! and durability settings as the store they are compared with. They are
//! the physical limit of that store on this machine.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use gridwarden_client_core::store::Store;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

/// Every row of `table`, every column, in rowid order.
pub fn read_rows(conn: &Connection, table: &str) -> anyhow::Result<Vec<Vec<Value>>> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table}"))?;
    let columns = stmt.column_count();
    let rows = stmt
        .query_map([], |row| {
            (0..columns)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn insert_sql(table: &str, columns: usize) -> String {
    let marks = vec!["?"; columns].join(", ");
    format!("INSERT INTO {table} VALUES ({marks})")
}

/// Opens a connection configured as the server configures its own
/// (`server/src/store/sqlite.rs`: WAL, synchronous=FULL, foreign keys).
fn server_like_connection(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Inserts the server's stored reports and applied-op rows, copied from the
/// server database at `source`, into a fresh server database at `dest`, in
/// transactions of `batch` reports (and as many applied ops). Returns the
/// time of the inserts alone.
pub fn server_ingest(source: &Path, dest: &Path, batch: usize) -> anyhow::Result<Duration> {
    let (reports, ops) = {
        let src = Connection::open(source)?;
        (read_rows(&src, "reports")?, read_rows(&src, "applied_ops")?)
    };
    // The server's own code creates the schema, so the indexes match.
    drop(gridwarden_server::store::SqliteStore::open(dest).context("creating the schema")?);
    let mut conn = server_like_connection(dest)?;
    let report_sql = insert_sql("reports", reports.first().map_or(0, Vec::len));
    let op_sql = insert_sql("applied_ops", ops.first().map_or(0, Vec::len));
    let started = Instant::now();
    let chunks = reports.len().div_ceil(batch.max(1)).max(1);
    for k in 0..chunks {
        let range = |len: usize| (k * batch).min(len)..((k + 1) * batch).min(len);
        let tx = conn.transaction()?;
        {
            let mut insert_report = tx.prepare_cached(&report_sql)?;
            for row in &reports[range(reports.len())] {
                insert_report.execute(params_from_iter(row))?;
            }
            let mut insert_op = tx.prepare_cached(&op_sql)?;
            for row in &ops[range(ops.len())] {
                insert_op.execute(params_from_iter(row))?;
            }
        }
        tx.commit()?;
    }
    Ok(started.elapsed())
}

/// Inserts every row of `tables` of the device store in `source_home` into a
/// fresh device store in `dest_home` in one transaction, table after table:
/// the floor of what a pull of those rows costs the device's store. A pull
/// stores each report and its case, so the pull's baseline is
/// `["reports", "cases"]`, as the push's is the report and its op id.
pub fn device_bulk_insert(
    source_home: &Path,
    dest_home: &Path,
    tables: &[&str],
) -> anyhow::Result<Duration> {
    let source = Store::open(source_home)?;
    let rows = tables
        .iter()
        .map(|table| read_rows(source.conn(), table))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(source);
    let mut store = Store::open(dest_home)?;
    let started = Instant::now();
    let tx = store.transaction()?;
    for (table, rows) in tables.iter().zip(&rows) {
        let mut insert = tx.prepare_cached(&insert_sql(table, rows.first().map_or(0, Vec::len)))?;
        for row in rows {
            insert.execute(params_from_iter(row))?;
        }
    }
    tx.commit()?;
    Ok(started.elapsed())
}

/// Times `count` transactions on a device store, each inserting one report
/// row and one outbox row copied from the device at `source_home`: what
/// recording a report costs SQLite alone.
pub fn device_record(
    source_home: &Path,
    dest_home: &Path,
    count: usize,
    synchronous: &str,
) -> anyhow::Result<Vec<Duration>> {
    let (reports, outbox) = {
        let source = Store::open(source_home)?;
        (
            read_rows(source.conn(), "reports")?,
            read_rows(source.conn(), "outbox")?,
        )
    };
    anyhow::ensure!(
        reports.len() >= count && outbox.len() >= count,
        "the source device holds fewer than {count} recorded reports"
    );
    let mut store = Store::open(dest_home)?;
    // The device's own setting is NORMAL; FULL measures the choice not made
    // (an fsync inside every commit, ADR 0026).
    store
        .conn()
        .pragma_update(None, "synchronous", synchronous)?;
    let report_sql = insert_sql("reports", reports[0].len());
    let outbox_sql = insert_sql("outbox", outbox[0].len());
    let mut times = Vec::with_capacity(count);
    for (report, op) in reports.iter().zip(&outbox).take(count) {
        let started = Instant::now();
        let tx = store.transaction()?;
        tx.prepare_cached(&report_sql)?
            .execute(params_from_iter(report))?;
        tx.prepare_cached(&outbox_sql)?
            .execute(params_from_iter(op))?;
        tx.commit()?;
        times.push(started.elapsed());
    }
    Ok(times)
}

/// Times `count` transactions on the device store `store`, each rewriting
/// the stored state of report `id` with the same bytes: one row changed in
/// a table of however many the device holds.
pub fn device_update_one(
    store: &mut Store,
    id: uuid::Uuid,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let key = id.as_bytes().to_vec();
    let state: Vec<u8> =
        store
            .conn()
            .query_row("SELECT state FROM reports WHERE id = ?1", [&key], |r| {
                r.get(0)
            })?;
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let tx = store.transaction()?;
        tx.prepare_cached("UPDATE reports SET state = ?1 WHERE id = ?2")?
            .execute(rusqlite::params![state, key])?;
        tx.commit()?;
        times.push(started.elapsed());
    }
    Ok(times)
}
