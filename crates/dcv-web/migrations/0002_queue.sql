-- The checks table as a queue several machines share (`serve`'s own pool,
-- `dcv-doctor worker` on other machines): a claimed check carries a lease
-- (who holds it, until when, on the database's clock) that its worker's
-- heartbeat extends; an expired lease makes it claimable again, and the
-- attempt count bounds how often. Checks put in by `batch --enqueue` belong
-- to a job and keep their input line; interactive checks (the web API) have
-- priority 0 and go before a job's (priority 1).
ALTER TABLE checks ADD COLUMN lease_owner TEXT;
ALTER TABLE checks ADD COLUMN lease_expires_ms BIGINT;
ALTER TABLE checks ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE checks ADD COLUMN job_id TEXT;
ALTER TABLE checks ADD COLUMN line BIGINT;
ALTER TABLE checks ADD COLUMN input TEXT;

-- What a worker claims next: the oldest queued check of the most urgent
-- priority, in input-line order within a job.
CREATE INDEX checks_claim ON checks (status, priority, created_ms, line);

-- A job's checks in input-line order (export).
CREATE INDEX checks_by_job ON checks (job_id, line);

-- One row per `batch --enqueue`: `complete` once every input line is in
-- (until then an export cannot know it has every line).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    lines BIGINT NOT NULL DEFAULT 0,
    checks BIGINT NOT NULL DEFAULT 0,
    complete BIGINT NOT NULL DEFAULT 0
);

-- A job's input lines that are not checks (not UTF-8, too long, malformed,
-- a bad hostname or option): the record `batch` would have written, kept
-- as JSON, and its error kind for the summary.
CREATE TABLE job_lines (
    job_id TEXT NOT NULL,
    line BIGINT NOT NULL,
    error_kind TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (job_id, line)
);
