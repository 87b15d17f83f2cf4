//! `dns_path_inconsistent` end to end: every authoritative server of the
//! zones the CA needs is asked over IPv4 and IPv6, UDP with and without EDNS,
//! and TCP; a path that fails or a copy that answers differently is a warning
//! (the single-host stand-in for "resolvable from all locations"). The CAA
//! questions are every name the RFC 8659 §3 climb asks, of the zone that
//! answers each: in the catalogue's base world `www.example.lab/CAA` and the
//! apex `example.lab/CAA`, where the climb stops.
//!
//! DNS method only: the catalogue's base records use documentation addresses
//! that must never be contacted.

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::evidence::DnsPathsEvidence;
use dcv_diagnosis::{CaId, Evidence, Finding, FindingCode, Method, Report, Severity};
use dcv_doctor::demo::{self, check_in_lab};
use dcv_lab::catalogue::{self, NS1, NS2};
use dcv_lab::{Mode, Scenario, ServerSpec, ZoneSpec};

fn run(scenario: Scenario, hostname: &str) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(check_in_lab(scenario, hostname, |cfg: &mut CheckConfig| {
        cfg.methods = vec![Method::Dns];
        cfg.cas = vec![CaId::Letsencrypt];
        cfg.txt_values = vec!["token".to_owned()];
    }))
    .expect("lab starts")
}

fn path_findings(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::DnsPathInconsistent)
        .collect()
}

fn paths_evidence(f: &Finding) -> Vec<&DnsPathsEvidence> {
    f.evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::DnsPaths(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap()
}

fn short(ns: &str) -> &str {
    ns.trim_end_matches('.')
}

#[test]
fn truncation_with_working_tcp_is_healthy() {
    let report = run(catalogue::tc_tcp(), "www.example.lab");
    assert!(path_findings(&report).is_empty(), "{}", json(&report));
    assert!(report.ca_verdicts[0].would_validate, "{}", json(&report));
}

#[test]
fn a_fully_healthy_signed_zone_has_no_path_warning() {
    let report = run(demo::healthy(), "www.example.lab");
    assert!(path_findings(&report).is_empty(), "{}", json(&report));
    assert!(report.ca_verdicts[0].would_validate);
}

#[test]
fn a_copy_that_answers_differently_is_named() {
    // ns2 serves an old copy of example.lab. without the TXT record.
    let report = run(catalogue::stale_secondary(), "www.example.lab");
    let found = path_findings(&report);
    let differs: Vec<&&Finding> = found
        .iter()
        .filter(|f| f.summary.contains("different"))
        .collect();
    assert_eq!(differs.len(), 1, "{}", json(&report));
    let f = differs[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.blocks.is_empty());
    // The resolver view took one copy at random: the other one is named.
    let names_one = f.summary.contains(short(NS1)) != f.summary.contains(short(NS2));
    assert!(names_one, "{}", f.summary);
    assert!(f.summary.contains("_acme-challenge.www.example.lab/TXT"));
    // The stale copy also lacks the apex CAA, the RRset the CAA climb
    // (RFC 8659 §3) stops at: that question is asked of the zone too.
    assert!(f.summary.contains(" for example.lab/CAA"), "{}", f.summary);
    // The stale copy fails every path, on both of its addresses, for both
    // questions.
    assert_eq!(
        f.summary.matches("(every path)").count(),
        4,
        "{}",
        f.summary
    );
    let ev = paths_evidence(f);
    for path in ["UDP+EDNS", "UDP without EDNS", "TCP+EDNS"] {
        assert!(
            ev[0].probes.iter().any(|p| p.path == path && !p.ok),
            "{path}"
        );
    }
    assert!(ev.iter().any(|e| e.probes.iter().any(|p| !p.ok)));
    assert!(ev.iter().any(|e| e.probes.iter().any(|p| p.ok)));
}

#[test]
fn a_server_that_fails_only_caa_is_named_with_its_paths() {
    let scenario =
        catalogue::unsigned().with_server(NS2, |s| *s = s.clone().type_mode("CAA", Mode::ServFail));
    let report = run(scenario, "www.example.lab");
    let found = path_findings(&report);
    assert_eq!(found.len(), 1, "{}", json(&report));
    let f = found[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.summary.contains("answer SERVFAIL"), "{}", f.summary);
    assert!(f.summary.contains(short(NS2)), "{}", f.summary);
    assert!(!f.summary.contains(short(NS1)), "{}", f.summary);
    assert!(f.summary.contains("www.example.lab/CAA"), "{}", f.summary);
    assert!(
        f.ca_message
            .as_deref()
            .is_some_and(|m| m.contains("multiple perspective CAA"))
    );
    // The name's CAA and the apex CAA the climb stops at, same zone.
    let ev = paths_evidence(f);
    let queries: Vec<&str> = ev.iter().map(|e| e.query.as_str()).collect();
    assert_eq!(queries, ["www.example.lab/CAA", "example.lab/CAA"]);
    for e in &ev {
        // Two dual-stack servers, three paths each.
        assert_eq!(e.probes.len(), 12, "{:?}", e.probes);
        assert!(e.probes.iter().any(|p| p.server.contains("@[fd5c:")));
        // ns2's every path fails; ns1's every path works.
        for p in &e.probes {
            assert_eq!(p.ok, p.server.starts_with(NS1), "{p:?}");
        }
    }
    // The walk's own per-server warning is still there.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::DnsServfail && f.severity == Severity::Warning)
    );
    assert!(report.ca_verdicts[0].would_validate, "{}", json(&report));
}

#[test]
fn a_middlebox_that_drops_queries_without_edns_is_named() {
    // The walk (always EDNS) sees nothing wrong; only the plain path fails.
    let scenario =
        catalogue::unsigned().with_server(NS2, |s| *s = s.clone().no_edns_mode(Mode::Timeout));
    let report = run(scenario, "www.example.lab");
    let found = path_findings(&report);
    assert_eq!(found.len(), 1, "{}", json(&report));
    let f = found[0];
    assert!(f.summary.contains("do not answer"), "{}", f.summary);
    assert!(!f.summary.contains(short(NS1)), "{}", f.summary);
    // Every question (the name's CAA, the apex CAA the climb stops at, the
    // TXT), both addresses, the one path.
    for q in [
        "www.example.lab/CAA",
        "example.lab/CAA",
        "_acme-challenge.www.example.lab/TXT",
    ] {
        assert!(
            f.summary.contains(&format!("{} for {q}", short(NS2))),
            "{q}: {}",
            f.summary
        );
    }
    assert_eq!(
        f.summary.matches("(UDP without EDNS)").count(),
        6,
        "{}",
        f.summary
    );
    assert_eq!(paths_evidence(f).len(), 3);
    assert!(report.ca_verdicts[0].would_validate, "{}", json(&report));
}

#[test]
fn refused_over_tcp_is_named() {
    let scenario =
        catalogue::unsigned().with_server(NS1, |s| *s = s.clone().tcp_mode(Mode::Refused));
    let report = run(scenario, "www.example.lab");
    let found = path_findings(&report);
    assert_eq!(found.len(), 1, "{}", json(&report));
    let f = found[0];
    assert!(f.summary.contains("answer REFUSED"), "{}", f.summary);
    assert!(f.summary.contains(short(NS1)) && !f.summary.contains(short(NS2)));
    // Three questions (two CAA on the climb, the TXT) x two addresses.
    assert_eq!(f.summary.matches("(TCP+EDNS)").count(), 6, "{}", f.summary);
}

#[test]
fn truncation_without_working_tcp_is_named() {
    // TC over UDP and TCP/53 blocked: no resolver gets the answer from ns2.
    let scenario = catalogue::unsigned().with_server(NS2, |s| {
        *s = s.clone().truncate_udp().tcp_mode(Mode::Timeout);
    });
    let report = run(scenario, "www.example.lab");
    let found = path_findings(&report);
    assert_eq!(found.len(), 1, "{}", json(&report));
    let f = found[0];
    assert!(f.summary.contains("do not answer"), "{}", f.summary);
    assert!(f.summary.contains(short(NS2)) && !f.summary.contains(short(NS1)));
    assert_eq!(f.summary.matches("(TCP+EDNS)").count(), 6, "{}", f.summary);
    // The UDP answers are shown as truncated, not as failures of their own.
    let ev = paths_evidence(f);
    assert!(
        ev.iter()
            .flat_map(|e| &e.probes)
            .any(|p| p.server.starts_with(NS2) && p.outcome.starts_with("TC") && p.ok)
    );
}

#[test]
fn a_silent_server_is_named_and_its_probes_are_bounded() {
    let report = run(catalogue::one_server_timeout(), "www.example.lab");
    let found = path_findings(&report);
    assert_eq!(found.len(), 1, "{}", json(&report));
    let f = found[0];
    assert!(f.summary.contains("do not answer"), "{}", f.summary);
    assert!(f.summary.contains("(every path)"), "{}", f.summary);
    // Lab timeouts are 700 ms without retries: the probes of a zone end by
    // their deadline (two timeouts), beside the walk's own timeouts.
    let probes_ms = report.timings_ms["probes"];
    assert!(probes_ms < 4000, "probes took {probes_ms} ms");
    assert!(report.ca_verdicts[0].would_validate, "{}", json(&report));
}

/// The CDN provider's servers for the delegated `www.example.lab.`.
const CDN_NS1: &str = "ns1.cdn-provider.lab.";
const CDN_NS2: &str = "ns2.cdn-provider.lab.";

/// `www.example.lab.` is its own zone on a provider's servers, with no CAA;
/// the CAA that decides is `example.lab.`'s, on `ns1`/`ns2.example.lab.`
/// (RFC 8659 §3: the climb leaves the name's zone).
fn delegated_www() -> Scenario {
    catalogue::unsigned()
        .rename("delegated-www", "www.example.lab. delegated to a provider")
        .server(ServerSpec::new(CDN_NS1))
        .server(ServerSpec::new(CDN_NS2))
        .with_zone(catalogue::ZONE, |z| {
            z.records
                .retain(|r| !r.starts_with("www ") && !r.starts_with("_acme-challenge.www "));
        })
        .zone(
            ZoneSpec::new(catalogue::WWW)
                .served_by(CDN_NS1)
                .served_by(CDN_NS2)
                .records([
                    "@ A 192.0.2.10".to_owned(),
                    "_acme-challenge TXT \"token\"".to_owned(),
                ]),
        )
}

fn caa_evidence_of<'a>(f: &'a Finding, query: &str) -> Option<&'a DnsPathsEvidence> {
    paths_evidence(f).into_iter().find(|e| e.query == query)
}

#[test]
fn the_parent_zone_holding_the_caa_is_probed_and_its_tcp_timeout_named() {
    // The provider's zone is healthy; the parent's ns1 drops TCP/53.
    let scenario = delegated_www().with_server(NS1, |s| *s = s.clone().tcp_mode(Mode::Timeout));
    let report = run(scenario, "www.example.lab");
    let found = path_findings(&report);
    assert_eq!(found.len(), 1, "{}", json(&report));
    let f = found[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.blocks.is_empty());
    assert!(
        f.summary
            .starts_with("nameservers of example.lab do not answer"),
        "{}",
        f.summary
    );
    // Both addresses of ns1, the TCP path only, for the parent's CAA question.
    assert!(
        f.summary
            .contains(&format!("{} for example.lab/CAA", short(NS1))),
        "{}",
        f.summary
    );
    assert_eq!(f.summary.matches("(TCP+EDNS)").count(), 2, "{}", f.summary);
    assert!(!f.summary.contains(short(NS2)), "{}", f.summary);
    assert!(!f.summary.contains("cdn-provider"), "{}", f.summary);
    assert!(
        f.ca_message
            .as_deref()
            .is_some_and(|m| m.contains("multiple perspective CAA"))
    );
    assert!(f.explanation.contains("RFC 8659 §3"), "{}", f.explanation);
    // The evidence names the zone, the question, the server and the path.
    let ev = caa_evidence_of(f, "example.lab/CAA").expect("parent CAA evidence");
    assert_eq!(ev.zone, catalogue::ZONE);
    assert!(ev.role.as_deref().is_some_and(|r| r.contains("relevant")));
    assert_eq!(ev.probes.len(), 12, "{:?}", ev.probes);
    for p in &ev.probes {
        let fails = p.server.starts_with(NS1) && p.path == "TCP+EDNS";
        assert_eq!(p.ok, !fails, "{p:?}");
        if fails {
            assert_eq!(p.outcome, "timeout", "{p:?}");
        }
    }
    // The name's own CAA is asked of its own zone, not of the parent's.
    assert!(caa_evidence_of(f, "www.example.lab/CAA").is_none());
    assert!(report.ca_verdicts[0].would_validate, "{}", json(&report));
}

#[test]
fn a_parent_that_drops_queries_without_edns_is_named() {
    let scenario = delegated_www().with_server(NS2, |s| *s = s.clone().no_edns_mode(Mode::Timeout));
    let report = run(scenario, "www.example.lab");
    let found = path_findings(&report);
    assert_eq!(found.len(), 1, "{}", json(&report));
    let f = found[0];
    assert!(
        f.summary
            .contains(&format!("{} for example.lab/CAA: 127.", short(NS2))),
        "{}",
        f.summary
    );
    assert_eq!(
        f.summary.matches("(UDP without EDNS)").count(),
        2,
        "{}",
        f.summary
    );
}

#[test]
fn a_healthy_parent_zone_gives_no_path_warning() {
    let report = run(delegated_www(), "www.example.lab");
    assert!(path_findings(&report).is_empty(), "{}", json(&report));
    assert!(report.ca_verdicts[0].would_validate, "{}", json(&report));
}
