//! The world's address plan. Everything lives in 127.15.0.0/16 and
//! `fd5c:dc5:0:15::/64`:
//!
//! - 127.15.x.y is outside the in-process lab's range (`dcv-lab` allocates
//!   127.A.B.x with A in 16..=254), so the two can never collide;
//! - `fd5c:dc5:0:15::/64` sits in the `fd5c:dc5::/48` that `scripts/lab-net-setup`
//!   makes local on `lo`, below the lab's blocks (`fd5c:dc5:0:AB::/64` with
//!   AB >= 0x1000). (`fd5c:dc5:ffff::/64` would be *outside* that /48: the
//!   third group belongs to the /48, and `fd5c::/16` is unreachable there.)
//!
//! Nothing here is ever sent to the system resolver: every tool gets explicit
//! servers, Pebble gets `-dnsserver`, Unbound only knows the private root.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One authoritative server of the world (a `knotd` instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameServer {
    /// Short id, used for directories and pidfiles.
    pub id: &'static str,
    /// Its host name (in-bailiwick of `.` or `lab.`, glue in the parent).
    pub name: &'static str,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
}

const fn v6(a: u16, b: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd5c, 0x0dc5, 0, 0x15, 0, 0, a, b)
}

/// The root server (serves `.`).
pub const ROOT: NameServer = NameServer {
    id: "root",
    name: "ns.root.",
    v4: Ipv4Addr::new(127, 15, 0, 1),
    v6: v6(0, 1),
};
/// The TLD server (serves `lab.`).
pub const TLD: NameServer = NameServer {
    id: "tld",
    name: "ns1.nic.lab.",
    v4: Ipv4Addr::new(127, 15, 0, 2),
    v6: v6(0, 2),
};
/// DNS provider A: most zones, the broken variants, dynamic updates.
pub const PROVIDER_A: NameServer = NameServer {
    id: "prova",
    name: "ns1.prova.lab.",
    v4: Ipv4Addr::new(127, 15, 1, 1),
    v6: v6(1, 1),
};
/// DNS provider B: where `moved.good.lab` is delegated.
pub const PROVIDER_B: NameServer = NameServer {
    id: "provb",
    name: "ns1.provb.lab.",
    v4: Ipv4Addr::new(127, 15, 2, 1),
    v6: v6(2, 1),
};
/// The four Knot instances.
pub const NAME_SERVERS: [NameServer; 4] = [ROOT, TLD, PROVIDER_A, PROVIDER_B];

/// The name server that never answers (a UDP/TCP sink, IPv4 only).
pub const SINK_NAME: &str = "ns1.sink.lab.";
/// Its address.
pub const SINK: Ipv4Addr = Ipv4Addr::new(127, 15, 9, 9);

/// The validating Unbound (Let's Encrypt's resolver role; Pebble's `-dnsserver`).
pub const RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 15, 0, 53);
/// A non-validating Unbound (iterator only) for `delv` to validate through.
pub const PLAIN_RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 15, 0, 54);

/// Pebble's ACME endpoint.
pub const PEBBLE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 15, 0, 100)), 14000);
/// Pebble's management endpoint.
pub const PEBBLE_MGMT: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 15, 0, 100)), 15000);

/// Web host `n` over IPv4: 127.15.10.n.
pub const fn web4(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 15, 10, n)
}

/// Web host `n` over IPv6: `fd5c:dc5:0:15::10:n` (n written in hex).
pub fn web6(n: u8) -> Ipv6Addr {
    v6(0x10, u16::from(n))
}

/// Whether `ip` is inside the world's blocks (a guard before anything binds or
/// connects).
pub fn in_world(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[..2] == [127, 15],
        IpAddr::V6(v6) => v6.segments()[..4] == [0xfd5c, 0x0dc5, 0, 0x15],
    }
}
