//! HTTP-01 findings (troubleshooting page: "Blocked validation URL",
//! "Redirection", and the AAAA rule under "DNS settings and records"). The
//! verdict is the CA's own path (IPv6 first, IPv4 only after a dial error,
//! Boulder `va/http.go`); other addresses' results are warnings, because other
//! CAs and perspectives may pick them.
//!
//! Without the CA's token (the usual first run) the probe fetches a random
//! token that cannot exist. What fails before the token's file matters
//! (no connection, TLS or protocol failure, block or challenge page, an
//! access-control or server-error status, a redirect that carries the token
//! where the CA will not go: `TokenScope::EveryToken`) fails for the CA's
//! real token too, so it is an error; a 404 is the healthy answer; a 200 is a
//! catch-all route that the real file must win over.

use dcv_dns::Outcome;
use dcv_http::{AddressAttempt, Classification, HttpProbeReport, TokenScope};

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

/// The finding code for one attempt: a 200 for a token that cannot exist is
/// a catch-all route, whatever the classification says about its body.
fn attempt_code(attempt: &AddressAttempt, random_token: bool) -> Option<FindingCode> {
    if random_token && attempt.token_scope == TokenScope::Answered200 {
        return Some(FindingCode::HttpCatchAll);
    }
    code_for(&attempt.classification)
}

/// The fix for a catch-all route (nginx and Apache forms: the most common
/// servers in front of applications that answer every path).
const CATCH_ALL_FIX: &str = "Make sure the real token file wins over the catch-all route: serve /.well-known/acme-challenge/ from a directory before the application's fallback (nginx: `location ^~ /.well-known/acme-challenge/ { root /var/www/acme; try_files $uri =404; }`; Apache: `Alias /.well-known/acme-challenge/ /var/www/acme/.well-known/acme-challenge/` before the rewrite rules), and have the ACME client write its files there. Then run again with --http-token and --http-body to see the real file served.";

/// Boulder's mismatch text for a catch-all that wins over the real file: the
/// key authorisation is unknown without the token, so it is named.
fn catch_all_detail(attempt: &AddressAttempt) -> Option<String> {
    if let Some(p) = &attempt.ca_problem {
        return Some(p.detail.clone());
    }
    match attempt.classification.outcome() {
        Classification::Reachable { body, .. } => Some(format!(
            "The key authorization file from the server did not match this challenge. Expected \"<token>.<account thumbprint>\" (got {body})"
        )),
        _ => None,
    }
}

/// Why a verdict reached with a random token holds, or may not hold, for
/// the CA's real one.
fn scope_note(scope: TokenScope) -> &'static str {
    match scope {
        TokenScope::EveryToken => {
            "Checked with a random token: this happens before the token's file matters, so the CA gets the same answer for its real token and validation fails whatever the token."
        }
        TokenScope::ThisToken => {
            "Checked with a random token, which is not published: the CA's real token will be looked for at the same place."
        }
        TokenScope::Answered200 => {
            "Checked with a random token that cannot exist on the server, yet it answered 200. If the same route also answers the CA's real token instead of the file, validation fails."
        }
        TokenScope::Undetermined => {
            "Checked with a random token: whether the CA's real token gets the same answer cannot be told (a 410, an unusual status, or a redirect that drops the token from the path, as not-found handlers do). Run again with --http-token and --http-body once the token is in place."
        }
    }
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
    let random_token = cfg.http_token.is_none();
    let code = attempt_code(attempt, random_token)?;
    let ca_path = report.ca_view.attempt == Some(idx);
    if code == FindingCode::HttpCatchAll {
        return Some(catch_all_finding(cfg, attempt, ca_path));
    }
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
    let mut evidence = HttpEvidence::from_attempt(attempt, ca_path);
    if cfg.http_body.is_none() {
        evidence = evidence.with_token_scope(attempt.token_scope);
        if random_token {
            f.explanation = format!("{} {}", f.explanation, scope_note(attempt.token_scope));
            if severity == Severity::Error && attempt.token_scope == TokenScope::EveryToken {
                f.summary
                    .push_str(" (before the token matters: fails for every token)");
            }
        }
    }
    f.evidence.push(Evidence::Http(evidence));
    Some(f)
}

/// `http_catch_all`: a 200 for a token that cannot exist.
fn catch_all_finding(cfg: &CheckConfig, attempt: &AddressAttempt, ca_path: bool) -> Finding {
    let c = &attempt.classification;
    let mut f = finding(
        FindingCode::HttpCatchAll,
        Severity::Warning,
        format!(
            "{} via {}: {} for a token that cannot exist (a catch-all route)",
            cfg.hostname,
            attempt.address,
            describe(c)
        ),
    );
    f.method = Some(Method::Http);
    f.explanation = format!(
        "{} If it also answers the CA's real token instead of the file, validation fails with the message above.",
        FindingCode::HttpCatchAll.meaning()
    );
    f.fix = CATCH_ALL_FIX.to_owned();
    f.acme_detail = catch_all_detail(attempt);
    f.evidence.push(Evidence::Http(
        HttpEvidence::from_attempt(attempt, ca_path).with_token_scope(attempt.token_scope),
    ));
    f
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
    if !mismatch_reported && !report.families_disagree() {
        out.extend(ipv6_divergence(cfg, report));
    }
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
                    f.explanation
                );
            }
            out.push(f);
        }
    }
    merge_same_failure(&mut out, first_attempt_finding);
    out
}

/// Addresses failing the same way are one cause: fold the findings with one
/// code into one, keeping every address's evidence and naming them all. The
/// one kept is the most severe, then the one on the CA's path, then the
/// first.
fn merge_same_failure(findings: &mut Vec<Finding>, from: usize) {
    let on_ca_path = |f: &Finding| {
        f.evidence
            .iter()
            .any(|e| matches!(e, Evidence::Http(h) if h.ca_path))
    };
    let mut i = from;
    while i < findings.len() {
        let code = findings[i].code;
        let rank = |j: usize| {
            (
                findings[j].severity,
                on_ca_path(&findings[j]),
                std::cmp::Reverse(j),
            )
        };
        let best = (from..findings.len())
            .filter(|&j| findings[j].code == code)
            .max_by_key(|&j| rank(j))
            .unwrap_or(i);
        if best == i {
            i += 1;
            continue;
        }
        let merged = findings.remove(i);
        let best = if best > i { best - 1 } else { best };
        let addresses: Vec<String> = merged
            .evidence
            .iter()
            .filter_map(|e| match e {
                Evidence::Http(h) => Some(h.address.clone()),
                _ => None,
            })
            .collect();
        let note = format!(" (same from {})", addresses.join(", "));
        findings[best].summary.push_str(&note);
        findings[best].evidence.extend(merged.evidence);
        // `i` now names the next finding.
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
    let summary = format!(
        "{}: IPv6 {} {}, while IPv4 {} {}",
        cfg.hostname,
        a6.address,
        describe(&a6.classification),
        a4.address,
        describe(&a4.classification)
    );
    // With a random token, the IPv6 answer fails the CA only when it holds
    // for every token; a 410 or a dropped-token redirect may not.
    let blocks = report.ca_view.validates == Some(false);
    let mut f = if blocks {
        blocking(cfg, FindingCode::Ipv6Mismatch, Some(Method::Http), summary)
    } else {
        let mut f = finding(FindingCode::Ipv6Mismatch, Severity::Warning, summary);
        f.method = Some(Method::Http);
        f
    };
    f.explanation = "The AAAA record does not point to the same place as the A record. CAs validate over IPv6 first and fall back to IPv4 only when the IPv6 connection cannot be made, not when it gives a wrong answer, so validation fails.".to_owned();
    if !blocks {
        f.explanation = format!("{} {}", f.explanation, scope_note(a6.token_scope));
    }
    f.fix = format!(
        "Point the AAAA record of {} at the same dual-stack server as the A record ({}), make the IPv6 server serve /.well-known/acme-challenge/ too, or remove the AAAA record.",
        cfg.hostname, a4.address
    );
    f.acme_detail = a6.ca_problem.as_ref().map(|p| p.detail.clone());
    let ca_idx = report.ca_view.attempt;
    for a in [a6, a4] {
        let idx = report.attempts.iter().position(|x| std::ptr::eq(x, a));
        let mut ev = HttpEvidence::from_attempt(a, idx.is_some() && idx == ca_idx);
        if cfg.http_body.is_none() {
            ev = ev.with_token_scope(a.token_scope);
        }
        f.evidence.push(Evidence::Http(ev));
    }
    f
}

/// `ipv6_mismatch` without a token to tell them apart: the first A and the
/// AAAA addresses give the same verdict (a 404 from both), but answer the
/// same requests differently (`dcv_http::compare`), so they are different
/// servers and the CA's real token must be placed on both. A warning: with
/// the token on both, validation works.
fn ipv6_divergence(cfg: &CheckConfig, report: &HttpProbeReport) -> Option<Finding> {
    let cmp = report.comparison.as_ref()?;
    let differing: Vec<&dcv_http::AddressAnswers> = cmp
        .others
        .iter()
        .filter(|o| cmp.differences_for(o.address).next().is_some())
        .collect();
    if differing.is_empty() {
        return None;
    }
    let host = cfg.hostname.base();
    // Per address, each differing field once (its first path): the evidence
    // has every request.
    let what: Vec<String> = differing
        .iter()
        .map(|o| {
            let diffs: Vec<String> = dcv_http::ComparedField::ALL
                .into_iter()
                .filter_map(|field| {
                    let d = cmp.differences_for(o.address).find(|d| d.field == field)?;
                    Some(match field {
                        dcv_http::ComparedField::Body => "body differs".to_owned(),
                        _ => format!(
                            "{} {} vs {}",
                            field.label(),
                            d.other.as_deref().unwrap_or("(none)"),
                            d.reference.as_deref().unwrap_or("(none)")
                        ),
                    })
                })
                .collect();
            format!("{} ({})", o.address, diffs.join("; "))
        })
        .collect();
    let mut f = finding(
        FindingCode::Ipv6Mismatch,
        Severity::Warning,
        format!(
            "{}: the AAAA address{} {} answer{} the same requests differently from the A address {}: a different server",
            cfg.hostname,
            if differing.len() == 1 { "" } else { "es" },
            what.join(", "),
            if differing.len() == 1 { "s" } else { "" },
            cmp.reference.address
        ),
    );
    f.method = Some(Method::Http);
    f.explanation = "The AAAA record does not lead to the same server as the A record: asked the same requests (the token path and the site root), they differ in status, headers or body, where the A address gives the same answer twice. CAs validate over IPv6 first and fall back to IPv4 only when the IPv6 connection cannot be made, so the CA's token must be served by the IPv6 server too. No token was given, so both could only be asked for a token that does not exist: the CA's real token decides."
        .to_owned();
    f.fix = format!(
        "Point the AAAA record of {host} at the same dual-stack server as the A record ({}), make the IPv6 server serve /.well-known/acme-challenge/ from the same place, or remove the AAAA record.",
        cmp.reference.address
    );
    let ca_v6 = report
        .ca_view
        .attempt
        .and_then(|i| report.attempts.get(i))
        .map(|a| a.address);
    f.evidence
        .push(Evidence::Http(HttpEvidence::from_comparison(
            host,
            &cmp.reference,
            false,
            "first A address (the CA's fallback)".to_owned(),
        )));
    f.evidence
        .push(Evidence::Http(HttpEvidence::from_comparison(
            host,
            &cmp.reference_again,
            false,
            "first A address asked again (fields that change between the two are not compared)"
                .to_owned(),
        )));
    for o in differing {
        let fields: Vec<&str> = dcv_http::ComparedField::ALL
            .into_iter()
            .filter(|field| cmp.differences_for(o.address).any(|d| d.field == *field))
            .map(dcv_http::ComparedField::label)
            .collect();
        f.evidence
            .push(Evidence::Http(HttpEvidence::from_comparison(
                host,
                o,
                ca_v6 == Some(o.address),
                format!("differs from the first A address: {}", fields.join(", ")),
            )));
    }
    Some(f)
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
