-- Grid layers by cell (ADR 0013): each cell's content stored once by hash,
-- each version a list of codes with their hash and bounding box. Versions
-- imported before this keep their whole-layer blob in grid_layers.layer
-- until the store converts them on open; new versions leave it empty.
CREATE TABLE grid_cell_data (
    hash   BLOB PRIMARY KEY,   -- BLAKE3 of the cell's derivation and wire form
    cell   BLOB NOT NULL,      -- GridCellWire, protocol codec
    shapes BLOB NOT NULL       -- Vec<CellShape>, one per display level
) WITHOUT ROWID;

CREATE TABLE grid_layer_cells (
    version INTEGER NOT NULL REFERENCES grid_layers(version),
    code    TEXT NOT NULL,
    hash    BLOB NOT NULL REFERENCES grid_cell_data(hash),
    min_lon REAL NOT NULL,
    min_lat REAL NOT NULL,
    max_lon REAL NOT NULL,
    max_lat REAL NOT NULL,
    PRIMARY KEY (version, code)
) WITHOUT ROWID;
