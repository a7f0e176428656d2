-- The grid cells this device holds (ADR 0013): its user's cells and their
-- neighbours in full geometry, or the whole city as display shapes, kept in
-- step with the server's layer by pages and per-version deltas.
CREATE TABLE grid_cells (
    code   TEXT PRIMARY KEY,
    detail INTEGER NOT NULL,   -- 0: GridCellWire (full), 1: CellShape (display)
    data   BLOB NOT NULL       -- postcard
) WITHOUT ROWID;

-- One row: what the device holds and the download under way (GridState,
-- postcard). `revision` changes with every change to grid_cells, so the
-- in-memory index knows when to rebuild.
CREATE TABLE grid_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    state    BLOB NOT NULL
);

-- The whole-layer cache of earlier versions is replaced by grid_cells; the
-- next sync downloads the device's cells.
DELETE FROM reference WHERE kind = 'grid';
