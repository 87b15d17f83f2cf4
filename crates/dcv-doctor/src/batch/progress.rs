//! The progress bar on stderr while a batch runs: records written (of the
//! total when the input is a file that can be counted), the rate, the time
//! left, and failures so far. Drawn only when stderr is a terminal; on a
//! pipe or a file there is nothing, and stdout never carries it.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::input::{LineReader, RawLine, detect, is_skipped};
use crate::cli::InputFormat;

/// Redraws per second: enough to see it move, cheap at any rate.
const REDRAWS_PER_SECOND: u8 = 4;

/// Failures so far, read by the bar's template.
#[derive(Debug, Default)]
struct Tally {
    failed: AtomicU64,
    bad_lines: AtomicU64,
}

/// The bar, or nothing when stderr is not a terminal.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
    tally: Arc<Tally>,
    /// The thread counting the input's records, joined by [`Progress::finish`].
    counter: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Progress {
    /// A bar on stderr if it is a terminal, else a hidden one.
    pub fn on_stderr() -> Self {
        if std::io::stderr().is_terminal() {
            Self::visible()
        } else {
            Self::hidden()
        }
    }

    /// Draws nothing (tests, pipes).
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
            tally: Arc::default(),
            counter: Arc::default(),
        }
    }

    fn visible() -> Self {
        let tally = Arc::<Tally>::default();
        let bar = ProgressBar::with_draw_target(
            None,
            ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SECOND),
        );
        bar.set_style(style(&tally, false));
        bar.enable_steady_tick(Duration::from_millis(250));
        Self {
            bar,
            tally,
            counter: Arc::default(),
        }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Counts the records in `path` on a thread of its own and shows the
    /// total when known: only for a regular file (stdin and pipes cannot be
    /// read twice), only when the bar is drawn.
    pub fn count_in_background(&self, path: &Path, format: InputFormat) {
        if !self.is_visible() || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return;
        }
        let path = path.to_path_buf();
        let progress = self.clone();
        let counter = std::thread::spawn(move || {
            if let Some(total) = count_records(&path, format) {
                progress.bar.set_length(total);
                progress.bar.set_style(style(&progress.tally, true));
            }
        });
        *self
            .counter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(counter);
    }

    /// One record written.
    pub fn record(&self, failed: bool, bad_line: bool) {
        if failed {
            self.tally.failed.fetch_add(1, Ordering::Relaxed);
        }
        if bad_line {
            self.tally.bad_lines.fetch_add(1, Ordering::Relaxed);
        }
        self.bar.inc(1);
    }

    /// Runs `f` (a write to a terminal's stdout) with the bar lifted, so the
    /// two do not overwrite each other.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Leaves the bar's final state (total and failures, once the count is
    /// in: a short batch can end before the counting thread or the next
    /// redraw) above the summary.
    pub fn finish(&self) {
        let counter = self
            .counter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(counter) = counter {
            let _ = counter.join();
        }
        self.bar.finish();
    }
}

fn style(tally: &Arc<Tally>, total_known: bool) -> ProgressStyle {
    let template = if total_known {
        "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} {per_sec} ETA {eta} {failures}"
    } else {
        "{spinner} {elapsed_precise} {human_pos} checked {per_sec} {failures}"
    };
    let tally = Arc::clone(tally);
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "failures",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(
                    w,
                    "{} fail, {} bad lines",
                    tally.failed.load(Ordering::Relaxed),
                    tally.bad_lines.load(Ordering::Relaxed)
                );
            },
        )
}

/// The records `path` holds: lines that are not blank or comments, less the
/// CSV header. `None` when it cannot be read.
fn count_records(path: &Path, format: InputFormat) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    let mut lines = LineReader::new(std::io::BufReader::with_capacity(1 << 16, file));
    let mut decided = format != InputFormat::Auto;
    let mut header_pending = format == InputFormat::Csv;
    let mut records = 0u64;
    while let Some((_, raw)) = lines.next_line().ok()? {
        if let RawLine::Text(text) = &raw {
            if is_skipped(text) {
                continue;
            }
            if !decided {
                decided = true;
                header_pending = detect(text) == InputFormat::Csv;
            }
            if header_pending {
                header_pending = false;
                continue;
            }
        }
        records += 1;
    }
    Some(records)
}
