-- Schema version 8: the supervisor console's sign-in (docs/console-api.md).
--
-- A password is kept only as its argon2 hash (PHC string). Sign-in links and
-- session cookies are random 256-bit tokens of which only the BLAKE3 hash is
-- kept, like device tokens: a copy of the database signs nobody in.
ALTER TABLE users ADD COLUMN password_hash TEXT;

-- One-time sign-in links printed by `gridwarden-server console link`.
CREATE TABLE console_links (
    token_hash BLOB PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users(name),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms    INTEGER
);

-- Open console sessions. `device` is the user's console device (a device row
-- labelled as such): case steps taken in the console are ops of that device,
-- decided by the same rules as a phone's.
CREATE TABLE console_sessions (
    token_hash BLOB PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users(name),
    csrf       TEXT NOT NULL,
    device     BLOB NOT NULL REFERENCES devices(id),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX console_sessions_by_user ON console_sessions (user);
