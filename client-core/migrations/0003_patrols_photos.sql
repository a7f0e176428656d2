-- gridwarden client store, version 3: patrols with their tracks, and photos.

-- Patrols recorded on this device. `last_kept` and `last_raw` (TrackPoint,
-- postcard) let thinning continue across app restarts: the next point is
-- compared with the last one kept, and the last point offered is kept at
-- the stop so the track ends where the warden stopped.
CREATE TABLE patrols (
    id          BLOB PRIMARY KEY,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER,
    note        TEXT NOT NULL,
    next_seq    INTEGER NOT NULL DEFAULT 0,
    offered     INTEGER NOT NULL DEFAULT 0, -- points offered before thinning
    last_kept   BLOB,
    last_raw    BLOB
);

-- Kept (thinned) track points. `sealed` = 1 once the point is in an outbox
-- op: points are batched into ops at the next sync or stop, not one op each.
CREATE TABLE track_points (
    patrol     BLOB NOT NULL REFERENCES patrols(id),
    seq        INTEGER NOT NULL,
    time_ms    INTEGER,
    lon        REAL NOT NULL,
    lat        REAL NOT NULL,
    accuracy_m REAL,
    speed_mps  REAL,
    segment    INTEGER NOT NULL,
    sealed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (patrol, seq)
) WITHOUT ROWID;
CREATE INDEX track_points_unsealed ON track_points (sealed) WHERE sealed = 0;

-- Photos whose bytes are in HOME/photos (named by BLAKE3 hash).
-- state: 'queued'    attached here, the attach op not yet acknowledged;
--        'ready'     the server knows a report refers to it: upload it;
--        'uploaded'  the server holds it whole;
--        'refused'   the server refused it (`reason` says why);
--        'fetched'   downloaded from the server for viewing.
CREATE TABLE photos (
    hash     BLOB PRIMARY KEY,
    size     INTEGER NOT NULL,
    mime     TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('queued', 'ready', 'uploaded', 'refused', 'fetched')),
    reason   TEXT,
    added_ms INTEGER NOT NULL
) WITHOUT ROWID;
