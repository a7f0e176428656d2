//! Ops waiting for the server. An op leaves only when an ack naming it has
//! been committed here (brief decision 2), so any failure before that simply
//! means it is sent again and the server deduplicates it by op id.

use gridwarden_protocol::{codec, Op, OpBody};
use rusqlite::{params, Connection, Transaction};
use uuid::Uuid;

use super::{blob_uuid, uuid_blob};
use crate::error::{ClientError, Result};

/// One queued op with its position and encoded size.
#[derive(Clone, Debug, PartialEq)]
pub struct Queued {
    pub seq: i64,
    pub op: Op,
    /// The op as stored and sent: what an ack keeps (`given::Acks::keep`),
    /// without encoding it again.
    pub encoded: Vec<u8>,
    /// The device's estimate of the server's time when the op was made
    /// (`None`: queued by a release before it was kept).
    pub estimate_ms: Option<u64>,
}

/// The entity an op is about, kept in its own column to answer "is anything
/// of this report still pending?" without decoding ops.
pub fn subject(op: &Op) -> Uuid {
    match &op.body {
        OpBody::Report { report_id, .. } => *report_id,
        OpBody::Patrol { patrol_id, .. } => *patrol_id,
        OpBody::Case { report_id, .. } => *report_id,
    }
}

/// Queues `op`; `estimate_ms` is the device's estimate of the server's time
/// at the edit, which a re-stamp after a clock-skew refusal goes back to.
pub fn append(tx: &Transaction, op: &Op, estimate_ms: u64) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO outbox (op_id, report_id, op, estimate_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        uuid_blob(&op.op_id),
        uuid_blob(&subject(op)),
        codec::encode(op),
        i64::try_from(estimate_ms).unwrap_or(i64::MAX)
    ])?;
    Ok(tx.last_insert_rowid())
}

pub fn len(conn: &Connection) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM outbox")?
        .query_row([], |r| r.get::<_, i64>(0))? as u64)
}

/// The next ops after `after_seq`, in order: at most `max_ops`, and no more
/// than `max_bytes` encoded unless a single op alone is larger (it still has
/// to go, and the server's frame limit is far above any valid op).
pub fn batch_after(
    conn: &Connection,
    after_seq: i64,
    max_ops: usize,
    max_bytes: usize,
) -> Result<Vec<Queued>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, op, estimate_ms FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![after_seq, max_ops as i64])?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let raw: Vec<u8> = row.get(1)?;
        let estimate_ms = row
            .get::<_, Option<i64>>(2)?
            .and_then(|ms| u64::try_from(ms).ok());
        if !out.is_empty() && bytes + raw.len() > max_bytes {
            break;
        }
        bytes += raw.len();
        let op = codec::decode(&raw)
            .map_err(|e| ClientError::Protocol(format!("queued op {seq} is unreadable: {e}")))?;
        out.push(Queued {
            seq,
            op,
            encoded: raw,
            estimate_ms,
        });
    }
    Ok(out)
}

/// Removes an acknowledged op (`given::Acks::remove`, once per op of an
/// ack): without RETURNING, which costs a delete a good share of its speed.
pub(crate) const REMOVE: &str = "DELETE FROM outbox WHERE op_id = ?1";

/// Every queued op id in order (tests and diagnostics).
pub fn op_ids(conn: &Connection) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare("SELECT op_id FROM outbox ORDER BY seq")?;
    let rows = stmt.query_map([], |row| blob_uuid(&row.get::<_, Vec<u8>>(0)?))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The queued ops of one report, in the order they were recorded.
/// Every queued op, in order.
pub fn all(conn: &Connection) -> Result<Vec<Op>> {
    let mut stmt = conn.prepare("SELECT seq, op FROM outbox ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let raw: Vec<u8> = row.get(1)?;
        out.push(
            codec::decode(&raw).map_err(|e| {
                ClientError::Protocol(format!("queued op {seq} is unreadable: {e}"))
            })?,
        );
    }
    Ok(out)
}

/// Moves every queued op onto clock node `node` (a new enrolment of this
/// home): the server takes ops only stamped with the pushing device's node.
/// Op ids stay, so an op the old identity already landed is a duplicate.
pub fn renode(tx: &Transaction, node: u64) -> Result<u64> {
    let mut moved = 0;
    for mut op in all(tx)? {
        op.hlc.node = node;
        tx.prepare_cached("UPDATE outbox SET op = ?2 WHERE op_id = ?1")?
            .execute(params![uuid_blob(&op.op_id), codec::encode(&op)])?;
        moved += 1;
    }
    Ok(moved)
}

pub fn ops_of(conn: &Connection, report_id: Uuid) -> Result<Vec<Op>> {
    super::ops_by_report(
        conn,
        "SELECT seq, op FROM outbox WHERE report_id = ?1 ORDER BY seq",
        report_id,
        "queued op",
    )
}
