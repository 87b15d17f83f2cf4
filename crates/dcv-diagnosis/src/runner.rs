//! The check runner: starts every probe as soon as its inputs are known, shares
//! one DNS engine (cache and in-flight dedup) between them, and hands the
//! evidence to the rules. The critical path of a healthy check is the A/AAAA walk
//! followed by one HTTP fetch, with CAA and TXT lookups running beside it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use dcv_dns::{
    DnsName, Engine, Exchange, Lookup, NameServer, Outcome, QueryPath, RecordType, ZoneCut,
};
use dcv_http::{AddressResolver, HttpProbeReport, ResolveError, ResolveFuture, ResolvedAddrs};
use futures::StreamExt as _;
use futures::future::join_all;

use crate::config::CheckConfig;
use crate::model::{CaVerdict, Finding, Method, MethodVerdict, Report, Severity, Verdict};
use crate::rules;
use crate::rules::paths::rrset;

/// Everything the probes saw, handed to the rules.
#[derive(Debug)]
pub struct Observations {
    /// `<tld>./NS`: whether the root in use delegates the name's TLD.
    pub tld: Option<Lookup>,
    /// CAA at the name and every parent below the root, closest first.
    pub caa: Vec<Lookup>,
    /// A and AAAA at the name (HTTP method).
    pub a: Option<Lookup>,
    pub aaaa: Option<Lookup>,
    /// The HTTP-01 probe, or why it could not run.
    pub http: Option<Result<HttpProbeReport, String>>,
    /// TXT at `_acme-challenge.<name>` (DNS method).
    pub txt: Option<Lookup>,
    /// CNAME at `_acme-challenge.<name>`, asked directly beside the TXT: a
    /// server that holds both (RFC 1034 §3.6.2 forbids it, some accept it)
    /// answers the TXT query with the TXT alone, so only this shows the
    /// delegation the CA never follows.
    pub txt_cname: Option<Lookup>,
    /// TXT at the doubled-label mistakes (`_acme-challenge.<name>.<zone>`),
    /// asked only when they could explain something: no TXT at the name, or
    /// a delegation CNAME expected.
    pub txt_doubled: Vec<Lookup>,
    /// The token path fetched.
    pub http_token: String,
    /// Every zone the CAA climb asked (RFC 8659 §3: the name's own zone, the
    /// zone of the relevant RRset and each zone between) and, for the DNS
    /// method, the zone of the `_acme-challenge` TXT, asked over every path
    /// (`rules::paths`). With a batch's shared cache, a healthy zone is
    /// asked over every path once ([`ProbeRole::ZonePaths`], reused with
    /// its age) and the hostname's own questions over UDP+EDNS alone (its
    /// lookup's exchanges) unless a path could matter for them.
    pub paths: Vec<PathProbes>,
    /// What the engine measured of every server it asked over the whole
    /// check (round trips, tries, losses, late answers), by address.
    pub server_timings: Vec<dcv_dns::ServerTiming>,
    /// What this machine can test (`rules::vantage`): the root servers asked
    /// over each address family and transport, beside the probes. `None`
    /// when the check finished before it did (it is bounded by
    /// [`dcv_dns::vantage::VANTAGE_MAX_WAIT`]).
    pub vantage: Option<dcv_dns::vantage::VantageReport>,
    /// How old [`Self::vantage`] was when this check took it from a batch's
    /// shared cache (another check's preflight that found nothing limiting,
    /// [`dcv_dns::SharedInfraCache::vantage`]); `None`: made by this check.
    pub vantage_reused_age: Option<Duration>,
}

/// What a check that ran out of time had learned when it stopped, read
/// before its probes were dropped: the rules' input for
/// [`rules::check_timed_out`].
#[derive(Debug, Clone)]
pub struct Unfinished {
    /// The whole-check limit that passed (`CheckConfig::timeout`).
    pub limit: Duration,
    /// Every DNS exchange the engine finished and every query still waiting.
    pub journal: dcv_dns::Journal,
    /// The probes that had not finished, in [`Probe`] order.
    pub probes: Vec<Probe>,
    /// The HTTP-01 probe, if it had not finished: the hosts it had resolved
    /// and their addresses (empty: still resolving the first).
    pub http: Option<Vec<(String, Vec<IpAddr>)>>,
}

/// One concurrent part of a check, as [`Unfinished`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Whether the root delegates the name's TLD.
    Tld,
    /// CAA at the name and every parent.
    Caa,
    /// The CAA climb's zones asked over every path.
    CaaPaths,
    /// The HTTP-01 probe: A/AAAA, then the fetch from every address.
    Http,
    /// TXT at `_acme-challenge` and its doubled-label mistakes.
    Txt,
    /// The `_acme-challenge` zone asked over every path.
    TxtPaths,
}

impl Probe {
    const ALL: [Probe; 6] = [
        Probe::Tld,
        Probe::Caa,
        Probe::CaaPaths,
        Probe::Http,
        Probe::Txt,
        Probe::TxtPaths,
    ];

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Probe::Tld => "TLD lookup",
            Probe::Caa => "CAA lookups",
            Probe::CaaPaths => "CAA path probes",
            Probe::Http => "HTTP-01 probe",
            Probe::Txt => "DNS-01 TXT lookups",
            Probe::TxtPaths => "DNS-01 path probes",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Hosts the HTTP-01 probe resolves that [`Progress`] remembers (the name and
/// redirect targets; Boulder follows at most 10 redirects).
const MAX_HTTP_HOSTS_REMEMBERED: usize = 12;

/// A probe of a running check starting or finishing, for live progress
/// (the web service streams these as server-sent events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeEvent {
    Started(Probe),
    Finished(Probe),
}

/// Called on every [`ProbeEvent`], from the task running the probe: it must
/// return quickly (send on a channel, never block).
pub type ProbeObserver = std::sync::Arc<dyn Fn(ProbeEvent) + Send + Sync>;

/// Which probes of a running check have not finished, and what the HTTP-01
/// probe resolved: two cheap writes per probe, read only when the check runs
/// out of time; and who to tell when a probe starts or finishes.
#[derive(Default)]
struct Progress {
    running: AtomicU8,
    http_resolved: Mutex<Vec<(String, Vec<IpAddr>)>>,
    observer: Option<ProbeObserver>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("running", &self.running)
            .field("observed", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// Marks `probe` as running until the guard is dropped.
    fn start(&self, probe: Probe) -> Running<'_> {
        self.running.fetch_or(probe.bit(), Ordering::Relaxed);
        if let Some(observe) = &self.observer {
            observe(ProbeEvent::Started(probe));
        }
        Running(self, probe)
    }

    fn unfinished(&self) -> Vec<Probe> {
        let running = self.running.load(Ordering::Relaxed);
        Probe::ALL
            .into_iter()
            .filter(|p| running & p.bit() != 0)
            .collect()
    }

    fn resolved(&self, host: &str, addrs: &ResolvedAddrs) {
        let mut hosts = self
            .http_resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if hosts.len() < MAX_HTTP_HOSTS_REMEMBERED {
            let all = addrs.v6.iter().chain(&addrs.v4).copied().collect();
            hosts.push((host.to_owned(), all));
        }
    }
}

/// A probe running; dropping it marks the probe finished.
struct Running<'a>(&'a Progress, Probe);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_and(!self.1.bit(), Ordering::Relaxed);
        if let Some(observe) = &self.0.observer {
            observe(ProbeEvent::Finished(self.1));
        }
    }
}

/// The paths each authoritative server is asked over: UDP with and without
/// EDNS, and TCP (RFC 8659 §6.1; CA resolvers differ in all three).
pub const PROBED_PATHS: [QueryPath; 3] = [
    QueryPath::UDP_EDNS,
    QueryPath::UDP_PLAIN,
    QueryPath::TCP_EDNS,
];

/// Queries per zone for the path probes: 3 paths x 8 servers x 2 families.
/// Servers beyond it are not probed (the walk still asked them once). When
/// several questions are asked of one zone (the CAA climb visiting two names
/// of the same zone), they share this budget.
pub const MAX_PATH_PROBES: usize = 48;

/// Zone cuts of the CAA climb (RFC 8659 §3) whose servers are path-probed.
/// Each costs up to [`MAX_PATH_PROBES`] queries to servers that are not ours;
/// the zones run concurrently, so this bounds the queries sent, not the time
/// (one zone's deadline). A real climb crosses few cuts: the name's own zone,
/// perhaps a delegated child, the registered domain and its public suffix.
/// Beyond the bound the zone holding the relevant RRset (where the climb
/// stopped) and the name's own zone are kept, then the closest others; the
/// dropped ones are nearest the root (registry-run suffix and TLD servers).
pub const MAX_CAA_PATH_ZONES: usize = 4;

/// Path probes in flight at once, per zone: half of [`MAX_PATH_PROBES`], so
/// a typical zone (2-4 dual-stack servers) is asked in one round.
const PATH_PROBE_CONCURRENCY: usize = 24;

/// Extra per-question patience the path probes of one zone may take beyond
/// one probe's worst case (`query_timeout`, which covers every retransmission
/// of a UDP probe and bounds a TCP one). A probe still running at the
/// deadline is dropped and shown as not asked, so a zone of unreachable
/// addresses cannot hold the check (and its `--timeout`) hostage.
const PATH_PROBE_SLACK_TIMEOUTS: u32 = 1;

/// When the path probes of one zone must be finished.
fn path_probe_deadline(engine: &Engine) -> tokio::time::Instant {
    let c = engine.config();
    tokio::time::Instant::now()
        + c.query_timeout
            .saturating_mul(1 + PATH_PROBE_SLACK_TIMEOUTS)
}

/// Why a question was put to a zone's servers over every path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeRole {
    /// A CAA lookup on the RFC 8659 §3 climb that found no RRset: the CA
    /// asks it too, and its CAA check fails if this lookup fails.
    CaaClimb,
    /// The CAA lookup where the climb stopped: the RRset the decision came
    /// from (or the last name asked when no RRset exists).
    CaaRelevant,
    /// The DNS-01 `_acme-challenge` TXT lookup.
    Txt,
    /// SOA at a zone's apex, asked of every server over every path once per
    /// zone by a batch's checks (shared mode, [`zone_paths`]): how each
    /// server answers over UDP without EDNS and over TCP is a property of
    /// the server and the zone, not of each hostname.
    ZonePaths,
}

/// One zone's servers asked one question over every path in [`PROBED_PATHS`].
#[derive(Debug, Clone)]
pub struct PathProbes {
    pub zone: DnsName,
    pub qname: DnsName,
    pub qtype: RecordType,
    pub role: ProbeRole,
    /// The RRset the resolver view returned (empty for NXDOMAIN/NODATA).
    pub expected: Vec<dcv_dns::RecordEvidence>,
    /// IPv4 first, then by server name and address, then path in
    /// [`PROBED_PATHS`] order.
    pub probes: Vec<PathProbe>,
}

/// One server, one path, one exchange (`None`: not asked, because the query
/// budget was spent or the probes' deadline passed).
#[derive(Debug, Clone)]
pub struct PathProbe {
    pub server: NameServer,
    pub path: QueryPath,
    pub exchange: Option<Exchange>,
    /// How old the exchange was when this check took it from a batch's
    /// shared cache (an earlier check asked it); `None`: asked now.
    pub reused_age: Option<std::time::Duration>,
}

/// One question to put to a zone's servers.
#[derive(Clone)]
struct PathQuestion {
    qname: DnsName,
    qtype: RecordType,
    role: ProbeRole,
    expected: Vec<dcv_dns::RecordEvidence>,
    /// The lookup's own UDP+EDNS exchange with each server, by address
    /// (shared mode only): the same question over the same path, taken for
    /// that path instead of asking it again.
    asked: Vec<Exchange>,
    /// The paths to ask: [`PROBED_PATHS`], or UDP+EDNS alone when the
    /// zone's shared probe found every path of every server healthy and
    /// nothing in this question's answers depends on the path
    /// ([`own_answers_path_free`]).
    paths: &'static [QueryPath],
}

impl PathQuestion {
    /// Every path, nothing taken from the lookup (as a single check asks).
    fn every_path(
        qname: DnsName,
        qtype: RecordType,
        role: ProbeRole,
        expected: Vec<dcv_dns::RecordEvidence>,
    ) -> Self {
        Self {
            qname,
            qtype,
            role,
            expected,
            asked: Vec::new(),
            paths: &PROBED_PATHS,
        }
    }

    /// The lookup's exchange with `server` over UDP+EDNS, if it was answered.
    fn asked_of(&self, server: std::net::SocketAddr) -> Option<&Exchange> {
        self.asked.iter().find(|e| e.server == server)
    }
}

/// UDP+EDNS alone: the lookup already asked it of every server.
const UDP_EDNS_ONLY: [QueryPath; 1] = [QueryPath::UDP_EDNS];

/// The largest DNS message over UDP without EDNS (RFC 1035 §4.2.1).
const PLAIN_UDP_MAX: usize = 512;

/// The fewest octets a resource record takes besides its RDATA: a
/// one-octet owner (the root; a compression pointer takes two), TYPE,
/// CLASS, TTL and RDLENGTH (RFC 1035 §4.1.3).
const RR_FIXED_MIN: usize = 11;

/// An upper bound on the length of the answer a query without EDNS would
/// get: `r` (asked with EDNS and DO) without its DNSSEC records, which go
/// only to a query with DO (RFC 4035 §3.2.1), each counted at its
/// shortest. At most [`PLAIN_UDP_MAX`]: the plain query's answer is not
/// truncated, so no path needs TCP for this name.
fn plain_size_bound(r: &dcv_dns::ResponseEvidence) -> usize {
    let dnssec: usize = r
        .answer
        .iter()
        .chain(&r.authority)
        .chain(&r.additional)
        .filter(|x| {
            matches!(
                x.rtype,
                RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3
            )
        })
        .map(|x| x.wire_rdata.len() + RR_FIXED_MIN)
        .sum();
    r.size.saturating_sub(dnssec)
}

/// Whether this check shares a batch's infrastructure cache (`batch`
/// without `--isolated`).
fn shared_mode(engine: &Engine) -> bool {
    engine.config().shared_cache.is_some()
}

/// The first UDP exchange the lookup had with each server of `cut` for
/// `qname`/`qtype`, answered: a lookup asks UDP with EDNS first (a FORMERR
/// and the plain retry come after it, RFC 6891 §7).
fn lookup_udp_edns(
    lookup: &Lookup,
    cut: &ZoneCut,
    qname: &DnsName,
    qtype: RecordType,
) -> Vec<Exchange> {
    cut.servers
        .iter()
        .filter_map(|s| {
            lookup.exchanges.iter().find(|e| {
                e.server == s.addr
                    && e.qtype == qtype
                    && e.protocol == dcv_dns::Protocol::Udp
                    && e.qname == *qname
            })
        })
        .filter(|e| e.response().is_some())
        .cloned()
        .collect()
}

/// Whether the lookup's own answers leave nothing for the other paths to
/// show: every server of `cut` answered over UDP+EDNS, NOERROR or NXDOMAIN,
/// untruncated, short enough for a plain UDP answer ([`plain_size_bound`]:
/// no path needs TCP for it), with the resolver's RRset. Anything else is
/// probed over every path, as a single check does.
fn own_answers_path_free(cut: &ZoneCut, q: &PathQuestion) -> bool {
    let expected = rrset(&q.expected, q.qtype);
    cut.servers.iter().all(|s| {
        q.asked_of(s.addr)
            .and_then(Exchange::response)
            .is_some_and(|r| {
                matches!(r.rcode, dcv_dns::Rcode::NOERROR | dcv_dns::Rcode::NXDOMAIN)
                    && !r.flags.tc
                    && plain_size_bound(r) <= PLAIN_UDP_MAX
                    && rrset(&r.answer, q.qtype) == expected
            })
    })
}

/// SOA at `cut`'s apex asked of every server over every path, shared per
/// zone by a batch's checks (`Engine::probe_path_shared_aged`: the apex
/// question is the same for every hostname, reused while its TTL lasts
/// and named with its age). `Some` when every server answered every path
/// NOERROR, untruncated, with one and the same SOA: then a hostname's own
/// question that the lookup answered cleanly over UDP+EDNS
/// ([`own_answers_path_free`]) is not asked again over the other paths.
/// `None` (any failure, difference, or a probe not asked) sends every
/// question over every path, as a single check does.
async fn zone_paths(engine: &Engine, cut: &ZoneCut) -> Option<PathProbes> {
    let question = PathQuestion::every_path(
        cut.zone.clone(),
        RecordType::SOA,
        ProbeRole::ZonePaths,
        Vec::new(),
    );
    let mut set = probe_zone(engine, cut, &[question]).await.pop()?;
    if cut.servers.is_empty() || set.probes.len() != cut.servers.len() * PROBED_PATHS.len() {
        return None;
    }
    let mut soa: Option<Vec<Vec<u8>>> = None;
    for probe in &set.probes {
        let r = probe.exchange.as_ref()?.response()?;
        if r.rcode != dcv_dns::Rcode::NOERROR || r.flags.tc {
            return None;
        }
        let got = rrset(&r.answer, RecordType::SOA);
        if got.is_empty() || soa.as_ref().is_some_and(|s| *s != got) {
            return None;
        }
        if soa.is_none() {
            set.expected = r
                .answer
                .iter()
                .filter(|x| x.rtype == RecordType::SOA)
                .cloned()
                .collect();
            soa = Some(got);
        }
    }
    Some(set)
}

/// The name whose answer a lookup returned (after its CNAMEs), and the zone
/// cut that answered it. `None` when the lookup failed outright (the blocking
/// finding covers it) or no zone answered.
fn answering_cut(lookup: &Lookup) -> Option<(DnsName, &ZoneCut)> {
    if matches!(lookup.outcome, Outcome::ServFail { .. }) {
        return None;
    }
    let qname = lookup
        .chain
        .last()
        .map_or_else(|| lookup.qname.clone(), |l| l.target.clone());
    let cut = lookup.zone_cut_for(&qname)?;
    Some((qname, cut))
}

/// Asks every server of `cut` each question over every path, at most
/// [`MAX_PATH_PROBES`] queries in all (questions in the order given, so the
/// first ones get the budget), by one deadline. One [`PathProbes`] per
/// question that got any probe, in the order given.
async fn probe_zone(engine: &Engine, cut: &ZoneCut, questions: &[PathQuestion]) -> Vec<PathProbes> {
    let jobs: Vec<(usize, NameServer, QueryPath)> = questions
        .iter()
        .enumerate()
        .flat_map(|(i, q)| {
            cut.servers
                .iter()
                .flat_map(move |s| q.paths.iter().map(move |p| (i, s.clone(), *p)))
        })
        .take(MAX_PATH_PROBES)
        .collect();
    let deadline = path_probe_deadline(engine);
    let done: Vec<(usize, PathProbe)> = futures::stream::iter(jobs)
        .map(|(i, server, path)| async move {
            let q = &questions[i];
            if path == QueryPath::UDP_EDNS
                && let Some(asked) = q.asked_of(server.addr)
            {
                // The lookup's own exchange: this check asked it just now.
                let exchange = Some(asked.clone());
                return (
                    i,
                    PathProbe {
                        server,
                        path,
                        exchange,
                        reused_age: None,
                    },
                );
            }
            let probe = engine.probe_path_shared_aged(server.addr, &q.qname, q.qtype, path);
            let (exchange, reused_age) = tokio::time::timeout_at(deadline, probe)
                .await
                .ok()
                .flatten()
                .map_or((None, None), |(e, age)| (Some(e), age));
            (
                i,
                PathProbe {
                    server,
                    path,
                    exchange,
                    reused_age,
                },
            )
        })
        .buffer_unordered(PATH_PROBE_CONCURRENCY)
        .collect()
        .await;
    let mut per_question: Vec<Vec<PathProbe>> = vec![Vec::new(); questions.len()];
    for (i, probe) in done {
        per_question[i].push(probe);
    }
    questions
        .iter()
        .zip(per_question)
        .filter(|(_, probes)| !probes.is_empty())
        .map(|(q, mut probes)| {
            probes.sort_by_key(|a| {
                let order = PROBED_PATHS.iter().position(|p| *p == a.path);
                (
                    a.server.addr.is_ipv6(),
                    a.server.name.clone(),
                    a.server.addr,
                    order,
                )
            });
            PathProbes {
                zone: cut.zone.clone(),
                qname: q.qname.clone(),
                qtype: q.qtype,
                role: q.role,
                expected: q.expected.clone(),
                probes,
            }
        })
        .collect()
}

/// Asks every server of the zone that answered `lookup` (after its CNAMEs) the
/// same question over every path. Empty when the lookup failed outright or no
/// zone answered.
async fn probe_paths(engine: &Engine, lookup: &Lookup, role: ProbeRole) -> Vec<PathProbes> {
    let Some((qname, cut)) = answering_cut(lookup) else {
        return Vec::new();
    };
    let question = PathQuestion::every_path(qname, lookup.qtype, role, lookup.records().to_vec());
    let (questions, zone) = plan_zone(engine, cut, vec![(question, lookup)]).await;
    let mut sets = probe_zone(engine, cut, &questions).await;
    sets.extend(zone);
    sets
}

/// In shared mode, what each question of one zone still needs asking: the
/// UDP+EDNS path is the lookup's own exchange, and a hostname's own
/// question goes over the other paths only when the zone's shared probe
/// ([`zone_paths`]) or its own answers ([`own_answers_path_free`]) say a
/// path could matter. A zone apex's question is shared per zone already
/// and keeps every path. Outside shared mode (a single check,
/// `--isolated`) every question goes over every path. Also hands back the
/// zone's shared probe, when it let any question skip a path, as evidence.
async fn plan_zone(
    engine: &Engine,
    cut: &ZoneCut,
    questions: Vec<(PathQuestion, &Lookup)>,
) -> (Vec<PathQuestion>, Option<PathProbes>) {
    if !shared_mode(engine) {
        return (questions.into_iter().map(|(q, _)| q).collect(), None);
    }
    let mut questions: Vec<PathQuestion> = questions
        .into_iter()
        .map(|(mut q, lookup)| {
            q.asked = lookup_udp_edns(lookup, cut, &q.qname, q.qtype);
            q
        })
        .collect();
    let own = |q: &PathQuestion| q.qname != cut.zone;
    if !questions
        .iter()
        .any(|q| own(q) && own_answers_path_free(cut, q))
    {
        return (questions, None);
    }
    let Some(zone) = zone_paths(engine, cut).await else {
        return (questions, None);
    };
    for q in &mut questions {
        if own(q) && own_answers_path_free(cut, q) {
            q.paths = &UDP_EDNS_ONLY;
        }
    }
    (questions, Some(zone))
}

/// The CAA lookups a CA's search visits (RFC 8659 §3), closest first: up to
/// and including the first non-empty RRset, or up to (not including) the
/// first failed lookup, which ends the CA's search with an error the CAA
/// findings already report. `caa` is the runner's lookups, closest first.
fn caa_climb(caa: &[Lookup]) -> Vec<(&Lookup, ProbeRole)> {
    let mut climb = Vec::new();
    for lookup in caa {
        match &lookup.outcome {
            Outcome::ServFail { .. } => return climb,
            Outcome::Answer { records } if records.iter().any(|r| r.rtype == RecordType::CAA) => {
                climb.push((lookup, ProbeRole::CaaRelevant));
                return climb;
            }
            _ => climb.push((lookup, ProbeRole::CaaClimb)),
        }
    }
    // No RRset anywhere: the last name asked is where the climb stopped.
    if let Some(last) = climb.last_mut() {
        last.1 = ProbeRole::CaaRelevant;
    }
    climb
}

/// A zone cut as the path probes see it: the apex and its server addresses.
fn cut_key(cut: &ZoneCut) -> (DnsName, Vec<std::net::SocketAddr>) {
    let mut addrs: Vec<std::net::SocketAddr> = cut.servers.iter().map(|s| s.addr).collect();
    addrs.sort();
    addrs.dedup();
    (cut.zone.clone(), addrs)
}

/// Path probes for every zone cut whose servers the CAA climb asked: each
/// distinct cut (apex and server set) once per distinct question asked of it,
/// at most [`MAX_CAA_PATH_ZONES`] cuts, all concurrently (the cost is the
/// slowest zone, not the sum). Results in climb order.
async fn probe_caa_climb(engine: &Engine, caa: &[Lookup]) -> Vec<PathProbes> {
    // (cut, its key, its questions, first climb position); in climb order.
    type Zone<'a> = (
        &'a ZoneCut,
        (DnsName, Vec<std::net::SocketAddr>),
        Vec<(PathQuestion, &'a Lookup)>,
        usize,
    );
    let mut zones: Vec<Zone<'_>> = Vec::new();
    for (position, (lookup, role)) in caa_climb(caa).into_iter().enumerate() {
        let Some((qname, cut)) = answering_cut(lookup) else {
            continue;
        };
        let question =
            PathQuestion::every_path(qname, lookup.qtype, role, lookup.records().to_vec());
        let key = cut_key(cut);
        match zones.iter_mut().find(|z| z.1 == key) {
            Some(z) => {
                let asked =
                    z.2.iter()
                        .any(|(q, _)| q.qname == question.qname && q.qtype == question.qtype);
                if !asked {
                    z.2.push((question, lookup));
                }
            }
            None => zones.push((cut, key, vec![(question, lookup)], position)),
        }
    }
    // The bound: the relevant RRset's zone, then the name's own, then closest.
    let relevant = |z: &Zone<'_>| z.2.iter().any(|(q, _)| q.role == ProbeRole::CaaRelevant);
    let mut kept: Vec<usize> = (0..zones.len()).collect();
    kept.sort_by_key(|i| (!relevant(&zones[*i]), zones[*i].3 != 0, zones[*i].3));
    kept.truncate(MAX_CAA_PATH_ZONES);
    kept.sort_unstable();
    let probes = kept.into_iter().map(|i| {
        let (cut, _, questions, _) = &zones[i];
        // Within one zone's budget the relevant question goes first.
        let mut ordered: Vec<(PathQuestion, &Lookup)> = questions.clone();
        ordered.sort_by_key(|(q, _)| q.role != ProbeRole::CaaRelevant);
        async move {
            let (ordered, zone) = plan_zone(engine, cut, ordered).await;
            let mut sets = probe_zone(engine, cut, &ordered).await;
            // Back to climb order for the report, the zone's shared probe last.
            sets.sort_by_key(|s| {
                questions
                    .iter()
                    .position(|(q, _)| q.qname == s.qname && q.qtype == s.qtype)
            });
            sets.extend(zone);
            sets
        }
    });
    join_all(probes).await.into_iter().flatten().collect()
}

/// A zone's shared path probe ([`ProbeRole::ZonePaths`]) once, however
/// many of the check's questions it served.
fn without_repeated_zone_probes(mut paths: Vec<PathProbes>) -> Vec<PathProbes> {
    let mut seen: Vec<DnsName> = Vec::new();
    paths.retain(|p| {
        if p.role != ProbeRole::ZonePaths {
            return true;
        }
        if seen.contains(&p.zone) {
            return false;
        }
        seen.push(p.zone.clone());
        true
    });
    paths
}

/// CAA at `names` (the name and every ancestor below the root, closest
/// first). A single check asks them all at once, as Boulder does. With a
/// batch's shared cache the zone holding the name is usually known before
/// any question: the names up to that zone's apex are asked at once, and
/// the names above it only if none of those ended the RFC 8659 §3 climb
/// (an RRset, or a failed lookup). The CA's climb never reads past where
/// it stops, so the lookups left out are ones no CA decision depends on.
async fn caa_lookups<'a>(engine: &'a Engine, names: &'a [DnsName]) -> Vec<Lookup> {
    let ask =
        |names: &'a [DnsName]| join_all(names.iter().map(|n| engine.lookup(n, RecordType::CAA)));
    let first = names.first().filter(|_| shared_mode(engine));
    let split = first
        .map(|name| engine.closest_known_zone(name))
        .filter(|zone| zone.as_str() != ".")
        .and_then(|zone| names.iter().position(|n| *n == zone))
        .map_or(names.len(), |i| i + 1);
    let mut lookups = ask(&names[..split]).await;
    if split < names.len() && !climb_ended(&lookups) {
        lookups.extend(ask(&names[split..]).await);
    }
    lookups
}

/// Whether the RFC 8659 §3 climb over `caa` (closest first) stopped within
/// it: at an RRset or a failed lookup.
fn climb_ended(caa: &[Lookup]) -> bool {
    caa.iter().any(|l| match &l.outcome {
        Outcome::ServFail { .. } => true,
        Outcome::Answer { records } => records.iter().any(|r| r.rtype == RecordType::CAA),
        _ => false,
    })
}

/// Adapter: the HTTP probe resolves hosts (the hostname and redirect targets)
/// through the check's own engine, never the system resolver.
struct EngineResolver<'a> {
    engine: &'a Engine,
    progress: &'a Progress,
}

impl AddressResolver for EngineResolver<'_> {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            let name = DnsName::parse(host).map_err(|e| ResolveError::new(e.to_string()))?;
            let (aaaa, a) = tokio::join!(
                self.engine.lookup(&name, RecordType::AAAA),
                self.engine.lookup(&name, RecordType::A)
            );
            let addrs = ResolvedAddrs {
                v6: addresses(&aaaa),
                v4: addresses(&a),
            };
            if addrs.is_empty() {
                // Boulder: `no valid A records found for X; no valid AAAA records found for X`,
                // or the resolver errors.
                let why = |l: &Lookup| match &l.outcome {
                    Outcome::ServFail { why } => format!("SERVFAIL looking up {} ({why})", l.qtype),
                    Outcome::NxDomain => format!("NXDOMAIN looking up {}", l.qtype),
                    _ => format!("no valid {} records found for {host}", l.qtype),
                };
                return Err(ResolveError::new(format!("{}; {}", why(&a), why(&aaaa))));
            }
            self.progress.resolved(host, &addrs);
            Ok(addrs)
        })
    }
}

/// The addresses in an A or AAAA answer, in order.
pub fn addresses(lookup: &Lookup) -> Vec<std::net::IpAddr> {
    lookup
        .records()
        .iter()
        .filter(|r| r.rtype == lookup.qtype)
        .filter_map(|r| r.rdata.parse().ok())
        .collect()
}

/// A random probe token: 22 base64url characters (128 bits, RFC 8555 §8.1).
fn probe_token() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs a full check. Never fails: every problem becomes a finding.
pub async fn run_check(cfg: CheckConfig) -> Report {
    run_check_observed(cfg).await.0
}

/// [`run_check`], also handing back what the probes saw (`None` for an IP
/// literal or a check that timed out), for callers that act on the evidence
/// itself: the MPIC agent refuses a check whose walk met name servers on
/// reserved addresses (`ExchangeResult::NotQueried`).
pub async fn run_check_observed(cfg: CheckConfig) -> (Report, Option<Observations>) {
    run_check_reporting(cfg, None).await
}

/// [`run_check_observed`], telling `observer` as each probe starts and
/// finishes (a probe still running when the check times out is reported
/// finished as it is dropped).
pub async fn run_check_reporting(
    cfg: CheckConfig,
    observer: Option<ProbeObserver>,
) -> (Report, Option<Observations>) {
    let started = Instant::now();
    let mut timings = BTreeMap::new();
    let mut findings: Vec<Finding> = rules::identifier::syntactic(&cfg);

    let mut vantage_ms = None;
    let obs = if cfg.hostname.ip_literal().is_some() {
        None
    } else {
        // The engine and the progress outlive the probes, so that a check
        // that runs out of time can still say what it was waiting for.
        let engine = Engine::new(cfg.dns.clone());
        let vantage_reused = std::sync::OnceLock::new();
        let progress = Progress {
            observer,
            ..Progress::default()
        };
        let ended = {
            // Boxed: the probes' state is large, and callers (the MPIC
            // coordinator, tests) hold several checks' futures.
            let probes = Box::pin(gather(&cfg, &mut timings, &engine, &progress));
            // Beside the probes, never ahead of them: it asks the same root
            // servers and shares the root's keys through the engine's cache.
            let preflight = Box::pin(async {
                if !cfg.vantage_preflight {
                    return None;
                }
                // A batch's checks share a preflight that found nothing
                // limiting (what this machine reaches is no hostname's).
                let shared = cfg.dns.shared_cache.as_ref();
                if let Some((report, age)) = shared.and_then(dcv_dns::SharedInfraCache::vantage) {
                    let _ = vantage_reused.set(age);
                    return Some(report);
                }
                let report = engine.vantage_preflight().await;
                if let Some(shared) = shared {
                    shared.put_vantage(&report);
                }
                Some(report)
            });
            wait_for_probes(&cfg, &engine, &progress, probes, preflight).await
        };
        match ended {
            Ended::Done(mut obs, vantage) => {
                obs.vantage_reused_age = vantage_reused.get().copied();
                // A reused preflight cost this check no time.
                vantage_ms = vantage
                    .as_ref()
                    .map(|v| obs.vantage_reused_age.map_or(elapsed_of(v.elapsed), |_| 0));
                obs.vantage = vantage;
                Some(*obs)
            }
            Ended::CannotCheck(vantage, why) => {
                // Nothing seen from here is the domain's: say why, once.
                vantage_ms = Some(elapsed_of(vantage.elapsed));
                findings.push(rules::vantage::cannot_check(&vantage, why));
                None
            }
            Ended::TimedOut(unfinished) => {
                findings.push(rules::check_timed_out(&cfg, &unfinished));
                None
            }
        }
    };
    if let Some(ms) = vantage_ms {
        timings.insert("vantage".to_owned(), ms);
    }
    if let Some(obs) = &obs {
        findings.extend(rules::all(&cfg, obs));
    }
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
    let mut ca_verdicts = verdicts(&cfg, &findings);
    let verdict = Report::fold_verdict(&ca_verdicts, &findings);
    if verdict == Verdict::CouldNotCheck {
        // Not judged (all or part could not be checked from here): no CA
        // verdict rather than a "would validate" resting on what is missing.
        ca_verdicts.clear();
    }
    timings.insert("total".to_owned(), elapsed_ms(started));
    let report = Report {
        hostname: cfg.hostname.to_string(),
        ca: cfg.cas.clone(),
        method: cfg.methods.clone(),
        verdict,
        ca_verdicts,
        findings,
        timings_ms: timings,
        mpic: None,
    };
    (report, obs)
}

/// How waiting for a check's probes ended.
enum Ended {
    /// The probes finished (with the preflight's report, if it finished and
    /// found the check can run).
    Done(Box<Observations>, Option<dcv_dns::vantage::VantageReport>),
    /// The preflight found that nothing can be checked from here; the probes
    /// were dropped.
    CannotCheck(dcv_dns::vantage::VantageReport, dcv_dns::vantage::Blocker),
    /// The whole-check limit passed first.
    TimedOut(Unfinished),
}

fn elapsed_of(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Waits for the probes and the vantage preflight together, under the
/// check's limit: a preflight that finds nothing can be checked from here
/// (no network, DNS blocked or intercepted) ends the check at once, so a
/// machine without DNS hears so within the preflight's bound instead of
/// after every lookup's timeouts. A preflight still running when the probes
/// finish is waited for (it is bounded by
/// [`dcv_dns::vantage::VANTAGE_MAX_WAIT`] and asks in parallel what the
/// probes ask in series, so on a healthy path it ends first).
async fn wait_for_probes(
    cfg: &CheckConfig,
    engine: &Engine,
    progress: &Progress,
    probes: impl std::future::Future<Output = Observations>,
    preflight: impl std::future::Future<Output = Option<dcv_dns::vantage::VantageReport>>,
) -> Ended {
    use dcv_dns::vantage::Conclusion;
    tokio::pin!(probes, preflight);
    let limit = tokio::time::sleep(cfg.timeout);
    tokio::pin!(limit);
    // `Some(report)` once the preflight has ended (`Some(None)`: not run).
    let mut vantage: Option<Option<dcv_dns::vantage::VantageReport>> = None;
    let mut gathered = None;
    loop {
        tokio::select! {
            report = &mut preflight, if vantage.is_none() => {
                if let Some(r) = &report
                    && let Conclusion::CannotCheck { why } = r.conclusion()
                {
                    return Ended::CannotCheck(r.clone(), why);
                }
                if let Some(obs) = gathered.take() {
                    return Ended::Done(Box::new(obs), report);
                }
                vantage = Some(report);
            }
            obs = &mut probes, if gathered.is_none() => {
                if let Some(report) = vantage.take() {
                    return Ended::Done(Box::new(obs), report);
                }
                gathered = Some(obs);
            }
            () = &mut limit => {
                if let Some(obs) = gathered {
                    // Only the preflight was still running: the check itself is done.
                    return Ended::Done(Box::new(obs), None);
                }
                // Read before the probes are dropped: a dropped query leaves
                // the journal's in-flight list.
                let probes = progress.unfinished();
                return Ended::TimedOut(Unfinished {
                    limit: cfg.timeout,
                    journal: engine.journal(),
                    http: probes.contains(&Probe::Http).then(|| {
                        progress
                            .http_resolved
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .clone()
                    }),
                    probes,
                });
            }
        }
    }
}

/// Starts every lookup and fetch concurrently; each waits only for its inputs.
async fn gather(
    cfg: &CheckConfig,
    timings: &mut BTreeMap<String, u64>,
    engine: &Engine,
    progress: &Progress,
) -> Observations {
    let started = Instant::now();
    let base = cfg.hostname.base();
    let Ok(name) = DnsName::parse(base) else {
        // Hostname::parse already guarantees a valid name; keep the check total.
        return empty_observations();
    };
    let token = cfg.http_token.clone().unwrap_or_else(probe_token);

    // The TLD of the root in use (RFC 8499: what the root delegates).
    let tld_name = DnsName::parse(cfg.hostname.tld()).ok();
    let tld = async {
        let _running = progress.start(Probe::Tld);
        match &tld_name {
            // A batch's shared cache holding the TLD's cut (learnt from the
            // root's referral, or its signer) already shows the root in use
            // delegates it: the NS lookup could only confirm it.
            Some(t) if shared_mode(engine) && engine.closest_known_zone(t) == *t => None,
            Some(t) => Some(engine.lookup(t, RecordType::NS).await),
            None => None,
        }
    };

    // CAA at the name and every ancestor below the root (RFC 8659 §3), all at
    // once as Boulder does; the policy picks the closest non-empty RRset.
    let mut caa_names = Vec::new();
    let mut cursor = Some(name.clone());
    while let Some(n) = cursor {
        if n.as_str() == "." {
            break;
        }
        cursor = n.parent();
        caa_names.push(n);
    }
    let caa = async {
        let t = Instant::now();
        let running = progress.start(Probe::Caa);
        let lookups = caa_lookups(engine, &caa_names).await;
        let caa_ms = elapsed_ms(t);
        let _running = progress.start(Probe::CaaPaths);
        drop(running);
        // Beside the HTTP fetch: every zone the climb asked, over every path.
        let paths = probe_caa_climb(engine, &lookups).await;
        (lookups, caa_ms, paths)
    };

    let wants_http = cfg.methods.contains(&Method::Http);
    let http = async {
        if !wants_http {
            return (None, None, None, 0);
        }
        let _running = progress.start(Probe::Http);
        let t = Instant::now();
        let mut probe_cfg = dcv_http::ProbeConfig {
            http_port: cfg.http_port,
            https_port: cfg.https_port,
            allow_private: cfg.allow_private,
            total_deadline: cfg.timeout.min(Duration::from_secs(20)),
            ..dcv_http::ProbeConfig::default()
        };
        if let Some(t) = cfg.http_phase_timeout {
            probe_cfg.connect_timeout = t;
            probe_cfg.tls_timeout = t;
            probe_cfg.response_headers_timeout = t;
            probe_cfg.body_timeout = t;
        }
        let resolver = EngineResolver { engine, progress };
        let report = dcv_http::probe(
            &probe_cfg,
            base,
            &token,
            cfg.http_body.as_deref(),
            &resolver,
        )
        .await
        .map_err(|e| e.to_string());
        // Cached: the probe already resolved these.
        let (a, aaaa) = tokio::join!(
            engine.lookup(&name, RecordType::A),
            engine.lookup(&name, RecordType::AAAA)
        );
        (Some(a), Some(aaaa), Some(report), elapsed_ms(t))
    };

    let wants_dns = cfg.methods.contains(&Method::Dns);
    let txt = async {
        if !wants_dns {
            return (None, None, Vec::new(), 0, Vec::new());
        }
        let t = Instant::now();
        let running = progress.start(Probe::Txt);
        let Ok(challenge) = DnsName::parse(&format!("_acme-challenge.{base}")) else {
            return (None, None, Vec::new(), 0, Vec::new());
        };
        // Same zone, same cut: the CNAME question costs one more query, in
        // parallel.
        let (lookup, cname) = tokio::join!(
            engine.lookup(&challenge, RecordType::TXT),
            engine.lookup(&challenge, RecordType::CNAME)
        );
        // Registrar forms that append the zone: `_acme-challenge.<name>.<zone>`
        // (Let's Debug TXTDoubleLabel), with the zone from the walk. Not when
        // the zone's servers did not answer: asking them again costs another
        // full timeout and tells nothing.
        let mut doubled_names = vec![format!("_acme-challenge.{base}.{base}")];
        if matches!(
            lookup.outcome,
            Outcome::ServFail {
                why: dcv_dns::ServFailReason::AllServersFailed { .. }
            }
        ) {
            doubled_names.clear();
        }
        // Only a missing TXT (or a missing delegation CNAME) is explained by
        // a record at the doubled name (`rules::txt`): with TXT records at
        // the name and no delegation expected, nothing would read them.
        let txt_found = lookup.records().iter().any(|r| r.rtype == RecordType::TXT);
        if txt_found && cfg.dcv_delegation.is_none() {
            doubled_names.clear();
        }
        if let Some(cut) = lookup
            .zone_cut_for(&name)
            .filter(|_| !doubled_names.is_empty())
        {
            let zone = cut.zone.without_dot();
            if !zone.is_empty() && zone != base {
                doubled_names.push(format!("_acme-challenge.{base}.{zone}"));
            }
        }
        let doubled = join_all(
            doubled_names
                .iter()
                .filter_map(|n| DnsName::parse(n).ok())
                .map(|n| async move { engine.lookup(&n, RecordType::TXT).await }),
        );
        let paths = async {
            let _running = progress.start(Probe::TxtPaths);
            probe_paths(engine, &lookup, ProbeRole::Txt).await
        };
        let (doubled, paths) = tokio::join!(
            async {
                let doubled = doubled.await;
                drop(running);
                doubled
            },
            paths
        );
        (Some(lookup), Some(cname), doubled, elapsed_ms(t), paths)
    };

    let (
        tld,
        (caa, caa_ms, caa_paths),
        (a, aaaa, http, http_ms),
        (txt, txt_cname, txt_doubled, txt_ms, txt_paths),
    ) = tokio::join!(tld, caa, http, txt);
    timings.insert("caa".to_owned(), caa_ms);
    if wants_http {
        timings.insert("http".to_owned(), http_ms);
    }
    if wants_dns {
        timings.insert("txt".to_owned(), txt_ms);
    }
    timings.insert("probes".to_owned(), elapsed_ms(started));
    timings.insert("dns_queries".to_owned(), u64::from(engine.queries_sent()));
    Observations {
        tld,
        caa,
        a,
        aaaa,
        http,
        txt,
        txt_cname,
        txt_doubled,
        http_token: token,
        paths: without_repeated_zone_probes(caa_paths.into_iter().chain(txt_paths).collect()),
        server_timings: engine.server_timings(),
        vantage: None,
        vantage_reused_age: None,
    }
}

fn empty_observations() -> Observations {
    Observations {
        tld: None,
        caa: Vec::new(),
        a: None,
        aaaa: None,
        http: None,
        txt: None,
        txt_cname: None,
        txt_doubled: Vec::new(),
        http_token: String::new(),
        paths: Vec::new(),
        server_timings: Vec::new(),
        vantage: None,
        vantage_reused_age: None,
    }
}

/// Per CA and method: validation passes unless an error finding blocks it.
fn verdicts(cfg: &CheckConfig, findings: &[Finding]) -> Vec<CaVerdict> {
    cfg.cas
        .iter()
        .map(|ca| {
            let methods: Vec<MethodVerdict> = cfg
                .methods
                .iter()
                .filter(|m| ca.profile().methods.contains(m))
                .map(|m| {
                    let mut blocked_by: Vec<_> = findings
                        .iter()
                        .filter(|f| f.severity == Severity::Error)
                        .filter(|f| f.blocks.contains(ca))
                        .filter(|f| f.method.is_none_or(|fm| fm == *m))
                        .map(|f| f.code)
                        .collect();
                    blocked_by.dedup();
                    MethodVerdict {
                        method: *m,
                        would_validate: blocked_by.is_empty(),
                        blocked_by,
                    }
                })
                .collect();
            CaVerdict {
                ca: *ca,
                // Every selected method must work: pick --method to match yours.
                would_validate: methods.iter().all(|m| m.would_validate),
                methods,
            }
        })
        .collect()
}
