//! `reserved_address`: an address the CA would have to reach (a nameserver met
//! during resolution, or an A/AAAA target of the HTTP check) in a private,
//! loopback or otherwise reserved block (IANA special-purpose registries,
//! RFC 6890). No public CA can reach it (Boulder drops such addresses,
//! `iana.IsReservedAddr`; RFC 8659 §6.3 for nameservers). `--allow-private`
//! switches the rule off for labs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use dcv_http::ip_policy;

use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::model::{Evidence, Finding, Method, Severity};
use crate::runner::{Observations, addresses};

use super::finding;

/// Reserved-address findings.
pub fn findings(cfg: &CheckConfig, obs: &Observations) -> Vec<Finding> {
    if cfg.allow_private {
        return Vec::new();
    }
    let mut out = Vec::new();
    // Nameservers, per zone: all of a zone's servers reserved blocks every
    // lookup below it; some reserved is a warning (perspectives that pick them fail).
    let mut zones: BTreeMap<String, Vec<(String, IpAddr)>> = BTreeMap::new();
    let lookups = obs
        .caa
        .iter()
        .chain(obs.a.iter())
        .chain(obs.aaaa.iter())
        .chain(obs.txt.iter());
    for lookup in lookups {
        for cut in &lookup.zone_cuts {
            let entry = zones.entry(cut.zone.to_string()).or_default();
            for s in &cut.servers {
                let item = (s.name.to_string(), s.addr.ip());
                if !entry.contains(&item) {
                    entry.push(item);
                }
            }
        }
    }
    for (zone, servers) in &zones {
        let reserved: Vec<_> = servers
            .iter()
            .filter_map(|(n, ip)| ip_policy::classify(*ip).map(|r| (n, *ip, r)))
            .collect();
        if reserved.is_empty() {
            continue;
        }
        let all = reserved.len() == servers.len();
        let listed: Vec<String> = reserved
            .iter()
            .map(|(n, ip, _)| format!("{n} ({ip})"))
            .collect();
        let mut f = finding(
            FindingCode::ReservedAddress,
            if all {
                Severity::Error
            } else {
                Severity::Warning
            },
            format!(
                "nameservers of {zone} have reserved addresses: {}",
                listed.join(", ")
            ),
        );
        if all {
            f.blocks = cfg.cas.clone();
        }
        f.fix = format!(
            "Publish nameservers for {zone} on public addresses (use split-horizon DNS for internal views rather than delegating to private addresses, RFC 8659 §6.3)."
        );
        f.evidence = reserved
            .iter()
            .map(|(n, ip, r)| Evidence::Address {
                address: ip.to_string(),
                range: format!("{} {}", r.network, r.name),
                reference: r.rfc.to_owned(),
                met_as: format!("nameserver {n} of {zone}"),
            })
            .collect();
        out.push(f);
    }
    // HTTP targets: Boulder drops reserved addresses and fails only when none is left.
    let targets: Vec<IpAddr> = obs
        .aaaa
        .iter()
        .chain(obs.a.iter())
        .flat_map(addresses)
        .collect();
    let reserved: Vec<_> = targets
        .iter()
        .filter_map(|ip| ip_policy::classify(*ip).map(|r| (*ip, r)))
        .collect();
    if !reserved.is_empty() {
        let all = reserved.len() == targets.len();
        let listed: Vec<String> = reserved.iter().map(|(ip, _)| ip.to_string()).collect();
        let mut f = finding(
            FindingCode::ReservedAddress,
            if all {
                Severity::Error
            } else {
                Severity::Warning
            },
            format!(
                "{} points at reserved addresses: {}",
                cfg.hostname,
                listed.join(", ")
            ),
        );
        f.method = Some(Method::Http);
        if all {
            f.blocks = cfg.cas.clone();
            f.acme_detail = Some(format!(
                "DNS problem: no valid A records found for {0}; no valid AAAA records found for {0}",
                cfg.hostname
            ));
        }
        f.fix = format!(
            "Point {} at public addresses, or validate with the DNS method (a CA cannot fetch from private networks).",
            cfg.hostname
        );
        f.evidence = reserved
            .iter()
            .map(|(ip, r)| Evidence::Address {
                address: ip.to_string(),
                range: format!("{} {}", r.network, r.name),
                reference: r.rfc.to_owned(),
                met_as: format!("A/AAAA of {}", cfg.hostname),
            })
            .collect();
        out.push(f);
    }
    out
}
