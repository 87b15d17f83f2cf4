//! `/metrics` in the Prometheus text exposition format (version 0.0.4):
//! checks by status and verdict, findings by code, check durations, DNS
//! queries sent, queue depth, running checks and refusals by rate limit.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the check-duration histogram, in seconds: a healthy
/// check takes well under a second, a check that waits for timeouts up to
/// its limit (30 s by default).
const DURATION_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The service's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (status, verdict) -> finished checks.
    checks: Mutex<BTreeMap<(String, String), u64>>,
    /// finding code -> findings reported.
    findings: Mutex<BTreeMap<String, u64>>,
    durations: Mutex<Histogram>,
    dns_queries: AtomicU64,
    submitted: AtomicU64,
    /// scope (client, host, queue) -> refusals.
    refused: Mutex<BTreeMap<&'static str, u64>>,
    pub queue_depth: AtomicU64,
    pub running: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, by: u64) {
    let mut m = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *m.entry(key).or_insert(0) += by;
}

/// Escapes a label value (Prometheus text format: backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// A refusal before any check ran: `client`/`host` rate limit, full
    /// `queue`, `private` target.
    pub fn refused(&self, scope: &'static str) {
        bump(&self.refused, scope, 1);
    }

    /// A check that ended: its status, verdict (`none` without a report),
    /// finding codes, duration and DNS queries.
    pub fn finished(
        &self,
        status: &str,
        verdict: Option<&str>,
        codes: &[String],
        seconds: f64,
        dns_queries: u64,
    ) {
        bump(
            &self.checks,
            (status.to_owned(), verdict.unwrap_or("none").to_owned()),
            1,
        );
        for code in codes {
            bump(&self.findings, code.clone(), 1);
        }
        self.dns_queries.fetch_add(dns_queries, Ordering::Relaxed);
        let mut h = self
            .durations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP dcv_checks_submitted_total Checks accepted into the queue.\n# TYPE dcv_checks_submitted_total counter\ndcv_checks_submitted_total {}",
            self.submitted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dcv_checks_total Checks finished, by status and verdict.\n# TYPE dcv_checks_total counter"
        );
        for ((status, verdict), n) in self
            .checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "dcv_checks_total{{status=\"{}\",verdict=\"{}\"}} {n}",
                label(status),
                label(verdict)
            );
        }
        let _ = writeln!(
            out,
            "# HELP dcv_findings_total Findings reported, by finding code.\n# TYPE dcv_findings_total counter"
        );
        for (code, n) in self
            .findings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "dcv_findings_total{{code=\"{}\"}} {n}", label(code));
        }
        {
            let h = self
                .durations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(
                out,
                "# HELP dcv_check_duration_seconds Wall time of finished checks.\n# TYPE dcv_check_duration_seconds histogram"
            );
            for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "dcv_check_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "dcv_check_duration_seconds_bucket{{le=\"+Inf\"}} {}\ndcv_check_duration_seconds_sum {}\ndcv_check_duration_seconds_count {}",
                h.count, h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP dcv_dns_queries_total DNS queries sent by finished checks.\n# TYPE dcv_dns_queries_total counter\ndcv_dns_queries_total {}",
            self.dns_queries.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dcv_queue_depth Checks waiting for a worker.\n# TYPE dcv_queue_depth gauge\ndcv_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dcv_checks_running Checks running now.\n# TYPE dcv_checks_running gauge\ndcv_checks_running {}",
            self.running.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dcv_refused_total Check requests refused before running, by reason.\n# TYPE dcv_refused_total counter"
        );
        for (scope, n) in self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "dcv_refused_total{{reason=\"{scope}\"}} {n}");
        }
        out
    }
}
