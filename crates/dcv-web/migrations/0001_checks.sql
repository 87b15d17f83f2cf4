-- One row per check: the request as received, its state, and once done the
-- report (the JSON of `check --format json`), the pictures and the progress
-- events. Portable SQL: the same file migrates SQLite and PostgreSQL.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE checks (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    started_ms BIGINT,
    finished_ms BIGINT,
    verdict TEXT,
    report TEXT,
    views TEXT,
    events TEXT,
    error TEXT
);

-- A host's history, newest first.
CREATE INDEX checks_by_host ON checks (hostname, created_ms DESC, id DESC);

-- Work to resume after a restart.
CREATE INDEX checks_by_status ON checks (status, created_ms);
