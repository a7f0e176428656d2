-- gridwarden client store, version 4: cases as the server last sent them.
-- The server is the only writer of a case; a device holds the longest
-- history it has seen (CaseState, postcard) and queues its own steps in the
-- outbox like any op.
CREATE TABLE cases (
    report_id   BLOB PRIMARY KEY,
    status      TEXT NOT NULL,
    deadline_ms INTEGER,
    state       BLOB NOT NULL
);
