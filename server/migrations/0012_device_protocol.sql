-- The protocol version (and the app's name and version, from Hello) each
-- device last spoke, so IT can see when the previous version can be dropped
-- (docs/protocol.md, "Versions"). NULL: not seen since this migration.
ALTER TABLE devices ADD COLUMN protocol_version INTEGER;
ALTER TABLE devices ADD COLUMN client TEXT;
