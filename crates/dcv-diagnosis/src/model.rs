//! The report model: one shape for CLI JSON, the text renderer and a future HTTP
//! API. Pure data; building a report is the rules' job, showing it the renderer's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ca::CaId;
use crate::codes::FindingCode;

/// The validation method(s) a check covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// ACME HTTP-01 (RFC 8555 §8.3) / BR 3.2.2.4.19: token under `/.well-known/acme-challenge/`.
    Http,
    /// ACME DNS-01 (RFC 8555 §8.4) / BR 3.2.2.4.7: TXT at `_acme-challenge.<name>`.
    Dns,
}

impl Method {
    /// The label RFC 8657 `validationmethods` uses for this method.
    pub fn acme_label(self) -> &'static str {
        match self {
            Method::Http => "http-01",
            Method::Dns => "dns-01",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Http => "http",
            Method::Dns => "dns",
        })
    }
}

/// Overall outcome, ordered from best to worst so `max()` folds findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every selected CA would validate, nothing worth a warning.
    Pass,
    /// Every selected CA would validate, but something deserves attention.
    Warn,
    /// At least one selected CA would refuse.
    Fail,
    /// Nothing failed, but part (or all) of what the CA would see could not
    /// be checked from this machine (no network, DNS blocked or intercepted,
    /// servers only reachable over a family this machine lacks): exit 3.
    CouldNotCheck,
}

/// How bad one finding is. `Error` findings block validation for the CAs they
/// name; warnings and info never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Who must act to fix a finding (the blame axis, as in rustls' error taxonomy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhoFixes {
    /// Settings in the Cloudflare dashboard/API (WAF, redirects, DCV method).
    Cloudflare,
    /// The authoritative DNS provider of the zone named in the evidence.
    DnsProvider,
    /// The origin web server (or whatever answers on the hostname's addresses).
    OriginServer,
    /// The certificate authority: nothing the site owner can change.
    CertificateAuthority,
    /// The person running the check: the request itself cannot be issued.
    Requester,
}

impl fmt::Display for WhoFixes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WhoFixes::Cloudflare => "Cloudflare settings",
            WhoFixes::DnsProvider => "the authoritative DNS provider",
            WhoFixes::OriginServer => "the origin server",
            WhoFixes::CertificateAuthority => "the certificate authority",
            WhoFixes::Requester => "the requester",
        })
    }
}

/// One piece of proof behind a finding. Every finding carries at least one, so a
/// reader can check the claim without trusting us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Evidence {
    /// What the CA's validating resolver would answer for one query, with the
    /// zone that answered and every authoritative server's own answer.
    DnsLookup(crate::evidence::DnsLookupEvidence),
    /// One zone's servers asked one question over every path (family,
    /// transport, EDNS or not), each outcome against the resolver view.
    DnsPaths(crate::evidence::DnsPathsEvidence),
    /// The CAA decision: where the relevant RRset was found and which records
    /// and rule decided it.
    Caa(crate::evidence::CaaEvidence),
    /// One HTTP-01 fetch path from one address, hop by hop.
    Http(crate::evidence::HttpEvidence),
    /// A fact about the input itself (why the identifier cannot be issued for).
    Identifier { name: String, problem: String },
    /// The check ran out of time: the DNS queries still waiting (server,
    /// question, how long), the slowest exchanges that finished and the
    /// probes that had not.
    Unfinished(crate::evidence::UnfinishedEvidence),
    /// What this machine can reach: the root servers asked over each address
    /// family and transport, and whether the answers were the root's own.
    Vantage(crate::evidence::VantageEvidence),
    /// An address the CA would have to reach, and why it cannot.
    Address {
        address: String,
        range: String,
        reference: String,
        met_as: String,
    },
}

/// One diagnosed cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable snake_case identifier (documented in `docs/findings.md`).
    pub code: FindingCode,
    pub severity: Severity,
    /// One line naming the cause and the place.
    pub summary: String,
    /// What the CA would put in `validation_errors` for this cause, or null when
    /// the CA gives no specific message.
    pub ca_message: Option<String>,
    /// The CA's own ACME problem detail for this cause, in Let's Encrypt's
    /// (Boulder's) wording, which ACME clients print.
    pub acme_detail: Option<String>,
    /// Plain explanation for a person.
    pub explanation: String,
    /// What to change, as exactly as we can say it (records, rule expressions).
    pub fix: String,
    pub who_fixes: WhoFixes,
    /// The CAs whose validation this finding blocks (empty for warnings/info).
    pub blocks: Vec<CaId>,
    /// The method this finding concerns, when it concerns only one.
    pub method: Option<Method>,
    pub evidence: Vec<Evidence>,
    /// Where the rule comes from: troubleshooting-page section, RFC, BR clause.
    pub reference: String,
}

/// Per-CA, per-method prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodVerdict {
    pub method: Method,
    pub would_validate: bool,
    /// Codes of the findings that stop this CA on this method.
    pub blocked_by: Vec<FindingCode>,
}

/// Whether one CA would issue, and by which methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaVerdict {
    pub ca: CaId,
    pub would_validate: bool,
    pub methods: Vec<MethodVerdict>,
}

/// The whole answer to `dcv-doctor check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub hostname: String,
    /// The CAs checked.
    pub ca: Vec<CaId>,
    /// The methods checked.
    pub method: Vec<Method>,
    pub verdict: Verdict,
    pub ca_verdicts: Vec<CaVerdict>,
    pub findings: Vec<Finding>,
    /// Wall time per phase in milliseconds (`total`, `dns`, `caa`, `http`, ...).
    pub timings_ms: BTreeMap<String, u64>,
    /// Multi-perspective corroboration (BR 3.2.2.9), when remote perspectives
    /// were asked (`check --perspectives`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpic: Option<dcv_mpic::MpicReport>,
}

impl Report {
    /// The worst severity present, folded into a verdict: any CA that would not
    /// validate fails the report (Cloudflare may rotate CAs on renewal); else
    /// a part that could not be checked from here leaves it unjudged.
    pub fn fold_verdict(ca_verdicts: &[CaVerdict], findings: &[Finding]) -> Verdict {
        if ca_verdicts.iter().any(|v| !v.would_validate) {
            Verdict::Fail
        } else if findings
            .iter()
            .any(|f| f.code.leaves_unchecked() && f.severity == Severity::Error)
        {
            Verdict::CouldNotCheck
        } else if findings.iter().any(|f| f.severity >= Severity::Warning) {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }

    /// The first finding with this code (findings are sorted worst first).
    pub fn finding(&self, code: FindingCode) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }

    /// The first finding with this code, or a panic that shows the whole
    /// report as JSON: for tests, where the report is the best diagnostic.
    ///
    /// # Panics
    /// When no finding has `code`.
    pub fn expect_finding(&self, code: FindingCode) -> &Finding {
        self.finding(code).unwrap_or_else(|| {
            panic!(
                "no {code} finding in {}",
                serde_json::to_string_pretty(self).unwrap_or_default()
            )
        })
    }
}
