//! The world generator: a [`World`] from a `u64` seed, deterministic (see
//! [`crate::rng`]). The shape follows issue 15: zone trees of depth 1-5,
//! parents and children co-hosted or not, signed / unsigned / insecure
//! delegations, algorithms 8, 13, 14 and 15, NSEC and NSEC3 with and without
//! opt-out, CNAME chains across zones, wildcards, RRsets that truncate, and
//! server faults (slow 0.5-3 s, lossy, EDNS-intolerant, TCP refused, lame,
//! stale secondary). Weights are chosen so that most worlds are healthy
//! enough to ask real questions, and every feature shows up in a few hundred
//! of every 2,000 worlds (`tests::features_all_appear` checks it).

use dcv_lab::{
    Behaviour, KeyAlgorithm, Mode, RrsetSelector, Signing, TypeMode, UdpLoss, ZoneFault,
};

use crate::rng::Dice;
use crate::world::{Authority, Question, StaleCopy, World, WorldServer, WorldZone};

/// Most questions asked in one world (a check asks about this many).
pub const MAX_QUESTIONS: usize = 16;
/// TXT strings in a "big" RRset: 25+ strings of 60 octets make the answer
/// larger than the 1,232-octet EDNS payload both resolvers offer (DNS Flag
/// Day 2020), so the server truncates and the resolver retries over TCP.
const BIG_TXT_MIN: usize = 25;
const BIG_TXT_MAX: usize = 40;

/// Generates the world for `seed`, served by `authority`.
pub fn generate(seed: u64, authority: Authority) -> World {
    let stream = match authority {
        Authority::Lab => 1,
        Authority::Knot => 2,
    };
    let mut g = Gen {
        dice: Dice::new(seed, stream),
        authority,
        world: World {
            seed,
            authority,
            // Lab and Knot worlds of one seed differ, and share a batch.
            tld: match authority {
                Authority::Lab => format!("w{seed}."),
                Authority::Knot => format!("k{seed}."),
            },
            zones: Vec::new(),
            servers: Vec::new(),
            questions: Vec::new(),
        },
        next_server: 1,
    };
    g.zones();
    g.signing();
    g.records();
    g.stale_copies();
    g.server_faults();
    g.questions();
    g.world
}

struct Gen {
    dice: Dice,
    authority: Authority,
    world: World,
    next_server: usize,
}

/// How a child zone is hosted relative to its parent.
#[derive(Clone, Copy)]
enum Hosting {
    /// Exactly the parent's servers (the hidden zone cut case).
    CoHosted,
    /// One of the parent's servers plus a new one.
    ShareOne,
    /// Servers of its own.
    Separate,
}

impl Gen {
    fn lab(&self) -> bool {
        self.authority == Authority::Lab
    }

    fn new_server(&mut self, host_apex: &str) -> usize {
        let family = self
            .dice
            .weighted(&[(55, (true, true)), (40, (true, false)), (5, (false, true))])
            .unwrap_or((true, false));
        let name = format!("ns{}.{host_apex}", self.next_server);
        self.next_server += 1;
        self.world.servers.push(WorldServer {
            name,
            ipv4: family.0,
            ipv6: family.1,
            behaviour: Behaviour::default(),
        });
        self.world.servers.len() - 1
    }

    fn add_zone(&mut self, apex: String, parent: Option<usize>) -> usize {
        self.world.zones.push(WorldZone {
            apex,
            parent,
            ns: Vec::new(),
            serving: Vec::new(),
            stale: None,
            signing: Signing::Unsigned,
            algorithm: KeyAlgorithm::default(),
            faults: Vec::new(),
            records: Vec::new(),
        });
        self.world.zones.len() - 1
    }

    /// The zone tree and who serves each zone.
    fn zones(&mut self) {
        let depth = self
            .dice
            .weighted(&[(10, 1), (25, 2), (30, 3), (20, 4), (15, 5)])
            .unwrap_or(3);
        let tld = self.world.tld.clone();
        self.add_zone(tld.clone(), None);
        let count = self.dice.between(1, 3);
        for _ in 0..count {
            let s = self.new_server(&tld);
            self.world.zones[0].serving.push(s);
        }
        // A provider zone that only names servers (out-of-bailiwick NS), and
        // a CDN zone that CNAMEs point into.
        let provider = (depth >= 2 && self.dice.percent(25))
            .then(|| self.add_zone(format!("prov.{tld}"), Some(0)));
        if let Some(p) = provider {
            self.host(p, None);
        }
        let mut parent = 0;
        for level in 1..depth {
            let apex = format!("z{level}.{}", self.world.zones[parent].apex);
            let z = self.add_zone(apex, Some(parent));
            self.host(z, provider);
            if level == 1 && self.dice.percent(25) {
                let cdn = self.add_zone(format!("cdn.{tld}"), Some(0));
                self.host(cdn, provider);
            }
            parent = z;
        }
        // NS sets: the serving servers, sometimes plus a lame one.
        for z in 0..self.world.zones.len() {
            let mut ns = self.world.zones[z].serving.clone();
            if self.dice.percent(6) {
                let lame = match self.world.zones[z].parent {
                    // A parent's server that does not serve the child: it
                    // answers with the parent's referral (a lame loop).
                    Some(p) if self.dice.percent(50) => self.world.zones[p]
                        .serving
                        .iter()
                        .copied()
                        .find(|s| !ns.contains(s)),
                    _ => None,
                };
                let tld = self.world.tld.clone();
                let lame = lame.unwrap_or_else(|| self.new_server(&tld));
                ns.push(lame);
            }
            self.world.zones[z].ns = ns;
        }
    }

    /// Chooses the servers of child zone `z`.
    fn host(&mut self, z: usize, provider: Option<usize>) {
        let parent = self.world.zones[z].parent.unwrap_or(0);
        let hosting = self
            .dice
            .weighted(&[
                (20, Hosting::CoHosted),
                (15, Hosting::ShareOne),
                (65, Hosting::Separate),
            ])
            .unwrap_or(Hosting::Separate);
        let parent_servers = self.world.zones[parent].serving.clone();
        let serving = match hosting {
            Hosting::CoHosted => parent_servers,
            Hosting::ShareOne => {
                let shared = *self.dice.pick(&parent_servers).unwrap_or(&0);
                let host = self.host_apex(z, provider);
                vec![shared, self.new_server(&host)]
            }
            Hosting::Separate => {
                let count = self.dice.between(1, 3);
                let host = self.host_apex(z, provider);
                (0..count).map(|_| self.new_server(&host)).collect()
            }
        };
        self.world.zones[z].serving = serving;
    }

    /// Where new servers of zone `z` are named: inside `z` (glue in the
    /// parent), in the provider zone, or in the TLD.
    fn host_apex(&mut self, z: usize, provider: Option<usize>) -> String {
        let roll = self.dice.below(100);
        match provider {
            _ if roll < 40 => self.world.zones[z].apex.clone(),
            Some(p) if roll < 70 && p != z => self.world.zones[p].apex.clone(),
            _ => self.world.tld.clone(),
        }
    }

    /// Signing, algorithm and zone faults.
    fn signing(&mut self) {
        for z in 0..self.world.zones.len() {
            let signing = if z == 0 {
                if self.dice.percent(85) {
                    self.signed_mode()
                } else {
                    Signing::Unsigned
                }
            } else {
                match self.dice.below(100) {
                    0..25 => Signing::Unsigned,
                    _ => self.signed_mode(),
                }
            };
            let algorithm = self
                .dice
                .weighted(&[
                    (25, KeyAlgorithm::RsaSha256),
                    (40, KeyAlgorithm::EcdsaP256Sha256),
                    (15, KeyAlgorithm::EcdsaP384Sha384),
                    (20, KeyAlgorithm::Ed25519),
                ])
                .unwrap_or_default();
            let mut faults = Vec::new();
            if signing.is_signed() && self.dice.percent(14) {
                let table: Vec<(u32, ZoneFault)> = if self.lab() {
                    vec![
                        (3, ZoneFault::NoDs),
                        (2, ZoneFault::DsBadDigest),
                        (1, ZoneFault::DsBadTag),
                        (1, ZoneFault::DsAlgorithm(100)),
                        (1, ZoneFault::DsDigestType(100)),
                        (1, ZoneFault::RrsigExpired(RrsetSelector::All)),
                        (2, ZoneFault::RrsigExpired(RrsetSelector::rrset("www", "A"))),
                        (
                            1,
                            ZoneFault::RrsigNotYetValid(RrsetSelector::rrset("www", "A")),
                        ),
                        (1, ZoneFault::RrsigMissing(RrsetSelector::rrset("www", "A"))),
                        (1, ZoneFault::RrsigCorrupt(RrsetSelector::rrset("@", "CAA"))),
                        (1, ZoneFault::DnskeyOmitKsk),
                        (1, ZoneFault::DnskeyNotSignedByKsk),
                        (1, ZoneFault::DenialMissing),
                        (1, ZoneFault::DenialCorrupt),
                    ]
                } else {
                    vec![
                        (3, ZoneFault::NoDs),
                        (2, ZoneFault::DsBadDigest),
                        (1, ZoneFault::DsBadTag),
                        (1, ZoneFault::DsAlgorithm(100)),
                    ]
                };
                faults.extend(self.dice.weighted(&table));
            }
            let zone = &self.world.zones[z];
            let in_bailiwick_ns = zone
                .ns
                .iter()
                .any(|s| crate::world::in_zone(&self.world.servers[*s].name, &zone.apex));
            if z > 0 && in_bailiwick_ns && self.dice.percent(3) {
                faults.push(ZoneFault::NoGlue);
            }
            let zone = &mut self.world.zones[z];
            zone.signing = signing;
            zone.algorithm = algorithm;
            zone.faults = faults;
        }
    }

    fn signed_mode(&mut self) -> Signing {
        if self.dice.percent(45) {
            return Signing::Nsec;
        }
        let opt_out = self.dice.percent(35);
        let (iterations, salt) = match self.dice.below(100) {
            0..80 => (0, String::new()),
            80..95 => {
                let iterations = u16::try_from(self.dice.between(1, 10)).unwrap_or(1);
                (iterations, "ab12cd34".to_owned())
            }
            _ => (
                u16::try_from(self.dice.between(151, 200)).unwrap_or(151),
                String::new(),
            ),
        };
        Signing::Nsec3 {
            iterations,
            salt,
            opt_out,
        }
    }

    /// Zone content: addresses, CAA, DNS-01 TXT, wildcards, CNAMEs across
    /// zones, big RRsets, empty non-terminals.
    fn records(&mut self) {
        let apexes: Vec<String> = self.world.zones.iter().map(|z| z.apex.clone()).collect();
        for z in 0..self.world.zones.len() {
            let n = z * 10 + 1;
            let mut r: Vec<String> = Vec::new();
            if self.dice.percent(40) {
                r.push(format!("@ A 192.0.2.{n}"));
            }
            if self.dice.percent(85) {
                r.push(format!("www A 192.0.2.{}", n + 1));
            }
            if self.dice.percent(55) {
                r.push(format!("www AAAA 2001:db8::{:x}", n + 1));
            }
            if self.dice.percent(35) {
                let value = self
                    .dice
                    .pick(&[
                        "0 issue \"letsencrypt.org\"",
                        "0 issue \"ca.invalid\"",
                        "0 issuewild \";\"",
                        "128 tbs \"unknown-critical\"",
                        "0 issue \"letsencrypt.org; validationmethods=dns-01\"",
                    ])
                    .copied()
                    .unwrap_or("0 issue \"letsencrypt.org\"");
                r.push(format!("@ CAA {value}"));
            }
            match self.dice.below(100) {
                0..50 => r.push(format!(
                    "_acme-challenge.www TXT \"dcv-{}-{z}\"",
                    self.world.seed
                )),
                50..62 => {
                    let target = self.dice.pick(&apexes).cloned().unwrap_or_default();
                    r.push(format!(
                        "_acme-challenge.www CNAME _acme-challenge.www.{target}"
                    ));
                }
                _ => {}
            }
            if self.dice.percent(25) {
                r.push(format!("*.wild A 192.0.2.{}", n + 2));
                r.push("*.wild TXT \"wildcard\"".to_owned());
            }
            if self.dice.percent(30) {
                let target = self.dice.pick(&apexes).cloned().unwrap_or_default();
                let label = if self.dice.percent(60) {
                    "www"
                } else {
                    "alias"
                };
                r.push(format!("alias CNAME {label}.{target}"));
            }
            if self.dice.percent(10) {
                for i in 0..self.dice.between(BIG_TXT_MIN, BIG_TXT_MAX) {
                    r.push(format!("big TXT \"{i:03}-{}\"", "x".repeat(56)));
                }
            }
            if self.dice.percent(20) {
                r.push("a.ent TXT \"below an empty non-terminal\"".to_owned());
            }
            self.world.zones[z].records = r;
        }
    }

    /// Stale secondaries (lab only): an extra listed server with an older
    /// copy that lacks the DNS-01 TXT or has an old address.
    fn stale_copies(&mut self) {
        if !self.lab() {
            return;
        }
        for z in 0..self.world.zones.len() {
            if !self.dice.percent(5) {
                continue;
            }
            let mut records = self.world.zones[z].records.clone();
            if let Some(i) = records
                .iter()
                .position(|l| l.starts_with("_acme-challenge.www TXT"))
            {
                records.remove(i);
            } else if let Some(i) = records.iter().position(|l| l.starts_with("www A ")) {
                records[i] = "www A 192.0.2.250".to_owned();
            } else {
                records.push("www A 192.0.2.250".to_owned());
            }
            let host = self.world.tld.clone();
            let server = self.new_server(&host);
            let zone = &mut self.world.zones[z];
            zone.ns.push(server);
            zone.stale = Some(StaleCopy { server, records });
        }
    }

    /// Server fault knobs (lab only): 45 % of worlds have none; in the
    /// others each server has one with probability 30 %.
    fn server_faults(&mut self) {
        if !self.lab() || self.dice.percent(45) {
            return;
        }
        for s in 0..self.world.servers.len() {
            if !self.dice.percent(30) {
                continue;
            }
            let kind = self.dice.below(68);
            let b = &mut self.world.servers[s].behaviour;
            match kind {
                0..14 => {
                    b.delay_ms = 500 + 250 * u64::try_from(self.dice.below(11)).unwrap_or(0);
                }
                14..24 => {
                    let (dropped, period) =
                        *self.dice.pick(&[(1, 2), (1, 3), (2, 3)]).unwrap_or(&(1, 2));
                    b.udp_loss = Some(UdpLoss { dropped, period });
                }
                24..29 => b.edns_mode = Some(Mode::FormErr),
                29..31 => b.edns_mode = Some(Mode::Timeout),
                31..38 => b.tcp_refused = true,
                38..41 => b.tcp_mode = Some(Mode::Timeout),
                41..45 => b.truncate_udp = true,
                45..51 => b.mode = Mode::Timeout,
                51..54 => b.mode = Mode::ServFail,
                54..57 => b.mode = Mode::Refused,
                57..60 => b.mode = Mode::NotAuthoritative,
                60..63 => b.per_type.push(TypeMode {
                    rtype: "CAA".into(),
                    mode: Mode::Timeout,
                }),
                63..65 => b.per_type.push(TypeMode {
                    rtype: "CAA".into(),
                    mode: Mode::ServFail,
                }),
                65..67 => b.no_edns_mode = Some(Mode::Timeout),
                _ => b.mode = Mode::Garbage,
            }
        }
    }

    /// The CA's questions about one or two names of the world.
    fn questions(&mut self) {
        // The deepest zone of the main chain, and sometimes one more.
        let deepest = self
            .world
            .zones
            .iter()
            .enumerate()
            .max_by_key(|(_, z)| (z.apex.matches('.').count(), z.apex.starts_with('z')))
            .map_or(0, |(i, _)| i);
        let mut targets = vec![deepest];
        if self.world.zones.len() > 1 && self.dice.percent(50) {
            let other = self.dice.below(self.world.zones.len());
            if other != deepest {
                targets.push(other);
            }
        }
        let mut qs: Vec<Question> = Vec::new();
        let mut ask = |name: String, rtype: &str| {
            let q = Question {
                name,
                rtype: rtype.to_owned(),
            };
            if !qs.contains(&q) {
                qs.push(q);
            }
        };
        for z in targets {
            let zone = &self.world.zones[z];
            let apex = zone.apex.clone();
            let has = |prefix: &str| zone.records.iter().any(|l| l.starts_with(prefix));
            let (wild, alias, big, ent) =
                (has("*.wild "), has("alias "), has("big "), has("a.ent "));
            ask(format!("www.{apex}"), "A");
            ask(format!("www.{apex}"), "AAAA");
            // RFC 8659 §3: CAA at the name, then each parent up to the TLD.
            ask(format!("www.{apex}"), "CAA");
            let mut up = Some(z);
            while let Some(i) = up {
                ask(self.world.zones[i].apex.clone(), "CAA");
                up = self.world.zones[i].parent;
            }
            ask(format!("_acme-challenge.www.{apex}"), "TXT");
            if self.dice.percent(60) {
                ask(format!("nx.{apex}"), "A");
            }
            if wild {
                ask(format!("x.wild.{apex}"), "A");
                if self.dice.percent(30) {
                    ask(format!("x.wild.{apex}"), "TXT");
                }
            }
            if alias {
                ask(format!("alias.{apex}"), "A");
            }
            if big {
                ask(format!("big.{apex}"), "TXT");
            }
            if ent {
                ask(format!("ent.{apex}"), "A");
            }
        }
        qs.truncate(MAX_QUESTIONS);
        self.world.questions = qs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_one_world() {
        for seed in [0, 1, 42, u64::MAX] {
            assert_eq!(
                generate(seed, Authority::Lab),
                generate(seed, Authority::Lab)
            );
        }
        assert_ne!(generate(1, Authority::Lab), generate(2, Authority::Lab));
    }

    #[test]
    fn worlds_are_well_formed() {
        for seed in 0..500 {
            let w = generate(seed, Authority::Lab);
            assert!(!w.questions.is_empty() && w.questions.len() <= MAX_QUESTIONS);
            let depth = w
                .zones
                .iter()
                .map(|z| z.apex.matches('.').count())
                .max()
                .unwrap_or(0);
            assert!((1..=5).contains(&depth), "seed {seed}: depth {depth}");
            for (i, z) in w.zones.iter().enumerate() {
                assert!(!z.serving.is_empty(), "seed {seed}: {} unserved", z.apex);
                assert!(z.serving.iter().all(|s| z.ns.contains(s)));
                if let Some(p) = z.parent {
                    assert!(p < i, "parents come first");
                    assert!(crate::world::in_zone(&z.apex, &w.zones[p].apex));
                }
            }
            for q in &w.questions {
                assert!(crate::world::in_zone(&q.name, &w.tld), "{q}");
            }
            let (servers, zones) = w.lab_specs();
            assert_eq!(servers.len(), w.servers.len());
            assert!(zones.len() >= w.zones.len());
        }
    }

    #[test]
    fn knot_worlds_have_no_lab_only_features() {
        for seed in 0..300 {
            let w = generate(seed, Authority::Knot);
            assert!(
                w.servers
                    .iter()
                    .all(|s| s.behaviour == Behaviour::default())
            );
            for z in &w.zones {
                assert!(z.stale.is_none());
                assert!(z.faults.iter().all(crate::world::is_parent_side));
            }
        }
    }

    /// Every feature the issue lists appears often enough in 2,000 worlds.
    #[test]
    fn features_all_appear() {
        let mut count = std::collections::BTreeMap::<&str, usize>::new();
        let mut bump =
            |k: &'static str, yes: bool| *count.entry(k).or_default() += usize::from(yes);
        for seed in 0..2000 {
            let w = generate(seed, Authority::Lab);
            for z in &w.zones {
                let p = z.parent.map(|p| &w.zones[p]);
                bump("co-hosted", p.is_some_and(|p| p.serving == z.serving));
                bump("unsigned", !z.signing.is_signed());
                bump("nsec", z.signing == Signing::Nsec);
                bump("nsec3", matches!(z.signing, Signing::Nsec3 { .. }));
                bump(
                    "opt-out",
                    matches!(z.signing, Signing::Nsec3 { opt_out: true, .. }),
                );
                bump(
                    "insecure delegation",
                    p.is_some_and(|p| p.signing.is_signed()) && !z.signing.is_signed(),
                );
                for alg in KeyAlgorithm::ALL {
                    let key = match alg {
                        KeyAlgorithm::RsaSha256 => "alg 8",
                        KeyAlgorithm::EcdsaP256Sha256 => "alg 13",
                        KeyAlgorithm::EcdsaP384Sha384 => "alg 14",
                        KeyAlgorithm::Ed25519 => "alg 15",
                    };
                    bump(key, z.signing.is_signed() && z.algorithm == alg);
                }
                bump("stale", z.stale.is_some());
                bump("lame", !w.lame(z).is_empty());
                bump("cname", z.records.iter().any(|r| r.contains(" CNAME ")));
                bump("wildcard", z.records.iter().any(|r| r.starts_with("*.")));
                bump("big", z.records.iter().any(|r| r.starts_with("big ")));
                bump("zone fault", !z.faults.is_empty());
            }
            for s in &w.servers {
                let b = &s.behaviour;
                bump("slow", b.delay_ms >= 500);
                bump("lossy", b.udp_loss.is_some());
                bump("edns-intolerant", b.edns_mode.is_some());
                bump("tcp refused", b.tcp_refused);
                bump("dead", b.mode == Mode::Timeout);
            }
            bump(
                "depth 5",
                w.zones.iter().any(|z| z.apex.matches('.').count() == 5),
            );
        }
        for (feature, n) in &count {
            assert!(*n >= 30, "{feature}: only {n} in 2,000 worlds ({count:?})");
        }
    }
}
