-- Schema version 5: the change feed indexed by grid cell.
--
-- A warden's pull used to walk the whole feed after its cursor and test each
-- report's cell and `left_cells` against the warden's cells: with a city's
-- fleet syncing, nearly all of the server's time went there. This table holds
-- one row per (cell, feed position) for every cell a report is in or has left,
-- so a scoped pull reads only its own cells' ranges of the feed, merged by seq
-- (server/src/store/sqlite/feed.rs).
--
-- Numbered 0005 because 0004 is taken by another change in flight; if that
-- change does not land first, this file is renumbered before merging.
CREATE TABLE report_cells (
    cell TEXT NOT NULL,
    seq  INTEGER NOT NULL, -- reports.seq: the report's current feed position
    PRIMARY KEY (cell, seq)
) WITHOUT ROWID;

INSERT OR IGNORE INTO report_cells (cell, seq)
    SELECT grid_cell, seq FROM reports WHERE grid_cell IS NOT NULL;
INSERT OR IGNORE INTO report_cells (cell, seq)
    SELECT l.value, r.seq FROM reports r, json_each(r.left_cells) l;

-- Kept by triggers so every statement that writes a report (push, reassign,
-- any later one) keeps the index in its own transaction and none can forget.
CREATE TRIGGER report_cells_insert AFTER INSERT ON reports BEGIN
    INSERT OR IGNORE INTO report_cells (cell, seq)
        SELECT NEW.grid_cell, NEW.seq WHERE NEW.grid_cell IS NOT NULL
        UNION ALL
        SELECT value, NEW.seq FROM json_each(NEW.left_cells);
END;

-- A rewritten report moves to a new feed position: its old rows go, so the
-- index holds exactly one position per report and cell.
CREATE TRIGGER report_cells_update AFTER UPDATE OF seq, grid_cell, left_cells ON reports BEGIN
    DELETE FROM report_cells WHERE seq = OLD.seq AND cell IN (
        SELECT OLD.grid_cell
        UNION ALL
        SELECT value FROM json_each(OLD.left_cells));
    INSERT OR IGNORE INTO report_cells (cell, seq)
        SELECT NEW.grid_cell, NEW.seq WHERE NEW.grid_cell IS NOT NULL
        UNION ALL
        SELECT value, NEW.seq FROM json_each(NEW.left_cells);
END;

CREATE TRIGGER report_cells_delete AFTER DELETE ON reports BEGIN
    DELETE FROM report_cells WHERE seq = OLD.seq AND cell IN (
        SELECT OLD.grid_cell
        UNION ALL
        SELECT value FROM json_each(OLD.left_cells));
END;
