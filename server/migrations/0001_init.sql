-- Schema version 1 of the server store. Applied when PRAGMA user_version = 0.

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('warden', 'liaison', 'supervisor', 'admin')),
    created_ms  INTEGER NOT NULL,
    disabled_ms INTEGER
);

-- Grid cells a user covers (their scope for pulls).
CREATE TABLE user_cells (
    user TEXT NOT NULL REFERENCES users(name),
    cell TEXT NOT NULL,
    PRIMARY KEY (user, cell)
) WITHOUT ROWID;

-- One-time enrolment codes; only the BLAKE3 hash of the secret is kept.
CREATE TABLE enrolments (
    secret_hash BLOB PRIMARY KEY,
    user        TEXT NOT NULL REFERENCES users(name),
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    used_ms     INTEGER,
    device_id   BLOB
);

-- Enrolled devices; only the BLAKE3 hash of the 256-bit token is kept.
CREATE TABLE devices (
    id           BLOB PRIMARY KEY,
    user         TEXT NOT NULL REFERENCES users(name),
    label        TEXT NOT NULL,
    token_hash   BLOB NOT NULL,
    enrolled_ms  INTEGER NOT NULL,
    revoked_ms   INTEGER,
    last_seen_ms INTEGER
);

-- Every imported grid layer; the highest version is current.
CREATE TABLE grid_layers (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    imported_ms INTEGER NOT NULL,
    cell_count  INTEGER NOT NULL,
    layer       BLOB NOT NULL -- GridLayerWire, protocol codec
);

CREATE TABLE category_tables (
    version     INTEGER PRIMARY KEY,
    imported_ms INTEGER NOT NULL,
    body        TEXT NOT NULL -- CategoryTable as JSON
);

-- Merged state of every report. `seq` orders the change feed: every write
-- takes the next value, so a pull cursor is the last seq a device applied.
CREATE TABLE reports (
    id             BLOB PRIMARY KEY,
    seq            INTEGER NOT NULL UNIQUE,
    reporter       TEXT NOT NULL,
    device         BLOB NOT NULL,
    category       TEXT,
    grid_cell      TEXT,
    assigned       INTEGER NOT NULL DEFAULT 0, -- 1 once the server looked for a cell
    deleted        INTEGER NOT NULL DEFAULT 0,
    observed_at_ms INTEGER,
    updated_ms     INTEGER NOT NULL,
    state          BLOB NOT NULL -- ReportState, protocol codec
);
CREATE INDEX reports_by_cell ON reports (grid_cell, seq);
CREATE INDEX reports_by_reporter ON reports (reporter, seq);

-- Op ids already applied: what makes a repeated push harmless.
CREATE TABLE applied_ops (
    op_id      BLOB PRIMARY KEY,
    device     BLOB NOT NULL,
    applied_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
