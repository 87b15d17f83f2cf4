//! Multi-Perspective Issuance Corroboration (CA/B Forum BR 3.2.2.9): what
//! the remote perspectives' reports mean for the primary's. The coordinator
//! (`dcv-doctor check --perspectives`) asks the agents; this module, like
//! every rule, does no I/O: it takes the primary's report and each
//! perspective's outcome, applies the quorum of `dcv-mpic` per CA, method and
//! check, and adds the `mpic_*` and `perspective_unavailable` findings with
//! the CA's exact message.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use dcv_mpic::{
    CaProfile, Check, Corroboration, MpicReport, PerspectiveInfo, QuorumOutcome, QuorumSummary,
    RemoteResult, Rir,
};
use serde::{Deserialize, Serialize};

use crate::model::{Evidence, Finding, Method, Report, Severity, Verdict, WhoFixes};
use crate::{CaId, FindingCode};

/// Cloudflare's `validation_errors` message for a CAA MPIC failure.
pub const CLOUDFLARE_MPIC_CAA: &str = "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries from all geographic perspectives";
/// Cloudflare's `validation_errors` message for a DCV MPIC failure.
pub const CLOUDFLARE_MPIC_DCV: &str = "Certificate authority was unable to verify domain ownership from multiple geographic locations (MPIC failure). Please ensure your DNS records are reachable from all geographic perspectives and try again.";
/// Reference for every MPIC finding.
const REFERENCE: &str = "BR 3.2.2.9 (Multi-Perspective Issuance Corroboration); Cloudflare validation_errors (cloudflare-dcv.md §5); Boulder va/va.go doRemoteOperation";

/// Why a remote perspective gave no report, as the coordinator met it. A CA
/// counts each of these as a failed perspective (BR 3.2.2.9); for the
/// prediction it is one perspective fewer, never a verdict on the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PerspectiveFailure {
    /// No answer within the perspective's deadline.
    Timeout { after_ms: u64, busy_answers: u32 },
    /// The TCP connection could not be made (refused, unreachable).
    Unreachable { detail: String },
    /// The TLS handshake failed (wrong pinned certificate, bad protocol).
    Tls { detail: String },
    /// The agent answered 503 (busy) until the deadline left no time to ask
    /// again.
    Busy { busy_answers: u32, detail: String },
    /// The agent refused the check with another status (401, 403, 400, ...).
    Refused { status: u16, detail: String },
    /// The exchange broke or the answer could not be read as a report.
    Unreadable { detail: String },
    /// The agent says it is in another RIR than the perspectives file lists.
    Misconfigured { listed: Rir, says: Rir },
}

impl std::fmt::Display for PerspectiveFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let busy = |n: u32| match n {
            0 => String::new(),
            n => format!(" (after {})", busy_answers_text(n)),
        };
        match self {
            Self::Timeout {
                after_ms,
                busy_answers,
            } => write!(
                f,
                "timed out after {}s{}",
                Duration::from_millis(*after_ms).as_secs_f32(),
                busy(*busy_answers)
            ),
            Self::Unreachable { detail } => write!(f, "unreachable: {detail}"),
            Self::Tls { detail } => write!(f, "TLS failed: {detail}"),
            Self::Busy {
                busy_answers,
                detail,
            } => write!(
                f,
                "agent answered 503 Service Unavailable: {detail}{}",
                busy(*busy_answers)
            ),
            Self::Refused { status, detail } => write!(f, "agent answered {status}: {detail}"),
            Self::Unreadable { detail } => write!(f, "unreadable agent answer: {detail}"),
            Self::Misconfigured { listed, says } => {
                write!(
                    f,
                    "misconfigured: listed in {listed} but the agent says {says}"
                )
            }
        }
    }
}

/// "1 busy answer", "3 busy answers".
fn busy_answers_text(n: u32) -> String {
    if n == 1 {
        "1 busy answer".to_owned()
    } else {
        format!("{n} busy answers")
    }
}

/// What one remote perspective gave the coordinator.
#[derive(Debug, Clone)]
pub struct PerspectiveOutcome {
    pub name: String,
    /// The agent's URL (for the finding's evidence).
    pub url: String,
    /// As listed, or as the agent says when the listing has none.
    pub region: String,
    pub rir: Option<Rir>,
    /// Times the agent answered 503 busy before the outcome: a slow
    /// perspective, not a missing one, unless the deadline came first.
    pub busy_answers: u32,
    pub answer: Result<Report, PerspectiveFailure>,
}

impl PerspectiveOutcome {
    /// The status line the MPIC summary shows for it.
    fn status(&self) -> String {
        match (&self.answer, self.busy_answers) {
            (Ok(_), 0) => "ok".to_owned(),
            (Ok(_), n) => format!("ok (after {})", busy_answers_text(n)),
            (Err(why), _) => format!("unavailable: {why}"),
        }
    }
}

/// Which check a blocking finding belongs to: CAA codes corroborate the CAA
/// decision, everything else the domain control validation.
fn check_of(code: FindingCode) -> Check {
    match code {
        FindingCode::CaaForbids
        | FindingCode::CaaCriticalUnknown
        | FindingCode::CaaLookupFailed => Check::Caa,
        _ => Check::Dcv,
    }
}

/// The error findings in `report` that stop `ca` on `method` for `check`.
fn blocking(report: &Report, ca: CaId, method: Method, check: Check) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| f.blocks.contains(&ca))
        .filter(|f| f.method.is_none_or(|m| m == method))
        .filter(|f| check_of(f.code) == check)
        .filter(|f| !is_mpic(f.code))
        .collect()
}

/// Whether a remote report is about the same name, CA and method.
fn covers(remote: &Report, hostname: &str, ca: CaId, method: Method) -> bool {
    remote.hostname == hostname
        && remote
            .ca_verdicts
            .iter()
            .any(|v| v.ca == ca && v.methods.iter().any(|m| m.method == method))
}

fn is_mpic(code: FindingCode) -> bool {
    matches!(
        code,
        FindingCode::MpicCaaDisagreement
            | FindingCode::MpicDcvDisagreement
            | FindingCode::PerspectiveUnavailable
    )
}

fn profile_of(ca: CaId) -> CaProfile {
    match ca {
        CaId::Letsencrypt => CaProfile::LetsEncrypt,
        _ => CaProfile::Br,
    }
}

fn describe(f: &Finding) -> String {
    format!("{}: {}", f.code, f.summary)
}

/// Applies BR 3.2.2.9 to the primary's `report` and what each remote
/// perspective answered: one quorum per CA, method and check (CAA, DCV), the
/// `mpic_*` disagreement findings where the primary passes and a quorum of
/// remotes does not, and `perspective_unavailable` for each perspective that
/// gave no report. Blocking findings mark the CA's verdict as a CA would.
pub fn apply_perspectives(report: &mut Report, seen: &[PerspectiveOutcome], as_of: time::Date) {
    let req = dcv_mpic::requirements(as_of);
    let mut quorums = Vec::new();
    let mut new_findings = Vec::new();
    for check in [Check::Caa, Check::Dcv] {
        for method in report.method.clone() {
            let mut per_ca: Vec<(CaId, QuorumSummary)> = Vec::new();
            for verdict in &report.ca_verdicts {
                if !verdict.methods.iter().any(|m| m.method == method) {
                    continue;
                }
                let ca = verdict.ca;
                // Let's Encrypt asks its remotes only once the primary's whole
                // validation passed (DCV and CAA); other CAs per check.
                let primary_passed = if profile_of(ca).remotes_after_primary() {
                    [Check::Caa, Check::Dcv]
                        .into_iter()
                        .all(|c| blocking(report, ca, method, c).is_empty())
                } else {
                    blocking(report, ca, method, check).is_empty()
                };
                let remotes: Vec<RemoteResult> = seen
                    .iter()
                    .map(|s| RemoteResult {
                        name: s.name.clone(),
                        rir: s.rir,
                        corroboration: match &s.answer {
                            Err(why) => Corroboration::Unavailable {
                                detail: why.to_string(),
                            },
                            // The agent's own network could not check (issue #15 §4):
                            // unavailable, never a disagreement about the domain.
                            Ok(r) if r.verdict == Verdict::CouldNotCheck => {
                                Corroboration::Unavailable {
                                    detail: r
                                        .findings
                                        .iter()
                                        .find(|f| f.code.leaves_unchecked())
                                        .map_or_else(
                                            || {
                                                "the agent could not check from where it runs"
                                                    .to_owned()
                                            },
                                            |f| format!("the agent {}", f.summary),
                                        ),
                                }
                            }
                            Ok(r) if !covers(r, &report.hostname, ca, method) => {
                                Corroboration::Unavailable {
                                    detail: format!(
                                        "the agent's report does not cover {} {method} for {}",
                                        serde_plain(ca),
                                        report.hostname
                                    ),
                                }
                            }
                            Ok(r) => {
                                let b = blocking(r, ca, method, check);
                                match b.first() {
                                    None => Corroboration::Corroborates,
                                    Some(f) => Corroboration::Differs {
                                        detail: f
                                            .acme_detail
                                            .clone()
                                            .unwrap_or_else(|| describe(f)),
                                    },
                                }
                            }
                        },
                    })
                    .collect();
                let summary = dcv_mpic::evaluate(
                    &serde_plain(ca),
                    &method.to_string(),
                    check,
                    profile_of(ca),
                    &req,
                    primary_passed,
                    &remotes,
                );
                per_ca.push((ca, summary));
            }
            if let Some(f) = disagreement_finding(report, seen, check, method, &per_ca) {
                new_findings.push(f);
            }
            quorums.extend(per_ca.into_iter().map(|(_, s)| s));
        }
    }
    new_findings.extend(unavailable_findings(seen, &quorums));

    let infos = seen
        .iter()
        .map(|s| PerspectiveInfo {
            name: s.name.clone(),
            region: s.region.clone(),
            rir: s.rir,
            status: s.status(),
        })
        .collect();
    report.mpic = Some(MpicReport::new(req, infos, quorums));

    // Blocking MPIC findings mark the CA's verdict as the runner's own do.
    report.add_findings(new_findings);
}

/// `letsencrypt`, `google`, ... as in JSON.
pub(crate) fn outcome_label(o: QuorumOutcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{o:?}"))
}

fn serde_plain(ca: CaId) -> String {
    serde_json::to_value(ca)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{ca:?}"))
}

fn disagreement_finding(
    primary: &Report,
    seen: &[PerspectiveOutcome],
    check: Check,
    method: Method,
    per_ca: &[(CaId, QuorumSummary)],
) -> Option<Finding> {
    // Only where the primary passes: otherwise its own findings already say why.
    let relevant: Vec<&(CaId, QuorumSummary)> = per_ca
        .iter()
        .filter(|(_, s)| {
            s.outcome != QuorumOutcome::NotAttempted && !s.failed_perspectives.is_empty()
        })
        .collect();
    if relevant.is_empty() {
        return None;
    }
    let blocks: Vec<CaId> = relevant
        .iter()
        .filter(|(_, s)| s.outcome == QuorumOutcome::NotMet)
        .map(|(ca, _)| *ca)
        .collect();
    let failed: BTreeSet<&str> = relevant
        .iter()
        .flat_map(|(_, s)| s.failed_perspectives.iter().map(String::as_str))
        .collect();
    let what = match check {
        Check::Caa => "CAA",
        Check::Dcv => "domain control validation",
    };
    let (code, ca_message) = match check {
        Check::Caa => (FindingCode::MpicCaaDisagreement, CLOUDFLARE_MPIC_CAA),
        Check::Dcv => (FindingCode::MpicDcvDisagreement, CLOUDFLARE_MPIC_DCV),
    };
    let mut evidence: Vec<Evidence> = Vec::new();
    let mut seen_lines = Vec::new();
    let mut acme_detail = None;
    let first_ca = relevant.first().map(|(ca, _)| *ca);
    for s in seen.iter().filter(|s| failed.contains(s.name.as_str())) {
        let Ok(r) = &s.answer else { continue };
        let mut codes = BTreeSet::new();
        for (ca, _) in &relevant {
            for f in blocking(r, *ca, method, check) {
                if codes.insert(f.code) {
                    seen_lines.push(format!(
                        "perspective {} ({}, {}) sees {}",
                        s.name,
                        if s.region.is_empty() { "-" } else { &s.region },
                        s.rir.map_or("-", Rir::as_str),
                        describe(f)
                    ));
                    evidence.extend(f.evidence.iter().cloned());
                }
            }
        }
    }
    // The ACME detail a subscriber sees: Let's Encrypt's first remote error
    // with its prefix when LE is among the CAs, else the first CA's.
    for (ca, s) in &relevant {
        if *ca == CaId::Letsencrypt || Some(*ca) == first_ca {
            if let Some(e) = &s.first_error {
                acme_detail = Some(e.clone());
            }
            if *ca == CaId::Letsencrypt {
                break;
            }
        }
    }
    let ratios: Vec<String> = relevant
        .iter()
        .map(|(ca, s)| {
            format!(
                "{} {} {}",
                serde_plain(*ca),
                s.quorum_result,
                outcome_label(s.outcome)
            )
        })
        .collect();
    let primary_view = match check {
        Check::Caa => "CAA permits issuance".to_owned(),
        Check::Dcv => format!("{method} validation succeeds"),
    };
    let severity = if blocks.is_empty() {
        Severity::Warning
    } else {
        Severity::Error
    };
    let failed_list: Vec<&str> = failed.iter().copied().collect();
    let not_enforced = relevant
        .iter()
        .any(|(_, s)| s.outcome == QuorumOutcome::NotMetNotEnforced);
    let summary = if !blocks.is_empty() {
        format!(
            "{what} ({method}): remote perspectives {} disagree with the primary; BR 3.2.2.9 quorum not met ({})",
            failed_list.join(", "),
            ratios.join(", ")
        )
    } else if let Some((_, q)) = relevant
        .iter()
        .find(|(_, s)| s.outcome == QuorumOutcome::Inconclusive)
    {
        format!(
            "{what} ({method}): remote perspective(s) {} disagree with the primary; the quorum cannot be judged with these perspectives ({})",
            failed_list.join(", "),
            q.reason
        )
    } else if not_enforced {
        format!(
            "{what} ({method}): remote perspectives {} disagree with the primary; quorum not met, not enforced on the date given ({})",
            failed_list.join(", "),
            ratios.join(", ")
        )
    } else {
        format!(
            "{what} ({method}): remote perspective(s) {} disagree with the primary; quorum still met ({})",
            failed_list.join(", "),
            ratios.join(", ")
        )
    };
    let mut explanation = format!(
        "The primary perspective (this machine) sees: {primary_view}. Remote perspectives resolve DNS on their own from elsewhere, as a CA's do (BR 3.2.2.9), and some see otherwise: {}.",
        seen_lines.join("; ")
    );
    let _ = write!(
        explanation,
        " Corroborating: {}.",
        relevant
            .iter()
            .map(|(ca, s)| format!(
                "{}: {} of the remotes ({} may fail), RIRs {}",
                serde_plain(*ca),
                s.quorum_result,
                s.max_allowed_failures,
                if s.passed_rirs.is_empty() {
                    "none".to_owned()
                } else {
                    s.passed_rirs
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join("+")
                }
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let fix = match check {
        Check::Caa => {
            "Make every authoritative nameserver give the same CAA answer to resolvers everywhere: look for split-horizon or geo DNS, anycast nodes out of sync, and firewalls or rate limits that drop queries from some regions; then re-run the check with the same perspectives."
        }
        Check::Dcv => {
            "Make the token (HTTP-01) or TXT record (DNS-01) visible from everywhere: look for geo DNS, CDN or firewall rules that answer some regions differently, and secondaries that have not picked up the record; then re-run the check with the same perspectives."
        }
    };
    if evidence.is_empty() {
        evidence.push(Evidence::Identifier {
            name: primary.hostname.clone(),
            problem: summary.clone(),
        });
    }
    Some(Finding {
        code,
        severity,
        summary,
        ca_message: Some(ca_message.to_owned()),
        acme_detail,
        explanation,
        fix: fix.to_owned(),
        who_fixes: WhoFixes::DnsProvider,
        blocks,
        method: Some(method),
        evidence,
        reference: REFERENCE.to_owned(),
    })
}

fn unavailable_findings(seen: &[PerspectiveOutcome], quorums: &[QuorumSummary]) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in seen {
        let Err(why) = &s.answer else { continue };
        out.push(Finding {
            code: FindingCode::PerspectiveUnavailable,
            severity: Severity::Warning,
            summary: format!("remote perspective {} could not be asked: {why}", s.name),
            ca_message: None,
            acme_detail: None,
            explanation: format!(
                "The agent at {} did not give a report ({why}). This says nothing about the domain: the prediction simply has one perspective fewer. A CA counts a perspective it cannot reach as a failed one, so its own perspectives must be up.",
                s.url
            ),
            fix: "Start the agent, check its token and pinned certificate, or give it more time; then re-run the check.".to_owned(),
            who_fixes: WhoFixes::Requester,
            blocks: Vec::new(),
            method: None,
            evidence: vec![Evidence::Identifier {
                name: format!("perspective {} ({})", s.name, s.url),
                problem: why.to_string(),
            }],
            reference: REFERENCE.to_owned(),
        });
    }
    // Too few perspectives (or RIRs) configured for the date: incomplete, not failed.
    let short: BTreeSet<&str> = quorums
        .iter()
        .filter(|q| {
            q.outcome == QuorumOutcome::Inconclusive && q.unavailable_perspectives.is_empty()
        })
        .map(|q| q.reason.as_str())
        .collect();
    if !short.is_empty() {
        let reasons: Vec<&str> = short.into_iter().collect();
        out.push(Finding {
            code: FindingCode::PerspectiveUnavailable,
            severity: Severity::Warning,
            summary: format!("too few remote perspectives for BR 3.2.2.9: {}", reasons.join("; ")),
            ca_message: None,
            acme_detail: None,
            explanation: "The quorum cannot be judged with the perspectives given; add agents (in at least two RIR regions) to predict MPIC.".to_owned(),
            fix: "Add perspective agents until the BR 3.2.2.9 minimum for the date is met.".to_owned(),
            who_fixes: WhoFixes::Requester,
            blocks: Vec::new(),
            method: None,
            evidence: vec![Evidence::Identifier {
                name: "perspectives".to_owned(),
                problem: reasons.join("; "),
            }],
            reference: REFERENCE.to_owned(),
        });
    }
    out
}
