//! The result of one lookup: the resolver-view outcome plus all evidence.

use std::{fmt, net::SocketAddr};

use serde::Serialize;

use crate::{
    evidence::{Exchange, RecordEvidence},
    security::{
        BogusReason, DsSummary, IndeterminateReason, Security, ServerFailure, write_failures,
    },
    types::{DnsName, Rcode, RecordType},
};

/// Everything learned while resolving one (name, type).
#[derive(Clone, Debug, Serialize)]
pub struct Lookup {
    pub qname: DnsName,
    pub qtype: RecordType,
    /// What a validating recursive resolver (Unbound) would hand the CA.
    pub outcome: Outcome,
    /// DNSSEC status of the whole answer, CNAME links included (worst wins).
    pub security: Security,
    /// CNAME/DNAME links followed, in order.
    pub chain: Vec<ChainLink>,
    /// Zone cuts walked, root first, for every name resolved (deduplicated).
    pub zone_cuts: Vec<ZoneCut>,
    /// What each authoritative server said, for every question asked.
    pub server_answers: Vec<ServerAnswer>,
    /// Chain of trust, zone by zone from the trust anchor down.
    pub validation: Vec<ValidationStep>,
    /// Every exchange made for this lookup (cached ones included).
    pub exchanges: Vec<Exchange>,
}

impl Lookup {
    /// Records of the final RRset, if the outcome is an answer.
    pub fn records(&self) -> &[RecordEvidence] {
        match &self.outcome {
            Outcome::Answer { records } => records,
            _ => &[],
        }
    }

    /// The zone cut whose apex is closest above (or at) `name`.
    pub fn zone_cut_for(&self, name: &DnsName) -> Option<&ZoneCut> {
        self.zone_cuts
            .iter()
            .filter(|c| name.is_subdomain_of(&c.zone))
            .max_by_key(|c| c.zone.label_count())
    }
}

/// Resolver-view outcome (RFC 1035 §4.3.2 with RFC 4035 §5.5 for bogus data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The RRset of the requested type at the end of the chain.
    Answer { records: Vec<RecordEvidence> },
    /// The name (at the end of the chain) does not exist.
    NxDomain,
    /// The name exists without records of the type.
    NoData,
    /// What the CA's resolver would return as SERVFAIL, and why.
    ServFail { why: ServFailReason },
}

impl Outcome {
    /// Short label: `answer`, `NXDOMAIN`, `NODATA`, `SERVFAIL`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Answer { .. } => "answer",
            Self::NxDomain => "NXDOMAIN",
            Self::NoData => "NODATA",
            Self::ServFail { .. } => "SERVFAIL",
        }
    }
}

/// Why the resolver would answer SERVFAIL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServFailReason {
    /// No server of `zone` gave a usable answer; each one's reason.
    AllServersFailed {
        zone: DnsName,
        failures: Vec<ServerFailure>,
    },
    /// DNSSEC validation failed (RFC 4035 §5.5).
    Bogus(BogusReason),
    /// The chain of trust could not be fetched.
    Indeterminate(IndeterminateReason),
    /// The NS names of a zone could not be resolved to any address.
    NoServerAddresses {
        zone: DnsName,
        unresolved: Vec<UnresolvedNs>,
    },
    /// A CNAME/DNAME chain revisits a name.
    AliasLoop { names: Vec<DnsName> },
    /// CNAME/DNAME chain longer than the limit.
    AliasChainTooLong { limit: usize },
    /// A referral that does not lead downward (to `zone` from `from`).
    ReferralLoop { from: DnsName, zone: DnsName },
    /// More referrals than the limit.
    TooManyReferrals { limit: usize },
    /// Resolving the name servers of a zone needs the zone itself
    /// (glueless delegation cycle), outermost zone first.
    NameServerCycle { zones: Vec<DnsName> },
    /// Out-of-bailiwick NS resolution nested deeper than the limit.
    NsResolutionTooDeep { zone: DnsName, limit: u8 },
    /// The engine's query budget ran out.
    BudgetExhausted { limit: u32 },
}

impl fmt::Display for ServFailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AllServersFailed { zone, failures } => {
                write!(f, "all servers for {zone} failed: ")?;
                write_failures(f, failures)
            }
            Self::Bogus(r) => write!(f, "DNSSEC bogus: {r}"),
            Self::Indeterminate(r) => write!(f, "DNSSEC indeterminate: {r}"),
            Self::NoServerAddresses { zone, unresolved } => {
                write!(f, "no address for any name server of {zone}")?;
                for u in unresolved {
                    write!(f, "; {}: {}", u.name, u.reason)?;
                }
                Ok(())
            }
            Self::AliasLoop { names } => {
                let list: Vec<&str> = names.iter().map(DnsName::as_str).collect();
                write!(f, "CNAME/DNAME loop: {}", list.join(" -> "))
            }
            Self::AliasChainTooLong { limit } => {
                write!(f, "CNAME/DNAME chain longer than {limit} links")
            }
            Self::ReferralLoop { from, zone } => write!(
                f,
                "servers of {from} refer to {zone}, which is not below {from}"
            ),
            Self::TooManyReferrals { limit } => write!(f, "more than {limit} referrals"),
            Self::NameServerCycle { zones } => {
                let list: Vec<&str> = zones.iter().map(DnsName::as_str).collect();
                write!(f, "name server cycle: {}", list.join(" -> "))
            }
            Self::NsResolutionTooDeep { zone, limit } => write!(
                f,
                "resolving the name servers of {zone} needs more than {limit} nested lookups"
            ),
            Self::BudgetExhausted { limit } => write!(f, "query budget of {limit} exhausted"),
        }
    }
}

/// CNAME or DNAME (RFC 1034 §3.6.2, RFC 6672).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AliasKind {
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "DNAME")]
    Dname,
}

/// One alias followed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    pub owner: DnsName,
    pub target: DnsName,
    pub kind: AliasKind,
    /// Zone that served the alias.
    pub zone: DnsName,
    pub security: Security,
}

/// A name server address at a zone cut.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NameServer {
    pub name: DnsName,
    pub addr: SocketAddr,
    /// Address came from glue in the referral (vs. resolved separately).
    pub glue: bool,
}

/// An NS name we could not get an address for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnresolvedNs {
    pub name: DnsName,
    pub reason: String,
}

/// A delegation point (RFC 1034 §4.2.2): zone apex, NS set, addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneCut {
    pub zone: DnsName,
    /// Parent zone that delegated (None for the root/hints).
    pub parent: Option<DnsName>,
    /// NS names from the referral (or the hints).
    pub ns_names: Vec<DnsName>,
    pub servers: Vec<NameServer>,
    pub unresolved: Vec<UnresolvedNs>,
    /// The parent server whose referral was used.
    pub referred_by: Option<SocketAddr>,
    /// How the cut became known: the hints, a referral, or (where the same
    /// servers serve parent and child, so no referral comes) validation.
    pub found_by: CutSource,
    /// Set when this check took the cut from a [`crate::SharedInfraCache`]
    /// another check filled, instead of being referred to it itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_shared_cache: Option<SharedCacheUse>,
}

/// A piece of infrastructure (a zone cut, a zone's validated keys) that a
/// check reused from a [`crate::SharedInfraCache`]: how old it was then.
/// The exchanges that built it are in the lookup's evidence all the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SharedCacheUse {
    /// Time since the entry's records were fetched, in milliseconds.
    pub age_ms: u64,
}

/// How a zone cut became known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CutSource {
    /// The root hints.
    RootHints,
    /// A referral from a server of the zone above (RFC 1034 §4.3.2).
    Referral,
    /// No referral: an RRSIG's signer name named the zone, and the DS query
    /// at its apex (a DS RRset, or a proof of no DS at a delegation)
    /// confirmed the cut, as validators find keys (RFC 4035 §5, RFC 6840
    /// §4.4; Unbound `val_find_signer`).
    SignerName,
    /// No referral: an answer came unsigned from the servers of a signed
    /// zone, and a DS query at each label below it found the cut (a DS
    /// RRset, or a proof of no DS at a delegation; RFC 4035 §5.2, Unbound's
    /// `processFindKey`).
    DsProbe,
}

impl CutSource {
    /// How the trace and reports say it: `referral`, `signer name`, ...
    pub fn label(self) -> &'static str {
        match self {
            Self::RootHints => "root hints",
            Self::Referral => "referral",
            Self::SignerName => "signer name + DS query",
            Self::DsProbe => "DS probe",
        }
    }
}

/// One authoritative server's own answer to one question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerAnswer {
    /// The zone the server speaks for: the cut whose servers were asked, or
    /// for an answer or denial that validation showed comes from a cut below
    /// it on the same servers (no referral), that cut.
    pub zone: DnsName,
    pub qname: DnsName,
    pub qtype: RecordType,
    pub server: NameServer,
    pub verdict: ServerVerdict,
    /// The AA flag was set. An answer without it is what RFC 1912 §2.8 calls
    /// lame; Unbound still uses it when no authoritative server answers.
    pub authoritative: bool,
    /// This answer is the one the resolver view used.
    pub chosen: bool,
}

impl ServerAnswer {
    /// Lame in the RFC 1912 §2.8 sense: not authoritative for data it should
    /// own (an answer or denial without AA), or an unusable non-authoritative
    /// response ([`ServerVerdict::Lame`]).
    pub fn is_lame(&self) -> bool {
        match &self.verdict {
            ServerVerdict::Lame { .. } => true,
            ServerVerdict::Answer { .. } | ServerVerdict::NxDomain | ServerVerdict::NoData => {
                !self.authoritative
            }
            _ => false,
        }
    }
}

/// Classification of one server's response (RFC 1034 §4.3.2, RFC 2308).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerVerdict {
    /// Authoritative answer with records (possibly a CNAME).
    Answer {
        records: Vec<RecordEvidence>,
    },
    NxDomain,
    NoData,
    /// Delegation to a child zone.
    Referral {
        zone: DnsName,
        ns: Vec<DnsName>,
    },
    /// Not authoritative and not a downward referral (RFC 1912 §2.8 "lame").
    Lame {
        reason: LameReason,
    },
    Refused,
    ServFail,
    OtherRcode {
        rcode: Rcode,
    },
    Timeout,
    NetworkError {
        cause: crate::evidence::NetErrorKind,
        error: String,
    },
    Unparseable {
        error: String,
    },
    Mismatched {
        detail: String,
    },
    /// Not asked: the query budget was exhausted.
    NotAsked,
    /// Not queried: the engine's [`crate::ServerPolicy`] refuses the
    /// server's address, which lies in `range`.
    NotQueried {
        range: crate::evidence::ReservedRange,
    },
}

/// Why a response could not be used (RFC 1912 §2.8 "lame"), typed so that
/// rules can tell a server that serves only the parent from one that lost
/// the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LameReason {
    /// A response came but was not kept (the exchange ended in another
    /// result).
    ResponseLost,
    /// Truncated over UDP (TC), and the retry over TCP failed.
    TruncatedAndTcpFailed,
    /// A referral to the very zone the server was asked as: it serves the
    /// parent, not this zone (RFC 1034 §4.3.2: a referral that does not lead
    /// closer is no answer). Unbound, Let's Encrypt's resolver, takes it as
    /// an empty NOERROR answer (NODATA) instead of asking another server.
    SelfReferral { zone: DnsName },
    /// A referral up or sideways: to `owner`, which is not below the zone
    /// the server was asked as.
    ReferralNotBelow { owner: DnsName },
    /// A referral to the DS owner instead of the DS RRset: a DS query must be
    /// answered by the parent (RFC 4035 §3.1.4.1).
    ReferralForDs { zone: DnsName },
    /// No AA flag, no referral and no SOA: nothing a resolver can use.
    NoAuthority,
}

impl std::fmt::Display for LameReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ResponseLost => f.write_str("response lost"),
            Self::TruncatedAndTcpFailed => f.write_str("truncated over UDP and TCP failed"),
            Self::SelfReferral { zone } => {
                let zone = zone.without_dot();
                write!(f, "referral to {zone} itself: the server does not serve it")
            }
            Self::ReferralNotBelow { owner } => {
                write!(f, "referral to {owner} which is not below the zone asked")
            }
            Self::ReferralForDs { zone } => {
                write!(f, "referral instead of the DS RRset for {zone}")
            }
            Self::NoAuthority => f.write_str("no AA flag, no referral and no SOA"),
        }
    }
}

impl ServerVerdict {
    /// Usable by a resolver (an answer, a denial or a referral).
    pub fn is_usable(&self) -> bool {
        matches!(
            self,
            Self::Answer { .. } | Self::NxDomain | Self::NoData | Self::Referral { .. }
        )
    }

    /// Why the server is unusable, phrased for "server X ..." sentences.
    pub fn failure_text(&self) -> String {
        match self {
            Self::Lame { reason } => format!("is lame ({reason})"),
            Self::Refused => "answered REFUSED".into(),
            Self::ServFail => "answered SERVFAIL".into(),
            Self::OtherRcode { rcode } => format!("answered {rcode}"),
            Self::Timeout => "timed out".into(),
            Self::NetworkError { cause, error } => format!("{cause}: {error}"),
            Self::Unparseable { error } => format!("sent an unparseable answer ({error})"),
            Self::Mismatched { detail } => format!("answered another question ({detail})"),
            Self::NotAsked => "was not asked (query budget exhausted)".into(),
            Self::NotQueried { range } => {
                format!(
                    "was not queried: address in {range}, refused by the public-only server policy"
                )
            }
            Self::Answer { .. } => "answered".into(),
            Self::NxDomain => "answered NXDOMAIN".into(),
            Self::NoData => "answered NODATA".into(),
            Self::Referral { zone, .. } => format!("referred to {zone}"),
        }
    }
}

/// One zone's link in the chain of trust (RFC 4035 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidationStep {
    pub zone: DnsName,
    /// True if the zone's keys are checked against a configured trust anchor.
    pub anchored: bool,
    /// The zone whose DS RRset (or proof that there is none) this step
    /// used; `None` for a trust anchor.
    pub parent: Option<DnsName>,
    /// DS records in the parent (or the anchor).
    pub ds: Vec<DsSummary>,
    pub dnskeys: Vec<KeySummary>,
    pub security: Security,
    /// Set when this check took the step from a [`crate::SharedInfraCache`]
    /// another check filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_shared_cache: Option<SharedCacheUse>,
}

/// A DNSKEY, summarised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeySummary {
    pub key_tag: u16,
    pub flags: u16,
    pub algorithm: u8,
    /// A DS (or anchor) identifies this key.
    pub matches_ds: bool,
    /// This key's RRSIG over the DNSKEY RRset verified.
    pub signs_dnskey_rrset: bool,
}
