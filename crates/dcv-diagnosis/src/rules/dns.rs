//! DNS findings (troubleshooting page, "DNS settings and records"): resolver
//! failures the CA would hit, servers that fail while others answer, zone cuts
//! that hand the name to another provider, and the DNSSEC status.

use std::collections::BTreeSet;

use dcv_dns::{Lookup, Outcome, Security, ServFailReason, ServerVerdict};

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::DnsLookupEvidence;
use crate::messages;
use crate::model::{Evidence, Finding, Method, Severity};
use crate::runner::Observations;

use super::{blocking, finding};

/// Which failure class a SERVFAIL falls in, judged from the servers' own answers.
fn servfail_code(lookup: &Lookup, why: &ServFailReason) -> FindingCode {
    match why {
        ServFailReason::Bogus(_) => FindingCode::DnssecBogus,
        ServFailReason::AllServersFailed { zone, .. } => {
            let verdicts: Vec<&ServerVerdict> = lookup
                .server_answers
                .iter()
                .filter(|a| &a.zone == zone)
                .map(|a| &a.verdict)
                .filter(|v| !v.is_usable())
                .collect();
            let all = |f: fn(&ServerVerdict) -> bool| {
                !verdicts.is_empty() && verdicts.iter().all(|v| f(v))
            };
            if all(|v| {
                matches!(
                    v,
                    ServerVerdict::Timeout | ServerVerdict::NetworkError { .. }
                )
            }) {
                FindingCode::DnsTimeout
            } else if all(|v| matches!(v, ServerVerdict::Refused)) {
                FindingCode::DnsRefused
            } else if all(|v| matches!(v, ServerVerdict::Lame { .. } | ServerVerdict::Refused)) {
                FindingCode::DnsLameDelegation
            } else {
                FindingCode::DnsServfail
            }
        }
        _ => FindingCode::DnsServfail,
    }
}

/// The blocking finding for a lookup the CA must make and would see fail, or
/// `None` when it resolves (NXDOMAIN/NODATA are the caller's business).
pub fn lookup_failure(
    cfg: &CheckConfig,
    lookup: &Lookup,
    method: Option<Method>,
    purpose: &str,
) -> Option<Finding> {
    let Outcome::ServFail { why } = &lookup.outcome else {
        return None;
    };
    let code = servfail_code(lookup, why);
    let name = lookup.qname.without_dot();
    let qtype = lookup.qtype.to_string();
    let mut f = blocking(
        cfg,
        code,
        method,
        format!("{purpose}: the CA's resolver would return SERVFAIL for {name}/{qtype}: {why}"),
    );
    match (code, why) {
        (FindingCode::DnssecBogus, ServFailReason::Bogus(reason)) => {
            f.ca_message = Some(messages::cloudflare_dnssec_bogus(&qtype, name));
            f.acme_detail = Some(reason.boulder_problem(lookup.qtype, &lookup.qname));
            f.explanation = format!(
                "DNSSEC validation fails in zone {}: {}. A validating resolver (Let's Encrypt uses Unbound) turns this into SERVFAIL, so the CA cannot use the answer.",
                reason.zone(),
                reason.to_string().trim_end_matches('.')
            );
            f.fix = match reason {
                // The zones are fine; the servers that host both answer
                // from the wrong side of the cut.
                dcv_dns::BogusReason::DsAnsweredByChild { zone, parent, .. } => format!(
                    "The servers that host both {parent} and {zone} must answer DS queries for {zone} from {parent}, the parent (RFC 4035 §3.1.4.1): update or reconfigure that server software, or host {zone} on servers that do not also serve {parent}."
                ),
                dcv_dns::BogusReason::SignerNotZone { signer, zone, .. } => format!(
                    "Records are signed as zone {signer}, but {zone} has no delegation there: sign them with {zone}'s keys, or delegate {signer} from {zone} (NS and DS records)."
                ),
                _ => format!(
                    "Repair the chain of trust for {}: re-sign the zone (fresh RRSIGs), or make the DS records at the parent match the zone's current KSK, or remove the DS at the registrar to go unsigned. DNSViz shows the same chain.",
                    reason.zone()
                ),
            };
        }
        (FindingCode::DnsTimeout, _) => {
            f.ca_message = Some(messages::CLOUDFLARE_DNS_TROUBLE.to_owned());
            f.acme_detail = Some(format!(
                "DNS problem: query timed out looking up {qtype} for {name}"
            ));
            f.fix = "Make every authoritative nameserver answer over UDP and TCP, IPv4 and IPv6 (check firewalls, rate limits and servers that drop unknown query types such as CAA).".to_owned();
        }
        (FindingCode::DnsRefused, _) => {
            f.ca_message = Some(messages::CLOUDFLARE_SERVFAIL.to_owned());
            f.acme_detail = Some(messages::boulder_dns_problem("SERVFAIL", &qtype, name));
            f.fix = "The nameservers named in the delegation refuse the zone: configure the zone on them, or change the NS records at the parent to servers that serve it.".to_owned();
        }
        (FindingCode::DnsLameDelegation, _) => {
            f.ca_message = Some(messages::CLOUDFLARE_SERVFAIL.to_owned());
            f.acme_detail = Some(messages::boulder_dns_problem("SERVFAIL", &qtype, name));
            f.fix = "The delegated nameservers do not answer authoritatively: add the zone to them, or point the parent's NS records at the provider that really hosts it.".to_owned();
        }
        _ => {
            f.ca_message = Some(messages::CLOUDFLARE_SERVFAIL.to_owned());
            f.acme_detail = Some(messages::boulder_dns_problem("SERVFAIL", &qtype, name));
            f.fix = "Fix the failing nameservers so every one answers authoritatively (see the evidence for each server's answer).".to_owned();
        }
    }
    f.evidence
        .push(Evidence::DnsLookup(DnsLookupEvidence::from_lookup(lookup)));
    Some(f)
}

/// Every lookup the check made, for rules that look across them.
fn all_lookups(obs: &Observations) -> impl Iterator<Item = &Lookup> {
    obs.caa
        .iter()
        .chain(obs.a.iter())
        .chain(obs.aaaa.iter())
        .chain(obs.txt.iter())
}

/// Findings about zones rather than single answers.
pub fn zone_findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(partial_server_failures(obs));
    out.extend(delegations(cfg, obs));
    if let Some(base) = obs.caa.first()
        && let Security::Insecure(reason) = &base.security
    {
        let mut f = finding(
            FindingCode::DnssecInsecure,
            Severity::Info,
            format!("{} is not DNSSEC-signed: {reason}", cfg.hostname.base()),
        );
        f.fix = "Nothing is required. Signing the zone protects the CAA and validation records from forgery (RFC 8659 §5.1).".to_owned();
        f.evidence
            .push(Evidence::DnsLookup(DnsLookupEvidence::from_lookup(base)));
        out.push(f);
    }
    out
}

/// A server that fails while another server of the same zone answers: the CA's
/// resolver retries elsewhere, but other perspectives and resolvers may pick the
/// broken one first. Warning, one per server and failure.
/// Servers of one zone failing one way: (zone, code), the servers, a lookup to
/// show as evidence, and whether the failure is a missing AA bit.
type FailureGroup<'a> = (
    (dcv_dns::DnsName, FindingCode),
    Vec<String>,
    &'a Lookup,
    bool,
);

fn partial_server_failures(obs: &Observations) -> Vec<Finding> {
    // (zone, code) -> the servers failing that way, with one lookup as evidence.
    let mut groups: Vec<FailureGroup<'_>> = Vec::new();
    let mut seen = BTreeSet::new();
    for lookup in all_lookups(obs) {
        if matches!(lookup.outcome, Outcome::ServFail { .. }) {
            continue; // reported as the blocking failure itself
        }
        for answer in &lookup.server_answers {
            // A server this machine cannot reach proves nothing about the zone.
            if super::vantage::excuses_verdict(obs, answer.server.addr.ip(), &answer.verdict) {
                continue;
            }
            let code = match &answer.verdict {
                // RFC 1912 §2.8: an answer without AA is lame, even though
                // Unbound (and so the CA) still uses it when nothing better comes.
                _ if answer.is_lame() => FindingCode::DnsLameDelegation,
                ServerVerdict::Timeout | ServerVerdict::NetworkError { .. } => {
                    FindingCode::DnsTimeout
                }
                ServerVerdict::Refused => FindingCode::DnsRefused,
                ServerVerdict::ServFail
                | ServerVerdict::OtherRcode { .. }
                | ServerVerdict::Unparseable { .. } => FindingCode::DnsServfail,
                _ => continue,
            };
            if !seen.insert((answer.server.addr, answer.zone.clone(), code)) {
                continue;
            }
            let who = format!(
                "{} ({})",
                answer.server.name.without_dot(),
                answer.server.addr.ip()
            );
            let no_aa = code == FindingCode::DnsLameDelegation && answer.verdict.is_usable();
            let key = (answer.zone.clone(), code);
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1.push(who),
                None => groups.push((key, vec![who], lookup, no_aa)),
            }
        }
    }
    groups
        .into_iter()
        .map(|((zone, code), servers, lookup, no_aa)| {
            let what = if no_aa {
                "answer without the AA bit (not authoritative); resolvers still use the data".to_owned()
            } else {
                match code {
                    FindingCode::DnsTimeout => "do not answer",
                    FindingCode::DnsRefused => "answer REFUSED",
                    FindingCode::DnsLameDelegation => "are lame",
                    _ => "answer SERVFAIL",
                }
                .to_owned()
                    + " while other servers of the zone answer"
            };
            let mut f = finding(
                code,
                Severity::Warning,
                format!("nameservers of {zone} {what}: {}", servers.join(", ")),
            );
            f.explanation = format!(
                "{} Resolvers that ask these servers first retry elsewhere and slow down; a CA perspective that can reach only them fails.",
                code.meaning()
            );
            f.fix = format!(
                "Fix {} or remove them from the NS set of {zone} (at the zone and at its parent).",
                servers.join(", ")
            );
            f.evidence.push(Evidence::DnsLookup(DnsLookupEvidence::from_lookup(lookup)));
            f
        })
        .collect()
}

/// Whether `zone` lies below the registrable domain of `hostname` (Public
/// Suffix List, ICANN and private sections): the delegation of the
/// registrable domain itself (`example.co.uk.` from `co.uk.`, `me.github.io.`
/// from `github.io.`) is the registrar's and normal; one below it
/// (`shop.example.co.uk.`) moves the name to another provider. A name the
/// list cannot place falls back to "below the second label".
fn below_registrable_domain(zone: &str, hostname: &str) -> bool {
    let labels = |s: &str| s.split('.').filter(|l| !l.is_empty()).count();
    let host = hostname.trim_end_matches('.').to_ascii_lowercase();
    let registrable = psl::domain_str(&host).map_or(2, labels);
    labels(zone) > registrable
}

/// `ns_delegated`: a zone cut at the hostname or a parent below the
/// registrable level hands the name (and its `_acme-challenge` records) to
/// the servers named there. Informational unless the DNS method then misses
/// its TXT record, which the TXT rules report with this zone in the fix.
fn delegations(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let Some(lookup) = obs.caa.first().or(obs.a.as_ref()) else {
        return Vec::new();
    };
    let Ok(name) = dcv_dns::DnsName::parse(cfg.hostname.base()) else {
        return Vec::new();
    };
    let Some(cut) = lookup.zone_cut_for(&name) else {
        return Vec::new();
    };
    let Some(parent) = &cut.parent else {
        return Vec::new();
    };
    if !below_registrable_domain(cut.zone.without_dot(), cfg.hostname.base()) {
        return Vec::new();
    }
    let ns: Vec<&str> = cut
        .ns_names
        .iter()
        .map(dcv_dns::DnsName::without_dot)
        .collect();
    let mut f = finding(
        FindingCode::NsDelegated,
        Severity::Info,
        format!(
            "{} is delegated by {} to its own nameservers ({}): the CA uses the records there",
            cut.zone.without_dot(),
            parent.without_dot(),
            ns.join(", ")
        ),
    );
    f.explanation = format!(
        "An NS record for {} in the zone {} moves DNS resolution of {} to the provider named by {}. Records for {} (A/AAAA, CAA, the _acme-challenge TXT) must be added there; copies left at the parent's provider are never seen by the CA.",
        cut.zone.without_dot(),
        parent.without_dot(),
        cfg.hostname.base(),
        ns.join(", "),
        cfg.hostname.base()
    );
    f.fix = format!(
        "Add the DCV TXT record (and any CAA records) at the provider that serves {} ({}), or remove the NS records for {} at {}'s provider.",
        cut.zone.without_dot(),
        ns.join(", "),
        cut.zone.without_dot(),
        parent.without_dot()
    );
    f.evidence
        .push(Evidence::DnsLookup(DnsLookupEvidence::from_lookup(lookup)));
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::below_registrable_domain;

    /// The registrar's delegation is not `ns_delegated`; a provider's below it is.
    #[test]
    fn only_delegations_below_the_registrable_domain_count() {
        for (zone, host, below) in [
            ("example.com.", "www.example.com", false),
            ("www.example.com.", "www.example.com", true),
            // Two-label public suffixes: co.uk's delegation is the registrar's.
            ("example.co.uk.", "www.example.co.uk", false),
            ("shop.example.co.uk.", "a.shop.example.co.uk", true),
            // Private section: a github.io user site is its own registrable domain.
            ("me.github.io.", "www.me.github.io", false),
            // A TLD the list does not know (the lab's) is a suffix by the default rule.
            ("example.lab.", "www.example.lab", false),
            ("sub.example.lab.", "www.sub.example.lab", true),
        ] {
            assert_eq!(
                below_registrable_domain(zone, host),
                below,
                "{zone} for {host}"
            );
        }
    }
}
