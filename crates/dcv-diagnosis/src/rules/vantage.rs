//! Vantage findings (issue #15 §4: the machine a check runs on is not the
//! domain). What this machine cannot test is said once, as the requester's
//! to fix, with what it leaves unchecked; and the other rules ask here before
//! they blame the domain for a failure this machine explains: an exchange
//! that never left it ([`dcv_dns::NetErrorKind::is_local`]), or one over an
//! address family (or TCP) that the preflight found cannot carry DNS from
//! here ([`dcv_dns::vantage::VantageReport::excuses`]).

use std::net::IpAddr;

use dcv_dns::vantage::{AddressFamily, Blocker, Conclusion, Limit, ProbeVerdict, VantageReport};
use dcv_dns::{ExchangeResult, Lookup, Outcome, ServFailReason, ServerVerdict};
use dcv_http::AddressAttempt;

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::{DnsLookupEvidence, VantageEvidence};
use crate::model::{Evidence, Finding, Severity};
use crate::runner::{Observations, addresses};

use super::finding;

/// Addresses named in a summary before "and N more".
const MAX_ADDRESSES_NAMED: usize = 3;

/// OS errors that mean the connection was never attempted on the wire:
/// `EPERM` (1), `EACCES` (13), `EAFNOSUPPORT` (97), `EADDRNOTAVAIL` (99),
/// `ENETUNREACH` (101) (Linux `errno.h`). `EHOSTUNREACH` (113) is left out:
/// a router on the path sends it too.
const LOCAL_OS_ERRORS: [i32; 5] = [1, 13, 97, 99, 101];

fn vantage_excuses(obs: &Observations, server: IpAddr, tcp: bool) -> bool {
    obs.vantage.as_ref().is_some_and(|v| v.excuses(server, tcp))
}

/// Whether a failed exchange with `server` says nothing about the domain: it
/// never left this machine, or nothing over its family (or over TCP) reaches
/// DNS from here. Answers are never excused: they came from the server.
pub fn excuses_exchange(
    obs: &Observations,
    server: IpAddr,
    tcp: bool,
    result: &ExchangeResult,
) -> bool {
    match result {
        ExchangeResult::NetworkError { cause, .. } if cause.is_local() => true,
        ExchangeResult::NetworkError { .. } | ExchangeResult::Timeout => {
            vantage_excuses(obs, server, tcp)
        }
        _ => false,
    }
}

/// [`excuses_exchange`] for one server's verdict in a lookup (the engine
/// asks over UDP first, so the family decides).
pub fn excuses_verdict(obs: &Observations, server: IpAddr, verdict: &ServerVerdict) -> bool {
    match verdict {
        ServerVerdict::NetworkError { cause, .. } if cause.is_local() => true,
        ServerVerdict::NetworkError { .. } | ServerVerdict::Timeout => {
            vantage_excuses(obs, server, false)
        }
        _ => false,
    }
}

/// Whether a lookup's SERVFAIL comes only from servers this machine cannot
/// reach: every failing server of the zone that failed is excused. The CA,
/// elsewhere, may well get an answer; the lookup was not checked.
pub fn lookup_unchecked(obs: &Observations, lookup: &Lookup) -> bool {
    let Outcome::ServFail {
        why: ServFailReason::AllServersFailed { zone, .. },
    } = &lookup.outcome
    else {
        return false;
    };
    let mut failing = lookup
        .server_answers
        .iter()
        .filter(|a| &a.zone == zone && !a.verdict.is_usable())
        .peekable();
    failing.peek().is_some()
        && failing.all(|a| excuses_verdict(obs, a.server.addr.ip(), &a.verdict))
}

/// Whether an HTTP-01 attempt that failed to connect failed because of this
/// machine: the dial never reached the wire (a local OS error), or the
/// address's family cannot be reached from here at all. Such an address was
/// not checked; it is not the origin's fault.
pub fn excuses_attempt(obs: &Observations, attempt: &AddressAttempt) -> bool {
    if attempt.classification.is_healthy() {
        return false;
    }
    let Some(hop) = attempt.hops.last() else {
        return false;
    };
    let Some(error) = hop.error.as_ref().filter(|e| e.is_dial_error()) else {
        return false;
    };
    let address = hop.address.unwrap_or(attempt.address);
    error.os_error.is_some_and(|e| LOCAL_OS_ERRORS.contains(&e))
        || obs
            .vantage
            .as_ref()
            .is_some_and(|v| v.family_unreachable(AddressFamily::of(address)))
}

/// Findings about this machine for a check that ran: one per thing it cannot
/// see (informational: the domain's verdict stands on what could be seen),
/// and a `vantage_not_checked` when the HTTP-01 fetch could not be made from
/// here at all.
pub fn findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let Some(report) = &obs.vantage else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Conclusion::Limited { limits } = report.conclusion() {
        for limit in limits {
            out.push(limit_finding(cfg, obs, report, limit));
        }
    }
    out.extend(http_unchecked(cfg, obs, report));
    out
}

fn limit_finding(
    cfg: &CheckConfig,
    obs: &Observations,
    report: &VantageReport,
    limit: Limit,
) -> Finding {
    let host = cfg.hostname.base();
    let mut f = match limit {
        Limit::FamilyUnreachable { family, udp } => {
            let code = match family {
                AddressFamily::Ipv4 => FindingCode::VantageNoIpv4,
                AddressFamily::Ipv6 => FindingCode::VantageNoIpv6,
            };
            let web = family_addresses(obs, family);
            let servers = excused_servers(obs, family);
            let mut skipped = Vec::new();
            if !web.is_empty() {
                skipped.push(format!(
                    "the {} address{} of {host} ({})",
                    match family {
                        AddressFamily::Ipv4 => "A",
                        AddressFamily::Ipv6 => "AAAA",
                    },
                    if web.len() == 1 { "" } else { "es" },
                    named(&web)
                ));
            }
            if !servers.is_empty() {
                skipped.push(format!(
                    "{} {family} nameserver address{} ({})",
                    servers.len(),
                    if servers.len() == 1 { "" } else { "es" },
                    named(&servers)
                ));
            }
            let skipped = if skipped.is_empty() {
                String::new()
            } else {
                format!("; not checked: {}", skipped.join(", "))
            };
            let first = if family == AddressFamily::Ipv6 {
                ": CAs try IPv6 first"
            } else {
                ""
            };
            let mut f = finding(
                code,
                Severity::Info,
                format!(
                    "{family} not checked from here: this machine cannot reach the root name servers over {family} ({udp}){first}{skipped}"
                ),
            );
            f.explanation = format!(
                "{} Failures of {family} nameservers and web addresses seen from here are left out of the findings instead of being blamed on the domain; the verdict rests on what could be checked.{}",
                code.meaning(),
                if family == AddressFamily::Ipv6 {
                    " Let's Encrypt connects to the first AAAA address first and falls back to IPv4 only when that connection cannot be made: an IPv6 web server that answers wrongly fails validation, and this check cannot see it."
                } else {
                    ""
                }
            );
            f.fix = format!(
                "Nothing on the domain. To see what a CA sees over {family}, run the check from a machine that has {family}, or add a remote agent (`dcv-doctor agent`) that has it and check with --perspectives."
            );
            f
        }
        Limit::TcpUnreachable { family, tcp } => {
            let mut f = finding(
                FindingCode::VantageDnsTcpBlocked,
                Severity::Info,
                format!(
                    "DNS over TCP not checked from here: TCP port 53 to the root over {family}: {tcp}, while UDP works; the nameservers' TCP paths were not checked"
                ),
            );
            f.explanation = format!(
                "{} Truncated answers and some CA resolvers use TCP (RFC 7766 §5), so a nameserver that fails over TCP can fail a CA; this check cannot tell from here.",
                FindingCode::VantageDnsTcpBlocked.meaning()
            );
            f.fix = "Nothing on the domain. Allow outbound TCP port 53 here, or run the check from a machine that has it, to test the TCP paths.".to_owned();
            f
        }
    };
    f.evidence
        .push(Evidence::Vantage(VantageEvidence::from_report(report)));
    f
}

/// The finding when nothing can be checked from this machine: one line that
/// says why, the preflight as evidence.
pub fn cannot_check(report: &VantageReport, why: Blocker) -> Finding {
    let families: Vec<String> = report
        .families
        .iter()
        .filter(|f| f.udp.tested())
        .map(|f| format!("{}: UDP {}, TCP {}", f.family, f.udp, f.tcp))
        .collect();
    let (code, summary, fix) = match why {
        Blocker::NoNetwork => (
            FindingCode::VantageNoNetwork,
            format!(
                "could not check from here: no network (no root name server can be reached; {})",
                families.join("; ")
            ),
            "Run the check from a machine with Internet access (or give this one a route out), then check again.",
        ),
        Blocker::DnsBlocked => (
            FindingCode::VantageDnsBlocked,
            format!(
                "could not check from here: DNS is blocked (queries to the root name servers get no answer; {})",
                families.join("; ")
            ),
            "Allow outbound DNS (UDP and TCP port 53, to any address) from this machine, or run the check from one that has it: a CA's resolver asks the domain's nameservers directly, and so must this check.",
        ),
        Blocker::Intercepted => {
            let signs: Vec<String> = report
                .probes
                .iter()
                .filter_map(|p| match &p.verdict {
                    ProbeVerdict::Intercepted { signs } => {
                        let signs: Vec<String> = signs.iter().map(ToString::to_string).collect();
                        Some(format!(
                            "{} {} {}: {}",
                            p.server_name,
                            p.server.ip(),
                            p.path,
                            signs.join(", ")
                        ))
                    }
                    _ => None,
                })
                .collect();
            (
                FindingCode::VantageDnsIntercepted,
                format!(
                    "could not check from here: DNS is intercepted (something other than the root name servers answers for them; {})",
                    signs.join("; ")
                ),
                "Run the check where port 53 goes straight to the Internet: turn off DNS interception in the network, VPN or security software, or use a remote agent. A CA's resolver asks the domain's own nameservers; answers from a middlebox say nothing about them.",
            )
        }
    };
    let mut f = finding(code, Severity::Error, summary);
    f.explanation = format!(
        "{} Every result from here would describe this machine's network, not the domain, so none is reported.",
        code.meaning()
    );
    fix.clone_into(&mut f.fix);
    f.evidence
        .push(Evidence::Vantage(VantageEvidence::from_report(report)));
    f
}

/// `vantage_not_checked` for the HTTP-01 fetch when no address could be
/// tried from here.
fn http_unchecked(
    cfg: &CheckConfig,
    obs: &Observations,
    report: &VantageReport,
) -> Option<Finding> {
    let Some(Ok(http)) = &obs.http else {
        return None;
    };
    if http.attempts.is_empty() || !http.attempts.iter().all(|a| excuses_attempt(obs, a)) {
        return None;
    }
    let addrs: Vec<IpAddr> = http.attempts.iter().map(|a| a.address).collect();
    let mut f = finding(
        FindingCode::VantageNotChecked,
        Severity::Error,
        format!(
            "HTTP-01 not checked from here: this machine cannot connect to any address of {} ({}); the CA would connect to {} first",
            cfg.hostname.base(),
            named(&addrs),
            addrs[0]
        ),
    );
    f.method = Some(crate::model::Method::Http);
    f.explanation = format!(
        "{} The fetch never left this machine, so whether the token is served is unknown.",
        FindingCode::VantageNotChecked.meaning()
    );
    f.fix = "Check again from a machine that can reach these addresses (the other address family, or without the local firewall).".to_owned();
    for (i, a) in http.attempts.iter().enumerate() {
        let ca_path = http.ca_view.attempt == Some(i);
        f.evidence
            .push(Evidence::Http(crate::evidence::HttpEvidence::from_attempt(
                a, ca_path,
            )));
    }
    f.evidence
        .push(Evidence::Vantage(VantageEvidence::from_report(report)));
    Some(f)
}

/// Replaces every finding that blames the domain for a lookup this machine
/// could not make (a SERVFAIL from excused servers only: `dns_timeout`,
/// `dns_servfail`, `caa_lookup_failed`, ...) by `vantage_not_checked`, with
/// the same evidence: the CA elsewhere may get an answer; we cannot know.
pub fn reconcile(findings: Vec<Finding>, obs: &Observations) -> Vec<Finding> {
    let unchecked: Vec<(&Lookup, DnsLookupEvidence)> = every_lookup(obs)
        .filter(|l| lookup_unchecked(obs, l))
        .map(|l| (l, DnsLookupEvidence::from_lookup(l)))
        .collect();
    if unchecked.is_empty() {
        return findings;
    }
    findings
        .into_iter()
        .map(|f| {
            if !matches!(
                f.code,
                FindingCode::DnsTimeout
                    | FindingCode::DnsServfail
                    | FindingCode::DnsRefused
                    | FindingCode::DnsLameDelegation
                    | FindingCode::CaaLookupFailed
            ) {
                return f;
            }
            let hit = f.evidence.iter().find_map(|e| match e {
                Evidence::DnsLookup(d) => unchecked.iter().find(|(_, u)| u.query == d.query),
                _ => None,
            });
            match hit {
                Some((lookup, _)) => not_checked_lookup(f, lookup),
                None => f,
            }
        })
        .collect()
}

fn not_checked_lookup(mut f: Finding, lookup: &Lookup) -> Finding {
    let zone = match &lookup.outcome {
        Outcome::ServFail {
            why: ServFailReason::AllServersFailed { zone, .. },
        } => zone.to_string(),
        _ => String::new(),
    };
    let servers: Vec<String> = lookup
        .server_answers
        .iter()
        .filter(|a| a.zone.to_string() == zone && !a.verdict.is_usable())
        .map(|a| format!("{} ({})", a.server.addr.ip(), a.verdict.failure_text()))
        .collect();
    let was = f.code;
    f.code = FindingCode::VantageNotChecked;
    f.who_fixes = FindingCode::VantageNotChecked.who_fixes();
    // Severity stays: an error leaves the check unjudged (exit 3), a warning
    // (one address family of two) does not.
    f.blocks.clear();
    f.ca_message = None;
    f.acme_detail = None;
    f.summary = format!(
        "{}/{} not checked from here: every nameserver of {zone} failed only because of this machine ({})",
        lookup.qname.without_dot(),
        lookup.qtype,
        servers.join(", ")
    );
    f.explanation = format!(
        "{} It would have been reported as {was}, but none of the failures reached the servers: a CA elsewhere may get an answer.",
        FindingCode::VantageNotChecked.meaning()
    );
    f.fix = "Check again from a machine that can reach these nameservers (the other address family, or without the local firewall).".to_owned();
    FindingCode::VantageNotChecked
        .seed()
        .clone_into(&mut f.reference);
    f
}

/// Every lookup the check made.
fn every_lookup(obs: &Observations) -> impl Iterator<Item = &Lookup> {
    obs.caa
        .iter()
        .chain(&obs.a)
        .chain(&obs.aaaa)
        .chain(&obs.txt)
        .chain(&obs.txt_doubled)
        .chain(&obs.tld)
}

/// The hostname's web addresses of `family`.
fn family_addresses(obs: &Observations, family: AddressFamily) -> Vec<IpAddr> {
    let lookup = match family {
        AddressFamily::Ipv4 => obs.a.as_ref(),
        AddressFamily::Ipv6 => obs.aaaa.as_ref(),
    };
    lookup.map(addresses).unwrap_or_default()
}

/// Nameserver addresses of `family` whose failures were excused, in order.
fn excused_servers(obs: &Observations, family: AddressFamily) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let answers = every_lookup(obs).flat_map(|l| &l.server_answers);
    for a in answers {
        let ip = a.server.addr.ip();
        if AddressFamily::of(ip) == family
            && excuses_verdict(obs, ip, &a.verdict)
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    let probes = obs.paths.iter().flat_map(|p| &p.probes);
    for p in probes {
        let ip = p.server.addr.ip();
        let excused = p
            .exchange
            .as_ref()
            .is_some_and(|e| excuses_exchange(obs, ip, p.path.tcp, &e.result));
        if AddressFamily::of(ip) == family && excused && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// `a, b, c and 2 more`.
fn named(addrs: &[IpAddr]) -> String {
    let mut shown: Vec<String> = addrs
        .iter()
        .take(MAX_ADDRESSES_NAMED)
        .map(ToString::to_string)
        .collect();
    if addrs.len() > MAX_ADDRESSES_NAMED {
        shown.push(format!("{} more", addrs.len() - MAX_ADDRESSES_NAMED));
    }
    match shown.len() {
        0 | 1 => shown.concat(),
        n => format!("{} and {}", shown[..n - 1].join(", "), shown[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CaId;
    use crate::model::{CaVerdict, Method, MethodVerdict, Report, Verdict};

    fn ca(would_validate: bool, blocked_by: Vec<FindingCode>) -> CaVerdict {
        CaVerdict {
            ca: CaId::Letsencrypt,
            would_validate,
            methods: vec![MethodVerdict {
                method: Method::Http,
                would_validate,
                blocked_by,
            }],
        }
    }

    /// A failure that is known beats what could not be checked; what could
    /// not be checked beats a pass; an informational vantage note changes
    /// nothing, and a warning-level "not checked" (one family of two) neither.
    #[test]
    fn the_verdict_says_could_not_check_only_when_nothing_failed() {
        let unchecked = finding(
            FindingCode::VantageNotChecked,
            Severity::Error,
            String::new(),
        );
        let note = finding(FindingCode::VantageNoIpv6, Severity::Info, String::new());
        let mut partial = unchecked.clone();
        partial.severity = Severity::Warning;
        let caa = finding(FindingCode::CaaForbids, Severity::Error, String::new());
        let fold = Report::fold_verdict;
        assert_eq!(
            fold(&[ca(true, vec![])], std::slice::from_ref(&note)),
            Verdict::Pass
        );
        assert_eq!(
            fold(&[ca(true, vec![])], &[note.clone(), unchecked.clone()]),
            Verdict::CouldNotCheck
        );
        assert_eq!(fold(&[ca(true, vec![])], &[partial]), Verdict::Warn);
        assert_eq!(
            fold(
                &[ca(false, vec![FindingCode::CaaForbids])],
                &[caa, unchecked.clone()]
            ),
            Verdict::Fail
        );
        for code in FindingCode::ALL {
            let expected = matches!(
                code,
                FindingCode::VantageNoNetwork
                    | FindingCode::VantageDnsBlocked
                    | FindingCode::VantageDnsIntercepted
                    | FindingCode::VantageNotChecked
            );
            assert_eq!(code.leaves_unchecked(), expected, "{code}");
            if code.as_str().starts_with("vantage_") {
                assert_eq!(
                    code.who_fixes(),
                    crate::model::WhoFixes::Requester,
                    "{code}"
                );
            }
        }
    }

    #[test]
    fn address_lists_stay_short() {
        let ips: Vec<std::net::IpAddr> = (1..=5)
            .map(|i| format!("192.0.2.{i}").parse().unwrap())
            .collect();
        assert_eq!(named(&ips[..1]), "192.0.2.1");
        assert_eq!(named(&ips[..2]), "192.0.2.1 and 192.0.2.2");
        assert_eq!(named(&ips), "192.0.2.1, 192.0.2.2, 192.0.2.3 and 2 more");
    }
}
