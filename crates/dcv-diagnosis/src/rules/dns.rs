//! DNS findings (troubleshooting page, "DNS settings and records"): resolver
//! failures the CA would hit, servers that fail while others answer, zone cuts
//! that hand the name to another provider, and the DNSSEC status.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use dcv_dns::{DnsName, Lookup, Outcome, Security, ServFailReason, ServerTiming, ServerVerdict};

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::{
    ColdUnboundEvidence, DnsLookupEvidence, DnsTimingEvidence, ServerTimingEvidence,
};
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
    let self_referred = self_referrals(cfg, obs);
    let reported: BTreeSet<(SocketAddr, DnsName)> = self_referred
        .iter()
        .flat_map(|(_, servers)| servers.iter().cloned())
        .collect();
    out.extend(self_referred.into_iter().map(|(f, _)| f));
    out.extend(partial_server_failures(obs, &reported));
    out.extend(slow_servers(cfg, obs));
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

fn partial_server_failures(
    obs: &Observations,
    reported: &BTreeSet<(SocketAddr, DnsName)>,
) -> Vec<Finding> {
    // (zone, code) -> the servers failing that way, with one lookup as evidence.
    let mut groups: Vec<FailureGroup<'_>> = Vec::new();
    let mut seen = BTreeSet::new();
    for lookup in all_lookups(obs) {
        if matches!(lookup.outcome, Outcome::ServFail { .. }) {
            continue; // reported as the blocking failure itself
        }
        for answer in &lookup.server_answers {
            // A server this machine cannot reach proves nothing about the zone.
            if super::vantage::excuses_verdict(obs, answer.server.addr.ip(), &answer.verdict)
                || reported.contains(&(answer.server.addr, answer.zone.clone()))
            {
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
            let who = server_label(answer);
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
                "{} Resolvers that ask these servers first retry elsewhere and slow down; a CA perspective that can reach only them fails.{}",
                code.meaning(),
                if code == FindingCode::DnsTimeout {
                    CAPS_FALLBACK_NOTE
                } else {
                    ""
                }
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

/// What a dead server does to Let's Encrypt's resolver beyond slowing it:
/// Unbound with `use-caps-for-id` (LE's setting) takes three timeouts on
/// one question as a sign that the servers mishandle 0x20 case and asks
/// every address of the zone again, the dead ones included, each with a
/// timeout grown by back-off (iterator.c, "Capsforid: timeouts, starting
/// fallback"). Seen in the generated worlds (seed 777: two of eight
/// questions got no answer within 30 s while a live server answered each
/// in milliseconds), so a zone with a dead server can fail at the CA by
/// timeout even though this check's lookup succeeds.
const CAPS_FALLBACK_NOTE: &str = " Let's Encrypt's resolver (Unbound with 0x20 case randomisation) goes further: after three timeouts on one question it asks every server of the zone again, these included, with growing timeouts, and can then run out of time although other servers answer.";

/// `name (address)`, as the DNS findings name a server.
fn server_label(answer: &dcv_dns::ServerAnswer) -> String {
    format!(
        "{} ({})",
        answer.server.name.without_dot(),
        answer.server.addr.ip()
    )
}

/// The selected CAs that validate through Unbound
/// ([`crate::CaResolver::Unbound`]): the findings about Unbound's own
/// readings (a self-referral as NODATA, the 0x20 fallback) block these.
fn unbound_cas(cfg: &CheckConfig) -> Vec<crate::ca::CaId> {
    cfg.cas
        .iter()
        .copied()
        .filter(|ca| ca.profile().resolver == crate::CaResolver::Unbound)
        .collect()
}

/// A self-referral finding and the (server, zone) pairs it names, so that
/// the generic lame-server warning does not repeat them.
type SelfReferralFinding = (Finding, Vec<(SocketAddr, DnsName)>);

/// Servers that answer a question the CA needs records for with a referral
/// to the zone itself ([`dcv_dns::LameReason::SelfReferral`]): they serve
/// the parent, not the zone. The engine, like BIND, calls that lame and asks
/// the zone's other servers (RFC 1034 §4.3.2); Unbound, Let's Encrypt's
/// resolver, takes it as an empty answer (NODATA), so whenever it picks such
/// a server the CA sees no TXT record (DNS-01) or no address (HTTP-01). An
/// error for the CAs known to run Unbound ([`crate::CaResolver::Unbound`]),
/// a warning when none of the selected CAs does. CAA lookups are left to
/// the generic lame-server warning: an empty CAA answer permits issuance,
/// it does not block it.
fn self_referrals(cfg: &CheckConfig, obs: &Observations) -> Vec<SelfReferralFinding> {
    let has_records = |l: Option<&Lookup>| l.is_some_and(|l| !l.records().is_empty());
    // HTTP-01 survives an empty answer for one family while the other has
    // addresses (Boulder tries IPv6, then IPv4): only the family the name
    // lives on alone is needed.
    let needed = [
        (obs.txt.as_ref(), Method::Dns, "TXT record"),
        (
            obs.a.as_ref().filter(|_| !has_records(obs.aaaa.as_ref())),
            Method::Http,
            "address",
        ),
        (
            obs.aaaa.as_ref().filter(|_| !has_records(obs.a.as_ref())),
            Method::Http,
            "address",
        ),
    ];
    let unbound_cas = unbound_cas(cfg);
    let mut out = Vec::new();
    for (lookup, method, what) in needed {
        let Some(lookup) = lookup else { continue };
        if !cfg.methods.contains(&method) || lookup.records().is_empty() {
            continue;
        }
        let servers: Vec<&dcv_dns::ServerAnswer> = lookup
            .server_answers
            .iter()
            .filter(|a| {
                matches!(
                    &a.verdict,
                    ServerVerdict::Lame {
                        reason: dcv_dns::LameReason::SelfReferral { .. }
                    }
                )
            })
            .collect();
        let Some(first) = servers.first() else {
            continue;
        };
        let zone = first.zone.without_dot();
        let names: Vec<String> = servers.iter().map(|a| server_label(a)).collect();
        let name = lookup.qname.without_dot();
        let summary = format!(
            "nameservers of {zone} answer {name}/{} with a referral to {zone} itself (they serve its parent, not the zone): {}",
            lookup.qtype,
            names.join(", ")
        );
        let mut f = if unbound_cas.is_empty() {
            finding(FindingCode::DnsLameDelegation, Severity::Warning, summary)
        } else {
            let mut f = finding(FindingCode::DnsLameDelegation, Severity::Error, summary);
            f.blocks.clone_from(&unbound_cas);
            f.method = Some(method);
            f
        };
        f.explanation = format!(
            "The other servers of {zone} answer with the {what}. Unbound, the resolver Let's Encrypt validates with, takes a referral to the zone it asked as an empty answer (NODATA) instead of asking another server, so each time it picks one of these servers the CA finds no {what} and the validation fails; which server it picks varies by query and perspective, so the failure comes and goes. Resolvers that call the referral lame (BIND, this check) retry elsewhere."
        );
        if method == Method::Dns {
            f.acme_detail = Some(messages::boulder_txt_missing(name));
        } else {
            f.acme_detail = Some(messages::boulder_no_addresses(name));
        }
        f.fix = format!(
            "Serve {zone} on {} (add the zone to them), or remove them from the NS records of {zone}, both in the zone and at its parent.",
            names.join(", ")
        );
        f.evidence
            .push(Evidence::DnsLookup(DnsLookupEvidence::from_lookup(lookup)));
        let pairs = servers
            .iter()
            .map(|a| (a.server.addr, a.zone.clone()))
            .collect();
        out.push((f, pairs));
    }
    out
}

/// Tries lost (a later try of the same question answered) before a server
/// counts as lossy: one lost packet is weather, and under load an answer can
/// overtake the one to an earlier try.
const LOSSY_AFTER_LOST_TRIES: u32 = 2;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Every lookup of the check, the TLD and doubled-label ones included, for
/// naming servers by the zone cuts that list them.
fn every_lookup(obs: &Observations) -> impl Iterator<Item = &Lookup> {
    all_lookups(obs)
        .chain(obs.tld.iter())
        .chain(obs.txt_doubled.iter())
}

/// `dns_slow_server`: servers of the domain's zones (at or below the
/// registrable domain; the root and registries are not the domain's to fix)
/// whose median answer is slower than a resolver's first retransmission
/// timeout, or that lost tries a retry got through, in zones where every
/// lookup still resolved. One warning per zone, with every server's
/// timings as evidence.
fn slow_servers(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let initial_rto = cfg.dns.initial_rto;
    // Address -> (zone, name server name); the deepest zone listing it wins.
    let mut named: BTreeMap<SocketAddr, (DnsName, DnsName)> = BTreeMap::new();
    for lookup in every_lookup(obs) {
        for cut in &lookup.zone_cuts {
            for ns in &cut.servers {
                let deeper = named
                    .get(&ns.addr)
                    .is_none_or(|(z, _)| z.label_count() < cut.zone.label_count());
                if deeper {
                    named.insert(ns.addr, (cut.zone.clone(), ns.name.clone()));
                }
            }
        }
    }
    // Zones where the CA's resolver did not get through: the blocking
    // finding of that lookup tells it.
    let failed: BTreeSet<&DnsName> = every_lookup(obs)
        .filter_map(|l| match &l.outcome {
            Outcome::ServFail {
                why: ServFailReason::AllServersFailed { zone, .. },
            } => Some(zone),
            _ => None,
        })
        .collect();
    let registrable = psl::domain_str(&cfg.hostname.base().to_ascii_lowercase())
        .map_or(2, |d| d.split('.').filter(|l| !l.is_empty()).count());
    let mut zones: BTreeMap<DnsName, Vec<(&ServerTiming, &DnsName)>> = BTreeMap::new();
    for t in &obs.server_timings {
        let Some((zone, ns)) = named.get(&t.server) else {
            continue;
        };
        if zone.label_count() < registrable || failed.contains(zone) {
            continue;
        }
        zones.entry(zone.clone()).or_default().push((t, ns));
    }
    let is_slow = |t: &ServerTiming| t.median_ms().is_some_and(|m| m > ms(initial_rto));
    let is_lossy = |t: &ServerTiming| t.lost >= LOSSY_AFTER_LOST_TRIES;
    let tries = cfg.dns.retries.saturating_add(1);
    let mut out = Vec::new();
    for (zone, servers) in zones {
        let bad: Vec<String> = servers
            .iter()
            .filter(|(t, _)| t.answered > 0 && (is_slow(t) || is_lossy(t)))
            .map(|(t, ns)| {
                let mut what = Vec::new();
                if is_slow(t) {
                    what.push(format!(
                        "median answer {} ms",
                        t.median_ms().unwrap_or_default()
                    ));
                }
                if is_lossy(t) {
                    what.push(format!("{} of {} tries lost", t.lost, t.tries));
                }
                format!(
                    "{} ({}) {}",
                    ns.without_dot(),
                    t.server.ip(),
                    what.join(", ")
                )
            })
            .collect();
        if bad.is_empty() {
            continue;
        }
        let slowest = servers
            .iter()
            .filter_map(|(t, _)| t.max_ms())
            .max()
            .unwrap_or_default();
        let cold = dcv_dns::cold_resolver_cost(Duration::from_millis(slowest), initial_rto, tries);
        let (prediction, model) = cold_unbound_prediction(obs, &servers);
        let budget = cfg.dns.lookup_budget;
        let timing = DnsTimingEvidence {
            zone: zone.to_string(),
            initial_rto_ms: ms(initial_rto),
            ca_budget_ms: ms(budget),
            servers: servers
                .iter()
                .map(|(t, ns)| {
                    let cold = t.max_ms().and_then(|max| {
                        dcv_dns::cold_resolver_cost(Duration::from_millis(max), initial_rto, tries)
                    });
                    ServerTimingEvidence {
                        server: format!("{ns}@{}", t.server),
                        questions: t.questions,
                        answered: t.answered,
                        tries: t.tries,
                        lost: t.lost,
                        late: t.late,
                        median_ms: t.median_ms(),
                        max_ms: t.max_ms(),
                        cold_resolver_timeouts: cold.map(|(_, n)| n),
                        cold_resolver_wait_ms: cold.map(|(w, _)| ms(w)),
                    }
                })
                .collect(),
            cold_unbound: Some(model),
        };
        if prediction.best_case() > budget {
            let others_fast = fast_elsewhere(&obs.server_timings, &servers, initial_rto);
            out.push(caps_fallback_timeout(
                cfg,
                &zone,
                &bad,
                &prediction,
                others_fast,
                timing,
            ));
            continue;
        }
        let mut f = finding(
            FindingCode::DnsSlowServer,
            Severity::Warning,
            format!(
                "nameservers of {} are slow or lose queries, yet the CA's resolver still gets their answers: {}",
                zone.without_dot(),
                bad.join("; ")
            ),
        );
        let cost = match cold {
            Some((wait, 0)) => format!(
                "The slowest answer here ({slowest} ms) still comes within that first wait ({} ms)",
                ms(wait.max(initial_rto))
            ),
            Some((wait, n)) => format!(
                "For the slowest answer here ({slowest} ms) that is {n} timeout{} ({} ms) before one of its tries waits long enough, on each first contact with the server",
                if n == 1 { "" } else { "s" },
                ms(wait)
            ),
            None => format!(
                "The slowest answer here ({slowest} ms) is slower than any of its {tries} tries waits: only the other servers get it through"
            ),
        };
        let fallback = if prediction.worst_case() > budget {
            format!(
                " With unlucky server choices it is worse: three timeouts in a row on one question start Unbound's 0x20 fallback, which asks the servers one at a time until {} answers agree, {:.1} s in all (the luckiest choices take {:.1} s), past the CA's budget: validation then fails with \"query timed out\", and a retry may pass.",
                fallback_answers(&prediction),
                prediction.worst_case().as_secs_f64(),
                prediction.best_case().as_secs_f64()
            )
        } else if prediction.fallback_possible() {
            format!(
                " Three timeouts in a row on one question start Unbound's 0x20 fallback (Let's Encrypt runs it with use-caps-for-id), which asks the servers one at a time until {} answers agree; here that still ends within the budget ({:.1} s at most).",
                fallback_answers(&prediction),
                prediction.worst_case().as_secs_f64()
            )
        } else {
            String::new()
        };
        f.explanation = format!(
            "{} Let's Encrypt's resolver (Unbound) waits {} ms for a server it has no history of, then asks again and drops the late answer, doubling the wait each time. {cost}; every lost packet costs it one timeout more. The CA allows about {} s per lookup, so today it gets through; a little more delay or loss and validation fails with \"query timed out\".{fallback}",
            FindingCode::DnsSlowServer.meaning(),
            ms(initial_rto),
            budget.as_secs()
        );
        f.fix = slow_fix(&zone);
        f.evidence.push(Evidence::DnsTiming(timing));
        out.push(f);
    }
    out
}

fn slow_fix(zone: &DnsName) -> String {
    format!(
        "Find out why these servers answer slowly or drop queries (an overloaded or distant server, rate limiting, a firewall or DDoS filter dropping packets, an anycast node far from the CA) and fix it, or remove them from the NS set of {} (at the zone and at its parent).",
        zone.without_dot()
    )
}

/// What a cold Unbound as Let's Encrypt runs it does with one question to
/// the zone's servers, from their measured median latencies
/// ([`dcv_dns::cold_unbound`]). An address this machine could not reach
/// (IPv6 on an IPv4-only host) takes the median of the others: the CA
/// reaches it, and it is most likely the same server. Two questions when
/// the domain is signed: the validator then fetches the zone's DNSKEY.
fn cold_unbound_prediction(
    obs: &Observations,
    servers: &[(&ServerTiming, &DnsName)],
) -> (dcv_dns::cold_unbound::ColdEstimate, ColdUnboundEvidence) {
    use dcv_dns::cold_unbound::{self, UnboundTimers, ZoneAddress};
    let mut measured: Vec<u64> = servers
        .iter()
        .filter(|(t, _)| t.answered > 0)
        .filter_map(|(t, _)| t.median_ms())
        .collect();
    measured.sort_unstable();
    let zone_median = measured.get(measured.len() / 2).copied();
    let latencies: Vec<Option<u64>> = servers
        .iter()
        .map(|(t, _)| {
            if t.answered > 0 {
                t.median_ms()
            } else if super::vantage::excuses_verdict(obs, t.server.ip(), &ServerVerdict::Timeout) {
                zone_median
            } else {
                None
            }
        })
        .collect();
    let addresses: Vec<ZoneAddress> = latencies
        .iter()
        .map(|l| ZoneAddress {
            latency: l.map(Duration::from_millis),
            usable: true,
        })
        .collect();
    let signed = all_lookups(obs).any(|l| matches!(l.security, Security::Secure));
    let questions = if signed { 2 } else { 1 };
    let e = cold_unbound::estimate(&addresses, UnboundTimers::LETS_ENCRYPT, questions);
    let evidence = ColdUnboundEvidence {
        questions,
        latencies_ms: latencies,
        caps_fallback: e.fallback().to_owned(),
        fallback_answers: [e.luckiest.fallback_answers, e.lowest_rto.fallback_answers],
        best_ms: ms(e.best_case()),
        worst_ms: ms(e.worst_case()),
    };
    (e, evidence)
}

/// Whether some server outside `zone_servers` (the root's, a registry's, a
/// CNAME target's provider) answered this check within a first RTO: then
/// this machine's round trips are fast and a zone's slowness is its
/// servers'. Under local load (a starved host, fifty checks on two cores)
/// every server looks slow, and blaming the domain for it would be blaming
/// it for the machine the check runs on. `false` when nothing else was
/// measured (a shared cache that skipped the walk): then it cannot be told.
fn fast_elsewhere(
    timings: &[ServerTiming],
    zone_servers: &[(&ServerTiming, &DnsName)],
    initial_rto: Duration,
) -> bool {
    timings
        .iter()
        .filter(|t| t.answered > 0)
        .filter(|t| !zone_servers.iter().any(|(z, _)| z.server == t.server))
        .filter_map(ServerTiming::median_ms)
        .any(|m| m <= ms(initial_rto))
}

/// How many answers the fallback collects, as "12" or "10 to 12".
fn fallback_answers(e: &dcv_dns::cold_unbound::ColdEstimate) -> String {
    let mut n: Vec<u32> = [e.luckiest.fallback_answers, e.lowest_rto.fallback_answers]
        .into_iter()
        .flatten()
        .collect();
    n.sort_unstable();
    n.dedup();
    match n.as_slice() {
        [] => "three per address".to_owned(),
        [one] => one.to_string(),
        [low, .., high] => format!("{low} to {high}"),
    }
}

/// The zone's servers are slow enough that even the luckiest cold Unbound
/// (Let's Encrypt's resolver, 0x20 on) spends longer than the CA's budget
/// on one question: its 0x20 fallback (iterator.c, "Capsforid: timeouts,
/// starting fallback") wants three answers per address, one at a time. An
/// error for DNS-01 at the CAs that run Unbound ([`crate::CaResolver::Unbound`]),
/// a warning when none of the selected CAs does or only HTTP-01 is checked.
/// A resolver that has asked
/// these servers in the last 15 minutes (Unbound's `infra-host-ttl`, 900 s)
/// knows their latency, times out less and may get through: the failure
/// is that of a first attempt.
fn caps_fallback_timeout(
    cfg: &CheckConfig,
    zone: &DnsName,
    bad: &[String],
    e: &dcv_dns::cold_unbound::ColdEstimate,
    others_fast: bool,
    timing: DnsTimingEvidence,
) -> Finding {
    let unbound_cas = unbound_cas(cfg);
    let summary = format!(
        "nameservers of {} are too slow for Let's Encrypt's resolver: a cold Unbound with 0x20 needs {:.1} s or more for one question, past the CA's {} s: {}",
        zone.without_dot(),
        e.best_case().as_secs_f64(),
        cfg.dns.lookup_budget.as_secs(),
        bad.join("; ")
    );
    // DNS-01 asks one question of the zone first, the TXT record: the
    // model's case. HTTP-01 asks A and AAAA at once, which share the
    // timeouts (four questions at once on two addresses got through up to
    // 1.7 s on the lab), and the CAA lookups after them meet servers whose
    // latency the resolver has learned: not modelled, so a warning.
    let dns01 = cfg.methods.contains(&Method::Dns);
    let mut f = if unbound_cas.is_empty() || !dns01 || !others_fast {
        finding(FindingCode::DnsSlowServer, Severity::Warning, summary)
    } else {
        let mut f = finding(FindingCode::DnsTimeout, Severity::Error, summary);
        f.blocks = unbound_cas;
        f.method = Some(Method::Dns);
        f
    };
    let (qtype, name) = if dns01 {
        ("TXT", format!("_acme-challenge.{}", cfg.hostname.base()))
    } else {
        ("A", cfg.hostname.base().to_owned())
    };
    f.acme_detail = Some(format!(
        "DNS problem: query timed out looking up {qtype} for {name}"
    ));
    f.explanation = format!(
        "Every server of {} answers slower than the waits of a resolver that has no history of it (Unbound starts at {} ms and doubles the wait per timeout, dropping late answers). Let's Encrypt runs Unbound with use-caps-for-id: three timeouts in a row on one question make it suspect the servers of mangling the 0x20 case, and it then asks them one at a time until {} answers agree. At the latencies measured here that takes {:.1} s with the luckiest server choices ({:.1} s with the unluckiest), and the CA gives up after about {} s: validation fails with \"query timed out\". This check gets the answers because it asks every server at once and accepts late answers; the CA's resolver does not. A retry within about 15 minutes, while the resolver remembers the servers' latency, may pass.",
        zone.without_dot(),
        ms(cfg.dns.initial_rto),
        fallback_answers(e),
        e.best_case().as_secs_f64(),
        e.worst_case().as_secs_f64(),
        cfg.dns.lookup_budget.as_secs()
    );
    if !others_fast {
        f.explanation.push_str(" But every other server this check asked (the root's, the registry's) was slow too: this machine or its network may be what is slow (a busy host, a congested link), so this is a warning until a check from an unloaded machine confirms it.");
    }
    if !dns01 {
        f.explanation.push_str(" This check covers HTTP-01 only, where Let's Encrypt asks A and AAAA at once; the two questions share the timeouts and may stay short of the fallback (not modelled), so this is a warning; DNS-01 would fail.");
    }
    f.fix = slow_fix(zone);
    f.evidence.push(Evidence::DnsTiming(timing));
    f
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
    use super::{DnsName, Duration, ServerTiming, below_registrable_domain, fast_elsewhere};

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

    fn timing(addr: &str, latencies_ms: &[u64]) -> ServerTiming {
        ServerTiming {
            server: addr.parse().unwrap(),
            questions: 3,
            answered: u32::try_from(latencies_ms.len()).unwrap(),
            tries: 3,
            lost: 0,
            late: 0,
            unanswered: 0,
            latencies_ms: latencies_ms.to_vec(),
            rto_ms: 0,
        }
    }

    /// A zone's slowness is its servers' only when something else answered
    /// this check quickly: when every server was slow, the machine may be.
    #[test]
    fn slowness_is_blamed_on_a_zone_only_when_other_servers_were_fast() {
        let ns: DnsName = DnsName::parse("ns1.example.").unwrap();
        let slow = timing("192.0.2.1:53", &[900, 950, 1000]);
        let zone = [(&slow, &ns)];
        let rto = Duration::from_millis(376);
        let fast_root = timing("192.0.2.9:53", &[20, 30]);
        let slow_root = timing("192.0.2.9:53", &[800, 900]);
        let silent_root = timing("192.0.2.9:53", &[]);
        assert!(fast_elsewhere(&[slow.clone(), fast_root], &zone, rto));
        assert!(!fast_elsewhere(&[slow.clone(), slow_root], &zone, rto));
        assert!(!fast_elsewhere(&[slow.clone(), silent_root], &zone, rto));
        // Nothing else measured (a shared cache skipped the walk).
        assert!(!fast_elsewhere(std::slice::from_ref(&slow), &zone, rto));
    }
}
