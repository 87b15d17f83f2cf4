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

/// Default per-attempt timeout. Boulder's test config uses 1 s per try
/// (`dnsTimeout`); authoritative servers on a healthy path answer well within it.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_millis(1500);

/// Default number of retries after the first UDP attempt (Boulder: `dnsTries` 3
/// attempts in total).
pub const DEFAULT_RETRIES: u8 = 2;

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
