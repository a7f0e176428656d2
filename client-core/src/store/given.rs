//! Ops this device authored that the server acknowledged, kept to be given
//! back to a server restored from a backup that may lack them. An op is kept
//! in the transaction that takes it out of the outbox, so every op is always
//! in exactly one of the two.

use std::collections::HashSet;

use gridwarden_protocol::{codec, Op, OpBody, ReportState};
use rusqlite::{params, CachedStatement, Connection, Statement, Transaction};
use uuid::Uuid;

use super::meta::Enrolment;
use super::{outbox, uuid_blob};
use crate::error::{ClientError, Result};

/// [`Acks::keep`] for an op that is not queued (tests).
#[cfg(test)]
fn keep(tx: &Transaction, op: &Op) -> Result<()> {
    let mut stmt = tx.prepare_cached(KEEP)?;
    keep_with(&mut stmt, op, &codec::encode(op))
}

const KEEP: &str = "INSERT OR IGNORE INTO given_ops (op_id, op, report_id) VALUES (?1, ?2, ?3)";

/// Keeps `op`, whose encoding is `encoded`.
fn keep_with(stmt: &mut Statement<'_>, op: &Op, encoded: &[u8]) -> Result<()> {
    let unfolded = match &op.body {
        OpBody::Report { report_id, .. } => Some(uuid_blob(report_id)),
        _ => None,
    };
    stmt.execute(params![uuid_blob(&op.op_id), encoded, unfolded])?;
    Ok(())
}

/// The two writes of every op an ack names, prepared once for the whole
/// ack: taking a statement from rusqlite's cache and giving it back hashes
/// its SQL each time, ≈ 1,000 instructions a use (callgrind of the push
/// benchmark, issue 22), and an ack names up to 1,000 ops.
pub struct Acks<'t> {
    remove: CachedStatement<'t>,
    keep: CachedStatement<'t>,
}

impl<'t> Acks<'t> {
    pub fn prepare(tx: &'t Transaction) -> Result<Self> {
        Ok(Self {
            remove: tx.prepare_cached(outbox::REMOVE)?,
            keep: tx.prepare_cached(KEEP)?,
        })
    }

    /// Takes an acknowledged op out of the outbox; `false` if it was not
    /// (or no longer) queued.
    pub fn remove(&mut self, op_id: Uuid) -> Result<bool> {
        Ok(self.remove.execute([uuid_blob(&op_id)])? > 0)
    }

    /// Keeps an acknowledged op (again: a duplicate ack changes nothing).
    /// An op of a report names it until its effect is folded into the
    /// report's confirmed state (`reports::confirmed`): this row is all an
    /// ack writes of the op, the report row is not rewritten. Its bytes as
    /// the outbox held them are its encoding, so it is not encoded again.
    pub fn keep(&mut self, queued: &outbox::Queued) -> Result<()> {
        keep_with(&mut self.keep, &queued.op, &queued.encoded)
    }
}

/// The acknowledged ops of a report not yet folded into its confirmed
/// state, in the order they were acknowledged.
pub fn unfolded(conn: &Connection, report_id: Uuid) -> Result<Vec<Op>> {
    super::ops_by_report(
        conn,
        "SELECT seq, op FROM given_ops WHERE report_id = ?1 ORDER BY seq",
        report_id,
        "kept op",
    )
}

/// Marks the acknowledged ops of a report folded: its confirmed state as
/// written now includes them.
pub fn mark_folded(tx: &Transaction, report_id: Uuid) -> Result<()> {
    tx.prepare_cached("UPDATE given_ops SET report_id = NULL WHERE report_id = ?1")?
        .execute([uuid_blob(&report_id)])?;
    Ok(())
}

/// The reports with acknowledged ops not yet folded in.
pub fn unfolded_reports(conn: &Connection) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT report_id FROM given_ops WHERE report_id IS NOT NULL ORDER BY report_id",
    )?;
    let rows = stmt.query_map([], |row| super::blob_uuid(&row.get::<_, Vec<u8>>(0)?))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The effect of one of this device's ops (`me`: the identity it was made
/// under) on a report, as a state to join; `None` for ops about other
/// entities.
pub fn effect_of(op: &Op, me: &Enrolment) -> Option<ReportState> {
    let OpBody::Report {
        report_id,
        op: report_op,
    } = &op.body
    else {
        return None;
    };
    let mut effect = ReportState::empty(*report_id);
    effect.apply(report_op, op.hlc, &me.user, me.device_id);
    Some(effect)
}

/// How many acknowledged ops are kept.
pub fn len(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row("SELECT count(*) FROM given_ops", [], |r| r.get::<_, i64>(0))? as u64)
}

/// Queues every kept op again, in the order they were acknowledged and
/// before the ops still waiting (a case step given back must reach the
/// server before the later steps that build on it). Each op keeps its id,
/// so the server counts the ones it holds as duplicates; each is moved onto
/// clock node `node`, the identity this home holds now (it may have been
/// enrolled again since). Returns how many were queued again.
pub fn requeue(tx: &Transaction, node: u64) -> Result<u64> {
    type Waiting = (Vec<u8>, Vec<u8>, Vec<u8>, Option<i64>);
    let waiting: Vec<Waiting> = {
        let mut stmt =
            tx.prepare("SELECT op_id, report_id, op, estimate_ms FROM outbox ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let queued: HashSet<&[u8]> = waiting.iter().map(|(id, ..)| id.as_slice()).collect();
    tx.execute("DELETE FROM outbox", [])?;
    let mut again = 0;
    {
        let mut stmt = tx.prepare("SELECT seq, op FROM given_ops ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let raw: Vec<u8> = row.get(1)?;
            let mut op: Op = codec::decode(&raw)
                .map_err(|e| ClientError::Protocol(format!("kept op {seq} is unreadable: {e}")))?;
            if queued.contains(uuid_blob(&op.op_id)) {
                continue;
            }
            op.hlc.node = node;
            // The server took it at this clock once: that is its time.
            let at = op.hlc.wall_ms;
            outbox::append(tx, &op, at)?;
            again += 1;
        }
    }
    let mut put = tx.prepare(
        "INSERT INTO outbox (op_id, report_id, op, estimate_ms) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (op_id, report_id, op, estimate_ms) in &waiting {
        put.execute(params![op_id, report_id, op, estimate_ms])?;
    }
    Ok(again)
}

#[cfg(test)]
mod tests {
    use gridwarden_protocol::{Hlc, OpBody, ReportOp};
    use uuid::Uuid;

    use super::*;
    use crate::store::Store;

    fn op(n: u128) -> Op {
        Op {
            op_id: Uuid::from_u128(n),
            hlc: Hlc::new(n as u64, 0, 7),
            body: OpBody::Report {
                report_id: Uuid::from_u128(1000 + n),
                op: ReportOp::Delete,
            },
        }
    }

    #[test]
    fn kept_ops_go_back_before_the_waiting_ones_once_each_on_the_current_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let tx = store.transaction().unwrap();
        keep(&tx, &op(1)).unwrap();
        keep(&tx, &op(2)).unwrap();
        keep(&tx, &op(2)).unwrap();
        // Acknowledged and still queued (another sync of this home raced):
        // it stays where it is, once.
        keep(&tx, &op(3)).unwrap();
        outbox::append(&tx, &op(3), 3).unwrap();
        outbox::append(&tx, &op(4), 4).unwrap();
        assert_eq!(requeue(&tx, 9).unwrap(), 2);
        tx.commit().unwrap();
        let ids: Vec<u128> = outbox::op_ids(store.conn())
            .unwrap()
            .iter()
            .map(|id| id.as_u128())
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        let all = outbox::all(store.conn()).unwrap();
        assert_eq!(all[0].hlc, Hlc::new(1, 0, 9), "moved onto this node");
        assert_eq!(all[3].hlc, Hlc::new(4, 0, 7), "waiting ops untouched");
        assert_eq!(len(store.conn()).unwrap(), 3);
    }
}
