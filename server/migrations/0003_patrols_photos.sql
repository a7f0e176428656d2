-- Schema version 3: patrols with their tracks, and which reports carry which
-- photos (the photo bytes live in the data directory's `photos/`, named by
-- their BLAKE3 hash).

CREATE TABLE patrols (
    id          BLOB PRIMARY KEY,
    warden      TEXT NOT NULL,
    device      BLOB NOT NULL,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER,
    note        TEXT NOT NULL,
    point_count INTEGER NOT NULL DEFAULT 0,
    updated_ms  INTEGER NOT NULL
);
CREATE INDEX patrols_by_start ON patrols (started_ms);
CREATE INDEX patrols_by_warden ON patrols (warden, started_ms);

-- A patrol's track: a grow-only set of points keyed by the device's running
-- number, so a batch sent twice inserts nothing the second time.
CREATE TABLE track_points (
    patrol     BLOB NOT NULL REFERENCES patrols(id),
    seq        INTEGER NOT NULL,
    time_ms    INTEGER,
    lon        REAL NOT NULL,
    lat        REAL NOT NULL,
    accuracy_m REAL,
    speed_mps  REAL,
    segment    INTEGER NOT NULL,
    PRIMARY KEY (patrol, seq)
) WITHOUT ROWID;

-- Reports made on a patrol.
ALTER TABLE reports ADD COLUMN patrol BLOB;
CREATE INDEX reports_by_patrol ON reports (patrol) WHERE patrol IS NOT NULL;

-- Photos each report refers to: who may fetch or upload a photo follows
-- from the reports that carry it.
CREATE TABLE report_photos (
    hash   BLOB NOT NULL,
    report BLOB NOT NULL REFERENCES reports(id),
    PRIMARY KEY (hash, report)
) WITHOUT ROWID;
