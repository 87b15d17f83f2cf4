//! Evidence shapes in the report. They are summaries of the probe crates' own
//! evidence types, flattened to strings and numbers so the report's JSON stays
//! stable while the probes evolve.

use serde::{Deserialize, Serialize};

/// One authoritative server's own answer to a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAnswerEvidence {
    /// `name@address:port` of the server asked.
    pub server: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// RCODE name, or null when no answer came.
    pub rcode: Option<String>,
    /// Whether the server claimed authority (AA flag): a server without it is lame.
    pub authoritative: bool,
    pub latency_ms: u64,
    /// UDP packets sent for the question when more than one (the first try
    /// and the retransmissions sent each time the server's RTO ran out).
    #[serde(default, skip_serializing_if = "at_most_one")]
    pub tries: u8,
    /// The try the answer belonged to, when not the first: the ones before
    /// it were lost (or answered later than it).
    #[serde(default, skip_serializing_if = "at_most_one")]
    pub answered_try: u8,
    /// Records as served, in presentation format.
    pub answer: Vec<String>,
    /// Why no usable answer came (timeout, refused, malformed ...).
    pub error: Option<String>,
    /// RFC 8914 Extended DNS Error, as `code (text)`.
    pub ede: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn at_most_one(n: &u8) -> bool {
    *n <= 1
}

/// How the servers of one zone answered over the whole check: round trips,
/// tries and losses per server address, against a resolver's first
/// retransmission timeout and the CA's budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsTimingEvidence {
    /// The zone whose servers these are.
    pub zone: String,
    /// How long a resolver waits for a server it has no history of before
    /// it asks again, and drops a later answer (Unbound: 376 ms).
    pub initial_rto_ms: u64,
    /// The CA's patience for one lookup.
    pub ca_budget_ms: u64,
    pub servers: Vec<ServerTimingEvidence>,
    /// What a cold Unbound as Let's Encrypt runs it (0x20 on) does with one
    /// question to these servers (`dcv_dns::cold_unbound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_unbound: Option<ColdUnboundEvidence>,
}

/// The cold-Unbound model's prediction for a zone, from the measured
/// latencies: both ends of its server choice (luckiest, lowest RTO first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdUnboundEvidence {
    /// Questions modelled one after the other: the CA's, and the
    /// validator's DNSKEY fetch when the domain is signed.
    pub questions: u32,
    /// Latency taken for each address, in the order of `servers` (an
    /// address this machine could not reach takes the zone's median).
    pub latencies_ms: Vec<Option<u64>>,
    /// `never`, `possible` (some server choices) or `certain`.
    pub caps_fallback: String,
    /// Answers the fallback collected, luckiest and lowest-RTO-first.
    pub fallback_answers: [Option<u32>; 2],
    /// Time to the answer, luckiest and lowest-RTO-first.
    pub best_ms: u64,
    pub worst_ms: u64,
}

/// One server address's timings over the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerTimingEvidence {
    /// `name@address:port`.
    pub server: String,
    /// Questions asked of it (names, types and paths) and how many it
    /// answered.
    pub questions: u32,
    pub answered: u32,
    /// Packets sent, retransmissions included.
    pub tries: u32,
    /// Tries that got no answer although a later try of the same question
    /// did.
    pub lost: u32,
    /// Answers that came after their try's RTO: a resolver that drops late
    /// answers (Unbound) never sees these.
    pub late: u32,
    /// Median and slowest answer time.
    pub median_ms: Option<u64>,
    pub max_ms: Option<u64>,
    /// For the slowest answer: the timeouts a resolver with no history of
    /// this server sits through before its timer outlasts it, and the time
    /// they cost (`None`: none of its tries waits that long).
    pub cold_resolver_timeouts: Option<u8>,
    pub cold_resolver_wait_ms: Option<u64>,
}

/// The CA resolver's view of one lookup and the authoritative evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsLookupEvidence {
    /// `name/TYPE`.
    pub query: String,
    /// What a validating resolver returns: `NOERROR`, `NODATA`, `NXDOMAIN`, `SERVFAIL`.
    pub outcome: String,
    /// Final answer records in presentation format.
    pub answer: Vec<String>,
    /// `secure`, `insecure`, `bogus` or `indeterminate` (RFC 4035 §4.3).
    pub security: String,
    /// Why the answer is bogus/indeterminate, or why the resolver failed.
    pub reason: Option<String>,
    /// CNAME/DNAME links followed, as `owner -> target`.
    pub chain: Vec<String>,
    /// The zone authoritative for the final name and its nameservers.
    pub zone: Option<String>,
    pub zone_nameservers: Vec<String>,
    /// Each authoritative server's own answer (for the final zone).
    pub servers: Vec<ServerAnswerEvidence>,
    /// Zone cuts and zone keys this lookup took from a batch's shared
    /// infrastructure cache instead of fetching them, and how old each
    /// was; empty for a cold lookup (`--isolated`, `check`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_shared_cache: Vec<SharedCacheEvidence>,
}

/// One piece of infrastructure a lookup reused from the shared cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCacheEvidence {
    /// The zone, e.g. `lab.`.
    pub zone: String,
    /// `delegation` (the zone cut: NS names and addresses) or `keys` (its
    /// DS and DNSKEY RRsets and their validation).
    pub entry: String,
    /// Time since its records were fetched.
    pub age_ms: u64,
}

/// One zone's servers asked one question over every path (IPv4/IPv6 x UDP
/// with EDNS, UDP without EDNS, TCP), against the resolver view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsPathsEvidence {
    /// `name/TYPE`.
    pub query: String,
    /// The zone whose servers were asked.
    pub zone: String,
    /// Why this question was asked of this zone, when it is part of the CAA
    /// climb (RFC 8659 §3): `caa relevant rrset` (where the climb stopped)
    /// or `caa climb` (a name below it with no RRset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The RRset the CA's resolver view returned, in presentation format
    /// (empty for NXDOMAIN/NODATA).
    pub expected: Vec<String>,
    pub probes: Vec<PathProbeEvidence>,
}

/// One server asked over one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathProbeEvidence {
    /// `name@address:port` of the server asked.
    pub server: String,
    /// `UDP+EDNS`, `UDP without EDNS` or `TCP+EDNS`.
    pub path: String,
    /// What came back: `same answer`, `TC (truncated)`, `SERVFAIL`, `timeout`,
    /// `different answer: ...`.
    pub outcome: String,
    /// The path works and agrees with the resolver view.
    pub ok: bool,
    pub latency_ms: u64,
    /// Set when the exchange came from a batch's shared cache: an earlier
    /// check put the same question to the same server over the same path
    /// this long before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_shared_cache_age_ms: Option<u64>,
}

/// The CAA decision for one CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaaEvidence {
    /// The name whose CAA RRset decided (RFC 8659 §3), if any was found.
    pub relevant_name: Option<String>,
    /// The records of that RRset exactly as served, with a per-record verdict.
    pub records: Vec<String>,
    /// `permit`, `deny` or `lookup_failed`.
    pub decision: String,
    /// Why, in words, with the rule cited.
    pub reason: String,
    /// Every name queried on the climb and what it gave.
    pub lookups: Vec<String>,
}

/// One hop of an HTTP-01 fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHopEvidence {
    pub url: String,
    pub address: String,
    pub status: Option<u16>,
    pub location: Option<String>,
    /// The phase that failed (`connect`, `tls`, `response`, `body`), if one did.
    pub failed_phase: Option<String>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// `Server` header, for requests compared between addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `Content-Type` header, for requests compared between addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `sha256:<hex> (<n> bytes)` of the body read (capped), for requests
    /// compared between addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_digest: Option<String>,
}

/// An HTTP-01 fetch from one starting address, hop by hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpEvidence {
    /// The address the fetch started at.
    pub address: String,
    /// Whether this is the path the CA itself would take (IPv6 first, IPv4 only
    /// after a dial error).
    pub ca_path: bool,
    pub hops: Vec<HttpHopEvidence>,
    /// How the final response was classified.
    pub outcome: String,
    /// Start of the body as received (escaped), when it matters.
    pub body_excerpt: Option<String>,
    /// Without an expected body: whether the outcome holds for every token
    /// (`every_token`), is about this token's file (`this_token`), is a 200
    /// for a token that may not exist (`answered200`) or cannot be told
    /// (`undetermined`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_scope: Option<String>,
}

/// What a check that ran out of time was still waiting for, and the slowest
/// exchanges that did finish: names the server that held the check up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnfinishedEvidence {
    /// The whole-check limit (`--timeout`) that passed, in milliseconds.
    pub limit_ms: u64,
    /// The parts of the check that had not finished (`CAA lookups`,
    /// `HTTP-01 probe`, ...).
    pub unfinished: Vec<String>,
    /// DNS queries sent and not answered when the limit passed (at most
    /// [`MAX_UNFINISHED_LISTED`]): every distinct question once before a
    /// second server for the same one, longest waiting first within each
    /// round, so one zone's six addresses cannot hide the other questions.
    pub in_flight: Vec<PendingQueryEvidence>,
    /// Queries in flight beyond those listed.
    #[serde(default)]
    pub in_flight_not_listed: usize,
    /// The slowest exchanges that did finish, slowest first (at most
    /// [`MAX_UNFINISHED_LISTED`]): a timeout here is a server that never
    /// answered one attempt.
    pub slowest: Vec<ExchangeSummaryEvidence>,
    /// Exchanges that finished before the limit, in all.
    pub completed: usize,
    /// The HTTP-01 probe, when it had not finished: how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
}

/// Queries in flight and finished exchanges listed in [`UnfinishedEvidence`],
/// each.
pub const MAX_UNFINISHED_LISTED: usize = 10;

/// One DNS query still waiting for an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingQueryEvidence {
    /// `name@address:port` of the server asked (`address:port` when the
    /// engine knows no name for it).
    pub server: String,
    /// The zone whose server it is, when known.
    pub zone: Option<String>,
    /// `name/TYPE`.
    pub query: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// 1 for the first attempt, then retries.
    pub attempt: u8,
    /// How long it had waited when the limit passed.
    pub waited_ms: u64,
}

/// One finished DNS exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeSummaryEvidence {
    /// `address:port` of the server asked.
    pub server: String,
    /// `name/TYPE`.
    pub query: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    pub attempt: u8,
    pub latency_ms: u64,
    /// `timeout`, `network error: ...`, or the response's RCODE.
    pub outcome: String,
}

/// The vantage preflight: the root servers in use asked a never-existing TLD
/// over each address family and transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageEvidence {
    /// The random TLD asked.
    pub qname: String,
    /// What each family can do over UDP and TCP, in words.
    pub families: Vec<VantageFamilyEvidence>,
    pub probes: Vec<VantageProbeEvidence>,
    pub elapsed_ms: u64,
}

/// One address family's reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageFamilyEvidence {
    /// `IPv4` or `IPv6`.
    pub family: String,
    /// `the root answers`, `no route`, `no answer`, `something else answers
    /// for the root`, `blocked by this machine's firewall`, ...
    pub udp: String,
    pub tcp: String,
}

/// One root server address asked over one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageProbeEvidence {
    /// `name@address:port`.
    pub server: String,
    /// `UDP+EDNS` or `TCP+EDNS`.
    pub path: String,
    /// What came back and what it proves.
    pub outcome: String,
    /// A root server answered as the root.
    pub ok: bool,
    pub latency_ms: u64,
}

impl VantageEvidence {
    /// Summarises the preflight's report.
    pub fn from_report(v: &dcv_dns::vantage::VantageReport) -> VantageEvidence {
        use dcv_dns::vantage::{ProbeVerdict, ProofCheck};
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        VantageEvidence {
            qname: v.qname.to_string(),
            families: v
                .families
                .iter()
                .map(|f| VantageFamilyEvidence {
                    family: f.family.to_string(),
                    udp: f.udp.to_string(),
                    tcp: f.tcp.to_string(),
                })
                .collect(),
            probes: v
                .probes
                .iter()
                .map(|p| {
                    let header = p.exchange.as_ref().and_then(|e| e.response()).map(|r| {
                        format!(
                            "{}{}{}",
                            r.rcode,
                            if r.flags.aa { " aa" } else { "" },
                            if r.flags.ra { " ra" } else { "" }
                        )
                    });
                    let error = p.exchange.as_ref().and_then(|e| match &e.result {
                        dcv_dns::ExchangeResult::NetworkError { error, .. } => Some(error.clone()),
                        _ => None,
                    });
                    let outcome = match &p.verdict {
                        ProbeVerdict::Root { proof } => format!(
                            "{}: the root's answer, {}",
                            header.unwrap_or_default(),
                            match proof {
                                ProofCheck::Verified => {
                                    "its NSEC proof verified with the root's keys".to_owned()
                                }
                                ProofCheck::NotChecked { why } =>
                                    format!("proof not checked ({why})"),
                            }
                        ),
                        ProbeVerdict::Intercepted { signs } => {
                            let signs: Vec<String> =
                                signs.iter().map(ToString::to_string).collect();
                            format!(
                                "{}not the root: {}",
                                header.map_or_else(String::new, |h| format!("{h}: ")),
                                signs.join("; ")
                            )
                        }
                        ProbeVerdict::NoAnswer => format!("no answer within {}ms", ms(p.elapsed)),
                        ProbeVerdict::NetworkError { cause } => {
                            format!("{cause}: {}", error.unwrap_or_default())
                        }
                        ProbeVerdict::NotQueried => {
                            "not queried: the server policy refuses the address".to_owned()
                        }
                    };
                    VantageProbeEvidence {
                        server: format!("{}@{}", p.server_name, p.server),
                        path: p.path.to_string(),
                        outcome,
                        ok: matches!(p.verdict, ProbeVerdict::Root { .. }),
                        latency_ms: ms(p.elapsed),
                    }
                })
                .collect(),
            elapsed_ms: ms(v.elapsed),
        }
    }
}

impl UnfinishedEvidence {
    /// Summarises what the runner read when the limit passed.
    pub fn from_unfinished(u: &crate::runner::Unfinished) -> UnfinishedEvidence {
        let journal = &u.journal;
        let in_flight = questions_first(&journal.in_flight)
            .into_iter()
            .take(MAX_UNFINISHED_LISTED)
            .map(|q| PendingQueryEvidence {
                server: q
                    .server_name
                    .as_ref()
                    .map_or_else(|| q.server.to_string(), |n| format!("{n}@{}", q.server)),
                zone: q.zone.as_ref().map(ToString::to_string),
                query: format!("{}/{}", q.qname.without_dot(), q.qtype),
                protocol: protocol(q.protocol),
                attempt: q.attempt,
                waited_ms: duration_ms(q.waited),
            })
            .collect();
        let slowest = journal
            .slowest
            .iter()
            .take(MAX_UNFINISHED_LISTED)
            .map(|e| ExchangeSummaryEvidence {
                server: e.server.to_string(),
                query: format!("{}/{}", e.qname.without_dot(), e.qtype),
                protocol: protocol(e.protocol),
                attempt: e.attempt,
                latency_ms: duration_ms(e.latency),
                outcome: exchange_outcome(e),
            })
            .collect();
        let http = u.http.as_ref().map(|resolved| {
            if resolved.is_empty() {
                "still resolving the name's addresses (see the DNS queries in flight)".to_owned()
            } else {
                let hosts: Vec<String> = resolved
                    .iter()
                    .map(|(host, addrs)| {
                        let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                        format!("{host} -> {}", addrs.join(", "))
                    })
                    .collect();
                format!(
                    "resolved {}; a fetch from these addresses (or a redirect) had not finished",
                    hosts.join("; ")
                )
            }
        });
        UnfinishedEvidence {
            limit_ms: duration_ms(u.limit),
            unfinished: u.probes.iter().map(|p| p.label().to_owned()).collect(),
            in_flight,
            in_flight_not_listed: journal
                .in_flight
                .len()
                .saturating_sub(MAX_UNFINISHED_LISTED),
            slowest,
            completed: journal.completed,
            http,
        }
    }
}

/// Orders queries in flight (already longest-waiting first) in rounds: the
/// first server asked each distinct question, then the second, and so on.
/// The order inside a round stays the journal's.
fn questions_first(in_flight: &[dcv_dns::InFlight]) -> Vec<&dcv_dns::InFlight> {
    let mut seen: std::collections::HashMap<(&dcv_dns::DnsName, dcv_dns::RecordType), usize> =
        std::collections::HashMap::new();
    let mut ranked: Vec<(usize, &dcv_dns::InFlight)> = in_flight
        .iter()
        .map(|q| {
            let round = seen.entry((&q.qname, q.qtype)).or_insert(0);
            *round += 1;
            (*round, q)
        })
        .collect();
    ranked.sort_by_key(|(round, _)| *round);
    ranked.into_iter().map(|(_, q)| q).collect()
}

fn protocol(p: dcv_dns::Protocol) -> String {
    match p {
        dcv_dns::Protocol::Udp => "udp",
        dcv_dns::Protocol::Tcp => "tcp",
    }
    .to_owned()
}

fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn exchange_outcome(e: &dcv_dns::Exchange) -> String {
    use dcv_dns::ExchangeResult as R;
    match &e.result {
        R::Response(r) if r.flags.tc => format!("{} (truncated)", r.rcode),
        R::Response(r) => r.rcode.to_string(),
        R::Timeout => "timeout".to_owned(),
        R::NetworkError { cause, error } => format!("{cause}: {error}"),
        R::Unparseable { error, .. } => format!("unparseable: {error}"),
        R::Mismatched { detail } => format!("answered another question: {detail}"),
        R::NotQueried { range, .. } => format!("not queried: address in {range}"),
    }
}

impl DnsLookupEvidence {
    /// Summarises one engine lookup: the resolver view plus the answers of the
    /// servers of the zone that holds the final name.
    pub fn from_lookup(lookup: &dcv_dns::Lookup) -> DnsLookupEvidence {
        use dcv_dns::{Outcome, Security};
        let final_name = lookup
            .chain
            .last()
            .map_or_else(|| lookup.qname.clone(), |l| l.target.clone());
        let cut = lookup.zone_cut_for(&final_name);
        let (security, reason) = match &lookup.security {
            Security::Secure => ("secure", None),
            Security::Insecure(r) => ("insecure", Some(r.to_string())),
            Security::Bogus(r) => ("bogus", Some(r.to_string())),
            Security::Indeterminate(r) => ("indeterminate", Some(r.to_string())),
        };
        let reason = match &lookup.outcome {
            Outcome::ServFail { why } => Some(why.to_string()),
            _ => reason,
        };
        let outcome = match &lookup.outcome {
            Outcome::Answer { .. } => "NOERROR",
            other => other.label(),
        };
        let servers = lookup
            .server_answers
            .iter()
            .filter(|a| a.qname == final_name || a.qname == lookup.qname)
            .filter(|a| a.qtype == lookup.qtype)
            // Only the zone that answers: referrals above it may come from a
            // cache another lookup filled, so listing them would be arbitrary.
            .filter(|a| cut.is_none_or(|c| c.zone == a.zone))
            .map(|a| ServerAnswerEvidence::from_answer(a, &lookup.exchanges))
            .collect::<Vec<_>>();
        // Servers are asked concurrently; report them in a stable order.
        let mut servers = servers;
        servers.sort_by(|a, b| a.server.cmp(&b.server));
        DnsLookupEvidence {
            query: format!("{}/{}", lookup.qname.without_dot(), lookup.qtype),
            outcome: outcome.to_owned(),
            answer: lookup
                .records()
                .iter()
                .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.rtype, r.rdata))
                .collect(),
            security: security.to_owned(),
            reason,
            chain: lookup
                .chain
                .iter()
                .map(|l| format!("{} {:?} {}", l.owner, l.kind, l.target))
                .collect(),
            zone: cut.map(|c| c.zone.to_string()),
            zone_nameservers: cut
                .map(|c| c.ns_names.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            servers,
            from_shared_cache: shared_cache_uses(lookup),
        }
    }
}

/// The cuts and keys of `lookup` that came from a shared cache, by zone
/// from the root down.
fn shared_cache_uses(lookup: &dcv_dns::Lookup) -> Vec<SharedCacheEvidence> {
    let cuts = lookup.zone_cuts.iter().filter_map(|c| {
        let used = c.from_shared_cache?;
        Some((c.zone.clone(), "delegation", used.age_ms))
    });
    let keys = lookup.validation.iter().filter_map(|s| {
        let used = s.from_shared_cache?;
        Some((s.zone.clone(), "keys", used.age_ms))
    });
    let mut uses: Vec<_> = cuts.chain(keys).collect();
    uses.sort_by_key(|(zone, entry, _)| (zone.label_count(), zone.clone(), *entry));
    uses.into_iter()
        .map(|(zone, entry, age_ms)| SharedCacheEvidence {
            zone: zone.to_string(),
            entry: entry.to_owned(),
            age_ms,
        })
        .collect()
}

impl ServerAnswerEvidence {
    fn from_answer(
        a: &dcv_dns::ServerAnswer,
        exchanges: &[dcv_dns::Exchange],
    ) -> ServerAnswerEvidence {
        use dcv_dns::ServerVerdict as V;
        let (rcode, answer, error, authoritative) = match &a.verdict {
            V::Answer { records } => {
                // Signatures are evidence for the validator, not for people
                // reading what the server serves; count them instead.
                let sigs = records
                    .iter()
                    .filter(|r| r.rtype == dcv_dns::RecordType::RRSIG)
                    .count();
                let mut shown: Vec<String> = records
                    .iter()
                    .filter(|r| r.rtype != dcv_dns::RecordType::RRSIG)
                    .map(|r| format!("{} {} {}", r.name, r.rtype, r.rdata))
                    .collect();
                if sigs > 0 {
                    shown.push(format!("(+{sigs} RRSIG)"));
                }
                (Some("NOERROR"), shown, None, true)
            }
            V::NxDomain => (Some("NXDOMAIN"), Vec::new(), None, true),
            V::NoData => (
                Some("NOERROR"),
                vec!["(no records of this type)".to_owned()],
                None,
                true,
            ),
            V::Referral { zone, .. } => (
                Some("NOERROR"),
                vec![format!("referral to {zone}")],
                None,
                false,
            ),
            V::Refused => (Some("REFUSED"), Vec::new(), None, false),
            V::ServFail => (Some("SERVFAIL"), Vec::new(), None, false),
            other => (None, Vec::new(), Some(other.failure_text()), false),
        };
        let exchange = exchange_for(a, exchanges);
        // The UDP question (a TCP exchange after TC comes after it).
        let udp = exchanges.iter().find(|e| {
            e.server == a.server.addr
                && e.qname == a.qname
                && e.qtype == a.qtype
                && e.protocol == dcv_dns::Protocol::Udp
        });
        // A server may answer without the AA bit (lame); resolvers such as
        // Unbound still take the data, so the verdict is an answer, but the
        // evidence must show the missing authority.
        let authoritative = authoritative && a.authoritative;
        let ede = exchange
            .and_then(dcv_dns::Exchange::response)
            .and_then(|r| r.extended_errors.first())
            .map(|e| {
                format!(
                    "{} ({})",
                    e.info_code,
                    e.purpose.unwrap_or(e.extra_text.as_str())
                )
            });
        ServerAnswerEvidence {
            server: format!("{}@{}", a.server.name, a.server.addr),
            protocol: exchange
                .map_or("udp", |e| match e.protocol {
                    dcv_dns::Protocol::Udp => "udp",
                    dcv_dns::Protocol::Tcp => "tcp",
                })
                .to_owned(),
            rcode: rcode.map(str::to_owned),
            authoritative,
            latency_ms: exchange.map_or(0, |e| {
                u64::try_from(e.latency.as_millis()).unwrap_or(u64::MAX)
            }),
            tries: udp.map_or(0, |e| e.tries),
            answered_try: udp
                .filter(|e| e.response().is_some())
                .map_or(0, |e| e.attempt),
            answer,
            error,
            ede,
        }
    }
}

/// The exchange a server answer was judged from: the last one with that
/// server for that question (after any retry or TCP fallback).
pub fn exchange_for<'a>(
    a: &dcv_dns::ServerAnswer,
    exchanges: &'a [dcv_dns::Exchange],
) -> Option<&'a dcv_dns::Exchange> {
    exchanges
        .iter()
        .rev()
        .find(|e| e.server == a.server.addr && e.qname == a.qname && e.qtype == a.qtype)
}

impl CaaEvidence {
    /// Summarises a CAA decision for one CA.
    pub fn from_decision(d: &dcv_caa::CaaDecision) -> CaaEvidence {
        CaaEvidence {
            relevant_name: d.rrset_owner().map(str::to_owned),
            records: d
                .deciding_records
                .iter()
                .map(|r| format!("{}  ; {}", r.presentation, r.verdict.label()))
                .collect(),
            decision: match d.outcome {
                dcv_caa::Outcome::Permit => "permit",
                dcv_caa::Outcome::Deny => "deny",
                dcv_caa::Outcome::LookupFailed => "lookup_failed",
            }
            .to_owned(),
            reason: format!("{} [{}]", d.reason_code, d.rule.citation()),
            lookups: d
                .climb
                .iter()
                .map(|s| {
                    let via = if s.cname_chain.is_empty() {
                        String::new()
                    } else {
                        format!(" via {}", s.cname_chain.join(" -> "))
                    };
                    let status = match &s.status {
                        dcv_caa::StepStatus::Empty => "empty".to_owned(),
                        dcv_caa::StepStatus::Relevant { records } => {
                            format!("relevant RRset ({records} records)")
                        }
                        dcv_caa::StepStatus::Failed { detail, .. } => format!("failed: {detail}"),
                        dcv_caa::StepStatus::FailureTolerated { detail, .. } => {
                            format!("failed, tolerated as Insecure: {detail}")
                        }
                        _ => "not looked up".to_owned(),
                    };
                    format!("{}{via}: {status}", s.name)
                })
                .collect(),
        }
    }
}

impl HttpEvidence {
    /// Summarises one starting address's attempt.
    pub fn from_attempt(a: &dcv_http::AddressAttempt, ca_path: bool) -> HttpEvidence {
        let hops = a
            .hops
            .iter()
            .map(|h| {
                let t = &h.timings;
                let total: f64 = [t.connect_ms, t.tls_ms, t.headers_ms, t.body_ms]
                    .iter()
                    .flatten()
                    .sum();
                HttpHopEvidence {
                    url: h.url.clone(),
                    address: h
                        .address
                        .map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
                    status: h.status,
                    location: h.location.clone(),
                    failed_phase: h
                        .error
                        .as_ref()
                        .map(|e| format!("{:?}", e.phase).to_lowercase()),
                    error: h.error.as_ref().map(|e| e.detail.clone()),
                    elapsed_ms: millis(total),
                    server: None,
                    content_type: None,
                    body_digest: None,
                }
            })
            .collect();
        let body_excerpt = a
            .hops
            .last()
            .and_then(|h| h.response.as_ref())
            .map(|r| {
                let cut = &r.body.excerpt[..r.body.excerpt.len().min(160)];
                dcv_http::message::go_quote(&String::from_utf8_lossy(cut))
            })
            .filter(|b| b != "\"\"");
        HttpEvidence {
            address: a.address.to_string(),
            ca_path,
            hops,
            outcome: a.classification.code().to_owned(),
            body_excerpt,
            token_scope: None,
        }
    }

    /// The same attempt, saying whether its outcome holds for every token
    /// (the verdict without an expected body rests on it).
    #[must_use]
    pub fn with_token_scope(mut self, scope: dcv_http::TokenScope) -> HttpEvidence {
        self.token_scope = Some(token_scope_name(scope).to_owned());
        self
    }

    /// One address's answers to the requests compared between addresses
    /// (`dcv_http::compare`): one "hop" per request, with the compared
    /// headers and the body digest.
    pub fn from_comparison(
        host: &str,
        answers: &dcv_http::AddressAnswers,
        ca_path: bool,
        outcome: String,
    ) -> HttpEvidence {
        let url_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let hops = answers
            .answers
            .iter()
            .map(|a| HttpHopEvidence {
                url: format!("http://{url_host}{}", a.path),
                address: answers.address.to_string(),
                status: a.status,
                location: a.location.clone(),
                failed_phase: None,
                error: a.error.map(|k| format!("{k:?}").to_lowercase()),
                elapsed_ms: millis(a.elapsed_ms),
                server: a.server.clone(),
                content_type: a.content_type.clone(),
                body_digest: a.field(dcv_http::ComparedField::Body),
            })
            .collect();
        HttpEvidence {
            address: answers.address.to_string(),
            ca_path,
            hops,
            outcome,
            body_excerpt: None,
            token_scope: None,
        }
    }
}

/// The JSON name of a token scope.
pub fn token_scope_name(scope: dcv_http::TokenScope) -> &'static str {
    match scope {
        dcv_http::TokenScope::EveryToken => "every_token",
        dcv_http::TokenScope::ThisToken => "this_token",
        dcv_http::TokenScope::Answered200 => "answered200",
        dcv_http::TokenScope::Undetermined => "undetermined",
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn millis(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms.round() as u64
    } else {
        0
    }
}

/// One certificate a CT count rests on (its precertificate and certificate
/// folded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtCertificateEvidence {
    /// crt.sh ids of the rows folded in (precertificate first).
    pub crtsh_ids: Vec<u64>,
    pub serial: String,
    pub issuer: String,
    pub names: Vec<String>,
    /// `2026-08-08 20:50:14 UTC`.
    pub issued_at: String,
}

/// A Let's Encrypt limit counted from Certificate Transparency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtLimitEvidence {
    /// The CT search asked (crt.sh or `--ct-url`).
    pub source: String,
    /// Every search URL sent.
    pub queries: Vec<String>,
    /// The limit's name and documentation.
    pub limit: String,
    pub doc: String,
    /// What the bucket is keyed on: `[a, b]` (exact set) or the registered domain.
    pub key: String,
    pub used: u32,
    pub burst: u32,
    pub remaining: u32,
    /// One certificate comes back this often (`33h36m0s`).
    pub refill_every: String,
    /// When the next certificate is possible, when none is now.
    pub next_possible: Option<String>,
    /// The earlier certificate that makes this order a renewal, if any.
    pub renewal_of: Option<String>,
    /// The certificates counted within the limit's period, newest first.
    pub certificates: Vec<CtCertificateEvidence>,
    /// Let's Encrypt certificates and other CAs' certificates the source returned.
    pub lets_encrypt_certificates: usize,
    pub other_ca_certificates: usize,
    /// What CT cannot show.
    pub caveats: Vec<String>,
}

/// A CT search that gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtFailureEvidence {
    pub source: String,
    /// The URL that failed.
    pub url: String,
    /// `connect`, `timeout`, `status`, `too_large`, `too_many_rows`,
    /// `malformed`, `setup` (not `kind`: that names the evidence variant).
    pub failure: String,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcv_dns::{DnsName, InFlight, Protocol, RecordType};
    use std::time::Duration;

    fn pending(last_octet: u8, qname: &str, qtype: RecordType, waited_ms: u64) -> InFlight {
        InFlight {
            server: std::net::SocketAddr::from(([127, 0, 0, last_octet], 53)),
            server_name: None,
            zone: None,
            protocol: Protocol::Udp,
            qname: DnsName::parse(qname).unwrap(),
            qtype,
            attempt: 1,
            waited: Duration::from_millis(waited_ms),
        }
    }

    /// Regression (CI, stop 17): six addresses waiting on `example.lab/CAA`
    /// pushed `www.example.lab/CAA` past the listing limit.
    #[test]
    fn each_question_is_listed_before_a_second_server_for_any() {
        let mut journal: Vec<InFlight> = (1..=12)
            .map(|octet| pending(octet, "example.lab", RecordType::CAA, 999))
            .collect();
        journal.push(pending(1, "www.example.lab", RecordType::CAA, 990));
        journal.push(pending(
            2,
            "_acme-challenge.www.example.lab",
            RecordType::TXT,
            980,
        ));
        let listed: Vec<String> = questions_first(&journal)
            .into_iter()
            .take(MAX_UNFINISHED_LISTED)
            .map(|q| format!("{}/{} @{}", q.qname.without_dot(), q.qtype, q.server.ip()))
            .collect();
        assert_eq!(
            listed[..3],
            [
                "example.lab/CAA @127.0.0.1",
                "www.example.lab/CAA @127.0.0.1",
                "_acme-challenge.www.example.lab/TXT @127.0.0.2",
            ],
            "{listed:?}"
        );
        // The rest of the rounds keep the journal's order.
        assert_eq!(listed[3], "example.lab/CAA @127.0.0.2", "{listed:?}");
        assert_eq!(listed.len(), MAX_UNFINISHED_LISTED);
    }
}
