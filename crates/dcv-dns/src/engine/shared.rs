//! The infrastructure cache a batch's checks share: zone cuts and validated
//! zone keys, so the root, the TLDs and every zone several hostnames sit in
//! are walked and validated once per TTL instead of once per hostname.
//!
//! # What is shared, and what never is
//!
//! - **Zone cuts** learnt from a referral (RFC 1034 §4.2.2): the child's NS
//!   names and server addresses (glue, or out-of-bailiwick NS names resolved
//!   on the way), with the exchanges of the referral that built them. A
//!   check that finds a fresh cut here starts its walk there, as a warm
//!   resolver does (RFC 1034 §4.3.2 step 2: "the best servers to ask").
//! - **Zone keys** ([`ZoneKeys`]): the DS RRset (or the proof that there is
//!   none) and the DNSKEY RRset of a zone cut, validated from the trust
//!   anchor down (RFC 4035 §5.2), with their security status, the
//!   validation step and every server answer and exchange that built them.
//!   Only entries at a zone cut are kept (the name *is* the zone): the
//!   proofs that a hostname's own labels are no cut stay per check.
//! - **Never shared**: each hostname's own questions (A/AAAA, CAA at every
//!   label of the climb, TXT at `_acme-challenge`, CNAME/DNAME targets) go
//!   to every authoritative server of the hostname's zone for every check,
//!   as the CA's resolver would ask them for its own validation. Their
//!   single-path probes are never taken from another check either: the
//!   runner (`dcv_diagnosis::runner`) takes a question's UDP+EDNS path from
//!   the check's own lookup, and asks it over the other paths when the
//!   zone's shared probe (below) or the lookup's own answers say a path
//!   could matter for it.
//! - **Path probes shared per zone**: a single-path probe whose question
//!   is a zone cut's apex (SOA at every zone whose servers are
//!   path-probed, the CAA climb reaching the zone's apex, the vantage
//!   preflight's root NS) is the same question to the same server over
//!   the same path for every hostname under it: whether a server answers
//!   without EDNS and over TCP is a property of the server and the zone. It
//!   is kept per server, question and path for the smallest TTL of its
//!   records, at most
//!   [`limits::SHARED_PROBE_TTL`] (Unbound's `infra-host-ttl`), and a probe
//!   that got no answer for [`limits::SHARED_CACHE_BOGUS_TTL`].
//! - **The vantage preflight** ([`crate::vantage`]): a report that found
//!   nothing limiting the check (every family and transport reaches the
//!   root, no interception) is what this machine can reach, not anything
//!   of a hostname's; it is reused for [`SHARED_VANTAGE_TTL`]. A report
//!   that found a limit or a blocker is never reused: each check asks for
//!   itself. So a network that fails mid-batch is seen by the first check
//!   after the clean report expires, up to [`SHARED_VANTAGE_TTL`] late;
//!   checks in between read its timeouts as the domain's.
//! - The per-server round-trip state ([`crate::infra::Infra`]) stays per engine:
//!   each check measures its servers as a cold CA perspective would, so the
//!   slow-server evidence of one check never comes from another's packets.
//!
//! # How long an entry lives
//!
//! As in Unbound's key cache (`validator/val_kentry.c`: an entry lives for
//! the TTL of the RRset behind it), an entry is reused while the smallest
//! TTL of the records behind it lasts (DS, DNSKEY and their RRSIGs, or the
//! NS and glue of the referral), no longer than an RRSIG behind it stays
//! valid, and no longer than its parent's entry (keys validated with the
//! parent's keys go when those go). Every lifetime is capped by
//! [`limits::SHARED_CACHE_MAX_TTL`] (Unbound's `cache-max-ttl`). Failures:
//!
//! - a bogus chain (a DS or DNSKEY RRset that fails validation) lives
//!   [`limits::SHARED_CACHE_BOGUS_TTL`], Unbound's `BOGUS_KEY_TTL` /
//!   `val-bogus-ttl` (`validator/validator.h`), so a broken TLD is reported
//!   for every hostname under it without being asked again for each;
//! - an indeterminate one (a timeout, no server, the check's query budget)
//!   is never kept: the checks waiting for it at that moment each fetch it
//!   again themselves, and the next check asks afresh;
//! - a cut whose NS names could not all be resolved lives at most
//!   [`limits::SHARED_CACHE_BOGUS_TTL`], as the failure may be transient.
//!
//! # Single flight, bounded size
//!
//! Concurrent checks that need the same zone's keys wait for one fetch
//! (one `OnceCell` per zone across engines, as Unbound's mesh joins identical
//! queries): a hundred checks under `com.` ask `com.` for its DNSKEY once.
//! If the check doing the fetch is dropped (its deadline), a waiting one
//! takes over. Each kind of entry is bounded by
//! [`limits::SHARED_CACHE_MAX_ENTRIES`]: past it expired entries go first,
//! then the least recently used, so memory stays flat however many lines a
//! batch reads.
//!
//! # Evidence
//!
//! A check that reuses an entry still carries what proves it: the cut's
//! referral exchanges and the keys' validation step, server answers and
//! exchanges join the lookup's evidence as if fetched, and the cut or step
//! says how old it was ([`crate::SharedCacheUse`], `from_shared_cache`).

use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::OnceCell;

use crate::{
    evidence::{Exchange, QueryPath},
    limits,
    lookup::{SharedCacheUse, ZoneCut},
    security::Security,
    types::{DnsName, RecordType},
    vantage::{Conclusion, VantageReport},
};

use super::{chain::ZoneKeys, lock};

/// How long a vantage preflight that found nothing limiting is reused:
/// [`limits::SHARED_CACHE_BOGUS_TTL`] (Unbound's `val-bogus-ttl`, 60 s),
/// so a machine whose network changes mid-batch is probed again within a
/// minute, while a batch of thousands of checks probes the root's paths
/// once a minute rather than once per check.
pub const SHARED_VANTAGE_TTL: Duration = limits::SHARED_CACHE_BOGUS_TTL;

/// A zone cut kept for other checks, with the exchanges that built it.
pub(super) struct CutEntry {
    pub(super) cut: Arc<ZoneCut>,
    pub(super) exchanges: Arc<[Exchange]>,
    pub(super) fetched: Instant,
    expires: Instant,
}

impl CutEntry {
    pub(super) fn age(&self, now: Instant) -> SharedCacheUse {
        age(self.fetched, now)
    }
}

type KeysCell = Arc<OnceCell<Arc<ZoneKeys>>>;

/// One single-path probe: server, question, path.
type ProbeKey = (SocketAddr, DnsName, RecordType, QueryPath);

/// A probe's exchange (`None`: the query budget was spent) and when it was
/// sent.
type ProbeCell = Arc<OnceCell<(Option<Exchange>, Instant)>>;

/// Zone cuts and validated zone keys shared by many engines (a batch's
/// checks) through an `Arc`; cheap to clone. See the module documentation
/// for what is shared, for how long, and what never is.
#[derive(Clone, Default)]
pub struct SharedInfraCache {
    inner: Arc<SharedInner>,
}

#[derive(Default)]
struct SharedInner {
    cuts: Mutex<Bounded<DnsName, Arc<CutEntry>>>,
    keys: Mutex<Bounded<DnsName, KeysCell>>,
    probes: Mutex<Bounded<ProbeKey, ProbeCell>>,
    vantage: Mutex<Option<(Arc<VantageReport>, Instant)>>,
    probe_hits: AtomicU64,
    cut_hits: AtomicU64,
    key_hits: AtomicU64,
    key_fetches: AtomicU64,
}

/// How much a [`SharedInfraCache`] saved: entries reused by a check that did
/// not fetch them, and the zone keys fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SharedCacheStats {
    /// Zone cuts a check took from the cache instead of being referred.
    pub cut_hits: u64,
    /// Zone keys a check took from the cache (or from another check's
    /// fetch in flight) instead of fetching them.
    pub key_hits: u64,
    /// Zone keys fetched (by the check that filled the cache).
    pub key_fetches: u64,
    /// Single-path probes a check took from the cache (the same question
    /// to the same server over the same path, asked by an earlier check).
    pub probe_hits: u64,
    /// Entries held now (zone cuts, zone keys, probes).
    pub cuts: usize,
    pub keys: usize,
    pub probes: usize,
}

impl fmt::Debug for SharedInfraCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedInfraCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl SharedInfraCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the cache holds and has saved so far.
    pub fn stats(&self) -> SharedCacheStats {
        SharedCacheStats {
            cut_hits: self.inner.cut_hits.load(Ordering::Relaxed),
            key_hits: self.inner.key_hits.load(Ordering::Relaxed),
            key_fetches: self.inner.key_fetches.load(Ordering::Relaxed),
            probe_hits: self.inner.probe_hits.load(Ordering::Relaxed),
            cuts: lock(&self.inner.cuts).len(),
            keys: lock(&self.inner.keys).len(),
            probes: lock(&self.inner.probes).len(),
        }
    }

    /// A vantage preflight another check made within
    /// [`SHARED_VANTAGE_TTL`] that found nothing limiting the check, and
    /// how old it is.
    pub fn vantage(&self) -> Option<(VantageReport, Duration)> {
        let kept = lock(&self.inner.vantage);
        let (report, made) = kept.as_ref()?;
        let age = made.elapsed();
        (age < SHARED_VANTAGE_TTL).then(|| (VantageReport::clone(report), age))
    }

    /// Keeps `report` for other checks when it found nothing limiting the
    /// check ([`Conclusion::Limited`] with no limit); any other report
    /// drops the one kept, so the next checks probe for themselves.
    pub fn put_vantage(&self, report: &VantageReport) {
        let clean =
            matches!(report.conclusion(), Conclusion::Limited { limits } if limits.is_empty());
        *lock(&self.inner.vantage) = clean.then(|| (Arc::new(report.clone()), Instant::now()));
    }

    /// The fresh cut at `zone`, if another check left one.
    pub(super) fn cut(&self, zone: &DnsName) -> Option<Arc<CutEntry>> {
        let now = Instant::now();
        let mut cuts = lock(&self.inner.cuts);
        let entry = cuts.get(zone)?;
        if entry.expires <= now {
            cuts.remove(zone);
            return None;
        }
        self.inner.cut_hits.fetch_add(1, Ordering::Relaxed);
        Some(entry)
    }

    /// Keeps a cut learnt from a referral for `lifetime` (already capped),
    /// with the exchanges of the referral.
    pub(super) fn put_cut(
        &self,
        cut: Arc<ZoneCut>,
        exchanges: Vec<Exchange>,
        fetched: Instant,
        lifetime: Duration,
    ) {
        let expires = fetched + lifetime.min(limits::SHARED_CACHE_MAX_TTL);
        if expires <= Instant::now() {
            return;
        }
        let zone = cut.zone.clone();
        let entry = Arc::new(CutEntry {
            cut,
            exchanges: exchanges.into(),
            fetched,
            expires,
        });
        lock(&self.inner.cuts).insert(zone, entry, |e| e.expires <= Instant::now());
    }

    /// The keys of `name`: a fresh entry, the fetch another check has in
    /// flight, or `fetch` run here (single flight). Entries that may not be
    /// kept ([`keys_reusable`]) leave the cache once fetched, so the next
    /// check fetches again.
    pub(super) async fn zone_keys<F>(&self, name: &DnsName, fetch: F) -> Arc<ZoneKeys>
    where
        F: Future<Output = ZoneKeys>,
    {
        let cell = {
            let now = Instant::now();
            let mut keys = lock(&self.inner.keys);
            match keys.get(name) {
                Some(cell) if cell.get().is_none_or(|zk| keys_reusable(zk, now)) => cell,
                _ => {
                    let cell = KeysCell::default();
                    keys.insert(name.clone(), cell.clone(), |c| {
                        c.get().is_some_and(|zk| !keys_reusable(zk, Instant::now()))
                    });
                    cell
                }
            }
        };
        let mut fetched_here = false;
        let zk = cell
            .get_or_init(|| {
                fetched_here = true;
                async { Arc::new(fetch.await) }
            })
            .await
            .clone();
        if fetched_here {
            self.inner.key_fetches.fetch_add(1, Ordering::Relaxed);
            if !keys_reusable(&zk, Instant::now()) {
                let mut keys = lock(&self.inner.keys);
                if keys.peek(name).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                    keys.remove(name);
                }
            }
        } else {
            self.inner.key_hits.fetch_add(1, Ordering::Relaxed);
        }
        zk
    }
}

impl super::Engine {
    /// [`super::Engine::probe_path`], reused from the engine's shared cache
    /// when an earlier check put the same question to the same server over
    /// the same path within its lifetime ([`probe_lifetime`]); concurrent
    /// checks asking it wait for one probe. Only questions at a zone cut's
    /// apex are kept; without a shared cache, the probe is always sent. The single-path probes of a zone's apex (the
    /// CAA climb's upper labels) and the root's (the vantage preflight)
    /// are the same for every hostname of a batch; a hostname's own
    /// questions are its own keys, so they are asked fresh.
    pub async fn probe_path_shared(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
        path: QueryPath,
    ) -> Option<Exchange> {
        self.probe_path_shared_aged(server, qname, qtype, path)
            .await
            .map(|(exchange, _)| exchange)
    }

    /// [`Self::probe_path_shared`], and how long ago the exchange was made
    /// when it was taken from the shared cache (`None`: this check sent
    /// it), for the evidence: a reused probe is an earlier check's answer.
    pub async fn probe_path_shared_aged(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
        path: QueryPath,
    ) -> Option<(Exchange, Option<Duration>)> {
        let fresh = |exchange: Option<Exchange>| exchange.map(|e| (e, None));
        let Some(shared) = &self.inner.config.shared_cache else {
            return fresh(self.probe_path(server, qname, qtype, path).await);
        };
        // Only a zone's apex is asked the same by every hostname under it;
        // a hostname's own question would fill the cache for nothing.
        if self.known_cut(qname).is_none() {
            return fresh(self.probe_path(server, qname, qtype, path).await);
        }
        let key = (server, qname.clone(), qtype, path);
        let cell = {
            let now = Instant::now();
            let mut probes = lock(&shared.inner.probes);
            match probes.get(&key) {
                Some(cell) if cell.get().is_none_or(|p| probe_fresh(p, now)) => cell,
                _ => {
                    let cell = ProbeCell::default();
                    probes.insert(key.clone(), cell.clone(), |c| {
                        c.get().is_some_and(|p| !probe_fresh(p, Instant::now()))
                    });
                    cell
                }
            }
        };
        let mut sent_here = false;
        let (exchange, sent) = cell
            .get_or_init(|| {
                sent_here = true;
                async {
                    let sent = Instant::now();
                    (self.probe_path(server, qname, qtype, path).await, sent)
                }
            })
            .await
            .clone();
        if !sent_here {
            shared.inner.probe_hits.fetch_add(1, Ordering::Relaxed);
            return match exchange {
                Some(e) => Some((e, Some(sent.elapsed()))),
                // Another check's budget was spent, not this one's.
                None => fresh(self.probe_path(server, qname, qtype, path).await),
            };
        } else if exchange.is_none() {
            let mut probes = lock(&shared.inner.probes);
            if probes.peek(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                probes.remove(&key);
            }
        }
        fresh(exchange)
    }
}

/// How long a probe's exchange may be reused: the smallest TTL of its
/// records, at most [`limits::SHARED_PROBE_TTL`]; an exchange without an
/// answer (a timeout, an error) [`limits::SHARED_CACHE_BOGUS_TTL`].
fn probe_lifetime(exchange: &Exchange) -> Duration {
    match exchange.response() {
        Some(r) => r
            .answer
            .iter()
            .chain(&r.authority)
            .map(|rec| Duration::from_secs(u64::from(rec.ttl)))
            .min()
            .unwrap_or(limits::SHARED_PROBE_TTL)
            .min(limits::SHARED_PROBE_TTL),
        None => limits::SHARED_CACHE_BOGUS_TTL,
    }
}

fn probe_fresh((exchange, sent): &(Option<Exchange>, Instant), now: Instant) -> bool {
    exchange
        .as_ref()
        .is_some_and(|e| *sent + probe_lifetime(e) > now)
}

/// How old an entry fetched at `fetched` is at `now`.
pub(super) fn age(fetched: Instant, now: Instant) -> SharedCacheUse {
    SharedCacheUse {
        age_ms: u64::try_from(now.saturating_duration_since(fetched).as_millis())
            .unwrap_or(u64::MAX),
    }
}

/// Whether `zk` may be reused by another check at `now`: an entry at a
/// zone cut whose chain of trust is still within its lifetime.
pub(super) fn keys_reusable(zk: &ZoneKeys, now: Instant) -> bool {
    zk.name == zk.zone && keys_expire(zk).is_some_and(|end| end > now)
}

/// When `zk` stops being reusable: its own lifetime (see the module
/// documentation), bounded by its parent's; `None` if it may not be kept.
fn keys_expire(zk: &ZoneKeys) -> Option<Instant> {
    let own = match &zk.security {
        Security::Indeterminate(_) => return None,
        Security::Bogus(_) => limits::SHARED_CACHE_BOGUS_TTL,
        Security::Secure | Security::Insecure(_) => {
            Duration::from_secs(u64::from(zk.ttl?)).min(limits::SHARED_CACHE_MAX_TTL)
        }
    };
    let own = zk.fetched + own;
    match &zk.parent {
        None => Some(own),
        Some(parent) => keys_expire(parent).map(|p| p.min(own)),
    }
}

/// A map bounded to [`limits::SHARED_CACHE_MAX_ENTRIES`], dropping the
/// least recently used entries when full.
struct Bounded<K, V> {
    map: HashMap<K, (V, u64)>,
    clock: u64,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            clock: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    fn len(&self) -> usize {
        self.map.len()
    }

    /// The value at `key`, marked as used now.
    fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let clock = self.clock;
        self.map.get_mut(key).map(|(v, used)| {
            *used = clock;
            v.clone()
        })
    }

    fn peek(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(v, _)| v)
    }

    fn remove(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Inserts `value`; when full, first drops the entries `expired` says
    /// are, then the least recently used eighth (amortised: one sort per
    /// eighth of the capacity inserted).
    fn insert(&mut self, key: K, value: V, expired: impl Fn(&V) -> bool) {
        self.clock += 1;
        if self.map.len() >= limits::SHARED_CACHE_MAX_ENTRIES && !self.map.contains_key(&key) {
            self.map.retain(|_, (v, _)| !expired(v));
            if self.map.len() >= limits::SHARED_CACHE_MAX_ENTRIES {
                let mut uses: Vec<u64> = self.map.values().map(|(_, used)| *used).collect();
                uses.sort_unstable();
                let cutoff = uses[uses.len() / 8];
                self.map.retain(|_, (_, used)| *used > cutoff);
            }
        }
        self.map.insert(key, (value, self.clock));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_drops_the_least_recently_used() {
        let mut m: Bounded<usize, usize> = Bounded::default();
        for i in 0..limits::SHARED_CACHE_MAX_ENTRIES {
            m.insert(i, i, |_| false);
        }
        // Entry 0 is used again: it is the most recent now.
        assert_eq!(m.get(&0), Some(0));
        m.insert(usize::MAX, 1, |_| false);
        assert!(m.len() <= limits::SHARED_CACHE_MAX_ENTRIES);
        assert!(m.len() > limits::SHARED_CACHE_MAX_ENTRIES / 2);
        assert_eq!(m.get(&0), Some(0), "recently used entry kept");
        assert_eq!(m.get(&1), None, "least recently used entry dropped");
        assert_eq!(m.get(&usize::MAX), Some(1));
    }

    #[test]
    fn a_full_map_drops_expired_entries_first() {
        let mut m: Bounded<usize, usize> = Bounded::default();
        for i in 0..limits::SHARED_CACHE_MAX_ENTRIES {
            m.insert(i, i, |_| false);
        }
        m.insert(usize::MAX, 1, |v| *v % 2 == 0);
        assert_eq!(m.len(), limits::SHARED_CACHE_MAX_ENTRIES / 2 + 1);
        assert_eq!(m.get(&1), Some(1), "unexpired least recently used kept");
        assert_eq!(m.get(&2), None);
    }
}
