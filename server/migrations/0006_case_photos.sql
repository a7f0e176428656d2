-- Schema version 6: photos taken at case steps (a department's disposal,
-- the field's verification). Who took each one may upload it; whoever may
-- see the report may fetch it.
CREATE TABLE case_photos (
    hash      BLOB NOT NULL,
    report_id BLOB NOT NULL,
    taken_by  TEXT NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (hash, report_id, taken_by)
) WITHOUT ROWID;
