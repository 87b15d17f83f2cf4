//! Named bounds on every loop, buffer and timer of the engine.
//!
//! Each constant cites where its value comes from. They are deliberately
//! conservative: a diagnosis tool must finish with a clear answer rather than
//! chase a misconfigured zone forever.

use std::time::Duration;

/// EDNS(0) UDP payload size we advertise: the DNS Flag Day 2020 value, also
/// what Unbound (`edns-buffer-size: 1232`) and Let's Debug use.
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// Largest UDP datagram we read. Answers bigger than the advertised payload are
/// a server bug, but we still read them so the evidence shows what arrived.
pub const MAX_UDP_RESPONSE: usize = 65_535;

/// Largest TCP response accepted: the 16-bit length prefix of RFC 1035 §4.2.2.
pub const MAX_TCP_RESPONSE: usize = 65_535;

/// Retransmission timeout for a server address never heard from: Unbound's
/// `unknown-server-time-limit` (`UNKNOWN_SERVER_NICENESS`, 376 ms; its
/// `util/rtt.c`: "first RTO is 0 + 4*0.094 = 0.376 seconds"). Each timeout
/// doubles it; each answer moves it towards the measured round trip
/// (`infra.rs`).
pub const INITIAL_RTO: Duration = Duration::from_millis(376);

/// Lowest retransmission timeout: Unbound's `infra-cache-min-rtt` (50 ms).
pub const MIN_RTO: Duration = Duration::from_millis(50);

/// Highest retransmission timeout: Unbound's `infra-cache-max-rtt`
/// (`USEFUL_SERVER_TOP_TIMEOUT`, 120 s); in practice the per-question
/// patience ([`DEFAULT_QUERY_TIMEOUT`]) ends a question long before.
pub const MAX_RTO: Duration = Duration::from_secs(120);

/// Default retransmissions after the first UDP try to one server: Unbound's
/// `outbound-msg-retry` is 5 tries per address.
pub const DEFAULT_RETRIES: u8 = 4;

/// Default patience for one question to one server, every try together:
/// the RTO of the fifth and last try on Unbound's schedule for an unknown
/// server (376 ms doubled four times = 6016 ms). A server slower than that
/// never answers any try in time for Unbound, which drops late answers, so
/// the CA's resolver never hears it; anything faster it eventually gets
/// (after timeouts that cost it time, see [`crate::cold_resolver_cost`]).
/// We accept a late answer to an earlier try, so waiting this long from the
/// first send hears every server the CA's resolver could.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_millis(6016);

/// How long a TCP exchange may take (connect, send, answer): Unbound's
/// `tcp-auth-query-timeout` (3 s), used for its fallback after TC.
pub const TCP_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// The CA's patience for one lookup, all servers and zones together. Boulder
/// retries a timed-out query `dnsTries` times with `dnsTimeout` each while
/// its resolver keeps working on it; the public test configs use 3 x 1 s
/// (since 2016-12; 10 s per try before), production values are not
/// published, and Let's Encrypt's community support speaks of "the 10
/// seconds available to make the lookup" (community.letsencrypt.org thread
/// 130959, 2020). We take 10 s. Our engine asks every server at once and
/// accepts late answers, so it is never slower than the CA's resolver: a
/// lookup that does not finish within this budget here would not finish
/// for the CA either, and only then is a slow zone a failure.
pub const CA_LOOKUP_BUDGET: Duration = Duration::from_secs(10);

/// After the first usable answer at a zone cut, the other servers of the cut
/// are waited for at most as long again as that answer took (and at least
/// this long) before the walk goes on; their answers are still collected
/// for the evidence before the lookup completes. Servers that answer about
/// as fast as the first are all in, so the resolver view picks among them in
/// server order as before; a slow or dead one does not hold the walk.
/// [`MIN_RTO`]: below it a difference in answer time is noise.
pub const FIRST_ANSWER_GRACE: Duration = MIN_RTO;

/// Default bound on exchanges for one check (one `Engine`). Unbound's
/// `MAX_SENT_COUNT` is 32 per resolution; one check does dozens of lookups
/// (A, AAAA, CAA per label, TXT, DS/DNSKEY), so the engine-wide bound is larger.
pub const DEFAULT_MAX_QUERIES: u32 = 2000;

/// Referrals followed in one walk before giving up (Unbound's `MAX_REFERRAL_COUNT`
/// is 130; real trees are rarely deeper than 10 cuts).
pub const MAX_REFERRALS: usize = 32;

/// CNAME/DNAME links followed for one lookup (Unbound `MAX_RESTART_COUNT` is 11).
pub const MAX_CNAME_CHAIN: usize = 11;

/// Nesting depth when resolving out-of-bailiwick NS names, which may themselves
/// need NS names resolved (Unbound `target-fetch-policy` depth is 4 levels).
pub const MAX_NS_RESOLUTION_DEPTH: u8 = 4;

/// NS names per zone cut we resolve addresses for. Unbound caps outstanding
/// target fetches similarly; a zone with more names is still reported in full.
pub const MAX_NS_NAMES_PER_CUT: usize = 13;

/// Addresses queried per zone cut (13 root servers x 2 families).
pub const MAX_SERVERS_PER_CUT: usize = 26;

/// Records per section we keep from one response. A TCP response is at most
/// 64 KiB, and a minimal record is 11 octets with name compression, so no real
/// answer holds more than about 6,000; the bound only stops a hostile server
/// from making us allocate per record without limit. It must not cut real
/// RRsets: CAA RRsets of 1,000+ records must be read whole (RFC 8659 §3 makes
/// the whole RRset relevant), and dropping the RRSIG would turn them bogus.
pub const MAX_RECORDS_PER_SECTION: usize = 8192;

/// RFC 9276 §3.2: validators MAY treat NSEC3 with more iterations as insecure.
/// Unbound 1.17 does so above 150 (its `val-nsec3-keysize-iterations` top
/// value); we follow it.
pub const NSEC3_MAX_ITERATIONS: u16 = 150;

/// DNSKEYs tried per RRSIG key tag and RRSIGs tried per RRset (KeyTrap,
/// CVE-2023-50387 mitigation: Unbound limits signature validations per
/// response to 8 failures).
pub const MAX_SIGNATURE_ATTEMPTS: usize = 8;

/// DS records examined per delegation (Unbound caps DS/DNSKEY work similarly).
pub const MAX_DS_RECORDS: usize = 16;

/// NSEC3 hash computations per denial proof: closest encloser search walks at
/// most one name per label (127) plus wildcard and next-closer.
pub const MAX_NSEC3_HASHES: usize = 130;

/// NSEC/NSEC3 RRsets whose signatures we check per response. A denial needs
/// at most 3 NSEC3 (RFC 5155 §7.2.1: closest encloser, next closer,
/// wildcard) or 2 NSEC; more is padding or an attack on validator CPU
/// (KeyTrap/NSEC3-encloser, CVE-2023-50868).
pub const MAX_DENIAL_RRSETS: usize = 32;

/// Labels below the closest zone cut known from a referral (or a trust
/// anchor) at which validation asks for a DS RRset to find a cut the walk
/// was never referred to (parent and child on the same servers; RFC 4035
/// §5, Unbound's `processFindKey` asks at every label down to the signer).
/// Real names rarely sit more than a few labels below their registered
/// domain; the bound stops a long hostile name from costing one DS query per
/// label (up to 126). Beyond it the status is indeterminate.
pub const MAX_CUT_PROBE_LABELS: usize = 12;

/// The longest a [`crate::SharedInfraCache`] entry is reused, whatever the
/// TTLs behind it say: Unbound's `cache-max-ttl` default (86400 s,
/// `util/config_file.c`). A batch rarely lives that long; the cap bounds a
/// zone that publishes a week-long DNSKEY TTL.
pub const SHARED_CACHE_MAX_TTL: Duration = Duration::from_secs(86_400);

/// How long a bogus chain (a DS or DNSKEY RRset that fails validation) is
/// reused before it is fetched again: Unbound's `BOGUS_KEY_TTL` and
/// `val-bogus-ttl` default, 60 s (`validator/validator.h`). Short, so a
/// fixed zone is seen fixed within a minute, long enough that a broken TLD
/// is not asked again for each of its hostnames.
pub const SHARED_CACHE_BOGUS_TTL: Duration = Duration::from_secs(60);

/// Entries a [`crate::SharedInfraCache`] holds per kind (zone cuts, zone
/// keys, path probes); past it the least recently used are dropped. Unbound
/// bounds its key cache by bytes (`key-cache-size`, 4 MB by default); an
/// entry here also keeps the evidence that built it (the exchanges with
/// their records, a few kB for a signed zone's keys), so 4,096 of each kind
/// stay within a few tens of megabytes however long the batch: enough for
/// the root, every TLD and thousands of shared zones.
pub const SHARED_CACHE_MAX_ENTRIES: usize = 4_096;

/// How long a [`crate::SharedInfraCache`] reuses a single-path probe's
/// answer (one server, one question, one path: UDP with or without EDNS, or
/// TCP) when its records' TTLs are longer: Unbound's `infra-host-ttl`
/// default, 900 s, how long it remembers what a server supports
/// (`services/cache/infra.c`). A probe that got no answer lives
/// [`SHARED_CACHE_BOGUS_TTL`].
pub const SHARED_PROBE_TTL: Duration = Duration::from_secs(900);
