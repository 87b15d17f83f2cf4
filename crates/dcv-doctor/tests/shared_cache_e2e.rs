//! The batch's shared infrastructure cache changes no verdict: every lab
//! catalogue scenario is checked through the batch's [`SharedInfra`]
//! checker (after a first check filled the cache with the scenario's root,
//! TLD and zone) and through [`Isolated`], and each hostname gets the same
//! verdict and the same finding codes both ways. The shared checks say
//! what they reused (`from_shared_cache` in their DNS evidence).

use std::collections::BTreeSet;

use dcv_diagnosis::Report;
use dcv_diagnosis::model::Method;
use dcv_diagnosis::runner::{
    Observations, PROBED_PATHS, PathProbes, ProbeRole, run_check_observed,
};
use dcv_dns::{DnsName, RecordType, SharedInfraCache};
use dcv_doctor::batch::{Isolated, LineChecker, SharedInfra};
use dcv_doctor::demo::lab_config;
use dcv_lab::catalogue::{NS2, ZONE};
use dcv_lab::{Lab, Scenario, catalogue};
use futures::StreamExt as _;

/// Hostnames checked in each scenario: the name the catalogue's records are
/// about, and the zone's apex (no address there: other findings).
const HOSTS: [&str; 2] = ["www.example.lab", "example.lab"];

/// Scenarios checked at once (each its own lab): the machine's cores are
/// shared with the lab servers.
const SCENARIOS_AT_ONCE: usize = 3;

fn outcome(report: &Report) -> (String, BTreeSet<String>) {
    (
        format!("{:?}", report.verdict),
        report.findings.iter().map(|f| f.code.to_string()).collect(),
    )
}

/// Whether the report's DNS evidence names anything taken from a shared
/// cache (findings with DNS evidence only: a passing report has none).
fn reused(report: &Report) -> bool {
    let json = serde_json::to_value(report).expect("report serialises");
    json.to_string().contains("\"from_shared_cache\"")
}

/// Differences between the shared and the isolated checks of one scenario.
async fn compare(scenario: Scenario) -> Vec<String> {
    let name = scenario.name.clone();
    let lab = Lab::start(scenario).await.expect("lab starts");
    let shared = SharedInfra::default();
    let mut problems = Vec::new();
    // The first check fills the cache; the ones after it reuse it.
    shared
        .check(lab_config(&lab, HOSTS[0]).expect("config"))
        .await;
    // Each check meets the path as new (a server that loses each
    // question's first try loses it for every check).
    lab.reset_paths();
    for host in HOSTS {
        let from_cache = shared.check(lab_config(&lab, host).expect("config")).await;
        lab.reset_paths();
        let cold = Isolated
            .check(lab_config(&lab, host).expect("config"))
            .await;
        lab.reset_paths();
        let (a, b) = (outcome(&from_cache.report), outcome(&cold.report));
        if a != b {
            problems.push(format!(
                "{name} {host}: shared {a:?}, isolated {b:?}\n  shared: {}\n  isolated: {}",
                serde_json::to_string(&from_cache.report).unwrap_or_default(),
                serde_json::to_string(&cold.report).unwrap_or_default(),
            ));
        }
        if reused(&cold.report) {
            problems.push(format!(
                "{name} {host}: the isolated check names a shared cache"
            ));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogue_scenario_gets_the_same_findings_with_the_shared_cache() {
    let scenarios = catalogue::all();
    let count = scenarios.len();
    let problems: Vec<String> = futures::stream::iter(scenarios)
        .map(|s| tokio::spawn(compare(s)))
        .buffer_unordered(SCENARIOS_AT_ONCE)
        .flat_map(|r| futures::stream::iter(r.expect("scenario task")))
        .collect()
        .await;
    assert!(
        problems.is_empty(),
        "{} of {count} scenarios differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn dns_queries(report: &Report) -> u64 {
    report.timings_ms.get("dns_queries").copied().unwrap_or(0)
}

#[tokio::test]
async fn a_check_from_the_shared_cache_sends_fewer_packets_for_the_same_verdict() {
    let lab = Lab::start(dcv_doctor::demo::healthy()).await.expect("lab");
    let shared = SharedInfra::default();
    let first = shared
        .check(lab_config(&lab, HOSTS[0]).expect("config"))
        .await;
    let second = shared
        .check(lab_config(&lab, HOSTS[0]).expect("config"))
        .await;
    assert_eq!(outcome(&first.report), outcome(&second.report));
    assert!(
        dns_queries(&second.report) * 3 < dns_queries(&first.report) * 2,
        "{} packets from the cache, {} cold",
        dns_queries(&second.report),
        dns_queries(&first.report)
    );
    let stats = shared.cache.stats();
    assert!(stats.key_hits > 0 && stats.cut_hits > 0, "{stats:?}");
}

/// A TLD whose DS names no key of its: every hostname under it is bogus,
/// the first fetching the chain, the others from the cache, each with the
/// DNS evidence of the failure and the age of what it reused.
#[tokio::test]
async fn a_broken_tld_is_reported_for_every_hostname_under_it() {
    let scenario = dcv_doctor::demo::healthy()
        .with_zone("lab.", |z| z.faults.push(dcv_lab::ZoneFault::DsBadTag));
    let lab = Lab::start(scenario).await.expect("lab");
    let cold = Isolated
        .check(lab_config(&lab, HOSTS[0]).expect("config"))
        .await;
    let shared = SharedInfra::default();
    for (i, host) in [HOSTS[0], HOSTS[1], HOSTS[0]].into_iter().enumerate() {
        let checked = shared.check(lab_config(&lab, host).expect("config")).await;
        let report = &checked.report;
        let codes = outcome(report).1;
        assert_eq!(codes, outcome(&cold.report).1, "{host}");
        let json = serde_json::to_value(report).expect("serialises");
        let bogus_evidence = json["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["evidence"].as_array().into_iter().flatten())
            .filter(|e| e.to_string().contains("bogus"))
            .collect::<Vec<_>>();
        assert!(
            !bogus_evidence.is_empty(),
            "{host}: no bogus evidence: {json}"
        );
        if i > 0 {
            assert!(
                bogus_evidence
                    .iter()
                    .any(|e| e.to_string().contains("\"from_shared_cache\"")),
                "{host}: {bogus_evidence:?}"
            );
        }
    }
}

/// One check of `host` through `cache` (`None`: a single check's own
/// engine), with what its probes saw.
async fn observed(
    lab: &Lab,
    host: &str,
    cache: Option<&SharedInfraCache>,
) -> (Report, Observations) {
    let mut cfg = lab_config(lab, host).expect("config");
    cfg.methods = vec![Method::Dns];
    cfg.dns.shared_cache = cache.cloned();
    let (report, obs) = run_check_observed(cfg).await;
    lab.reset_paths();
    (report, obs.expect("the check ran"))
}

/// The path-probe sets of the hostname's own questions (not a zone apex's).
fn own_sets(obs: &Observations) -> Vec<&PathProbes> {
    obs.paths.iter().filter(|p| p.qname != p.zone).collect()
}

fn paths_of(set: &PathProbes) -> BTreeSet<String> {
    set.probes.iter().map(|p| p.path.to_string()).collect()
}

fn every_path() -> BTreeSet<String> {
    PROBED_PATHS.iter().map(ToString::to_string).collect()
}

/// The second of two batch checks of the first host (the first fills the
/// shared cache) and a single check of it, after asserting both give the
/// same verdict and codes.
async fn warm_and_cold(lab: &Lab) -> [(Report, Observations); 2] {
    let cache = SharedInfraCache::new();
    observed(lab, HOSTS[0], Some(&cache)).await;
    let warm = observed(lab, HOSTS[0], Some(&cache)).await;
    let cold = observed(lab, HOSTS[0], None).await;
    assert_eq!(outcome(&warm.0), outcome(&cold.0));
    [warm, cold]
}

/// In a healthy zone a batch asks every server over every path once (SOA
/// at the apex, shared with its age), and each hostname's own questions
/// only over UDP+EDNS, taken from its own lookup; the CAA climb stops at
/// the zone holding the RRset, the TLD's NS lookup is left out and the
/// vantage preflight is reused. A single check still asks everything.
#[tokio::test]
async fn a_healthy_zone_is_asked_over_every_path_once_per_batch() {
    let lab = Lab::start(dcv_doctor::demo::healthy()).await.expect("lab");
    let [(report, obs), (cold_report, cold)] = warm_and_cold(&lab).await;

    let zone = obs
        .paths
        .iter()
        .find(|p| p.role == ProbeRole::ZonePaths)
        .unwrap_or_else(|| panic!("no shared zone probe: {:#?}", obs.paths));
    assert_eq!(zone.zone.as_str(), ZONE);
    assert_eq!((zone.qname.as_str(), zone.qtype), (ZONE, RecordType::SOA));
    assert!(!zone.expected.is_empty(), "{zone:#?}");
    assert_eq!(paths_of(zone), every_path());
    assert!(
        zone.probes
            .iter()
            .all(|p| p.exchange.is_some() && p.reused_age.is_some()),
        "the second check reuses the first's zone probe: {zone:#?}"
    );

    let own = own_sets(&obs);
    let qtypes: BTreeSet<RecordType> = own.iter().map(|p| p.qtype).collect();
    assert!(
        qtypes.contains(&RecordType::TXT) && qtypes.contains(&RecordType::CAA),
        "{own:#?}"
    );
    for set in own {
        assert_eq!(
            paths_of(set),
            BTreeSet::from(["UDP+EDNS".to_owned()]),
            "{set:#?}"
        );
        assert!(
            set.probes
                .iter()
                .all(|p| p.exchange.is_some() && p.reused_age.is_none()),
            "asked by this check's lookup: {set:#?}"
        );
    }
    assert!(!cold.paths.iter().any(|p| p.role == ProbeRole::ZonePaths));
    for set in own_sets(&cold) {
        assert_eq!(paths_of(set), every_path(), "{set:#?}");
    }

    let tld = DnsName::parse("lab.").expect("name");
    assert!(!obs.caa.iter().any(|l| l.qname == tld), "{:?}", obs.caa);
    assert!(cold.caa.iter().any(|l| l.qname == tld), "{:?}", cold.caa);
    assert!(obs.tld.is_none() && cold.tld.is_some());
    assert!(obs.vantage.is_some() && obs.vantage_reused_age.is_some());
    assert!(cold.vantage_reused_age.is_none());
    assert!(
        dns_queries(&report) * 3 < dns_queries(&cold_report),
        "{} packets from the cache, {} cold",
        dns_queries(&report),
        dns_queries(&cold_report)
    );
}

/// A server that refuses TCP fails the zone's shared probe: every
/// hostname's own questions go over every path again, and the finding
/// names them as a single check's does.
#[tokio::test]
async fn a_server_failing_a_path_has_each_hostname_question_asked_over_every_path() {
    let scenario = dcv_doctor::demo::healthy().with_server(NS2, |s| s.behaviour.tcp_refused = true);
    let lab = Lab::start(scenario).await.expect("lab");
    let [(report, obs), _] = warm_and_cold(&lab).await;
    assert!(
        outcome(&report).1.contains("dns_path_inconsistent"),
        "{:?}",
        outcome(&report)
    );
    assert!(!obs.paths.iter().any(|p| p.role == ProbeRole::ZonePaths));
    let own = own_sets(&obs);
    assert!(!own.is_empty());
    for set in own {
        assert_eq!(paths_of(set), every_path(), "{set:#?}");
    }
    let json = serde_json::to_string(&report).expect("serialises");
    assert!(
        json.contains("_acme-challenge.www.example.lab/TXT"),
        "{json}"
    );
}

/// A TXT RRset too long for a plain UDP answer (RFC 1035 §4.2.1) needs
/// TCP whatever the zone's shared probe says: that question goes over
/// every path, the hostname's short CAA answer over UDP+EDNS alone.
#[tokio::test]
async fn a_long_answer_is_asked_over_every_path() {
    let long = "x".repeat(250);
    let scenario = dcv_doctor::demo::healthy().with_zone(ZONE, |z| {
        z.records.push(format!(
            "_acme-challenge.www TXT \"{long}\" \"{long}\" \"{long}\""
        ));
    });
    let lab = Lab::start(scenario).await.expect("lab");
    let [(_, obs), _] = warm_and_cold(&lab).await;
    let txt = obs
        .paths
        .iter()
        .find(|p| p.qtype == RecordType::TXT)
        .expect("TXT path probes");
    assert_eq!(paths_of(txt), every_path(), "{txt:#?}");
    let caa = own_sets(&obs)
        .into_iter()
        .find(|p| p.qtype == RecordType::CAA)
        .expect("CAA path probes of www");
    assert_eq!(
        paths_of(caa),
        BTreeSet::from(["UDP+EDNS".to_owned()]),
        "{caa:#?}"
    );
}

/// Without a CAA RRset in the hostname's zone the shared climb goes on
/// above it (RFC 8659 §3), to the TLD, as a single check's does.
#[tokio::test]
async fn the_shared_caa_climb_goes_above_a_zone_without_caa() {
    let scenario = dcv_doctor::demo::healthy().with_zone(ZONE, |z| {
        z.records.retain(|r| !r.contains("CAA"));
    });
    let lab = Lab::start(scenario).await.expect("lab");
    let [(_, obs), (_, cold)] = warm_and_cold(&lab).await;
    let names =
        |o: &Observations| -> Vec<String> { o.caa.iter().map(|l| l.qname.to_string()).collect() };
    assert_eq!(names(&obs), names(&cold));
    assert!(
        names(&obs).contains(&"lab.".to_owned()),
        "{:?}",
        names(&obs)
    );
}
