-- The PostgreSQL schema: the SQLite schema after its migration 0012, in
-- SQL that also runs on CockroachDB and YugabyteDB (no sequences as
-- ordering keys, no triggers; see docs/scale.md). Blobs are bytea, times
-- are milliseconds since the epoch in bigint.

-- Counters taken inside write transactions: the feed position and the
-- audit log's numbering. A transaction holds the row it bumped until it
-- commits, so numbers are handed out in commit order (ADR 0021).
CREATE TABLE counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('feed', 0), ('audit', 0), ('grid', 0), ('categories', 0);

CREATE TABLE users (
    name          text PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('warden', 'liaison', 'supervisor', 'admin')),
    created_ms    bigint NOT NULL,
    disabled_ms   bigint,
    password_hash text
);

CREATE TABLE user_cells (
    "user" text NOT NULL REFERENCES users(name),
    cell   text NOT NULL,
    PRIMARY KEY ("user", cell)
);

CREATE TABLE enrolments (
    secret_hash bytea PRIMARY KEY,
    "user"      text NOT NULL REFERENCES users(name),
    created_ms  bigint NOT NULL,
    expires_ms  bigint NOT NULL,
    used_ms     bigint,
    device_id   bytea
);

CREATE TABLE devices (
    id           bytea PRIMARY KEY,
    "user"       text NOT NULL REFERENCES users(name),
    label        text NOT NULL,
    token_hash   bytea NOT NULL,
    enrolled_ms  bigint NOT NULL,
    revoked_ms   bigint,
    last_seen_ms bigint,
    -- The protocol version and app a device last spoke (SQLite 0012).
    protocol_version integer,
    client           text
);

CREATE TABLE grid_layers (
    version     bigint PRIMARY KEY,
    name        text NOT NULL,
    imported_ms bigint NOT NULL,
    cell_count  bigint NOT NULL
);

CREATE TABLE grid_cell_data (
    hash   bytea PRIMARY KEY,
    cell   bytea NOT NULL,
    shapes bytea NOT NULL
);

CREATE TABLE grid_layer_cells (
    version bigint NOT NULL REFERENCES grid_layers(version),
    code    text NOT NULL,
    hash    bytea NOT NULL REFERENCES grid_cell_data(hash),
    min_lon double precision NOT NULL,
    min_lat double precision NOT NULL,
    max_lon double precision NOT NULL,
    max_lat double precision NOT NULL,
    PRIMARY KEY (version, code)
);

CREATE TABLE category_tables (
    version     bigint PRIMARY KEY,
    imported_ms bigint NOT NULL,
    body        text NOT NULL
);

CREATE TABLE reports (
    id             bytea PRIMARY KEY,
    seq            bigint NOT NULL UNIQUE,
    reporter       text NOT NULL,
    device         bytea NOT NULL,
    category       text,
    grid_cell      text,
    assigned       boolean NOT NULL DEFAULT false,
    deleted        boolean NOT NULL DEFAULT false,
    observed_at_ms bigint,
    updated_ms     bigint NOT NULL,
    state          bytea NOT NULL,
    left_cells     text[] NOT NULL DEFAULT '{}',
    patrol         bytea
);
CREATE INDEX reports_by_cell ON reports (grid_cell, seq);
CREATE INDEX reports_by_reporter ON reports (reporter, seq);
CREATE INDEX reports_by_patrol ON reports (patrol);

CREATE TABLE report_left_cells (
    report bytea NOT NULL REFERENCES reports(id),
    cell   text NOT NULL,
    seq    bigint NOT NULL,
    PRIMARY KEY (report, cell)
);
CREATE INDEX report_left_cells_by_cell ON report_left_cells (cell, seq);

CREATE TABLE applied_ops (
    op_id      bytea PRIMARY KEY,
    device     bytea NOT NULL,
    applied_ms bigint NOT NULL
);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE patrols (
    id          bytea PRIMARY KEY,
    warden      text NOT NULL,
    device      bytea NOT NULL,
    started_ms  bigint NOT NULL,
    ended_ms    bigint,
    note        text NOT NULL,
    point_count bigint NOT NULL DEFAULT 0,
    updated_ms  bigint NOT NULL,
    -- The service's digest of the track, kept as points arrive (SQLite 0011).
    digest      bytea
);
CREATE INDEX patrols_by_start ON patrols (started_ms);
CREATE INDEX patrols_by_warden ON patrols (warden, started_ms);

CREATE TABLE track_points (
    patrol     bytea NOT NULL REFERENCES patrols(id),
    seq        bigint NOT NULL,
    time_ms    bigint,
    lon        double precision NOT NULL,
    lat        double precision NOT NULL,
    accuracy_m double precision,
    speed_mps  double precision,
    segment    bigint NOT NULL,
    PRIMARY KEY (patrol, seq)
);

CREATE TABLE report_photos (
    hash   bytea NOT NULL,
    report bytea NOT NULL REFERENCES reports(id),
    PRIMARY KEY (hash, report)
);

CREATE TABLE audit_log (
    seq     bigint PRIMARY KEY,
    at_ms   bigint NOT NULL,
    actor   text NOT NULL,
    device  bytea,
    action  text NOT NULL,
    subject text NOT NULL,
    detail  text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_time ON audit_log (at_ms);

CREATE TABLE cases (
    report_id   bytea PRIMARY KEY,
    status      text NOT NULL,
    department  text,
    deadline_ms bigint,
    updated_ms  bigint NOT NULL,
    state       bytea NOT NULL
);
CREATE INDEX cases_by_status ON cases (status, deadline_ms);

CREATE TABLE departments (
    code       text PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('department', 'utility')),
    created_ms bigint NOT NULL
);

CREATE TABLE category_routes (
    category   text PRIMARY KEY,
    department text NOT NULL REFERENCES departments(code)
);

CREATE TABLE department_members (
    "user"     text PRIMARY KEY REFERENCES users(name),
    department text NOT NULL REFERENCES departments(code)
);

CREATE TABLE case_photos (
    hash      bytea NOT NULL,
    report_id bytea NOT NULL,
    taken_by  text NOT NULL,
    size      bigint NOT NULL,
    PRIMARY KEY (hash, report_id, taken_by)
);

CREATE TABLE console_links (
    token_hash bytea PRIMARY KEY,
    "user"     text NOT NULL REFERENCES users(name),
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    used_ms    bigint
);

CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY,
    "user"     text NOT NULL REFERENCES users(name),
    csrf       text NOT NULL,
    device     bytea NOT NULL REFERENCES devices(id),
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL
);
CREATE INDEX console_sessions_by_user ON console_sessions ("user");

CREATE TABLE api_keys (
    name       text PRIMARY KEY,
    key_hash   bytea NOT NULL UNIQUE,
    created_ms bigint NOT NULL,
    revoked_ms bigint
);

CREATE TABLE open311_requests (
    report_id    bytea PRIMARY KEY,
    token        text NOT NULL UNIQUE,
    client       text NOT NULL,
    external_id  text,
    service_code text NOT NULL,
    description  text NOT NULL,
    requested_ms bigint NOT NULL,
    media_url    text,
    attributes   text NOT NULL,
    contact      text NOT NULL,
    UNIQUE (client, external_id)
);
CREATE INDEX open311_requests_by_time ON open311_requests (requested_ms);

CREATE TABLE open311_feedback (
    report_id bytea PRIMARY KEY REFERENCES open311_requests(report_id),
    rating    integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment   text NOT NULL,
    at_ms     bigint NOT NULL
);
