-- Schema version 11: what the server keeps of a patrol's track as its points
-- arrive (distance, flags, the cells it sampled, counted piece by piece), so
-- listing patrols reads it instead of walking every track again. Written by
-- the push that adds points; NULL for a patrol whose points all arrived
-- before this version (summarised from its track, as before, when shown).
ALTER TABLE patrols ADD COLUMN digest BLOB;
