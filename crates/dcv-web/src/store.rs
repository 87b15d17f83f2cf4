//! The history store: one table of checks, in `SQLite` (the default, a file)
//! or `PostgreSQL` (`--database-url postgres://...`), through two concrete
//! sqlx pools running the same migrations and the same SQL (numbered `$N`
//! parameters work in both). No `sqlx::Any` (its placeholders break on
//! `PostgreSQL`, sqlx issue #3000; rust-stack.md §3.2).

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use thiserror::Error;

/// The migrations, compiled in: the binary carries its schema.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "checks", include_str!("../migrations/0001_checks.sql")),
    (2, "queue", include_str!("../migrations/0002_queue.sql")),
];

/// Connections per pool. Writes are a few per check; `SQLite` serialises
/// them anyway.
const MAX_CONNECTIONS: u32 = 8;
/// How long a query waits for a connection or a lock before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database URL {0:?}: expected sqlite:PATH or postgres://...")]
    Url(String),
    #[error("stored {what} is malformed: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*name),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Where a check is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// Finished: the report is there.
    Done,
    /// Not shown: it needs private, loopback or reserved addresses and the
    /// server checks public targets only.
    Refused,
    /// Could not complete (interrupted too often, or an internal error).
    Failed,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Queued => "queued",
            CheckStatus::Running => "running",
            CheckStatus::Done => "done",
            CheckStatus::Refused => "refused",
            CheckStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<CheckStatus, StoreError> {
        Ok(match s {
            "queued" => CheckStatus::Queued,
            "running" => CheckStatus::Running,
            "done" => CheckStatus::Done,
            "refused" => CheckStatus::Refused,
            "failed" => CheckStatus::Failed,
            other => {
                return Err(StoreError::Corrupt {
                    what: "status",
                    detail: other.to_owned(),
                });
            }
        })
    }

    /// No more work will happen on it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CheckStatus::Done | CheckStatus::Refused | CheckStatus::Failed
        )
    }
}

/// One stored check. JSON columns stay text here; the API parses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    pub id: String,
    pub hostname: String,
    /// The request as accepted (JSON).
    pub request: String,
    pub status: CheckStatus,
    /// Times a worker claimed it (more than one after a worker died or a
    /// restart).
    pub attempts: i64,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub verdict: Option<String>,
    /// The report (JSON, as `check --format json`).
    pub report: Option<String>,
    /// The pictures (JSON, `views::Views`).
    pub views: Option<String>,
    /// The progress events (JSON array).
    pub events: Option<String>,
    pub error: Option<String>,
}

/// How a check ended, to store.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: CheckStatus,
    pub finished_ms: i64,
    pub verdict: Option<String>,
    pub report: Option<String>,
    pub views: Option<String>,
    pub events: Option<String>,
    pub error: Option<String>,
}

/// The database: `SQLite` or `PostgreSQL`.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same statement on whichever pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

pub(crate) const COLUMNS: &str = "id, hostname, request, status, attempts, created_ms, started_ms, finished_ms, verdict, report, views, events, error";

macro_rules! record {
    ($row:expr) => {{
        let row = $row;
        let status: String = row.try_get("status")?;
        CheckRecord {
            id: row.try_get("id")?,
            hostname: row.try_get("hostname")?,
            request: row.try_get("request")?,
            status: CheckStatus::parse(&status)?,
            attempts: row.try_get("attempts")?,
            created_ms: row.try_get("created_ms")?,
            started_ms: row.try_get("started_ms")?,
            finished_ms: row.try_get("finished_ms")?,
            verdict: row.try_get("verdict")?,
            report: row.try_get("report")?,
            views: row.try_get("views")?,
            events: row.try_get("events")?,
            error: row.try_get("error")?,
        }
    }};
}
pub(crate) use record;

/// Where `dcv-doctor serve` keeps its `SQLite` file when no URL is given:
/// `$XDG_DATA_HOME/dcv-doctor/checks.sqlite3`, else
/// `$HOME/.local/share/dcv-doctor/checks.sqlite3` (XDG Base Directory
/// defaults), else the working directory.
pub fn default_sqlite_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        });
    match base {
        Some(b) => b.join("dcv-doctor").join("checks.sqlite3"),
        None => PathBuf::from("dcv-doctor-checks.sqlite3"),
    }
}

impl Store {
    /// Opens (creating a `SQLite` file if needed) and migrates.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            Store::Postgres(pool)
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .ok_or_else(|| StoreError::Url(url.to_owned()))?;
            if path.is_empty() {
                return Err(StoreError::Url(url.to_owned()));
            }
            let opts = if path == ":memory:" {
                SqliteConnectOptions::from_str("sqlite::memory:")?
            } else {
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Url(format!("{url} (creating {}: {e})", dir.display()))
                    })?;
                }
                SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
            }
            .busy_timeout(ACQUIRE_TIMEOUT);
            // An in-memory database lives in one connection.
            let max = if path == ":memory:" {
                1
            } else {
                MAX_CONNECTIONS
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(opts)
                .await?;
            Store::Sqlite(pool)
        };
        let migrator = Migrator::new(Embedded).await?;
        on_pool!(&store, pool => migrator.run(pool).await)?;
        Ok(store)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// One round trip, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }

    /// Records a new, queued check.
    pub async fn insert(&self, r: &CheckRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO checks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&r.id)
            .bind(&r.hostname)
            .bind(&r.request)
            .bind(r.status.as_str())
            .bind(r.attempts)
            .bind(r.created_ms)
            .bind(r.started_ms)
            .bind(r.finished_ms)
            .bind(&r.verdict)
            .bind(&r.report)
            .bind(&r.views)
            .bind(&r.events)
            .bind(&r.error)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<CheckRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM checks WHERE id = $1");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
            match row {
                Some(row) => Ok(Some(record!(row))),
                None => Ok(None),
            }
        })
    }

    /// A host's checks, newest first, strictly older than `before`
    /// (`created_ms`, `id`) when given; at most `limit`.
    pub async fn history(
        &self,
        hostname: &str,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<CheckRecord>, StoreError> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, ""));
        let unbounded = before.is_none();
        let sql = format!(
            "SELECT {COLUMNS} FROM checks WHERE hostname = $1 AND ($2 OR created_ms < $3 OR (created_ms = $3 AND id < $4)) ORDER BY created_ms DESC, id DESC LIMIT $5"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(hostname)
                .bind(unbounded)
                .bind(before_ms)
                .bind(before_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(record!(row));
            }
            Ok(out)
        })
    }
}
