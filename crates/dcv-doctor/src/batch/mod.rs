//! `dcv-doctor batch`: many hostnames, as a platform with customer hostnames
//! checks them before ordering (or monitors them before renewal).
//!
//! A stream from end to end: a reader thread takes one line at a time
//! ([`input`]), a bounded channel hands the checks over, at most
//! `--concurrency` run at once (each as its own task, through a
//! [`LineChecker`]), and each record is written as one JSON line, with the
//! summary ([`summary`]) and the progress bar ([`progress`]) fed from small
//! facts rather than kept reports. Memory depends on the concurrency and
//! the reorder window, never on the number of lines.
//!
//! Records go out in input order by default, through a reorder window of
//! [`REORDER_WINDOW_PER_CHECK`] x `--concurrency` lines: a slow check holds
//! back the records after it (a pipeline sees them in the order it sent
//! them), and once the window is full no new check starts until it ends.
//! `--unordered` writes each record when its check ends, so one slow zone
//! never idles the others; the `line` field says where each belongs.

pub mod checker;
pub mod input;
pub mod progress;
pub mod summary;

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use dcv_diagnosis::Report;
use dcv_diagnosis::config::CheckConfig;
use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

pub use checker::{Checked, Isolated, LineChecker, SharedInfra, WithPerspectives};
pub use input::{InputError, LineErrorKind, MAX_LINE_BYTES};
pub use progress::Progress;
pub use summary::{BatchSummary, RecordFacts};

use crate::cli::InputFormat;
use crate::config::{CheckOption, CheckOptions, CheckSetup};
use input::{LineError, LineParser, LineReader};

/// Records that may wait behind an earlier line's unfinished check, per
/// check in flight, when records go out in input order. Eight lets the other
/// checks run on through a straggler that takes eight times as long as a
/// typical check, and bounds what waits: at most 8 x 256 records of a few
/// KiB each.
pub const REORDER_WINDOW_PER_CHECK: usize = 8;

/// Lines read ahead of the checks, per check in flight: enough that a check
/// never waits for the reader, few enough to hold nothing of note.
const READ_AHEAD_PER_CHECK: usize = 2;

/// One output line (JSON Lines): a line's report, or why it is not a check.
#[derive(Debug, Serialize)]
pub struct BatchRecord<'a> {
    /// 1-based line number in the input.
    pub line: u64,
    /// The hostname as written, or the start of a line that is not a record.
    pub input: &'a str,
    /// The check's report, when the line is a check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<&'a Report>,
    /// Why the line is not a check this command can make.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The kind of that reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<LineErrorKind>,
    /// For `error_kind: option`, the option at fault (its CSV column or
    /// JSON key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option: Option<CheckOption>,
}

/// In which order records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Input order, through the reorder window.
    Input,
    /// As checks end (`--unordered`).
    Finished,
}

/// Everything a batch run needs besides its input and output.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// What every check shares (DNS source, ports, limits).
    pub setup: CheckSetup,
    /// The batch's flags, which a line's own options override.
    pub defaults: CheckOptions,
    pub format: InputFormat,
    /// Checks in flight at once (at least 1).
    pub concurrency: usize,
    pub order: Order,
    /// How each check runs.
    pub checker: Arc<dyn LineChecker>,
    /// Lift the progress bar around each write (stdout and stderr are the
    /// same terminal).
    pub suspend_progress_for_output: bool,
}

/// Why a batch stopped (each line's own problems are records).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("reading the input: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("writing results: {0}")]
    Write(std::io::Error),
}

/// One line, read and validated: the check to make or why there is none.
#[derive(Debug)]
struct Item {
    line: u64,
    input: String,
    config: Result<CheckConfig, LineError>,
}

/// A record ready to write, and what it adds to the summary.
#[derive(Debug)]
struct Done {
    line: u64,
    json: String,
    facts: RecordFacts,
}

/// Reads `input`, checks every line, writes one JSON line per record to
/// `out`, and returns the totals.
pub async fn run_batch<R: BufRead + Send + 'static>(
    plan: &BatchPlan,
    input: R,
    out: &mut impl Write,
    progress: &Progress,
) -> Result<BatchSummary, BatchError> {
    let started = Instant::now();
    let concurrency = plan.concurrency.max(1);
    let (tx, mut rx) = mpsc::channel::<Item>(concurrency * READ_AHEAD_PER_CHECK);
    let fatal: Arc<Mutex<Option<BatchError>>> = Arc::default();
    // A thread of its own, not `spawn_blocking`: a read blocked on a
    // terminal must not keep the process alive after the output failed.
    {
        let fatal = Arc::clone(&fatal);
        let setup = plan.setup.clone();
        let parser = LineParser::new(plan.format, plan.defaults.clone());
        std::thread::spawn(move || {
            if let Err(e) = read_input(input, parser, &setup, &tx) {
                *fatal.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
            }
            // `tx` drops here, after the error is stored: the channel's end
            // tells the writer to look.
        });
    }

    let gate = Arc::new(Semaphore::new(concurrency));
    let items = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    // Permits are taken in input order, before a check is spawned, so the
    // earliest lines start first.
    let admitted = items.then(move |item| {
        let gate = Arc::clone(&gate);
        async move {
            let permit = match item.config {
                Ok(_) => gate.acquire_owned().await.ok(),
                Err(_) => None,
            };
            (item, permit)
        }
    });
    let checker = Arc::clone(&plan.checker);
    let started_checks = admitted.map(move |(item, permit)| start(item, permit, &checker));
    let mut done: futures::stream::BoxStream<'_, Done> = match plan.order {
        Order::Input => started_checks
            .buffered(concurrency * REORDER_WINDOW_PER_CHECK)
            .boxed(),
        Order::Finished => started_checks.buffer_unordered(concurrency).boxed(),
    };

    let mut summary = BatchSummary::default();
    loop {
        // Flush only when nothing else is ready: a pipeline sees each record
        // promptly, a fast run is not one write per record.
        let next = if let Some(next) = done.next().now_or_never() {
            next
        } else {
            out.flush().map_err(BatchError::Write)?;
            done.next().await
        };
        let Some(record) = next else { break };
        progress.record(record.facts.failed(), record.facts.is_bad_line());
        summary.add(record.line, record.facts);
        let mut write = || writeln!(out, "{}", record.json);
        if plan.suspend_progress_for_output {
            progress.suspend(write)
        } else {
            write()
        }
        .map_err(BatchError::Write)?;
    }
    out.flush().map_err(BatchError::Write)?;
    if let Some(e) = fatal.lock().unwrap_or_else(PoisonError::into_inner).take() {
        return Err(e);
    }
    summary.shared_cache = plan.checker.shared_cache_stats();
    summary.finish(started.elapsed());
    Ok(summary)
}

/// The reader thread: lines to validated checks, in order, until the end,
/// a fatal input error, or the writer going away.
fn read_input<R: BufRead>(
    input: R,
    mut parser: LineParser,
    setup: &CheckSetup,
    tx: &mpsc::Sender<Item>,
) -> Result<(), BatchError> {
    let mut lines = LineReader::new(input);
    while let Some((line, raw)) = lines.next_line().map_err(BatchError::Read)? {
        let Some(request) = parser.parse(line, raw)? else {
            continue;
        };
        let config = request
            .options
            .and_then(|opts| setup.config(&opts).map_err(LineError::from));
        let item = Item {
            line: request.line,
            input: request.input,
            config,
        };
        if tx.blocking_send(item).is_err() {
            // The writer stopped (its own error is the one reported).
            return Ok(());
        }
    }
    Ok(())
}

/// Starts one line's check as its own task (so checks use every core), or
/// makes its error record.
fn start(
    item: Item,
    permit: Option<OwnedSemaphorePermit>,
    checker: &Arc<dyn LineChecker>,
) -> BoxFuture<'static, Done> {
    let Item {
        line,
        input,
        config,
    } = item;
    let cfg = match config {
        Ok(cfg) => cfg,
        Err(why) => return futures::future::ready(error_record(line, &input, &why)).boxed(),
    };
    let checker = Arc::clone(checker);
    let echo = input.clone();
    let task = tokio::spawn(async move {
        let checked = checker.check(cfg).await;
        drop(permit);
        report_record(line, &input, checked)
    });
    async move {
        task.await.unwrap_or_else(|e| {
            internal_record(
                line,
                &echo,
                &format!("the check stopped without a report: {e}"),
            )
        })
    }
    .boxed()
}

/// A check that ended without a report (a panic: a bug, but one line's).
fn internal_record(line: u64, input: &str, why: &str) -> Done {
    let json = record_json(&BatchRecord {
        line,
        input,
        report: None,
        error: Some(why.to_owned()),
        error_kind: Some(LineErrorKind::Internal),
        option: None,
    });
    Done {
        line,
        json,
        facts: RecordFacts::BadLine(LineErrorKind::Internal),
    }
}

fn report_record(line: u64, input: &str, checked: Checked) -> Done {
    let json = record_json(&BatchRecord {
        line,
        input,
        report: Some(&checked.report),
        error: None,
        error_kind: None,
        option: None,
    });
    Done {
        line,
        json,
        facts: RecordFacts::of_report(&checked.report, checked.zone),
    }
}

fn error_record(line: u64, input: &str, why: &LineError) -> Done {
    let json = record_json(&BatchRecord {
        line,
        input,
        report: None,
        error: Some(why.message()),
        error_kind: Some(why.kind()),
        option: why.option(),
    });
    Done {
        line,
        json,
        facts: RecordFacts::BadLine(why.kind()),
    }
}

pub(crate) fn record_json(record: &BatchRecord<'_>) -> String {
    serde_json::to_string(record).unwrap_or_else(|e| {
        // A report is plain data with string keys; should this ever fail,
        // the line still gets a record that says so.
        serde_json::json!({
            "line": record.line,
            "input": record.input,
            "error": format!("the record could not be written as JSON: {e}"),
            "error_kind": LineErrorKind::Internal,
        })
        .to_string()
    })
}
