-- gridwarden client store, version 5: edits of this device's user that
-- another user's edit replaced, kept so the user is told (sync summary,
-- the report's page) instead of seeing their change silently undone.
CREATE TABLE overwrites (
    report_id     BLOB NOT NULL,
    field         TEXT NOT NULL,
    -- The clock of the edit that lost (postcard Hlc): one notice per edit.
    lost_hlc      BLOB NOT NULL,
    mine          TEXT NOT NULL,
    winner        TEXT NOT NULL,
    winner_by     TEXT,
    lost_at_ms    INTEGER NOT NULL,
    winner_at_ms  INTEGER NOT NULL,
    at_ms         INTEGER NOT NULL,
    PRIMARY KEY (report_id, field, lost_hlc)
);
CREATE INDEX overwrites_by_time ON overwrites (at_ms);
