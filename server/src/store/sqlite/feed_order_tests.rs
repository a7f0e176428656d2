//! Migration 0013 (`reports` rebuilt with `seq` as its rowid) on a database
//! exactly as schema version 12 left it: nothing lost, nothing loosened.

use rusqlite::types::FromSql;
use rusqlite::{params, Connection, Row};

type ReportRow = (Vec<u8>, i64, String, Option<String>, Vec<u8>, String);

/// Every row `sql` selects, each read by `row`.
fn all<T>(
    conn: &Connection,
    sql: &str,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], row).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn reports(conn: &Connection) -> Vec<ReportRow> {
    let sql = "SELECT id, seq, reporter, grid_cell, state, left_cells FROM reports ORDER BY seq";
    all(conn, sql, |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
}

fn pairs<A: FromSql, B: FromSql>(conn: &Connection, sql: &str) -> Vec<(A, B)> {
    all(conn, sql, |r| Ok((r.get(0)?, r.get(1)?)))
}

#[test]
fn reports_move_into_feed_order_with_their_photos_and_left_cells() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    gridwarden_sql::migrate(&mut conn, &super::MIGRATIONS[..12]).unwrap();
    // Stored out of feed order (ids and rowids do not follow seq), one with
    // a photo and one that left a cell.
    for (id, seq, left) in [(3u8, 5i64, "[]"), (1, 2, "[]"), (2, 9, r#"["C0"]"#)] {
        conn.execute(
            "INSERT INTO reports (id, seq, reporter, device, grid_cell, updated_ms, state, left_cells)
             VALUES (?1, ?2, 'ann', ?3, 'C1', 1, ?4, ?5)",
            params![[id; 16], seq, [9u8; 16], vec![id; 3], left],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO report_photos (hash, report) VALUES (?1, ?2)",
        params![[7u8; 32], [3u8; 16]],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO report_left_cells (report, cell, seq) VALUES (?1, 'C0', 9)",
        params![[2u8; 16]],
    )
    .unwrap();
    let before = reports(&conn);
    drop(conn);

    drop(super::SqliteStore::open(&path).unwrap());

    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    assert_eq!(gridwarden_sql::version(&conn).unwrap(), 13);
    assert_eq!(reports(&conn), before);
    let rowids: Vec<(i64, i64)> = pairs(&conn, "SELECT rowid, seq FROM reports ORDER BY rowid");
    assert_eq!(rowids, [(2, 2), (5, 5), (9, 9)]);
    assert_eq!(
        pairs::<Vec<u8>, Vec<u8>>(&conn, "SELECT hash, report FROM report_photos"),
        [(vec![7u8; 32], vec![3u8; 16])]
    );
    assert_eq!(
        pairs::<Vec<u8>, String>(&conn, "SELECT report, cell FROM report_left_cells"),
        [(vec![2u8; 16], "C0".to_owned())]
    );
    let broken: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    // The constraints came along: a second report with the same id, or a
    // photo of a report that does not exist, is still refused.
    assert!(conn
        .execute(
            "INSERT INTO reports (id, seq, reporter, device, updated_ms, state)
             VALUES (?1, 10, 'ann', ?2, 1, x'00')",
            params![[1u8; 16], [9u8; 16]],
        )
        .is_err());
    assert!(conn
        .execute(
            "INSERT INTO report_photos (hash, report) VALUES (?1, ?2)",
            params![[8u8; 32], [4u8; 16]],
        )
        .is_err());
}
