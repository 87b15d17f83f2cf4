//! Reserved-address policy: the IANA IPv4 and IPv6 Special-Purpose Address
//! Registries plus the multicast blocks, in the order Boulder's `iana` package
//! checks them (`iana.IsReservedAddr`), so the first match names the same
//! block and RFC that Let's Encrypt would print.
//!
//! Boulder drops such addresses from DNS answers (`getAddrs`) and refuses them
//! as redirect targets (`Invalid host in redirect target: ...`).
//!
//! A crate of its own so that both probe crates share one table without
//! depending on each other: `dcv-http` refuses these addresses as HTTP-01
//! targets, `dcv-dns` (under `ServerPolicy::PublicOnly`) as name servers.
//! Plain data and `serde` only; no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// What kind of special-purpose block an address falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeKind {
    /// `0.0.0.0/8`, `::/128`.
    Unspecified,
    /// `127.0.0.0/8`, `::1/128`.
    Loopback,
    /// RFC 1918.
    PrivateUse,
    /// RFC 6598 carrier-grade NAT space.
    SharedAddressSpace,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// RFC 4193 `fc00::/7`.
    UniqueLocal,
    /// TEST-NET-1/2/3, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// RFC 2544 / RFC 5180.
    Benchmarking,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// 6to4, Teredo, NAT64 and other translation or tunnelling prefixes.
    TransitionMechanism,
    /// Anycast services, AS112, AMT and other protocol assignments.
    ProtocolAssignment,
    /// `240.0.0.0/4`, limited broadcast, discard-only and dummy prefixes.
    Reserved,
}

/// One special-purpose block, as Boulder reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReservedRange {
    /// The block in CIDR notation, e.g. `10.0.0.0/8`.
    pub network: String,
    /// The registry's name for the block, e.g. `Private-Use`.
    pub name: &'static str,
    /// The registry's reference as Boulder prints it, e.g. `[RFC1918]`.
    pub rfc: &'static str,
    /// Our coarse category, for findings.
    pub kind: RangeKind,
}

impl ReservedRange {
    /// Boulder's text: `IP address is in a reserved address block: [RFC1918]: Private-Use`.
    pub fn boulder_message(&self) -> String {
        format!(
            "IP address is in a reserved address block: {}: {}",
            self.rfc, self.name
        )
    }
}

impl fmt::Display for ReservedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.network, self.name, self.rfc)
    }
}

struct V4Entry {
    base: Ipv4Addr,
    len: u8,
    name: &'static str,
    rfc: &'static str,
    kind: RangeKind,
}

struct V6Entry {
    base: Ipv6Addr,
    len: u8,
    name: &'static str,
    rfc: &'static str,
    kind: RangeKind,
}

const fn v4(
    base: [u8; 4],
    len: u8,
    name: &'static str,
    rfc: &'static str,
    kind: RangeKind,
) -> V4Entry {
    V4Entry {
        base: Ipv4Addr::new(base[0], base[1], base[2], base[3]),
        len,
        name,
        rfc,
        kind,
    }
}

const fn v6(
    base: [u16; 8],
    len: u8,
    name: &'static str,
    rfc: &'static str,
    kind: RangeKind,
) -> V6Entry {
    V6Entry {
        base: Ipv6Addr::new(
            base[0], base[1], base[2], base[3], base[4], base[5], base[6], base[7],
        ),
        len,
        name,
        rfc,
        kind,
    }
}

use RangeKind as K;

/// IANA IPv4 Special-Purpose Address Registry, then multicast (RFC 3171), in
/// Boulder's order.
#[rustfmt::skip]
const V4_TABLE: &[V4Entry] = &[
    v4([0, 0, 0, 0], 8, "\"This network\"", "[RFC791], Section 3.2", K::Unspecified),
    v4([0, 0, 0, 0], 32, "\"This host on this network\"", "[RFC1122], Section 3.2.1.3", K::Unspecified),
    v4([10, 0, 0, 0], 8, "Private-Use", "[RFC1918]", K::PrivateUse),
    v4([100, 64, 0, 0], 10, "Shared Address Space", "[RFC6598]", K::SharedAddressSpace),
    v4([127, 0, 0, 0], 8, "Loopback", "[RFC1122], Section 3.2.1.3", K::Loopback),
    v4([169, 254, 0, 0], 16, "Link Local", "[RFC3927]", K::LinkLocal),
    v4([172, 16, 0, 0], 12, "Private-Use", "[RFC1918]", K::PrivateUse),
    v4([192, 0, 0, 0], 24, "IETF Protocol Assignments", "[RFC6890], Section 2.1", K::ProtocolAssignment),
    v4([192, 0, 0, 0], 29, "IPv4 Service Continuity Prefix", "[RFC7335]", K::TransitionMechanism),
    v4([192, 0, 0, 8], 32, "IPv4 dummy address", "[RFC7600]", K::Reserved),
    v4([192, 0, 0, 9], 32, "Port Control Protocol Anycast", "[RFC7723]", K::ProtocolAssignment),
    v4([192, 0, 0, 10], 32, "Traversal Using Relays around NAT Anycast", "[RFC8155]", K::ProtocolAssignment),
    v4([192, 0, 0, 170], 32, "NAT64/DNS64 Discovery", "[RFC8880][RFC7050], Section 2.2", K::TransitionMechanism),
    v4([192, 0, 0, 171], 32, "NAT64/DNS64 Discovery", "[RFC8880][RFC7050], Section 2.2", K::TransitionMechanism),
    v4([192, 0, 2, 0], 24, "Documentation (TEST-NET-1)", "[RFC5737]", K::Documentation),
    v4([192, 31, 196, 0], 24, "AS112-v4", "[RFC7535]", K::ProtocolAssignment),
    v4([192, 52, 193, 0], 24, "AMT", "[RFC7450]", K::ProtocolAssignment),
    v4([192, 88, 99, 0], 24, "Deprecated (6to4 Relay Anycast)", "[RFC7526]", K::TransitionMechanism),
    v4([192, 168, 0, 0], 16, "Private-Use", "[RFC1918]", K::PrivateUse),
    v4([192, 175, 48, 0], 24, "Direct Delegation AS112 Service", "[RFC7534]", K::ProtocolAssignment),
    v4([198, 18, 0, 0], 15, "Benchmarking", "[RFC2544]", K::Benchmarking),
    v4([198, 51, 100, 0], 24, "Documentation (TEST-NET-2)", "[RFC5737]", K::Documentation),
    v4([203, 0, 113, 0], 24, "Documentation (TEST-NET-3)", "[RFC5737]", K::Documentation),
    v4([240, 0, 0, 0], 4, "Reserved", "[RFC1112], Section 4", K::Reserved),
    v4([255, 255, 255, 255], 32, "Limited Broadcast", "[RFC8190] [RFC919], Section 7", K::Reserved),
    v4([224, 0, 0, 0], 4, "Multicast Addresses", "[RFC3171]", K::Multicast),
];

/// IANA IPv6 Special-Purpose Address Registry, then multicast (RFC 4291), in
/// Boulder's order.
#[rustfmt::skip]
const V6_TABLE: &[V6Entry] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "Loopback Address", "[RFC4291]", K::Loopback),
    v6([0; 8], 128, "Unspecified Address", "[RFC4291]", K::Unspecified),
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped Address", "[RFC4291]", K::TransitionMechanism),
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "IPv4-IPv6 Translat.", "[RFC6052]", K::TransitionMechanism),
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "IPv4-IPv6 Translat.", "[RFC8215]", K::TransitionMechanism),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "Discard-Only Address Block", "[RFC6666]", K::Reserved),
    v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "Dummy IPv6 Prefix", "[RFC9780]", K::Reserved),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "IETF Protocol Assignments", "[RFC2928]", K::ProtocolAssignment),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "TEREDO", "[RFC4380] [RFC8190]", K::TransitionMechanism),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128, "Port Control Protocol Anycast", "[RFC7723]", K::ProtocolAssignment),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128, "Traversal Using Relays around NAT Anycast", "[RFC8155]", K::ProtocolAssignment),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128, "DNS-SD Service Registration Protocol Anycast", "[RFC-ietf-dnssd-srp-25]", K::ProtocolAssignment),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "Benchmarking", "[RFC5180][RFC Errata 1752]", K::Benchmarking),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT", "[RFC7450]", K::ProtocolAssignment),
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6", "[RFC7535]", K::ProtocolAssignment),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "Deprecated (previously ORCHID)", "[RFC4843]", K::ProtocolAssignment),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2", "[RFC7343]", K::ProtocolAssignment),
    v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28, "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "[RFC9374]", K::ProtocolAssignment),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "Documentation", "[RFC3849]", K::Documentation),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4", "[RFC3056]", K::TransitionMechanism),
    v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48, "Direct Delegation AS112 Service", "[RFC7534]", K::ProtocolAssignment),
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "Documentation", "[RFC9637]", K::Documentation),
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "Segment Routing (SRv6) SIDs", "[RFC9602]", K::Reserved),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "Unique-Local", "[RFC4193] [RFC8190]", K::UniqueLocal),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "Link-Local Unicast", "[RFC4291]", K::LinkLocal),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "Multicast Addresses", "[RFC4291]", K::Multicast),
];

fn v4_contains(base: Ipv4Addr, len: u8, ip: Ipv4Addr) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    (base.to_bits() & mask) == (ip.to_bits() & mask)
}

fn v6_contains(base: Ipv6Addr, len: u8, ip: Ipv6Addr) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    (base.to_bits() & mask) == (ip.to_bits() & mask)
}

/// The first special-purpose block (in Boulder's order) containing `ip`, or
/// `None` for an ordinary, globally routable address.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) match `::ffff:0:0/96` like in
/// Boulder; they are not unwrapped.
pub fn classify(ip: IpAddr) -> Option<ReservedRange> {
    match ip {
        IpAddr::V4(ip4) => V4_TABLE
            .iter()
            .find(|e| v4_contains(e.base, e.len, ip4))
            .map(|e| ReservedRange {
                network: format!("{}/{}", e.base, e.len),
                name: e.name,
                rfc: e.rfc,
                kind: e.kind,
            }),
        IpAddr::V6(ip6) => V6_TABLE
            .iter()
            .find(|e| v6_contains(e.base, e.len, ip6))
            .map(|e| ReservedRange {
                network: format!("{}/{}", e.base, e.len),
                name: e.name,
                rfc: e.rfc,
                kind: e.kind,
            }),
    }
}

/// Whether Boulder would refuse to connect to `ip` (`iana.IsReservedAddr`).
pub fn is_reserved(ip: IpAddr) -> bool {
    classify(ip).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<ReservedRange> {
        classify(s.parse().expect("test address"))
    }

    type Expect = Option<(&'static str, &'static str, RangeKind)>;

    #[test]
    fn table_matches_registries() {
        #[rustfmt::skip]
        let cases: &[(&str, Expect)] = &[
            ("10.10.10.10", Some(("10.0.0.0/8", "[RFC1918]", K::PrivateUse))),
            ("172.31.255.255", Some(("172.16.0.0/12", "[RFC1918]", K::PrivateUse))),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(("192.168.0.0/16", "[RFC1918]", K::PrivateUse))),
            ("100.64.0.1", Some(("100.64.0.0/10", "[RFC6598]", K::SharedAddressSpace))),
            ("100.128.0.1", None),
            ("127.0.0.1", Some(("127.0.0.0/8", "[RFC1122], Section 3.2.1.3", K::Loopback))),
            ("169.254.169.254", Some(("169.254.0.0/16", "[RFC3927]", K::LinkLocal))),
            ("0.0.0.0", Some(("0.0.0.0/8", "[RFC791], Section 3.2", K::Unspecified))),
            ("192.0.2.129", Some(("192.0.2.0/24", "[RFC5737]", K::Documentation))),
            ("198.19.0.1", Some(("198.18.0.0/15", "[RFC2544]", K::Benchmarking))),
            ("192.88.99.1", Some(("192.88.99.0/24", "[RFC7526]", K::TransitionMechanism))),
            ("224.0.0.1", Some(("224.0.0.0/4", "[RFC3171]", K::Multicast))),
            ("255.255.255.255", Some(("240.0.0.0/4", "[RFC1112], Section 4", K::Reserved))),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("::1", Some(("::1/128", "[RFC4291]", K::Loopback))),
            ("::", Some(("::/128", "[RFC4291]", K::Unspecified))),
            ("::ffff:192.168.1.1", Some(("::ffff:0.0.0.0/96", "[RFC4291]", K::TransitionMechanism))),
            ("2001:db8::1", Some(("2001:db8::/32", "[RFC3849]", K::Documentation))),
            ("2001:0:4136:e378::1", Some(("2001::/23", "[RFC2928]", K::ProtocolAssignment))),
            ("2002:c000:0204::1", Some(("2002::/16", "[RFC3056]", K::TransitionMechanism))),
            ("3fff::1", Some(("3fff::/20", "[RFC9637]", K::Documentation))),
            ("fd5c:dc5::1", Some(("fc00::/7", "[RFC4193] [RFC8190]", K::UniqueLocal))),
            ("fe80::1", Some(("fe80::/10", "[RFC4291]", K::LinkLocal))),
            ("ff02::1", Some(("ff00::/8", "[RFC4291]", K::Multicast))),
            ("2606:4700::6810:84e5", None),
            ("2a00:1450:4001::200e", None),
        ];
        for (ip, want) in cases {
            let got = c(ip);
            match (got, want) {
                (None, None) => {}
                (Some(g), Some((net, rfc, kind))) => {
                    assert_eq!(
                        (g.network.as_str(), g.rfc, g.kind),
                        (*net, *rfc, *kind),
                        "{ip}"
                    );
                }
                (g, w) => panic!("{ip}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn boulder_text() {
        let r = c("10.10.10.10").expect("reserved");
        assert_eq!(
            r.boulder_message(),
            "IP address is in a reserved address block: [RFC1918]: Private-Use"
        );
    }
}
