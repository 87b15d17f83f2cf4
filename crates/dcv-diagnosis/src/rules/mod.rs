//! Rules: each module turns one kind of evidence into findings, cites the
//! troubleshooting-page section, RFC or BR clause it rests on, and never does
//! I/O. The runner calls [`all`] once every probe has finished.

pub mod acme;
pub mod address;
pub mod caa;
pub mod ct;
pub mod dns;
pub mod http;
pub mod identifier;
pub mod mpic;
pub mod paths;
pub mod txt;
pub mod vantage;

use crate::ca::CaId;
use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::UnfinishedEvidence;
use crate::model::{Evidence, Finding, Method, Severity};
use crate::runner::{Observations, Unfinished};

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
    out.extend(vantage::findings(cfg, obs));
    // A lookup this machine could not make is not the domain's failure.
    dedup(vantage::reconcile(out, obs))
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

/// Servers still being waited on that the timeout finding's summary names;
/// the evidence lists up to [`crate::evidence::MAX_UNFINISHED_LISTED`] queries.
const MAX_SERVERS_IN_SUMMARY: usize = 3;

/// `1s`, `1500ms`.
fn limit_text(limit: std::time::Duration) -> String {
    if limit.subsec_millis() == 0 {
        format!("{}s", limit.as_secs())
    } else {
        format!("{}ms", limit.as_millis())
    }
}

/// The whole check ran out of time: name what it was still waiting for (the
/// DNS queries in flight, by server; else the HTTP-01 probe) and carry the
/// engine's journal as evidence.
pub fn check_timed_out(cfg: &CheckConfig, unfinished: &Unfinished) -> Finding {
    let limit = limit_text(unfinished.limit);
    let evidence = UnfinishedEvidence::from_unfinished(unfinished);
    let in_flight = &unfinished.journal.in_flight;
    // Servers in waiting order, each name once with all its addresses.
    let mut servers: Vec<(String, Vec<std::net::IpAddr>)> = Vec::new();
    for q in in_flight {
        let name = q
            .server_name
            .as_ref()
            .map_or_else(|| q.server.ip().to_string(), ToString::to_string);
        match servers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, addrs)) if q.server_name.is_some() => {
                if !addrs.contains(&q.server.ip()) {
                    addrs.push(q.server.ip());
                }
            }
            Some(_) => {}
            None if q.server_name.is_some() => servers.push((name, vec![q.server.ip()])),
            None => servers.push((name, Vec::new())),
        }
    }
    let mut servers: Vec<String> = servers
        .into_iter()
        .map(|(name, addrs)| {
            if addrs.is_empty() {
                name
            } else {
                let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                format!("{name} ({})", addrs.join(", "))
            }
        })
        .collect();
    let summary = if !servers.is_empty() {
        let more = servers.len().saturating_sub(MAX_SERVERS_IN_SUMMARY);
        servers.truncate(MAX_SERVERS_IN_SUMMARY);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "the check did not finish within {limit}: still waiting for {} DNS {} from {}{more}",
            in_flight.len(),
            if in_flight.len() == 1 {
                "answer"
            } else {
                "answers"
            },
            servers.join(", ")
        )
    } else if unfinished.http.is_some() {
        format!(
            "the check did not finish within {limit}: the HTTP-01 fetch of {} had not finished and no DNS query was waiting",
            cfg.hostname.base()
        )
    } else {
        format!(
            "the check did not finish within {limit}: some nameserver or web server does not answer"
        )
    };
    let mut f = blocking(cfg, FindingCode::DnsTimeout, None, summary);
    f.fix = "Make the servers named in the evidence answer promptly: the CA's own resolver gives up much sooner than this check. Run with -v to see every query still waiting, or with a longer --timeout to see how the check ends.".to_owned();
    f.ca_message = Some(crate::messages::CLOUDFLARE_DNS_TROUBLE.to_owned());
    f.evidence.push(Evidence::Unfinished(evidence));
    f
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::identifier::Hostname;

    fn timed_out(http: Option<Vec<(String, Vec<std::net::IpAddr>)>>) -> Finding {
        let cfg = CheckConfig::new(Hostname::parse("www.example.com").unwrap());
        let unfinished = Unfinished {
            limit: Duration::from_millis(1500),
            journal: dcv_dns::Journal::default(),
            probes: vec![crate::runner::Probe::Http],
            http,
        };
        check_timed_out(&cfg, &unfinished)
    }

    #[test]
    fn a_timeout_with_no_dns_query_waiting_blames_the_http_fetch() {
        let f = timed_out(Some(vec![(
            "www.example.com".to_owned(),
            vec!["192.0.2.1".parse().unwrap()],
        )]));
        assert_eq!(
            f.summary,
            "the check did not finish within 1500ms: the HTTP-01 fetch of www.example.com had not finished and no DNS query was waiting"
        );
        let Some(Evidence::Unfinished(u)) = f.evidence.first() else {
            panic!("{f:?}");
        };
        assert_eq!(u.limit_ms, 1500);
        assert_eq!(u.unfinished, vec!["HTTP-01 probe".to_owned()]);
        assert!(u.in_flight.is_empty());
        assert_eq!(
            u.http.as_deref(),
            Some(
                "resolved www.example.com -> 192.0.2.1; a fetch from these addresses (or a redirect) had not finished"
            )
        );
    }

    #[test]
    fn a_timeout_with_nothing_known_still_carries_evidence() {
        let f = timed_out(None);
        assert!(
            f.summary
                .ends_with("some nameserver or web server does not answer")
        );
        assert!(matches!(f.evidence.as_slice(), [Evidence::Unfinished(_)]));
    }
}
