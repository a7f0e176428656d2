//! Grid layers by cell (migration 0010): content by hash, versions as
//! lists of members.

use gridwarden_protocol::codec;
use gridwarden_protocol::grid::{GridCellWire, GridLayerWire};
use rusqlite::{params, Connection, OptionalExtension};

use crate::grid::{stored_cell, GridMember, StoredCell};
use crate::store::{Clash, StoreError, StoreResult};

pub(super) fn put_cells(tx: &Connection, cells: &[StoredCell]) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO grid_cell_data (hash, cell, shapes) VALUES (?1, ?2, ?3)",
    )?;
    for c in cells {
        stmt.execute(params![&c.member.hash[..], c.wire, c.shapes])?;
    }
    Ok(())
}

/// The listed hashes are read once (no index by hash: a layer's cells are
/// looked up by version and code), then each unlisted one of `hashes` goes.
pub(super) fn forget_unlisted(tx: &Connection, hashes: &[[u8; 32]]) -> StoreResult<u64> {
    let listed: std::collections::HashSet<Vec<u8>> = tx
        .prepare("SELECT DISTINCT hash FROM grid_layer_cells")?
        .query_map([], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<_, _>>()?;
    let mut delete = tx.prepare_cached("DELETE FROM grid_cell_data WHERE hash = ?1")?;
    let mut removed = 0;
    for hash in hashes {
        if !listed.contains(hash.as_slice()) {
            removed += delete.execute([&hash[..]])? as u64;
        }
    }
    Ok(removed)
}

pub(super) fn commit_layer(
    tx: &Connection,
    name: &str,
    members: &[GridMember],
    now_ms: i64,
) -> StoreResult<u64> {
    let version: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM grid_layers",
        [],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO grid_layers (version, name, imported_ms, cell_count, layer) VALUES (?1, ?2, ?3, ?4, X'')",
        params![version, name, now_ms, members.len() as i64],
    )?;
    insert_members(tx, version, members)?;
    Ok(version as u64)
}

fn insert_members(tx: &Connection, version: i64, members: &[GridMember]) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO grid_layer_cells (version, code, hash, min_lon, min_lat, max_lon, max_lat)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for m in members {
        let [x0, y0, x1, y1] = m.bbox;
        stmt.execute(params![version, m.code, &m.hash[..], x0, y0, x1, y1])
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Conflict(Clash::GridCode(m.code.clone()))
                }
                e => e.into(),
            })?;
    }
    Ok(())
}

pub(super) fn members(c: &Connection, version: u64) -> StoreResult<Vec<GridMember>> {
    let mut stmt = c.prepare_cached(
        "SELECT code, hash, min_lon, min_lat, max_lon, max_lat FROM grid_layer_cells
         WHERE version = ?1 ORDER BY code",
    )?;
    let rows = stmt.query_map([version as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
        ))
    })?;
    rows.map(|row| {
        let (code, hash, bbox) = row?;
        let hash = hash
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("grid cell {code}: bad hash")))?;
        Ok(GridMember { code, hash, bbox })
    })
    .collect()
}

pub(super) fn cell_data(
    c: &Connection,
    version: u64,
    codes: &[String],
    shapes: bool,
) -> StoreResult<Vec<(String, Vec<u8>)>> {
    let sql = if shapes {
        "SELECT d.shapes FROM grid_layer_cells m JOIN grid_cell_data d ON d.hash = m.hash
         WHERE m.version = ?1 AND m.code = ?2"
    } else {
        "SELECT d.cell FROM grid_layer_cells m JOIN grid_cell_data d ON d.hash = m.hash
         WHERE m.version = ?1 AND m.code = ?2"
    };
    let mut stmt = c.prepare_cached(sql)?;
    let mut out = Vec::with_capacity(codes.len());
    for code in codes {
        let data: Option<Vec<u8>> = stmt
            .query_row(params![version as i64, code], |r| r.get(0))
            .optional()?;
        if let Some(data) = data {
            out.push((code.clone(), data));
        }
    }
    Ok(out)
}

pub(super) fn current_layer(c: &Connection) -> StoreResult<Option<GridLayerWire>> {
    let row: Option<(i64, String)> = c
        .query_row(
            "SELECT version, name FROM grid_layers ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((version, name)) = row else {
        return Ok(None);
    };
    let mut stmt = c.prepare_cached(
        "SELECT d.cell FROM grid_layer_cells m JOIN grid_cell_data d ON d.hash = m.hash
         WHERE m.version = ?1 ORDER BY m.code",
    )?;
    let cells = stmt
        .query_map([version], |r| r.get::<_, Vec<u8>>(0))?
        .map(|bytes| {
            codec::decode::<GridCellWire>(&bytes?)
                .map_err(|e| StoreError::Corrupt(format!("grid cell of layer {version}: {e}")))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(GridLayerWire {
        version: version as u64,
        name,
        cells,
    }))
}

/// Converts layers stored whole (before migration 0010) to rows by cell,
/// once, after migration 0010's SQL and in its transaction. A layer that does
/// not decode stops the migration (`StoreError::Corrupt` as the user error).
pub(super) fn convert_whole_layers(
    tx: &rusqlite::Transaction<'_>,
) -> Result<(), gridwarden_sql::BoxError> {
    Ok(convert_layers(tx)?)
}

fn convert_layers(tx: &Connection) -> StoreResult<()> {
    let whole: Vec<(i64, Vec<u8>)> = tx
        .prepare("SELECT version, layer FROM grid_layers WHERE length(layer) > 0 ORDER BY version")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (version, blob) in whole {
        let layer: GridLayerWire = codec::decode(&blob)
            .map_err(|e| StoreError::Corrupt(format!("grid layer {version}: {e}")))?;
        let cells = gridwarden_grid::from_wire(&layer)
            .map_err(|e| StoreError::Corrupt(format!("grid layer {version}: {e}")))?;
        let stored: Vec<StoredCell> = cells.iter().map(stored_cell).collect();
        put_cells(tx, &stored)?;
        let members: Vec<GridMember> = stored.into_iter().map(|s| s.member).collect();
        insert_members(tx, version, &members)?;
        tx.execute(
            "UPDATE grid_layers SET layer = X'', cell_count = ?2 WHERE version = ?1",
            params![version, members.len() as i64],
        )?;
    }
    Ok(())
}
