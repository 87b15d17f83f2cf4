//! Multi-Perspective Issuance Corroboration (CA/B Forum BR 3.2.2.9) as pure
//! policy: the quorum table, the phase-in of the minimum remote count and the
//! two-RIR rule by date, CA profiles (Let's Encrypt's Boulder rules), and a
//! deterministic summary in the shape of Boulder's `mpicSummary`. No I/O: the
//! caller says what each remote perspective saw.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// A Regional Internet Registry service region (BR 3.2.2.9: a perspective's
/// resolver must sit in the same RIR region as the perspective).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Rir {
    Arin,
    Ripe,
    Apnic,
    Lacnic,
    Afrinic,
}

impl Rir {
    /// Every RIR, in a fixed order.
    pub const ALL: [Rir; 5] = [Rir::Arin, Rir::Ripe, Rir::Apnic, Rir::Lacnic, Rir::Afrinic];

    /// The upper-case label (`ARIN`, `RIPE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Rir::Arin => "ARIN",
            Rir::Ripe => "RIPE",
            Rir::Apnic => "APNIC",
            Rir::Lacnic => "LACNIC",
            Rir::Afrinic => "AFRINIC",
        }
    }
}

impl fmt::Display for Rir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RIR label that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRir(pub String);

impl fmt::Display for UnknownRir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown RIR {:?}: expected ARIN, RIPE, APNIC, LACNIC or AFRINIC",
            self.0
        )
    }
}

impl std::error::Error for UnknownRir {}

impl FromStr for Rir {
    type Err = UnknownRir;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rir::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRir(s.to_owned()))
    }
}

/// What BR 3.2.2.9 requires of a CA on a given date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// The date the requirements were computed for (`YYYY-MM-DD`).
    pub as_of: String,
    /// The phase's start date, or `None` before MPIC was required.
    pub phase_since: Option<String>,
    /// Minimum number of remote perspectives the CA must use.
    pub min_remotes: usize,
    /// Whether a failed quorum stops issuance (from 2025-09-15).
    pub quorum_enforced: bool,
    /// Minimum number of distinct RIRs among corroborating perspectives
    /// (2 from 2026-03-15).
    pub min_rirs: usize,
}

fn date(y: i32, m: Month, d: u8) -> Date {
    // The phase dates below are valid calendar dates; the fallback is unreachable.
    Date::from_calendar_date(y, m, d).unwrap_or(Date::MIN)
}

fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// BR 3.2.2.9 phase-in: (start, minimum remotes, quorum enforced, minimum RIRs).
fn phases() -> [(Date, usize, bool, usize); 5] {
    [
        (date(2025, Month::March, 15), 2, false, 0),
        (date(2025, Month::September, 15), 2, true, 0),
        (date(2026, Month::March, 15), 3, true, 2),
        (date(2026, Month::June, 15), 4, true, 2),
        (date(2026, Month::December, 15), 5, true, 2),
    ]
}

/// The BR 3.2.2.9 requirements in force on `as_of`.
pub fn requirements(as_of: Date) -> Requirements {
    let mut req = Requirements {
        as_of: iso(as_of),
        phase_since: None,
        min_remotes: 0,
        quorum_enforced: false,
        min_rirs: 0,
    };
    for (start, min_remotes, enforced, min_rirs) in phases() {
        if as_of >= start {
            req.phase_since = Some(iso(start));
            req.min_remotes = min_remotes;
            req.quorum_enforced = enforced;
            req.min_rirs = min_rirs;
        }
    }
    req
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &format).map_err(|e| format!("{s:?} is not a YYYY-MM-DD date: {e}"))
}

/// BR 3.2.2.9 quorum table: how many remote perspectives may fail to
/// corroborate. 2-5 remotes: 1; 6 or more: 2; fewer than 2: none (Boulder's
/// `maxAllowedFailures`).
pub fn max_allowed_failures(remotes: usize) -> usize {
    match remotes {
        0 | 1 => 0,
        2..=5 => 1,
        _ => 2,
    }
}

/// How a CA runs MPIC beyond the BR minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaProfile {
    /// The BR 3.2.2.9 minimum for the date, nothing more.
    Br,
    /// Let's Encrypt (Boulder `va.go` `doRemoteOperation`): remotes are asked
    /// only after the primary passes; at least 3 remotes and corroboration from
    /// 2 RIRs, always enforced; the first remote problem is shown prefixed
    /// `During secondary validation: `.
    LetsEncrypt,
}

impl CaProfile {
    /// Whether the CA asks remotes only after the primary perspective passed.
    pub fn remotes_after_primary(self) -> bool {
        matches!(self, CaProfile::LetsEncrypt)
    }

    /// The prefix the CA puts before the first remote problem it shows.
    pub fn error_prefix(self) -> &'static str {
        match self {
            CaProfile::LetsEncrypt => "During secondary validation: ",
            CaProfile::Br => "",
        }
    }

    /// The requirements this CA applies on top of the BR's for the date.
    pub fn apply(self, mut req: Requirements) -> Requirements {
        if self == CaProfile::LetsEncrypt {
            req.min_remotes = req.min_remotes.max(3);
            req.min_rirs = req.min_rirs.max(2);
            req.quorum_enforced = true;
        }
        req
    }
}

/// Which result a perspective corroborates (BR 3.2.2.9 covers both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The CAA decision: corroborates when the remote's CAA answer also means
    /// permission (BR 3.2.2.9, 3.2.2.8).
    Caa,
    /// Domain control validation: corroborates when the remote sees the same
    /// token or TXT value (BR 3.2.2.9 and the method texts of 3.2.2.4).
    Dcv,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Caa => "caa",
            Check::Dcv => "dcv",
        })
    }
}

/// What one remote perspective's result means for the primary's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Corroboration {
    /// The remote reached the same result as the primary.
    Corroborates,
    /// The remote saw something else; `detail` says what.
    Differs { detail: String },
    /// The perspective could not be asked (down, refused, timed out). A CA
    /// counts it as a failure; a diagnosis must not blame the domain for it.
    Unavailable { detail: String },
}

/// One remote perspective's answer for one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteResult {
    pub name: String,
    /// `None` when not known (an agent given by URL that never answered).
    pub rir: Option<Rir>,
    pub corroboration: Corroboration,
}

/// The quorum decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuorumOutcome {
    /// Enough remotes corroborate, from enough RIRs.
    Met,
    /// Remotes that answered disagree beyond what the quorum allows, or the
    /// corroborations all come from too few RIRs: the CA would refuse.
    NotMet,
    /// Not met, but on the date given a failed quorum does not stop issuance
    /// (BR 3.2.2.9, 2025-03-15 to 2025-09-14).
    NotMetNotEnforced,
    /// The primary perspective fails, so there is nothing to corroborate (and
    /// Let's Encrypt never asks the remotes).
    NotAttempted,
    /// Cannot be decided from what was gathered: too few perspectives
    /// configured or answering, or too few RIRs configured. Not the domain's fault.
    Inconclusive,
}

/// A deterministic quorum summary for one CA, method and check, in the shape
/// of Boulder's `mpicSummary` (names sorted, `passed/total`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumSummary {
    pub ca: String,
    pub method: String,
    pub check: Check,
    pub outcome: QuorumOutcome,
    /// `passed/total` over every configured remote, as Boulder logs it.
    pub quorum_result: String,
    pub passed_perspectives: Vec<String>,
    pub failed_perspectives: Vec<String>,
    pub unavailable_perspectives: Vec<String>,
    pub passed_rirs: Vec<Rir>,
    pub max_allowed_failures: usize,
    pub min_remotes: usize,
    pub min_rirs: usize,
    /// One sentence explaining the outcome.
    pub reason: String,
    /// The first remote problem in name order, with the CA's prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

fn sorted_names(
    remotes: &[RemoteResult],
    pick: impl Fn(&Corroboration) -> bool,
) -> Vec<&RemoteResult> {
    let mut v: Vec<&RemoteResult> = remotes.iter().filter(|r| pick(&r.corroboration)).collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn rirs<'a>(rs: impl IntoIterator<Item = &'a RemoteResult>) -> BTreeSet<Rir> {
    rs.into_iter().filter_map(|r| r.rir).collect()
}

/// Applies BR 3.2.2.9 (with `profile`'s additions and `req` for the date) to
/// the remote results of one check. `primary_passed`: whether the primary
/// perspective's own result for this check is a pass.
pub fn evaluate(
    ca: &str,
    method: &str,
    check: Check,
    profile: CaProfile,
    req: &Requirements,
    primary_passed: bool,
    remotes: &[RemoteResult],
) -> QuorumSummary {
    let req = profile.apply(req.clone());
    let total = remotes.len();
    let max_fail = max_allowed_failures(total);
    let passed = sorted_names(remotes, |c| matches!(c, Corroboration::Corroborates));
    let failed = sorted_names(remotes, |c| matches!(c, Corroboration::Differs { .. }));
    let unavailable = sorted_names(remotes, |c| matches!(c, Corroboration::Unavailable { .. }));
    let passed_rirs = rirs(passed.iter().copied());
    let names = |v: &[&RemoteResult]| v.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    let first_error = failed.first().and_then(|r| match &r.corroboration {
        Corroboration::Differs { detail } => Some(format!("{}{detail}", profile.error_prefix())),
        _ => None,
    });
    let required = total - max_fail;
    let (outcome, reason) = if !primary_passed {
        let why = if profile.remotes_after_primary() {
            "the primary perspective fails, so the CA never asks the remote perspectives"
        } else {
            "the primary perspective fails; no corroboration can make it pass"
        };
        (QuorumOutcome::NotAttempted, why.to_owned())
    } else if failed.len() > max_fail {
        let why = format!(
            "{} of {total} remote perspectives disagree with the primary; BR 3.2.2.9 allows {max_fail}",
            failed.len()
        );
        if req.quorum_enforced {
            (QuorumOutcome::NotMet, why)
        } else {
            (
                QuorumOutcome::NotMetNotEnforced,
                format!("{why} (not enforced before 2025-09-15)"),
            )
        }
    } else if total < req.min_remotes {
        (
            QuorumOutcome::Inconclusive,
            format!(
                "{total} remote perspectives configured; {} requires at least {} as of {}",
                if profile == CaProfile::LetsEncrypt {
                    "this CA"
                } else {
                    "BR 3.2.2.9"
                },
                req.min_remotes,
                req.as_of
            ),
        )
    } else if passed.len() < required {
        (
            QuorumOutcome::Inconclusive,
            format!(
                "{} of {total} remote perspectives did not answer; {required} corroborations needed",
                unavailable.len()
            ),
        )
    } else if passed_rirs.len() < req.min_rirs {
        let configured = rirs(remotes);
        let without_failed = rirs(passed.iter().chain(unavailable.iter()).copied());
        if configured.len() < req.min_rirs {
            (
                QuorumOutcome::Inconclusive,
                format!(
                    "the configured perspectives cover {} RIR(s); {} needed",
                    configured.len(),
                    req.min_rirs
                ),
            )
        } else if without_failed.len() < req.min_rirs {
            let why = format!(
                "corroborating perspectives cover {} RIR(s); at least {} needed",
                passed_rirs.len(),
                req.min_rirs
            );
            if req.quorum_enforced {
                (QuorumOutcome::NotMet, why)
            } else {
                (QuorumOutcome::NotMetNotEnforced, why)
            }
        } else {
            (
                QuorumOutcome::Inconclusive,
                format!(
                    "corroborating perspectives cover {} RIR(s) because some did not answer; {} needed",
                    passed_rirs.len(),
                    req.min_rirs
                ),
            )
        }
    } else {
        (
            QuorumOutcome::Met,
            format!(
                "{} of {total} remote perspectives corroborate ({required} needed) from {} RIR(s)",
                passed.len(),
                passed_rirs.len()
            ),
        )
    };
    QuorumSummary {
        ca: ca.to_owned(),
        method: method.to_owned(),
        check,
        outcome,
        quorum_result: format!("{}/{total}", passed.len()),
        passed_perspectives: names(&passed),
        failed_perspectives: names(&failed),
        unavailable_perspectives: names(&unavailable),
        passed_rirs: passed_rirs.into_iter().collect(),
        max_allowed_failures: max_fail,
        min_remotes: req.min_remotes,
        min_rirs: req.min_rirs,
        reason,
        first_error,
    }
}

/// A remote perspective as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PerspectiveInfo {
    pub name: String,
    pub region: String,
    /// `None` when not known (an agent given by URL that never answered).
    pub rir: Option<Rir>,
    /// `ok`, or why the perspective could not be asked.
    pub status: String,
}

/// The MPIC part of a report: the requirements used, every perspective, and
/// one quorum summary per CA, method and check, all sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpicReport {
    pub requirements: Requirements,
    pub perspectives: Vec<PerspectiveInfo>,
    pub quorums: Vec<QuorumSummary>,
}

impl MpicReport {
    /// Builds a report with perspectives and quorums in a deterministic order.
    pub fn new(
        requirements: Requirements,
        mut perspectives: Vec<PerspectiveInfo>,
        mut quorums: Vec<QuorumSummary>,
    ) -> MpicReport {
        perspectives.sort();
        quorums.sort_by(|a, b| {
            (a.ca.as_str(), a.method.as_str(), a.check).cmp(&(
                b.ca.as_str(),
                b.method.as_str(),
                b.check,
            ))
        });
        MpicReport {
            requirements,
            perspectives,
            quorums,
        }
    }
}
