//! A generated DNS world: a tree of zones under one TLD of its own, the
//! servers that serve (or fail to serve) them, and the questions a CA would
//! ask. Plain data (serde), so a failing world can be written out, shrunk and
//! kept as a regression file that does not depend on the generator.

use std::fmt::{self, Write as _};

use dcv_lab::{Behaviour, KeyAlgorithm, Mode, ServerSpec, Signing, ZoneFault, ZoneSpec};
use serde::{Deserialize, Serialize};

/// Which authoritative implementation serves the world's zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Authority {
    /// The in-process lab (`dcv-lab`): every fault knob is available.
    Lab,
    /// `knotd`, zones signed by Knot itself: server faults other than lame
    /// delegations and zone faults other than the parent's DS cannot be
    /// expressed, so the generator leaves them out.
    Knot,
}

/// One world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct World {
    /// The seed it was generated from (kept through shrinking).
    pub seed: u64,
    /// Who serves it.
    pub authority: Authority,
    /// The world's TLD, absolute (`w42.`).
    pub tld: String,
    /// Zones, parents before children; `zones[0]` is the TLD.
    pub zones: Vec<WorldZone>,
    /// Authoritative servers.
    pub servers: Vec<WorldServer>,
    /// What the CA asks.
    pub questions: Vec<Question>,
}

/// One authoritative server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldServer {
    /// Host name, absolute, inside the world.
    pub name: String,
    /// Has an IPv4 address.
    pub ipv4: bool,
    /// Has an IPv6 address.
    pub ipv6: bool,
    /// Fault knobs (lab worlds only).
    pub behaviour: Behaviour,
}

/// One zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldZone {
    /// Apex, absolute.
    pub apex: String,
    /// Index of the parent zone; `None` for the TLD (its parent is the root).
    pub parent: Option<usize>,
    /// Servers named in the zone's NS set (parent side and apex).
    pub ns: Vec<usize>,
    /// Servers that serve the current copy. Servers in `ns` that neither
    /// serve it nor hold the stale copy are lame.
    pub serving: Vec<usize>,
    /// A secondary still serving an older copy.
    pub stale: Option<StaleCopy>,
    /// How it is signed.
    pub signing: Signing,
    /// Key algorithm when signed.
    pub algorithm: KeyAlgorithm,
    /// Injected defects (lab semantics; parent-side DS faults for Knot).
    pub faults: Vec<ZoneFault>,
    /// Zone-file lines, names relative to the apex unless absolute. SOA, NS,
    /// glue and DS are added when the world is served.
    pub records: Vec<String>,
}

/// An older copy of a zone on one of its listed servers (a secondary that
/// missed the last NOTIFY, RFC 1996).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleCopy {
    /// The server holding it (listed in the NS set).
    pub server: usize,
    /// Its records (the current copy's, minus or with older values).
    pub records: Vec<String>,
}

/// A question the CA asks: CAA up the tree, A/AAAA for HTTP-01, TXT for DNS-01.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// Absolute name.
    pub name: String,
    /// Type mnemonic (`A`, `AAAA`, `CAA`, `TXT`).
    pub rtype: String,
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.rtype)
    }
}

impl World {
    /// The servers listed for a zone that serve neither copy (lame).
    pub fn lame(&self, zone: &WorldZone) -> Vec<usize> {
        zone.ns
            .iter()
            .copied()
            .filter(|s| {
                !zone.serving.contains(s) && zone.stale.as_ref().is_none_or(|st| st.server != *s)
            })
            .collect()
    }

    /// The zones holding the names of zone `i`'s listed servers (where a
    /// resolver looks up their addresses).
    pub fn server_host_zones(&self, i: usize) -> Vec<usize> {
        let mut hosts: Vec<usize> = self.zones[i]
            .ns
            .iter()
            .filter_map(|s| self.zone_of(&self.servers[*s].name))
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }

    /// The zone whose apex is `name` or the closest ancestor of it.
    pub fn zone_of(&self, name: &str) -> Option<usize> {
        self.zones
            .iter()
            .enumerate()
            .filter(|(_, z)| in_zone(name, &z.apex))
            .max_by_key(|(_, z)| z.apex.len())
            .map(|(i, _)| i)
    }

    /// Children of zone `i`.
    pub fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.zones
            .iter()
            .enumerate()
            .filter(move |(_, z)| z.parent == Some(i))
            .map(|(j, _)| j)
    }

    /// The NS lines a parent publishes for zone `i` (absolute names).
    pub fn delegation_lines(&self, i: usize) -> Vec<String> {
        let zone = &self.zones[i];
        zone.ns
            .iter()
            .map(|s| format!("{} 3600 NS {}", zone.apex, self.servers[*s].name))
            .collect()
    }

    /// Zone-file lines of one copy of zone `i`: its records, its apex NS set
    /// and its delegations (NS only; the lab adds glue and DS itself).
    pub fn zone_lines(&self, i: usize, records: &[String]) -> Vec<String> {
        let zone = &self.zones[i];
        let mut lines: Vec<String> = zone
            .ns
            .iter()
            .map(|s| format!("@ 3600 NS {}", self.servers[*s].name))
            .collect();
        lines.extend(records.iter().cloned());
        for child in self.children(i) {
            lines.extend(self.delegation_lines(child));
        }
        lines
    }

    /// The lab's servers and zone specs for this world.
    pub fn lab_specs(&self) -> (Vec<ServerSpec>, Vec<ZoneSpec>) {
        let servers = self
            .servers
            .iter()
            .map(|s| {
                let mut spec = ServerSpec::new(s.name.clone());
                spec.ipv4 = s.ipv4;
                spec.ipv6 = s.ipv6;
                spec.behaviour = s.behaviour.clone();
                spec
            })
            .collect();
        let mut zones = Vec::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let mut spec = ZoneSpec::new(zone.apex.clone())
                .signed(zone.signing.clone())
                .algorithm(zone.algorithm)
                .records(self.zone_lines(i, &zone.records));
            spec.faults.clone_from(&zone.faults);
            spec.servers = zone
                .serving
                .iter()
                .map(|s| self.servers[*s].name.clone())
                .collect();
            zones.push(spec);
            if let Some(stale) = &zone.stale {
                let mut copy = ZoneSpec::new(zone.apex.clone())
                    .signed(zone.signing.clone())
                    .algorithm(zone.algorithm)
                    .records(self.zone_lines(i, &stale.records))
                    .served_by(self.servers[stale.server].name.clone());
                // Parent-side faults are the delegation's, counted once.
                copy.faults = zone
                    .faults
                    .iter()
                    .filter(|f| !is_parent_side(f))
                    .cloned()
                    .collect();
                zones.push(copy);
            }
        }
        // A zone nobody serves (every listed server lame) still needs a spec
        // for the lab to delegate to it; the lab refuses specs without
        // servers, so such zones are left out and their delegation (written
        // by the parent) leads nowhere, as in the real world.
        zones.retain(|z| !z.servers.is_empty());
        (servers, zones)
    }

    /// Gives the world another TLD label (shrink candidates run side by side).
    pub fn rename(&mut self, label: &str) {
        let old = self.tld.clone();
        let new = format!("{label}.");
        let swap = |text: &str| -> String {
            text.split(' ')
                .map(|token| rename_token(token, &old, &new))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for zone in &mut self.zones {
            zone.apex = swap(&zone.apex);
            for r in &mut zone.records {
                *r = swap(r);
            }
            if let Some(stale) = &mut zone.stale {
                for r in &mut stale.records {
                    *r = swap(r);
                }
            }
        }
        for s in &mut self.servers {
            s.name = swap(&s.name);
        }
        for q in &mut self.questions {
            q.name = swap(&q.name);
        }
        self.tld = new;
    }

    /// A readable picture of the world: servers with their faults, zones
    /// with signing, faults and zone-file lines, and the questions.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "world seed {} ({:?}), TLD {}",
            self.seed, self.authority, self.tld
        );
        for s in &self.servers {
            let family = match (s.ipv4, s.ipv6) {
                (true, true) => "v4+v6",
                (true, false) => "v4",
                (false, true) => "v6",
                (false, false) => "no address",
            };
            let _ = writeln!(
                out,
                "  server {} [{family}]{}",
                s.name,
                describe_behaviour(&s.behaviour)
            );
        }
        for (i, z) in self.zones.iter().enumerate() {
            let names = |list: &[usize]| -> String {
                list.iter()
                    .map(|s| self.servers[*s].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let signing = match &z.signing {
                Signing::Unsigned => "unsigned".to_owned(),
                Signing::Nsec => format!("NSEC, algorithm {}", z.algorithm.number()),
                Signing::Nsec3 {
                    iterations,
                    salt,
                    opt_out,
                } => format!(
                    "NSEC3 (iterations {iterations}, salt {:?}, opt-out {opt_out}), algorithm {}",
                    salt,
                    z.algorithm.number()
                ),
            };
            let _ = writeln!(out, "  zone {} — {signing}", z.apex);
            let _ = writeln!(out, "    NS: {}", names(&z.ns));
            let _ = writeln!(out, "    served by: {}", names(&z.serving));
            let lame = self.lame(z);
            if !lame.is_empty() {
                let _ = writeln!(out, "    lame (listed, not serving): {}", names(&lame));
            }
            if !z.faults.is_empty() {
                let _ = writeln!(out, "    faults: {:?}", z.faults);
            }
            for line in self.zone_lines(i, &z.records) {
                let _ = writeln!(out, "    | {line}");
            }
            if let Some(stale) = &z.stale {
                let _ = writeln!(
                    out,
                    "    stale copy on {}:",
                    self.servers[stale.server].name
                );
                for line in &stale.records {
                    let _ = writeln!(out, "    | {line}");
                }
            }
        }
        let qs: Vec<String> = self.questions.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "  questions: {}", qs.join("; "));
        out
    }
}

/// Faults that change what the parent publishes, not the zone itself.
pub fn is_parent_side(fault: &ZoneFault) -> bool {
    matches!(
        fault,
        ZoneFault::DsBadTag
            | ZoneFault::DsBadDigest
            | ZoneFault::DsAlgorithm(_)
            | ZoneFault::DsDigestType(_)
            | ZoneFault::NoDs
            | ZoneFault::NotDelegated
            | ZoneFault::NoGlue
    )
}

/// Whether absolute `name` is `apex` or below it.
pub fn in_zone(name: &str, apex: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let apex = apex.to_ascii_lowercase();
    apex == "." || name == apex || name.ends_with(&format!(".{apex}"))
}

fn rename_token(token: &str, old: &str, new: &str) -> String {
    if token.eq_ignore_ascii_case(old) {
        return new.to_owned();
    }
    let suffix = format!(".{old}");
    if token.len() > suffix.len() && token.to_ascii_lowercase().ends_with(&suffix) {
        return format!("{}.{new}", &token[..token.len() - suffix.len()]);
    }
    token.to_owned()
}

/// The non-default knobs of a server, for printouts.
pub fn describe_behaviour(b: &Behaviour) -> String {
    let mut parts = Vec::new();
    if b.mode != Mode::Answer {
        parts.push(format!("mode {:?}", b.mode));
    }
    for z in &b.per_zone {
        parts.push(format!("{:?} for zone {}", z.mode, z.apex));
    }
    for t in &b.per_type {
        parts.push(format!("{:?} for type {}", t.mode, t.rtype));
    }
    if b.truncate_udp {
        parts.push("TC on every UDP answer".to_owned());
    }
    if b.delay_ms > 0 {
        parts.push(format!("slow ({} ms)", b.delay_ms));
    }
    if let Some(m) = b.tcp_mode {
        parts.push(format!("{m:?} over TCP"));
    }
    if let Some(m) = b.no_edns_mode {
        parts.push(format!("{m:?} without EDNS"));
    }
    if let Some(m) = b.edns_mode {
        parts.push(format!("EDNS-intolerant ({m:?} with EDNS)"));
    }
    if let Some(l) = b.udp_loss {
        parts.push(format!(
            "lossy (drops {} of every {} UDP tries)",
            l.dropped, l.period
        ));
    }
    if b.tcp_refused {
        parts.push("TCP refused".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" — {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_membership_is_by_label() {
        assert!(in_zone("www.z1.w7.", "w7."));
        assert!(in_zone("w7.", "w7."));
        assert!(!in_zone("aw7.", "w7."));
        assert!(in_zone("x.", "."));
    }

    #[test]
    fn rename_rewrites_names_only() {
        assert_eq!(rename_token("www.z1.w7.", "w7.", "c1."), "www.z1.c1.");
        assert_eq!(rename_token("w7.", "w7.", "c1."), "c1.");
        assert_eq!(rename_token("\"w7.\"", "w7.", "c1."), "\"w7.\"");
        assert_eq!(rename_token("aw7.", "w7.", "c1."), "aw7.");
    }
}
