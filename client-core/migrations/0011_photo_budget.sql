-- gridwarden client store, version 11: the storage budget for photos (ADR 0031).
-- full:        1 while the whole file is in HOME/photos; 0 once it was dropped
--              under the budget (the server holds it; fetched again on demand)
--              or removed as too large for the server.
-- thumb_bytes: the size of the thumbnail in HOME/thumbs; NULL while none was
--              tried, 0 when none can be made (not a decodable image).
-- kept_ms:     when the full file became droppable (the server acknowledged
--              it, or it was fetched back): the oldest is dropped first.
ALTER TABLE photos ADD COLUMN full INTEGER NOT NULL DEFAULT 1;
ALTER TABLE photos ADD COLUMN thumb_bytes INTEGER;
ALTER TABLE photos ADD COLUMN kept_ms INTEGER;
UPDATE photos SET kept_ms = added_ms WHERE state IN ('uploaded', 'fetched');
CREATE INDEX photos_droppable ON photos (kept_ms) WHERE full = 1 AND state IN ('uploaded', 'fetched');
