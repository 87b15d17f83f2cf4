//! One check's DNS resolver: the [`Engine`] (cache, in-flight deduplication,
//! query budget, journal) and the questions it puts to single servers. The
//! work is split by job:
//!
//! - `resolve`: one lookup as a resolver returns it (CNAME/DNAME chain,
//!   outcome, security), built on
//! - `walk`: the iterative descent from the root hints through referrals
//!   (RFC 1034 §4.3.2), asking every server of each zone cut;
//! - `classify`: what one server's reply means (answer, referral, NODATA,
//!   lame, ...) and which reply a resolver would pick;
//! - `chain`: the chain of trust (RFC 4035 §5): DS and DNSKEY per zone, RRSIG
//!   and denial checks on answers;
//! - `ask`: the questions put to servers (one server, every server of a cut,
//!   single-path probes), where retransmission and server choice live;
//! - `ctx`: the evidence one lookup gathers on the way;
//! - `vantage`: the preflight that asks the root what this machine can test
//!   (judged in [`crate::vantage`]).

mod ask;
mod chain;
mod classify;
mod ctx;
mod resolve;
mod retry;
mod shared;
mod vantage;
mod walk;

pub use shared::{SharedCacheStats, SharedInfraCache};

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
};

use tokio::sync::OnceCell;

use crate::{
    config::EngineConfig,
    infra::{Infra, ServerTiming},
    limits,
    lookup::{CutSource, Lookup, NameServer, ZoneCut},
    transport::{Journal, Recorder, ServerReply},
    types::{DnsName, RecordType},
};

use chain::ZoneKeys;
use ctx::Ctx;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Cell<T> = Arc<OnceCell<Arc<T>>>;

/// One check's resolver: cache, in-flight deduplication and query budget.
/// Cheap to clone (an `Arc` inside); clones share all state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this engine's fetches from other engines' in a shared cache.
    id: u64,
    config: EngineConfig,
    sent: AtomicU32,
    replies: Mutex<HashMap<(SocketAddr, DnsName, RecordType), Cell<ServerReply>>>,
    cuts: Mutex<HashMap<DnsName, Arc<ZoneCut>>>,
    lookups: Mutex<HashMap<(DnsName, RecordType), Cell<Lookup>>>,
    keys: Mutex<HashMap<DnsName, Cell<ZoneKeys>>>,
    /// Every attempt of every lookup, kept apart from the lookups' futures.
    journal: Recorder,
    /// Round-trip state and timings per server address, shared by every
    /// lookup (the resolver's infrastructure cache).
    infra: Infra,
    /// Zone cuts taken from the shared cache: the referral exchanges that
    /// built each, added to the evidence of every lookup that walks it.
    reused_cuts: Mutex<HashMap<DnsName, Arc<[crate::evidence::Exchange]>>>,
}

/// Engine ids ([`Inner::id`]); 0 is never handed out.
static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("root_hints", &self.inner.config.root_hints.len())
            .field("port", &self.inner.config.port)
            .field("queries_sent", &self.queries_sent())
            .finish_non_exhaustive()
    }
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
            found_by: CutSource::RootHints,
            from_shared_cache: None,
        };
        let mut cuts = HashMap::new();
        cuts.insert(DnsName::root(), Arc::new(root));
        let infra = Infra::new(config.initial_rto);
        Self {
            inner: Arc::new(Inner {
                id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
                config,
                sent: AtomicU32::new(0),
                replies: Mutex::default(),
                cuts: Mutex::new(cuts),
                lookups: Mutex::default(),
                keys: Mutex::default(),
                journal: Recorder::default(),
                infra,
                reused_cuts: Mutex::default(),
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
    /// were waiting for (a dropped attempt leaves the in-flight list; the
    /// questions a walk left running at a zone cut run on, each within its
    /// patience, and stay listed until they end).
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

    /// What this engine measured of each server it asked (round trips,
    /// tries, losses, late answers), by address: the evidence of slow or
    /// lossy servers.
    pub fn server_timings(&self) -> Vec<ServerTiming> {
        self.inner.infra.timings()
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

    /// The apex of the closest zone cut at or above `name` that this
    /// engine knows or its shared cache holds fresh (the root when none),
    /// before any question: a batch's check knows which zone holds its
    /// hostname from the checks before it.
    pub fn closest_known_zone(&self, name: &DnsName) -> DnsName {
        self.closest_cut(name).zone.clone()
    }

    fn closest_cut(&self, name: &DnsName) -> Arc<ZoneCut> {
        let mut cur = Some(name.clone());
        while let Some(n) = cur {
            if let Some(c) = self.known_cut(&n) {
                return c;
            }
            cur = n.parent();
        }
        let cuts = lock(&self.inner.cuts);
        cuts.get(&DnsName::root()).cloned().unwrap_or_else(|| {
            Arc::new(ZoneCut {
                zone: DnsName::root(),
                parent: None,
                ns_names: Vec::new(),
                servers: Vec::new(),
                unresolved: Vec::new(),
                referred_by: None,
                found_by: CutSource::RootHints,
                from_shared_cache: None,
            })
        })
    }

    /// The cut at `zone` this engine knows, or a fresh one from the shared
    /// cache, taken into this engine with the cuts above it (so the walk,
    /// the journal and the evidence see the whole path) and marked with its
    /// age.
    fn known_cut(&self, zone: &DnsName) -> Option<Arc<ZoneCut>> {
        if let Some(c) = lock(&self.inner.cuts).get(zone) {
            return Some(c.clone());
        }
        let shared = self.inner.config.shared_cache.as_ref()?;
        let entry = shared.cut(zone)?;
        let now = std::time::Instant::now();
        let mut taken = Vec::new();
        let mut next = Some(entry);
        for _ in 0..limits::MAX_REFERRALS {
            let Some(e) = next.take() else { break };
            let mut cut = ZoneCut::clone(&e.cut);
            cut.from_shared_cache = Some(e.age(now));
            next = match &cut.parent {
                Some(p) if !lock(&self.inner.cuts).contains_key(p) => shared.cut(p),
                _ => None,
            };
            taken.push((Arc::new(cut), e.exchanges.clone()));
        }
        let mut cuts = lock(&self.inner.cuts);
        let mut reused = lock(&self.inner.reused_cuts);
        for (cut, exchanges) in taken.into_iter().rev() {
            reused.entry(cut.zone.clone()).or_insert(exchanges);
            cuts.entry(cut.zone.clone()).or_insert(cut);
        }
        cuts.get(zone).cloned()
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
        if self.inner.config.shared_cache.is_some() {
            let reused = lock(&self.inner.reused_cuts);
            for c in &path {
                if let Some(exchanges) = reused.get(&c.zone) {
                    ctx.add_exchanges(exchanges.iter());
                }
            }
        }
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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod journal_tests {
    use std::time::Duration;

    use dcv_lab::silent::SilentServer;

    use super::*;
    use crate::config::parse_root_hints;
    use crate::{ExchangeResult, Outcome};

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
