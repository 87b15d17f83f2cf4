//! `dns_path_inconsistent` end to end: every authoritative server of the
//! zones the CA needs is asked over IPv4 and IPv6, UDP with and without EDNS,
//! and TCP; a path that fails or a copy that answers differently is a warning
//! (the single-host stand-in for "resolvable from all locations").
//!
//! DNS method only: the catalogue's base records use documentation addresses
//! that must never be contacted.

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::evidence::DnsPathsEvidence;
use dcv_diagnosis::{CaId, Evidence, Finding, FindingCode, Method, Report, Severity};
use dcv_doctor::demo::{self, check_in_lab};
use dcv_lab::catalogue::{self, NS1, NS2};
use dcv_lab::{Mode, Scenario};

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
    // The stale copy fails every path, on both of its addresses.
    assert_eq!(
        f.summary.matches("(every path)").count(),
        2,
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
    let ev = paths_evidence(f);
    assert_eq!(ev.len(), 1);
    // Two dual-stack servers, three paths each.
    assert_eq!(ev[0].probes.len(), 12, "{:?}", ev[0].probes);
    assert!(ev[0].probes.iter().any(|p| p.server.contains("@[fd5c:")));
    // ns2's every path fails; ns1's every path works.
    for p in &ev[0].probes {
        assert_eq!(p.ok, p.server.starts_with(NS1), "{p:?}");
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
    // Both questions (CAA and the TXT), both addresses, the one path.
    for q in ["www.example.lab/CAA", "_acme-challenge.www.example.lab/TXT"] {
        assert!(
            f.summary.contains(&format!("{} for {q}", short(NS2))),
            "{q}: {}",
            f.summary
        );
    }
    assert_eq!(
        f.summary.matches("(UDP without EDNS)").count(),
        4,
        "{}",
        f.summary
    );
    assert_eq!(paths_evidence(f).len(), 2);
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
    assert_eq!(f.summary.matches("(TCP+EDNS)").count(), 4, "{}", f.summary);
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
    assert_eq!(f.summary.matches("(TCP+EDNS)").count(), 4, "{}", f.summary);
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
