//! Workers on many machines: `batch --enqueue` puts a file of hostnames in
//! the shared store as a job, `dcv-doctor worker` processes (each `serve`'s
//! pool, in effect, without the web face) claim and run its checks under
//! leases (`dcv_web::queue`), and `export` reads the results back as the
//! JSON Lines `batch` writes.
//!
//! A line is validated here exactly as `batch` validates it (the batch's
//! line parser and [`CheckSetup::config`]), and stored as the web API's
//! request, so a worker runs it through the same path as a check submitted
//! to `serve`: its own DNS view, ports and address policy.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dcv_diagnosis::Report;
use dcv_diagnosis::request::CheckRequest;
use dcv_web::api::WebCheckRequest;
use dcv_web::jobs::{CHECK_GRACE, Jobs, QueueSettings, host_name};
use dcv_web::queue::{ENQUEUE_CHUNK, JobCheck, JobLine, JobLineError, LEASE, MAX_ATTEMPTS};
use dcv_web::store::{CheckStatus, Store};

use crate::batch::input::{LineError, LineParser, LineReader};
use crate::batch::{
    BatchRecord, BatchSummary, InputError, LineErrorKind, RecordFacts, record_json,
};
use crate::cli::{ExportArgs, LogFormat, WorkerArgs};
use crate::config::{CheckOptions, CheckSetup};

/// How often `export --wait` looks at an unfinished job.
const EXPORT_POLL: Duration = Duration::from_secs(2);

/// Longest `--worker-id`: it is stored with every lease.
const MAX_WORKER_ID_LEN: usize = 128;

/// `HOST:PID`: unique per process on a machine.
fn default_worker_id() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn worker_id(arg: Option<&str>) -> anyhow::Result<String> {
    let Some(id) = arg else {
        return Ok(default_worker_id());
    };
    anyhow::ensure!(
        !id.is_empty() && id.len() <= MAX_WORKER_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic()),
        "--worker-id {id:?}: 1-{MAX_WORKER_ID_LEN} printable characters without spaces"
    );
    Ok(id.to_owned())
}

/// `dcv-doctor worker`.
pub async fn run_worker(args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    dcv_web::init_logging(args.log_format == LogFormat::Json);
    let policy = crate::config::server_policy(&args.policy)?;
    let check_timeout = policy.check_timeout;
    let allow_private = policy.allow_private;
    let profiles = crate::serve::profiles(&args.perspectives)?;
    let owner = worker_id(args.worker_id.as_deref())?;
    let settings = QueueSettings {
        owner: owner.clone(),
        lease: args.lease_secs.map_or(LEASE, Duration::from_secs),
        exit_when_empty: args.exit_when_empty,
    };
    let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
    let database = dcv_web::server::redact(&args.database_url);
    let store = Store::connect(&args.database_url)
        .await
        .with_context(|| format!("opening the queue at {database}"))?;
    let jobs = Jobs::new(
        store.clone(),
        policy,
        profiles,
        Arc::new(dcv_web::metrics::Metrics::default()),
        1,
        settings,
    );
    let released = jobs.recover().await?;
    if released > 0 {
        eprintln!(
            "dcv-doctor worker {owner}: re-queued the {released} checks this worker id held when it last stopped"
        );
    }
    let stop = crate::serve::stop_signal();
    let handles = jobs.spawn_workers(concurrency);
    let aborts: Vec<_> = handles
        .iter()
        .map(tokio::task::JoinHandle::abort_handle)
        .collect();
    eprintln!(
        "dcv-doctor worker {owner}: taking checks from {database}, {concurrency} at once{}",
        if allow_private {
            "; --allow-private: private and reserved targets are checked"
        } else {
            ""
        }
    );
    let mut all = futures::future::join_all(handles);
    tokio::select! {
        () = stop => {
            eprintln!("dcv-doctor worker {owner}: stopping (running checks finish, queued ones stay queued)");
            jobs.stop();
            let limit = check_timeout + CHECK_GRACE + jobs.settings().heartbeat();
            if tokio::time::timeout(limit, &mut all).await.is_err() {
                for a in aborts {
                    a.abort();
                }
                let (failed, requeued) = store.release_owner(&owner, MAX_ATTEMPTS, dcv_web::jobs::epoch_ms()).await?;
                eprintln!("dcv-doctor worker {owner}: released {requeued} unfinished checks ({failed} out of attempts)");
            }
        }
        _ = &mut all => {
            eprintln!("dcv-doctor worker {owner}: nothing left to do");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Everything `batch --enqueue` needs.
#[derive(Debug)]
pub struct EnqueuePlan {
    pub setup: CheckSetup,
    pub defaults: CheckOptions,
    pub format: crate::cli::InputFormat,
    pub database_url: String,
    /// What the job says it was made from (the input's path).
    pub source: String,
}

/// Reads `input`, validates each line as `batch` does, and puts it in the
/// queue as one job, [`ENQUEUE_CHUNK`] lines per transaction; returns the
/// job's id and its (lines, checks). Memory is one chunk, whatever the
/// input's length.
pub fn enqueue<R: BufRead>(
    plan: &EnqueuePlan,
    input: R,
    runtime: &tokio::runtime::Runtime,
) -> Result<(String, u64, u64), EnqueueError> {
    let store = runtime
        .block_on(Store::connect(&plan.database_url))
        .map_err(|e| EnqueueError::Store(e.to_string()))?;
    let job_id = dcv_web::api::new_id();
    runtime
        .block_on(store.create_job(&job_id, &plan.source, dcv_web::jobs::epoch_ms()))
        .map_err(|e| EnqueueError::Store(e.to_string()))?;
    let mut parser = LineParser::new(plan.format, plan.defaults.clone());
    let mut lines = LineReader::new(input);
    let mut checks: Vec<JobCheck> = Vec::with_capacity(ENQUEUE_CHUNK);
    let mut errors: Vec<JobLineError> = Vec::new();
    let (mut total_lines, mut total_checks) = (0u64, 0u64);
    let flush = |checks: &mut Vec<JobCheck>,
                 errors: &mut Vec<JobLineError>,
                 totals: (u64, u64)|
     -> Result<(), EnqueueError> {
        runtime
            .block_on(store.enqueue_chunk(
                &job_id,
                checks,
                errors,
                totals,
                dcv_web::jobs::epoch_ms(),
            ))
            .map_err(|e| EnqueueError::Store(e.to_string()))?;
        checks.clear();
        errors.clear();
        Ok(())
    };
    while let Some((line, raw)) = lines.next_line().map_err(EnqueueError::Read)? {
        let Some(request) = parser.parse(line, raw)? else {
            continue;
        };
        total_lines += 1;
        match request
            .options
            .and_then(|opts| plan.setup.config(&opts).map_err(LineError::from))
        {
            Ok(cfg) => {
                total_checks += 1;
                let web = WebCheckRequest {
                    check: CheckRequest::from_config(&cfg),
                    perspectives: None,
                };
                checks.push(JobCheck {
                    id: dcv_web::api::new_id(),
                    line: request.line,
                    input: request.input,
                    hostname: cfg.hostname.to_string(),
                    request: serde_json::to_string(&web)
                        .map_err(|e| EnqueueError::Store(e.to_string()))?,
                });
            }
            Err(why) => errors.push(JobLineError {
                line: request.line,
                error_kind: kind_name(why.kind()),
                record: error_json(request.line, &request.input, &why),
            }),
        }
        if checks.len() + errors.len() >= ENQUEUE_CHUNK {
            flush(&mut checks, &mut errors, (total_lines, total_checks))?;
        }
    }
    flush(&mut checks, &mut errors, (total_lines, total_checks))?;
    runtime
        .block_on(store.complete_job(&job_id))
        .map_err(|e| EnqueueError::Store(e.to_string()))?;
    runtime.block_on(store.close());
    Ok((job_id, total_lines, total_checks))
}

/// Why `batch --enqueue` stopped (each line's own problems are records).
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("reading the input: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("the queue: {0}")]
    Store(String),
}

fn kind_name(kind: LineErrorKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn error_json(line: u64, input: &str, why: &LineError) -> String {
    record_json(&BatchRecord {
        line,
        input,
        report: None,
        error: Some(why.message()),
        error_kind: Some(why.kind()),
        option: why.option(),
    })
}

/// One exported line: its record and what it adds to the summary.
fn export_record(line: JobLine) -> (u64, String, RecordFacts) {
    match line {
        JobLine::NotACheck {
            line,
            error_kind,
            record,
        } => {
            let kind = serde_json::from_value(serde_json::Value::String(error_kind))
                .unwrap_or(LineErrorKind::Internal);
            (line, record, RecordFacts::BadLine(kind))
        }
        JobLine::Check {
            line,
            input,
            status,
            report,
            error,
        } => {
            let parsed = report
                .as_deref()
                .filter(|_| status == CheckStatus::Done)
                .map(serde_json::from_str::<Report>);
            match parsed {
                Some(Ok(report)) => {
                    let json = record_json(&BatchRecord {
                        line,
                        input: &input,
                        report: Some(&report),
                        error: None,
                        error_kind: None,
                        option: None,
                    });
                    // Only the report is stored: the zone is known when a
                    // finding's DNS evidence names it, as for --perspectives.
                    let zone = crate::batch::checker::zone_from_evidence(&report);
                    (line, json, RecordFacts::of_report(&report, zone))
                }
                other => {
                    let (kind, why) = match (status, other) {
                        (_, Some(Err(e))) => (
                            LineErrorKind::Internal,
                            format!("the stored report is malformed: {e}"),
                        ),
                        (CheckStatus::Refused, _) => (
                            LineErrorKind::Refused,
                            error.unwrap_or_else(|| "refused by its worker".to_owned()),
                        ),
                        _ => (
                            LineErrorKind::Failed,
                            error.unwrap_or_else(|| "the check did not complete".to_owned()),
                        ),
                    };
                    let json = record_json(&BatchRecord {
                        line,
                        input: &input,
                        report: None,
                        error: Some(why),
                        error_kind: Some(kind),
                        option: None,
                    });
                    (line, json, RecordFacts::BadLine(kind))
                }
            }
        }
    }
}

/// `dcv-doctor export`: writes the job's records to `out` and returns the
/// summary.
pub async fn export(args: &ExportArgs, out: &mut impl Write) -> anyhow::Result<BatchSummary> {
    let started = Instant::now();
    let database = dcv_web::server::redact(&args.database_url);
    let store = Store::connect(&args.database_url)
        .await
        .with_context(|| format!("opening the queue at {database}"))?;
    let wait_limit = Duration::from_secs(args.wait_timeout);
    loop {
        let job = store
            .job(&args.job)
            .await?
            .with_context(|| format!("no job {:?} in {database}", args.job))?;
        let progress = store.job_progress(&args.job).await?;
        if job.complete && progress.queued == 0 && progress.running == 0 {
            break;
        }
        let state = format!(
            "job {} is not finished: {} of {} checks done, {} queued, {} running{}",
            job.id,
            progress.finished,
            job.checks,
            progress.queued,
            progress.running,
            if job.complete {
                ""
            } else {
                " (its input is still being put in)"
            }
        );
        anyhow::ensure!(
            args.wait,
            "{state}; run `dcv-doctor worker` on the queue, or pass --wait"
        );
        anyhow::ensure!(
            started.elapsed() < wait_limit,
            "{state} after waiting {}s (--wait-timeout)",
            wait_limit.as_secs()
        );
        tokio::time::sleep(EXPORT_POLL).await;
    }
    let mut summary = BatchSummary::default();
    let mut after = 0;
    loop {
        let page = store.job_lines(&args.job, after).await?;
        let Some(last) = page.last() else { break };
        after = last.line();
        for line in page {
            let (number, json, facts) = export_record(line);
            summary.add(number, facts);
            writeln!(out, "{json}").context("writing results")?;
        }
    }
    out.flush().context("writing results")?;
    store.close().await;
    summary.finish(started.elapsed());
    Ok(summary)
}
