//! DNSSEC verdicts (RFC 4035 §4.3) with reasons as data, and how a validating
//! resolver (Unbound) and Boulder would word them.

use std::{fmt, net::SocketAddr};

use serde::Serialize;

use crate::types::{DnsName, RecordType};

/// RFC 4035 §4.3 security status of an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Security {
    /// A chain of signed DNSKEY and DS RRsets leads from a trust anchor to the data.
    Secure,
    /// Proven unsigned: the chain ends with a proof that a delegation has no DS
    /// (or only unsupported algorithms), or no anchor covers the name.
    Insecure(InsecureReason),
    /// The chain should exist but is broken.
    Bogus(BogusReason),
    /// Could not be determined (a fetch failed). Never to be read as Bogus.
    Indeterminate(IndeterminateReason),
}

impl Security {
    /// Severity used when combining links of a CNAME chain: the worst wins.
    fn rank(&self) -> u8 {
        match self {
            Self::Secure => 0,
            Self::Insecure(_) => 1,
            Self::Indeterminate(_) => 2,
            Self::Bogus(_) => 3,
        }
    }

    /// The worse of two statuses (Bogus > Indeterminate > Insecure > Secure).
    pub(crate) fn worst(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    pub fn is_secure(&self) -> bool {
        matches!(self, Self::Secure)
    }

    pub fn is_bogus(&self) -> bool {
        matches!(self, Self::Bogus(_))
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secure => f.write_str("secure"),
            Self::Insecure(r) => write!(f, "insecure: {r}"),
            Self::Bogus(r) => write!(f, "bogus: {r}"),
            Self::Indeterminate(r) => write!(f, "indeterminate: {r}"),
        }
    }
}

/// Why a name is provably insecure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InsecureReason {
    /// No configured trust anchor is at or above the name.
    NoTrustAnchor { name: DnsName },
    /// The parent proves the delegation has no DS (RFC 4035 §5.2).
    NoDs {
        zone: DnsName,
        parent: DnsName,
        proof: DenialKind,
    },
    /// NSEC3 opt-out span covers the delegation (RFC 5155 §6).
    OptOut { zone: DnsName, parent: DnsName },
    /// Only DS/DNSKEY algorithms or digest types we cannot validate (RFC 4035
    /// §5.2, RFC 6840 §5.2).
    UnsupportedAlgorithms { zone: DnsName, algorithms: Vec<u8> },
    /// NSEC3 with more iterations than we accept (RFC 9276 §3.2).
    Nsec3IterationsTooHigh {
        zone: DnsName,
        iterations: u16,
        limit: u16,
    },
}

impl fmt::Display for InsecureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTrustAnchor { name } => write!(f, "no trust anchor covers {name}"),
            Self::NoDs {
                zone,
                parent,
                proof,
            } => write!(f, "{parent} proves with {proof} that {zone} has no DS"),
            Self::OptOut { zone, parent } => {
                write!(f, "{zone} lies in an NSEC3 opt-out span of {parent}")
            }
            Self::UnsupportedAlgorithms { zone, algorithms } => {
                write!(f, "{zone} uses only unsupported algorithms {algorithms:?}")
            }
            Self::Nsec3IterationsTooHigh {
                zone,
                iterations,
                limit,
            } => write!(
                f,
                "{zone} uses NSEC3 with {iterations} iterations (> {limit}, RFC 9276)"
            ),
        }
    }
}

/// NSEC or NSEC3 (RFC 4035 §5.4, RFC 5155 §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DenialKind {
    #[serde(rename = "NSEC")]
    Nsec,
    #[serde(rename = "NSEC3")]
    Nsec3,
}

impl fmt::Display for DenialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nsec => "NSEC",
            Self::Nsec3 => "NSEC3",
        })
    }
}

/// An RRset named in a reason: owner and type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RrsetId {
    pub owner: DnsName,
    pub rtype: RecordType,
}

impl fmt::Display for RrsetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner.without_dot(), self.rtype)
    }
}

/// A DS record, summarised (RFC 4034 §5.3 presentation order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DsSummary {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
}

impl fmt::Display for DsSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.key_tag, self.algorithm, self.digest_type
        )
    }
}

/// Why the chain of trust is broken. Every variant names the zone and RRset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BogusReason {
    /// RFC 4035 §5.3.1: the current time is after the RRSIG expiration.
    SignatureExpired {
        zone: DnsName,
        rrset: RrsetId,
        key_tag: u16,
        /// Expiration as RFC 3339 UTC.
        expired: String,
    },
    /// RFC 4035 §5.3.1: the current time is before the RRSIG inception.
    SignatureNotYetValid {
        zone: DnsName,
        rrset: RrsetId,
        key_tag: u16,
        inception: String,
    },
    /// The signature does not verify with the key it names.
    SignatureInvalid {
        zone: DnsName,
        rrset: RrsetId,
        key_tag: u16,
    },
    /// RRSIGs name keys that are not in the zone's validated DNSKEY set.
    NoMatchingKey {
        zone: DnsName,
        rrset: RrsetId,
        key_tags: Vec<u16>,
    },
    /// A signed zone served the RRset without any RRSIG (RFC 4035 §5.3).
    RrsigsMissing { zone: DnsName, rrset: RrsetId },
    /// The parent has DS records but the zone serves no DNSKEY RRset.
    DnskeyMissing { zone: DnsName },
    /// No DNSKEY of the zone matches any DS in the parent (RFC 4035 §5.2).
    DsMatchesNoDnskey {
        zone: DnsName,
        parent: DnsName,
        ds: Vec<DsSummary>,
    },
    /// A key matches a DS, but none of the DS-matched keys signs the DNSKEY
    /// RRset validly (RFC 4035 §5.2).
    DnskeyNotSignedByDsKey {
        zone: DnsName,
        ds_key_tags: Vec<u16>,
        /// The signature problem seen with the DS-matched key(s), if any.
        detail: Option<Box<BogusReason>>,
    },
    /// The trust anchor matches no DNSKEY of its zone.
    TrustAnchorMismatch {
        zone: DnsName,
        anchor_tags: Vec<u16>,
    },
    /// A secure parent neither gives a DS nor proves there is none.
    DsDenialMissing {
        zone: DnsName,
        parent: DnsName,
        /// What was wrong with the parent's answer.
        detail: String,
        /// NSEC/NSEC3 records were served (but prove nothing).
        proof_served: bool,
    },
    /// A secure zone gave NXDOMAIN/NODATA (or a wildcard answer) without any
    /// NSEC/NSEC3 records.
    DenialMissing {
        zone: DnsName,
        rrset: RrsetId,
        /// What the proof is needed for ("NXDOMAIN", "NODATA", "wildcard expansion").
        denial: String,
        detail: String,
    },
    /// Signed NSEC/NSEC3 records were served but do not prove the denial
    /// (wrong span, type bitmap lists the type, no closest encloser...).
    DenialInvalid {
        zone: DnsName,
        rrset: RrsetId,
        denial: String,
        /// What was wrong with what was served.
        detail: String,
    },
    /// The answer contradicts the records (e.g. a CNAME/DNAME inconsistency).
    Malformed { zone: DnsName, detail: String },
    /// The RRSIGs over `rrset` name `signer` as their zone, but the secure
    /// zone `zone` proves there is no delegation at `signer` (its NSEC/NSEC3
    /// there has no NS bit): no chain of trust leads to the signer's keys
    /// (RFC 4035 §5.3.1; Unbound "cannot retrieve DS for signature").
    SignerNotZone {
        zone: DnsName,
        signer: DnsName,
        rrset: RrsetId,
    },
    /// The servers of `parent`, which serve `zone` too, answered the DS query
    /// for `zone` from `zone` itself (a NODATA with `zone`'s SOA) instead of
    /// from `parent`, against RFC 4035 §3.1.4.1: no server gave the parent's
    /// DS RRset or its proof that there is none.
    DsAnsweredByChild {
        zone: DnsName,
        parent: DnsName,
        servers: Vec<SocketAddr>,
    },
}

impl BogusReason {
    /// The zone whose data or keys are at fault.
    pub fn zone(&self) -> &DnsName {
        match self {
            Self::SignatureExpired { zone, .. }
            | Self::SignatureNotYetValid { zone, .. }
            | Self::SignatureInvalid { zone, .. }
            | Self::NoMatchingKey { zone, .. }
            | Self::RrsigsMissing { zone, .. }
            | Self::DnskeyMissing { zone }
            | Self::DsMatchesNoDnskey { zone, .. }
            | Self::DnskeyNotSignedByDsKey { zone, .. }
            | Self::TrustAnchorMismatch { zone, .. }
            | Self::DsDenialMissing { zone, .. }
            | Self::DenialMissing { zone, .. }
            | Self::DenialInvalid { zone, .. }
            | Self::Malformed { zone, .. }
            | Self::SignerNotZone { zone, .. }
            | Self::DsAnsweredByChild { zone, .. } => zone,
        }
    }

    /// The RFC 8914 INFO-CODE Unbound 1.17 attaches to the first (uncached)
    /// answer for this failure, as observed in `tests/unbound_differential.rs`;
    /// from its cache Unbound sends 6 (DNSSEC Bogus) for all of them.
    pub fn ede_code(&self) -> u16 {
        match self {
            Self::SignatureExpired { .. } => 7,
            Self::SignatureNotYetValid { .. } => 8,
            // A failed DS denial makes Unbound look for the child's DNSKEY,
            // which an unsigned child lacks.
            Self::DnskeyMissing { .. }
            | Self::DsMatchesNoDnskey { .. }
            | Self::TrustAnchorMismatch { .. }
            | Self::DsDenialMissing {
                proof_served: true, ..
            }
            | Self::DsAnsweredByChild { .. } => 9,
            // No RRSIG by a DS-matched key over the DNSKEY RRset counts as missing.
            Self::RrsigsMissing { .. }
            | Self::DnskeyNotSignedByDsKey { detail: None, .. }
            | Self::SignerNotZone { .. } => 10,
            Self::DnskeyNotSignedByDsKey {
                detail: Some(d), ..
            } => d.ede_code(),
            Self::DenialMissing { denial, .. } if denial != "wildcard expansion" => 12,
            Self::DsDenialMissing {
                proof_served: false,
                ..
            } => 12,
            Self::DenialMissing { .. }
            | Self::DenialInvalid { .. }
            | Self::SignatureInvalid { .. }
            | Self::NoMatchingKey { .. }
            | Self::Malformed { .. } => 6,
        }
    }

    /// Boulder's summary for this EDE (`bdns/problem.go`), e.g.
    /// `DNSSEC: Signature Expired`.
    pub fn boulder_summary(&self) -> &'static str {
        boulder_ede_summary(self.ede_code())
    }

    /// The problem detail Let's Encrypt would show for a lookup of `qtype`
    /// at `name`: `DNS problem: looking up A for www.example.com: DNSSEC: Bogus`.
    /// Unbound's extra text is not reproduced.
    pub fn boulder_problem(&self, qtype: RecordType, name: &DnsName) -> String {
        format!(
            "DNS problem: looking up {qtype} for {}: {}",
            name.without_dot(),
            self.boulder_summary()
        )
    }
}

/// Boulder's wording of an RFC 8914 INFO-CODE.
pub fn boulder_ede_summary(code: u16) -> &'static str {
    match code {
        1 => "DNSSEC: Unsupported DNSKEY Algorithm",
        2 => "DNSSEC: Unsupported DS Digest Type",
        5 => "DNSSEC: Indeterminate",
        6 => "DNSSEC: Bogus",
        7 => "DNSSEC: Signature Expired",
        8 => "DNSSEC: Signature Not Yet Valid",
        9 => "DNSSEC: DNSKEY Missing",
        10 => "DNSSEC: RRSIGs Missing",
        11 => "DNSSEC: No Zone Key Bit Set",
        12 => "DNSSEC: NSEC Missing",
        20 => "Not Authoritative",
        22 => "No Reachable Authority",
        23 => "Network Error between Resolver and Authority",
        18 => "Prohibited",
        _ => "Unknown Extended DNS Error code",
    }
}

impl fmt::Display for BogusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignatureExpired {
                rrset,
                key_tag,
                expired,
                ..
            } => write!(f, "RRSIG over {rrset} by key {key_tag} expired {expired}"),
            Self::SignatureNotYetValid {
                rrset,
                key_tag,
                inception,
                ..
            } => write!(
                f,
                "RRSIG over {rrset} by key {key_tag} is not valid before {inception}"
            ),
            Self::SignatureInvalid { rrset, key_tag, .. } => write!(
                f,
                "RRSIG over {rrset} by key {key_tag} does not verify (bad signature)"
            ),
            Self::NoMatchingKey {
                zone,
                rrset,
                key_tags,
            } => write!(
                f,
                "RRSIG over {rrset} names key(s) {key_tags:?}, not in the DNSKEY set of {zone}"
            ),
            Self::RrsigsMissing { rrset, .. } => write!(f, "no RRSIG for {rrset}"),
            Self::DnskeyMissing { zone } => write!(
                f,
                "{zone} has DS records in its parent but serves no DNSKEY"
            ),
            Self::DsMatchesNoDnskey { zone, parent, ds } => {
                let list: Vec<String> = ds.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "DS {} in {parent} matches no DNSKEY of {zone}",
                    list.join(", ")
                )
            }
            Self::DnskeyNotSignedByDsKey {
                zone,
                ds_key_tags,
                detail,
            } => {
                write!(
                    f,
                    "DNSKEY RRset of {zone} is not validly signed by the DS-matched key(s) {ds_key_tags:?}"
                )?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            Self::TrustAnchorMismatch { zone, anchor_tags } => write!(
                f,
                "trust anchor(s) {anchor_tags:?} for {zone} match no DNSKEY of {zone}"
            ),
            Self::DsDenialMissing {
                zone,
                parent,
                detail,
                ..
            } => write!(
                f,
                "{parent} is signed but neither gives a DS for {zone} nor proves there is none ({detail})"
            ),
            Self::DenialMissing {
                rrset,
                denial,
                detail,
                ..
            }
            | Self::DenialInvalid {
                rrset,
                denial,
                detail,
                ..
            } => write!(f, "{denial} for {rrset} not proven: {detail}"),
            Self::Malformed { zone, detail } => write!(f, "malformed data in {zone}: {detail}"),
            Self::SignerNotZone {
                zone,
                signer,
                rrset,
            } => write!(
                f,
                "RRSIG over {rrset} names signer {signer}, but {zone} proves there is no zone cut at {signer}"
            ),
            Self::DsAnsweredByChild {
                zone,
                parent,
                servers,
            } => {
                let list: Vec<String> = servers.iter().map(|s| s.ip().to_string()).collect();
                write!(
                    f,
                    "the servers of {parent} ({}) answered the DS query for {zone} from {zone} itself, not from {parent} (RFC 4035 §3.1.4.1)",
                    list.join(", ")
                )
            }
        }
    }
}

/// Why the security status could not be determined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndeterminateReason {
    /// Fetching a DS or DNSKEY RRset failed on every server.
    FetchFailed {
        zone: DnsName,
        rrset: RrsetId,
        failures: Vec<ServerFailure>,
    },
    /// The engine's query budget ran out during validation.
    BudgetExhausted { limit: u32 },
    /// The servers of a zone could not be found.
    NoServers { zone: DnsName },
    /// Proving where the zone cuts lie between the closest known cut `zone`
    /// and `name` needs more DS queries than the limit allows.
    CutProbeLimit {
        zone: DnsName,
        name: DnsName,
        limit: usize,
    },
}

impl fmt::Display for IndeterminateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FetchFailed {
                rrset, failures, ..
            } => {
                write!(f, "could not fetch {rrset}: ")?;
                write_failures(f, failures)
            }
            Self::BudgetExhausted { limit } => {
                write!(f, "query budget of {limit} exhausted during validation")
            }
            Self::NoServers { zone } => write!(f, "no reachable servers for {zone}"),
            Self::CutProbeLimit { zone, name, limit } => write!(
                f,
                "{name} lies more than {limit} labels below the closest known zone cut {zone}: zone cuts between not probed"
            ),
        }
    }
}

/// One server's failure, for "all servers failed" explanations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerFailure {
    pub server: SocketAddr,
    pub reason: String,
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server {} {}", self.server.ip(), self.reason)
    }
}

pub(crate) fn write_failures(
    f: &mut fmt::Formatter<'_>,
    failures: &[ServerFailure],
) -> fmt::Result {
    if failures.is_empty() {
        return f.write_str("no servers to ask");
    }
    for (i, s) in failures.iter().enumerate() {
        if i > 0 {
            f.write_str("; ")?;
        }
        write!(f, "{s}")?;
    }
    Ok(())
}
