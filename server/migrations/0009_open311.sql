-- Schema version 9: Open311 GeoReport v2 intake (docs/open311.md).
--
-- An API key is a random 256-bit secret of which only the BLAKE3 hash is
-- kept, like a device token (docs/adr/0016-hotline-source-and-api-keys.md).
CREATE TABLE api_keys (
    name       TEXT PRIMARY KEY,
    key_hash   BLOB NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);

-- What a hotline's request carries beyond the report it became: its public
-- token, the client's own id for it (idempotence), the subclass it was filed
-- under, and the fields the report has no place for. Contact fields are
-- kept for the city's staff and never served by the public reads.
CREATE TABLE open311_requests (
    report_id    BLOB PRIMARY KEY,
    token        TEXT NOT NULL UNIQUE,
    client       TEXT NOT NULL,
    external_id  TEXT,
    service_code TEXT NOT NULL,
    description  TEXT NOT NULL, -- whole; the report's note holds what fits
    requested_ms INTEGER NOT NULL,
    media_url    TEXT,
    attributes   TEXT NOT NULL, -- JSON [[code, value], …]
    contact      TEXT NOT NULL, -- JSON [[field, value], …]
    UNIQUE (client, external_id)
);
CREATE INDEX open311_requests_by_time ON open311_requests (requested_ms);

-- Citizens' ratings of closed requests (the public evaluation extension).
CREATE TABLE open311_feedback (
    report_id BLOB PRIMARY KEY REFERENCES open311_requests(report_id),
    rating    INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment   TEXT NOT NULL,
    at_ms     INTEGER NOT NULL
);
