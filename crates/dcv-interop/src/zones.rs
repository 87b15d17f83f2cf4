//! The world's DNS content: which zone lives on which server, how it is signed
//! (or broken), and the web hosts every scenario name points at.
//!
//! ```text
//! .               root  Knot-signed (the trust anchor is its DS)
//! lab.            tld   Knot-signed, DS in .
//! good.lab.       prova Knot-signed, DS in lab., dynamic updates (TSIG) for DNS-01
//! moved.good.lab. provb unsigned; good.lab. delegates it there by NS (insecure)
//! unsigned.lab.   prova unsigned, no DS (insecure delegation: fine)
//! expired.lab.    prova signed offline by ldns-signzone with 2020 dates, served with signing off
//! dsmismatch.lab. prova Knot-signed, the DS in lab. has a wrong digest
//! stripped.lab.   prova DS in lab., but the zone is served unsigned
//! servfail.lab.   prova configured, zone file missing: Knot answers SERVFAIL
//! refused.lab.    prova not configured: Knot answers REFUSED
//! timeout.lab.    sink  a UDP/TCP socket that reads and never answers
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::net::{self, NameServer, PROVIDER_A, PROVIDER_B, ROOT, TLD};

/// What answers HTTP on one address of a web host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Web {
    /// `200` with the key authorisation for any published token, `404` otherwise.
    Token,
    /// `404` for everything (token not published on this server).
    NotFound,
    /// `200` with a body that is not the key authorisation.
    WrongBody,
    /// `403` (a firewall rule).
    Forbidden,
    /// `301` to `https://<host><path>`.
    RedirectHttps,
    /// `302` to the very same URL.
    RedirectLoop,
    /// `303 See Other` to the same URL with `?via=303`, where the token is
    /// served (BR 3.2.2.4.19 allows only 301, 302, 307, 308).
    Redirect303,
    /// `302` to `http://<host>:8080<path>`, where the token is served
    /// (BR 3.2.2.4.19 allows only ports 80 and 443).
    RedirectPort8080,
    /// Nothing listens (the address exists in DNS only): connection refused.
    Closed,
}

/// One web host: its name, address index (127.15.10.n / `fd5c:dc5:0:15::10:n`)
/// and what answers on each family and on port 443.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub name: &'static str,
    pub n: u8,
    /// Behaviour on port 80 over IPv4; `None`: no A record.
    pub v4: Option<Web>,
    /// Behaviour on port 80 over IPv6; `None`: no AAAA record.
    pub v6: Option<Web>,
    /// Behaviour on port 443 (both families); `None`: nothing listens.
    pub https: Option<Web>,
    /// Serves the token on port 8080 too.
    pub port_8080: bool,
}

const fn host(name: &'static str, n: u8, v4: Option<Web>, v6: Option<Web>) -> Host {
    Host {
        name,
        n,
        v4,
        v6,
        https: None,
        port_8080: false,
    }
}

/// Every web host of the world.
pub const HOSTS: &[Host] = &[
    host("v4.good.lab", 1, Some(Web::Token), None),
    host("v6.good.lab", 2, None, Some(Web::Token)),
    host("dual.good.lab", 3, Some(Web::Token), Some(Web::Token)),
    host("notoken.good.lab", 4, Some(Web::NotFound), None),
    host("wrongbody.good.lab", 5, Some(Web::WrongBody), None),
    host("forbidden.good.lab", 6, Some(Web::Forbidden), None),
    Host {
        https: Some(Web::Token),
        ..host("tohttps.good.lab", 7, Some(Web::RedirectHttps), None)
    },
    host("tohttps-closed.good.lab", 8, Some(Web::RedirectHttps), None),
    host("loop.good.lab", 9, Some(Web::RedirectLoop), None),
    host("refused.good.lab", 10, Some(Web::Closed), None),
    host(
        "v6wrong.good.lab",
        11,
        Some(Web::Token),
        Some(Web::NotFound),
    ),
    host(
        "v6refused.good.lab",
        12,
        Some(Web::Token),
        Some(Web::Closed),
    ),
    host("caa.good.lab", 13, Some(Web::Token), None),
    host("v6closed.good.lab", 20, None, Some(Web::Closed)),
    host("see-other.good.lab", 21, Some(Web::Redirect303), None),
    Host {
        port_8080: true,
        ..host("port8080.good.lab", 22, Some(Web::RedirectPort8080), None)
    },
    host("www.moved.good.lab", 15, Some(Web::Token), None),
    host("www.expired.lab", 16, Some(Web::Token), None),
    host("www.dsmismatch.lab", 17, Some(Web::Token), None),
    host("www.stripped.lab", 18, Some(Web::Token), None),
    host("www.unsigned.lab", 19, Some(Web::Token), None),
];

/// How a zone is signed (or broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Knot signs it with an offline key (`keymgr`, policy `manual: on`); DS in the parent.
    Knot,
    /// Unsigned, no DS in the parent.
    Unsigned,
    /// Signed offline by `ldns-signzone` with expired dates; served with signing off.
    Expired,
    /// Knot-signed, but the parent's DS digest is altered.
    DsMismatch,
    /// DS in the parent, zone served unsigned.
    Stripped,
    /// Configured on the server, but its zone file is missing (SERVFAIL).
    MissingFile,
    /// Delegated to the server, not configured there (REFUSED).
    NotConfigured,
    /// Delegated to the sink that never answers.
    Sink,
}

/// One zone of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// Absolute name (`good.lab.`).
    pub name: &'static str,
    pub server: NameServer,
    pub signing: Signing,
    /// Dynamic updates (RFC 2136, TSIG) allowed.
    pub updatable: bool,
}

const fn zone(name: &'static str, server: NameServer, signing: Signing) -> Zone {
    Zone {
        name,
        server,
        signing,
        updatable: false,
    }
}

/// Every zone, parents before children.
pub const ZONES: &[Zone] = &[
    zone(".", ROOT, Signing::Knot),
    zone("lab.", TLD, Signing::Knot),
    Zone {
        updatable: true,
        ..zone("good.lab.", PROVIDER_A, Signing::Knot)
    },
    zone("moved.good.lab.", PROVIDER_B, Signing::Unsigned),
    zone("unsigned.lab.", PROVIDER_A, Signing::Unsigned),
    zone("expired.lab.", PROVIDER_A, Signing::Expired),
    zone("dsmismatch.lab.", PROVIDER_A, Signing::DsMismatch),
    zone("stripped.lab.", PROVIDER_A, Signing::Stripped),
    zone("servfail.lab.", PROVIDER_A, Signing::MissingFile),
    zone("refused.lab.", PROVIDER_A, Signing::NotConfigured),
    zone("timeout.lab.", PROVIDER_A, Signing::Sink),
];

/// The TSIG key name for dynamic updates.
pub const TSIG_NAME: &str = "interop-update";
/// Its secret (a lab key; the servers listen on loopback only).
pub const TSIG_SECRET: &str = "ZGN2LWludGVyb3AgbGFiIHVwZGF0ZSBrZXkgMDAwMDA=";

/// The parent of an absolute zone name (`None` for the root).
pub fn parent(name: &str) -> Option<&str> {
    if name == "." {
        return None;
    }
    let rest = name.split_once('.').map_or(".", |(_, r)| r);
    Some(if rest.is_empty() { "." } else { rest })
}

fn owner(label: &str) -> String {
    if label.ends_with('.') {
        label.to_owned()
    } else {
        format!("{label}.")
    }
}

fn ns_address_records(ns: &NameServer) -> String {
    format!(
        "{n} 3600 IN A {v4}\n{n} 3600 IN AAAA {v6}\n",
        n = ns.name,
        v4 = ns.v4,
        v6 = ns.v6
    )
}

/// Whether `name` (no trailing dot) is inside zone `zone` and not below one of
/// its child zones.
fn belongs(name: &str, zone: &str) -> bool {
    let fqdn = owner(name);
    let inside = zone == "." || fqdn.ends_with(&format!(".{zone}")) || fqdn == zone;
    inside
        && !ZONES
            .iter()
            .filter(|z| z.name != zone && z.name.len() > zone.len())
            .any(|z| fqdn.ends_with(&format!(".{}", z.name)) || fqdn == z.name)
}

/// The A/AAAA records of the web hosts that live in `zone`.
fn host_records(zone: &str) -> String {
    let mut out = String::new();
    for h in HOSTS.iter().filter(|h| belongs(h.name, zone)) {
        if h.v4.is_some() {
            let _ = writeln!(out, "{}. 60 IN A {}", h.name, net::web4(h.n));
        }
        if h.v6.is_some() {
            let _ = writeln!(out, "{}. 60 IN AAAA {}", h.name, net::web6(h.n));
        }
    }
    out
}

/// The unsigned zone-file text of `zone`. `ds` gives the DS lines to publish
/// for each child (already altered for a DS mismatch).
pub fn zone_text(zone: &Zone, ds: &dyn Fn(&str) -> Option<String>) -> String {
    let ns = zone.server;
    let mut out = format!(
        "$TTL 60\n{z} 3600 IN SOA {ns} hostmaster.{zz} 1 3600 600 86400 5\n{z} 3600 IN NS {ns}\n",
        z = zone.name,
        ns = ns.name,
        zz = if zone.name == "." { "" } else { zone.name },
    );
    // Delegations to every child zone, with glue where it is in bailiwick and
    // the DS the parent publishes.
    for child in ZONES.iter().filter(|c| parent(c.name) == Some(zone.name)) {
        let target = if child.signing == Signing::Sink {
            net::SINK_NAME
        } else {
            child.server.name
        };
        let _ = writeln!(out, "{} 3600 IN NS {target}", child.name);
        if let Some(ds) = ds(child.name) {
            out.push_str(&ds);
            out.push('\n');
        }
    }
    match zone.name {
        "." => {
            out.push_str(&ns_address_records(&ROOT));
            out.push_str(&ns_address_records(&TLD));
        }
        "lab." => {
            for s in [TLD, PROVIDER_A, PROVIDER_B] {
                out.push_str(&ns_address_records(&s));
            }
            let _ = writeln!(out, "{} 3600 IN A {}", net::SINK_NAME, net::SINK);
        }
        "good.lab." => out.push_str(
            "cname.good.lab. 60 IN CNAME v4.good.lab.\n\
             dangling.good.lab. 60 IN CNAME gone.good.lab.\n\
             caa.good.lab. 60 IN CAA 0 issue \"ca.invalid\"\n\
             dns-ok.good.lab. 60 IN A 127.15.10.14\n\
             dns-wrong.good.lab. 60 IN A 127.15.10.14\n\
             dns-missing.good.lab. 60 IN A 127.15.10.14\n\
             dns-nodata.good.lab. 60 IN A 127.15.10.14\n\
             other._acme-challenge.dns-nodata.good.lab. 60 IN TXT \"an empty non-terminal above me\"\n\
             _acme-challenge.dns-cname.good.lab. 60 IN CNAME dcv-target.good.lab.\n\
             _acme-challenge.dns-dangling.good.lab. 60 IN CNAME dcv-gone.good.lab.\n",
        ),
        "unsigned.lab." | "expired.lab." | "dsmismatch.lab." | "stripped.lab." => {
            let _ = writeln!(
                out,
                "_acme-challenge.www.{} 60 IN TXT \"static-value-never-matches\"",
                zone.name
            );
        }
        _ => {}
    }
    out.push_str(&host_records(zone.name));
    out
}

/// Every address a Knot instance listens on.
pub fn listen_addrs(ns: &NameServer) -> [IpAddr; 2] {
    [IpAddr::V4(ns.v4), IpAddr::V6(ns.v6)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent("."), None);
        assert_eq!(parent("lab."), Some("."));
        assert_eq!(parent("good.lab."), Some("lab."));
        assert_eq!(parent("moved.good.lab."), Some("good.lab."));
    }

    #[test]
    fn hosts_land_in_their_zone() {
        assert!(belongs("v4.good.lab", "good.lab."));
        assert!(!belongs("www.moved.good.lab", "good.lab."));
        assert!(belongs("www.moved.good.lab", "moved.good.lab."));
        assert!(!belongs("www.expired.lab", "lab."));
    }

    #[test]
    fn every_address_is_in_the_world() {
        for h in HOSTS {
            assert!(net::in_world(net::web4(h.n).into()));
            assert!(net::in_world(net::web6(h.n).into()));
        }
        for s in net::NAME_SERVERS {
            for a in listen_addrs(&s) {
                assert!(net::in_world(a), "{a}");
            }
        }
    }
}
