//! Path findings (troubleshooting page: "Your CAA records must be resolvable
//! from all locations"): without remote agents, the single-host best effort.
//! Every authoritative server of the zone answering the name's CAA (and the
//! `_acme-challenge` TXT) is asked over IPv4 and IPv6, UDP with and without
//! EDNS, and TCP. CAs resolve from several perspectives (BR 3.2.2.9) with their
//! own resolvers, some over TCP or without EDNS; a path that fails here, or a
//! copy that answers differently, fails some of them (RFC 8659 §6.1-§6.2).

use std::fmt::Write as _;

use dcv_dns::{ExchangeResult, Rcode, RecordEvidence, RecordType};

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::evidence::{DnsPathsEvidence, PathProbeEvidence};
use crate::messages;
use crate::model::{Evidence, Finding, Method, Severity};
use crate::runner::{Observations, PROBED_PATHS, PathProbe, PathProbes, ProbeRole};

use super::finding;

/// How one path failed. A truncated UDP answer is not a failure: resolvers
/// retry over TCP (RFC 7766 §5), and the TCP path is probed on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Failure {
    Timeout,
    Network,
    Refused,
    ServFail,
    FormErr,
    OtherRcode,
    Truncated,
    Unparseable,
    Differs,
}

impl Failure {
    /// Phrase for "nameservers of Z ... over some paths".
    fn what(self) -> &'static str {
        match self {
            Self::Timeout => "do not answer",
            Self::Network => "cannot be reached",
            Self::Refused => "answer REFUSED",
            Self::ServFail => "answer SERVFAIL",
            Self::FormErr => "answer FORMERR",
            Self::OtherRcode => "answer an error code",
            Self::Truncated => "send truncated answers over TCP",
            Self::Unparseable => "send unusable answers",
            Self::Differs => "give an answer different from the resolver's",
        }
    }
}

/// The RRset's records, comparable across paths: no signatures (a query
/// without EDNS has no DO bit), wire RDATA, sorted, duplicates dropped.
/// The runner compares servers' answers the same way.
pub(crate) fn rrset(records: &[RecordEvidence], qtype: RecordType) -> Vec<Vec<u8>> {
    let mut set: Vec<Vec<u8>> = records
        .iter()
        .filter(|r| r.rtype == qtype)
        .map(|r| {
            if r.wire_rdata.is_empty() {
                r.rdata.as_bytes().to_vec()
            } else {
                r.wire_rdata.clone()
            }
        })
        .collect();
    set.sort();
    set.dedup();
    set
}

/// What one probe saw, and the failure if any. `None`: not asked (query
/// budget spent or the probes' deadline passed), or a failure this machine
/// explains (`rules::vantage`), which prove nothing.
fn judge(
    obs: &Observations,
    p: &PathProbes,
    probe: &PathProbe,
) -> Option<(String, Option<Failure>)> {
    let exchange = probe.exchange.as_ref()?;
    let ip = probe.server.addr.ip();
    if super::vantage::excuses_exchange(obs, ip, probe.path.tcp, &exchange.result) {
        return None;
    }
    Some(match &exchange.result {
        // Refused by the engine's server policy: says nothing about the zone.
        ExchangeResult::NotQueried { .. } => return None,
        ExchangeResult::Timeout => ("timeout".to_owned(), Some(Failure::Timeout)),
        ExchangeResult::NetworkError { cause, error } => {
            (format!("{cause}: {error}"), Some(Failure::Network))
        }
        ExchangeResult::Unparseable { error, .. } => {
            (format!("unparseable: {error}"), Some(Failure::Unparseable))
        }
        ExchangeResult::Mismatched { detail } => (
            format!("answered another question: {detail}"),
            Some(Failure::Unparseable),
        ),
        ExchangeResult::Response(r) => {
            if r.flags.tc && !probe.path.tcp {
                ("TC (truncated; TCP asked separately)".to_owned(), None)
            } else if r.flags.tc {
                ("TC over TCP".to_owned(), Some(Failure::Truncated))
            } else {
                match r.rcode {
                    Rcode::NOERROR | Rcode::NXDOMAIN => {
                        let got: Vec<&RecordEvidence> =
                            r.answer.iter().filter(|x| x.rtype == p.qtype).collect();
                        let owned: Vec<RecordEvidence> = got.iter().map(|x| (*x).clone()).collect();
                        if rrset(&owned, p.qtype) == rrset(&p.expected, p.qtype) {
                            (format!("{}, same answer", r.rcode), None)
                        } else {
                            let shown: Vec<String> = got
                                .iter()
                                .map(|x| format!("{} {}", x.rtype, x.rdata))
                                .collect();
                            let shown = if shown.is_empty() {
                                "no records".to_owned()
                            } else {
                                shown.join(" | ")
                            };
                            (
                                format!("{}, different answer: {shown}", r.rcode),
                                Some(Failure::Differs),
                            )
                        }
                    }
                    Rcode::SERVFAIL => ("SERVFAIL".to_owned(), Some(Failure::ServFail)),
                    Rcode::REFUSED => ("REFUSED".to_owned(), Some(Failure::Refused)),
                    Rcode::FORMERR => ("FORMERR".to_owned(), Some(Failure::FormErr)),
                    other => (other.to_string(), Some(Failure::OtherRcode)),
                }
            }
        }
    })
}

fn evidence(obs: &Observations, p: &PathProbes) -> DnsPathsEvidence {
    DnsPathsEvidence {
        query: format!("{}/{}", p.qname.without_dot(), p.qtype),
        zone: p.zone.to_string(),
        role: match p.role {
            ProbeRole::CaaRelevant => Some("CAA climb: the relevant RRset, RFC 8659 §3".to_owned()),
            ProbeRole::CaaClimb => Some("CAA climb: no RRset here, RFC 8659 §3".to_owned()),
            ProbeRole::Txt => None,
            ProbeRole::ZonePaths => {
                Some("the zone's servers over every path, shared by a batch's checks".to_owned())
            }
        },
        expected: p
            .expected
            .iter()
            .filter(|r| r.rtype == p.qtype)
            .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.rtype, r.rdata))
            .collect(),
        probes: p
            .probes
            .iter()
            .map(|probe| {
                let (outcome, failure) = judge(obs, p, probe).unwrap_or_else(|| {
                    let not_checked = probe.exchange.as_ref().map(|e| &e.result).filter(|r| {
                        super::vantage::excuses_exchange(
                            obs,
                            probe.server.addr.ip(),
                            probe.path.tcp,
                            r,
                        )
                    });
                    match not_checked {
                        Some(ExchangeResult::NetworkError { cause, error }) => {
                            (format!("not checked from here ({cause}: {error})"), None)
                        }
                        Some(_) => (
                            "not checked from here (no answer on a path this machine cannot use)"
                                .to_owned(),
                            None,
                        ),
                        None => (
                            "not asked (query budget or probe deadline)".to_owned(),
                            None,
                        ),
                    }
                });
                PathProbeEvidence {
                    server: format!("{}@{}", probe.server.name, probe.server.addr),
                    path: probe.path.to_string(),
                    outcome,
                    ok: failure.is_none(),
                    latency_ms: probe.exchange.as_ref().map_or(0, |e| {
                        u64::try_from(e.latency.as_millis()).unwrap_or(u64::MAX)
                    }),
                    from_shared_cache_age_ms: probe
                        .reused_age
                        .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
                }
            })
            .collect(),
    }
}

/// Probes of one zone failing one way: (zone, failure), the failing probes,
/// the probe sets to show as evidence.
type Group<'a> = ((dcv_dns::DnsName, Failure), Vec<Hit>, Vec<&'a PathProbes>);

/// One failing probe, for the summary.
struct Hit {
    server: String,
    query: String,
    ip: std::net::IpAddr,
    path: dcv_dns::QueryPath,
}

/// `ns2.example.lab for www.example.lab/CAA: 127.0.0.5 (every path),
/// fd5c:dc5::5 (UDP without EDNS)`, per server and question, in probe order.
fn describe(hits: &[Hit]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut done: Vec<(&str, &str)> = Vec::new();
    for h in hits {
        let key = (h.server.as_str(), h.query.as_str());
        if done.contains(&key) {
            continue;
        }
        done.push(key);
        let same = |x: &&Hit| (x.server.as_str(), x.query.as_str()) == key;
        let mut ips: Vec<std::net::IpAddr> = Vec::new();
        for x in hits.iter().filter(same) {
            if !ips.contains(&x.ip) {
                ips.push(x.ip);
            }
        }
        let per_ip: Vec<String> = ips
            .iter()
            .map(|ip| {
                let paths: Vec<dcv_dns::QueryPath> = hits
                    .iter()
                    .filter(same)
                    .filter(|x| x.ip == *ip)
                    .map(|x| x.path)
                    .collect();
                let shown = if PROBED_PATHS.iter().all(|p| paths.contains(p)) {
                    "every path".to_owned()
                } else {
                    paths
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("{ip} ({shown})")
            })
            .collect();
        parts.push(format!("{} for {}: {}", key.0, key.1, per_ip.join(", ")));
    }
    parts.join("; ")
}

/// One warning per (zone, failure kind), naming every server and path.
pub fn findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for p in &obs.paths {
        for probe in &p.probes {
            let Some((_, Some(failure))) = judge(obs, p, probe) else {
                continue;
            };
            let entry = Hit {
                server: probe.server.name.without_dot().to_owned(),
                query: format!("{}/{}", p.qname.without_dot(), p.qtype),
                ip: probe.server.addr.ip(),
                path: probe.path,
            };
            let key = (p.zone.clone(), failure);
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => {
                    g.1.push(entry);
                    if !g.2.iter().any(|q| std::ptr::eq(*q, p)) {
                        g.2.push(p);
                    }
                }
                None => groups.push((key, vec![entry], vec![p])),
            }
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
        .into_iter()
        .map(|((zone, failure), entries, sets)| {
            let zone = zone.without_dot().to_owned();
            let zone = if zone.is_empty() { ".".to_owned() } else { zone };
            let mut f = finding(
                FindingCode::DnsPathInconsistent,
                Severity::Warning,
                format!(
                    "nameservers of {zone} {} on some paths: {}",
                    failure.what(),
                    describe(&entries)
                ),
            );
            let caa = sets.iter().any(|p| p.qtype == RecordType::CAA);
            f.ca_message = Some(
                if caa {
                    messages::CLOUDFLARE_MPIC_CAA
                } else {
                    messages::CLOUDFLARE_MPIC_DCV
                }
                .to_owned(),
            );
            if !caa && cfg.methods.contains(&Method::Dns) {
                f.method = Some(Method::Dns);
            }
            f.explanation = "CAs resolve from several network perspectives (BR 3.2.2.9), each with its own resolver; some ask over TCP, some without EDNS, over IPv4 or IPv6, and any of them may pick this server. This check's resolver view works, but a perspective that takes one of the paths named here fails or sees other records (Cloudflare: records must be resolvable from all locations; RFC 8659 §6.1-§6.2).".to_owned();
            let hostname = cfg.hostname.base().trim_end_matches('.');
            let mut parents: Vec<String> = sets
                .iter()
                .filter(|p| p.role != ProbeRole::Txt)
                .map(|p| p.qname.without_dot().to_owned())
                .filter(|q| !q.eq_ignore_ascii_case(hostname))
                .collect();
            parents.dedup();
            if !parents.is_empty() {
                let _ = write!(
                    f.explanation,
                    " CAA at {} is looked up on the way up the tree from {hostname} (RFC 8659 §3): every CA checking CAA for {hostname} asks these servers too, and its check fails if any lookup on the way fails.",
                    parents.join(", ")
                );
            }
            f.fix = if failure == Failure::Differs {
                format!(
                    "Bring every copy of {zone} in sync (the servers named serve other records than the resolver's view), then retry; check every address, IPv4 and IPv6, of each nameserver."
                )
            } else {
                format!(
                    "Make the servers named answer {zone} over UDP with and without EDNS and over TCP, on IPv4 and IPv6: check firewalls and middleboxes that drop TCP/53, EDNS or unknown query types such as CAA (RFC 8659 §6.1), or remove them from the NS set."
                )
            };
            f.evidence = sets
                .into_iter()
                .map(|p| Evidence::DnsPaths(evidence(obs, p)))
                .collect();
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcv_dns::QueryPath;

    fn hit(server: &str, ip: &str, path: QueryPath) -> Hit {
        Hit {
            server: server.to_owned(),
            query: "www.example.lab/CAA".to_owned(),
            ip: ip.parse().unwrap(),
            path,
        }
    }

    #[test]
    fn summary_groups_by_server_and_address() {
        let hits = [
            hit("ns2.example.lab", "127.0.0.2", QueryPath::UDP_EDNS),
            hit("ns2.example.lab", "127.0.0.2", QueryPath::UDP_PLAIN),
            hit("ns2.example.lab", "127.0.0.2", QueryPath::TCP_EDNS),
            hit("ns2.example.lab", "fd5c:dc5::2", QueryPath::UDP_PLAIN),
            hit("ns3.example.lab", "127.0.0.3", QueryPath::TCP_EDNS),
        ];
        assert_eq!(
            describe(&hits),
            "ns2.example.lab for www.example.lab/CAA: 127.0.0.2 (every path), \
             fd5c:dc5::2 (UDP without EDNS); ns3.example.lab for www.example.lab/CAA: \
             127.0.0.3 (TCP+EDNS)"
        );
    }
}
