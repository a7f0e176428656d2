-- Schema version 13: a report's feed position is its rowid.
--
-- `reports` was a rowid table with `seq` in a UNIQUE index of its own: every
-- report written (a push writes thousands) updated four b-trees besides the
-- table, and a pull, which reads the feed in `seq` order, found each row
-- through that index and then the table. With `seq` as the INTEGER PRIMARY
-- KEY the table is stored in feed order, a pull reads it in place, and a
-- write updates one index fewer. A report's new feed position moves its row
-- (SQLite deletes and inserts it); every index already changed with `seq`.
--
-- The rebuild runs inside the migration's transaction with foreign keys on
-- (the pragma cannot change in a transaction): the rows that refer to a
-- report are set aside and put back once the new table holds their reports,
-- so no constraint is broken at any point.

CREATE TEMP TABLE report_photos_kept AS SELECT hash, report FROM report_photos;
CREATE TEMP TABLE report_left_cells_kept AS SELECT report, cell, seq FROM report_left_cells;
DELETE FROM report_photos;
DELETE FROM report_left_cells;

CREATE TABLE reports_in_feed_order (
    id             BLOB NOT NULL UNIQUE,
    seq            INTEGER PRIMARY KEY, -- the feed position; the rowid
    reporter       TEXT NOT NULL,
    device         BLOB NOT NULL,
    category       TEXT,
    grid_cell      TEXT,
    assigned       INTEGER NOT NULL DEFAULT 0, -- 1 once the server looked for a cell
    deleted        INTEGER NOT NULL DEFAULT 0,
    observed_at_ms INTEGER,
    updated_ms     INTEGER NOT NULL,
    state          BLOB NOT NULL, -- ReportState, protocol codec
    left_cells     TEXT NOT NULL DEFAULT '[]',
    patrol         BLOB
);
INSERT INTO reports_in_feed_order
    (id, seq, reporter, device, category, grid_cell, assigned, deleted, observed_at_ms,
     updated_ms, state, left_cells, patrol)
SELECT id, seq, reporter, device, category, grid_cell, assigned, deleted, observed_at_ms,
       updated_ms, state, left_cells, patrol
FROM reports ORDER BY seq;
DROP TABLE reports;
ALTER TABLE reports_in_feed_order RENAME TO reports;
CREATE INDEX reports_by_cell ON reports (grid_cell, seq);
CREATE INDEX reports_by_reporter ON reports (reporter, seq);
CREATE INDEX reports_by_patrol ON reports (patrol) WHERE patrol IS NOT NULL;

INSERT INTO report_photos (hash, report) SELECT hash, report FROM report_photos_kept;
INSERT INTO report_left_cells (report, cell, seq) SELECT report, cell, seq FROM report_left_cells_kept;
DROP TABLE report_photos_kept;
DROP TABLE report_left_cells_kept;
