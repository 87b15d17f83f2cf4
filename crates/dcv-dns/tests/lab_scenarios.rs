//! Acceptance tests against the dcv-lab private root: each scenario asserts
//! the resolver-view outcome, the DNSSEC verdict and the reason.

mod common;

use std::time::Duration;

use common::config;
use dcv_dns::{
    AliasKind, BogusReason, DenialKind, DnsName, Engine, ExchangeResult, IndeterminateReason,
    InsecureReason, Lookup, Outcome, Protocol, RecordType, Security, ServFailReason, ServerVerdict,
    render_trace,
};
use dcv_lab::{
    Lab, Mode, Scenario, ServerSpec, Signing, ZoneSpec,
    catalogue::{self, NS1, NS2, ZONE},
};

async fn run(scenario: Scenario, name: &str, qtype: RecordType) -> (Lookup, Lab) {
    let lab = Lab::start(scenario).await.expect("lab starts");
    let engine = Engine::new(config(&lab));
    let lookup = engine.lookup(&DnsName::parse(name).unwrap(), qtype).await;
    println!("{}", render_trace(&lookup));
    (lookup, lab)
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

/// The address `www.example.lab.` points at (the lab's web responder).
fn www_v4(lab: &Lab) -> String {
    lab.responder_addrs(catalogue::WEB)
        .into_iter()
        .find(std::net::IpAddr::is_ipv4)
        .map_or_else(|| "192.0.2.10".to_owned(), |ip| ip.to_string())
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).unwrap()
}

#[tokio::test]
async fn secure_name_nsec_and_nsec3() {
    for s in [catalogue::valid(), catalogue::valid_nsec3()] {
        let (l, lab) = run(s, "www.example.lab", RecordType::A).await;
        assert_eq!(l.security, Security::Secure);
        assert_eq!(l.records()[0].rdata, www_v4(&lab));
        assert_eq!(
            l.records()[0].wire_rdata,
            www_v4(&lab).parse::<std::net::Ipv4Addr>().unwrap().octets()
        );
        let zones: Vec<&str> = l.validation.iter().map(|s| s.zone.as_str()).collect();
        assert_eq!(zones, [".", "lab.", "example.lab."]);
        assert!(l.validation[0].anchored);
        assert!(l.validation.iter().all(|s| s.security.is_secure()));
        assert!(l.validation.iter().all(|s| {
            s.dnskeys
                .iter()
                .any(|k| k.matches_ds && k.signs_dnskey_rrset)
        }));
        let cuts: Vec<&str> = l.zone_cuts.iter().map(|c| c.zone.as_str()).collect();
        assert_eq!(cuts, [".", "lab.", "example.lab."]);
        // Two servers x two families for example.lab., each answer kept apart.
        let leaf: Vec<_> = l
            .server_answers
            .iter()
            .filter(|a| a.zone.as_str() == "example.lab." && a.qtype == RecordType::A)
            .collect();
        assert_eq!(leaf.len(), 4);
        assert!(leaf.iter().any(|a| a.server.addr.is_ipv6()));
    }
}

#[tokio::test]
async fn caa_and_txt_keep_wire_rdata() {
    let (l, _lab) = run(catalogue::valid(), "example.lab", RecordType::CAA).await;
    assert_eq!(l.security, Security::Secure);
    let caa = &l.records()[0];
    assert_eq!(caa.wire_rdata[0], 0, "flags");
    assert_eq!(&caa.wire_rdata[2..7], b"issue");
    assert_eq!(&caa.wire_rdata[7..], b"letsencrypt.org");
}

#[tokio::test]
async fn nsec_and_nsec3_denials_are_secure() {
    for (s, kind) in [
        (catalogue::valid(), "NSEC"),
        (catalogue::valid_nsec3(), "NSEC3"),
    ] {
        let lab = Lab::start(s).await.unwrap();
        let e = Engine::new(config(&lab));
        let nx = e.lookup(&name("nx.example.lab"), RecordType::A).await;
        assert_eq!(nx.outcome, Outcome::NxDomain, "{kind}");
        assert_eq!(nx.security, Security::Secure, "{kind} NXDOMAIN");
        let nodata = e.lookup(&name("www.example.lab"), RecordType::TXT).await;
        assert_eq!(nodata.outcome, Outcome::NoData);
        assert_eq!(nodata.security, Security::Secure, "{kind} NODATA");
        let ent = e.lookup(&name("sub.example.lab"), RecordType::A).await;
        assert_eq!(ent.outcome, Outcome::NoData, "{kind} empty non-terminal");
        assert_eq!(ent.security, Security::Secure, "{kind} ENT");
        let wild = e.lookup(&name("x.wild.example.lab"), RecordType::A).await;
        assert_eq!(wild.records()[0].rdata, "192.0.2.20");
        assert_eq!(wild.security, Security::Secure, "{kind} wildcard");
    }
}

#[tokio::test]
async fn insecure_delegation_without_ds() {
    for s in [catalogue::insecure_delegation(), catalogue::no_ds()] {
        let (l, _lab) = run(s, "www.example.lab", RecordType::A).await;
        assert!(matches!(l.outcome, Outcome::Answer { .. }));
        assert_eq!(
            l.security,
            Security::Insecure(InsecureReason::NoDs {
                zone: name("example.lab"),
                parent: name("lab"),
                proof: DenialKind::Nsec,
            })
        );
    }
}

#[tokio::test]
async fn expired_rrsig() {
    let (l, _lab) = run(catalogue::rrsig_exp_a(), "www.example.lab", RecordType::A).await;
    let r = bogus(&l);
    let BogusReason::SignatureExpired { zone, rrset, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(zone.as_str(), "example.lab.");
    assert_eq!(rrset.to_string(), "www.example.lab/A");
    assert_eq!(r.ede_code(), 7);
    assert_eq!(
        r.boulder_problem(RecordType::A, &l.qname),
        "DNS problem: looking up A for www.example.lab: DNSSEC: Signature Expired"
    );
    assert!(r.to_string().contains("expired 20"), "{r}");
}

#[tokio::test]
async fn not_yet_valid_rrsig() {
    let (l, _lab) = run(
        catalogue::rrsig_not_yet_a(),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    let r = bogus(&l);
    assert!(
        matches!(r, BogusReason::SignatureNotYetValid { .. }),
        "{r:?}"
    );
    assert_eq!(r.boulder_summary(), "DNSSEC: Signature Not Yet Valid");
}

#[tokio::test]
async fn missing_rrsigs() {
    let (l, _lab) = run(catalogue::rrsig_no_a(), "www.example.lab", RecordType::A).await;
    let r = bogus(&l);
    assert_eq!(r.to_string(), "no RRSIG for www.example.lab/A");
    assert_eq!(r.boulder_summary(), "DNSSEC: RRSIGs Missing");
    let (l, _lab) = run(catalogue::rrsig_no_all(), "www.example.lab", RecordType::A).await;
    assert_eq!(bogus(&l).to_string(), "no RRSIG for example.lab/DNSKEY");
}

#[tokio::test]
async fn bad_signature() {
    let (l, _lab) = run(catalogue::bad_rrsig_a(), "www.example.lab", RecordType::A).await;
    let r = bogus(&l);
    assert!(matches!(r, BogusReason::SignatureInvalid { .. }), "{r:?}");
    assert_eq!(r.boulder_summary(), "DNSSEC: Bogus");
}

#[tokio::test]
async fn ds_matching_no_dnskey() {
    for s in [catalogue::ds_bad_tag(), catalogue::ds_bogus_digest()] {
        let (l, _lab) = run(s, "www.example.lab", RecordType::A).await;
        let r = bogus(&l);
        let BogusReason::DsMatchesNoDnskey { zone, parent, ds } = r else {
            panic!("{r:?}")
        };
        assert_eq!((zone.as_str(), parent.as_str()), ("example.lab.", "lab."));
        assert_eq!(ds.len(), 1);
        assert!(r.to_string().starts_with("DS "), "{r}");
        assert!(
            r.to_string()
                .ends_with(" in lab. matches no DNSKEY of example.lab.")
        );
        assert_eq!(r.boulder_summary(), "DNSSEC: DNSKEY Missing");
        let step = l.validation.last().unwrap();
        assert!(step.dnskeys.iter().all(|k| !k.matches_ds));
    }
}

#[tokio::test]
async fn dnskey_not_signed_by_ds_key() {
    let (l, _lab) = run(catalogue::no_rrsig_ksk(), "www.example.lab", RecordType::A).await;
    let r = bogus(&l);
    assert!(
        matches!(r, BogusReason::DnskeyNotSignedByDsKey { zone, .. } if zone.as_str() == "example.lab."),
        "{r:?}"
    );
    assert_eq!(r.boulder_summary(), "DNSSEC: RRSIGs Missing");
}

#[tokio::test]
async fn broken_denials_are_bogus() {
    for (s, absent) in [
        (catalogue::bad_nsec(), false),
        (catalogue::bad_nsec3_next(), false),
        (catalogue::nsec3_missing(), true),
    ] {
        let lab = Lab::start(s).await.unwrap();
        let e = Engine::new(config(&lab));
        let nx = e.lookup(&name("nx.example.lab"), RecordType::A).await;
        let nodata = e.lookup(&name("www.example.lab"), RecordType::TXT).await;
        for (l, denial) in [(&nx, "NXDOMAIN"), (&nodata, "NODATA")] {
            let r = bogus(l);
            match r {
                BogusReason::DenialMissing { denial: d, .. } if absent => {
                    assert_eq!(d, denial);
                    assert_eq!(r.boulder_summary(), "DNSSEC: NSEC Missing");
                }
                BogusReason::DenialInvalid { denial: d, .. } if !absent => {
                    assert_eq!(d, denial);
                    assert_eq!(r.boulder_summary(), "DNSSEC: Bogus");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn nsec3_iterations_above_limit_are_insecure() {
    let (l, _lab) = run(catalogue::nsec3_iter_200(), "nx.example.lab", RecordType::A).await;
    assert_eq!(l.outcome, Outcome::NxDomain);
    assert!(matches!(
        l.security,
        Security::Insecure(InsecureReason::Nsec3IterationsTooHigh {
            iterations: 200,
            limit: 150,
            ..
        })
    ));
}

fn signed_with(mode: Mode, both: bool) -> Scenario {
    let s = catalogue::base(&Signing::Nsec).with_server(NS1, |s| s.behaviour.mode = mode);
    if both {
        s.with_server(NS2, |s| s.behaviour.mode = mode)
    } else {
        s
    }
}

#[tokio::test]
async fn one_of_two_servers_servfail() {
    let (l, lab) = run(
        signed_with(Mode::ServFail, false),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(l.records()[0].rdata, www_v4(&lab));
    let per_server: Vec<(&str, &ServerVerdict)> = l
        .server_answers
        .iter()
        .filter(|a| a.qtype == RecordType::A && a.zone.as_str() == "example.lab.")
        .map(|a| (a.server.name.as_str(), &a.verdict))
        .collect();
    assert_eq!(per_server.len(), 4);
    for (ns, v) in per_server {
        if ns == NS1 {
            assert_eq!(v, &ServerVerdict::ServFail);
        } else {
            assert!(matches!(v, ServerVerdict::Answer { .. }));
        }
    }
}

fn all_failed(l: &Lookup) -> Vec<String> {
    match &l.outcome {
        Outcome::ServFail {
            why: ServFailReason::AllServersFailed { zone, failures },
        } => {
            assert_eq!(zone.as_str(), "example.lab.");
            failures.iter().map(|f| f.reason.clone()).collect()
        }
        other => panic!("expected all servers failed, got {other:?}"),
    }
}

#[tokio::test]
async fn all_servers_servfail_is_indeterminate_not_bogus() {
    let (l, _lab) = run(
        signed_with(Mode::ServFail, true),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    let reasons = all_failed(&l);
    assert_eq!(reasons, vec!["answered SERVFAIL"; 4]);
    assert!(matches!(
        l.security,
        Security::Indeterminate(IndeterminateReason::FetchFailed { .. })
    ));
    let (l, _lab) = run(catalogue::servfail(), "www.example.lab", RecordType::A).await;
    assert_eq!(all_failed(&l).len(), 4);
}

#[tokio::test]
async fn refused() {
    let (l, _lab) = run(catalogue::refused(), "www.example.lab", RecordType::A).await;
    assert_eq!(all_failed(&l), vec!["answered REFUSED"; 4]);
    assert!(
        l.server_answers
            .iter()
            .any(|a| a.verdict == ServerVerdict::Refused)
    );
}

#[tokio::test]
async fn timeout() {
    let (l, _lab) = run(
        signed_with(Mode::Timeout, true),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(all_failed(&l), vec!["timed out"; 4]);
    assert!(!l.security.is_bogus());
    let text = match &l.outcome {
        Outcome::ServFail { why } => why.to_string(),
        _ => unreachable!(),
    };
    assert!(text.contains("timed out"), "{text}");
    // One exchange per server for the question itself (the DNSKEY fetch
    // that checks whether the zone is provably insecure times out too, and
    // is evidence of its own), each with the first try and the one retry
    // sent when the 376 ms RTO ran out, both lost.
    let timeouts: Vec<_> = l
        .exchanges
        .iter()
        .filter(|e| e.result == ExchangeResult::Timeout && e.qtype == RecordType::A)
        .collect();
    assert_eq!(timeouts.len(), 4);
    for e in timeouts {
        assert_eq!((e.tries, e.lost_tries()), (2, 2), "{e:?}");
        assert!(e.waited >= std::time::Duration::from_secs(1), "{e:?}");
    }
}

#[tokio::test]
async fn one_server_times_out() {
    let (l, lab) = run(
        catalogue::one_server_timeout(),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(l.records()[0].rdata, www_v4(&lab));
    assert!(
        l.server_answers
            .iter()
            .any(|a| a.verdict == ServerVerdict::Timeout)
    );
}

#[tokio::test]
async fn lame_server_without_aa() {
    // Unbound accepts answers without AA when nothing better exists; the
    // evidence shows every example.lab. server as non-authoritative.
    let (l, lab) = run(catalogue::lame(), "www.example.lab", RecordType::A).await;
    assert_eq!(l.records()[0].rdata, www_v4(&lab));
    let leaf: Vec<_> = l
        .server_answers
        .iter()
        .filter(|a| a.zone.as_str() == "example.lab.")
        .collect();
    assert_eq!(leaf.len(), 4);
    assert!(leaf.iter().all(|a| !a.authoritative));
    assert!(leaf.iter().all(|a| a.is_lame()));
    assert!(render_trace(&l).contains("(no AA: lame)"));
}

#[tokio::test]
async fn truncated_udp_retried_over_tcp() {
    let (l, lab) = run(catalogue::tc_tcp(), "www.example.lab", RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(l.records()[0].rdata, www_v4(&lab));
    let tc_udp = l
        .exchanges
        .iter()
        .any(|e| e.protocol == Protocol::Udp && e.response().is_some_and(|r| r.flags.tc));
    let tcp_ok = l.exchanges.iter().any(|e| {
        e.protocol == Protocol::Tcp
            && e.response()
                .is_some_and(|r| !r.flags.tc && !r.answer.is_empty())
    });
    assert!(tc_udp && tcp_ok);
}

#[tokio::test]
async fn cname_chain_across_zones() {
    let (l, _lab) = run(
        catalogue::cname_cross_zone(),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(l.records()[0].name.as_str(), "target.other.lab.");
    let links: Vec<(&str, &str)> = l
        .chain
        .iter()
        .map(|c| (c.owner.as_str(), c.target.as_str()))
        .collect();
    assert_eq!(
        links,
        [
            ("www.example.lab.", "alias.example.lab."),
            ("alias.example.lab.", "target.other.lab.")
        ]
    );
    assert!(l.chain.iter().all(|c| c.kind == AliasKind::Cname));
    assert!(l.zone_cuts.iter().any(|c| c.zone.as_str() == "other.lab."));
}

#[tokio::test]
async fn cname_loop() {
    let (l, _lab) = run(catalogue::cname_loop(), "www.example.lab", RecordType::A).await;
    let Outcome::ServFail {
        why: ServFailReason::AliasLoop { names },
    } = &l.outcome
    else {
        panic!("{:?}", l.outcome)
    };
    assert_eq!(names.first(), names.last());
}

#[tokio::test]
async fn dname_is_followed() {
    let (l, lab) = run(catalogue::dname(), "www.old.lab", RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(l.chain[0].kind, AliasKind::Dname);
    assert_eq!(l.chain[0].target.as_str(), "www.example.lab.");
    assert_eq!(l.records()[0].rdata, www_v4(&lab));
}

#[tokio::test]
async fn ns_names_need_their_own_resolution() {
    let (l, _lab) = run(
        catalogue::out_of_bailiwick_ns(),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    assert_eq!(l.security, Security::Secure);
    let cut = l.zone_cut_for(&name("www.example.lab")).unwrap();
    assert_eq!(cut.zone.as_str(), "example.lab.");
    assert_eq!(cut.ns_names, vec![name("ns.dns-provider.com")]);
    assert!(!cut.servers.is_empty());
    assert!(cut.servers.iter().all(|s| !s.glue));
    // The NS name's own zone cuts are evidence too.
    assert!(
        l.zone_cuts
            .iter()
            .any(|c| c.zone.as_str() == "dns-provider.com.")
    );
}

#[tokio::test]
async fn concurrent_identical_lookups_share_exchanges() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let e = Engine::new(config(&lab));
    let n = name("www.example.lab");
    let e2 = e.clone();
    let (a, b) = tokio::join!(e.lookup(&n, RecordType::A), e2.lookup(&n, RecordType::A));
    assert_eq!(a.records(), b.records());
    let first = e.queries_sent();
    let _ = e.lookup(&n, RecordType::A).await;
    let _ = e.lookup(&name("example.lab"), RecordType::CAA).await;
    assert_eq!(
        e.queries_sent(),
        first + 4,
        "CAA costs one query per example.lab. server only"
    );
}

#[tokio::test]
async fn query_budget_is_enforced() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let mut cfg = config(&lab);
    cfg.max_queries = 3;
    let e = Engine::new(cfg);
    let l = e.lookup(&name("www.example.lab"), RecordType::A).await;
    assert!(
        matches!(l.outcome, Outcome::ServFail { .. }),
        "{:?}",
        l.outcome
    );
    assert!(!l.security.is_bogus());
    assert_eq!(e.queries_sent(), 3);
}

#[tokio::test]
async fn nsec3_insecure_delegation_with_and_without_opt_out() {
    for opt_out in [false, true] {
        let s = catalogue::base(&Signing::Nsec3 {
            iterations: 0,
            salt: String::new(),
            opt_out,
        })
        .with_zone(ZONE, |z| z.signing = Signing::Unsigned);
        let (l, lab) = run(s, "www.example.lab", RecordType::A).await;
        assert_eq!(l.records()[0].rdata, www_v4(&lab));
        let expected = if opt_out {
            InsecureReason::OptOut {
                zone: name("example.lab"),
                parent: name("lab"),
            }
        } else {
            InsecureReason::NoDs {
                zone: name("example.lab"),
                parent: name("lab"),
                proof: DenialKind::Nsec3,
            }
        };
        assert_eq!(
            l.security,
            Security::Insecure(expected),
            "opt-out {opt_out}"
        );
    }
}

#[tokio::test]
async fn disagreeing_servers_are_visible() {
    let (l, lab) = run(
        catalogue::stale_secondary(),
        "www.example.lab",
        RecordType::A,
    )
    .await;
    let mut seen: Vec<String> = l
        .server_answers
        .iter()
        .filter(|a| a.qtype == RecordType::A && a.zone.as_str() == "example.lab.")
        .filter_map(|a| match &a.verdict {
            ServerVerdict::Answer { records } => Some(records[0].rdata.clone()),
            _ => None,
        })
        .collect();
    seen.sort();
    seen.dedup();
    let mut expected = vec![www_v4(&lab), "192.0.2.99".to_owned()];
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn validation_fetch_failure_is_indeterminate() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    // Enough queries for the walk (1 root + 2 lab. + 4 example.lab.) and the
    // root DNSKEY, none left for the DS of lab.
    let e = Engine::new(dcv_dns::EngineConfig {
        max_queries: 8,
        ..config(&lab)
    });
    let l = e.lookup(&name("www.example.lab"), RecordType::A).await;
    assert!(
        matches!(
            l.security,
            Security::Indeterminate(IndeterminateReason::BudgetExhausted { limit: 8 })
        ),
        "{:?}",
        l.security
    );
    assert!(matches!(
        l.outcome,
        Outcome::ServFail {
            why: ServFailReason::Indeterminate(_)
        }
    ));
}

#[tokio::test]
async fn lookup_serialises_to_json() {
    let (l, _lab) = run(catalogue::rrsig_exp_a(), "www.example.lab", RecordType::A).await;
    let v = serde_json::to_value(&l).unwrap();
    assert_eq!(v["qtype"], "A");
    assert_eq!(v["security"]["status"], "bogus");
    assert_eq!(v["security"]["reason"]["kind"], "signature_expired");
    assert_eq!(v["outcome"]["kind"], "serv_fail");
    let ex = &v["exchanges"][0];
    assert_eq!(ex["protocol"], "udp");
    assert!(ex["latency"].as_f64().is_some());
    assert!(ex["result"]["answer"].is_array() || ex["result"]["authority"].is_array());
}

#[tokio::test]
async fn glueless_ns_cycle_is_bounded() {
    // example.lab. is served by ns.example.com., whose zone is served by
    // ns.example.lab.: neither address can be found without the other.
    let s = Scenario::new("ns-cycle")
        .server(ServerSpec::new("ns.root."))
        .server(ServerSpec::new("ns.lab."))
        .server(ServerSpec::new("ns.com."))
        .server(ServerSpec::new("ns.example.com."))
        .server(ServerSpec::new("ns.example.lab."))
        .zone(ZoneSpec::new(".").served_by("ns.root."))
        .zone(ZoneSpec::new("lab.").served_by("ns.lab."))
        .zone(ZoneSpec::new("com.").served_by("ns.com."))
        .zone(
            ZoneSpec::new("example.lab.")
                .served_by("ns.example.com.")
                .record("www A 192.0.2.10"),
        )
        .zone(ZoneSpec::new("example.com.").served_by("ns.example.lab."));
    let lab = Lab::start(s).await.unwrap();
    let e = Engine::new(config(&lab));
    let l = tokio::time::timeout(
        Duration::from_secs(20),
        e.lookup(&name("www.example.lab"), RecordType::A),
    )
    .await
    .expect("bounded");
    println!("{}", render_trace(&l));
    let Outcome::ServFail {
        why: ServFailReason::NoServerAddresses { zone, unresolved },
    } = &l.outcome
    else {
        panic!("{:?}", l.outcome)
    };
    assert_eq!(zone.as_str(), "example.lab.");
    assert_eq!(unresolved[0].name.as_str(), "ns.example.com.");
    assert!(
        unresolved[0]
            .reason
            .contains("name server cycle: example.lab. -> example.com. -> example.lab."),
        "{}",
        unresolved[0].reason
    );
    assert!(e.queries_sent() < 200, "{} queries", e.queries_sent());
}

#[tokio::test]
async fn ipv6_can_be_switched_off() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let e = Engine::new(dcv_dns::EngineConfig {
        use_ipv6: false,
        ..config(&lab)
    });
    let l = e.lookup(&name("www.example.lab"), RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    assert!(l.exchanges.iter().all(|x| x.server.is_ipv4()));
    assert!(
        l.zone_cuts
            .iter()
            .all(|c| c.servers.iter().all(|s| s.addr.is_ipv4()))
    );
}

#[tokio::test]
async fn alias_chain_is_bounded() {
    let s = catalogue::base(&Signing::Nsec).with_zone(ZONE, |z| {
        for i in 0..14 {
            z.records
                .push(format!("c{i} CNAME c{}.example.lab.", i + 1));
        }
        z.records.push("c14 A 192.0.2.14".into());
    });
    let (l, _lab) = run(s, "c0.example.lab", RecordType::A).await;
    assert_eq!(
        l.outcome,
        Outcome::ServFail {
            why: ServFailReason::AliasChainTooLong { limit: 11 }
        }
    );
    assert_eq!(l.chain.len(), 12);
    assert_eq!(l.security, Security::Secure);
}

#[tokio::test]
async fn trace_shows_cuts_servers_and_chain_of_trust() {
    let (l, _lab) = run(catalogue::rrsig_exp_a(), "www.example.lab", RecordType::A).await;
    let t = render_trace(&l);
    for needle in [
        ";; zone . (root hints)",
        ";; zone lab. (delegated by .",
        ";; zone example.lab. (delegated by lab.",
        "example.lab.                     NS    ns1.example.lab.",
        "referral to example.lab. (ns1.example.lab. ns2.example.lab.)",
        ";; chain of trust",
        "matches-DS signs-DNSKEY",
        ";; resolver view: SERVFAIL (DNSSEC bogus: RRSIG over www.example.lab/A by key",
        ";; EDE 7 -> DNS problem: looking up A for www.example.lab: DNSSEC: Signature Expired",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
}

#[tokio::test]
async fn dnskey_anchor_and_anchor_below_the_root() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    // The root KSK as a DNSKEY anchor.
    let key = lab.trust_anchor_dnskey().unwrap();
    let e = Engine::new(dcv_dns::EngineConfig {
        trust_anchors: dcv_dns::parse_trust_anchor(&key).unwrap(),
        ..config(&lab)
    });
    let l = e.lookup(&name("www.example.lab"), RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    // A DS anchor for lab. only, taken from the parent: the chain starts there.
    let ds = e.lookup(&name("lab"), RecordType::DS).await;
    let text = format!("lab. IN DS {}", ds.records()[0].rdata);
    let e = Engine::new(dcv_dns::EngineConfig {
        trust_anchors: dcv_dns::parse_trust_anchor(&text).unwrap(),
        ..config(&lab)
    });
    let l = e.lookup(&name("www.example.lab"), RecordType::A).await;
    assert_eq!(l.security, Security::Secure);
    let zones: Vec<&str> = l.validation.iter().map(|s| s.zone.as_str()).collect();
    assert_eq!(zones, ["lab.", "example.lab."]);
    assert!(l.validation[0].anchored);
    // Names outside the anchor are insecure.
    let other = e.lookup(&name("nothere.test"), RecordType::A).await;
    assert!(matches!(
        other.security,
        Security::Insecure(InsecureReason::NoTrustAnchor { .. })
    ));
}

#[tokio::test]
async fn root_servers_asked_one_at_a_time_unless_configured() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let count_root = |l: &Lookup| {
        l.server_answers
            .iter()
            .filter(|a| a.zone.as_str() == ".")
            .count()
    };
    let e = Engine::new(config(&lab));
    let l = e.lookup(&name("www.example.lab"), RecordType::A).await;
    // Referral, DNSKEY and the DS of lab., each from the first root address.
    assert_eq!(count_root(&l), 3);
    let e = Engine::new(dcv_dns::EngineConfig {
        ask_every_root_server: true,
        ..config(&lab)
    });
    let l = e.lookup(&name("www.example.lab"), RecordType::A).await;
    assert_eq!(count_root(&l), 6);
}

#[tokio::test]
async fn unproven_insecure_delegation_is_bogus() {
    let s = catalogue::insecure_delegation()
        .with_zone("lab.", |z| z.faults.push(dcv_lab::ZoneFault::DenialMissing));
    let (l, _lab) = run(s, "www.example.lab", RecordType::A).await;
    let r = bogus(&l);
    let BogusReason::DsDenialMissing {
        zone,
        parent,
        detail,
        proof_served: false,
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!((zone.as_str(), parent.as_str()), ("example.lab.", "lab."));
    assert!(detail.contains("no NSEC or NSEC3"), "{detail}");
}

#[tokio::test]
async fn large_caa_rrset_is_read_whole_over_tcp_and_validates() {
    let s = catalogue::base(&Signing::Nsec).with_zone(ZONE, |z| {
        for i in 0..1200 {
            z.records.push(format!("big CAA 0 issue \"ca{i}.example\""));
        }
    });
    let (l, _lab) = run(s, "big.example.lab", RecordType::CAA).await;
    assert_eq!(l.security, Security::Secure);
    assert_eq!(l.records().len(), 1200);
    assert!(l.exchanges.iter().any(|e| e.protocol == Protocol::Tcp));
}
