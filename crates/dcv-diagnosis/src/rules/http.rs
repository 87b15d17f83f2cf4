//! HTTP-01 findings (troubleshooting page: "Blocked validation URL",
//! "Redirection", and the AAAA rule under "DNS settings and records"). The
//! verdict is the CA's own path (IPv6 first, IPv4 only after a dial error,
//! Boulder `va/http.go`); other addresses' results are warnings, because other
//! CAs and perspectives may pick them.

use dcv_dns::Outcome;
use dcv_http::{AddressAttempt, Classification, HttpProbeReport};

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::{DnsLookupEvidence, HttpEvidence};
use crate::model::{Evidence, Finding, Method, Severity};
use crate::runner::Observations;

use super::dns::lookup_failure;
use super::{blocking, finding};

/// The example Redirect Rule expression that exempts validation requests
/// (cloudflare-dcv.md §5.1).
pub const REDIRECT_RULE_EXCLUDING_WELL_KNOWN: &str = r#"(http.request.scheme eq "http") and not starts_with(http.request.uri.path, "/.well-known/")"#;

/// The finding code for one classification (looking through an https redirect
/// when the chain ended badly).
fn code_for(c: &Classification) -> Option<FindingCode> {
    Some(match c {
        // After an http->https redirect, a failure to connect or speak TLS is
        // its own finding; an https endpoint that answers without the token is
        // the redirect's fault (partial setups serve the token over http).
        Classification::RedirectToHttps { outcome, .. } if !c.is_healthy() => {
            match outcome.outcome() {
                inner @ (Classification::Unreachable { .. }
                | Classification::HttpOnHttpsPort { .. }
                | Classification::TlsOnHttpPort { .. }
                | Classification::Http2OnHttpPort { .. }
                | Classification::BadRedirect { .. }
                | Classification::ChallengePage { .. }
                | Classification::Blocked { .. }) => return code_for(inner),
                _ => FindingCode::HttpRedirectToHttps,
            }
        }
        Classification::TokenServed { .. } | Classification::Reachable { .. } => return None,
        Classification::TokenNotPublished { .. } => FindingCode::HttpTokenNotPublished,
        Classification::TokenMismatch { .. } | Classification::BodyTooLarge { .. } => {
            FindingCode::HttpTokenMismatch
        }
        Classification::ChallengePage { .. } => FindingCode::HttpChallengePage,
        Classification::Blocked { .. } => FindingCode::HttpBlocked,
        Classification::RedirectToHttps { .. } => FindingCode::HttpRedirectToHttps,
        Classification::BadRedirect { .. } => FindingCode::HttpBadRedirect,
        Classification::Unreachable { .. } => FindingCode::HttpUnreachable,
        Classification::HttpOnHttpsPort { .. } => FindingCode::HttpOnHttpsPort,
        Classification::TlsOnHttpPort { .. } | Classification::Http2OnHttpPort { .. } => {
            FindingCode::TlsOnHttpPort
        }
        Classification::Not200 { .. } => FindingCode::HttpNot200,
    })
}

/// What to do about one classification.
fn fix_for(c: &Classification) -> String {
    match c {
        Classification::TokenMismatch { .. } | Classification::BodyTooLarge { .. } => {
            "Serve exactly the key authorisation (token.thumbprint, under 128 bytes) at this URL from every address; check that no application or CMS rewrites /.well-known/acme-challenge/.".to_owned()
        }
        Classification::TokenNotPublished { .. } => {
            "Nothing yet: the server is reachable. The CA will look for its token at this path; make sure whoever places it (Cloudflare or your origin) serves it here.".to_owned()
        }
        Classification::ChallengePage { .. } => {
            "Exclude /.well-known/acme-challenge/* from WAF custom rules, IP Access Rules and configuration rules that issue an interactive or JS challenge, and from Under Attack mode (zone setting, configuration rules, Page Rules).".to_owned()
        }
        Classification::Blocked { .. } => {
            "Allow requests to /.well-known/acme-challenge/* from anywhere: review WAF custom rules, IP Access Rules, country blocks and origin firewalls. CAs validate from several countries and addresses that change.".to_owned()
        }
        Classification::RedirectToHttps { .. } => format!(
            "If the token is served at the origin (partial/CNAME setup), do not redirect /.well-known/* from HTTP to HTTPS. In a Redirect Rule, exclude the path, e.g. `{REDIRECT_RULE_EXCLUDING_WELL_KNOWN}`."
        ),
        Classification::BadRedirect { .. } => {
            "Redirect /.well-known/acme-challenge/ only with 301/302/307/308, to http or https on ports 80/443, to a public name; or do not redirect it at all.".to_owned()
        }
        Classification::Unreachable { .. } => {
            "Make port 80 (and 443 when redirected to https) reachable on this address from the internet, or remove the DNS record that points here.".to_owned()
        }
        Classification::HttpOnHttpsPort { .. } => {
            "Serve TLS on port 443, or stop redirecting the validation URL to https.".to_owned()
        }
        Classification::TlsOnHttpPort { .. } | Classification::Http2OnHttpPort { .. } => {
            "Serve plain HTTP/1.1 on port 80: the CA's first request is always http:// on port 80 (RFC 8555 §8.3).".to_owned()
        }
        Classification::Not200 { status, .. } => format!(
            "Make the validation URL answer 200 with the token (it answered {status}). A 404 means the token is not where the CA looks: check the web root or proxy rules for /.well-known/acme-challenge/."
        ),
        Classification::TokenServed { .. } | Classification::Reachable { .. } => String::new(),
    }
}

fn describe(c: &Classification) -> String {
    match c {
        Classification::TokenServed { url, .. } => format!("{url} serves the token"),
        Classification::TokenNotPublished { url } => {
            format!("{url} answers 404 (reachable, token not published)")
        }
        Classification::Reachable { url, .. } => format!("{url} answers 200"),
        Classification::TokenMismatch { url, expected, got } => {
            format!("{url} serves {got} instead of {expected}")
        }
        Classification::ChallengePage {
            url,
            status,
            vendor,
            ..
        } => format!(
            "{url} answers {status} with {} interactive challenge page",
            vendor.as_deref().unwrap_or("an")
        ),
        Classification::Blocked {
            url,
            status,
            vendor,
            ..
        } => format!(
            "{url} answers {status} with {} block page",
            vendor.as_deref().unwrap_or("a")
        ),
        Classification::RedirectToHttps {
            from, to, outcome, ..
        } => {
            format!(
                "{from} redirects to {to}, which then: {}",
                describe(outcome)
            )
        }
        Classification::BadRedirect { reason, from, .. } => {
            format!("{from} redirects where the CA will not follow: {reason}")
        }
        Classification::Unreachable { url, detail, .. } => format!("{url}: {detail}"),
        Classification::HttpOnHttpsPort { url, address } => {
            format!("{url} at {address} speaks plain HTTP on the TLS port")
        }
        Classification::TlsOnHttpPort { url, address } => {
            format!("{url} at {address} answers with TLS on the HTTP port")
        }
        Classification::Http2OnHttpPort { url, address } => {
            format!("{url} at {address} speaks HTTP/2 on port 80")
        }
        Classification::Not200 { url, status } => format!("{url} answers {status}"),
        Classification::BodyTooLarge {
            url, bytes_read, ..
        } => {
            format!(
                "{url} answers 200 with a body of {bytes_read}+ bytes (the CA reads at most 128)"
            )
        }
    }
}

/// The finding for one attempt.
fn attempt_finding(
    cfg: &CheckConfig,
    report: &HttpProbeReport,
    idx: usize,
    severity: Severity,
) -> Option<Finding> {
    let attempt = &report.attempts[idx];
    let c = &attempt.classification;
    let code = code_for(c)?;
    let ca_path = report.ca_view.attempt == Some(idx);
    // A redirect to https that ends well is fine for the CA; it is a warning
    // because partial setups serving the token at the origin break on it.
    let (code, severity) = match (c, code) {
        (Classification::RedirectToHttps { .. }, _) if c.is_healthy() => (code, Severity::Warning),
        (_, FindingCode::HttpTokenNotPublished) => (code, Severity::Info),
        _ => (code, severity),
    };
    let summary = format!("{} via {}: {}", cfg.hostname, attempt.address, describe(c));
    let mut f = if severity == Severity::Error {
        blocking(cfg, code, Some(Method::Http), summary)
    } else {
        let mut f = finding(code, severity, summary);
        f.method = Some(Method::Http);
        f
    };
    f.fix = match c {
        Classification::RedirectToHttps { outcome, .. }
            if code != FindingCode::HttpRedirectToHttps =>
        {
            format!(
                "{} Or, if the origin serves the token over http, exclude /.well-known/ from the redirect: `{REDIRECT_RULE_EXCLUDING_WELL_KNOWN}`.",
                fix_for(outcome.outcome())
            )
        }
        _ => fix_for(c),
    };
    f.acme_detail = attempt.ca_problem.as_ref().map(|p| p.detail.clone());
    f.evidence
        .push(Evidence::Http(HttpEvidence::from_attempt(attempt, ca_path)));
    Some(f)
}

/// HTTP-01 findings.
pub fn findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let Some(result) = &obs.http else {
        return Vec::new();
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let mut f = blocking(
                cfg,
                FindingCode::HttpUnreachable,
                Some(Method::Http),
                format!("the HTTP-01 probe could not run: {e}"),
            );
            f.fix = "See the error; this is a problem with the request, not the server.".to_owned();
            return vec![f];
        }
    };
    if report.attempts.is_empty() {
        return address_findings(cfg, obs);
    }
    let mut out = Vec::new();
    // Address families where one family fails to resolve: Boulder tolerates it
    // (it fails only when both do), so it is a warning.
    for lookup in obs.a.iter().chain(obs.aaaa.iter()) {
        if let Some(mut f) = lookup_failure(cfg, lookup, Some(Method::Http), "address lookup") {
            f.severity = Severity::Warning;
            f.blocks.clear();
            out.push(f);
        }
    }
    let ca_idx = report.ca_view.attempt;
    let v6 = report
        .attempts
        .iter()
        .position(|a| a.family == dcv_http::Family::Ipv6);
    let v4 = report
        .attempts
        .iter()
        .position(|a| a.family == dcv_http::Family::Ipv4);
    let mismatch = match (v6, v4) {
        (Some(i6), Some(i4)) => {
            let (a6, a4) = (&report.attempts[i6], &report.attempts[i4]);
            (!a6.classification.is_healthy()
                && a4.classification.is_healthy()
                && !a6.ended_in_dial_error())
            .then(|| ipv6_mismatch(cfg, report, a6, a4))
        }
        _ => None,
    };
    let mismatch_reported = mismatch.is_some();
    out.extend(mismatch);
    let first_attempt_finding = out.len();
    for idx in 0..report.attempts.len() {
        let on_ca_path = ca_idx == Some(idx);
        if mismatch_reported && Some(idx) == v6 {
            continue; // named by ipv6_mismatch
        }
        if super::vantage::excuses_attempt(obs, &report.attempts[idx]) {
            continue; // not checked from here: rules::vantage says so, once
        }
        let severity = if on_ca_path && report.ca_view.validates == Some(false) {
            Severity::Error
        } else {
            Severity::Warning
        };
        if let Some(mut f) = attempt_finding(cfg, report, idx, severity) {
            if !on_ca_path && f.severity == Severity::Warning {
                f.explanation = format!(
                    "{} Let's Encrypt uses only the first AAAA and the first A address, but other CAs and remote perspectives may pick this one.",
                    f.code.meaning()
                );
            }
            out.push(f);
        }
    }
    merge_same_failure(&mut out, first_attempt_finding);
    out
}

/// Addresses failing the same way are one cause: fold a warning into the
/// finding with the same code (the CA path's, when it has one), keeping every
/// address's evidence and naming them all.
fn merge_same_failure(findings: &mut Vec<Finding>, from: usize) {
    let mut i = from;
    while i < findings.len() {
        let code = findings[i].code;
        let target = (from..findings.len()).find(|&j| {
            j != i && findings[j].code == code && findings[j].severity >= findings[i].severity
        });
        match target {
            Some(j) if findings[i].severity == Severity::Warning || j < i => {
                let merged = findings.remove(i);
                let j = if j > i { j - 1 } else { j };
                let addresses: Vec<String> = merged
                    .evidence
                    .iter()
                    .filter_map(|e| match e {
                        Evidence::Http(h) => Some(h.address.clone()),
                        _ => None,
                    })
                    .collect();
                let note = format!(" (same from {})", addresses.join(", "));
                findings[j].summary.push_str(&note);
                findings[j].evidence.extend(merged.evidence);
            }
            _ => i += 1,
        }
    }
}

/// `ipv6_mismatch`: the CA prefers IPv6 and does not fall back to IPv4 on a bad
/// answer, only on a dial error.
fn ipv6_mismatch(
    cfg: &CheckConfig,
    report: &HttpProbeReport,
    a6: &AddressAttempt,
    a4: &AddressAttempt,
) -> Finding {
    let mut f = blocking(
        cfg,
        FindingCode::Ipv6Mismatch,
        Some(Method::Http),
        format!(
            "{}: IPv6 {} {}, while IPv4 {} {}",
            cfg.hostname,
            a6.address,
            describe(&a6.classification),
            a4.address,
            describe(&a4.classification)
        ),
    );
    f.explanation = "The AAAA record does not point to the same place as the A record. CAs validate over IPv6 first and fall back to IPv4 only when the IPv6 connection cannot be made, not when it gives a wrong answer, so validation fails.".to_owned();
    f.fix = format!(
        "Point the AAAA record of {} at the same dual-stack server as the A record ({}), make the IPv6 server serve /.well-known/acme-challenge/ too, or remove the AAAA record.",
        cfg.hostname, a4.address
    );
    f.acme_detail = a6.ca_problem.as_ref().map(|p| p.detail.clone());
    let ca_idx = report.ca_view.attempt;
    for a in [a6, a4] {
        let idx = report.attempts.iter().position(|x| std::ptr::eq(x, a));
        f.evidence.push(Evidence::Http(HttpEvidence::from_attempt(
            a,
            idx.is_some() && idx == ca_idx,
        )));
    }
    f
}

/// No address to fetch from: NXDOMAIN, SERVFAIL or no A/AAAA at all.
fn address_findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let (Some(a), Some(aaaa)) = (&obs.a, &obs.aaaa) else {
        return Vec::new();
    };
    let mut out: Vec<Finding> = [a, aaaa]
        .into_iter()
        .filter_map(|l| lookup_failure(cfg, l, Some(Method::Http), "address lookup"))
        .collect();
    if !out.is_empty() {
        return out;
    }
    let name = cfg.hostname.base();
    let evidence = vec![
        Evidence::DnsLookup(DnsLookupEvidence::from_lookup(a)),
        Evidence::DnsLookup(DnsLookupEvidence::from_lookup(aaaa)),
    ];
    let mut f = if a.outcome == Outcome::NxDomain {
        let mut f = blocking(
            cfg,
            FindingCode::Nxdomain,
            Some(Method::Http),
            format!("{name} does not exist (NXDOMAIN)"),
        );
        f.ca_message = Some(crate::messages::CLOUDFLARE_DNS_TROUBLE.to_owned());
        f.acme_detail = Some(crate::messages::boulder_dns_problem("NXDOMAIN", "A", name));
        f.fix = format!(
            "Create A/AAAA records (or a CNAME) for {name} at its authoritative DNS provider."
        );
        f
    } else {
        let mut f = blocking(
            cfg,
            FindingCode::NoAddress,
            Some(Method::Http),
            format!("{name} has no A or AAAA record"),
        );
        f.ca_message = Some(crate::messages::CLOUDFLARE_DNS_TROUBLE.to_owned());
        f.acme_detail = Some(format!(
            "DNS problem: no valid A records found for {name}; no valid AAAA records found for {name}"
        ));
        f.fix = format!(
            "Add an A and/or AAAA record for {name} pointing at the server that answers HTTP validation."
        );
        f
    };
    f.evidence = evidence;
    out.push(f);
    out
}
