-- Schema version 4: the audit log and the revocation epoch.
--
-- Every admin action, enrolment and revocation (and, with the case workflow,
-- every case transition) is appended here with who did it, when and from
-- which device. Rows are never changed or removed: the triggers refuse it,
-- so a bug or a careless script cannot rewrite history through this store.
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,   -- a user name, or `cli:OSUSER@HOST` for an admin command
    device  BLOB,            -- the device the action came from, if any
    action  TEXT NOT NULL,   -- dotted name: `device.revoke`, `user.disable`, …
    subject TEXT NOT NULL,   -- what it acted on: a device id, a user name, a layer
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_time ON audit_log (at_ms);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
