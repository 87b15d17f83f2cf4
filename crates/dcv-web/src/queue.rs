//! The checks table as a queue that `serve`'s own pool and `dcv-doctor
//! worker` processes on other machines share: claim, heartbeat, fenced
//! result, expiry, bounded retries; and the jobs `batch --enqueue` puts in
//! and `export` reads back in input-line order.
//!
//! One code path for both stores. A claim is one statement, `UPDATE ...
//! WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ...`: on
//! `PostgreSQL` concurrent claimers skip each other's locked rows; `SQLite`
//! serialises writers, so the same statement without the locking clause is
//! already exclusive. The other dialect difference is how to read the
//! database's clock: lease times are the database's, never a worker's, so
//! machines with skewed clocks cannot expire each other's leases early.
//!
//! A result is written only with the lease it was claimed under (`WHERE id
//! AND lease_owner AND attempts`): a worker that lost its lease (paused,
//! partitioned, too slow) finds its write refused, so a check never gets a
//! second result. The attempt count is the fencing token, so even a worker
//! that re-claims its own expired check cannot write the stale attempt.
//!
//! Written here rather than with a job-queue crate: sqlxmq and
//! `graphile_worker` are `PostgreSQL`-only, and apalis keeps its own
//! `apalis.jobs` schema (a second table beside `checks`, with its own
//! states), while `serve` needs the same queue on `SQLite` and its history
//! is the checks table itself.

use std::time::Duration;

use sqlx::Row as _;

use crate::store::{COLUMNS, CheckRecord, CheckStatus, Outcome, Store, StoreError};

/// How long a claim holds a check without a heartbeat. Long enough that a
/// worker whose heartbeat waits behind a busy connection pool (up to the
/// store's 10 s acquire timeout) keeps its checks; short enough that a dead
/// worker's checks run again within a minute.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often a running worker extends the leases it holds: six beats per
/// lease, so a few failed beats (a database failover) do not lose them.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Times a check may be claimed before it is marked failed with the reason:
/// a check that kills its worker (or never finishes) must not loop through
/// the fleet forever. Three survives one unlucky restart and one crash.
pub const MAX_ATTEMPTS: i64 = 3;

/// How often an idle worker looks for work put in by another machine
/// (work put in through this process wakes it at once).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Lines per transaction when a job is put in: few enough that a
/// transaction stays short and memory flat, many enough that a million
/// lines are two thousand commits, not a million.
pub const ENQUEUE_CHUNK: usize = 500;

/// Records per page when a job is read back.
pub const EXPORT_PAGE: i64 = 500;

/// Checks put in by `batch --enqueue` wait behind interactive ones (the
/// web API, priority 0), whose requester is watching.
pub const JOB_PRIORITY: i64 = 1;

/// The claim a worker holds on a check: its name and the attempt it
/// claimed (the fencing token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub attempt: i64,
}

/// A check put in as part of a job.
#[derive(Debug, Clone)]
pub struct JobCheck {
    pub id: String,
    pub line: u64,
    /// The hostname as written.
    pub input: String,
    pub hostname: String,
    /// The request (JSON of the web API's request).
    pub request: String,
}

/// An input line of a job that is not a check: the record to export.
#[derive(Debug, Clone)]
pub struct JobLineError {
    pub line: u64,
    /// The `error_kind` (`snake_case`).
    pub error_kind: String,
    /// The record as `batch` writes it (JSON).
    pub record: String,
}

/// One job, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub created_ms: i64,
    pub source: String,
    pub lines: i64,
    pub checks: i64,
    /// Every input line is in.
    pub complete: bool,
}

/// How far a job's checks are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub queued: i64,
    pub running: i64,
    pub finished: i64,
}

/// One line of a job, read back: its check or its error record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobLine {
    Check {
        line: u64,
        input: String,
        status: CheckStatus,
        report: Option<String>,
        error: Option<String>,
    },
    NotACheck {
        line: u64,
        error_kind: String,
        record: String,
    },
}

impl JobLine {
    pub fn line(&self) -> u64 {
        match self {
            JobLine::Check { line, .. } | JobLine::NotACheck { line, .. } => *line,
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn line_i64(line: u64) -> i64 {
    i64::try_from(line).unwrap_or(i64::MAX)
}

impl Store {
    /// The database's clock in milliseconds since the Unix epoch, as SQL.
    fn now_sql(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Store::Postgres(_) => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// The clause that lets concurrent claimers pass each other's rows.
    fn skip_locked(&self) -> &'static str {
        match self {
            // One writer at a time: the statement is exclusive already.
            Store::Sqlite(_) => "",
            Store::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// Takes the next queued check (interactive first, then the oldest,
    /// in input-line order within a job) for `owner`, for `lease`; one more
    /// attempt. `None`: nothing is queued.
    pub async fn claim_next(
        &self,
        owner: &str,
        lease: Duration,
        now_ms: i64,
    ) -> Result<Option<(CheckRecord, Lease)>, StoreError> {
        let sql = format!(
            "UPDATE checks SET status = 'running', lease_owner = $1, lease_expires_ms = {now} + $2, attempts = attempts + 1, started_ms = $3 \
             WHERE id = (SELECT id FROM checks WHERE status = 'queued' ORDER BY priority, created_ms, line, id LIMIT 1 {skip}) \
             RETURNING {COLUMNS}",
            now = self.now_sql(),
            skip = self.skip_locked(),
        );
        let record = crate::store::on_pool!(self, pool => {
            match sqlx::query(&sql).bind(owner).bind(ms(lease)).bind(now_ms).fetch_optional(pool).await? {
                Some(row) => Some(crate::store::record!(row)),
                None => None,
            }
        });
        Ok(record.map(|r| {
            let lease = Lease {
                owner: owner.to_owned(),
                attempt: r.attempts,
            };
            (r, lease)
        }))
    }

    /// Extends every lease `owner` holds; returns how many.
    pub async fn heartbeat(&self, owner: &str, lease: Duration) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE checks SET lease_expires_ms = {} + $2 WHERE lease_owner = $1 AND status = 'running'",
            self.now_sql()
        );
        let n = crate::store::on_pool!(self, pool => sqlx::query(&sql).bind(owner).bind(ms(lease)).execute(pool).await?.rows_affected());
        Ok(n)
    }

    /// Stores how a check ended, only under the lease it was claimed with;
    /// false when that lease is gone (expired and re-queued or re-claimed):
    /// the result is then not written.
    pub async fn finish_leased(
        &self,
        id: &str,
        lease: &Lease,
        o: &Outcome,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE checks SET status = $2, finished_ms = $3, verdict = $4, report = $5, views = $6, events = $7, error = $8, lease_expires_ms = NULL \
                   WHERE id = $1 AND lease_owner = $9 AND attempts = $10 AND status = 'running'";
        let n = crate::store::on_pool!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(o.status.as_str())
            .bind(o.finished_ms)
            .bind(&o.verdict)
            .bind(&o.report)
            .bind(&o.views)
            .bind(&o.events)
            .bind(&o.error)
            .bind(&lease.owner)
            .bind(lease.attempt)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Checks whose lease expired (their worker died, hung or lost the
    /// database): back to the queue, or failed with the reason once they
    /// were claimed `max_attempts` times. Returns (failed, re-queued).
    /// Running checks from before leases existed have none and count as
    /// expired.
    pub async fn reap_expired(
        &self,
        max_attempts: i64,
        now_ms: i64,
    ) -> Result<(u64, u64), StoreError> {
        let expired = format!(
            "status = 'running' AND COALESCE(lease_expires_ms, 0) < {}",
            self.now_sql()
        );
        let why = format!(
            "its worker stopped renewing its lease (died, hung or lost the database) on each of {max_attempts} attempts; not retried again"
        );
        self.release_where(&expired, None, max_attempts, now_ms, &why)
            .await
    }

    /// Releases every check `owner` holds (a graceful stop, or the same
    /// server starting again after a crash): back to the queue, or failed
    /// after `max_attempts`. Returns (failed, re-queued).
    pub async fn release_owner(
        &self,
        owner: &str,
        max_attempts: i64,
        now_ms: i64,
    ) -> Result<(u64, u64), StoreError> {
        let why = format!(
            "interrupted {max_attempts} times (its worker stopped or restarted); not retried again"
        );
        self.release_where(
            "status = 'running' AND lease_owner = {owner}",
            Some(owner),
            max_attempts,
            now_ms,
            &why,
        )
        .await
    }

    /// `condition` may name the owner as `{owner}`.
    async fn release_where(
        &self,
        condition: &str,
        owner: Option<&str>,
        max_attempts: i64,
        now_ms: i64,
        why: &str,
    ) -> Result<(u64, u64), StoreError> {
        let give_up = format!(
            "UPDATE checks SET status = 'failed', finished_ms = $2, error = $3, lease_expires_ms = NULL WHERE {} AND attempts >= $1",
            condition.replace("{owner}", "$4")
        );
        let requeue = format!(
            "UPDATE checks SET status = 'queued', lease_owner = NULL, lease_expires_ms = NULL WHERE {} AND attempts < $1",
            condition.replace("{owner}", "$2")
        );
        let (failed, requeued) = crate::store::on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut q = sqlx::query(&give_up).bind(max_attempts).bind(now_ms).bind(why);
            if let Some(owner) = owner {
                q = q.bind(owner);
            }
            let failed = q.execute(&mut *tx).await?.rows_affected();
            let mut q = sqlx::query(&requeue).bind(max_attempts);
            if let Some(owner) = owner {
                q = q.bind(owner);
            }
            let requeued = q.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            (failed, requeued)
        });
        Ok((failed, requeued))
    }

    /// Queued checks of one priority (what `serve`'s queue cap counts).
    pub async fn count_queued(&self, priority: i64) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) AS n FROM checks WHERE status = 'queued' AND priority = $1";
        let n = crate::store::on_pool!(self, pool => sqlx::query(sql).bind(priority).fetch_one(pool).await?.try_get::<i64, _>("n")?);
        Ok(n)
    }

    /// Checks queued or running anywhere: a worker told to stop when the
    /// queue is empty waits for these, since a running one whose worker
    /// dies comes back.
    pub async fn count_unfinished(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) AS n FROM checks WHERE status IN ('queued', 'running')";
        let n = crate::store::on_pool!(self, pool => sqlx::query(sql).fetch_one(pool).await?.try_get::<i64, _>("n")?);
        Ok(n)
    }

    /// Records a new job, not yet complete.
    pub async fn create_job(&self, id: &str, source: &str, now_ms: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO jobs (id, created_ms, source, lines, checks, complete) VALUES ($1, $2, $3, 0, 0, 0)";
        crate::store::on_pool!(self, pool => sqlx::query(sql).bind(id).bind(now_ms).bind(source).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Puts one chunk of a job's lines in, in one transaction, queued for
    /// workers; `lines`/`checks` are the job's totals so far.
    pub async fn enqueue_chunk(
        &self,
        job_id: &str,
        checks: &[JobCheck],
        errors: &[JobLineError],
        totals: (u64, u64),
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let insert_check = "INSERT INTO checks (id, hostname, request, status, attempts, created_ms, priority, job_id, line, input) \
                            VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $7, $8)";
        let insert_error =
            "INSERT INTO job_lines (job_id, line, error_kind, record) VALUES ($1, $2, $3, $4)";
        let update_job = "UPDATE jobs SET lines = $2, checks = $3 WHERE id = $1";
        crate::store::on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for c in checks {
                sqlx::query(insert_check)
                    .bind(&c.id)
                    .bind(&c.hostname)
                    .bind(&c.request)
                    .bind(now_ms)
                    .bind(JOB_PRIORITY)
                    .bind(job_id)
                    .bind(line_i64(c.line))
                    .bind(&c.input)
                    .execute(&mut *tx)
                    .await?;
            }
            for e in errors {
                sqlx::query(insert_error)
                    .bind(job_id)
                    .bind(line_i64(e.line))
                    .bind(&e.error_kind)
                    .bind(&e.record)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(update_job)
                .bind(job_id)
                .bind(line_i64(totals.0))
                .bind(line_i64(totals.1))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Marks a job's input as wholly in.
    pub async fn complete_job(&self, job_id: &str) -> Result<(), StoreError> {
        let sql = "UPDATE jobs SET complete = 1 WHERE id = $1";
        crate::store::on_pool!(self, pool => sqlx::query(sql).bind(job_id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let sql = "SELECT id, created_ms, source, lines, checks, complete FROM jobs WHERE id = $1";
        let job = crate::store::on_pool!(self, pool => {
            match sqlx::query(sql).bind(id).fetch_optional(pool).await? {
                Some(row) => Some(JobRecord {
                    id: row.try_get("id")?,
                    created_ms: row.try_get("created_ms")?,
                    source: row.try_get("source")?,
                    lines: row.try_get("lines")?,
                    checks: row.try_get("checks")?,
                    complete: row.try_get::<i64, _>("complete")? != 0,
                }),
                None => None,
            }
        });
        Ok(job)
    }

    /// How many of a job's checks are queued, running, finished.
    pub async fn job_progress(&self, id: &str) -> Result<JobProgress, StoreError> {
        let sql = "SELECT status, COUNT(*) AS n FROM checks WHERE job_id = $1 GROUP BY status";
        let rows: Vec<(String, i64)> = crate::store::on_pool!(self, pool => {
            let mut out = Vec::new();
            for row in sqlx::query(sql).bind(id).fetch_all(pool).await? {
                out.push((row.try_get::<String, _>("status")?, row.try_get::<i64, _>("n")?));
            }
            out
        });
        let mut p = JobProgress::default();
        for (status, n) in rows {
            match status.as_str() {
                "queued" => p.queued += n,
                "running" => p.running += n,
                _ => p.finished += n,
            }
        }
        Ok(p)
    }

    /// A job's lines after `after`, in line order, at most about
    /// [`EXPORT_PAGE`]: page through with the last line seen (memory flat
    /// in the job's size, no long-running transaction). Its checks and its
    /// error lines are read apart, each an index range scan, and merged up
    /// to the first full page's end (one `UNION ALL ... ORDER BY` made
    /// `PostgreSQL` sort the whole rest of the job for every page).
    pub async fn job_lines(&self, job_id: &str, after: u64) -> Result<Vec<JobLine>, StoreError> {
        let checks_sql = "SELECT line, input, status, report, error FROM checks WHERE job_id = $1 AND line > $2 ORDER BY line LIMIT $3";
        let errors_sql = "SELECT line, error_kind, record FROM job_lines WHERE job_id = $1 AND line > $2 ORDER BY line LIMIT $3";
        let line_of = |v: i64| u64::try_from(v).unwrap_or(0);
        let (checks, errors) = crate::store::on_pool!(self, pool => {
            let mut checks = Vec::new();
            for row in sqlx::query(checks_sql).bind(job_id).bind(line_i64(after)).bind(EXPORT_PAGE).fetch_all(pool).await? {
                let status: String = row.try_get("status")?;
                checks.push(JobLine::Check {
                    line: line_of(row.try_get("line")?),
                    input: row.try_get::<Option<String>, _>("input")?.unwrap_or_default(),
                    status: CheckStatus::parse(&status)?,
                    report: row.try_get("report")?,
                    error: row.try_get("error")?,
                });
            }
            let mut errors = Vec::new();
            for row in sqlx::query(errors_sql).bind(job_id).bind(line_i64(after)).bind(EXPORT_PAGE).fetch_all(pool).await? {
                errors.push(JobLine::NotACheck {
                    line: line_of(row.try_get("line")?),
                    error_kind: row.try_get("error_kind")?,
                    record: row.try_get("record")?,
                });
            }
            (checks, errors)
        });
        let page = usize::try_from(EXPORT_PAGE).unwrap_or(usize::MAX);
        // A full page may have more after it: nothing past its last line is
        // known to be complete.
        let bound = [&checks, &errors]
            .iter()
            .filter(|p| p.len() >= page)
            .filter_map(|p| p.last().map(JobLine::line))
            .min()
            .unwrap_or(u64::MAX);
        let mut merged: Vec<JobLine> = checks
            .into_iter()
            .chain(errors)
            .filter(|l| l.line() <= bound)
            .collect();
        merged.sort_by_key(JobLine::line);
        Ok(merged)
    }
}
