//! DNS evidence engine for dcv-doctor: iterative resolution from root hints,
//! per-server answers, and DNSSEC validation with reasons as data.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dcv_dns::{DnsName, Engine, EngineConfig, RecordType};
//! let engine = Engine::new(EngineConfig::default());
//! let lookup = engine.lookup(&DnsName::parse("example.com")?, RecordType::CAA).await;
//! println!("{}", dcv_dns::render_trace(&lookup));
//! # Ok(()) }
//! ```
//!
//! hickory-proto stays private: every public type is this crate's own
//! ([`RecordType`] is a `u16` newtype, not a re-export).
//!
//! Choices that decide verdicts, each modelled on Unbound (Let's Encrypt's
//! resolver) and checked against it in `tests/unbound_differential.rs`:
//!
//! - Every address of every zone cut is asked at once; the resolver view
//!   takes the first usable answer in server order among the servers that
//!   answered about as fast as the first authoritative answer or referral,
//!   preferring AA answers and referrals. An answer without AA is used only
//!   when nothing authoritative came back (Unbound accepts it too);
//!   [`ServerAnswer::authoritative`] shows it. Slower servers do not hold
//!   the walk: their answers join the lookup's evidence before it completes.
//! - Each question to a server is sent again whenever the server's
//!   retransmission timeout runs out (Unbound's RTT model: 376 ms for a
//!   server never heard from, doubled per timeout, adapted to the measured
//!   round trips, shared by every lookup of the engine), while earlier tries
//!   keep listening: a late answer is an answer, so we hear every server the
//!   CA's resolver could, and sooner. A lookup that does not finish within
//!   the CA's budget ([`EngineConfig::lookup_budget`]) fails as it would for
//!   the CA; [`Engine::server_timings`] keeps what was measured per server.
//! - RRSIG validity windows are checked here against [`Clock`] (hickory checks
//!   only the cryptography), in RFC 1982 serial arithmetic, with no skew.
//! - NSEC3 with more than [`limits::NSEC3_MAX_ITERATIONS`] (150) iterations
//!   makes the answer Insecure (RFC 9276 §3.2), as Unbound 1.17 does.
//! - A DS or DNSKEY that cannot be fetched (timeouts, SERVFAIL, budget) gives
//!   [`Security::Indeterminate`], never Bogus; the resolver view is still
//!   SERVFAIL because a validating resolver cannot answer either.
//! - An insecure delegation needs a signed proof with the NS bit and no DS bit,
//!   or an NSEC3 opt-out span (RFC 4035 §5.2, RFC 5155 §8.6).
//! - [`ServerPolicy::PublicOnly`] (servers facing strangers) never contacts a
//!   name server on a private, loopback or reserved address, root hints
//!   included; the refusal is an exchange ([`ExchangeResult::NotQueried`])
//!   and a verdict ([`ServerVerdict::NotQueried`]) naming the block, and costs
//!   no packet, timeout or budget.
//! - [`BogusReason::ede_code`] maps each reason to the RFC 8914 code Unbound
//!   sends, and [`BogusReason::boulder_problem`] to Boulder's problem text.
//!
//! - A server that answers FORMERR or NOTIMP without an OPT record does not
//!   implement EDNS: the question is asked again without it (RFC 6891 §7),
//!   as Unbound does; the refusal stays in the evidence.
//!
//! Not covered: DNS cookies, RSA/MD5, DSA and Ed448 (unsupported, so
//! Insecure), and validating the addresses of out-of-bailiwick name servers.

pub mod cold_unbound;
mod config;
mod dnssec;
mod engine;
mod evidence;
mod infra;
pub mod limits;
mod lookup;
mod security;
mod trace;
mod transport;
mod types;
pub mod vantage;
mod wire;

pub use config::{
    AnchorKind, Clock, ConfigError, EngineConfig, IANA_ROOT_ANCHORS, IANA_ROOT_HINTS, RootHint,
    ServerPolicy, TrustAnchor, parse_root_hints, parse_trust_anchor,
};
pub use engine::{Engine, SharedCacheStats, SharedInfraCache};
pub use evidence::{
    Exchange, ExchangeResult, ExtendedError, HeaderFlags, NetErrorKind, Protocol, QueryPath,
    RangeKind, RecordEvidence, ReservedRange, ResponseEvidence,
};
pub use infra::{MAX_LATENCY_SAMPLES, ServerTiming, cold_resolver_cost};
pub use lookup::{
    AliasKind, ChainLink, CutSource, KeySummary, LameReason, Lookup, NameServer, Outcome,
    ServFailReason, ServerAnswer, ServerVerdict, SharedCacheUse, UnresolvedNs, ValidationStep,
    ZoneCut,
};
pub use security::{
    BogusReason, DenialKind, DsSummary, IndeterminateReason, InsecureReason, RrsetId, Security,
    ServerFailure, boulder_ede_summary,
};
pub use trace::render_trace;
pub use transport::{InFlight, JOURNAL_SLOWEST_KEPT, Journal};
pub use types::{DnsName, NameError, Rcode, RecordType, RecordTypeError};
