//! Steps of the store's forward migrations that SQL cannot do: values the
//! store keeps in the wire's encoding (report states, outbox ops) re-encoded
//! when a protocol version changes their shape. Each runs in the transaction
//! of its numbered migration.

use gridwarden_protocol::{codec, v2};
use rusqlite::{params, Transaction};

use gridwarden_sql::BoxError;

/// A report's id, local state and confirmed state, as stored.
type StoredStates = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// Migration 0007: report states (local and confirmed) and outbox ops from
/// protocol 2's shapes to protocol 3's.
pub(super) fn protocol_3(tx: &Transaction) -> Result<(), BoxError> {
    let unreadable = |what: &str, e: gridwarden_protocol::ProtocolError| -> BoxError {
        format!("a stored {what} cannot be read as protocol 2 while upgrading the database: {e}")
            .into()
    };
    let states: Vec<StoredStates> = tx
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

#[cfg(test)]
mod tests {
    use gridwarden_protocol::{codec, v2, Op, ReportState};
    use rusqlite::params;

    use crate::testutil::{enrolled_client, new_report};
    use crate::Client;

    /// A home as a release speaking protocol 2 left it: schema 6, states
    /// and outbox ops in protocol 2's shapes.
    fn downgrade(home: &std::path::Path) {
        let conn = rusqlite::Connection::open(home.join(crate::store::DB_FILE)).unwrap();
        let states: Vec<super::StoredStates> = conn
            .prepare("SELECT id, state, confirmed FROM reports")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let old = |b: &[u8]| {
            v2::encode_stored_report_state(&codec::decode::<ReportState>(b).unwrap()).unwrap()
        };
        for (id, state, confirmed) in states {
            conn.execute(
                "UPDATE reports SET state = ?1, confirmed = ?2 WHERE id = ?3",
                params![old(&state), confirmed.as_deref().map(old), id],
            )
            .unwrap();
        }
        let ops: Vec<(i64, Vec<u8>)> = conn
            .prepare("SELECT seq, op FROM outbox")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!ops.is_empty());
        for (seq, op) in ops {
            let op = v2::encode_stored_op(&codec::decode::<Op>(&op).unwrap()).unwrap();
            conn.execute("UPDATE outbox SET op = ?1 WHERE seq = ?2", params![op, seq])
                .unwrap();
        }
        // Tables of later versions go too: a version-6 home had none.
        conn.execute("DROP TABLE given_ops", []).unwrap();
        conn.execute("ALTER TABLE outbox DROP COLUMN estimate_ms", [])
            .unwrap();
        conn.execute("ALTER TABLE rejections DROP COLUMN shown_ms", [])
            .unwrap();
        conn.execute("DROP INDEX photos_droppable", []).unwrap();
        for column in ["full", "thumb_bytes", "kept_ms"] {
            conn.execute(&format!("ALTER TABLE photos DROP COLUMN {column}"), [])
                .unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
    }

    #[test]
    fn a_home_written_in_protocol_2s_shapes_reads_the_same_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let client = enrolled_client(dir.path());
        let id = client
            .record_report(new_report("0101", 111.605, 40.805))
            .unwrap();
        let shown = client.show_report(id).unwrap();
        let outbox = client.status().unwrap().outbox;
        drop(client);
        downgrade(dir.path());
        let client = Client::open(dir.path()).unwrap();
        assert_eq!(client.show_report(id).unwrap(), shown);
        assert_eq!(client.status().unwrap().outbox, outbox);
        // The outbox op reads as the current shape again.
        let pending = crate::store::outbox::all(client.lock_store().conn()).unwrap();
        assert_eq!(pending.len() as u64, outbox);
    }
}
