//! The vantage point: what the machine running a check can test at all.
//!
//! A check run from an IPv4-only machine, from behind a firewall that drops
//! port 53, or through a middlebox that answers DNS itself, sees failures that
//! are facts about that machine, not about the domain. Before any result is
//! read, a preflight ([`crate::Engine::vantage_preflight`]) asks the root
//! servers in use (the configured root hints) one question over each address
//! family and transport: a random top-level domain that cannot exist, with
//! the DO bit. A root server answers NXDOMAIN, authoritatively, without
//! offering recursion, with an NSEC proof signed by the root's keys (RFC 4035
//! §3.1.3.2). A resolver or middlebox answering in its place gives itself
//! away: recursion available, no AA bit, a forged answer, another RCODE, or a
//! proof that is missing or does not verify.
//!
//! This module holds the typed results and the pure judgements; the engine
//! sends the probes.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use serde::Serialize;

use crate::{
    evidence::{Exchange, ExchangeResult, NetErrorKind, QueryPath, ResponseEvidence, millis},
    types::{DnsName, Rcode},
};

/// Root server addresses probed per address family. Two, so that one root
/// server having a bad day (or one lost packet) does not read as "this family
/// is unreachable", while a check adds at most 8 queries to the root
/// (2 families x 2 servers x UDP and TCP); a resolver sends the root far more.
pub const VANTAGE_SERVERS_PER_FAMILY: usize = 2;

/// Upper bound on the whole preflight, whatever the configured query timeout:
/// a machine whose DNS is filtered must hear "could not check from here"
/// within seconds (issue #15: within 10 s with no network at all), not after
/// the engine's retries to every root server.
pub const VANTAGE_MAX_WAIT: Duration = Duration::from_secs(4);

/// Records of a forged answer kept as evidence.
const MAX_FORGED_RECORDS_SHOWN: usize = 4;

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
}

impl AddressFamily {
    /// Both families, IPv4 first.
    pub const ALL: [AddressFamily; 2] = [AddressFamily::Ipv4, AddressFamily::Ipv6];

    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::Ipv4,
            IpAddr::V6(_) => Self::Ipv6,
        }
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Ipv4 => "IPv4",
            Self::Ipv6 => "IPv6",
        })
    }
}

/// Why a family was not probed: nothing about it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotTestedReason {
    /// The root hints list no server address of this family.
    NoRootServer,
    /// The engine is configured not to use this family
    /// ([`crate::EngineConfig::use_ipv6`] off).
    Disabled,
    /// The engine's server policy refuses the root hints' addresses
    /// ([`crate::ServerPolicy::PublicOnly`] with a private root): no packet
    /// was sent.
    Policy,
}

/// A sign that whatever answered on port 53 is not a root server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "sign", rename_all = "snake_case")]
pub enum InterceptionSign {
    /// The RA bit (RFC 1035 §4.1.1): recursion offered. Root servers are
    /// authoritative only; a recursive resolver answered instead.
    RecursionAvailable,
    /// The AA bit is clear: the root zone's servers answer for it
    /// authoritatively (RFC 1034 §4.3.1); a cache answered instead.
    NotAuthoritative,
    /// Records for a top-level domain that does not exist: a forged answer
    /// (captive portals, NXDOMAIN rewriting, DNS filtering).
    ForgedAnswer { records: Vec<String> },
    /// Another RCODE than the NXDOMAIN the root gives for a TLD it does not
    /// delegate.
    UnexpectedRcode { rcode: Rcode },
    /// The root is signed (a trust anchor covers it and its keys validated)
    /// but the NXDOMAIN carries no NSEC/NSEC3 proof (RFC 4035 §3.1.3.2).
    NoDenialProof,
    /// The denial's proof does not verify against the root's validated keys,
    /// or does not cover the name.
    InvalidProof { reason: String },
    /// Bytes that are not a DNS answer to the question asked.
    Unusable { detail: String },
}

impl fmt::Display for InterceptionSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RecursionAvailable => f.write_str("recursion available (RA set)"),
            Self::NotAuthoritative => f.write_str("not authoritative (AA clear)"),
            Self::ForgedAnswer { records } => {
                write!(
                    f,
                    "an answer for a TLD that does not exist: {}",
                    records.join(" | ")
                )
            }
            Self::UnexpectedRcode { rcode } => write!(f, "{rcode} instead of NXDOMAIN"),
            Self::NoDenialProof => f.write_str("NXDOMAIN without the root's signed NSEC proof"),
            Self::InvalidProof { reason } => {
                write!(f, "a denial proof that does not verify: {reason}")
            }
            Self::Unusable { detail } => write!(f, "an unusable answer: {detail}"),
        }
    }
}

/// Whether a root answer's denial proof was checked against the root's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProofCheck {
    /// The NSEC/NSEC3 proof verified with the root's validated keys.
    Verified,
    /// Not checked, and why (no trust anchor for the root, the root's keys
    /// did not validate in time, a signature outside its validity window:
    /// is this machine's clock right?).
    NotChecked { why: String },
}

/// What one probe showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbeVerdict {
    /// A root server's answer.
    Root { proof: ProofCheck },
    /// Something other than a root server answered.
    Intercepted { signs: Vec<InterceptionSign> },
    /// No answer within the preflight's bound.
    NoAnswer,
    /// The OS reported an error: [`NetErrorKind::is_local`] ones never left
    /// this machine.
    NetworkError { cause: NetErrorKind },
    /// The server policy refused the address; nothing was sent.
    NotQueried,
}

/// One root server address asked over one path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VantageProbe {
    pub server_name: DnsName,
    pub server: SocketAddr,
    pub family: AddressFamily,
    pub path: QueryPath,
    /// The last attempt, as sent and received (`None`: no attempt finished
    /// before the preflight's deadline).
    pub exchange: Option<Exchange>,
    /// How long the probe ran.
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
    pub verdict: ProbeVerdict,
}

/// What one transport of one family can do from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reach {
    /// A root server answered as one.
    Works,
    /// Answers came, from something that is not a root server.
    Intercepted,
    /// Nothing left this machine: no route or no address for the family
    /// ([`NetErrorKind::Unreachable`]).
    NoRoute,
    /// An error came back instead of an answer: a local firewall
    /// ([`NetErrorKind::LocalFailure`]), or a reject/reset on the path.
    Blocked { cause: NetErrorKind },
    /// Nothing came back within the bound: packets dropped on the way.
    NoAnswer,
    /// Not probed.
    NotTested { why: NotTestedReason },
}

impl Reach {
    /// Whether the root was reached and answered as the root.
    pub fn works(self) -> bool {
        self == Self::Works
    }

    /// Whether this was probed at all.
    pub fn tested(self) -> bool {
        !matches!(self, Self::NotTested { .. })
    }

    /// Whether it was probed and the root could not be asked: packets do not
    /// get there or answers do not come back (interception is not counted:
    /// it is worse, and said on its own).
    pub fn fails(self) -> bool {
        matches!(self, Self::NoRoute | Self::Blocked { .. } | Self::NoAnswer)
    }

    /// One reach from the probes of one family and transport: any genuine
    /// answer makes it work; else any intercepted one makes it intercepted;
    /// else the failures decide (all local "no route" is `NoRoute`; an error
    /// that came back beats silence).
    pub fn from_probes<'a>(probes: impl IntoIterator<Item = &'a VantageProbe>) -> Self {
        let verdicts: Vec<&ProbeVerdict> = probes.into_iter().map(|p| &p.verdict).collect();
        if verdicts.is_empty() || verdicts.iter().all(|v| **v == ProbeVerdict::NotQueried) {
            return Self::NotTested {
                why: if verdicts.is_empty() {
                    NotTestedReason::NoRootServer
                } else {
                    NotTestedReason::Policy
                },
            };
        }
        if verdicts
            .iter()
            .any(|v| matches!(v, ProbeVerdict::Root { .. }))
        {
            return Self::Works;
        }
        if verdicts
            .iter()
            .any(|v| matches!(v, ProbeVerdict::Intercepted { .. }))
        {
            return Self::Intercepted;
        }
        let causes: Vec<NetErrorKind> = verdicts
            .iter()
            .filter_map(|v| match v {
                ProbeVerdict::NetworkError { cause } => Some(*cause),
                _ => None,
            })
            .collect();
        let answered = verdicts
            .iter()
            .filter(|v| !matches!(v, ProbeVerdict::NotQueried))
            .count();
        if causes.len() == answered && causes.iter().all(|c| *c == NetErrorKind::Unreachable) {
            return Self::NoRoute;
        }
        // An error that came back names the cause better than silence.
        for wanted in [
            NetErrorKind::LocalFailure,
            NetErrorKind::Refused,
            NetErrorKind::Reset,
            NetErrorKind::Other,
        ] {
            if causes.contains(&wanted) {
                return Self::Blocked { cause: wanted };
            }
        }
        Self::NoAnswer
    }
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Works => f.write_str("the root answers"),
            Self::Intercepted => f.write_str("something else answers for the root"),
            Self::NoRoute => f.write_str("no route"),
            Self::Blocked {
                cause: NetErrorKind::LocalFailure,
            } => f.write_str("blocked by this machine's firewall"),
            Self::Blocked { cause } => write!(f, "blocked ({cause})"),
            Self::NoAnswer => f.write_str("no answer"),
            Self::NotTested { why } => match why {
                NotTestedReason::NoRootServer => f.write_str("not tested: no root server address"),
                NotTestedReason::Disabled => f.write_str("not tested: disabled"),
                NotTestedReason::Policy => {
                    f.write_str("not tested: the server policy refuses the root's addresses")
                }
            },
        }
    }
}

/// One family's reach over UDP (what resolvers ask first) and TCP (RFC 7766:
/// truncated answers, and some CA resolvers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FamilyReach {
    pub family: AddressFamily,
    pub udp: Reach,
    pub tcp: Reach,
}

impl FamilyReach {
    /// Whether DNS works over this family (over UDP, which every resolver
    /// asks first; TCP alone cannot carry a walk).
    pub fn usable(&self) -> bool {
        self.udp.works()
    }

    /// Whether this family was probed and the root could not be asked over
    /// it at all, on either transport.
    pub fn unreachable(&self) -> bool {
        self.udp.fails() && (self.tcp.fails() || !self.tcp.tested())
    }
}

/// Why nothing can be checked from this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocker {
    /// No root server address can even be sent to: no network, or no route.
    NoNetwork,
    /// Queries to the root are dropped, rejected or refused by a firewall.
    DnsBlocked,
    /// Something other than the root answers on port 53 (a transparent DNS
    /// proxy or resolver): no answer can be taken as the servers' own.
    Intercepted,
}

/// What this machine cannot test, while the check can still run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Limit {
    /// No DNS over this family from here: its servers (and web addresses)
    /// cannot be checked.
    FamilyUnreachable { family: AddressFamily, udp: Reach },
    /// DNS over TCP does not reach the root over this family, while UDP does:
    /// TCP paths cannot be checked.
    TcpUnreachable { family: AddressFamily, tcp: Reach },
}

/// The preflight's answer: can the check run, and what can it not see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conclusion {
    /// Nothing this machine sees can be trusted as the domain's.
    CannotCheck { why: Blocker },
    /// The check runs; these are the parts it cannot see (empty: none).
    Limited { limits: Vec<Limit> },
    /// The root in use could not be probed at all (policy, no hints of any
    /// family): nothing is known about the vantage point.
    Unknown,
}

/// Everything the preflight found, as evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VantageReport {
    /// The never-existing TLD asked (random per check).
    pub qname: DnsName,
    /// Per family, IPv4 first.
    pub families: Vec<FamilyReach>,
    /// Every probe, IPv4 first, then server order, UDP before TCP.
    pub probes: Vec<VantageProbe>,
    /// How long the preflight took.
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

impl VantageReport {
    /// One family's reach, if the family is in the report.
    pub fn family(&self, family: AddressFamily) -> Option<&FamilyReach> {
        self.families.iter().find(|f| f.family == family)
    }

    /// Whether `family` was probed and cannot carry DNS from here: every
    /// answer from a server of that family, and every failure to reach one,
    /// says nothing about the domain.
    pub fn family_unreachable(&self, family: AddressFamily) -> bool {
        self.family(family)
            .is_some_and(|f| f.udp.tested() && !f.udp.works() && f.udp != Reach::Intercepted)
    }

    /// Whether TCP to `family` was probed and does not work from here while
    /// UDP does (a TCP failure on that family is not the domain's).
    pub fn tcp_unreachable(&self, family: AddressFamily) -> bool {
        self.family(family)
            .is_some_and(|f| f.tcp.tested() && f.tcp.fails())
    }

    /// Whether a failure to reach `server` is explained by this machine: its
    /// family cannot carry DNS from here, or (`tcp`) TCP cannot.
    pub fn excuses(&self, server: IpAddr, tcp: bool) -> bool {
        let family = AddressFamily::of(server);
        self.family_unreachable(family) || (tcp && self.tcp_unreachable(family))
    }

    /// What the check can and cannot do from here.
    pub fn conclusion(&self) -> Conclusion {
        let tested: Vec<&FamilyReach> = self.families.iter().filter(|f| f.udp.tested()).collect();
        if tested.is_empty() {
            return Conclusion::Unknown;
        }
        let intercepted = self
            .families
            .iter()
            .any(|f| f.udp == Reach::Intercepted || f.tcp == Reach::Intercepted);
        if intercepted {
            return Conclusion::CannotCheck {
                why: Blocker::Intercepted,
            };
        }
        if !tested.iter().any(|f| f.usable()) {
            let why = if tested.iter().all(|f| f.udp == Reach::NoRoute) {
                Blocker::NoNetwork
            } else {
                Blocker::DnsBlocked
            };
            return Conclusion::CannotCheck { why };
        }
        let mut limits = Vec::new();
        for f in &tested {
            if !f.usable() {
                limits.push(Limit::FamilyUnreachable {
                    family: f.family,
                    udp: f.udp,
                });
            } else if f.tcp.fails() {
                limits.push(Limit::TcpUnreachable {
                    family: f.family,
                    tcp: f.tcp,
                });
            }
        }
        Conclusion::Limited { limits }
    }
}

/// Judges one response to "`qname`. NS?" with DO set, from its header and
/// sections alone (the proof's signatures are checked by the engine): the
/// signs that something other than a root server answered. `root_signed`:
/// the root's keys validated from a trust anchor, so a denial must carry a
/// proof.
pub fn interception_signs(response: &ResponseEvidence, root_signed: bool) -> Vec<InterceptionSign> {
    let mut signs = Vec::new();
    if response.flags.ra {
        signs.push(InterceptionSign::RecursionAvailable);
    }
    if !response.flags.aa {
        signs.push(InterceptionSign::NotAuthoritative);
    }
    if !response.answer.is_empty() {
        signs.push(InterceptionSign::ForgedAnswer {
            records: response
                .answer
                .iter()
                .take(MAX_FORGED_RECORDS_SHOWN)
                .map(|r| format!("{} {} {}", r.name, r.rtype, r.rdata))
                .collect(),
        });
    }
    if response.rcode != Rcode::NXDOMAIN {
        signs.push(InterceptionSign::UnexpectedRcode {
            rcode: response.rcode,
        });
    } else if root_signed
        && !response
            .authority
            .iter()
            .any(|r| matches!(r.rtype.0, 47 | 50))
    {
        signs.push(InterceptionSign::NoDenialProof);
    }
    signs
}

/// The verdict for an exchange that brought no decodable response.
pub(crate) fn failed_verdict(exchange: Option<&Exchange>) -> ProbeVerdict {
    match exchange.map(|e| &e.result) {
        // A response is judged by the caller from its content.
        None | Some(ExchangeResult::Timeout | ExchangeResult::Response(_)) => {
            ProbeVerdict::NoAnswer
        }
        Some(ExchangeResult::NetworkError { cause, .. }) => {
            ProbeVerdict::NetworkError { cause: *cause }
        }
        Some(ExchangeResult::NotQueried { .. }) => ProbeVerdict::NotQueried,
        Some(ExchangeResult::Unparseable { error, .. }) => ProbeVerdict::Intercepted {
            signs: vec![InterceptionSign::Unusable {
                detail: error.clone(),
            }],
        },
        Some(ExchangeResult::Mismatched { detail }) => ProbeVerdict::Intercepted {
            signs: vec![InterceptionSign::Unusable {
                detail: detail.clone(),
            }],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{HeaderFlags, Protocol, RecordEvidence};
    use crate::types::RecordType;

    #[allow(clippy::fn_params_excessive_bools)] // one per header bit or section, as on the wire
    fn response(rcode: Rcode, aa: bool, ra: bool, nsec: bool, answer: bool) -> ResponseEvidence {
        let rec = |rtype: RecordType, rdata: &str| RecordEvidence {
            name: DnsName::parse("dcv-vantage-x").unwrap(),
            rtype,
            ttl: 60,
            rdata: rdata.to_owned(),
            wire_rdata: Vec::new(),
        };
        ResponseEvidence {
            rcode,
            flags: HeaderFlags {
                aa,
                ra,
                ..HeaderFlags::default()
            },
            edns_payload: Some(1232),
            dnssec_ok: true,
            extended_errors: Vec::new(),
            answer: if answer {
                vec![rec(RecordType::A, "192.0.2.1")]
            } else {
                Vec::new()
            },
            authority: if nsec {
                vec![rec(RecordType::NSEC, "aaa. NS SOA RRSIG NSEC DNSKEY")]
            } else {
                Vec::new()
            },
            additional: Vec::new(),
            size: 100,
        }
    }

    #[test]
    fn a_root_denial_shows_no_sign_and_every_middlebox_does() {
        let root = response(Rcode::NXDOMAIN, true, false, true, false);
        assert!(interception_signs(&root, true).is_empty());
        // An unsigned root (a lab without DNSSEC): no proof expected.
        let unsigned = response(Rcode::NXDOMAIN, true, false, false, false);
        assert!(interception_signs(&unsigned, false).is_empty());
        assert_eq!(
            interception_signs(&unsigned, true),
            [InterceptionSign::NoDenialProof]
        );
        // A recursive resolver: the right answer, from a cache.
        let resolver = response(Rcode::NXDOMAIN, false, true, true, false);
        assert_eq!(
            interception_signs(&resolver, true),
            [
                InterceptionSign::RecursionAvailable,
                InterceptionSign::NotAuthoritative
            ]
        );
        // A captive portal: NOERROR with an address for anything.
        let forged = interception_signs(&response(Rcode::NOERROR, true, false, false, true), true);
        assert!(
            matches!(&forged[..], [
                InterceptionSign::ForgedAnswer { records },
                InterceptionSign::UnexpectedRcode { rcode: Rcode::NOERROR }
            ] if records[0].ends_with("A 192.0.2.1")),
            "{forged:?}"
        );
        let refused =
            interception_signs(&response(Rcode::REFUSED, false, false, false, false), true);
        assert!(refused.contains(&InterceptionSign::UnexpectedRcode {
            rcode: Rcode::REFUSED
        }));
    }

    fn probe(family: AddressFamily, verdict: ProbeVerdict) -> VantageProbe {
        let ip: IpAddr = match family {
            AddressFamily::Ipv4 => "192.0.2.53".parse().unwrap(),
            AddressFamily::Ipv6 => "2001:db8::53".parse().unwrap(),
        };
        VantageProbe {
            server_name: DnsName::parse("a.root-servers.net").unwrap(),
            server: SocketAddr::new(ip, 53),
            family,
            path: QueryPath::UDP_EDNS,
            exchange: None,
            elapsed: Duration::ZERO,
            verdict,
        }
    }

    fn report(v4: (Reach, Reach), v6: (Reach, Reach)) -> VantageReport {
        VantageReport {
            qname: DnsName::parse("dcv-vantage-x").unwrap(),
            families: vec![
                FamilyReach {
                    family: AddressFamily::Ipv4,
                    udp: v4.0,
                    tcp: v4.1,
                },
                FamilyReach {
                    family: AddressFamily::Ipv6,
                    udp: v6.0,
                    tcp: v6.1,
                },
            ],
            probes: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn reach_is_folded_from_the_probes_of_a_family() {
        use AddressFamily::Ipv4;
        let root = || {
            probe(
                Ipv4,
                ProbeVerdict::Root {
                    proof: ProofCheck::Verified,
                },
            )
        };
        let err = |cause| probe(Ipv4, ProbeVerdict::NetworkError { cause });
        let silent = || probe(Ipv4, ProbeVerdict::NoAnswer);
        assert_eq!(Reach::from_probes(&[silent(), root()]), Reach::Works);
        assert_eq!(
            Reach::from_probes(&[
                err(NetErrorKind::Unreachable),
                err(NetErrorKind::Unreachable)
            ]),
            Reach::NoRoute
        );
        assert_eq!(
            Reach::from_probes(&[silent(), err(NetErrorKind::Refused)]),
            Reach::Blocked {
                cause: NetErrorKind::Refused
            }
        );
        assert_eq!(Reach::from_probes(&[silent(), silent()]), Reach::NoAnswer);
        assert_eq!(
            Reach::from_probes(&[
                silent(),
                probe(Ipv4, ProbeVerdict::Intercepted { signs: Vec::new() })
            ]),
            Reach::Intercepted
        );
        assert_eq!(
            Reach::from_probes(&[probe(Ipv4, ProbeVerdict::NotQueried)]),
            Reach::NotTested {
                why: NotTestedReason::Policy
            }
        );
        assert_eq!(
            Reach::from_probes(&[]),
            Reach::NotTested {
                why: NotTestedReason::NoRootServer
            }
        );
    }

    #[test]
    fn conclusions_say_what_cannot_be_checked() {
        use Reach::{NoAnswer, NoRoute, Works};
        let untested = Reach::NotTested {
            why: NotTestedReason::NoRootServer,
        };
        assert_eq!(
            report((Works, Works), (Works, Works)).conclusion(),
            Conclusion::Limited { limits: vec![] }
        );
        let v4_only = report((Works, Works), (NoRoute, NoRoute));
        assert_eq!(
            v4_only.conclusion(),
            Conclusion::Limited {
                limits: vec![Limit::FamilyUnreachable {
                    family: AddressFamily::Ipv6,
                    udp: NoRoute
                }]
            }
        );
        assert!(v4_only.excuses("2001:db8::1".parse().unwrap(), false));
        assert!(!v4_only.excuses("192.0.2.1".parse().unwrap(), true));
        assert_eq!(
            report((Works, NoAnswer), (untested, untested)).conclusion(),
            Conclusion::Limited {
                limits: vec![Limit::TcpUnreachable {
                    family: AddressFamily::Ipv4,
                    tcp: NoAnswer
                }]
            }
        );
        assert_eq!(
            report((NoRoute, NoRoute), (NoRoute, NoRoute)).conclusion(),
            Conclusion::CannotCheck {
                why: Blocker::NoNetwork
            }
        );
        assert_eq!(
            report((NoAnswer, NoAnswer), (NoRoute, NoRoute)).conclusion(),
            Conclusion::CannotCheck {
                why: Blocker::DnsBlocked
            }
        );
        assert_eq!(
            report((Reach::Intercepted, Works), (Works, Works)).conclusion(),
            Conclusion::CannotCheck {
                why: Blocker::Intercepted
            }
        );
        assert_eq!(
            report((untested, untested), (untested, untested)).conclusion(),
            Conclusion::Unknown
        );
    }

    #[test]
    fn failed_exchanges_keep_their_cause() {
        let mut e = Exchange {
            server: "192.0.2.53:53".parse().unwrap(),
            protocol: Protocol::Udp,
            qname: DnsName::parse("x").unwrap(),
            qtype: RecordType::NS,
            attempt: 1,
            latency: Duration::ZERO,
            result: ExchangeResult::NetworkError {
                cause: NetErrorKind::Unreachable,
                error: "Network is unreachable (os error 101)".into(),
            },
        };
        assert_eq!(
            failed_verdict(Some(&e)),
            ProbeVerdict::NetworkError {
                cause: NetErrorKind::Unreachable
            }
        );
        e.result = ExchangeResult::Timeout;
        assert_eq!(failed_verdict(Some(&e)), ProbeVerdict::NoAnswer);
        assert_eq!(failed_verdict(None), ProbeVerdict::NoAnswer);
    }
}
