//! The iterative walk from the root hints, with per-server evidence, caching,
//! in-flight deduplication and a query budget; and the chain-of-trust
//! evaluation on top of it.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, Ordering},
    },
};

use futures::future::join_all;
use hickory_proto::{
    rr::{Name, RData, Record, RecordType as HType},
    serialize::binary::BinDecodable,
};
use tokio::sync::OnceCell;

use crate::{
    config::{EngineConfig, TrustAnchor},
    dnssec::{self, Denial, DenialGoal},
    evidence::{Exchange, ExchangeResult},
    limits,
    lookup::{
        AliasKind, ChainLink, KeySummary, Lookup, NameServer, Outcome, ServFailReason,
        ServerAnswer, ServerVerdict, UnresolvedNs, ValidationStep, ZoneCut,
    },
    security::{
        BogusReason, IndeterminateReason, InsecureReason, RrsetId, Security, ServerFailure,
    },
    transport::{self, Journal, QueryParams, Recorder, ServerReply},
    types::{DnsName, Rcode, RecordType},
    wire::Decoded,
};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Cell<T> = Arc<OnceCell<Arc<T>>>;

/// One check's resolver: cache, in-flight deduplication and query budget.
/// Cheap to clone (an `Arc` inside); clones share all state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    sent: AtomicU32,
    replies: Mutex<HashMap<(SocketAddr, DnsName, RecordType), Cell<ServerReply>>>,
    cuts: Mutex<HashMap<DnsName, Arc<ZoneCut>>>,
    lookups: Mutex<HashMap<(DnsName, RecordType), Cell<Lookup>>>,
    keys: Mutex<HashMap<DnsName, Cell<ZoneKeys>>>,
    /// Every attempt of every lookup, kept apart from the lookups' futures.
    journal: Recorder,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("root_hints", &self.inner.config.root_hints.len())
            .field("port", &self.inner.config.port)
            .field("queries_sent", &self.queries_sent())
            .finish_non_exhaustive()
    }
}

/// A zone's validated keys (RFC 4035 §5.2) and how we got there.
#[derive(Debug)]
struct ZoneKeys {
    security: Security,
    keys: Vec<hickory_proto::dnssec::rdata::DNSKEY>,
    step: Option<ValidationStep>,
    parent: Option<Arc<ZoneKeys>>,
    answers: Vec<ServerAnswer>,
    exchanges: Vec<Exchange>,
}

impl ZoneKeys {
    fn leaf(security: Security) -> Self {
        Self {
            security,
            keys: Vec::new(),
            step: None,
            parent: None,
            answers: Vec::new(),
            exchanges: Vec::new(),
        }
    }
}

/// Evidence gathered while resolving one lookup.
#[derive(Default)]
struct Ctx {
    cuts: Vec<ZoneCut>,
    answers: Vec<ServerAnswer>,
    exchanges: Vec<Exchange>,
    seen: HashSet<(SocketAddr, DnsName, RecordType)>,
    steps: Vec<ValidationStep>,
}

impl Ctx {
    fn add_cut(&mut self, cut: &ZoneCut) {
        if !self.cuts.iter().any(|c| c.zone == cut.zone) {
            self.cuts.push(cut.clone());
        }
    }

    fn add_reply(&mut self, reply: &ServerReply, qname: &DnsName, qtype: RecordType) {
        if self.seen.insert((reply.server, qname.clone(), qtype)) {
            self.exchanges.extend(reply.exchanges.iter().cloned());
        }
    }

    /// Adds exchanges of questions not yet recorded (all attempts of a
    /// question, TCP fallback included, or none of them).
    fn add_exchanges<'e>(&mut self, exchanges: impl IntoIterator<Item = &'e Exchange>) {
        let mut fresh = HashSet::new();
        for e in exchanges {
            let key = (e.server, e.qname.clone(), e.qtype);
            if fresh.contains(&key) || !self.seen.contains(&key) {
                fresh.insert(key);
                self.exchanges.push(e.clone());
            }
        }
        self.seen.extend(fresh);
    }

    fn merge(&mut self, other: &Ctx, with_answers: bool) {
        for c in &other.cuts {
            self.add_cut(c);
        }
        self.add_exchanges(&other.exchanges);
        if with_answers {
            self.answers.extend(other.answers.iter().cloned());
        }
    }

    fn add_keys(&mut self, zk: &ZoneKeys) {
        let mut chain = Vec::new();
        let mut cur = Some(zk);
        while let Some(k) = cur {
            chain.push(k);
            cur = k.parent.as_deref();
        }
        for k in chain.into_iter().rev() {
            if let Some(step) = &k.step
                && !self.steps.iter().any(|s| s.zone == step.zone)
            {
                self.steps.push(step.clone());
                self.answers.extend(k.answers.iter().cloned());
                self.add_exchanges(&k.exchanges);
            }
        }
    }
}

/// Where a walk ended.
enum WalkEnd {
    Final {
        cut: Arc<ZoneCut>,
        verdict: ServerVerdict,
        decoded: Box<Decoded>,
    },
    Fail(ServFailReason),
}

/// Result of asking every server of a zone one question.
enum Fetch {
    Ok {
        verdict: ServerVerdict,
        decoded: Box<Decoded>,
    },
    Failed(Vec<ServerFailure>),
    Budget,
}

impl Engine {
    /// Creates one check's engine. The root zone cut comes from the hints.
    pub fn new(config: EngineConfig) -> Self {
        let mut ns_names: Vec<DnsName> = Vec::new();
        let mut servers = Vec::new();
        for h in &config.root_hints {
            if !ns_names.contains(&h.name) {
                ns_names.push(h.name.clone());
            }
            if h.addr.is_ipv6() && !config.use_ipv6 {
                continue;
            }
            servers.push(NameServer {
                name: h.name.clone(),
                addr: SocketAddr::new(h.addr, config.port),
                glue: true,
            });
        }
        servers.truncate(limits::MAX_SERVERS_PER_CUT);
        let root = ZoneCut {
            zone: DnsName::root(),
            parent: None,
            ns_names,
            servers,
            unresolved: Vec::new(),
            referred_by: None,
        };
        let mut cuts = HashMap::new();
        cuts.insert(DnsName::root(), Arc::new(root));
        Self {
            inner: Arc::new(Inner {
                config,
                sent: AtomicU32::new(0),
                replies: Mutex::default(),
                cuts: Mutex::new(cuts),
                lookups: Mutex::default(),
                keys: Mutex::default(),
                journal: Recorder::default(),
            }),
        }
    }

    /// The configuration this engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Packets sent so far (all lookups of this engine).
    pub fn queries_sent(&self) -> u32 {
        self.inner
            .sent
            .load(Ordering::Relaxed)
            .min(self.inner.config.max_queries)
    }

    /// What this engine has asked so far, read now: how many exchanges
    /// finished, the slowest of them (at most
    /// [`transport::JOURNAL_SLOWEST_KEPT`]) and the queries still
    /// waiting, each named with the zone cut that lists its server. Survives
    /// dropped lookup futures: read it before dropping them to see what they
    /// were waiting for (a dropped attempt leaves the in-flight list).
    pub fn journal(&self) -> Journal {
        self.inner.journal.read(|addr, qname| {
            let cuts = lock(&self.inner.cuts);
            let mut cur = Some(qname.clone());
            while let Some(n) = cur {
                if let Some(ns) = cuts
                    .get(&n)
                    .and_then(|c| c.servers.iter().find(|s| s.addr == addr))
                {
                    return Some((n, ns.name.clone()));
                }
                cur = n.parent();
            }
            None
        })
    }

    /// Resolves `name`/`qtype` iteratively from the root hints and validates
    /// it. Identical concurrent lookups share one resolution.
    pub async fn lookup(&self, name: &DnsName, qtype: RecordType) -> Lookup {
        let cell = {
            let mut map = lock(&self.inner.lookups);
            map.entry((name.clone(), qtype)).or_default().clone()
        };
        let lookup = cell
            .get_or_init(|| async { Arc::new(self.resolve(name, qtype).await) })
            .await;
        Lookup::clone(lookup)
    }

    /// Asks `server` one question over one chosen `path` (UDP or TCP, with or
    /// without EDNS), bypassing the cache: the single-host probe of "is this
    /// server reachable every way a CA's resolver may ask" (RFC 8659 §6.1).
    /// A truncated UDP answer is returned as it came (TC set), not retried
    /// over TCP. Counts against the query budget; `None` once it is spent.
    pub async fn probe_path(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
        path: crate::evidence::QueryPath,
    ) -> Option<Exchange> {
        let params = QueryParams {
            timeout: self.inner.config.query_timeout,
            retries: self.inner.config.retries,
            policy: self.inner.config.server_policy,
        };
        let budget = || self.take_budget();
        let journal = &self.inner.journal;
        transport::query_path(
            server,
            &qname.to_hickory(),
            qtype,
            path,
            params,
            &budget,
            journal,
        )
        .await
    }

    fn take_budget(&self) -> bool {
        self.inner
            .sent
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.inner.config.max_queries).then_some(n + 1)
            })
            .is_ok()
    }

    /// One question to one server, cached and deduplicated in flight.
    async fn ask(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
    ) -> Arc<ServerReply> {
        let cell = {
            let mut map = lock(&self.inner.replies);
            map.entry((server, qname.clone(), qtype))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async {
            let params = QueryParams {
                timeout: self.inner.config.query_timeout,
                retries: self.inner.config.retries,
                policy: self.inner.config.server_policy,
            };
            let budget = || self.take_budget();
            let journal = &self.inner.journal;
            Arc::new(
                transport::query(server, &qname.to_hickory(), qtype, params, &budget, journal)
                    .await,
            )
        })
        .await
        .clone()
    }

    fn closest_cut(&self, name: &DnsName) -> Arc<ZoneCut> {
        let cuts = lock(&self.inner.cuts);
        let mut cur = Some(name.clone());
        while let Some(n) = cur {
            if let Some(c) = cuts.get(&n) {
                return c.clone();
            }
            cur = n.parent();
        }
        cuts.get(&DnsName::root()).cloned().unwrap_or_else(|| {
            Arc::new(ZoneCut {
                zone: DnsName::root(),
                parent: None,
                ns_names: Vec::new(),
                servers: Vec::new(),
                unresolved: Vec::new(),
                referred_by: None,
            })
        })
    }

    /// Closest known zone cut strictly above `zone`.
    fn parent_cut(&self, zone: &DnsName) -> Option<Arc<ZoneCut>> {
        zone.parent().map(|p| self.closest_cut(&p))
    }

    fn add_cut_path(&self, cut: &ZoneCut, ctx: &mut Ctx) {
        let mut path = vec![cut.clone()];
        {
            let cuts = lock(&self.inner.cuts);
            let mut parent = cut.parent.clone();
            for _ in 0..limits::MAX_REFERRALS {
                let Some(c) = parent.as_ref().and_then(|p| cuts.get(p)) else {
                    break;
                };
                path.push(ZoneCut::clone(c));
                parent.clone_from(&c.parent);
            }
        }
        for c in path.iter().rev() {
            ctx.add_cut(c);
        }
    }

    async fn resolve(&self, name: &DnsName, qtype: RecordType) -> Lookup {
        let mut ctx = Ctx::default();
        let mut chain: Vec<ChainLink> = Vec::new();
        let mut visited = vec![name.clone()];
        let mut current = name.clone();
        let mut security = Security::Secure;
        let outcome = loop {
            if chain.len() > limits::MAX_CNAME_CHAIN {
                break Outcome::ServFail {
                    why: ServFailReason::AliasChainTooLong {
                        limit: limits::MAX_CNAME_CHAIN,
                    },
                };
            }
            let end = self.walk(&current, qtype, &[], &mut ctx, true).await;
            let (cut, verdict, decoded) = match end {
                WalkEnd::Fail(why) if self.anchor_zone(&current).is_none() => {
                    security = security.worst(Security::Insecure(InsecureReason::NoTrustAnchor {
                        name: current.clone(),
                    }));
                    break Outcome::ServFail { why };
                }
                WalkEnd::Fail(why) => {
                    // BR 3.2.2.8 lets a CA treat a failed lookup as permission
                    // only in a zone proven Insecure (RFC 4035 §4.3): when the
                    // failing zone's parent proves it has no DS, say so.
                    let proven_insecure = match &why {
                        ServFailReason::AllServersFailed { zone, .. } => {
                            let zk = self.zone_keys(zone).await;
                            ctx.add_keys(&zk);
                            matches!(zk.security, Security::Insecure(_))
                                .then(|| zk.security.clone())
                        }
                        _ => None,
                    };
                    security = security.worst(match (&why, proven_insecure) {
                        (_, Some(insecure)) => insecure,
                        (ServFailReason::AllServersFailed { zone, failures }, None) => {
                            Security::Indeterminate(IndeterminateReason::FetchFailed {
                                zone: zone.clone(),
                                rrset: RrsetId {
                                    owner: current.clone(),
                                    rtype: qtype,
                                },
                                failures: failures.clone(),
                            })
                        }
                        (ServFailReason::BudgetExhausted { limit }, None) => {
                            Security::Indeterminate(IndeterminateReason::BudgetExhausted {
                                limit: *limit,
                            })
                        }
                        (_, None) => Security::Indeterminate(IndeterminateReason::NoServers {
                            zone: current.clone(),
                        }),
                    });
                    break Outcome::ServFail { why };
                }
                WalkEnd::Final {
                    cut,
                    verdict,
                    decoded,
                } => (cut, verdict, decoded),
            };
            let link_security = self
                .validate(&current, qtype, &cut, &verdict, &decoded, &mut ctx)
                .await;
            security = security.worst(link_security.clone());
            match &link_security {
                Security::Bogus(r) => {
                    break Outcome::ServFail {
                        why: ServFailReason::Bogus(r.clone()),
                    };
                }
                Security::Indeterminate(r) => {
                    break Outcome::ServFail {
                        why: ServFailReason::Indeterminate(r.clone()),
                    };
                }
                _ => {}
            }
            match verdict {
                ServerVerdict::NxDomain => break Outcome::NxDomain,
                ServerVerdict::Answer { .. } => {}
                _ => break Outcome::NoData,
            }
            let qname_h = current.to_hickory();
            // `answers` and `evidence.answer` are index-aligned (wire.rs).
            let finals: Vec<_> = decoded
                .answers
                .iter()
                .zip(&decoded.evidence.answer)
                .filter(|(r, _)| r.name == qname_h && r.record_type() == qtype.to_hickory())
                .map(|(_, ev)| ev.clone())
                .collect();
            if !finals.is_empty() {
                break Outcome::Answer { records: finals };
            }
            let Some((kind, target)) = alias_target(&decoded.answers, &qname_h, qtype) else {
                break Outcome::NoData;
            };
            chain.push(ChainLink {
                owner: current.clone(),
                target: target.clone(),
                kind,
                zone: cut.zone.clone(),
                security: link_security,
            });
            if visited.contains(&target) {
                visited.push(target);
                break Outcome::ServFail {
                    why: ServFailReason::AliasLoop { names: visited },
                };
            }
            visited.push(target.clone());
            current = target;
        };
        let mut zone_cuts = ctx.cuts;
        zone_cuts.sort_by_key(|c| c.zone.label_count());
        Lookup {
            qname: name.clone(),
            qtype,
            outcome,
            security,
            chain,
            zone_cuts,
            server_answers: ctx.answers,
            validation: ctx.steps,
            exchanges: ctx.exchanges,
        }
    }

    /// Walks from the closest known cut down to an authoritative answer.
    fn walk<'a>(
        &'a self,
        qname: &'a DnsName,
        qtype: RecordType,
        stack: &'a [DnsName],
        ctx: &'a mut Ctx,
        keep_answers: bool,
    ) -> BoxFuture<'a, WalkEnd> {
        Box::pin(async move {
            // DS lives on the parent side of a cut (RFC 4035 §3.1.4.1).
            let start = match qname.parent() {
                Some(p) if qtype == RecordType::DS => p,
                _ => qname.clone(),
            };
            let mut cut = self.closest_cut(&start);
            self.add_cut_path(&cut, ctx);
            for _ in 0..limits::MAX_REFERRALS {
                if cut.servers.is_empty() {
                    return WalkEnd::Fail(ServFailReason::NoServerAddresses {
                        zone: cut.zone.clone(),
                        unresolved: cut.unresolved.clone(),
                    });
                }
                self.prefetch_zone_keys(&cut.zone);
                let (servers, replies, verdicts) = self.ask_cut(&cut, qname, qtype).await;
                for r in &replies {
                    ctx.add_reply(r, qname, qtype);
                }
                let chosen = choose(&replies, &verdicts);
                if keep_answers {
                    for (i, (ns, v)) in servers.iter().zip(&verdicts).enumerate() {
                        ctx.answers.push(ServerAnswer {
                            zone: cut.zone.clone(),
                            qname: qname.clone(),
                            qtype,
                            server: ns.clone(),
                            verdict: v.clone(),
                            authoritative: is_aa(&replies[i]),
                            chosen: Some(i) == chosen,
                        });
                    }
                }
                let Some(i) = chosen else {
                    if verdicts
                        .iter()
                        .all(|v| matches!(v, ServerVerdict::NotAsked))
                    {
                        return WalkEnd::Fail(ServFailReason::BudgetExhausted {
                            limit: self.inner.config.max_queries,
                        });
                    }
                    return WalkEnd::Fail(ServFailReason::AllServersFailed {
                        zone: cut.zone.clone(),
                        failures: failures(&servers, &verdicts),
                    });
                };
                let Some(decoded) = replies[i].decoded.clone() else {
                    return WalkEnd::Fail(ServFailReason::AllServersFailed {
                        zone: cut.zone.clone(),
                        failures: failures(&servers, &verdicts),
                    });
                };
                if let ServerVerdict::Referral { zone: child, .. } = &verdicts[i] {
                    if stack.contains(child) {
                        let mut zones = stack.to_vec();
                        zones.push(child.clone());
                        return WalkEnd::Fail(ServFailReason::NameServerCycle { zones });
                    }
                    let known = lock(&self.inner.cuts).get(child).cloned();
                    let next = match known {
                        Some(c) => c,
                        None => {
                            self.build_cut(child, &cut, replies[i].server, &decoded, stack, ctx)
                                .await
                        }
                    };
                    self.add_cut_path(&next, ctx);
                    cut = next;
                    continue;
                }
                return WalkEnd::Final {
                    cut,
                    verdict: verdicts[i].clone(),
                    decoded: Box::new(decoded),
                };
            }
            WalkEnd::Fail(ServFailReason::TooManyReferrals {
                limit: limits::MAX_REFERRALS,
            })
        })
    }

    /// Builds the child cut from a referral: NS names, in-bailiwick glue
    /// (RFC 1034 §4.2.1; Unbound `harden-glue`), and addresses of the other
    /// NS names resolved separately, with bounded nesting.
    async fn build_cut(
        &self,
        child: &DnsName,
        parent: &ZoneCut,
        referred_by: SocketAddr,
        decoded: &Decoded,
        stack: &[DnsName],
        ctx: &mut Ctx,
    ) -> Arc<ZoneCut> {
        let child_h = child.to_hickory();
        let parent_h = parent.zone.to_hickory();
        let mut ns_names: Vec<DnsName> = Vec::new();
        for r in &decoded.authority {
            if let RData::NS(ns) = &r.data {
                let n = DnsName::from_hickory(&ns.0);
                if r.name == child_h
                    && !ns_names.contains(&n)
                    && ns_names.len() < limits::MAX_NS_NAMES_PER_CUT
                {
                    ns_names.push(n);
                }
            }
        }
        let port = self.inner.config.port;
        let use_v6 = self.inner.config.use_ipv6;
        let mut servers = Vec::new();
        let mut unresolved = Vec::new();
        let mut to_resolve = Vec::new();
        for ns in &ns_names {
            let ns_h = ns.to_hickory();
            let glue: Vec<SocketAddr> = decoded
                .additional
                .iter()
                .filter(|r| r.name == ns_h && parent_h.zone_of(&ns_h))
                .filter_map(|r| r.data.ip_addr())
                .filter(|ip| use_v6 || ip.is_ipv4())
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            if !glue.is_empty() {
                for addr in glue {
                    servers.push(NameServer {
                        name: ns.clone(),
                        addr,
                        glue: true,
                    });
                }
            } else if ns.is_subdomain_of(child) {
                unresolved.push(UnresolvedNs {
                    name: ns.clone(),
                    reason: format!(
                        "in-bailiwick name server of {child} without glue in the referral"
                    ),
                });
            } else if stack.len() >= usize::from(limits::MAX_NS_RESOLUTION_DEPTH) {
                unresolved.push(UnresolvedNs {
                    name: ns.clone(),
                    reason: format!(
                        "resolving it needs more than {} nested lookups",
                        limits::MAX_NS_RESOLUTION_DEPTH
                    ),
                });
            } else {
                to_resolve.push(ns.clone());
            }
        }
        let mut inner = stack.to_vec();
        inner.push(child.clone());
        let resolved = join_all(to_resolve.iter().map(|ns| self.resolve_ns(ns, &inner))).await;
        for (ns, (addrs, reason, sub)) in to_resolve.iter().zip(resolved) {
            ctx.merge(&sub, false);
            if addrs.is_empty() {
                unresolved.push(UnresolvedNs {
                    name: ns.clone(),
                    reason,
                });
            }
            for ip in addrs {
                servers.push(NameServer {
                    name: ns.clone(),
                    addr: SocketAddr::new(ip, port),
                    glue: false,
                });
            }
        }
        let mut unique = HashSet::new();
        servers.retain(|s| unique.insert(s.addr));
        servers.truncate(limits::MAX_SERVERS_PER_CUT);
        let cut = ZoneCut {
            zone: child.clone(),
            parent: Some(parent.zone.clone()),
            ns_names,
            servers,
            unresolved,
            referred_by: Some(referred_by),
        };
        // A cut built inside a nested NS resolution with names left
        // unresolved reflects that nesting, not the zone: do not cache it.
        if !stack.is_empty() && !cut.unresolved.is_empty() {
            return Arc::new(cut);
        }
        let mut cuts = lock(&self.inner.cuts);
        cuts.entry(child.clone())
            .or_insert_with(|| Arc::new(cut))
            .clone()
    }

    /// Addresses of an out-of-bailiwick NS name (A, and AAAA if IPv6 is on).
    /// No DNSSEC validation: resolvers do not need it to reach servers.
    async fn resolve_ns(
        &self,
        ns: &DnsName,
        stack: &[DnsName],
    ) -> (Vec<std::net::IpAddr>, String, Ctx) {
        let mut ctx = Ctx::default();
        let mut types = vec![RecordType::A];
        if self.inner.config.use_ipv6 {
            types.push(RecordType::AAAA);
        }
        let mut addrs = Vec::new();
        let mut reasons = Vec::new();
        for t in types {
            match self.walk(ns, t, stack, &mut ctx, false).await {
                WalkEnd::Final {
                    verdict: ServerVerdict::Answer { .. },
                    decoded,
                    ..
                } => {
                    let ns_h = ns.to_hickory();
                    let found: Vec<_> = decoded
                        .answers
                        .iter()
                        .filter(|r| r.name == ns_h)
                        .filter_map(|r| r.data.ip_addr())
                        .collect();
                    if found.is_empty() {
                        reasons.push(format!("{t}: no address records (CNAME or empty)"));
                    }
                    addrs.extend(found);
                }
                WalkEnd::Final { verdict, .. } => {
                    reasons.push(format!(
                        "{t}: {}",
                        verdict.failure_text().replace("answered ", "")
                    ));
                }
                WalkEnd::Fail(why) => {
                    // The AAAA walk would take the same failing path.
                    reasons.push(format!("{t}: {why}"));
                    break;
                }
            }
        }
        (addrs, reasons.join("; "), ctx)
    }

    /// Asks every server of the cut for `zone` (or its closest ancestor) and
    /// returns the first usable answer.
    async fn fetch(
        &self,
        zone: &DnsName,
        qname: &DnsName,
        qtype: RecordType,
        ev: &mut ZoneKeys,
    ) -> Fetch {
        let cut = self.closest_cut(zone);
        let (servers, replies, verdicts) = self.ask_cut(&cut, qname, qtype).await;
        let chosen = choose(&replies, &verdicts);
        let mut seen = HashSet::new();
        for (i, (r, v)) in replies.iter().zip(&verdicts).enumerate() {
            if seen.insert(r.server) {
                ev.exchanges.extend(r.exchanges.iter().cloned());
            }
            ev.answers.push(ServerAnswer {
                zone: cut.zone.clone(),
                qname: qname.clone(),
                qtype,
                server: servers[i].clone(),
                verdict: v.clone(),
                authoritative: is_aa(r),
                chosen: Some(i) == chosen,
            });
        }
        match chosen.and_then(|i| replies[i].decoded.clone().map(|d| (i, d))) {
            Some((i, decoded)) => Fetch::Ok {
                verdict: verdicts[i].clone(),
                decoded: Box::new(decoded),
            },
            None if !verdicts.is_empty()
                && verdicts
                    .iter()
                    .all(|v| matches!(v, ServerVerdict::NotAsked)) =>
            {
                Fetch::Budget
            }
            None => Fetch::Failed(failures(&servers, &verdicts)),
        }
    }

    /// Asks the servers of `cut` concurrently; the root's servers (unless
    /// [`EngineConfig::ask_every_root_server`]) one at a time until one is
    /// usable, as a resolver would: they are never the domain's problem.
    async fn ask_cut(
        &self,
        cut: &ZoneCut,
        qname: &DnsName,
        qtype: RecordType,
    ) -> (Vec<NameServer>, Vec<Arc<ServerReply>>, Vec<ServerVerdict>) {
        if cut.parent.is_none() && !self.inner.config.ask_every_root_server {
            let mut servers = Vec::new();
            let mut replies = Vec::new();
            let mut verdicts = Vec::new();
            for ns in &cut.servers {
                let reply = self.ask(ns.addr, qname, qtype).await;
                let verdict = classify_for(&cut.zone, qname, qtype, &reply);
                let done = verdict.is_usable();
                servers.push(ns.clone());
                replies.push(reply);
                verdicts.push(verdict);
                if done {
                    break;
                }
            }
            return (servers, replies, verdicts);
        }
        let replies = join_all(cut.servers.iter().map(|ns| self.ask(ns.addr, qname, qtype))).await;
        let verdicts = replies
            .iter()
            .map(|r| classify_for(&cut.zone, qname, qtype, r))
            .collect();
        (cut.servers.clone(), replies, verdicts)
    }

    fn anchor_zone(&self, name: &DnsName) -> Option<DnsName> {
        self.inner
            .config
            .trust_anchors
            .iter()
            .filter(|a| name.is_subdomain_of(&a.owner))
            .map(|a| a.owner.clone())
            .max_by_key(DnsName::label_count)
    }

    /// RFC 4035 §5: validates one authoritative response.
    async fn validate(
        &self,
        qname: &DnsName,
        qtype: RecordType,
        cut: &ZoneCut,
        verdict: &ServerVerdict,
        decoded: &Decoded,
        ctx: &mut Ctx,
    ) -> Security {
        let Some(anchor) = self.anchor_zone(qname) else {
            return Security::Insecure(InsecureReason::NoTrustAnchor {
                name: qname.clone(),
            });
        };
        let qname_h = qname.to_hickory();
        let section = if matches!(verdict, ServerVerdict::Answer { .. }) {
            &decoded.answers
        } else {
            &decoded.authority
        };
        let signer = section
            .iter()
            .filter_map(|r| dnssec::as_rrsig(r).map(|s| (r, s)))
            .find(|(r, _)| r.name == qname_h || !matches!(verdict, ServerVerdict::Answer { .. }))
            .map(|(_, s)| DnsName::from_hickory(&s.input().signer_name));
        // The signer must be the served zone or a zone below it on the same
        // servers, and at or below the anchor.
        let zone = match signer {
            Some(s) if qname.is_subdomain_of(&s) && s.is_subdomain_of(&cut.zone) => s,
            _ => cut.zone.clone(),
        };
        if !zone.is_subdomain_of(&anchor) {
            return Security::Insecure(InsecureReason::NoTrustAnchor {
                name: qname.clone(),
            });
        }
        let zk = self.zone_keys(&zone).await;
        ctx.add_keys(&zk);
        if !zk.security.is_secure() {
            return zk.security.clone();
        }
        let zone_h = zone.to_hickory();
        let keys: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = zk.keys.iter().collect();
        let now = self.inner.config.clock.now_unix();
        match verdict {
            ServerVerdict::Answer { .. } => {
                let mut types = vec![qtype.to_hickory()];
                if qtype != RecordType::CNAME {
                    types.push(HType::CNAME);
                }
                let dname_owner = decoded
                    .answers
                    .iter()
                    .find(|r| {
                        r.record_type() == HType::DNAME
                            && r.name.zone_of(&qname_h)
                            && r.name != qname_h
                    })
                    .map(|r| r.name.clone());
                if let Some(owner) = &dname_owner {
                    let (recs, sigs) = dnssec::rrset(&decoded.answers, owner, HType::DNAME);
                    if let Err(r) =
                        dnssec::verify_rrset(&zone_h, owner, HType::DNAME, &recs, &sigs, &keys, now)
                    {
                        return Security::Bogus(r);
                    }
                }
                for t in types {
                    let (recs, sigs) = dnssec::rrset(&decoded.answers, &qname_h, t);
                    if recs.is_empty() {
                        continue;
                    }
                    // RFC 6672 §5.3.1: a CNAME synthesised from a DNAME is unsigned.
                    if t == HType::CNAME && sigs.is_empty() && dname_owner.is_some() {
                        continue;
                    }
                    if let Err(r) =
                        dnssec::verify_rrset(&zone_h, &qname_h, t, &recs, &sigs, &keys, now)
                    {
                        return Security::Bogus(r);
                    }
                    // RFC 4035 §5.3.4: wildcard expansion needs a proof that
                    // the name itself does not exist.
                    let labels = sigs
                        .iter()
                        .filter_map(|s| dnssec::as_rrsig(s))
                        .map(|s| s.input().num_labels)
                        .min()
                        .unwrap_or(qname_h.num_labels());
                    if labels < qname_h.num_labels()
                        && let Some(s) = check_denial(
                            &zone_h,
                            &qname_h,
                            qtype,
                            DenialGoal::WildcardAnswer(labels),
                            &decoded.authority,
                            &keys,
                            now,
                        )
                    {
                        return s;
                    }
                }
                Security::Secure
            }
            ServerVerdict::NxDomain | ServerVerdict::NoData => {
                let (soa, soa_sigs) = dnssec::rrset(&decoded.authority, &zone_h, HType::SOA);
                if !soa.is_empty()
                    && let Err(r) = dnssec::verify_rrset(
                        &zone_h,
                        &zone_h,
                        HType::SOA,
                        &soa,
                        &soa_sigs,
                        &keys,
                        now,
                    )
                {
                    return Security::Bogus(r);
                }
                let goal = if matches!(verdict, ServerVerdict::NxDomain) {
                    DenialGoal::NxDomain
                } else {
                    DenialGoal::NoData(qtype.to_hickory())
                };
                check_denial(
                    &zone_h,
                    &qname_h,
                    qtype,
                    goal,
                    &decoded.authority,
                    &keys,
                    now,
                )
                .unwrap_or(Security::Secure)
            }
            _ => Security::Secure,
        }
    }

    /// Starts validating `zone`'s keys in the background as soon as the walk
    /// knows its servers, so the chain of trust is ready when the answer
    /// arrives instead of starting after it: a validated answer then costs the
    /// walk's round trips, not the walk's plus the chain's. Only for zones
    /// under a trust anchor; the result lands in the same once-per-engine cell
    /// that validation awaits, so nothing is fetched twice.
    fn prefetch_zone_keys(&self, zone: &DnsName) {
        if self.anchor_zone(zone).is_none() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let ready = lock(&self.inner.keys)
            .get(zone)
            .is_some_and(|cell| cell.initialized());
        if ready {
            return;
        }
        let engine = self.clone();
        let zone = zone.clone();
        tokio::spawn(async move {
            engine.zone_keys(&zone).await;
        });
    }

    /// The validated DNSKEY set of `zone`, computed once per engine.
    fn zone_keys<'a>(&'a self, zone: &'a DnsName) -> BoxFuture<'a, Arc<ZoneKeys>> {
        Box::pin(async move {
            let cell = {
                let mut map = lock(&self.inner.keys);
                map.entry(zone.clone()).or_default().clone()
            };
            cell.get_or_init(|| async { Arc::new(self.compute_zone_keys(zone).await) })
                .await
                .clone()
        })
    }

    async fn compute_zone_keys(&self, zone: &DnsName) -> ZoneKeys {
        let now = self.inner.config.clock.now_unix();
        let zone_h = zone.to_hickory();
        let anchors: Vec<&TrustAnchor> = self
            .inner
            .config
            .trust_anchors
            .iter()
            .filter(|a| &a.owner == zone)
            .collect();
        let mut zk = ZoneKeys::leaf(Security::Secure);
        let mut step = ValidationStep {
            zone: zone.clone(),
            anchored: !anchors.is_empty(),
            ds: Vec::new(),
            dnskeys: Vec::new(),
            security: Security::Secure,
        };
        let ds_list: Vec<hickory_proto::dnssec::rdata::DS>;
        let parent_zone: DnsName;
        let mut key_ev = ZoneKeys::leaf(Security::Secure);
        let mut prefetched_dnskey: Option<Fetch> = None;
        if anchors.is_empty() {
            let Some(parent) = self.parent_cut(zone) else {
                return ZoneKeys::leaf(Security::Insecure(InsecureReason::NoTrustAnchor {
                    name: zone.clone(),
                }));
            };
            parent_zone = parent.zone.clone();
            // The parent's keys, the DS at the parent and this zone's DNSKEY
            // are independent round trips; only their checks are ordered
            // (RFC 4035 §5.2). Fetching them together makes a chain of trust
            // cost one round trip per check instead of three per zone.
            let mut ds_ev = ZoneKeys::leaf(Security::Secure);
            let (pk, ds_fetch, key_fetch) = tokio::join!(
                self.zone_keys(&parent.zone),
                self.fetch(&parent.zone, zone, RecordType::DS, &mut ds_ev),
                self.fetch(zone, zone, RecordType::DNSKEY, &mut key_ev),
            );
            prefetched_dnskey = Some(key_fetch);
            zk.parent = Some(pk.clone());
            if !pk.security.is_secure() {
                zk.security = pk.security.clone();
                return zk;
            }
            zk.answers.append(&mut ds_ev.answers);
            zk.exchanges.append(&mut ds_ev.exchanges);
            let parent_keys: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = pk.keys.iter().collect();
            let parent_h = parent.zone.to_hickory();
            match ds_fetch {
                Fetch::Budget => {
                    return finish(
                        zk,
                        step,
                        Security::Indeterminate(IndeterminateReason::BudgetExhausted {
                            limit: self.inner.config.max_queries,
                        }),
                    );
                }
                Fetch::Failed(failures) => {
                    return finish(
                        zk,
                        step,
                        Security::Indeterminate(IndeterminateReason::FetchFailed {
                            zone: parent.zone.clone(),
                            rrset: RrsetId {
                                owner: zone.clone(),
                                rtype: RecordType::DS,
                            },
                            failures,
                        }),
                    );
                }
                Fetch::Ok {
                    verdict: ServerVerdict::Answer { .. },
                    decoded,
                } => {
                    let (recs, sigs) = dnssec::rrset(&decoded.answers, &zone_h, HType::DS);
                    if recs.is_empty() {
                        return finish(
                            zk,
                            step,
                            Security::Bogus(BogusReason::DsDenialMissing {
                                zone: zone.clone(),
                                parent: parent.zone.clone(),
                                detail: "the answer holds no DS records".into(),
                                proof_served: false,
                            }),
                        );
                    }
                    if let Err(r) = dnssec::verify_rrset(
                        &parent_h,
                        &zone_h,
                        HType::DS,
                        &recs,
                        &sigs,
                        &parent_keys,
                        now,
                    ) {
                        return finish(zk, step, Security::Bogus(r));
                    }
                    ds_list = recs
                        .iter()
                        .filter_map(|r| dnssec::as_ds(r).cloned())
                        .take(limits::MAX_DS_RECORDS)
                        .collect();
                }
                Fetch::Ok {
                    verdict: ServerVerdict::NoData | ServerVerdict::NxDomain,
                    decoded,
                } => {
                    let s = check_denial(
                        &parent_h,
                        &zone_h,
                        RecordType::DS,
                        DenialGoal::InsecureDelegation,
                        &decoded.authority,
                        &parent_keys,
                        now,
                    );
                    let security = match s {
                        None => Security::Insecure(InsecureReason::NoDs {
                            zone: zone.clone(),
                            parent: parent.zone.clone(),
                            proof: if decoded
                                .authority
                                .iter()
                                .any(|r| r.record_type() == HType::NSEC3)
                            {
                                crate::security::DenialKind::Nsec3
                            } else {
                                crate::security::DenialKind::Nsec
                            },
                        }),
                        Some(Security::Bogus(BogusReason::DenialMissing { detail, .. })) => {
                            Security::Bogus(BogusReason::DsDenialMissing {
                                zone: zone.clone(),
                                parent: parent.zone.clone(),
                                detail,
                                proof_served: false,
                            })
                        }
                        Some(Security::Bogus(BogusReason::DenialInvalid { detail, .. })) => {
                            Security::Bogus(BogusReason::DsDenialMissing {
                                zone: zone.clone(),
                                parent: parent.zone.clone(),
                                detail,
                                proof_served: true,
                            })
                        }
                        Some(other) => other,
                    };
                    return finish(zk, step, security);
                }
                Fetch::Ok { verdict, .. } => {
                    return finish(
                        zk,
                        step,
                        Security::Bogus(BogusReason::DsDenialMissing {
                            zone: zone.clone(),
                            parent: parent.zone.clone(),
                            detail: format!(
                                "the DS query was answered with: {}",
                                verdict.failure_text()
                            ),
                            proof_served: false,
                        }),
                    );
                }
            }
        } else {
            parent_zone = zone.clone();
            ds_list = anchors.iter().filter_map(|a| a.to_ds()).collect();
        }
        step.ds = ds_list.iter().map(dnssec::ds_summary).collect();
        let supported: Vec<&hickory_proto::dnssec::rdata::DS> = dnssec::strongest_digests(
            &ds_list
                .iter()
                .filter(|d| dnssec::ds_supported(d))
                .collect::<Vec<_>>(),
        );
        let key_anchors: Vec<(u8, &[u8])> =
            anchors.iter().filter_map(|a| a.dnskey_material()).collect();
        if supported.is_empty() && key_anchors.is_empty() {
            let mut algorithms: Vec<u8> = ds_list.iter().map(|d| u8::from(d.algorithm())).collect();
            algorithms.dedup();
            return finish(
                zk,
                step,
                Security::Insecure(InsecureReason::UnsupportedAlgorithms {
                    zone: zone.clone(),
                    algorithms,
                }),
            );
        }
        let dnskey_fetch = match prefetched_dnskey {
            Some(fetched) => {
                zk.answers.append(&mut key_ev.answers);
                zk.exchanges.append(&mut key_ev.exchanges);
                fetched
            }
            None => self.fetch(zone, zone, RecordType::DNSKEY, &mut zk).await,
        };
        let decoded = match dnskey_fetch {
            Fetch::Budget => {
                return finish(
                    zk,
                    step,
                    Security::Indeterminate(IndeterminateReason::BudgetExhausted {
                        limit: self.inner.config.max_queries,
                    }),
                );
            }
            Fetch::Failed(failures) => {
                return finish(
                    zk,
                    step,
                    Security::Indeterminate(IndeterminateReason::FetchFailed {
                        zone: zone.clone(),
                        rrset: RrsetId {
                            owner: zone.clone(),
                            rtype: RecordType::DNSKEY,
                        },
                        failures,
                    }),
                );
            }
            Fetch::Ok {
                verdict: ServerVerdict::Answer { .. },
                decoded,
            } => decoded,
            Fetch::Ok { .. } => {
                return finish(
                    zk,
                    step,
                    Security::Bogus(BogusReason::DnskeyMissing { zone: zone.clone() }),
                );
            }
        };
        let (recs, sigs) = dnssec::rrset(&decoded.answers, &zone_h, HType::DNSKEY);
        let keys = dnssec::dnskeys(&recs);
        if keys.is_empty() {
            return finish(
                zk,
                step,
                Security::Bogus(BogusReason::DnskeyMissing { zone: zone.clone() }),
            );
        }
        let matched: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = keys
            .iter()
            .copied()
            .filter(|k| {
                supported.iter().any(|d| dnssec::ds_matches(&zone_h, d, k))
                    || key_anchors
                        .iter()
                        .any(|(alg, pk)| dnssec::anchor_key_matches(*alg, pk, k))
            })
            .collect();
        let verified = if matched.is_empty() {
            Err(if step.anchored {
                BogusReason::TrustAnchorMismatch {
                    zone: zone.clone(),
                    anchor_tags: anchors.iter().map(|a| a.key_tag()).collect(),
                }
            } else {
                BogusReason::DsMatchesNoDnskey {
                    zone: zone.clone(),
                    parent: parent_zone.clone(),
                    ds: step.ds.clone(),
                }
            })
        } else if sigs.is_empty() {
            Err(BogusReason::RrsigsMissing {
                zone: zone.clone(),
                rrset: RrsetId {
                    owner: zone.clone(),
                    rtype: RecordType::DNSKEY,
                },
            })
        } else {
            dnssec::verify_rrset(&zone_h, &zone_h, HType::DNSKEY, &recs, &sigs, &matched, now)
                .map_err(|r| match r {
                    BogusReason::NoMatchingKey { .. } => BogusReason::DnskeyNotSignedByDsKey {
                        zone: zone.clone(),
                        ds_key_tags: matched.iter().map(|k| dnssec::key_tag(k)).collect(),
                        detail: None,
                    },
                    other => other,
                })
        };
        let signing_tag = verified.as_ref().ok().copied();
        step.dnskeys = keys
            .iter()
            .map(|k| KeySummary {
                key_tag: dnssec::key_tag(k),
                flags: k.flags(),
                algorithm: u8::from(hickory_proto::dnssec::PublicKey::algorithm(k.public_key())),
                matches_ds: matched.iter().any(|m| m == k),
                signs_dnskey_rrset: Some(dnssec::key_tag(k)) == signing_tag
                    && matched.iter().any(|m| m == k),
            })
            .collect();
        match verified {
            Ok(_) => {
                zk.keys = keys
                    .into_iter()
                    .filter(|k| k.zone_key() && !k.revoke())
                    .cloned()
                    .collect();
                finish(zk, step, Security::Secure)
            }
            Err(r) => finish(zk, step, Security::Bogus(r)),
        }
    }
}

fn finish(mut zk: ZoneKeys, mut step: ValidationStep, security: Security) -> ZoneKeys {
    step.security = security.clone();
    zk.security = security;
    zk.step = Some(step);
    zk
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn failures(servers: &[NameServer], verdicts: &[ServerVerdict]) -> Vec<ServerFailure> {
    servers
        .iter()
        .zip(verdicts)
        .map(|(s, v)| ServerFailure {
            server: s.addr,
            reason: v.failure_text(),
        })
        .collect()
}

/// The alias to follow from `qname`: its CNAME, or a DNAME at an ancestor
/// (RFC 6672 §2.2 substitution).
fn alias_target(
    answers: &[Record],
    qname: &Name,
    qtype: RecordType,
) -> Option<(AliasKind, DnsName)> {
    // A DNAME at an ancestor wins over the CNAME synthesised from it
    // (RFC 6672 §3.4): the DNAME is the signed, authoritative record.
    if qtype != RecordType::DNAME {
        let dname = answers.iter().find_map(|r| {
            if r.record_type() != HType::DNAME || !r.name.zone_of(qname) || &r.name == qname {
                return None;
            }
            // hickory has no DNAME type: the target is the raw, uncompressed
            // name in RDATA (RFC 6672 §2.5).
            let RData::Unknown { rdata, .. } = &r.data else {
                return None;
            };
            let dname = <Name as BinDecodable>::from_bytes(&rdata.anything).ok()?;
            let keep = usize::from(qname.num_labels().saturating_sub(r.name.num_labels()));
            let prefix: Vec<&[u8]> = qname.iter().take(keep).collect();
            let target = Name::from_labels(prefix).ok()?.append_domain(&dname).ok()?;
            Some((AliasKind::Dname, DnsName::from_hickory(&target)))
        });
        if dname.is_some() {
            return dname;
        }
    }
    if qtype == RecordType::CNAME {
        return None;
    }
    answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if &r.name == qname => {
            Some((AliasKind::Cname, DnsName::from_hickory(&c.0)))
        }
        _ => None,
    })
}

/// Classifies one server's reply to (`qname`, `qtype`) asked at a server of
/// `zone` (RFC 1034 §4.3.2, RFC 2308 §2).
/// Whether a response's answer section aliases the query name (a CNAME at it,
/// or a DNAME above it).
fn answers_with_alias(ev: &crate::evidence::ResponseEvidence, qname: &DnsName) -> bool {
    ev.answer.iter().any(|r| {
        (r.rtype == RecordType::CNAME && &r.name == qname)
            || (r.rtype == RecordType::DNAME && qname.is_subdomain_of(&r.name) && &r.name != qname)
    })
}

fn classify(zone: &DnsName, qname: &DnsName, reply: &ServerReply) -> ServerVerdict {
    let Some(d) = &reply.decoded else {
        return match reply.last().map(|e| &e.result) {
            None => ServerVerdict::NotAsked,
            Some(ExchangeResult::Timeout) => ServerVerdict::Timeout,
            Some(ExchangeResult::NetworkError { error }) => ServerVerdict::NetworkError {
                error: error.clone(),
            },
            Some(ExchangeResult::Unparseable { error, .. }) => ServerVerdict::Unparseable {
                error: error.clone(),
            },
            Some(ExchangeResult::Mismatched { detail }) => ServerVerdict::Mismatched {
                detail: detail.clone(),
            },
            Some(ExchangeResult::NotQueried { range, .. }) => ServerVerdict::NotQueried {
                range: range.clone(),
            },
            Some(ExchangeResult::Response(_)) => ServerVerdict::Lame {
                detail: "response lost".into(),
            },
        };
    };
    let ev = &d.evidence;
    if ev.flags.tc {
        return ServerVerdict::Lame {
            detail: "truncated over UDP and TCP failed".into(),
        };
    }
    match ev.rcode {
        // RFC 6604 §3: when the answer carries a CNAME/DNAME for the query
        // name, the RCODE speaks of the last name of the chain. Treat it as an
        // alias answer: the walk follows the chain and proves the denial for
        // the name it belongs to (RFC 4035 §5.4), as Unbound does.
        Rcode::NOERROR => {}
        Rcode::NXDOMAIN if answers_with_alias(ev, qname) => {}
        Rcode::NXDOMAIN => return ServerVerdict::NxDomain,
        Rcode::SERVFAIL => return ServerVerdict::ServFail,
        Rcode::REFUSED => return ServerVerdict::Refused,
        rcode => return ServerVerdict::OtherRcode { rcode },
    }
    if ev.flags.aa {
        let records: Vec<_> = ev
            .answer
            .iter()
            .filter(|r| r.rtype != RecordType::RRSIG)
            .cloned()
            .collect();
        return if records.is_empty() {
            ServerVerdict::NoData
        } else {
            ServerVerdict::Answer {
                records: ev.answer.clone(),
            }
        };
    }
    let qname_h = qname.to_hickory();
    let zone_h = zone.to_hickory();
    let ns_owner = d.authority.iter().find_map(|r| match &r.data {
        RData::NS(_) => Some(r.name.clone()),
        _ => None,
    });
    if ev.answer.is_empty() {
        if let Some(owner) = ns_owner {
            if owner != zone_h && zone_h.zone_of(&owner) && owner.zone_of(&qname_h) {
                let ns = d
                    .authority
                    .iter()
                    .filter(|r| r.name == owner)
                    .filter_map(|r| match &r.data {
                        RData::NS(n) => Some(DnsName::from_hickory(&n.0)),
                        _ => None,
                    })
                    .collect();
                return ServerVerdict::Referral {
                    zone: DnsName::from_hickory(&owner),
                    ns,
                };
            }
            return ServerVerdict::Lame {
                detail: format!(
                    "referral to {} which is not below {zone}",
                    DnsName::from_hickory(&owner)
                ),
            };
        }
        if d.authority.iter().any(|r| r.record_type() == HType::SOA) {
            return ServerVerdict::NoData;
        }
        return ServerVerdict::Lame {
            detail: "no AA flag, no referral and no SOA".into(),
        };
    }
    // An answer without AA: usable (Unbound takes it), flagged in the evidence.
    ServerVerdict::Answer {
        records: ev.answer.clone(),
    }
}

/// [`classify`], plus: a DS query must be answered by the parent itself
/// (RFC 4035 §3.1.4.1), so a referral to the DS owner is lame.
fn classify_for(
    zone: &DnsName,
    qname: &DnsName,
    qtype: RecordType,
    reply: &ServerReply,
) -> ServerVerdict {
    match classify(zone, qname, reply) {
        ServerVerdict::Referral { zone, .. } if qtype == RecordType::DS && &zone == qname => {
            ServerVerdict::Lame {
                detail: format!("referral instead of the DS RRset for {zone}"),
            }
        }
        v => v,
    }
}

fn is_aa(reply: &ServerReply) -> bool {
    reply.decoded.as_ref().is_some_and(|d| d.evidence.flags.aa)
}

/// The resolver's pick: the first usable authoritative answer (or referral),
/// else the first usable answer without AA, as Unbound does.
fn choose(replies: &[Arc<ServerReply>], verdicts: &[ServerVerdict]) -> Option<usize> {
    let preferred = verdicts.iter().zip(replies).position(|(v, r)| {
        v.is_usable() && (is_aa(r) || matches!(v, ServerVerdict::Referral { .. }))
    });
    preferred.or_else(|| verdicts.iter().position(ServerVerdict::is_usable))
}

/// Verifies the NSEC/NSEC3 RRsets of `authority` and checks they prove
/// `goal`. Returns `None` when proven, the non-secure status otherwise.
fn check_denial(
    zone: &Name,
    qname: &Name,
    qtype: RecordType,
    goal: DenialGoal,
    authority: &[Record],
    keys: &[&hickory_proto::dnssec::rdata::DNSKEY],
    now: u64,
) -> Option<Security> {
    let mut nsecs = Vec::new();
    let mut nsec3s = Vec::new();
    let mut owners: Vec<(Name, HType)> = Vec::new();
    for r in authority {
        let t = r.record_type();
        if (t == HType::NSEC || t == HType::NSEC3)
            && !owners.iter().any(|(n, ot)| *ot == t && n == &r.name)
        {
            owners.push((r.name.clone(), t));
            if owners.len() >= limits::MAX_DENIAL_RRSETS {
                break;
            }
        }
    }
    for (owner, t) in &owners {
        let (recs, sigs) = dnssec::rrset(authority, owner, *t);
        if let Err(r) = dnssec::verify_rrset(zone, owner, *t, &recs, &sigs, keys, now) {
            return Some(Security::Bogus(r));
        }
        if *t == HType::NSEC {
            nsecs.extend(recs);
        } else {
            nsec3s.extend(recs);
        }
    }
    let zone_d = DnsName::from_hickory(zone);
    match dnssec::prove_denial(zone, qname, goal, &nsecs, &nsec3s) {
        Denial::Proven(_) => None,
        Denial::OptOut => Some(Security::Insecure(InsecureReason::OptOut {
            zone: DnsName::from_hickory(qname),
            parent: zone_d,
        })),
        Denial::Insecure(r) => Some(Security::Insecure(r)),
        Denial::Failed(detail) => {
            let rrset = RrsetId {
                owner: DnsName::from_hickory(qname),
                rtype: qtype,
            };
            let denial: String = match goal {
                DenialGoal::NxDomain => "NXDOMAIN".into(),
                DenialGoal::NoData(_) => "NODATA".into(),
                DenialGoal::InsecureDelegation => "insecure delegation (no DS)".into(),
                DenialGoal::WildcardAnswer(_) => "wildcard expansion".into(),
            };
            Some(Security::Bogus(if nsecs.is_empty() && nsec3s.is_empty() {
                BogusReason::DenialMissing {
                    zone: zone_d,
                    rrset,
                    denial,
                    detail,
                }
            } else {
                BogusReason::DenialInvalid {
                    zone: zone_d,
                    rrset,
                    denial,
                    detail,
                }
            }))
        }
    }
}

#[cfg(test)]
mod journal_tests {
    use std::time::Duration;

    use dcv_lab::silent::SilentServer;

    use super::*;
    use crate::config::parse_root_hints;

    /// A server that never answers (`dcv_lab::silent`), and an engine whose
    /// only root hint is it.
    async fn silent_root(query_timeout: Duration) -> (SilentServer, Engine) {
        let silent = SilentServer::start().await.expect("bind a silent server");
        let engine = Engine::new(EngineConfig {
            root_hints: parse_root_hints(&silent.root_hints_zone()).unwrap(),
            port: silent.addr().port(),
            trust_anchors: Vec::new(),
            query_timeout,
            retries: 0,
            ..EngineConfig::default()
        });
        (silent, engine)
    }

    #[tokio::test]
    async fn journal_shows_the_query_in_flight_until_its_future_is_dropped() {
        let (silent, engine) = silent_root(Duration::from_secs(30)).await;
        let server = silent.addr();
        let name = DnsName::parse("www.example.test").unwrap();
        let journal = {
            let lookup = engine.lookup(&name, RecordType::A);
            tokio::pin!(lookup);
            tokio::select! {
                _ = &mut lookup => panic!("a silent server answered"),
                () = tokio::time::sleep(Duration::from_millis(200)) => engine.journal(),
            }
        };
        assert_eq!(journal.completed, 0, "{journal:?}");
        assert_eq!(journal.in_flight.len(), 1, "{journal:?}");
        let q = &journal.in_flight[0];
        assert_eq!(q.server, server);
        assert_eq!(
            q.server_name.as_ref().map(DnsName::as_str),
            Some("silent.root.")
        );
        assert_eq!(q.zone.as_ref().map(DnsName::as_str), Some("."));
        assert_eq!(q.qname, name);
        assert_eq!(q.qtype, RecordType::A);
        assert!(q.waited >= Duration::from_millis(150), "{q:?}");
        // The lookup future is gone: nothing waits any more.
        assert!(engine.journal().in_flight.is_empty());
    }

    #[tokio::test]
    async fn journal_keeps_finished_exchanges() {
        let (_socket, engine) = silent_root(Duration::from_millis(50)).await;
        let name = DnsName::parse("www.example.test").unwrap();
        let lookup = engine.lookup(&name, RecordType::TXT).await;
        assert!(matches!(lookup.outcome, Outcome::ServFail { .. }));
        let journal = engine.journal();
        assert!(journal.in_flight.is_empty(), "{journal:?}");
        assert_eq!(journal.completed, 1, "{journal:?}");
        assert_eq!(journal.slowest.len(), 1, "{journal:?}");
        assert_eq!(journal.slowest[0].result, ExchangeResult::Timeout);
        assert_eq!(journal.slowest[0].qtype, RecordType::TXT);
    }
}
