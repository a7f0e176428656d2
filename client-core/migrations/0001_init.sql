-- gridwarden client store, version 1.
-- Applied once, in one transaction, when PRAGMA user_version is below 1.

-- Small facts about this device: enrolment, sync position, clock.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- One row per report this device knows, recorded here or pulled.
-- `state` is the merged ReportState (postcard, protocol::codec) and is the
-- truth; the other columns are copies of it for listing without decoding.
CREATE TABLE reports (
    id             BLOB PRIMARY KEY,
    state          BLOB NOT NULL,
    category       TEXT,
    note           TEXT,
    lon            REAL,
    lat            REAL,
    observed_at_ms INTEGER,          -- NULL until the create op is known
    reporter       TEXT,
    grid_cell      TEXT,             -- assigned by the server
    local_cell     TEXT,             -- this device's offline guess
    deleted        INTEGER NOT NULL DEFAULT 0,
    local_seq      INTEGER NOT NULL  -- grows with every local change
);

CREATE INDEX reports_listing ON reports (deleted, observed_at_ms DESC);
CREATE INDEX reports_local_seq ON reports (local_seq);

-- Ops waiting for the server's acknowledgement, sent in `seq` order.
CREATE TABLE outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id     BLOB NOT NULL UNIQUE,
    report_id BLOB NOT NULL,
    op        BLOB NOT NULL          -- protocol Op, postcard
);

CREATE INDEX outbox_report ON outbox (report_id);

-- Ops the server refused, with its reason, for the user to see.
CREATE TABLE rejections (
    op_id     BLOB PRIMARY KEY,
    report_id BLOB NOT NULL,
    code      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    at_ms     INTEGER NOT NULL
);

CREATE INDEX rejections_report ON rejections (report_id, at_ms);

-- Reference data cached for offline use: 'categories' (CategoryTable) and
-- 'grid' (GridLayerWire), both postcard.
CREATE TABLE reference (
    kind    TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    data    BLOB NOT NULL
) WITHOUT ROWID;
