//! Steps of the store's forward migrations that SQL cannot do: report
//! states, kept in the wire's encoding, re-encoded when a protocol version
//! changes their shape. Each runs in the migration's transaction.

use gridwarden_protocol::{codec, v2};
use gridwarden_sql::BoxError;
use rusqlite::{params, Transaction};

/// Rows re-encoded per statement, so a city's reports never sit in memory
/// at once.
const BATCH: i64 = 1_000;

/// Migration 0011: report states from protocol 2's shapes (every release
/// before 0.2.0) to protocol 3's.
pub(super) fn protocol_3(tx: &Transaction) -> Result<(), BoxError> {
    let mut after = 0i64;
    let mut read =
        tx.prepare("SELECT rowid, state FROM reports WHERE rowid > ?1 ORDER BY rowid LIMIT ?2")?;
    let mut put = tx.prepare("UPDATE reports SET state = ?1 WHERE rowid = ?2")?;
    loop {
        let rows: Vec<(i64, Vec<u8>)> = read
            .query_map(params![after, BATCH], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let Some(&(last, _)) = rows.last() else {
            return Ok(());
        };
        for (rowid, blob) in rows {
            let state = v2::stored_report_state(&blob).map_err(|e| {
                format!(
                    "a report state cannot be read as protocol 2 while upgrading the database: {e}"
                )
            })?;
            put.execute(params![codec::encode(&state), rowid])?;
        }
        after = last;
    }
}
