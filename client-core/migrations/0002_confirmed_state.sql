-- gridwarden client store, version 2.
-- `confirmed` is the state of a report the server is known to hold: pulled
-- states joined with this device's acknowledged ops. When the server refuses
-- an edit or delete, the visible `state` is rebuilt as `confirmed` joined with
-- the ops still queued, so a refused op leaves no trace on this device.
-- NULL: the server has confirmed nothing of this report yet.
ALTER TABLE reports ADD COLUMN confirmed BLOB;
