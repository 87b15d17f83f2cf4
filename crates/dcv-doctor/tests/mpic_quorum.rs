//! Acceptance for issue 8: real agents on distinct loopback addresses, some of
//! them seeing a broken copy of the zone (see `mpic_common`), and the BR
//! 3.2.2.9 quorum applied to their reports.

mod mpic_common;

use std::net::SocketAddr;
use std::time::Duration;

use dcv_diagnosis::{CaId, Evidence, FindingCode, Report, Severity, Verdict, WhoFixes};
use dcv_doctor::mpic::{
    CLOUDFLARE_MPIC_CAA, CLOUDFLARE_MPIC_DCV, MpicOptions, PerspectiveFailure, PerspectiveSpec,
    ask_perspectives, run_mpic_check,
};
use dcv_lab::Lab;
use dcv_mpic::{Check, QuorumOutcome, Rir};
use mpic_common::{
    agent, agent_ip, broken, certs, http_primary_config, primary_config, quorum, spec,
};

fn opts() -> MpicOptions {
    MpicOptions {
        // After 2026-06-15: at least 4 remotes, corroboration from 2 RIRs.
        as_of: dcv_mpic::parse_date("2026-11-28").unwrap(),
        perspective_timeout: Duration::from_secs(20),
    }
}

/// Four perspectives (ARIN, RIPE, APNIC, LACNIC); the last `bad` see the broken zone.
async fn run(bad: usize) -> Report {
    run_with(bad, primary_config).await
}

async fn run_with(bad: usize, primary: fn(&Lab) -> dcv_diagnosis::config::CheckConfig) -> Report {
    run_full(bad, primary, false, 4).await
}

/// As [`run_with`]; `primary_bad`: the primary itself sees the broken copy.
async fn run_full(
    bad: usize,
    primary: fn(&Lab) -> dcv_diagnosis::config::CheckConfig,
    primary_bad: bool,
    count: usize,
) -> Report {
    let good_lab = Lab::start(dcv_doctor::demo::healthy()).await.unwrap();
    let bad_lab = Lab::start(broken()).await.unwrap();
    let names = [
        ("arin-1", Rir::Arin),
        ("ripe-1", Rir::Ripe),
        ("apnic-1", Rir::Apnic),
        ("lacnic-1", Rir::Lacnic),
    ];
    let names = &names[..count];
    let ips: Vec<_> = names.iter().map(|_| agent_ip()).collect();
    let certs = certs(&ips);
    let mut agents = Vec::new();
    let mut specs = Vec::new();
    for (i, ((name, rir), ip)) in names.iter().zip(&ips).enumerate() {
        let lab = if i >= names.len() - bad {
            &bad_lab
        } else {
            &good_lab
        };
        let running = agent(*ip, lab, name, *rir, &certs).await;
        specs.push(spec(&running, name, *rir, &certs));
        agents.push(running);
    }
    // Distinct loopback addresses, one per perspective.
    let addrs: std::collections::BTreeSet<_> = agents.iter().map(|a| a.addr().ip()).collect();
    assert_eq!(addrs.len(), count);
    let primary_lab = if primary_bad { &bad_lab } else { &good_lab };
    run_mpic_check(primary(primary_lab), &specs, &opts()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_met_with_one_bad_perspective_of_four() {
    let report = run(1).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_ne!(report.verdict, Verdict::Fail, "{json}");
    assert!(
        report.ca_verdicts.iter().all(|v| v.would_validate),
        "{json}"
    );
    for check in [Check::Caa, Check::Dcv] {
        let q = quorum(&report, check);
        assert_eq!(q.outcome, QuorumOutcome::Met, "{json}");
        assert_eq!(q.quorum_result, "3/4");
        assert_eq!(q.failed_perspectives, ["lacnic-1"]);
        assert_eq!(q.passed_rirs, [Rir::Arin, Rir::Ripe, Rir::Apnic]);
    }
    // The disagreement is still shown, as a warning that blocks nothing.
    for code in [
        FindingCode::MpicCaaDisagreement,
        FindingCode::MpicDcvDisagreement,
    ] {
        let f = report
            .findings
            .iter()
            .find(|f| f.code == code)
            .unwrap_or_else(|| panic!("{code}: {json}"));
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.blocks.is_empty());
        assert!(f.explanation.contains("lacnic-1"), "{}", f.explanation);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_not_met_with_two_bad_perspectives_names_them_and_their_evidence() {
    let report = run(2).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.verdict, Verdict::Fail, "{json}");
    let le = report
        .ca_verdicts
        .iter()
        .find(|v| v.ca == CaId::Letsencrypt)
        .unwrap();
    assert!(!le.would_validate);
    let blocked = &le.methods[0].blocked_by;
    assert!(
        blocked.contains(&FindingCode::MpicCaaDisagreement),
        "{blocked:?}"
    );
    assert!(
        blocked.contains(&FindingCode::MpicDcvDisagreement),
        "{blocked:?}"
    );

    for (check, code, message, seen) in [
        (
            Check::Caa,
            FindingCode::MpicCaaDisagreement,
            CLOUDFLARE_MPIC_CAA,
            "caa_forbids",
        ),
        (
            Check::Dcv,
            FindingCode::MpicDcvDisagreement,
            CLOUDFLARE_MPIC_DCV,
            "txt_mismatch",
        ),
    ] {
        let q = quorum(&report, check);
        assert_eq!(q.outcome, QuorumOutcome::NotMet, "{json}");
        assert_eq!(q.quorum_result, "2/4");
        assert_eq!(q.failed_perspectives, ["apnic-1", "lacnic-1"]);
        let f = report.findings.iter().find(|f| f.code == code).unwrap();
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.blocks, [CaId::Letsencrypt]);
        assert_eq!(f.who_fixes, WhoFixes::DnsProvider);
        assert_eq!(f.ca_message.as_deref(), Some(message));
        let detail = f.acme_detail.as_deref().unwrap();
        assert!(
            detail.starts_with("During secondary validation: "),
            "{detail}"
        );
        // Each bad perspective is named with what it saw.
        for name in [
            "apnic-1 (region-of-apnic-1, APNIC)",
            "lacnic-1 (region-of-lacnic-1, LACNIC)",
        ] {
            assert!(
                f.explanation
                    .contains(&format!("perspective {name} sees {seen}")),
                "{}",
                f.explanation
            );
        }
        assert!(
            f.explanation
                .contains("primary perspective (this machine) sees")
        );
        // Their evidence: the CAA decision / the TXT lookup the bad ones made.
        match check {
            Check::Caa => assert!(
                f.evidence.iter().any(|e| matches!(e, Evidence::Caa(_))),
                "{json}"
            ),
            Check::Dcv => assert!(
                f.evidence
                    .iter()
                    .any(|e| matches!(e, Evidence::DnsLookup(_))),
                "{json}"
            ),
        }
    }
    // The primary's own view is untouched: no CAA or TXT finding of its own.
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::CaaForbids)
    );
    // Deterministic summary.
    let mpic = report.mpic.as_ref().unwrap();
    let names: Vec<&str> = mpic.perspectives.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["apnic-1", "arin-1", "lacnic-1", "ripe-1"]);
    assert!(mpic.perspectives.iter().all(|p| p.status == "ok"));
    // The whole summary is deterministic (sorted, no timings, no addresses).
    insta::assert_json_snapshot!("two_bad_of_four_mpic", mpic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_is_down_or_refuses_is_unavailable_not_a_domain_failure() {
    let lab = Lab::start(dcv_doctor::demo::healthy()).await.unwrap();
    let ips: Vec<_> = (0..4).map(|_| agent_ip()).collect();
    let certs = certs(&ips);
    let arin = agent(ips[0], &lab, "arin-1", Rir::Arin, &certs).await;
    let ripe = agent(ips[1], &lab, "ripe-1", Rir::Ripe, &certs).await;
    let apnic = agent(ips[2], &lab, "apnic-1", Rir::Apnic, &certs).await;
    // A port nobody listens on: bind, note it, close.
    let down_addr = {
        let l = std::net::TcpListener::bind(SocketAddr::new(ips[3], 0)).unwrap();
        l.local_addr().unwrap()
    };
    let mut specs = vec![
        spec(&arin, "arin-1", Rir::Arin, &certs),
        spec(&ripe, "ripe-1", Rir::Ripe, &certs),
        spec(&apnic, "apnic-1", Rir::Apnic, &certs),
        PerspectiveSpec {
            name: "lacnic-down".into(),
            url: format!("https://{down_addr}/v1/check"),
            region: "sa-east".into(),
            rir: Some(Rir::Lacnic),
            token: mpic_common::TOKEN.into(),
            ca_cert_pem: certs.cert_pem.clone(),
        },
    ];
    let report = run_mpic_check(primary_config(&lab), &specs, &opts()).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_ne!(report.verdict, Verdict::Fail, "{json}");
    let f = report
        .findings
        .iter()
        .find(|f| f.code == FindingCode::PerspectiveUnavailable)
        .expect(&json);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.who_fixes, WhoFixes::Requester);
    assert!(f.blocks.is_empty());
    assert!(f.summary.contains("lacnic-down"), "{}", f.summary);
    assert!(!report.findings.iter().any(|f| matches!(
        f.code,
        FindingCode::MpicCaaDisagreement | FindingCode::MpicDcvDisagreement
    )));
    let q = quorum(&report, Check::Caa);
    assert_eq!(q.unavailable_perspectives, ["lacnic-down"]);
    assert_eq!(q.quorum_result, "3/4");
    // The reason is typed, not a string to re-parse: nobody listening is
    // unreachable, told apart from a refusal or a timeout.
    let outcomes = ask_perspectives(&primary_config(&lab), &specs[3..], &opts()).await;
    assert!(
        matches!(&outcomes[0].answer, Err(PerspectiveFailure::Unreachable { detail }) if detail.contains(&down_addr.to_string())),
        "{:?}",
        outcomes[0].answer
    );
    assert!(
        f.summary.contains("unreachable: connecting to"),
        "{}",
        f.summary
    );

    // Wrong token: refused with 401, reported the same way, still not the domain's fault.
    specs[3] = spec(&apnic, "apnic-wrong-token", Rir::Apnic, &certs);
    specs[3].token = "not-the-right-token-at-all".into();
    let report = run_mpic_check(primary_config(&lab), &specs, &opts()).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_ne!(report.verdict, Verdict::Fail, "{json}");
    let f = report
        .findings
        .iter()
        .find(|f| f.code == FindingCode::PerspectiveUnavailable)
        .expect(&json);
    assert!(
        f.summary.contains("apnic-wrong-token") && f.summary.contains("401"),
        "{}",
        f.summary
    );
    let outcomes = ask_perspectives(&primary_config(&lab), &specs[3..], &opts()).await;
    assert!(
        matches!(
            &outcomes[0].answer,
            Err(PerspectiveFailure::Refused { status: 401, .. })
        ),
        "{:?}",
        outcomes[0].answer
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_01_remotes_fetching_another_key_authorisation_do_not_corroborate() {
    let report = run_with(2, http_primary_config).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.verdict, Verdict::Fail, "{json}");
    let mpic = report.mpic.as_ref().unwrap();
    let q = |check| {
        mpic.quorums
            .iter()
            .find(|q| q.ca == "google" && q.method == "http" && q.check == check)
            .unwrap()
    };
    // CAA allows pki.goog in both copies: corroborated by all four.
    assert_eq!(q(Check::Caa).outcome, QuorumOutcome::Met);
    assert_eq!(q(Check::Caa).quorum_result, "4/4");
    assert_eq!(q(Check::Dcv).outcome, QuorumOutcome::NotMet);
    assert_eq!(q(Check::Dcv).quorum_result, "2/4");
    let f = report
        .findings
        .iter()
        .find(|f| f.code == FindingCode::MpicDcvDisagreement)
        .unwrap();
    assert_eq!(f.blocks, [CaId::Google]);
    assert_eq!(f.method, Some(dcv_diagnosis::Method::Http));
    assert!(
        f.explanation.contains("sees http_token_mismatch"),
        "{}",
        f.explanation
    );
    assert!(
        f.evidence.iter().any(|e| matches!(e, Evidence::Http(_))),
        "{json}"
    );
    // Google is not Let's Encrypt: no `During secondary validation: ` prefix.
    let detail = f.acme_detail.as_deref().unwrap();
    assert!(
        !detail.starts_with("During secondary validation"),
        "{detail}"
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::MpicCaaDisagreement)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lets_encrypt_never_asks_remotes_when_the_primary_fails() {
    // The primary sees the broken copy; every remote sees the healthy zone.
    let report = run_full(0, primary_config, true, 4).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_eq!(report.verdict, Verdict::Fail, "{json}");
    // The primary's own findings say why; no MPIC finding is added.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == FindingCode::CaaForbids),
        "{json}"
    );
    assert!(!report.findings.iter().any(|f| matches!(
        f.code,
        FindingCode::MpicCaaDisagreement | FindingCode::MpicDcvDisagreement
    )));
    for check in [Check::Caa, Check::Dcv] {
        let q = quorum(&report, check);
        assert_eq!(q.outcome, QuorumOutcome::NotAttempted, "{json}");
        assert!(
            q.reason.contains("never asks the remote perspectives"),
            "{}",
            q.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_perspectives_for_the_date_is_inconclusive_not_a_failure() {
    // Three remotes, one bad: 2026-11-28 wants at least four.
    let report = run_full(1, primary_config, false, 3).await;
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert_ne!(report.verdict, Verdict::Fail, "{json}");
    let q = quorum(&report, Check::Caa);
    assert_eq!(q.outcome, QuorumOutcome::Inconclusive, "{json}");
    assert!(q.reason.contains("requires at least 4"), "{}", q.reason);
    let f = report
        .findings
        .iter()
        .find(|f| f.code == FindingCode::MpicCaaDisagreement)
        .expect(&json);
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.summary.contains("cannot be judged"), "{}", f.summary);
    let short = report
        .findings
        .iter()
        .find(|f| f.code == FindingCode::PerspectiveUnavailable)
        .expect(&json);
    assert!(
        short.summary.contains("too few remote perspectives"),
        "{}",
        short.summary
    );
    assert_eq!(short.who_fixes, WhoFixes::Requester);
}
