//! What a batch found, in totals of fixed size whatever the input's length:
//! verdicts overall and per CA, the blocking finding codes, the slowest
//! zones, the bad lines by kind, the rate and the peak memory. Printed on
//! stderr at the end and, with `--summary-json`, written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use dcv_diagnosis::{CaId, FindingCode, Report, Severity, Verdict};
use dcv_dns::SharedCacheStats;
use serde::Serialize;

use super::input::LineErrorKind;

/// Zones the summary lists as slowest (and the most it keeps while running).
pub const SLOWEST_ZONES: usize = 10;

/// Blocking codes the text summary lists; the JSON has every one (at most
/// the finding catalogue's size).
const BLOCKING_SHOWN: usize = 10;

/// What one record adds to the summary, taken from its report where the
/// check ran (so the report itself need not be kept).
#[derive(Debug, Clone)]
pub enum RecordFacts {
    Checked {
        hostname: String,
        verdict: Verdict,
        /// Whether each CA would validate.
        cas: Vec<(CaId, bool)>,
        /// The codes of error findings that block some CA, once each.
        blocking: Vec<FindingCode>,
        /// The whole check's wall time (`timings_ms.total`, or `mpic` when
        /// remote perspectives were asked too).
        total_ms: u64,
        zone: Option<String>,
    },
    BadLine(LineErrorKind),
}

impl RecordFacts {
    pub fn of_report(report: &Report, zone: Option<String>) -> Self {
        let mut blocking: Vec<FindingCode> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error && !f.blocks.is_empty())
            .map(|f| f.code)
            .collect();
        blocking.sort();
        blocking.dedup();
        let timing = |key: &str| report.timings_ms.get(key).copied();
        Self::Checked {
            hostname: report.hostname.clone(),
            verdict: report.verdict,
            cas: report
                .ca_verdicts
                .iter()
                .map(|v| (v.ca, v.would_validate))
                .collect(),
            blocking,
            total_ms: timing("mpic").or_else(|| timing("total")).unwrap_or(0),
            zone,
        }
    }

    /// Whether the record counts against the exit status as a failure.
    pub fn failed(&self) -> bool {
        matches!(
            self,
            Self::Checked {
                verdict: Verdict::Fail,
                ..
            }
        )
    }

    pub fn is_bad_line(&self) -> bool {
        matches!(self, Self::BadLine(_))
    }
}

/// One CA's verdicts over the batch.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CaTally {
    pub would_validate: u64,
    pub would_not: u64,
}

/// A zone among the slowest: its slowest check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneTiming {
    /// The zone that holds the hostname (its closest zone cut).
    pub zone: String,
    pub slowest_check_ms: u64,
    /// The hostname and input line of that check.
    pub hostname: String,
    pub line: u64,
}

/// Totals for the summary and the exit status.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct BatchSummary {
    /// Records written: checks and bad lines.
    pub records: u64,
    pub pass: u64,
    pub warn: u64,
    pub fail: u64,
    /// Hostnames that could not be checked from this machine (no network,
    /// DNS blocked or intercepted: the vantage preflight's verdict).
    pub unchecked: u64,
    /// Lines that are not checks (their record carries `error`).
    pub bad_lines: u64,
    pub bad_lines_by_kind: BTreeMap<LineErrorKind, u64>,
    /// Per CA: how many checked hostnames it would validate and refuse.
    pub per_ca: BTreeMap<CaId, CaTally>,
    /// How many hostnames each blocking finding code stopped.
    pub blocking: BTreeMap<FindingCode, u64>,
    /// The zones whose slowest check took longest, slowest first (at most
    /// [`SLOWEST_ZONES`]).
    pub slowest_zones: Vec<ZoneTiming>,
    /// Checks whose zone was not learnt (IP literals, a timed-out walk, a
    /// healthy report from remote perspectives) and so are in no zone.
    pub checks_without_zone: u64,
    /// From the first line read to the last record written.
    pub elapsed_ms: u64,
    /// Checks (bad lines not counted) per second of `elapsed_ms`.
    pub checks_per_second: f64,
    /// The process's peak resident memory (Linux `VmHWM`), when known.
    pub peak_rss_kib: Option<u64>,
    /// CPU time this process used (user + system, Linux), when known: the
    /// cost of the checks whatever else shares the machine.
    pub cpu_ms: Option<u64>,
    /// What the shared infrastructure cache saved (absent with
    /// `--isolated`): the platform's view of why a batch is cheaper per
    /// hostname than one `check` each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_cache: Option<SharedCacheStats>,
}

impl BatchSummary {
    pub fn add(&mut self, line: u64, facts: RecordFacts) {
        self.records += 1;
        match facts {
            RecordFacts::BadLine(kind) => {
                self.bad_lines += 1;
                *self.bad_lines_by_kind.entry(kind).or_default() += 1;
            }
            RecordFacts::Checked {
                hostname,
                verdict,
                cas,
                blocking,
                total_ms,
                zone,
            } => {
                match verdict {
                    Verdict::Pass => self.pass += 1,
                    Verdict::Warn => self.warn += 1,
                    Verdict::Fail => self.fail += 1,
                    Verdict::CouldNotCheck => self.unchecked += 1,
                }
                for (ca, ok) in cas {
                    let tally = self.per_ca.entry(ca).or_default();
                    if ok {
                        tally.would_validate += 1;
                    } else {
                        tally.would_not += 1;
                    }
                }
                for code in blocking {
                    *self.blocking.entry(code).or_default() += 1;
                }
                match zone {
                    Some(zone) => self.note_zone(zone, total_ms, hostname, line),
                    None => self.checks_without_zone += 1,
                }
            }
        }
    }

    /// Keeps the [`SLOWEST_ZONES`] zones with the slowest check seen. Exact
    /// for that ranking with bounded memory: a zone dropped for a faster one
    /// can only come back with a check slower than every one kept, which is
    /// then its slowest.
    fn note_zone(&mut self, zone: String, ms: u64, hostname: String, line: u64) {
        let kept = &mut self.slowest_zones;
        if let Some(z) = kept.iter_mut().find(|z| z.zone == zone) {
            if ms > z.slowest_check_ms {
                z.slowest_check_ms = ms;
                z.hostname = hostname;
                z.line = line;
            }
            return;
        }
        let entry = ZoneTiming {
            zone,
            slowest_check_ms: ms,
            hostname,
            line,
        };
        if kept.len() < SLOWEST_ZONES {
            kept.push(entry);
        } else if let Some(fastest) = kept.iter_mut().min_by_key(|z| z.slowest_check_ms)
            && ms > fastest.slowest_check_ms
        {
            *fastest = entry;
        }
    }

    /// Checks made (bad lines not counted).
    pub fn checks(&self) -> u64 {
        self.pass + self.warn + self.fail + self.unchecked
    }

    /// Sets the rate and the peak memory, and orders the slowest zones.
    pub fn finish(&mut self, elapsed: std::time::Duration) {
        self.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let secs = elapsed.as_secs_f64();
        #[allow(clippy::cast_precision_loss)] // a count of checks, far below 2^52
        let checks = self.checks() as f64;
        self.checks_per_second = if secs > 0.0 { checks / secs } else { 0.0 };
        self.peak_rss_kib = peak_rss_kib();
        self.cpu_ms = cpu_ms();
        self.slowest_zones.sort_by(|a, b| {
            b.slowest_check_ms
                .cmp(&a.slowest_check_ms)
                .then(a.zone.cmp(&b.zone))
        });
    }

    /// Whether every hostname would validate (warnings allowed).
    pub fn all_validate(&self) -> bool {
        self.fail == 0 && self.bad_lines == 0
    }

    /// `batch: 12 hostnames: 9 pass, 1 warn, 1 fail, 1 bad lines; blocking: caa_forbids 1`
    pub fn line(&self) -> String {
        let mut out = format!(
            "batch: {} hostnames: {} pass, {} warn, {} fail, {} bad lines",
            self.records, self.pass, self.warn, self.fail, self.bad_lines
        );
        if self.unchecked > 0 {
            let _ = write!(out, ", {} could not be checked from here", self.unchecked);
        }
        if !self.blocking.is_empty() {
            let parts: Vec<String> = self
                .top_blocking()
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            out.push_str("; blocking: ");
            out.push_str(&parts.join(", "));
        }
        out
    }

    fn top_blocking(&self) -> Vec<(FindingCode, u64)> {
        let mut top: Vec<(FindingCode, u64)> =
            self.blocking.iter().map(|(c, n)| (*c, *n)).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(BLOCKING_SHOWN);
        top
    }

    /// The summary for stderr: [`BatchSummary::line`], then the rate and
    /// memory, verdicts per CA, the most common blocking codes, the slowest
    /// zones and the bad lines by kind.
    pub fn render(&self) -> String {
        let mut out = self.line();
        out.push('\n');
        let _ = write!(
            out,
            "  {} checks in {:.1} s ({:.1} checks/s)",
            self.checks(),
            std::time::Duration::from_millis(self.elapsed_ms).as_secs_f64(),
            self.checks_per_second
        );
        if let Some(kib) = self.peak_rss_kib {
            #[allow(clippy::cast_precision_loss)] // memory sizes, far below 2^52
            let mib = kib as f64 / 1024.0;
            let _ = write!(out, ", peak memory {mib:.1} MiB");
        }
        out.push('\n');
        if !self.per_ca.is_empty() {
            let _ = writeln!(
                out,
                "  {:<14}{:>16}{:>12}",
                "CA", "would validate", "would not"
            );
            for (ca, t) in &self.per_ca {
                let _ = writeln!(
                    out,
                    "  {:<14}{:>16}{:>12}",
                    ca.as_str(),
                    t.would_validate,
                    t.would_not
                );
            }
        }
        if !self.blocking.is_empty() {
            let _ = writeln!(
                out,
                "  {:<34}{:>10}",
                "most common blocking findings", "hostnames"
            );
            for (code, n) in self.top_blocking() {
                let _ = writeln!(out, "  {:<34}{n:>10}", code.as_str());
            }
        }
        if !self.slowest_zones.is_empty() {
            let _ = writeln!(
                out,
                "  {:<34}{:>14}  hostname (line)",
                "slowest zones", "slowest check"
            );
            for z in &self.slowest_zones {
                let _ = writeln!(
                    out,
                    "  {:<34}{:>11} ms  {} ({})",
                    z.zone, z.slowest_check_ms, z.hostname, z.line
                );
            }
        }
        if let Some(c) = &self.shared_cache {
            let _ = writeln!(
                out,
                "  shared cache: reused {} zone cuts, {} zone key sets and {} path probes; fetched {} key sets (--isolated checks every hostname cold)",
                c.cut_hits, c.key_hits, c.probe_hits, c.key_fetches
            );
        }
        if !self.bad_lines_by_kind.is_empty() {
            let parts: Vec<String> = self
                .bad_lines_by_kind
                .iter()
                .map(|(kind, n)| {
                    let kind = serde_json::to_value(kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    format!("{kind} {n}")
                })
                .collect();
            let _ = writeln!(out, "  bad lines by kind: {}", parts.join(", "));
        }
        out
    }
}

/// This process's peak resident set size (`VmHWM` in `/proc/self/status`,
/// Linux), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Clock ticks per second in `/proc/*/stat` (`USER_HZ`): fixed at 100 by
/// the Linux user-space ABI whatever the kernel's own tick (`man 5 proc`).
const USER_HZ: u64 = 100;

/// This process's CPU time so far, user plus system, in ms (fields 14 and 15
/// of `/proc/self/stat`, Linux; all threads).
pub fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count from its `)`.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    // After `)`: state is field 3, so utime (14) is the 12th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 1000 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(zone: &str, ms: u64, host: &str) -> RecordFacts {
        RecordFacts::Checked {
            hostname: host.to_owned(),
            verdict: Verdict::Pass,
            cas: vec![(CaId::Letsencrypt, true)],
            blocking: Vec::new(),
            total_ms: ms,
            zone: Some(zone.to_owned()),
        }
    }

    #[test]
    fn the_slowest_zones_are_kept_exactly_in_bounded_memory() {
        let mut summary = BatchSummary::default();
        // 100 zones, each with a fast and a slow check; zone i's slowest is 10*i ms.
        let mut line = 0;
        for round in 0..2u64 {
            for i in 0..100u64 {
                line += 1;
                let ms = if round == 0 { i } else { 10 * i };
                summary.add(
                    line,
                    checked(&format!("z{i}.example."), ms, &format!("h{i}-{round}")),
                );
                assert!(summary.slowest_zones.len() <= SLOWEST_ZONES);
            }
        }
        summary.finish(std::time::Duration::from_secs(1));
        let zones: Vec<(&str, u64)> = summary
            .slowest_zones
            .iter()
            .map(|z| (z.zone.as_str(), z.slowest_check_ms))
            .collect();
        let expected: Vec<(String, u64)> = (90..100u64)
            .rev()
            .map(|i| (format!("z{i}.example."), 10 * i))
            .collect();
        let expected: Vec<(&str, u64)> = expected.iter().map(|(z, m)| (z.as_str(), *m)).collect();
        assert_eq!(zones, expected);
        assert_eq!(summary.slowest_zones[0].hostname, "h99-1");
        assert_eq!(summary.checks(), 200);
        assert_eq!(summary.per_ca[&CaId::Letsencrypt].would_validate, 200);
    }

    #[test]
    fn the_shared_cache_line_is_there_only_with_a_shared_cache() {
        let mut summary = BatchSummary::default();
        assert!(!summary.render().contains("shared cache"));
        summary.shared_cache = Some(SharedCacheStats {
            cut_hits: 7,
            key_hits: 5,
            key_fetches: 3,
            probe_hits: 11,
            ..SharedCacheStats::default()
        });
        let text = summary.render();
        assert!(
            text.contains("shared cache: reused 7 zone cuts, 5 zone key sets and 11 path probes; fetched 3 key sets"),
            "{text}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["shared_cache"]["probe_hits"], 11, "{json}");
    }

    #[test]
    fn peak_memory_is_read_on_linux() {
        assert!(peak_rss_kib().is_some_and(|kib| kib > 0));
        // Burn some CPU so the count is not zero, then check it moves.
        let before = cpu_ms().expect("cpu time");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_ms().expect("cpu time") >= before);
    }
}
