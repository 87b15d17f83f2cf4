//! Rules: each module turns one kind of evidence into findings, cites the
//! troubleshooting-page section, RFC or BR clause it rests on, and never does
//! I/O. The runner calls [`all`] once every probe has finished.

pub mod address;
pub mod caa;
pub mod dns;
pub mod http;
pub mod identifier;
pub mod paths;
pub mod txt;

use crate::ca::CaId;
use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::model::{Finding, Method, Severity};
use crate::runner::Observations;

/// A finding with the catalogue's defaults for `code`; callers fill in the rest.
pub(crate) fn finding(code: FindingCode, severity: Severity, summary: String) -> Finding {
    Finding {
        code,
        severity,
        summary,
        ca_message: None,
        acme_detail: None,
        explanation: code.meaning().to_owned(),
        fix: String::new(),
        who_fixes: code.who_fixes(),
        blocks: Vec::new(),
        method: None,
        evidence: Vec::new(),
        reference: code.seed().to_owned(),
    }
}

/// A finding that blocks every selected CA (on `method`, or on all methods).
pub(crate) fn blocking(
    cfg: &CheckConfig,
    code: FindingCode,
    method: Option<Method>,
    summary: String,
) -> Finding {
    let mut f = finding(code, Severity::Error, summary);
    f.blocks = cfg.cas.clone();
    f.method = method;
    f
}

/// Every rule over every observation.
pub fn all(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(identifier::tld(cfg, obs));
    out.extend(dns::zone_findings(cfg, obs));
    out.extend(caa::findings(cfg, obs));
    out.extend(http::findings(cfg, obs));
    out.extend(txt::findings(cfg, obs));
    out.extend(address::findings(cfg, obs));
    out.extend(paths::findings(cfg, obs));
    dedup(out)
}

/// Drops exact repeats (same code, summary and blocked CAs) that several
/// lookups can produce for one cause.
fn dedup(findings: Vec<Finding>) -> Vec<Finding> {
    let mut seen: Vec<(FindingCode, String, Vec<CaId>, Option<Method>)> = Vec::new();
    let mut out = Vec::new();
    for f in findings {
        let key = (f.code, f.summary.clone(), f.blocks.clone(), f.method);
        if !seen.contains(&key) {
            seen.push(key);
            out.push(f);
        }
    }
    out
}

/// The whole check ran out of time: we cannot say, and say so.
pub fn check_timed_out(cfg: &CheckConfig) -> Finding {
    let mut f = blocking(
        cfg,
        FindingCode::DnsTimeout,
        None,
        format!(
            "the check did not finish within {}s: some nameserver or web server does not answer",
            cfg.timeout.as_secs()
        ),
    );
    f.fix = "Re-run with a longer --timeout and -v to see which server is slow; the CA's own resolver gives up much sooner.".to_owned();
    f.ca_message = Some(crate::messages::CLOUDFLARE_DNS_TROUBLE.to_owned());
    f
}
