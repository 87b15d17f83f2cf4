//! Acceptance for issue 8 with real network perspectives: every agent is the
//! `dcv-doctor agent` binary running in its own network namespace (its own
//! source addresses, veth to this host, no route out; `dcv_lab::netns`).
//!
//! - `lacnic-1` cannot reach `example.lab.`'s nameservers: an nftables egress
//!   drop in its namespace, so its queries really time out;
//! - `afrinic-1` sits behind split-horizon DNS: the same nameservers answer
//!   its source addresses from another signed copy of the zone (a CAA set
//!   that forbids Let's Encrypt, a stale TXT), as geo DNS can;
//! - `ripe-1` cannot reach one of the two nameservers (`ns1`): like a CA's
//!   resolver it gets its answers from `ns2`, so it still corroborates;
//! - `arin-1`, `apnic-1` see what the primary (this host) sees.
//!
//! The coordinator runs here, in-process, as `check --perspectives` does.
//! Needs root, iproute2 and nftables (the test says how to install them).
//! `DCV_SHOW_REPORT=1 cargo test -p dcv-doctor --test mpic_netns -- --nocapture`
//! prints the two-bad-perspectives report (the one in the README).

mod mpic_common;

use std::time::Duration;

use dcv_diagnosis::{CaId, FindingCode, Severity, Verdict, WhoFixes};
use dcv_doctor::demo::healthy;
use dcv_doctor::mpic::{MpicOptions, render_mpic_text, run_mpic_check};
use dcv_lab::catalogue::{NS1, NS2, ZONE};
use dcv_lab::{Lab, Scenario};
use dcv_mpic::{Check, QuorumOutcome, Rir};
use mpic_common::{NetnsAgent as Perspective, TOKEN, primary_config, quorum};

/// The view of the zone that `afrinic-1`'s source addresses get.
const GEO_VIEW: &str = "afrinic-geo";

/// The demo's healthy world, plus the geo view: `afrinic-1`'s addresses get a
/// copy of `example.lab.` whose CAA allows only pki.goog and whose TXT is stale.
fn world(geo_sources: Vec<String>) -> Scenario {
    let mut s = healthy().view(GEO_VIEW, geo_sources);
    let mut geo = s.zone_mut(ZONE).unwrap().clone().for_view(GEO_VIEW);
    geo.records
        .retain(|r| !r.contains("CAA") && !r.contains("TXT"));
    geo.records.push("@ CAA 0 issue \"pki.goog\"".into());
    geo.records
        .push("_acme-challenge.www TXT \"stale-value\"".into());
    s.zone(geo)
}

fn opts() -> MpicOptions {
    MpicOptions {
        // Pinned: at least 4 remotes and 2 RIRs (BR 3.2.2.9 from 2026-06-15).
        as_of: dcv_mpic::parse_date("2026-12-02").unwrap(),
        perspective_timeout: Duration::from_secs(45),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perspectives_in_network_namespaces_corroborate_by_the_br_quorum() {
    let mut arin = Perspective::new("arin-1", Rir::Arin);
    let mut ripe = Perspective::new("ripe-1", Rir::Ripe);
    let mut apnic = Perspective::new("apnic-1", Rir::Apnic);
    let mut lacnic = Perspective::new("lacnic-1", Rir::Lacnic);
    let mut afrinic = Perspective::new("afrinic-1", Rir::Afrinic);

    let lab = Lab::start(world(afrinic.netns.sources())).await.unwrap();
    let dropped: Vec<_> = [NS1, NS2]
        .iter()
        .flat_map(|ns| lab.server_addrs(ns))
        .collect();
    lacnic.netns.drop_egress_to(&dropped).unwrap();
    ripe.netns.drop_egress_to(&lab.server_addrs(NS1)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    for p in [&mut arin, &mut ripe, &mut apnic, &mut lacnic, &mut afrinic] {
        p.start(dir.path(), &lab);
    }

    // 1. One bad perspective of four (lacnic-1: timeouts): quorum met.
    let specs = [arin.spec(), ripe.spec(), apnic.spec(), lacnic.spec()];
    let report = run_mpic_check(primary_config(&lab), &specs, &opts()).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_ne!(report.verdict, Verdict::Fail, "{json}");
    for check in [Check::Caa, Check::Dcv] {
        let q = quorum(&report, check);
        assert_eq!(q.outcome, QuorumOutcome::Met, "{json}");
        assert_eq!(q.quorum_result, "3/4");
        assert_eq!(q.failed_perspectives, ["lacnic-1"]);
    }
    let caa = report.expect_finding(FindingCode::MpicCaaDisagreement);
    assert_eq!(caa.severity, Severity::Warning);
    assert!(caa.blocks.is_empty());
    // Its evidence: lacnic-1's own lookups, every dropped server timing out.
    let evidence = serde_json::to_string(&caa.evidence).unwrap();
    for ip in &dropped {
        assert!(evidence.contains(&ip.to_string()), "{ip}: {evidence}");
    }
    assert!(evidence.contains("timed out"), "{evidence}");
    assert!(
        caa.explanation.contains("lacnic-1") && !caa.explanation.contains("arin-1 ("),
        "{}",
        caa.explanation
    );
    assert!(
        lacnic.netns.dropped_packets().unwrap() > 0,
        "the timeouts came from the filter"
    );
    // ripe-1 lost ns1 only: it did try ns1 (the filter dropped its packets)
    // and still corroborated through ns2, as a CA's resolver would.
    assert!(ripe.netns.dropped_packets().unwrap() > 0);
    let mpic = report.mpic.as_ref().unwrap();
    for check in [Check::Caa, Check::Dcv] {
        assert!(
            quorum(&report, check)
                .passed_perspectives
                .contains(&"ripe-1".to_owned()),
            "{json}"
        );
    }
    assert!(mpic.perspectives.iter().all(|p| p.status == "ok"), "{json}");

    // 2. Two bad of four (lacnic-1 times out, afrinic-1 is answered from the
    // geo copy): quorum not met, both named with what they saw.
    let specs = [arin.spec(), ripe.spec(), lacnic.spec(), afrinic.spec()];
    let report = run_mpic_check(primary_config(&lab), &specs, &opts()).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.verdict, Verdict::Fail, "{json}");
    for check in [Check::Caa, Check::Dcv] {
        let q = quorum(&report, check);
        assert_eq!(q.outcome, QuorumOutcome::NotMet, "{json}");
        assert_eq!(q.quorum_result, "2/4");
        assert_eq!(q.failed_perspectives, ["afrinic-1", "lacnic-1"]);
    }
    let caa = report.expect_finding(FindingCode::MpicCaaDisagreement);
    assert_eq!(caa.severity, Severity::Error);
    assert_eq!(caa.blocks, [CaId::Letsencrypt]);
    assert!(
        caa.explanation.contains("afrinic-1") && caa.explanation.contains("sees caa_forbids"),
        "{}",
        caa.explanation
    );
    assert!(caa.explanation.contains("lacnic-1"), "{}", caa.explanation);
    // afrinic-1's evidence holds the geo copy's CAA record.
    let evidence = serde_json::to_string(&caa.evidence).unwrap();
    assert!(evidence.contains("pki.goog"), "{evidence}");
    let dcv = report.expect_finding(FindingCode::MpicDcvDisagreement);
    assert!(
        serde_json::to_string(&dcv.evidence)
            .unwrap()
            .contains("stale-value"),
        "{json}"
    );
    // The primary itself is not fooled: its own view has no CAA finding.
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::CaaForbids)
    );
    if std::env::var_os("DCV_SHOW_REPORT").is_some() {
        println!("{}", dcv_diagnosis::render::render_text(&report, false));
        println!("{}", render_mpic_text(report.mpic.as_ref().unwrap()));
    }

    // 3. An agent that is down (its namespace still there): unavailable, our
    // side's problem, never the domain's.
    lacnic.kill();
    let specs = [arin.spec(), ripe.spec(), apnic.spec(), lacnic.spec()];
    let report = run_mpic_check(primary_config(&lab), &specs, &opts()).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_ne!(report.verdict, Verdict::Fail, "{json}");
    let down = report.expect_finding(FindingCode::PerspectiveUnavailable);
    assert_eq!(down.who_fixes, WhoFixes::Requester);
    assert!(down.blocks.is_empty());
    assert!(down.summary.contains("lacnic-1"), "{}", down.summary);
    assert!(!report.findings.iter().any(|f| matches!(
        f.code,
        FindingCode::MpicCaaDisagreement | FindingCode::MpicDcvDisagreement
    )));
    let q = quorum(&report, Check::Caa);
    assert_eq!(q.unavailable_perspectives, ["lacnic-1"], "{json}");
    assert_eq!(q.quorum_result, "3/4", "{json}");
}
