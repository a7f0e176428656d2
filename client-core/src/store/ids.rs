//! Ids as people type them: every report or patrol id under a hex prefix,
//! and every id sorted (to work out the shortest prefix that names one).
//!
//! A prefix is a range of the 16-byte BLOB key (`low..=high`, the prefix
//! padded with 0s and with fs), so a lookup is an index range scan rather
//! than a `hex()` of every row.

use rusqlite::{params, Connection};
use uuid::Uuid;

use super::blob_uuid;
use crate::error::Result;

/// Which table an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// Reports (and so cases: a case is named by its report's id). Only
    /// rows with an observation count: the others are placeholders.
    Report,
    /// This device's patrols.
    Patrol,
}

impl IdKind {
    fn table(self) -> &'static str {
        match self {
            IdKind::Report => "reports WHERE observed_at_ms IS NOT NULL AND",
            IdKind::Patrol => "patrols WHERE",
        }
    }
}

/// The smallest and largest 16-byte ids starting with `hex` (1 to 32
/// lower- or upper-case hex digits; the caller has checked them).
fn bounds(hex: &str) -> ([u8; 16], [u8; 16]) {
    let pad = |fill: char| {
        let full: String = hex
            .chars()
            .chain(std::iter::repeat(fill))
            .take(32)
            .collect();
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&full[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
        bytes
    };
    (pad('0'), pad('f'))
}

/// How many ids start with `hex`, and the first `limit` of them.
pub fn with_prefix(
    conn: &Connection,
    kind: IdKind,
    hex: &str,
    limit: usize,
) -> Result<(u64, Vec<Uuid>)> {
    let (low, high) = bounds(hex);
    let table = kind.table();
    let count: i64 = conn.query_row(
        &format!("SELECT count(*) FROM {table} id BETWEEN ?1 AND ?2"),
        params![&low[..], &high[..]],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT id FROM {table} id BETWEEN ?1 AND ?2 ORDER BY id LIMIT ?3"
    ))?;
    let ids = stmt
        .query_map(params![&low[..], &high[..], limit as i64], |r| {
            blob_uuid(&r.get::<_, Vec<u8>>(0)?)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((count as u64, ids))
}

/// Every id of the kind, in order.
pub fn all(conn: &Connection, kind: IdKind) -> Result<Vec<Uuid>> {
    let table = kind.table();
    let mut stmt = conn.prepare(&format!("SELECT id FROM {table} 1 ORDER BY id"))?;
    let ids = stmt
        .query_map([], |r| blob_uuid(&r.get::<_, Vec<u8>>(0)?))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn a_prefix_bounds_the_ids_it_starts() {
        let (low, high) = bounds("01A2f");
        assert_eq!(&low[..3], &[0x01, 0xa2, 0xf0]);
        assert_eq!(&high[..3], &[0x01, 0xa2, 0xff]);
        assert!(low[3..].iter().all(|b| *b == 0) && high[3..].iter().all(|b| *b == 0xff));
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(bounds(id).0, bounds(id).1);
    }
}
