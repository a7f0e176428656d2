//! Steps of the store's forward migrations that SQL cannot do: values the
//! store keeps in the wire's encoding (report states, outbox ops) re-encoded
//! when a protocol version changes their shape. Each runs in the transaction
//! of its numbered migration.

use gridwarden_protocol::{codec, v2};
use rusqlite::{params, Transaction};

use crate::error::{ClientError, Result};

/// Migration 0007: report states (local and confirmed) and outbox ops from
/// protocol 2's shapes to protocol 3's.
pub(super) fn protocol_3(tx: &Transaction) -> Result<()> {
    let unreadable = |what: &str, e: gridwarden_protocol::ProtocolError| {
        ClientError::Protocol(format!(
            "a stored {what} cannot be read as protocol 2 while upgrading the database: {e}"
        ))
    };
    let states: Vec<(Vec<u8>, Vec<u8>, Option<Vec<u8>>)> = tx
        .prepare("SELECT id, state, confirmed FROM reports")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut put = tx.prepare("UPDATE reports SET state = ?1, confirmed = ?2 WHERE id = ?3")?;
    for (id, state, confirmed) in states {
        let state = v2::stored_report_state(&state).map_err(|e| unreadable("report", e))?;
        let confirmed = confirmed
            .map(|c| v2::stored_report_state(&c).map(|s| codec::encode(&s)))
            .transpose()
            .map_err(|e| unreadable("report", e))?;
        put.execute(params![codec::encode(&state), confirmed, id])?;
    }
    let ops: Vec<(i64, Vec<u8>)> = tx
        .prepare("SELECT rowid, op FROM outbox")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut put = tx.prepare("UPDATE outbox SET op = ?1 WHERE rowid = ?2")?;
    for (rowid, op) in ops {
        let op = v2::stored_op(&op).map_err(|e| unreadable("outbox op", e))?;
        put.execute(params![codec::encode(&op), rowid])?;
    }
    Ok(())
}
