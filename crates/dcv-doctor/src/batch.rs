//! `dcv-doctor batch`: many hostnames, as a platform with customer hostnames
//! checks them before ordering (or monitors them before renewal).
//!
//! Each line's check is the same as `check` gives (its own DNS engine and
//! cache, so one hostname's answers never colour another's, as separate CA
//! validations would not share a stale negative answer). `--concurrency`
//! checks run at once; results come out in input order as soon as every
//! earlier line is done (JSON Lines), so a pipeline can stream them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};

use dcv_diagnosis::{FindingCode, Report, Severity, Verdict};
use futures::StreamExt as _;
use serde::Serialize;

use crate::config::BatchTemplate;

/// Largest input read, in bytes: 100,000 hostnames of 255 characters with
/// newlines fit. More is refused, not truncated.
pub const MAX_INPUT_BYTES: u64 = 100_000 * 256;

/// Most hostnames in one batch (lines that are not comments or blank).
pub const MAX_HOSTNAMES: usize = 100_000;

/// One output line.
#[derive(Debug, Serialize)]
pub struct BatchRecord {
    /// 1-based line number in the input.
    pub line: usize,
    /// The hostname as written.
    pub input: String,
    /// The check's report, when the line is a hostname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// Why the line is not a hostname this check can take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Totals for the summary line and the exit status.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    pub hostnames: usize,
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    /// Hostnames that could not be checked from this machine (no network,
    /// DNS blocked or intercepted, servers it cannot reach).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unchecked: usize,
    /// Lines that are not hostnames (their record carries `error`).
    pub bad_input: usize,
    /// How many hostnames each blocking finding code stopped.
    pub blocking: BTreeMap<FindingCode, usize>,
}

impl BatchSummary {
    fn add(&mut self, record: &BatchRecord) {
        self.hostnames += 1;
        let Some(report) = &record.report else {
            self.bad_input += 1;
            return;
        };
        match report.verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::CouldNotCheck => self.unchecked += 1,
        }
        let mut codes: Vec<FindingCode> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error && !f.blocks.is_empty())
            .map(|f| f.code)
            .collect();
        codes.sort();
        codes.dedup();
        for code in codes {
            *self.blocking.entry(code).or_default() += 1;
        }
    }

    /// Whether every hostname would validate (warnings allowed).
    pub fn all_validate(&self) -> bool {
        self.fail == 0 && self.bad_input == 0
    }

    /// `batch: 12 hostnames: 9 pass, 1 warn, 1 fail, 1 not a hostname; blocking: caa_forbids 1`
    pub fn line(&self) -> String {
        let mut out = format!(
            "batch: {} hostnames: {} pass, {} warn, {} fail, {} not a hostname",
            self.hostnames, self.pass, self.warn, self.fail, self.bad_input
        );
        if self.unchecked > 0 {
            let _ = write!(out, ", {} could not be checked from here", self.unchecked);
        }
        if !self.blocking.is_empty() {
            let mut top: Vec<(&FindingCode, &usize)> = self.blocking.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = top.iter().map(|(c, n)| format!("{c} {n}")).collect();
            out.push_str("; blocking: ");
            out.push_str(&parts.join(", "));
        }
        out
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Why a batch could not run at all (each line's own problems are records).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("reading the hostname list: {0}")]
    Read(std::io::Error),
    #[error("the hostname list is larger than {MAX_INPUT_BYTES} bytes; split it")]
    TooLarge,
    #[error("the hostname list has more than {MAX_HOSTNAMES} hostnames; split it")]
    TooMany,
    #[error("the hostname list is not UTF-8 text")]
    NotText,
    #[error("writing results: {0}")]
    Write(std::io::Error),
}

/// The hostname lines of `input`: (1-based line number, trimmed text),
/// skipping blank lines and `#` comments.
pub fn read_lines(input: impl Read) -> Result<Vec<(usize, String)>, BatchError> {
    let mut bytes = Vec::new();
    input
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(BatchError::Read)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(BatchError::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| BatchError::NotText)?;
    let lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.len() > MAX_HOSTNAMES {
        return Err(BatchError::TooMany);
    }
    Ok(lines)
}

/// Checks every line, `concurrency` at once, writing one JSON object per
/// line to `out` in input order as they complete.
pub async fn run_batch(
    template: &BatchTemplate,
    lines: Vec<(usize, String)>,
    concurrency: usize,
    out: &mut impl Write,
) -> Result<BatchSummary, BatchError> {
    let mut results = futures::stream::iter(lines)
        .map(|(line, input)| async move {
            match template.config_for(&input) {
                Ok(cfg) => BatchRecord {
                    line,
                    report: Some(dcv_diagnosis::runner::run_check(cfg).await),
                    input,
                    error: None,
                },
                Err(e) => BatchRecord {
                    line,
                    input,
                    report: None,
                    error: Some(e.to_string()),
                },
            }
        })
        .buffered(concurrency.max(1));
    let mut summary = BatchSummary::default();
    while let Some(record) = results.next().await {
        summary.add(&record);
        let json = serde_json::to_string(&record)
            .map_err(|e| BatchError::Write(std::io::Error::other(e)))?;
        writeln!(out, "{json}").map_err(BatchError::Write)?;
        out.flush().map_err(BatchError::Write)?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_skipped_and_lines_keep_their_numbers() {
        let lines = read_lines("# customers\n\nwww.example.com\n  shop.example.net  \n".as_bytes())
            .unwrap();
        assert_eq!(
            lines,
            [
                (3, "www.example.com".to_owned()),
                (4, "shop.example.net".to_owned())
            ]
        );
    }

    #[test]
    fn oversized_or_binary_input_is_refused_not_truncated() {
        let big = vec![b'a'; usize::try_from(MAX_INPUT_BYTES).unwrap() + 1];
        assert!(matches!(read_lines(&big[..]), Err(BatchError::TooLarge)));
        assert!(matches!(
            read_lines(&[0xff, 0xfe, b'\n'][..]),
            Err(BatchError::NotText)
        ));
        let many = "a.example\n".repeat(MAX_HOSTNAMES + 1);
        assert!(matches!(
            read_lines(many.as_bytes()),
            Err(BatchError::TooMany)
        ));
    }
}
