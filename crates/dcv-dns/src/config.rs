//! Engine configuration: root hints, trust anchors, timers, bounds and clock.

use std::{
    net::IpAddr,
    time::{Duration, SystemTime},
};

use hickory_proto::{
    dnssec::{
        Algorithm, DigestType, PublicKey,
        rdata::{DNSKEY, DNSSECRData, DS},
    },
    rr::{Name, RData, RecordType as HRecordType},
    serialize::txt::Parser,
};
use serde::Serialize;

use crate::{
    limits,
    types::{DnsName, hex_bytes},
};

/// IANA `named.root` (root hints, last changed 2023-11 for b.root-servers.net),
/// in zone-file syntax. Parsed by [`EngineConfig::default`].
pub const IANA_ROOT_HINTS: &str = "\
; Root hints from https://www.internic.net/domain/named.root
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
.                        3600000      NS    B.ROOT-SERVERS.NET.
B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2
B.ROOT-SERVERS.NET.      3600000      AAAA  2801:1b8:10::b
.                        3600000      NS    C.ROOT-SERVERS.NET.
C.ROOT-SERVERS.NET.      3600000      A     192.33.4.12
C.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2::c
.                        3600000      NS    D.ROOT-SERVERS.NET.
D.ROOT-SERVERS.NET.      3600000      A     199.7.91.13
D.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2d::d
.                        3600000      NS    E.ROOT-SERVERS.NET.
E.ROOT-SERVERS.NET.      3600000      A     192.203.230.10
E.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:a8::e
.                        3600000      NS    F.ROOT-SERVERS.NET.
F.ROOT-SERVERS.NET.      3600000      A     192.5.5.241
F.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2f::f
.                        3600000      NS    G.ROOT-SERVERS.NET.
G.ROOT-SERVERS.NET.      3600000      A     192.112.36.4
G.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:12::d0d
.                        3600000      NS    H.ROOT-SERVERS.NET.
H.ROOT-SERVERS.NET.      3600000      A     198.97.190.53
H.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:1::53
.                        3600000      NS    I.ROOT-SERVERS.NET.
I.ROOT-SERVERS.NET.      3600000      A     192.36.148.17
I.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fe::53
.                        3600000      NS    J.ROOT-SERVERS.NET.
J.ROOT-SERVERS.NET.      3600000      A     192.58.128.30
J.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:c27::2:30
.                        3600000      NS    K.ROOT-SERVERS.NET.
K.ROOT-SERVERS.NET.      3600000      A     193.0.14.129
K.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fd::1
.                        3600000      NS    L.ROOT-SERVERS.NET.
L.ROOT-SERVERS.NET.      3600000      A     199.7.83.42
L.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:9f::42
.                        3600000      NS    M.ROOT-SERVERS.NET.
M.ROOT-SERVERS.NET.      3600000      A     202.12.27.33
M.ROOT-SERVERS.NET.      3600000      AAAA  2001:dc3::35
";

/// The IANA root KSKs as DS records (<https://data.iana.org/root-anchors/root-anchors.xml>):
/// KSK-2017 (20326) and KSK-2024 (38696).
pub const IANA_ROOT_ANCHORS: &str = "\
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
";

/// One root server address from the hints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RootHint {
    pub name: DnsName,
    pub addr: IpAddr,
}

/// A configured trust anchor: a DS or a DNSKEY at any owner (RFC 4033 §2,
/// RFC 7958 DS form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrustAnchor {
    pub owner: DnsName,
    pub kind: AnchorKind,
}

/// The record form of a trust anchor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum AnchorKind {
    Ds {
        key_tag: u16,
        algorithm: u8,
        digest_type: u8,
        #[serde(serialize_with = "hex_bytes")]
        digest: Vec<u8>,
    },
    Dnskey {
        flags: u16,
        algorithm: u8,
        key_tag: u16,
        #[serde(serialize_with = "hex_bytes")]
        public_key: Vec<u8>,
    },
}

impl TrustAnchor {
    /// Key tag of the anchored key (RFC 4034 App. B).
    pub fn key_tag(&self) -> u16 {
        match &self.kind {
            AnchorKind::Ds { key_tag, .. } | AnchorKind::Dnskey { key_tag, .. } => *key_tag,
        }
    }

    pub(crate) fn to_ds(&self) -> Option<DS> {
        match &self.kind {
            AnchorKind::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest,
            } => Some(DS::new(
                *key_tag,
                Algorithm::from_u8(*algorithm),
                DigestType::from(*digest_type),
                digest.clone(),
            )),
            AnchorKind::Dnskey { .. } => None,
        }
    }

    /// The anchor's public key bytes and algorithm, for DNSKEY anchors.
    pub(crate) fn dnskey_material(&self) -> Option<(u8, &[u8])> {
        match &self.kind {
            AnchorKind::Dnskey {
                algorithm,
                public_key,
                ..
            } => Some((*algorithm, public_key)),
            AnchorKind::Ds { .. } => None,
        }
    }
}

/// Source of "now" for RRSIG validity windows (RFC 4035 §5.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed instant, for tests and "what would happen at T" questions.
    Fixed(SystemTime),
}

impl Clock {
    /// Seconds since the Unix epoch.
    pub fn now_unix(&self) -> u64 {
        let t = match self {
            Self::System => SystemTime::now(),
            Self::Fixed(t) => *t,
        };
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// Which server addresses the engine may send queries to.
///
/// The walk queries whatever addresses the root hints, referral glue and NS
/// address lookups name. In a server mode (`dcv-doctor agent`) those are
/// chosen by strangers, and a name server "at" `127.0.0.1` or `10.0.0.1`
/// would make the tool probe the operator's own network. The project rule:
/// "in any server mode, refuse private, loopback and reserved targets unless
/// an explicit flag allows them". [`ServerPolicy::PublicOnly`] enforces it
/// inside the engine, before any packet leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerPolicy {
    /// Query any address (the CLI and the lab: the person running the tool
    /// chose the root and the network).
    #[default]
    Any,
    /// Never contact an address in an IANA special-purpose block (private,
    /// loopback, link-local, ULA, documentation, ...; the table of
    /// `dcv-ip-policy`, as Boulder's `iana.IsReservedAddr`). The root hints
    /// are not exempt. Each refused address is recorded as an exchange with
    /// [`crate::ExchangeResult::NotQueried`] and a server verdict
    /// [`crate::ServerVerdict::NotQueried`]; it costs no packet, no timeout
    /// and no query budget, and the walk goes on with the other servers as
    /// it would past an unreachable one.
    PublicOnly,
}

impl ServerPolicy {
    /// The special-purpose block that makes this policy refuse `ip`, or `None`
    /// if the engine may query it.
    pub fn refusal(self, ip: IpAddr) -> Option<dcv_ip_policy::ReservedRange> {
        match self {
            Self::Any => None,
            Self::PublicOnly => dcv_ip_policy::classify(ip),
        }
    }
}

/// Everything one [`crate::Engine`] needs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where the walk starts. With custom hints there is never a fallback to
    /// the system resolver.
    pub root_hints: Vec<RootHint>,
    /// Port every server is queried on (53 in production; labs use another).
    pub port: u16,
    /// DS or DNSKEY anchors; validation starts at the closest one above a name.
    pub trust_anchors: Vec<TrustAnchor>,
    /// Patience for one question to one server, every try together: an
    /// answer to any try is accepted until then (UDP), and a TCP exchange
    /// is bounded by it too. [`limits::DEFAULT_QUERY_TIMEOUT`]: the last RTO
    /// of Unbound's schedule.
    pub query_timeout: Duration,
    /// UDP retransmissions after the first try, each sent when the server's
    /// retransmission timeout runs out (0 = one try, waited for
    /// `query_timeout`). Earlier tries keep listening.
    pub retries: u8,
    /// Retransmission timeout for a server not heard from yet; it adapts to
    /// the round trips measured, per address, for all lookups of the engine
    /// ([`limits::INITIAL_RTO`], Unbound's).
    pub initial_rto: Duration,
    /// The CA's patience for one lookup ([`limits::CA_LOOKUP_BUDGET`]): past
    /// it the servers still waited for count as timed out, as the CA's
    /// resolver would have given up on them.
    pub lookup_budget: Duration,
    /// Bound on packets sent by this engine (all lookups together).
    pub max_queries: u32,
    /// Clock for RRSIG validity checks.
    pub clock: Clock,
    /// Query IPv6 server addresses too (AAAA glue, IPv6 hints).
    pub use_ipv6: bool,
    /// Ask every root server address (evidence about the root itself). Off by
    /// default: the root is asked one address at a time until one answers,
    /// sparing 26 packets per name on the real root.
    pub ask_every_root_server: bool,
    /// Which server addresses may be queried at all (root hints included).
    /// [`ServerPolicy::Any`] by default; servers facing strangers set
    /// [`ServerPolicy::PublicOnly`].
    pub server_policy: ServerPolicy,
    /// Zone cuts and validated zone keys shared with other engines (a
    /// batch's checks), reused while their TTLs last; `None`: everything
    /// is fetched cold, as one CA perspective would.
    pub shared_cache: Option<crate::SharedInfraCache>,
}

impl Default for EngineConfig {
    /// IANA root hints and root KSKs, port 53, IPv4 and IPv6.
    fn default() -> Self {
        Self {
            // The compiled-in constants parse; a unit test guards them.
            root_hints: parse_root_hints(IANA_ROOT_HINTS).unwrap_or_default(),
            port: 53,
            trust_anchors: parse_trust_anchor(IANA_ROOT_ANCHORS).unwrap_or_default(),
            query_timeout: limits::DEFAULT_QUERY_TIMEOUT,
            retries: limits::DEFAULT_RETRIES,
            initial_rto: limits::INITIAL_RTO,
            lookup_budget: limits::CA_LOOKUP_BUDGET,
            max_queries: limits::DEFAULT_MAX_QUERIES,
            clock: Clock::System,
            use_ipv6: true,
            ask_every_root_server: false,
            server_policy: ServerPolicy::Any,
            shared_cache: None,
        }
    }
}

/// Why a hints or anchor text was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("zone-file syntax error: {0}")]
    Syntax(String),
    #[error("root hints contain no NS records for the root")]
    NoRootNs,
    #[error("root hints give no A/AAAA address for any root server (NS names: {0})")]
    NoRootAddresses(String),
    #[error("no DS or DNSKEY record found in the trust anchor text")]
    NoAnchors,
    #[error("unsupported trust anchor record {0}")]
    BadAnchor(String),
}

fn parse_zone_text(text: &str) -> Result<Vec<hickory_proto::rr::Record>, ConfigError> {
    // An explicit default TTL: hint and anchor files often omit TTLs.
    let input = format!("$TTL 3600\n{text}\n");
    let (_, sets) = Parser::new(input, None, Some(Name::root()))
        .parse()
        .map_err(|e| ConfigError::Syntax(e.to_string()))?;
    Ok(sets
        .into_values()
        .flat_map(|s| s.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .collect())
}

/// Parses root hints in zone-file syntax (like IANA's `named.root`): NS records
/// for `.` plus A/AAAA glue for the NS names. Servers keep the NS order.
pub fn parse_root_hints(text: &str) -> Result<Vec<RootHint>, ConfigError> {
    let records = parse_zone_text(text)?;
    let mut ns_names: Vec<Name> = Vec::new();
    for r in &records {
        if let RData::NS(ns) = &r.data
            && r.name.is_root()
            && !ns_names.contains(&ns.0)
        {
            ns_names.push(ns.0.clone());
        }
    }
    if ns_names.is_empty() {
        return Err(ConfigError::NoRootNs);
    }
    let mut hints = Vec::new();
    for ns in &ns_names {
        for family in [HRecordType::A, HRecordType::AAAA] {
            for r in records
                .iter()
                .filter(|r| &r.name == ns && r.record_type() == family)
            {
                if let Some(addr) = r.data.ip_addr() {
                    hints.push(RootHint {
                        name: DnsName::from_hickory(ns),
                        addr,
                    });
                }
            }
        }
    }
    if hints.is_empty() {
        let names: Vec<String> = ns_names.iter().map(ToString::to_string).collect();
        return Err(ConfigError::NoRootAddresses(names.join(", ")));
    }
    Ok(hints)
}

/// Joins parenthesised records onto one line and drops comments, so a text can
/// be split into logical records (RFC 1035 §5.1).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    let mut in_quote = false;
    let mut in_comment = false;
    for c in text.chars() {
        match c {
            '\n' => {
                in_comment = false;
                if depth == 0 {
                    lines.push(std::mem::take(&mut cur));
                } else {
                    cur.push(' ');
                }
            }
            _ if in_comment => {}
            '"' => {
                in_quote = !in_quote;
                cur.push(c);
            }
            ';' if !in_quote => in_comment = true,
            '(' if !in_quote => {
                depth += 1;
                cur.push(' ');
            }
            ')' if !in_quote => {
                depth = depth.saturating_sub(1);
                cur.push(' ');
            }
            _ => cur.push(c),
        }
    }
    lines.push(cur);
    lines.retain(|l| !l.trim().is_empty());
    lines
}

/// Parses trust anchors: DS and/or DNSKEY lines in zone-file syntax, at any
/// owner name (`. IN DS 20326 8 2 E06D...`, `lab. IN DNSKEY 257 3 13 ...`).
pub fn parse_trust_anchor(text: &str) -> Result<Vec<TrustAnchor>, ConfigError> {
    // hickory's zone parser refuses DNSKEY records; its trust-anchor parser
    // takes only DNSKEY. Split the text between them.
    let (key_lines, other_lines): (Vec<String>, Vec<String>) =
        logical_lines(text).into_iter().partition(|l| {
            l.split_whitespace()
                .any(|t| t.eq_ignore_ascii_case("DNSKEY"))
        });
    let mut anchors = Vec::new();
    if !key_lines.is_empty() {
        let entries =
            hickory_proto::serialize::txt::trust_anchor::Parser::new(key_lines.join("\n"))
                .parse()
                .map_err(|e| ConfigError::Syntax(e.to_string()))?;
        for entry in &entries {
            if let hickory_proto::serialize::txt::trust_anchor::Entry::DNSKEY(r) = entry {
                anchors.push(dnskey_anchor(DnsName::from_hickory(r.name()), r.data())?);
            }
        }
    }
    let records = if other_lines.is_empty() {
        Vec::new()
    } else {
        parse_zone_text(&other_lines.join("\n"))?
    };
    for r in &records {
        let owner = DnsName::from_hickory(&r.name);
        match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => anchors.push(TrustAnchor {
                owner,
                kind: AnchorKind::Ds {
                    key_tag: ds.key_tag(),
                    algorithm: u8::from(ds.algorithm()),
                    digest_type: u8::from(ds.digest_type()),
                    digest: ds.digest().to_vec(),
                },
            }),
            other => {
                return Err(ConfigError::BadAnchor(format!(
                    "{} {} (only DS and DNSKEY are anchors)",
                    r.name,
                    other.record_type()
                )));
            }
        }
    }
    if anchors.is_empty() {
        return Err(ConfigError::NoAnchors);
    }
    Ok(anchors)
}

fn dnskey_anchor(owner: DnsName, key: &DNSKEY) -> Result<TrustAnchor, ConfigError> {
    let key_tag = key
        .calculate_key_tag()
        .map_err(|e| ConfigError::BadAnchor(e.to_string()))?;
    Ok(TrustAnchor {
        owner,
        kind: AnchorKind::Dnskey {
            flags: key.flags(),
            algorithm: u8::from(key.public_key().algorithm()),
            key_tag,
            public_key: key.public_key().public_bytes().to_vec(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_defaults_parse() {
        let hints = parse_root_hints(IANA_ROOT_HINTS).unwrap();
        assert_eq!(hints.len(), 26);
        assert!(hints.iter().any(|h| h.addr.to_string() == "170.247.170.2"));
        let anchors = parse_trust_anchor(IANA_ROOT_ANCHORS).unwrap();
        let tags: Vec<u16> = anchors.iter().map(TrustAnchor::key_tag).collect();
        assert_eq!(tags, vec![20326, 38696]);
        let cfg = EngineConfig::default();
        assert_eq!(cfg.root_hints.len(), 26);
        assert_eq!(cfg.trust_anchors.len(), 2);
    }

    #[test]
    fn server_policy_refuses_only_special_purpose_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(EngineConfig::default().server_policy, ServerPolicy::Any);
        assert_eq!(ServerPolicy::Any.refusal(ip("10.0.0.1")), None);
        let r = ServerPolicy::PublicOnly.refusal(ip("10.0.0.1")).unwrap();
        assert_eq!((r.network.as_str(), r.rfc), ("10.0.0.0/8", "[RFC1918]"));
        assert!(ServerPolicy::PublicOnly.refusal(ip("127.0.0.1")).is_some());
        assert!(ServerPolicy::PublicOnly.refusal(ip("fd00::53")).is_some());
        assert!(ServerPolicy::PublicOnly.refusal(ip("::1")).is_some());
        for public in ["198.41.0.4", "2001:503:ba3e::2:30", "8.8.8.8"] {
            assert_eq!(
                ServerPolicy::PublicOnly.refusal(ip(public)),
                None,
                "{public}"
            );
        }
    }

    #[test]
    fn parser_errors_are_clear() {
        assert_eq!(
            parse_root_hints(". 3600 IN A 127.0.0.1"),
            Err(ConfigError::NoRootNs)
        );
        assert!(matches!(
            parse_root_hints(". NS a.root.lab."),
            Err(ConfigError::NoRootAddresses(_))
        ));
        assert!(matches!(
            parse_root_hints(". NS ( broken"),
            Err(ConfigError::Syntax(_))
        ));
        assert!(matches!(
            parse_trust_anchor(". IN A 127.0.0.1"),
            Err(ConfigError::BadAnchor(_))
        ));
        assert_eq!(parse_trust_anchor("; nothing"), Err(ConfigError::NoAnchors));
    }

    #[test]
    fn dnskey_anchor_parses() {
        let a = parse_trust_anchor(
            "lab. IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==",
        )
        .unwrap();
        assert_eq!(a[0].owner.as_str(), "lab.");
        assert!(matches!(
            a[0].kind,
            AnchorKind::Dnskey {
                flags: 257,
                algorithm: 13,
                ..
            }
        ));
    }
}
