-- Schema version 5: the case loop, departments and the routing of
-- categories to them.

-- The case of a report, once someone acted on it (a report nobody acted on
-- is a case in status `reported`, without a row). The server is the only
-- writer; `state` (CaseState, protocol codec) holds the whole history.
CREATE TABLE cases (
    report_id   BLOB PRIMARY KEY,
    status      TEXT NOT NULL,
    department  TEXT,
    deadline_ms INTEGER,
    updated_ms  INTEGER NOT NULL,
    state       BLOB NOT NULL
);
CREATE INDEX cases_by_status ON cases (status, deadline_ms);

-- Departments and utility companies cases are dispatched to (职能部门).
CREATE TABLE departments (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('department', 'utility')),
    created_ms INTEGER NOT NULL
);

-- The department a category goes to unless the supervisor names another.
CREATE TABLE category_routes (
    category   TEXT PRIMARY KEY,
    department TEXT NOT NULL REFERENCES departments(code)
) WITHOUT ROWID;

-- Users who act for a department (report disposal of its cases).
CREATE TABLE department_members (
    user       TEXT PRIMARY KEY REFERENCES users(name),
    department TEXT NOT NULL REFERENCES departments(code)
) WITHOUT ROWID;
