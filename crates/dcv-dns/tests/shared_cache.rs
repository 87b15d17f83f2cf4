//! The shared infrastructure cache against the lab: engines that share it
//! reuse the root's, the TLD's and the zone's cuts and keys (with the
//! evidence that built them and their age), still ask each hostname's own
//! questions of every server, fetch each zone's keys once when they start
//! together, fetch again once a TTL has passed, and report a broken TLD for
//! every name under it.

mod common;

use std::time::Duration;

use common::config;
use dcv_dns::{
    BogusReason, DnsName, Engine, Lookup, RecordType, Security, SharedInfraCache, ValidationStep,
};
use dcv_lab::{
    Lab, Scenario, ZoneFault, ZoneSpec,
    catalogue::{self, NS1, NS2, ZONE},
};

fn name(s: &str) -> DnsName {
    DnsName::parse(s).unwrap()
}

fn shared_engine(lab: &Lab, cache: &SharedInfraCache) -> Engine {
    Engine::new(dcv_dns::EngineConfig {
        shared_cache: Some(cache.clone()),
        ..config(lab)
    })
}

fn step<'l>(l: &'l Lookup, zone: &str) -> &'l ValidationStep {
    l.validation
        .iter()
        .find(|s| s.zone.as_str() == zone)
        .unwrap_or_else(|| panic!("no validation step for {zone}: {:?}", l.validation))
}

#[tokio::test]
async fn a_second_engine_reuses_cuts_and_keys_and_keeps_their_evidence() {
    let lab = Lab::start(catalogue::valid()).await.expect("lab starts");
    let cache = SharedInfraCache::new();
    let first = shared_engine(&lab, &cache);
    let a = first.lookup(&name("www.example.lab"), RecordType::A).await;
    assert_eq!(a.security, Security::Secure);
    assert!(a.validation.iter().all(|s| s.from_shared_cache.is_none()));

    let second = shared_engine(&lab, &cache);
    let txt = name("_acme-challenge.www.example.lab");
    let b = second.lookup(&txt, RecordType::TXT).await;
    let cold = Engine::new(config(&lab));
    let c = cold.lookup(&txt, RecordType::TXT).await;
    assert_eq!(b.security, Security::Secure);
    assert_eq!(b.outcome, c.outcome, "same answer as a cold engine");
    assert_eq!(b.security, c.security);
    // The chain came from the cache, with its age and its evidence.
    for zone in [".", "lab.", "example.lab."] {
        let s = step(&b, zone);
        assert!(s.from_shared_cache.is_some(), "{zone}: {s:?}");
        assert_eq!(s.dnskeys, step(&c, zone).dnskeys, "{zone}");
        assert!(
            b.exchanges
                .iter()
                .any(|e| e.qname.as_str() == zone && e.qtype == RecordType::DNSKEY),
            "{zone}: the DNSKEY exchange that built the entry is evidence"
        );
    }
    let cut = b
        .zone_cuts
        .iter()
        .find(|c| c.zone.as_str() == ZONE)
        .expect("example.lab. cut");
    assert!(cut.from_shared_cache.is_some(), "{cut:?}");
    assert!(c.zone_cuts.iter().all(|c| c.from_shared_cache.is_none()));
    // The hostname's own question still went to every server of its zone.
    let servers: Vec<_> = b
        .server_answers
        .iter()
        .filter(|a| a.qname == txt && a.qtype == RecordType::TXT && a.zone.as_str() == ZONE)
        .map(|a| a.server.name.to_string())
        .collect();
    for ns in [NS1, NS2] {
        assert!(
            servers.iter().any(|s| s.starts_with(ns)),
            "{ns} not asked: {servers:?}"
        );
    }
    // Fewer packets: no root, TLD or key questions.
    assert!(
        second.queries_sent() * 2 < cold.queries_sent(),
        "shared {} vs cold {}",
        second.queries_sent(),
        cold.queries_sent()
    );
    let stats = cache.stats();
    assert!(stats.key_hits >= 1 && stats.cut_hits >= 1, "{stats:?}");
}

#[tokio::test]
async fn engines_starting_together_fetch_each_zone_s_keys_once() {
    const CHECKS: usize = 12;
    let lab = Lab::start(catalogue::valid()).await.expect("lab starts");
    let cache = SharedInfraCache::new();
    let engines: Vec<Engine> = (0..CHECKS).map(|_| shared_engine(&lab, &cache)).collect();
    let www = name("www.example.lab");
    let lookups =
        futures::future::join_all(engines.iter().map(|e| e.lookup(&www, RecordType::A))).await;
    for zone in [".", "lab.", "example.lab."] {
        let fetched = lookups
            .iter()
            .filter(|l| step(l, zone).from_shared_cache.is_none())
            .count();
        assert_eq!(fetched, 1, "{zone}: fetched by {fetched} engines");
    }
    assert!(lookups.iter().all(|l| l.security == Security::Secure));
}

/// The zone's DNSKEY RRset at TTL 2: its keys expire from a shared cache
/// after 2 s.
fn with_short_dnskey_ttl(mut zone: ZoneSpec) -> ZoneSpec {
    zone.dnskey_ttl = Some(2);
    zone
}

#[tokio::test]
async fn keys_are_fetched_again_once_their_ttl_has_passed() {
    let mut scenario = catalogue::valid();
    let healthy = scenario
        .zones
        .iter_mut()
        .find(|z| z.apex == ZONE)
        .expect("example.lab. zone");
    *healthy = with_short_dnskey_ttl(healthy.clone());
    // The same zone later served without the key its DS names: bogus.
    let broken = with_short_dnskey_ttl(healthy.clone())
        .fault(ZoneFault::DnskeyOmitKsk)
        .from_stage("broken");
    let scenario: Scenario = scenario.zone(broken);
    let lab = Lab::start(scenario).await.expect("lab starts");
    let cache = SharedInfraCache::new();
    let www = name("www.example.lab");

    let first = shared_engine(&lab, &cache)
        .lookup(&www, RecordType::A)
        .await;
    assert_eq!(first.security, Security::Secure);
    lab.enter_stage("broken").expect("stage");
    // Within the TTL the cached keys still validate the new copy's answer.
    let cached = shared_engine(&lab, &cache)
        .lookup(&www, RecordType::A)
        .await;
    assert_eq!(cached.security, Security::Secure);
    assert!(step(&cached, ZONE).from_shared_cache.is_some());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Past it, the DNSKEY RRset is fetched again and the breakage is seen.
    let after = shared_engine(&lab, &cache)
        .lookup(&www, RecordType::A)
        .await;
    let zone_step = step(&after, ZONE);
    assert!(zone_step.from_shared_cache.is_none(), "{zone_step:?}");
    assert!(
        matches!(
            after.security,
            Security::Bogus(BogusReason::DsMatchesNoDnskey { .. })
        ),
        "{:?}",
        after.security
    );
    // The TLD's keys (TTL 3600) were still reused.
    assert!(step(&after, "lab.").from_shared_cache.is_some());
}

#[tokio::test]
async fn a_broken_tld_is_reported_for_every_name_under_it() {
    let scenario = catalogue::valid().with_zone("lab.", |z| z.faults.push(ZoneFault::DsBadTag));
    let lab = Lab::start(scenario).await.expect("lab starts");
    let cache = SharedInfraCache::new();
    let cold = Engine::new(config(&lab))
        .lookup(&name("www.example.lab"), RecordType::A)
        .await;
    assert!(matches!(cold.security, Security::Bogus(_)), "{cold:?}");
    for host in [
        "www.example.lab",
        "example.lab",
        "_acme-challenge.www.example.lab",
    ] {
        let l = shared_engine(&lab, &cache)
            .lookup(&name(host), RecordType::A)
            .await;
        assert_eq!(l.security, cold.security, "{host}");
        let tld = step(&l, "lab.");
        assert_eq!(tld.security, cold.security, "{host}");
        assert_eq!(tld.ds, step(&cold, "lab.").ds, "{host}: the DS evidence");
        assert!(!tld.dnskeys.is_empty(), "{host}: the DNSKEY evidence");
    }
    let stats = cache.stats();
    assert!(stats.key_hits >= 2, "{stats:?}");
}

#[tokio::test]
async fn a_path_probe_is_reused_for_the_same_question_only() {
    use dcv_dns::QueryPath;
    let lab = Lab::start(catalogue::valid()).await.expect("lab starts");
    let cache = SharedInfraCache::new();
    let server = lab.server_socket_addrs(NS1)[0];
    let apex = name(ZONE);
    let first = shared_engine(&lab, &cache);
    // The walk makes the zone's cut known: its apex is shared by every
    // name under it.
    first.lookup(&name("www.example.lab"), RecordType::A).await;
    let walked = first.queries_sent();
    let a = first
        .probe_path_shared(server, &apex, RecordType::CAA, QueryPath::TCP_EDNS)
        .await
        .expect("probe sent");
    assert_eq!(first.queries_sent(), walked + 1);
    let second = shared_engine(&lab, &cache);
    let b = second
        .probe_path_shared(server, &apex, RecordType::CAA, QueryPath::TCP_EDNS)
        .await
        .expect("probe reused");
    assert_eq!(second.queries_sent(), 0, "the same probe is not sent again");
    assert_eq!(a, b);
    // A name that is no zone's apex is asked fresh, never kept.
    let other = second
        .probe_path_shared(
            server,
            &name("www.example.lab"),
            RecordType::CAA,
            QueryPath::TCP_EDNS,
        )
        .await
        .expect("probe sent");
    assert_eq!(other.qname.as_str(), "www.example.lab.");
    assert_eq!(second.queries_sent(), 1);
    let stats = cache.stats();
    assert_eq!((stats.probe_hits, stats.probes), (1, 1), "{stats:?}");

    // The evidence says which exchange is an earlier check's, and how old.
    let third = shared_engine(&lab, &cache);
    let (reused, age) = third
        .probe_path_shared_aged(server, &apex, RecordType::CAA, QueryPath::TCP_EDNS)
        .await
        .expect("probe reused");
    assert_eq!(reused, a);
    assert!(age.is_some(), "a reused probe carries its age");
    let (_, age) = third
        .probe_path_shared_aged(server, &apex, RecordType::CAA, QueryPath::UDP_PLAIN)
        .await
        .expect("probe sent");
    assert_eq!(age, None, "a probe sent by this check has no age");
    assert_eq!(third.queries_sent(), 1);
}
