//! The batch's shared infrastructure cache changes no verdict: every lab
//! catalogue scenario is checked through the batch's [`SharedInfra`]
//! checker (after a first check filled the cache with the scenario's root,
//! TLD and zone) and through [`Isolated`], and each hostname gets the same
//! verdict and the same finding codes both ways. The shared checks say
//! what they reused (`from_shared_cache` in their DNS evidence).

use std::collections::BTreeSet;

use dcv_diagnosis::Report;
use dcv_doctor::batch::{Isolated, LineChecker, SharedInfra};
use dcv_doctor::demo::lab_config;
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
