//! The vantage preflight against real lab roots on loopback: a healthy
//! signed root is recognised (its NXDOMAIN proof verified with the root's
//! keys), and every way of answering in the root's place is named: no proof,
//! a proof that does not verify, no AA bit, a wrong RCODE. Unreachable,
//! silent and TCP-deaf roots give the reach this machine would have behind a
//! firewall; a policy that refuses the root sends nothing and concludes
//! nothing. (The same situations made by a real firewall, a real resolver on
//! port 53 and real missing routes are in `dcv-doctor/tests/vantage_netns.rs`.)

mod common;

use std::time::{Duration, Instant};

use dcv_dns::vantage::{
    AddressFamily, Blocker, Conclusion, InterceptionSign, Limit, ProbeVerdict, ProofCheck, Reach,
    VANTAGE_MAX_WAIT,
};
use dcv_dns::{Engine, EngineConfig, QueryPath, ServerPolicy, parse_root_hints};
use dcv_lab::catalogue::{self, ROOT_NS};
use dcv_lab::silent::SilentServer;
use dcv_lab::{Lab, Mode, Scenario, ZoneFault};

async fn preflight(scenario: Scenario) -> dcv_dns::vantage::VantageReport {
    let lab = Lab::start(scenario).await.expect("lab starts");
    Engine::new(common::config(&lab)).vantage_preflight().await
}

/// Every probe's verdict, for assertion messages.
fn verdicts(r: &dcv_dns::vantage::VantageReport) -> Vec<&ProbeVerdict> {
    r.probes.iter().map(|p| &p.verdict).collect()
}

/// The signs every probe found, all probes intercepted.
fn signs(r: &dcv_dns::vantage::VantageReport) -> Vec<InterceptionSign> {
    r.probes
        .iter()
        .flat_map(|p| match &p.verdict {
            ProbeVerdict::Intercepted { signs } => signs.clone(),
            other => panic!("{} {}: {other:?}", p.server, p.path),
        })
        .collect()
}

#[tokio::test]
async fn a_signed_root_is_recognised_over_both_families_and_transports() {
    let r = preflight(catalogue::valid()).await;
    assert_eq!(
        r.conclusion(),
        Conclusion::Limited { limits: vec![] },
        "{r:#?}"
    );
    // One root server with an IPv4 and an IPv6 address, each over UDP and TCP.
    assert_eq!(r.probes.len(), 4, "{r:#?}");
    for p in &r.probes {
        assert_eq!(
            p.verdict,
            ProbeVerdict::Root {
                proof: ProofCheck::Verified
            },
            "{} {}",
            p.server,
            p.path
        );
        let response = p.exchange.as_ref().and_then(|e| e.response()).unwrap();
        assert!(response.flags.aa && !response.flags.ra);
    }
    for f in &r.families {
        assert_eq!((f.udp, f.tcp), (Reach::Works, Reach::Works), "{f:?}");
    }
    assert!(r.qname.as_str().starts_with("dcv-vantage-"));
}

#[tokio::test]
async fn an_unsigned_root_is_the_root_without_a_proof_to_check() {
    let r = preflight(catalogue::unsigned()).await;
    assert_eq!(r.conclusion(), Conclusion::Limited { limits: vec![] });
    for p in &r.probes {
        assert_eq!(
            p.verdict,
            ProbeVerdict::Root {
                proof: ProofCheck::NotChecked {
                    why: "no trust anchor for the root".to_owned()
                }
            }
        );
    }
}

#[tokio::test]
async fn a_signed_root_without_its_proof_is_not_the_root() {
    let r =
        preflight(catalogue::valid().with_zone(".", |z| z.faults.push(ZoneFault::DenialMissing)))
            .await;
    assert!(
        signs(&r)
            .iter()
            .all(|s| *s == InterceptionSign::NoDenialProof),
        "{:?}",
        verdicts(&r)
    );
    assert_eq!(
        r.conclusion(),
        Conclusion::CannotCheck {
            why: Blocker::Intercepted
        }
    );
}

#[tokio::test]
async fn a_proof_that_does_not_verify_is_named() {
    let r =
        preflight(catalogue::valid().with_zone(".", |z| z.faults.push(ZoneFault::DenialCorrupt)))
            .await;
    for s in signs(&r) {
        assert!(
            matches!(&s, InterceptionSign::InvalidProof { reason } if !reason.is_empty()),
            "{s:?}"
        );
    }
    assert_eq!(
        r.conclusion(),
        Conclusion::CannotCheck {
            why: Blocker::Intercepted
        }
    );
}

#[tokio::test]
async fn answers_without_authority_or_with_another_rcode_are_not_the_root() {
    let r = preflight(
        catalogue::valid().with_server(ROOT_NS, |s| s.behaviour.mode = Mode::NotAuthoritative),
    )
    .await;
    assert!(
        signs(&r).contains(&InterceptionSign::NotAuthoritative),
        "{:?}",
        verdicts(&r)
    );
    let r =
        preflight(catalogue::valid().with_server(ROOT_NS, |s| s.behaviour.mode = Mode::Refused))
            .await;
    assert!(signs(&r).contains(&InterceptionSign::UnexpectedRcode {
        rcode: dcv_dns::Rcode::REFUSED
    }));
}

#[tokio::test]
async fn a_root_that_drops_tcp_limits_the_tcp_paths_only() {
    let lab = Lab::start(
        catalogue::valid().with_server(ROOT_NS, |s| s.behaviour.tcp_mode = Some(Mode::Timeout)),
    )
    .await
    .unwrap();
    let mut cfg = common::config(&lab);
    cfg.query_timeout = Duration::from_millis(300);
    let r = Engine::new(cfg).vantage_preflight().await;
    assert_eq!(
        r.conclusion(),
        Conclusion::Limited {
            limits: vec![
                Limit::TcpUnreachable {
                    family: AddressFamily::Ipv4,
                    tcp: Reach::NoAnswer
                },
                Limit::TcpUnreachable {
                    family: AddressFamily::Ipv6,
                    tcp: Reach::NoAnswer
                }
            ]
        },
        "{r:#?}"
    );
    assert!(r.tcp_unreachable(AddressFamily::Ipv4));
    assert!(!r.family_unreachable(AddressFamily::Ipv4));
}

#[tokio::test]
async fn an_ipv6_root_address_without_a_route_is_no_ipv6() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let mut cfg = common::config(&lab);
    // The lab root's IPv4 address, and an IPv6 one in fd5c::/16, which
    // `scripts/lab-net-setup` routes as unreachable: nothing can be sent.
    let v4 = lab.server_addrs(ROOT_NS)[0];
    assert!(v4.is_ipv4());
    cfg.root_hints = parse_root_hints(&format!(
        ". NS {ROOT_NS}\n{ROOT_NS} A {v4}\n{ROOT_NS} AAAA fd5c:dc7::53\n"
    ))
    .unwrap();
    let r = Engine::new(cfg).vantage_preflight().await;
    assert_eq!(
        r.conclusion(),
        Conclusion::Limited {
            limits: vec![Limit::FamilyUnreachable {
                family: AddressFamily::Ipv6,
                udp: Reach::NoRoute
            }]
        },
        "{r:#?}"
    );
    assert!(r.excuses("fd5c:dc5::1".parse().unwrap(), false));
    assert!(!r.excuses(v4, true));
}

#[tokio::test]
async fn a_silent_root_is_dns_blocked_within_the_bound() {
    let silent = SilentServer::start().await.unwrap();
    let cfg = EngineConfig {
        root_hints: parse_root_hints(&silent.root_hints_zone()).unwrap(),
        port: silent.addr().port(),
        query_timeout: Duration::from_millis(400),
        retries: 0,
        ..EngineConfig::default()
    };
    let started = Instant::now();
    let r = Engine::new(cfg).vantage_preflight().await;
    let took = started.elapsed();
    assert_eq!(
        r.conclusion(),
        Conclusion::CannotCheck {
            why: Blocker::DnsBlocked
        },
        "{r:#?}"
    );
    assert_eq!(r.family(AddressFamily::Ipv4).unwrap().udp, Reach::NoAnswer);
    assert!(
        took < Duration::from_millis(400) * 2 + Duration::from_millis(500),
        "{took:?}"
    );
    assert!(took < VANTAGE_MAX_WAIT);
    assert!(silent.packets() >= 2, "UDP and TCP reached the server");
    // Both paths were asked.
    let paths: Vec<QueryPath> = r.probes.iter().map(|p| p.path).collect();
    assert_eq!(paths, [QueryPath::UDP_EDNS, QueryPath::TCP_EDNS]);
}

#[tokio::test]
async fn a_root_the_policy_refuses_is_not_tested_and_sent_nothing() {
    let spy = SilentServer::start().await.unwrap();
    let cfg = EngineConfig {
        root_hints: parse_root_hints(&spy.root_hints_zone()).unwrap(),
        port: spy.addr().port(),
        server_policy: ServerPolicy::PublicOnly,
        ..EngineConfig::default()
    };
    let r = Engine::new(cfg).vantage_preflight().await;
    assert_eq!(r.conclusion(), Conclusion::Unknown, "{r:#?}");
    assert!(
        r.probes
            .iter()
            .all(|p| p.verdict == ProbeVerdict::NotQueried)
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(spy.packets(), 0);
}
