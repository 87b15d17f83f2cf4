//! Zone cuts without a referral (issue #15 §1): the same servers serve a
//! parent and its child, so the walk gets the child's answer (or a referral
//! from a zone it never saw) and no referral to the child. The engine must
//! find those cuts as validators do and say how it found them; the verdicts
//! themselves are compared with Unbound and delv in `unbound_differential.rs`
//! and `delv_differential.rs` (`catalogue::cohosted_all`).

mod common;

use common::config;
use dcv_dns::{
    BogusReason, CutSource, DenialKind, DnsName, Engine, InsecureReason, Lookup, Outcome,
    RecordType, Security, ServFailReason, ServerVerdict, render_trace,
};
use dcv_lab::{Lab, Scenario, catalogue};

fn name(s: &str) -> DnsName {
    DnsName::parse(s).unwrap()
}

fn by_name(scenario: &str) -> Scenario {
    catalogue::cohosted_all()
        .into_iter()
        .find(|s| s.name == scenario)
        .unwrap_or_else(|| panic!("no co-hosting scenario {scenario}"))
}

async fn run(scenario: &str, qname: &str, qtype: RecordType) -> (Lookup, Engine, Lab) {
    let lab = Lab::start(by_name(scenario)).await.expect("lab starts");
    let engine = Engine::new(config(&lab));
    let lookup = engine.lookup(&name(qname), qtype).await;
    println!("{}", render_trace(&lookup));
    (lookup, engine, lab)
}

/// (zone, how it was found) of every cut in the lookup's evidence.
fn cuts(l: &Lookup) -> Vec<(&str, CutSource)> {
    l.zone_cuts
        .iter()
        .map(|c| (c.zone.as_str(), c.found_by))
        .collect()
}

/// (zone, parent whose DS was used) of every chain-of-trust step.
fn steps(l: &Lookup) -> Vec<(&str, Option<&str>)> {
    l.validation
        .iter()
        .map(|s| (s.zone.as_str(), s.parent.as_ref().map(DnsName::as_str)))
        .collect()
}

fn bogus(l: &Lookup) -> &BogusReason {
    match (&l.security, &l.outcome) {
        (
            Security::Bogus(r),
            Outcome::ServFail {
                why: ServFailReason::Bogus(r2),
            },
        ) => {
            assert_eq!(r, r2, "resolver view carries the same reason");
            r
        }
        other => panic!("expected bogus + SERVFAIL, got {other:?}"),
    }
}

#[tokio::test]
async fn co_hosted_signed_child_is_secure_and_its_cut_found_by_the_signer() {
    for scenario in ["cohost-valid", "cohost-valid-nsec3"] {
        let (l, _e, lab) = run(scenario, "www.example.lab", RecordType::A).await;
        assert_eq!(l.security, Security::Secure, "{scenario}");
        assert_eq!(
            cuts(&l),
            [
                (".", CutSource::RootHints),
                ("lab.", CutSource::Referral),
                ("example.lab.", CutSource::SignerName),
            ],
            "{scenario}"
        );
        assert_eq!(
            steps(&l),
            [
                (".", None),
                ("lab.", Some(".")),
                ("example.lab.", Some("lab."))
            ]
        );
        // The found cut names the servers that answer for the child: the
        // server of lab., by its NS RRset at the child's apex.
        let cut = l.zone_cut_for(&name("www.example.lab")).unwrap();
        assert_eq!(cut.zone.as_str(), "example.lab.");
        assert_eq!(cut.parent.as_ref().map(DnsName::as_str), Some("lab."));
        assert_eq!(cut.referred_by, None);
        assert_eq!(cut.ns_names, [name(catalogue::TLD_NS)]);
        let tld = lab.server_addrs(catalogue::TLD_NS);
        assert!(!cut.servers.is_empty());
        assert!(
            cut.servers.iter().all(|s| tld.contains(&s.addr.ip())),
            "{cut:?}"
        );
        // No referral: the server of lab. answered, and its answer is
        // marked as example.lab.'s, the zone it came from.
        let answer = l
            .server_answers
            .iter()
            .find(|a| {
                a.chosen
                    && a.qtype == RecordType::A
                    && matches!(a.verdict, ServerVerdict::Answer { .. })
            })
            .unwrap();
        assert_eq!(answer.zone.as_str(), "example.lab.");
        assert!(tld.contains(&answer.server.addr.ip()));
        assert!(
            !l.server_answers
                .iter()
                .any(|a| matches!(a.verdict, ServerVerdict::Referral { ref zone, .. } if zone.as_str() == "example.lab.")),
            "no referral to the child"
        );
    }
}

#[tokio::test]
async fn three_co_hosted_levels_are_secure() {
    let (l, _e, _lab) = run("suffix-valid", "www.example.co.lab", RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(
        cuts(&l),
        [
            (".", CutSource::RootHints),
            ("lab.", CutSource::Referral),
            ("co.lab.", CutSource::DsProbe),
            ("example.co.lab.", CutSource::SignerName),
        ]
    );
    assert_eq!(
        steps(&l),
        [
            (".", None),
            ("lab.", Some(".")),
            ("co.lab.", Some("lab.")),
            ("example.co.lab.", Some("co.lab.")),
        ]
    );
    let trace = render_trace(&l);
    assert!(
        trace.contains("zone example.co.lab. (cut below co.lab. found by signer name"),
        "{trace}"
    );
    assert!(trace.contains("DS in co.lab."), "{trace}");
}

#[tokio::test]
async fn co_hosted_unsigned_child_is_insecure_by_nsec_nsec3_and_opt_out() {
    for (scenario, expected) in [
        (
            "cohost-unsigned",
            Security::Insecure(InsecureReason::NoDs {
                zone: name("example.lab"),
                parent: name("lab"),
                proof: DenialKind::Nsec,
            }),
        ),
        (
            "cohost-unsigned-nsec3",
            Security::Insecure(InsecureReason::NoDs {
                zone: name("example.lab"),
                parent: name("lab"),
                proof: DenialKind::Nsec3,
            }),
        ),
        (
            "cohost-unsigned-optout",
            Security::Insecure(InsecureReason::OptOut {
                zone: name("example.lab"),
                parent: name("lab"),
            }),
        ),
    ] {
        let (l, _e, lab) = run(scenario, "www.example.lab", RecordType::A).await;
        assert!(matches!(l.outcome, Outcome::Answer { .. }), "{scenario}");
        assert_eq!(l.security, expected, "{scenario}");
        assert!(
            cuts(&l).contains(&("example.lab.", CutSource::DsProbe)),
            "{scenario}: {:?}",
            cuts(&l)
        );
        // Negative answers from the unsigned child are insecure too.
        let e = Engine::new(config(&lab));
        let nx = e.lookup(&name("nx.example.lab"), RecordType::A).await;
        assert_eq!(nx.outcome, Outcome::NxDomain, "{scenario}");
        assert_eq!(nx.security, expected, "{scenario} NXDOMAIN");
        let nodata = e.lookup(&name("www.example.lab"), RecordType::TXT).await;
        assert_eq!(nodata.outcome, Outcome::NoData, "{scenario}");
        assert_eq!(nodata.security, expected, "{scenario} NODATA");
    }
}

#[tokio::test]
async fn unsigned_suffix_makes_the_signed_domain_below_it_insecure() {
    let (l, _e, _lab) = run(
        "suffix-unsigned-suffix",
        "www.example.co.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(
        l.security,
        Security::Insecure(InsecureReason::NoDs {
            zone: name("co.lab"),
            parent: name("lab"),
            proof: DenialKind::Nsec,
        })
    );
}

#[tokio::test]
async fn a_bogus_child_under_a_co_hosted_parent_is_named() {
    let (l, _e, _lab) = run("cohost-ds-bad-digest", "www.example.lab", RecordType::A).await;
    let BogusReason::DsMatchesNoDnskey { zone, parent, ds } = bogus(&l) else {
        panic!("{:?}", l.security)
    };
    assert_eq!(zone.as_str(), "example.lab.");
    assert_eq!(parent.as_str(), "lab.");
    assert_eq!(ds.len(), 1);
    assert_eq!(
        l.validation.last().unwrap().ds,
        *ds,
        "the DS named is the one served"
    );

    let (l, _e, _lab) = run("cohost-rrsig-exp-a", "www.example.lab", RecordType::A).await;
    let BogusReason::SignatureExpired {
        zone,
        rrset,
        key_tag,
        ..
    } = bogus(&l)
    else {
        panic!("{:?}", l.security)
    };
    assert_eq!(zone.as_str(), "example.lab.");
    assert_eq!(rrset.owner.as_str(), "www.example.lab.");
    let zsk = l
        .validation
        .last()
        .unwrap()
        .dnskeys
        .iter()
        .any(|k| k.key_tag == *key_tag);
    assert!(zsk, "key tag {key_tag} is one of example.lab.'s keys");

    let (l, _e, _lab) = run("suffix-ds-bad-digest", "www.example.co.lab", RecordType::A).await;
    let BogusReason::DsMatchesNoDnskey { zone, parent, .. } = bogus(&l) else {
        panic!("{:?}", l.security)
    };
    assert_eq!(
        (zone.as_str(), parent.as_str()),
        ("example.co.lab.", "co.lab.")
    );
}

#[tokio::test]
async fn empty_non_terminal_between_parent_and_child_is_no_cut() {
    let (l, _e, _lab) = run(
        "cohost-ent-unsigned",
        "www.child.ent2.example.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(
        l.security,
        Security::Insecure(InsecureReason::NoDs {
            zone: name("child.ent2.example.lab"),
            parent: name("example.lab"),
            proof: DenialKind::Nsec,
        })
    );
    let zones: Vec<&str> = l.zone_cuts.iter().map(|c| c.zone.as_str()).collect();
    assert!(!zones.contains(&"ent2.example.lab."), "{zones:?}");
    assert!(zones.contains(&"child.ent2.example.lab."), "{zones:?}");
    // The DS query at the empty non-terminal was asked and answered.
    assert!(
        l.server_answers
            .iter()
            .any(|a| a.qname.as_str() == "ent2.example.lab."
                && a.qtype == RecordType::DS
                && a.verdict == ServerVerdict::NoData)
    );

    let (l, _e, _lab) = run("cohost-ent", "www.child.ent2.example.lab", RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(
        steps(&l).last(),
        Some(&("child.ent2.example.lab.", Some("example.lab.")))
    );
}

#[tokio::test]
async fn a_child_whose_server_serves_the_grandparent_validates() {
    for (scenario, secure) in [
        ("cohost-grandparent", true),
        ("cohost-grandparent-unsigned", false),
    ] {
        let (l, _e, _lab) = run(scenario, "www.child.example.lab", RecordType::A).await;
        assert!(matches!(l.outcome, Outcome::Answer { .. }), "{scenario}");
        if secure {
            assert_eq!(l.security, Security::Secure, "{scenario}");
        } else {
            assert_eq!(
                l.security,
                Security::Insecure(InsecureReason::NoDs {
                    zone: name("child.example.lab"),
                    parent: name("example.lab"),
                    proof: DenialKind::Nsec,
                }),
                "{scenario}"
            );
        }
        let zones: Vec<&str> = l.zone_cuts.iter().map(|c| c.zone.as_str()).collect();
        assert!(zones.contains(&"example.lab."), "{scenario}: {zones:?}");
        assert!(
            zones.contains(&"child.example.lab."),
            "{scenario}: {zones:?}"
        );
    }
}

#[tokio::test]
async fn cname_from_a_co_hosted_child_into_the_parent() {
    let (l, _e, _lab) = run("cohost-cname-unsigned", "www.example.lab", RecordType::A).await;
    assert!(matches!(l.outcome, Outcome::Answer { .. }));
    assert_eq!(l.chain.len(), 1);
    assert!(
        matches!(l.chain[0].security, Security::Insecure(InsecureReason::NoDs { ref zone, .. }) if zone.as_str() == "example.lab."),
        "{:?}",
        l.chain[0]
    );
    // The target in lab. is secure; the chain is as weak as its weakest link.
    assert!(matches!(l.security, Security::Insecure(_)));

    let (l, _e, _lab) = run("cohost-cname", "www.example.lab", RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(l.chain[0].target.as_str(), "target.lab.");
}

#[tokio::test]
async fn partial_co_hosting_agrees_whichever_server_answers() {
    for (scenario, secure) in [("cohost-partial", true), ("cohost-partial-unsigned", false)] {
        let (l, _e, _lab) = run(scenario, "www.example.lab", RecordType::A).await;
        assert!(matches!(l.outcome, Outcome::Answer { .. }), "{scenario}");
        assert_eq!(
            l.security.is_secure(),
            secure,
            "{scenario}: {:?}",
            l.security
        );
        assert!(!l.security.is_bogus(), "{scenario}");
        // One lab. server answers for the child, the other refers to it.
        let asked: Vec<_> = l
            .server_answers
            .iter()
            .filter(|a| a.qname.as_str() == "www.example.lab." && a.qtype == RecordType::A)
            .collect();
        assert!(
            asked
                .iter()
                .any(|a| matches!(a.verdict, ServerVerdict::Answer { .. }))
        );
        assert!(
            asked
                .iter()
                .any(|a| matches!(a.verdict, ServerVerdict::Referral { .. }))
        );
    }
}

#[tokio::test]
async fn ds_answered_from_the_child_is_bogus_unless_another_server_answers_right() {
    let (l, e, lab) = run("cohost-ds-from-child", "www.example.lab", RecordType::A).await;
    let BogusReason::DsAnsweredByChild {
        zone,
        parent,
        servers,
    } = bogus(&l)
    else {
        panic!("{:?}", l.security)
    };
    assert_eq!((zone.as_str(), parent.as_str()), ("example.lab.", "lab."));
    let tld = lab.server_addrs(catalogue::TLD_NS);
    assert!(!servers.is_empty() && servers.iter().all(|s| tld.contains(&s.ip())));
    // Asked directly, the DS question gets no parent-side answer: SERVFAIL.
    let ds = e.lookup(&name("example.lab"), RecordType::DS).await;
    let Outcome::ServFail {
        why: ServFailReason::AllServersFailed { zone, failures },
    } = &ds.outcome
    else {
        panic!("{:?}", ds.outcome)
    };
    assert_eq!(zone.as_str(), "lab.");
    assert!(
        failures
            .iter()
            .all(|f| f.reason.contains("from the child zone")),
        "{failures:?}"
    );

    let (l, _e, lab) = run("cohost-ds-from-child-one", "www.example.lab", RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    let tld2 = lab.server_addrs(catalogue::TLD_NS2);
    let ds: Vec<_> = l
        .server_answers
        .iter()
        .filter(|a| a.qname.as_str() == "example.lab." && a.qtype == RecordType::DS)
        .collect();
    assert!(
        ds.iter()
            .any(|a| a.chosen && tld2.contains(&a.server.addr.ip())),
        "{ds:?}"
    );
    assert!(
        ds.iter()
            .all(|a| !a.chosen || tld2.contains(&a.server.addr.ip()))
    );
}

/// The CAA climb (RFC 8659 §3) from a name in the child crosses the cut:
/// every step is validated with the right zone's keys.
#[tokio::test]
async fn caa_climb_across_a_co_hosted_cut() {
    let lab = Lab::start(by_name("suffix-unsigned-domain")).await.unwrap();
    let e = Engine::new(config(&lab));
    for (qname, rel) in [
        ("www.example.co.lab", "NODATA in the unsigned domain"),
        ("example.co.lab", "the CAA set of the unsigned domain"),
    ] {
        let l = e.lookup(&name(qname), RecordType::CAA).await;
        assert_eq!(
            l.security,
            Security::Insecure(InsecureReason::NoDs {
                zone: name("example.co.lab"),
                parent: name("co.lab"),
                proof: DenialKind::Nsec,
            }),
            "{qname}: {rel}"
        );
    }
    let l = e.lookup(&name("co.lab"), RecordType::CAA).await;
    assert_eq!(l.outcome, Outcome::NoData);
    assert_eq!(l.security, Security::Secure, "co.lab. itself is signed");
}

/// Finding the cuts costs a bounded number of queries: the co-hosted
/// topologies ask at most a few more than the same zones with referrals.
#[tokio::test]
async fn finding_cuts_costs_few_queries() {
    async fn cost(s: Scenario, qname: &str) -> u32 {
        let lab = Lab::start(s).await.unwrap();
        let e = Engine::new(config(&lab));
        let l = e.lookup(&name(qname), RecordType::A).await;
        assert!(matches!(l.outcome, Outcome::Answer { .. }), "{qname}");
        e.queries_sent()
    }
    let referred = cost(catalogue::valid(), "www.example.lab").await;
    let co_hosted = cost(by_name("cohost-valid"), "www.example.lab").await;
    let unsigned = cost(by_name("cohost-unsigned"), "www.example.lab").await;
    let suffix = cost(by_name("suffix-valid"), "www.example.co.lab").await;
    println!(
        "queries: referral {referred}, co-hosted {co_hosted}, co-hosted unsigned {unsigned}, three levels {suffix}"
    );
    assert!(co_hosted <= referred + 4, "{co_hosted} vs {referred}");
    assert!(unsigned <= referred + 4, "{unsigned} vs {referred}");
    assert!(suffix <= referred + 8, "{suffix} vs {referred}");
}

/// The other form: the server of `lab.` also serves `co.lab.` and refers to
/// `example.co.lab.` from it, so the referral comes from a zone the walk
/// never saw; the DS for the domain is `co.lab.`'s, not `lab.`'s.
#[tokio::test]
async fn referral_from_a_parent_the_walk_never_saw() {
    let (l, _e, _lab) = run("suffix-referred", "www.example.co.lab", RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(
        cuts(&l),
        [
            (".", CutSource::RootHints),
            ("lab.", CutSource::Referral),
            ("co.lab.", CutSource::DsProbe),
            ("example.co.lab.", CutSource::Referral),
        ]
    );
    let domain = l.zone_cut_for(&name("www.example.co.lab")).unwrap();
    assert_eq!(
        domain.parent.as_ref().map(DnsName::as_str),
        Some("co.lab."),
        "the zone that delegates, not the cut the walk asked"
    );
    assert_eq!(domain.ns_names, [name(catalogue::SUFFIX_DOMAIN_NS)]);

    let (l, _e, _lab) = run(
        "suffix-referred-ds-bad-digest",
        "www.example.co.lab",
        RecordType::A,
    )
    .await;
    let BogusReason::DsMatchesNoDnskey { zone, parent, .. } = bogus(&l) else {
        panic!("{:?}", l.security)
    };
    assert_eq!(
        (zone.as_str(), parent.as_str()),
        ("example.co.lab.", "co.lab.")
    );

    let (l, _e, _lab) = run(
        "suffix-referred-unsigned-suffix",
        "www.example.co.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(
        l.security,
        Security::Insecure(InsecureReason::NoDs {
            zone: name("co.lab"),
            parent: name("lab"),
            proof: DenialKind::Nsec,
        })
    );
}

/// Probing for cuts is bounded: an unsigned answer deep below the last
/// known cut of a signed zone costs at most `MAX_CUT_PROBE_LABELS` DS
/// queries, then the status is indeterminate; a shallow one is named bogus,
/// and a deep one below a proven insecure cut is insecure without probing.
#[tokio::test]
async fn cut_probes_are_bounded() {
    use dcv_dns::IndeterminateReason;
    use dcv_lab::{RrsetSelector, ZoneFault};
    let deep = "a.b.c.d.e.f.g.h.i.j.k.l.m.wild.example.lab";
    let unsigned_wildcard = by_name("cohost-valid").with_zone(catalogue::ZONE, |z| {
        z.faults
            .push(ZoneFault::RrsigMissing(RrsetSelector::rrset("*.wild", "A")));
    });
    let lab = Lab::start(unsigned_wildcard).await.unwrap();
    let e = Engine::new(config(&lab));
    let shallow = e.lookup(&name("x.wild.example.lab"), RecordType::A).await;
    let BogusReason::RrsigsMissing { zone, .. } = bogus(&shallow) else {
        panic!("{:?}", shallow.security)
    };
    assert_eq!(zone.as_str(), "example.lab.");
    let before = e.queries_sent();
    let l = e.lookup(&name(deep), RecordType::A).await;
    println!("{}", render_trace(&l));
    assert!(
        matches!(
            &l.security,
            Security::Indeterminate(IndeterminateReason::CutProbeLimit { zone, limit, .. })
                if zone.as_str() == "lab." && *limit == 12
        ),
        "{:?}",
        l.security
    );
    let probes = l
        .server_answers
        .iter()
        .filter(|a| a.qtype == RecordType::DS && a.qname.is_subdomain_of(&name("example.lab")))
        .map(|a| &a.qname)
        .collect::<std::collections::HashSet<_>>();
    assert!(probes.len() <= 12, "{probes:?}");
    // The walk (the root, both addresses of ns.lab.), then at most one DS
    // query per probed label and server address.
    let sent = e.queries_sent() - before;
    println!("deep unsigned name: {sent} queries");
    assert!(sent <= 3 + 2 * 12, "{sent}");

    let lab = Lab::start(by_name("cohost-unsigned")).await.unwrap();
    let e = Engine::new(config(&lab));
    let l = e.lookup(&name(deep), RecordType::A).await;
    assert!(matches!(
        l.security,
        Security::Insecure(InsecureReason::NoDs { ref zone, .. }) if zone.as_str() == "example.lab."
    ));
}
