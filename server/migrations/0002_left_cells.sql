-- Schema version 2: the cells a report has left.
-- When a report moves to another grid cell, devices scoped to the old cell
-- must learn that it left them; the pull sends them an out-of-scope record
-- for any report whose `left_cells` meets their cells. A JSON array of codes.
ALTER TABLE reports ADD COLUMN left_cells TEXT NOT NULL DEFAULT '[]';
