-- gridwarden client store, version 12: an ack writes one small row per op.
--
-- An acknowledged op of a report used to be joined into the report's
-- `confirmed` state at once, rewriting the report row (both blobs and its
-- indexes) for every op of a push. Now the kept op names its report here
-- until it is folded in: what the server is known to hold of a report is
-- `reports.confirmed` joined with the effects of its ops named here, read
-- when it is needed (a refusal's roll-back, a pulled change) and folded
-- into the row when the row is written anyway. NULL: folded, or not an op
-- of a report (every op kept before this version was folded at its ack).
ALTER TABLE given_ops ADD COLUMN report_id BLOB;
CREATE INDEX given_unfolded ON given_ops (report_id) WHERE report_id IS NOT NULL;
