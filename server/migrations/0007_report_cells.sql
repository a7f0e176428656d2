-- Schema version 7: the cells each report has left, indexed by feed position.
--
-- A warden's pull used to walk the whole feed after its cursor and test each
-- report's cell and `left_cells` against the warden's cells: with a city's
-- fleet syncing, nearly all of the server's time went there. Now it merges
-- index ranges instead (server/src/store/sqlite/feed.rs): their own reports
-- (`reports_by_reporter`), the reports now in each of their cells
-- (`reports_by_cell`), and the reports that have left each of their cells,
-- which this table holds: one row per report and cell it left, at the
-- report's current feed position. Most reports never move and have no row,
-- so recording costs nothing more; `save_report` keeps the rows of a report
-- that moved at its new position in the same statement sequence that writes
-- it. (Triggers would keep it too, but any trigger on `reports` halved the
-- rate of plain inserts in the ingest baseline.)
--
-- Numbered 0005 because 0004 is taken by another change in flight; if that
-- change does not land first, this file is renumbered before merging.
CREATE TABLE report_left_cells (
    report BLOB NOT NULL REFERENCES reports(id),
    cell   TEXT NOT NULL,
    seq    INTEGER NOT NULL, -- reports.seq: the report's current feed position
    PRIMARY KEY (report, cell)
) WITHOUT ROWID;
CREATE INDEX report_left_cells_by_cell ON report_left_cells (cell, seq);

INSERT OR IGNORE INTO report_left_cells (report, cell, seq)
    SELECT r.id, l.value, r.seq FROM reports r, json_each(r.left_cells) l;
