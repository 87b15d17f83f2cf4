//! Named scenarios shared by tests and `dcv-doctor demo`. Names follow the
//! extended-dns-errors.com labels where one fits, so verdicts can be compared with
//! Unbound's and with the public test zones.
//!
//! Every scenario is built on [`base`]: a root, `lab.` and `example.lab.` with
//! `www.example.lab.` as the name under test.

use crate::http::{HttpBehaviour, ResponderSpec};
use crate::scenario::{Mode, RrsetSelector, Scenario, ServerSpec, Signing, ZoneFault, ZoneSpec};

/// Root server name.
pub const ROOT_NS: &str = "ns.root.";
/// `lab.` TLD server name.
pub const TLD_NS: &str = "ns.lab.";
/// First `example.lab.` server.
pub const NS1: &str = "ns1.example.lab.";
/// Second `example.lab.` server.
pub const NS2: &str = "ns2.example.lab.";
/// A server that serves nothing (for lame delegations).
pub const NS3: &str = "ns3.example.lab.";
/// The zone under test.
pub const ZONE: &str = "example.lab.";
/// The name under test.
pub const WWW: &str = "www.example.lab.";
/// The HTTP responder `www` points at.
pub const WEB: &str = "web";
/// HTTP-01 token served by [`WEB`].
pub const TOKEN: &str = "lab-token-0123456789";
/// Key authorisation served for [`TOKEN`].
pub const KEY_AUTHZ: &str = "lab-token-0123456789.lab-account-thumbprint";
/// A fixed address for names that no test connects to (TEST-NET-1).
pub const UNUSED_V4: &str = "192.0.2.10";

/// Root → `lab.` → `example.lab.`, all with the given signing, two servers for
/// `example.lab.`; `www` points at the [`WEB`] responder serving [`TOKEN`];
/// a CAA record, a TXT, a wildcard below `wild` and empty non-terminals
/// `sub`/`ent.sub`.
pub fn base(signing: &Signing) -> Scenario {
    Scenario::new("base")
        .describe("root, lab. and example.lab., healthy")
        .responder(ResponderSpec::new(
            WEB,
            HttpBehaviour::ServeToken {
                token: TOKEN.into(),
                body: KEY_AUTHZ.into(),
            },
        ))
        .server(ServerSpec::new(ROOT_NS))
        .server(ServerSpec::new(TLD_NS))
        .server(ServerSpec::new(NS1))
        .server(ServerSpec::new(NS2))
        .zone(
            ZoneSpec::new(".")
                .served_by(ROOT_NS)
                .signed(signing.clone()),
        )
        .zone(
            ZoneSpec::new("lab.")
                .served_by(TLD_NS)
                .signed(signing.clone()),
        )
        .zone(
            ZoneSpec::new(ZONE)
                .served_by(NS1)
                .served_by(NS2)
                .signed(signing.clone())
                .records([
                    format!("www A {{http4:{WEB}}}"),
                    format!("www AAAA {{http6:{WEB}}}"),
                    "@ CAA 0 issue \"letsencrypt.org\"".to_owned(),
                    "_acme-challenge.www TXT \"token\"".to_owned(),
                    "*.wild A 192.0.2.20".to_owned(),
                    "deep.ent.sub A 192.0.2.30".to_owned(),
                ]),
        )
}

/// The unsigned base: the first thing the DNS engine needs.
pub fn unsigned() -> Scenario {
    base(&Signing::Unsigned).rename("no-dnssec", "no DNSSEC anywhere")
}

/// Healthy, signed with NSEC everywhere.
pub fn valid() -> Scenario {
    base(&Signing::Nsec).rename("valid", "signed chain root → lab. → example.lab.")
}

/// Healthy, signed with NSEC3 (no salt, no extra iterations).
pub fn valid_nsec3() -> Scenario {
    base(&Signing::nsec3()).rename("valid-nsec3", "signed with NSEC3 everywhere")
}

/// Signed parents, unsigned `example.lab.`: provably insecure.
pub fn insecure_delegation() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "unsigned",
            "signed parent, unsigned child: NSEC proves no DS",
        )
        .with_zone(ZONE, |z| z.signing = Signing::Unsigned)
}

/// NSEC3 with opt-out in the parents, unsigned `example.lab.`: the insecure
/// delegation is proven by an opt-out span, not by a matching NSEC3.
pub fn insecure_delegation_opt_out() -> Scenario {
    base(&Signing::Nsec3 {
        iterations: 0,
        salt: String::new(),
        opt_out: true,
    })
    .rename(
        "unsigned-nsec3-optout",
        "NSEC3 opt-out parent, unsigned child: opt-out span proves no DS",
    )
    .with_zone(ZONE, |z| z.signing = Signing::Unsigned)
}

/// `example.lab.` is signed but the parent has no DS.
pub fn no_ds() -> Scenario {
    base(&Signing::Nsec)
        .rename("no-ds", "signed child, no DS at the parent: insecure")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::NoDs))
}

/// The DS key tag matches no DNSKEY.
pub fn ds_bad_tag() -> Scenario {
    base(&Signing::Nsec)
        .rename("ds-bad-tag", "DS key tag matches no DNSKEY: bogus")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsBadTag))
}

/// The DS digest matches no DNSKEY.
pub fn ds_bogus_digest() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "ds-bogus-digest-value",
            "DS digest matches no DNSKEY: bogus",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsBadDigest))
}

/// The DS names algorithm 8 (RSASHA256) for an algorithm-13 key: bogus.
pub fn ds_bad_key_algo() -> Scenario {
    base(&Signing::Nsec)
        .rename("ds-bad-key-algo", "DS algorithm 8 for an ECDSA key: bogus")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsAlgorithm(8)))
}

/// The DS names unassigned algorithm 100: insecure (RFC 4035 §5.2).
pub fn ds_unassigned_key_algo() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "ds-unassigned-key-algo",
            "DS with unassigned algorithm 100: insecure",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsAlgorithm(100)))
}

/// The DS names reserved algorithm 200: insecure.
pub fn ds_reserved_key_algo() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "ds-reserved-key-algo",
            "DS with reserved algorithm 200: insecure",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsAlgorithm(200)))
}

/// The DS names unassigned digest type 100: insecure.
pub fn ds_unassigned_digest_algo() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "ds-unassigned-digest-algo",
            "DS with unassigned digest type 100: insecure",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsDigestType(100)))
}

/// The DNSKEY RR set lacks the KSK the DS points at.
pub fn no_ksk() -> Scenario {
    base(&Signing::Nsec)
        .rename("no-ksk", "DNSKEY RR set without the KSK: bogus")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DnskeyOmitKsk))
}

/// The DNSKEY RR set lacks the ZSK that signs the data.
pub fn no_zsk() -> Scenario {
    base(&Signing::Nsec)
        .rename("no-zsk", "DNSKEY RR set without the ZSK: bogus")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DnskeyOmitZsk))
}

/// The DNSKEY RR set has no RRSIG.
pub fn no_rrsig_dnskey() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "no-rrsig-dnskey",
            "DNSKEY RR set served without RRSIG: bogus",
        )
        .with_zone(ZONE, |z| {
            z.faults
                .push(ZoneFault::RrsigMissing(RrsetSelector::rrset("@", "DNSKEY")));
        })
}

/// The RRSIG over the DNSKEY RR set does not verify.
pub fn bad_rrsig_dnskey() -> Scenario {
    base(&Signing::Nsec)
        .rename("bad-rrsig-dnskey", "RRSIG over DNSKEY corrupted: bogus")
        .with_zone(ZONE, |z| {
            z.faults
                .push(ZoneFault::RrsigCorrupt(RrsetSelector::rrset("@", "DNSKEY")));
        })
}

fn www_a() -> RrsetSelector {
    RrsetSelector::rrset("www", "A")
}

/// The RRSIG over `www A` has expired.
pub fn rrsig_exp_a() -> Scenario {
    base(&Signing::Nsec)
        .rename("rrsig-exp-a", "RRSIG over www A expired")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::RrsigExpired(www_a())))
}

/// Every RRSIG of `example.lab.` has expired.
pub fn rrsig_exp_all() -> Scenario {
    base(&Signing::Nsec)
        .rename("rrsig-exp-all", "every RRSIG of example.lab. expired")
        .with_zone(ZONE, |z| {
            z.faults.push(ZoneFault::RrsigExpired(RrsetSelector::All));
        })
}

/// The RRSIG over `www A` is not yet valid.
pub fn rrsig_not_yet_a() -> Scenario {
    base(&Signing::Nsec)
        .rename("rrsig-not-yet-a", "RRSIG over www A not yet valid")
        .with_zone(ZONE, |z| {
            z.faults.push(ZoneFault::RrsigNotYetValid(www_a()));
        })
}

/// `www A` has no RRSIG.
pub fn rrsig_no_a() -> Scenario {
    base(&Signing::Nsec)
        .rename("rrsig-no-a", "www A served without RRSIG")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::RrsigMissing(www_a())))
}

/// No RRSIGs at all in `example.lab.`.
pub fn rrsig_no_all() -> Scenario {
    base(&Signing::Nsec)
        .rename("rrsig-no-all", "example.lab. served without any RRSIG")
        .with_zone(ZONE, |z| {
            z.faults.push(ZoneFault::RrsigMissing(RrsetSelector::All));
        })
}

/// The RRSIG over `www A` does not verify.
pub fn bad_rrsig_a() -> Scenario {
    base(&Signing::Nsec)
        .rename("bad-rrsig-a", "RRSIG over www A has a corrupted signature")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::RrsigCorrupt(www_a())))
}

/// The DNSKEY RR set is signed only by the ZSK.
pub fn no_rrsig_ksk() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "no-rrsig-ksk",
            "DNSKEY RRset not signed by the DS-matched KSK",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DnskeyNotSignedByKsk))
}

/// NXDOMAIN answers carry no NSEC3 records.
pub fn nsec3_missing() -> Scenario {
    base(&Signing::nsec3())
        .rename("nsec3-missing", "negative answers without NSEC3 records")
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DenialMissing))
}

/// NSEC records that cover nothing (signed, but the proof fails).
pub fn bad_nsec() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "bad-nsec-next",
            "NSEC records cover nothing: denial proofs fail",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DenialCorrupt))
}

/// NSEC3 next-hash values that cover nothing.
pub fn bad_nsec3_next() -> Scenario {
    base(&Signing::nsec3())
        .rename(
            "bad-nsec3-next",
            "NSEC3 records cover nothing: denial proofs fail",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DenialCorrupt))
}

/// NSEC3 with 200 extra iterations (RFC 9276: validators may call it insecure).
pub fn nsec3_iter_200() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "nsec3-iter-200",
            "example.lab. uses NSEC3 with 200 iterations",
        )
        .with_zone(ZONE, |z| {
            z.signing = Signing::Nsec3 {
                iterations: 200,
                salt: "aabbccdd".into(),
                opt_out: false,
            };
        })
}

/// `www.example.lab.` does not exist (the base has no such name: use `nx`).
pub fn nxdomain() -> Scenario {
    base(&Signing::Nsec)
        .rename("nxdomain", "the name under test does not exist")
        .with_zone(ZONE, |z| z.records.retain(|r| !r.starts_with("www ")))
}

/// Every `example.lab.` server answers SERVFAIL.
pub fn servfail() -> Scenario {
    base(&Signing::Unsigned)
        .rename("servfail", "every example.lab. server answers SERVFAIL")
        .with_server(NS1, |s| s.behaviour.mode = Mode::ServFail)
        .with_server(NS2, |s| s.behaviour.mode = Mode::ServFail)
}

/// Every `example.lab.` server answers REFUSED.
pub fn refused() -> Scenario {
    base(&Signing::Unsigned)
        .rename(
            "allow-query-none",
            "every example.lab. server answers REFUSED",
        )
        .with_server(NS1, |s| s.behaviour.mode = Mode::Refused)
        .with_server(NS2, |s| s.behaviour.mode = Mode::Refused)
}

/// Every `example.lab.` server is silent.
pub fn timeout() -> Scenario {
    base(&Signing::Unsigned)
        .rename("timeout", "every example.lab. server times out")
        .with_server(NS1, |s| s.behaviour.mode = Mode::Timeout)
        .with_server(NS2, |s| s.behaviour.mode = Mode::Timeout)
}

/// One of two servers times out (the resolver must retry the other).
pub fn one_server_timeout() -> Scenario {
    base(&Signing::Unsigned)
        .rename("one-timeout", "ns2.example.lab. times out, ns1 answers")
        .with_server(NS2, |s| s.behaviour.mode = Mode::Timeout)
}

/// The `example.lab.` servers answer without AA.
pub fn lame() -> Scenario {
    base(&Signing::Unsigned)
        .rename("not-auth", "example.lab. servers answer without AA (lame)")
        .with_server(NS1, |s| s.behaviour.mode = Mode::NotAuthoritative)
        .with_server(NS2, |s| s.behaviour.mode = Mode::NotAuthoritative)
}

/// `lab.` delegates to `ns1` and to `ns3.example.lab.`, which does not serve the
/// zone (it answers REFUSED): a lame delegation.
pub fn lame_delegation() -> Scenario {
    base(&Signing::Unsigned)
        .rename(
            "lame-delegation",
            "example.lab. delegated to ns3, which does not serve it (REFUSED)",
        )
        .server(ServerSpec::new(NS3))
        .with_zone("lab.", |z| {
            z.records.push(format!("example NS {NS1}"));
            z.records.push(format!("example NS {NS3}"));
        })
}

/// `ns3.example.lab.` is in the NS set of `example.lab.` (at `lab.` and in
/// the zone) but serves only the parent, `lab.`: asked for a name under
/// `example.lab.`, it refers to `example.lab.` itself. The engine calls that
/// lame and asks ns1/ns2; Unbound takes the referral as NODATA whenever it
/// picks ns3. Not in [`all`]: an oracle comparison would depend on which
/// server Unbound happens to pick.
pub fn lame_self_referral() -> Scenario {
    let ns_set = [NS1, NS2, NS3];
    base(&Signing::Unsigned)
        .rename(
            "lame-self-referral",
            "ns3 is listed for example.lab. but serves only lab.: it refers example.lab. to itself",
        )
        .server(ServerSpec::new(NS3))
        .with_zone("lab.", |z| {
            z.servers.push(NS3.to_owned());
            z.records
                .extend(ns_set.iter().map(|ns| format!("example NS {ns}")));
        })
        .with_zone(ZONE, |z| {
            z.records
                .extend(ns_set.iter().map(|ns| format!("@ NS {ns}")));
        })
}

/// `lab.` delegates `example.lab.` to in-bailiwick servers without glue: the
/// servers' addresses can only be found by asking those very servers.
pub fn missing_glue() -> Scenario {
    base(&Signing::Unsigned)
        .rename(
            "missing-glue",
            "in-bailiwick NS for example.lab. without glue",
        )
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::NoGlue))
}

/// UDP answers are truncated; TCP answers in full.
pub fn tc_tcp() -> Scenario {
    base(&Signing::Nsec)
        .rename("tc-tcp", "example.lab. sets TC over UDP, answers over TCP")
        .with_server(NS1, |s| s.behaviour.truncate_udp = true)
        .with_server(NS2, |s| s.behaviour.truncate_udp = true)
}

/// `ns1` serves two zones and fails only one of them.
pub fn servfail_one_zone() -> Scenario {
    base(&Signing::Unsigned)
        .rename(
            "servfail-one-zone",
            "ns1 serves lab. and example.lab., SERVFAIL for example.lab. only",
        )
        .with_zone("lab.", |z| z.servers.push(NS1.into()))
        .with_server(NS1, |s| {
            s.behaviour.per_zone.push(crate::scenario::ZoneMode {
                apex: ZONE.into(),
                mode: Mode::ServFail,
            });
        })
}

/// The `example.lab.` servers time out on CAA queries only (an old appliance
/// that drops unknown types), and answer everything else.
pub fn caa_timeout() -> Scenario {
    base(&Signing::Unsigned)
        .rename(
            "caa-timeout",
            "example.lab. servers never answer CAA queries",
        )
        .with_server(NS1, |s| *s = s.clone().type_mode("CAA", Mode::Timeout))
        .with_server(NS2, |s| *s = s.clone().type_mode("CAA", Mode::Timeout))
}

/// The `example.lab.` servers answer SERVFAIL to CAA queries only.
pub fn caa_servfail() -> Scenario {
    base(&Signing::Unsigned)
        .rename(
            "caa-servfail",
            "example.lab. servers answer SERVFAIL to CAA",
        )
        .with_server(NS1, |s| *s = s.clone().type_mode("CAA", Mode::ServFail))
        .with_server(NS2, |s| *s = s.clone().type_mode("CAA", Mode::ServFail))
}

/// Every `example.lab.` answer takes 300 ms.
pub fn slow() -> Scenario {
    base(&Signing::Unsigned)
        .rename("slow", "example.lab. servers answer after 300 ms")
        .with_server(NS1, |s| s.behaviour.delay_ms = 300)
        .with_server(NS2, |s| s.behaviour.delay_ms = 300)
}

/// `www` is a CNAME to `target.other.lab.` (another zone), which has the address.
pub fn cname_cross_zone() -> Scenario {
    base(&Signing::Nsec)
        .rename("cname-cross-zone", "www.example.lab. CNAME into other.lab.")
        .server(ServerSpec::new("ns.other.lab."))
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.starts_with("www "));
            z.records.push("www CNAME alias.example.lab.".into());
            z.records.push("alias CNAME target.other.lab.".into());
        })
        .zone(
            ZoneSpec::new("other.lab.")
                .served_by("ns.other.lab.")
                .signed(Signing::Nsec)
                .record(format!("target A {{http4:{WEB}}}")),
        )
}

/// `www` → `loop1` → `www`: a CNAME loop.
pub fn cname_loop() -> Scenario {
    base(&Signing::Nsec)
        .rename("cname-loop", "www.example.lab. is part of a CNAME loop")
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.starts_with("www "));
            z.records.push("www CNAME loop1.example.lab.".into());
            z.records.push("loop1 CNAME www.example.lab.".into());
        })
}

/// `example.lab.` is served by `ns.dns-provider.com.`, whose address needs its own
/// resolution through `com.` (no glue anywhere).
pub fn out_of_bailiwick_ns() -> Scenario {
    let mut s = base(&Signing::Nsec).rename(
        "out-of-bailiwick-ns",
        "example.lab. delegated to ns.dns-provider.com. (no glue)",
    );
    s.servers.retain(|x| x.name != NS1 && x.name != NS2);
    s.server(ServerSpec::new("ns.com."))
        .server(ServerSpec::new("ns.dns-provider.com."))
        .with_zone(ZONE, |z| z.servers = vec!["ns.dns-provider.com.".into()])
        .zone(
            ZoneSpec::new("com.")
                .served_by("ns.com.")
                .signed(Signing::Nsec),
        )
        .zone(
            ZoneSpec::new("dns-provider.com.")
                .served_by("ns.dns-provider.com.")
                .signed(Signing::Nsec),
        )
}

/// `ns2` serves a stale copy of `example.lab.` with an old address for `www`.
pub fn stale_secondary() -> Scenario {
    let mut s = base(&Signing::Unsigned).rename(
        "stale-secondary",
        "ns2.example.lab. serves an old copy of example.lab.",
    );
    if let Some(z) = s.zone_mut(ZONE) {
        z.servers.retain(|n| n != NS2);
    }
    s.zone(
        ZoneSpec::new(ZONE)
            .served_by(NS2)
            .record("www A 192.0.2.99"),
    )
}

/// An old provider still serves `example.lab.`, but the parent no longer
/// delegates to it.
pub fn old_provider() -> Scenario {
    base(&Signing::Unsigned)
        .rename(
            "old-provider",
            "ns.old-provider.lab. still serves example.lab. with stale data",
        )
        .server(ServerSpec::new("ns.old-provider.lab."))
        .zone(
            ZoneSpec::new(ZONE)
                .served_by("ns.old-provider.lab.")
                .record("www A 192.0.2.98")
                .fault(ZoneFault::NotDelegated),
        )
}

/// `www.example.lab.` is reached through a DNAME at `old.lab.`.
pub fn dname() -> Scenario {
    base(&Signing::Nsec)
        .rename("dname", "old.lab. DNAME example.lab.")
        .with_zone("lab.", |z| z.records.push("old DNAME example.lab.".into()))
}

/// Every `example.lab.` answer takes `delay` (the servers of the root and
/// `lab.` stay fast: a slow provider, not a slow Internet). Signed, so the
/// DNSKEY and DS fetches pay the delay too.
pub fn slow_servers(delay: std::time::Duration) -> Scenario {
    let ms = delay.as_millis();
    base(&Signing::Nsec)
        .rename(
            format!("slow-{ms}ms"),
            format!("every example.lab. server answers after {ms} ms"),
        )
        .with_server(NS1, |s| *s = s.clone().delay(delay))
        .with_server(NS2, |s| *s = s.clone().delay(delay))
}

/// A lossy path: every server (root, `lab.`, `example.lab.`) loses the first
/// UDP try of each question and answers the retry.
pub fn lossy_path() -> Scenario {
    let mut s = base(&Signing::Nsec).rename(
        "lossy-path",
        "every server loses the first UDP try of each question",
    );
    for server in &mut s.servers {
        server.behaviour.loss = Some(crate::scenario::Loss::first_udp_tries(1));
    }
    s
}

/// One slow server among fast ones: `ns2.example.lab.` answers after 2 s.
pub fn one_slow_server() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "one-slow",
            "ns2.example.lab. answers after 2 s, ns1 at once",
        )
        .with_server(NS2, |s| {
            *s = s.clone().delay(std::time::Duration::from_secs(2));
        })
}

/// Loss on one server only: `ns2.example.lab.` loses the first UDP try of
/// each question.
pub fn lossy_server() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "lossy-one-server",
            "ns2.example.lab. loses the first UDP try of each question",
        )
        .with_server(NS2, |s| {
            *s = s.clone().loss(crate::scenario::Loss::first_udp_tries(1));
        })
}

/// Jittery latency: `example.lab.` answers take 300 ms plus up to 600 ms.
pub fn jittery() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "jittery",
            "example.lab. servers answer after 300-900 ms (seeded jitter)",
        )
        .with_server(NS1, |s| {
            *s = s
                .clone()
                .delay(std::time::Duration::from_millis(300))
                .jitter(std::time::Duration::from_millis(600), 1);
        })
        .with_server(NS2, |s| {
            *s = s
                .clone()
                .delay(std::time::Duration::from_millis(300))
                .jitter(std::time::Duration::from_millis(600), 2);
        })
}

/// Slow only over TCP: the `example.lab.` servers truncate every UDP answer
/// and answer over TCP after 1 s.
pub fn tcp_slow() -> Scenario {
    base(&Signing::Nsec)
        .rename(
            "tcp-slow",
            "example.lab. sets TC over UDP and answers over TCP after 1 s",
        )
        .with_server(NS1, |s| {
            *s = s
                .clone()
                .truncate_udp()
                .tcp_delay(std::time::Duration::from_secs(1));
        })
        .with_server(NS2, |s| {
            *s = s
                .clone()
                .truncate_udp()
                .tcp_delay(std::time::Duration::from_secs(1));
        })
}

// Zone cuts without a referral (issue #15, section 1): the same servers
// serve a parent and its child, so the walk gets the child's answer (or a
// referral from a zone it never saw) without a referral to the child.

/// A second `lab.` server that serves only `lab.` (and refers for children).
pub const TLD_NS2: &str = "ns2.lab.";
/// A provider's server that serves `lab.` and a grandchild zone of it.
pub const PROVIDER_NS: &str = "nsx.lab.";
/// The public suffix of the three-level scenarios (like `co.uk.`).
pub const SUFFIX: &str = "co.lab.";
/// The registered domain under [`SUFFIX`] (like `example.co.uk.`).
pub const SUFFIX_DOMAIN: &str = "example.co.lab.";
/// The own server of [`SUFFIX_DOMAIN`] in the `suffix-referred` scenarios.
pub const SUFFIX_DOMAIN_NS: &str = "ns1.example.co.lab.";
/// A child zone of `example.lab.` (grandparent scenarios).
pub const CHILD: &str = "child.example.lab.";
/// A child zone of `example.lab.` below the empty non-terminal `ent2`.
pub const ENT_CHILD: &str = "child.ent2.example.lab.";

/// The records a child zone under test gets: an address for `www`, a CAA
/// set at the apex and a TXT for DNS-01.
fn child_records() -> Vec<String> {
    vec![
        format!("www A {{http4:{WEB}}}"),
        "@ CAA 0 issue \"letsencrypt.org\"".to_owned(),
        "_acme-challenge.www TXT \"token\"".to_owned(),
    ]
}

/// `lab.` and `example.lab.` on the same server `ns.lab.`, as a registry
/// serves a TLD and its second-level zones: `ns.lab.` answers for
/// `www.example.lab.` itself and never refers to `example.lab.`.
pub fn cohosted(signing: &Signing) -> Scenario {
    let mut s = base(signing).rename(
        "cohost-valid",
        "lab. and example.lab. on the same server: answers without a referral",
    );
    s.servers.retain(|x| x.name != NS1 && x.name != NS2);
    s.with_zone(ZONE, |z| z.servers = vec![TLD_NS.into()])
}

/// Three zones on one server, like `uk.`, `co.uk.` and `example.co.uk.`:
/// `lab.`, [`SUFFIX`] and [`SUFFIX_DOMAIN`] on `ns.lab.`; the root refers
/// to `lab.` and every other answer comes without a referral.
pub fn cohosted_suffix(signing: &Signing) -> Scenario {
    Scenario::new("suffix-valid")
        .describe("lab., co.lab. and example.co.lab. on the same server")
        .responder(ResponderSpec::new(
            WEB,
            HttpBehaviour::ServeToken {
                token: TOKEN.into(),
                body: KEY_AUTHZ.into(),
            },
        ))
        .server(ServerSpec::new(ROOT_NS))
        .server(ServerSpec::new(TLD_NS))
        .zone(
            ZoneSpec::new(".")
                .served_by(ROOT_NS)
                .signed(signing.clone()),
        )
        .zone(
            ZoneSpec::new("lab.")
                .served_by(TLD_NS)
                .signed(signing.clone()),
        )
        .zone(
            ZoneSpec::new(SUFFIX)
                .served_by(TLD_NS)
                .signed(signing.clone()),
        )
        .zone(
            ZoneSpec::new(SUFFIX_DOMAIN)
                .served_by(TLD_NS)
                .signed(signing.clone())
                .records([
                    format!("www A {{http4:{WEB}}}"),
                    format!("www AAAA {{http6:{WEB}}}"),
                    "@ CAA 0 issue \"letsencrypt.org\"".to_owned(),
                    "_acme-challenge.www TXT \"token\"".to_owned(),
                    "*.wild A 192.0.2.20".to_owned(),
                    "deep.ent.sub A 192.0.2.30".to_owned(),
                ]),
        )
}

/// Every co-hosting scenario (parent and child on the same servers), secure,
/// insecure and bogus, for the resolver differential tests and the demo.
pub fn cohosted_all() -> Vec<Scenario> {
    let opt_out = Signing::Nsec3 {
        iterations: 0,
        salt: String::new(),
        opt_out: true,
    };
    let unsigned_zone = |z: &mut ZoneSpec| z.signing = Signing::Unsigned;
    vec![
        cohosted(&Signing::Nsec),
        cohosted(&Signing::nsec3()).rename(
            "cohost-valid-nsec3",
            "lab. and example.lab. on one server, NSEC3",
        ),
        cohosted(&Signing::Nsec)
            .rename(
                "cohost-unsigned",
                "unsigned example.lab. on the server of signed lab.: NSEC proves no DS",
            )
            .with_zone(ZONE, unsigned_zone),
        cohosted(&Signing::nsec3())
            .rename(
                "cohost-unsigned-nsec3",
                "unsigned example.lab. on the server of NSEC3-signed lab.",
            )
            .with_zone(ZONE, unsigned_zone),
        cohosted(&opt_out)
            .rename(
                "cohost-unsigned-optout",
                "unsigned example.lab. in an NSEC3 opt-out span of lab., same server",
            )
            .with_zone(ZONE, unsigned_zone),
        cohosted(&Signing::Nsec)
            .rename(
                "cohost-no-ds",
                "signed example.lab. without DS in lab., same server: insecure",
            )
            .with_zone(ZONE, |z| z.faults.push(ZoneFault::NoDs)),
        cohosted(&Signing::Nsec)
            .rename(
                "cohost-ds-bad-digest",
                "DS for example.lab. matches no DNSKEY, same server as lab.: bogus",
            )
            .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsBadDigest)),
        cohosted(&Signing::Nsec)
            .rename(
                "cohost-rrsig-exp-a",
                "RRSIG over www A expired in example.lab., same server as lab.: bogus",
            )
            .with_zone(ZONE, |z| z.faults.push(ZoneFault::RrsigExpired(www_a()))),
        cohosted_cname(&Signing::Nsec),
        cohosted_cname(&Signing::Nsec)
            .rename(
                "cohost-cname-unsigned",
                "www in unsigned example.lab. CNAME into signed lab., same server",
            )
            .with_zone(ZONE, unsigned_zone),
        cohosted_partial(&Signing::Nsec),
        cohosted_partial(&Signing::Nsec)
            .rename(
                "cohost-partial-unsigned",
                "unsigned example.lab. co-hosted on one of the two lab. servers",
            )
            .with_zone(ZONE, unsigned_zone),
        cohosted_grandparent(&Signing::Nsec),
        cohosted_grandparent(&Signing::Nsec)
            .rename(
                "cohost-grandparent-unsigned",
                "unsigned child.example.lab. on a server that also serves lab.",
            )
            .with_zone(CHILD, unsigned_zone),
        cohosted_ent(&Signing::Nsec),
        cohosted_ent(&Signing::Nsec)
            .rename(
                "cohost-ent-unsigned",
                "unsigned child.ent2.example.lab. on the servers of example.lab.",
            )
            .with_zone(ENT_CHILD, unsigned_zone),
        cohosted_ent(&Signing::nsec3())
            .rename(
                "cohost-ent-unsigned-nsec3",
                "unsigned child.ent2.example.lab. under NSEC3 example.lab., same servers",
            )
            .with_zone(ENT_CHILD, unsigned_zone),
        cohosted_ent(&opt_out)
            .rename(
                "cohost-ent-optout",
                "unsigned child.ent2.example.lab. in an opt-out span, same servers",
            )
            .with_zone(ENT_CHILD, unsigned_zone),
        cohosted(&Signing::Nsec)
            .rename(
                "cohost-ds-from-child",
                "the only server answers DS for example.lab. from the child (RFC 4035 §3.1.4.1)",
            )
            .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsAnsweredFromChild)),
        cohosted_ds_from_child_on_one(),
        cohosted_suffix(&Signing::Nsec),
        cohosted_suffix(&Signing::nsec3()).rename(
            "suffix-valid-nsec3",
            "lab., co.lab. and example.co.lab. on one server, NSEC3",
        ),
        cohosted_suffix(&Signing::Nsec)
            .rename(
                "suffix-unsigned-domain",
                "unsigned example.co.lab. under signed co.lab., all on one server",
            )
            .with_zone(SUFFIX_DOMAIN, unsigned_zone),
        cohosted_suffix(&Signing::Nsec)
            .rename(
                "suffix-unsigned-suffix",
                "unsigned co.lab. between signed lab. and signed example.co.lab.",
            )
            .with_zone(SUFFIX, unsigned_zone),
        cohosted_suffix(&opt_out)
            .rename(
                "suffix-optout",
                "opt-out lab. and co.lab., unsigned example.co.lab., one server",
            )
            .with_zone(SUFFIX_DOMAIN, unsigned_zone),
        cohosted_suffix(&Signing::Nsec)
            .rename(
                "suffix-ds-bad-digest",
                "DS for example.co.lab. matches no DNSKEY, all on one server: bogus",
            )
            .with_zone(SUFFIX_DOMAIN, |z| z.faults.push(ZoneFault::DsBadDigest)),
        cohosted_suffix_referral(&Signing::Nsec),
        cohosted_suffix_referral(&Signing::Nsec)
            .rename(
                "suffix-referred-unsigned-domain",
                "unsigned example.co.lab. referred to from co.lab. on the server of lab.",
            )
            .with_zone(SUFFIX_DOMAIN, unsigned_zone),
        cohosted_suffix_referral(&Signing::Nsec)
            .rename(
                "suffix-referred-unsigned-suffix",
                "unsigned co.lab. on the server of lab., signed example.co.lab. referred to",
            )
            .with_zone(SUFFIX, unsigned_zone),
        cohosted_suffix_referral(&Signing::nsec3())
            .rename(
                "suffix-referred-ds-bad-digest",
                "DS for example.co.lab. in co.lab. (same server as lab.) matches no DNSKEY",
            )
            .with_zone(SUFFIX_DOMAIN, |z| z.faults.push(ZoneFault::DsBadDigest)),
        cohosted_suffix(&Signing::Nsec)
            .rename(
                "suffix-rrsig-exp-a",
                "RRSIG over www A expired in example.co.lab., all on one server: bogus",
            )
            .with_zone(SUFFIX_DOMAIN, |z| {
                z.faults.push(ZoneFault::RrsigExpired(www_a()));
            }),
    ]
}

/// `lab.` and [`SUFFIX`] on `ns.lab.`, [`SUFFIX_DOMAIN`] on its own server
/// [`SUFFIX_DOMAIN_NS`]: `ns.lab.` refers to the domain from `co.lab.`, a
/// zone the walk was never referred to.
pub fn cohosted_suffix_referral(signing: &Signing) -> Scenario {
    cohosted_suffix(signing)
        .rename(
            "suffix-referred",
            "lab. and co.lab. on one server, which refers to example.co.lab. from co.lab.",
        )
        .server(ServerSpec::new(SUFFIX_DOMAIN_NS))
        .with_zone(SUFFIX_DOMAIN, |z| z.servers = vec![SUFFIX_DOMAIN_NS.into()])
}

/// `www.example.lab.` is a CNAME to `target.lab.` in the parent, both zones
/// on `ns.lab.`.
pub fn cohosted_cname(signing: &Signing) -> Scenario {
    cohosted(signing)
        .rename(
            "cohost-cname",
            "www in example.lab. CNAME into lab., both on one server",
        )
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.starts_with("www "));
            z.records.push("www CNAME target.lab.".into());
        })
        .with_zone("lab.", |z| {
            z.records.push(format!("target A {{http4:{WEB}}}"));
            z.records.push(format!("target AAAA {{http6:{WEB}}}"));
        })
}

/// `lab.` on `ns.lab.` and [`TLD_NS2`]; `example.lab.` on `ns.lab.` and its
/// own `ns1.example.lab.`: `ns.lab.` answers for the child, `ns2.lab.` refers.
pub fn cohosted_partial(signing: &Signing) -> Scenario {
    let mut s = base(signing).rename(
        "cohost-partial",
        "example.lab. co-hosted on one of the two lab. servers, the other refers",
    );
    s.servers.retain(|x| x.name != NS2);
    s.server(ServerSpec::new(TLD_NS2))
        .with_zone("lab.", |z| z.servers.push(TLD_NS2.into()))
        .with_zone(ZONE, |z| z.servers = vec![TLD_NS.into(), NS1.into()])
}

/// `child.example.lab.` is served by [`PROVIDER_NS`], which also serves the
/// grandparent `lab.` (but not `example.lab.`): asked for a name in the
/// child while walking `lab.`, it answers from the child.
pub fn cohosted_grandparent(signing: &Signing) -> Scenario {
    base(signing)
        .rename(
            "cohost-grandparent",
            "child.example.lab.'s server also serves lab. and answers without a referral",
        )
        .server(ServerSpec::new(PROVIDER_NS))
        .with_zone("lab.", |z| z.servers.push(PROVIDER_NS.into()))
        .zone(
            ZoneSpec::new(CHILD)
                .served_by(PROVIDER_NS)
                .signed(signing.clone())
                .records(child_records()),
        )
}

/// `child.ent2.example.lab.` on the servers of `example.lab.`, with the
/// empty non-terminal `ent2.example.lab.` between them.
pub fn cohosted_ent(signing: &Signing) -> Scenario {
    base(signing)
        .rename(
            "cohost-ent",
            "child.ent2.example.lab. on the servers of example.lab., an ENT between",
        )
        .zone(
            ZoneSpec::new(ENT_CHILD)
                .served_by(NS1)
                .served_by(NS2)
                .signed(signing.clone())
                .records(child_records()),
        )
}

/// `lab.` and `example.lab.` on `ns.lab.` and [`TLD_NS2`]; `ns.lab.` answers
/// the DS query for `example.lab.` from the child, `ns2.lab.` correctly from
/// `lab.`.
pub fn cohosted_ds_from_child_on_one() -> Scenario {
    let mut s = cohosted(&Signing::Nsec).rename(
        "cohost-ds-from-child-one",
        "one of two servers answers DS for example.lab. from the child",
    );
    s = s
        .server(ServerSpec::new(TLD_NS2))
        .with_zone("lab.", |z| z.servers.push(TLD_NS2.into()));
    let mut good = s.zone_mut(ZONE).cloned().unwrap_or_default();
    good.servers = vec![TLD_NS2.into()];
    s.zone(good)
        .with_zone(ZONE, |z| z.faults.push(ZoneFault::DsAnsweredFromChild))
}

/// All catalogue scenarios, by name.
pub fn all() -> Vec<Scenario> {
    let mut all = classic();
    all.extend(cohosted_all());
    all
}

/// The scenarios with the base's tree (root, `lab.`, `example.lab.`, each
/// zone on its own servers).
fn classic() -> Vec<Scenario> {
    vec![
        unsigned(),
        valid(),
        valid_nsec3(),
        insecure_delegation(),
        insecure_delegation_opt_out(),
        no_ds(),
        ds_bad_tag(),
        ds_bogus_digest(),
        ds_bad_key_algo(),
        ds_unassigned_key_algo(),
        ds_reserved_key_algo(),
        ds_unassigned_digest_algo(),
        no_ksk(),
        no_zsk(),
        no_rrsig_dnskey(),
        bad_rrsig_dnskey(),
        rrsig_exp_a(),
        rrsig_exp_all(),
        rrsig_not_yet_a(),
        rrsig_no_a(),
        rrsig_no_all(),
        bad_rrsig_a(),
        no_rrsig_ksk(),
        nsec3_missing(),
        bad_nsec(),
        bad_nsec3_next(),
        nsec3_iter_200(),
        nxdomain(),
        servfail(),
        refused(),
        timeout(),
        one_server_timeout(),
        lame(),
        lame_delegation(),
        missing_glue(),
        tc_tcp(),
        servfail_one_zone(),
        slow(),
        caa_timeout(),
        caa_servfail(),
        cname_cross_zone(),
        cname_loop(),
        out_of_bailiwick_ns(),
        stale_secondary(),
        old_provider(),
        dname(),
        slow_servers(std::time::Duration::from_millis(1500)),
        lossy_path(),
        one_slow_server(),
        lossy_server(),
        jittery(),
        tcp_slow(),
    ]
}

/// A catalogue scenario by name.
///
/// `slow-<N>ms` (N from 1 to 30,000) names [`slow_servers`] with any delay,
/// so that a resolver's timing can be studied at the latency a user reports.
pub fn by_name(name: &str) -> Option<Scenario> {
    let slow_ms = name
        .strip_prefix("slow-")
        .and_then(|n| n.strip_suffix("ms"))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|ms| (1..=30_000).contains(ms));
    if let Some(ms) = slow_ms {
        return Some(slow_servers(std::time::Duration::from_millis(ms)));
    }
    all().into_iter().find(|s| s.name == name)
}
