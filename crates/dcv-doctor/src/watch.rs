//! `dcv-doctor watch`: the DCV flow's waiting step. Cloudflare polls until
//! the CA can see the token (cloudflare-dcv.md §1, §1.1); `watch` re-runs the
//! check on the same schedule (or `--interval` / `--schedule`) until the
//! hostname passes for every selected CA and method from every configured
//! perspective, and says what changed at each step: which findings cleared,
//! which appeared, and how far a TXT record has spread ("2 of 4 servers
//! have it").
//!
//! Events are data ([`WatchEvent`]): `--format json` prints one per line,
//! the text form one line each.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use dcv_diagnosis::evidence::DnsLookupEvidence;
use dcv_diagnosis::{CaId, Evidence, FindingCode, Method, Report, Severity, Verdict};
use serde::Serialize;

/// Retries in Cloudflare's documented backoff table (attempts 0-119).
pub const CLOUDFLARE_RETRIES: u32 = 120;

/// Attempts 0-9 grow by 5 % (`60 * 1.05^n` s), later ones by 15 %
/// (`60 * 1.15^n` s), as the table and the custom-hostname schedule say (cloudflare-dcv.md
/// §1.1; the page's formula alone gives only the first phase).
pub const CLOUDFLARE_FIRST_PHASE: u32 = 10;

/// Every wait is capped at 4 hours (the formula's `INTERVAL '4 hours'`).
pub const CLOUDFLARE_CAP: Duration = Duration::from_secs(4 * 3600);

/// Findings that say this machine could not check, not that the domain
/// fails, beyond those the report's own verdict already counts
/// ([`FindingCode::leaves_unchecked`], the vantage preflight): while one is
/// present the hostname is not "ready", and a schedule that ends with one
/// exits 3.
pub const CANNOT_CHECK: &[FindingCode] = &[FindingCode::PerspectiveUnavailable];

/// How the waits were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Cloudflare's DCV retry schedule.
    Cloudflare,
    /// `--interval` (and `--attempts`).
    Interval,
    /// `--schedule`.
    Custom,
}

/// When to check: once at once, then once after each wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub waits: Vec<Duration>,
}

/// Cloudflare's wait before retry `n` (0-based), in whole seconds.
pub fn cloudflare_wait(n: u32) -> Duration {
    let base: f64 = if n < CLOUDFLARE_FIRST_PHASE {
        1.05
    } else {
        1.15
    };
    let exponent = i32::try_from(n).unwrap_or(i32::MAX);
    let secs = (60.0 * base.powi(exponent)).floor();
    let cap = CLOUDFLARE_CAP.as_secs_f64();
    Duration::from_secs_f64(if secs.is_finite() { secs.min(cap) } else { cap })
}

/// Longest single wait `--interval`/`--schedule` accept (a day).
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

fn wait_from(secs: f64, flag: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "{flag} {secs}: a wait is a number of seconds, 0 or more"
        ));
    }
    let d = Duration::from_secs_f64(secs);
    if d > MAX_WAIT {
        return Err(format!(
            "{flag} {secs}: a wait is at most {} s",
            MAX_WAIT.as_secs()
        ));
    }
    Ok(d)
}

impl Schedule {
    /// Cloudflare's: 120 retries, about 14.6 days in all.
    pub fn cloudflare() -> Schedule {
        Schedule {
            kind: ScheduleKind::Cloudflare,
            waits: (0..CLOUDFLARE_RETRIES).map(cloudflare_wait).collect(),
        }
    }

    /// `--interval SECS --attempts N`: N checks, SECS apart.
    pub fn interval(secs: f64, attempts: u32) -> Result<Schedule, String> {
        let wait = wait_from(secs, "--interval")?;
        Ok(Schedule {
            kind: ScheduleKind::Interval,
            waits: vec![wait; usize::try_from(attempts.max(1) - 1).unwrap_or(0)],
        })
    }

    /// `--schedule 5,10,30`.
    pub fn custom(secs: &[f64]) -> Result<Schedule, String> {
        Ok(Schedule {
            kind: ScheduleKind::Custom,
            waits: secs
                .iter()
                .map(|s| wait_from(*s, "--schedule"))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Checks in all: the first, then one per wait.
    pub fn checks(&self) -> usize {
        self.waits.len() + 1
    }

    pub fn total(&self) -> Duration {
        self.waits.iter().sum()
    }
}

/// Where the hostname stands after one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    /// Every selected CA and method would validate, from every perspective.
    Ready,
    /// A finding blocks validation.
    NotReady,
    /// Nothing blocks, but some perspective could not check.
    CannotCheck,
}

/// A finding as events name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FindingRef {
    pub code: FindingCode,
    pub severity: Severity,
    pub summary: String,
}

/// How far a DNS-01 TXT record has spread over the zone's servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// `_acme-challenge.<name>/TXT`.
    pub record: String,
    /// Servers (name@address) that serve every expected value.
    pub have: usize,
    pub of: usize,
    /// The servers that do not yet.
    pub missing_at: Vec<String>,
}

/// One thing `watch` has to say.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// Before the first check.
    Start {
        hostname: String,
        ca: Vec<CaId>,
        method: Vec<Method>,
        schedule: ScheduleKind,
        checks: usize,
        schedule_total_s: f64,
    },
    /// A check whose outcome differs from the previous one (and the first).
    Check {
        /// 1-based.
        attempt: usize,
        elapsed_ms: u64,
        state: WatchState,
        verdict: Verdict,
        /// `<ca> <method>: <codes>` for every blocked CA and method.
        blocked: Vec<String>,
        appeared: Vec<FindingRef>,
        cleared: Vec<FindingRef>,
        progress: Vec<Progress>,
        /// Seconds until the next check (none after the last).
        next_check_in_s: Option<f64>,
    },
    /// The end: ready, or the schedule ran out.
    Done {
        state: WatchState,
        attempts: usize,
        elapsed_ms: u64,
        reason: String,
    },
}

/// What a watch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOutcome {
    pub state: WatchState,
    pub attempts: usize,
}

impl WatchOutcome {
    /// 0 ready, 1 the schedule ran out, 3 could not check.
    pub fn exit_code(self) -> u8 {
        match self.state {
            WatchState::Ready => 0,
            WatchState::NotReady => 1,
            WatchState::CannotCheck => 3,
        }
    }
}

/// The state a report puts the hostname in.
pub fn state_of(report: &Report) -> WatchState {
    if report.verdict == Verdict::Fail {
        WatchState::NotReady
    } else if report.verdict == Verdict::CouldNotCheck
        || report
            .findings
            .iter()
            .any(|f| CANNOT_CHECK.contains(&f.code) || f.code.leaves_unchecked())
    {
        WatchState::CannotCheck
    } else {
        WatchState::Ready
    }
}

fn refs(report: &Report) -> BTreeSet<FindingRef> {
    report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| FindingRef {
            code: f.code,
            severity: f.severity,
            summary: f.summary.clone(),
        })
        .collect()
}

/// Findings are compared by code and severity (summaries carry details that
/// move, such as which servers answer).
fn keys(refs: &BTreeSet<FindingRef>) -> BTreeSet<(FindingCode, Severity)> {
    refs.iter().map(|r| (r.code, r.severity)).collect()
}

fn blocked(report: &Report) -> Vec<String> {
    report
        .ca_verdicts
        .iter()
        .flat_map(|v| {
            v.methods
                .iter()
                .filter(|m| !m.would_validate)
                .map(move |m| {
                    let codes: Vec<&str> = m.blocked_by.iter().map(|c| c.as_str()).collect();
                    format!("{} {}: {}", v.ca, m.method, codes.join(", "))
                })
        })
        .collect()
}

/// The TXT record's spread, from the DNS-01 findings' per-server evidence:
/// a server has it when its answer holds every expected value (any TXT when
/// none is expected).
pub fn progress(report: &Report, expected: &[String]) -> Vec<Progress> {
    let mut seen: Vec<&DnsLookupEvidence> = Vec::new();
    for f in &report.findings {
        if !matches!(
            f.code,
            FindingCode::TxtMissing | FindingCode::TxtMismatch | FindingCode::TxtInconsistent
        ) {
            continue;
        }
        for e in &f.evidence {
            if let Evidence::DnsLookup(d) = e
                && d.query.ends_with("/TXT")
                && !seen.iter().any(|s| s.query == d.query)
            {
                seen.push(d);
            }
        }
    }
    seen.into_iter()
        .map(|d| {
            let mut servers: Vec<(&str, bool)> = Vec::new();
            for s in &d.servers {
                if s.rcode.is_none() || servers.iter().any(|(n, _)| *n == s.server) {
                    continue;
                }
                // `<name> TXT <rdata>`, the rdata quoted or not.
                let values: Vec<&str> = s
                    .answer
                    .iter()
                    .filter_map(|rr| rr.split_once(" TXT ").map(|(_, rd)| rd.trim()))
                    .collect();
                let has = if expected.is_empty() {
                    !values.is_empty()
                } else {
                    expected.iter().all(|v| {
                        values
                            .iter()
                            .any(|rd| *rd == v || rd.trim_matches('"') == v)
                    })
                };
                servers.push((&s.server, has));
            }
            Progress {
                record: d.query.clone(),
                have: servers.iter().filter(|(_, h)| *h).count(),
                of: servers.len(),
                missing_at: servers
                    .iter()
                    .filter(|(_, h)| !*h)
                    .map(|(n, _)| (*n).to_owned())
                    .collect(),
            }
        })
        .collect()
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs `check` on `schedule` until ready, emitting events. `check` runs one
/// full check (here, or with remote perspectives); `expected` are the DNS-01
/// values for the progress count.
pub async fn watch<F, Fut>(
    schedule: &Schedule,
    start: WatchEvent,
    expected: &[String],
    mut check: F,
    mut emit: impl FnMut(&WatchEvent),
) -> WatchOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Report>,
{
    let started = Instant::now();
    emit(&start);
    let mut previous: Option<(BTreeSet<FindingRef>, Vec<Progress>, WatchState)> = None;
    let mut state = WatchState::NotReady;
    let checks = schedule.checks();
    for attempt in 1..=checks {
        let report = check().await;
        state = state_of(&report);
        let now_refs = refs(&report);
        let now_progress = progress(&report, expected);
        let (appeared, cleared) = match &previous {
            None => (now_refs.iter().cloned().collect(), Vec::new()),
            Some((before, _, _)) => {
                let (kb, kn) = (keys(before), keys(&now_refs));
                (
                    now_refs
                        .iter()
                        .filter(|r| !kb.contains(&(r.code, r.severity)))
                        .cloned()
                        .collect::<Vec<_>>(),
                    before
                        .iter()
                        .filter(|r| !kn.contains(&(r.code, r.severity)))
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            }
        };
        let changed = previous.as_ref().is_none_or(|(_, p, s)| {
            !appeared.is_empty() || !cleared.is_empty() || *p != now_progress || *s != state
        });
        let next = (state != WatchState::Ready)
            .then(|| schedule.waits.get(attempt - 1))
            .flatten()
            .copied();
        if changed {
            emit(&WatchEvent::Check {
                attempt,
                elapsed_ms: ms(started),
                state,
                verdict: report.verdict,
                blocked: blocked(&report),
                appeared,
                cleared,
                progress: now_progress.clone(),
                next_check_in_s: next.map(|d| d.as_secs_f64()),
            });
        }
        if state == WatchState::Ready {
            emit(&WatchEvent::Done {
                state,
                attempts: attempt,
                elapsed_ms: ms(started),
                reason: "every selected CA and method would validate".to_owned(),
            });
            return WatchOutcome {
                state,
                attempts: attempt,
            };
        }
        previous = Some((now_refs, now_progress, state));
        if let Some(wait) = next {
            tokio::time::sleep(wait).await;
        }
    }
    emit(&WatchEvent::Done {
        state,
        attempts: checks,
        elapsed_ms: ms(started),
        reason: match state {
            WatchState::CannotCheck => {
                "the schedule ran out while some perspective could not check".to_owned()
            }
            _ => "the schedule ran out before validation could succeed".to_owned(),
        },
    });
    WatchOutcome {
        state,
        attempts: checks,
    }
}

fn secs_text(s: f64) -> String {
    if s >= 2.0 * 86_400.0 {
        format!("{:.1} days", s / 86_400.0)
    } else if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 1.0 || s == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}

/// One line per event, for people.
pub fn render_event(e: &WatchEvent) -> String {
    match e {
        WatchEvent::Start {
            hostname,
            ca,
            method,
            schedule,
            checks,
            schedule_total_s,
        } => {
            let cas: Vec<&str> = ca.iter().map(|c| c.as_str()).collect();
            let methods: Vec<String> = method.iter().map(ToString::to_string).collect();
            let how = match schedule {
                ScheduleKind::Cloudflare => "Cloudflare's DCV retry schedule",
                ScheduleKind::Interval => "a fixed interval",
                ScheduleKind::Custom => "the given schedule",
            };
            format!(
                "watching {hostname} ({} / {}): {checks} checks over {} on {how}",
                cas.join(", "),
                methods.join("+"),
                secs_text(*schedule_total_s)
            )
        }
        WatchEvent::Check {
            attempt,
            elapsed_ms,
            state,
            blocked,
            appeared,
            cleared,
            progress,
            next_check_in_s,
            ..
        } => {
            let mut parts = vec![match state {
                WatchState::Ready => "ready".to_owned(),
                WatchState::NotReady => format!("not ready ({})", blocked.join("; ")),
                WatchState::CannotCheck => "could not check from here".to_owned(),
            }];
            let list = |v: &[FindingRef]| {
                v.iter()
                    .map(|r| r.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !cleared.is_empty() {
                parts.push(format!("cleared {}", list(cleared)));
            }
            if !appeared.is_empty() {
                parts.push(format!("appeared {}", list(appeared)));
            }
            for p in progress {
                parts.push(format!(
                    "{}: {} of {} servers have it",
                    p.record, p.have, p.of
                ));
            }
            if let Some(n) = next_check_in_s {
                parts.push(format!("next check in {}", secs_text(*n)));
            }
            format!(
                "[{}] check {attempt}: {}",
                secs_text(Duration::from_millis(*elapsed_ms).as_secs_f64()),
                parts.join("; ")
            )
        }
        WatchEvent::Done {
            state,
            attempts,
            reason,
            ..
        } => format!(
            "{} after {attempts} check{}: {reason}",
            match state {
                WatchState::Ready => "READY",
                WatchState::NotReady => "GAVE UP",
                WatchState::CannotCheck => "COULD NOT CHECK",
            },
            if *attempts == 1 { "" } else { "s" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table on Cloudflare's "Validation backoff schedule" page.
    #[test]
    fn the_cloudflare_schedule_matches_its_table() {
        let first: Vec<u64> = (0..10).map(|n| cloudflare_wait(n).as_secs()).collect();
        assert_eq!(first, [60, 63, 66, 69, 72, 76, 80, 84, 88, 93]);
        assert_eq!(cloudflare_wait(10).as_secs(), 242);
        assert_eq!(cloudflare_wait(11).as_secs(), 279);
        assert_eq!(cloudflare_wait(39).as_secs(), 13_975);
        assert_eq!(cloudflare_wait(40), CLOUDFLARE_CAP);
        assert_eq!(cloudflare_wait(119), CLOUDFLARE_CAP);
        let s = Schedule::cloudflare();
        assert_eq!(s.checks(), 121);
        // "attempts 0-9 take about 12.5 min, 0-39 about 29.5 h, 0-119 about 14.6 days".
        let minutes = |n: usize| s.waits[..n].iter().sum::<Duration>().as_secs_f64() / 60.0;
        assert!((minutes(10) - 12.5).abs() < 0.2, "{}", minutes(10));
        assert!(
            (minutes(40) / 60.0 - 29.5).abs() < 0.2,
            "{}",
            minutes(40) / 60.0
        );
        assert!(
            (minutes(120) / 1440.0 - 14.6).abs() < 0.1,
            "{}",
            minutes(120) / 1440.0
        );
    }

    #[test]
    fn events_read_as_one_line_each() {
        let e = WatchEvent::Check {
            attempt: 2,
            elapsed_ms: 1500,
            state: WatchState::NotReady,
            verdict: Verdict::Fail,
            blocked: vec!["letsencrypt dns: txt_inconsistent".to_owned()],
            appeared: vec![FindingRef {
                code: FindingCode::TxtInconsistent,
                severity: Severity::Error,
                summary: "x".to_owned(),
            }],
            cleared: vec![FindingRef {
                code: FindingCode::TxtMissing,
                severity: Severity::Error,
                summary: "y".to_owned(),
            }],
            progress: vec![Progress {
                record: "_acme-challenge.www.example.com/TXT".to_owned(),
                have: 2,
                of: 4,
                missing_at: Vec::new(),
            }],
            next_check_in_s: Some(63.0),
        };
        assert_eq!(
            render_event(&e),
            "[2 s] check 2: not ready (letsencrypt dns: txt_inconsistent); cleared txt_missing; appeared txt_inconsistent; _acme-challenge.www.example.com/TXT: 2 of 4 servers have it; next check in 63 s"
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "check");
        assert_eq!(json["progress"][0]["have"], 2);
    }

    #[test]
    fn overrides_are_checked() {
        let s = Schedule::interval(0.5, 4).unwrap();
        assert_eq!(s.checks(), 4);
        assert_eq!(s.total(), Duration::from_millis(1500));
        assert_eq!(Schedule::custom(&[1.0, 2.0]).unwrap().checks(), 3);
        assert!(Schedule::interval(-1.0, 3).is_err());
        assert!(Schedule::custom(&[f64::NAN]).is_err());
        assert!(Schedule::custom(&[100_000.0]).is_err());
    }
}
