//! `check --dcv-delegation TARGET` end to end (cloudflare-dcv.md §2.4,
//! Delegated DCV): real lab DNS servers on loopback, the real engine and rules.
//! `example.lab.` holds `_acme-challenge.www`; the DCV provider's zone
//! `dcv-provider.lab.` is served by its own server and is the delegation
//! target, with no TXT at the target (tokens exist only during issuance).

use assert_cmd::Command;
use dcv_diagnosis::config::{CheckConfig, parse_delegation_target};
use dcv_diagnosis::{CaId, Evidence, Finding, FindingCode, Method, Report, Severity};
use dcv_doctor::demo::check_in_lab;
use dcv_doctor::mpic::CheckRequest;
use dcv_lab::catalogue::{self, NS2, ZONE};
use dcv_lab::{Scenario, ServerSpec, Signing, ZoneSpec};

const PROVIDER_NS: &str = "ns.dcv-provider.lab.";
const PROVIDER_ZONE: &str = "dcv-provider.lab.";
/// The target the dashboard shows: `<host>.<uuid>.<provider>`.
const TARGET: &str = "www.example.lab.0123456789abcdef.dcv-provider.lab";
/// The target of the same host under another account's UUID.
const OTHER_TARGET: &str = "www.example.lab.fedcba9876543210.dcv-provider.lab";

fn run(scenario: Scenario, tweak: impl FnOnce(&mut CheckConfig)) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(check_in_lab(scenario, "www.example.lab", tweak))
        .expect("lab starts")
}

/// DNS-01 for Let's Encrypt, delegation expected at `target` (as typed).
fn delegated_to(target: &str) -> impl FnOnce(&mut CheckConfig) {
    let target = parse_delegation_target(target).expect("valid target");
    move |cfg| {
        cfg.methods = vec![Method::Dns];
        cfg.cas = vec![CaId::Letsencrypt];
        cfg.dcv_delegation = Some(target);
    }
}

/// The catalogue's zones plus the provider's zone on its own server, with
/// `_acme-challenge.www` records in `example.lab.` replaced by `records`.
fn with_provider(base: Scenario, signing: &Signing, records: &[&str]) -> Scenario {
    let records: Vec<String> = records.iter().map(|r| (*r).to_owned()).collect();
    base.server(ServerSpec::new(PROVIDER_NS))
        .zone(
            ZoneSpec::new(PROVIDER_ZONE)
                .served_by(PROVIDER_NS)
                .signed(signing.clone())
                // Something else in the zone, so the target's absence is
                // an ordinary NXDOMAIN from a working zone.
                .record("other A 192.0.2.40"),
        )
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.starts_with("_acme-challenge"));
            z.records.extend(records);
        })
}

fn healthy_with(records: &[&str]) -> Scenario {
    with_provider(dcv_doctor::demo::healthy(), &Signing::Nsec, records)
}

fn cname_to(target: &str) -> String {
    format!("_acme-challenge.www CNAME {target}.")
}

fn find(report: &Report, code: FindingCode) -> &Finding {
    report.expect_finding(code)
}

fn has(report: &Report, code: FindingCode) -> bool {
    report.findings.iter().any(|f| f.code == code)
}

fn errors(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

/// The finding blocks DNS-01 for Let's Encrypt, carries the DNS lookup of
/// `_acme-challenge.www.example.lab/TXT` and Boulder's detail.
fn assert_blocking_with_evidence(report: &Report, f: &Finding) {
    assert_eq!(f.severity, Severity::Error, "{f:#?}");
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
    assert_eq!(f.method, Some(Method::Dns));
    assert!(f.acme_detail.is_some(), "{f:#?}");
    let ev = f
        .evidence
        .iter()
        .find_map(|e| match e {
            Evidence::DnsLookup(d) => Some(d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no DNS evidence in {f:#?}"));
    assert_eq!(ev.query, "_acme-challenge.www.example.lab/TXT");
    assert!(!report.ca_verdicts[0].would_validate, "{report:#?}");
}

#[test]
fn correct_delegation_without_tokens_is_healthy() {
    // Typed in upper case without the trailing dot: compared as DNS names.
    let report = run(
        healthy_with(&[&cname_to(TARGET)]),
        delegated_to(&TARGET.to_ascii_uppercase()),
    );
    assert!(errors(&report).is_empty(), "{report:#?}");
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::DelegatedDcvReady);
    assert_eq!(f.severity, Severity::Info);
    assert!(f.summary.contains(TARGET), "{}", f.summary);
    assert!(!has(&report, FindingCode::TxtMissing), "{report:#?}");
    assert!(!has(&report, FindingCode::DelegatedDcvMissing));
    assert!(!has(&report, FindingCode::DelegatedDcvWrongTarget));
}

#[test]
fn correct_delegation_with_expected_values_is_not_txt_missing() {
    let report = run(healthy_with(&[&cname_to(TARGET)]), |cfg| {
        delegated_to(TARGET)(cfg);
        cfg.txt_values = vec!["token".into()];
    });
    assert!(!has(&report, FindingCode::TxtMissing), "{report:#?}");
    assert!(errors(&report).is_empty(), "{report:#?}");
}

#[test]
fn a_txt_record_instead_of_the_cname_is_delegated_dcv_missing() {
    let report = run(
        healthy_with(&["_acme-challenge.www TXT \"token\""]),
        delegated_to(TARGET),
    );
    let f = find(&report, FindingCode::DelegatedDcvMissing);
    assert!(
        f.summary
            .contains("a TXT record was created instead of the CNAME"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains(TARGET), "{}", f.summary);
    assert!(f.fix.contains("Delete the TXT record"), "{}", f.fix);
    // The CA would find the user's TXT instead of the provider's token.
    assert_eq!(
        f.acme_detail.as_deref(),
        Some("Incorrect TXT record \"token\" found at _acme-challenge.www.example.lab")
    );
    assert_blocking_with_evidence(&report, f);
}

#[test]
fn an_address_record_is_reported_as_proxied() {
    // Signed zone: the NSEC proving NODATA for TXT lists A in its bitmap.
    let report = run(
        healthy_with(&["_acme-challenge.www A 192.0.2.10"]),
        delegated_to(TARGET),
    );
    let f = find(&report, FindingCode::DelegatedDcvMissing);
    assert!(
        f.summary
            .contains("the record looks proxied (orange cloud): set it to DNS only"),
        "{}",
        f.summary
    );
    assert_blocking_with_evidence(&report, f);
    assert!(!has(&report, FindingCode::TxtMissing), "{report:#?}");
}

/// With expected values and a broken delegation, only the delegation finding
/// speaks: `txt_missing` would tell the user to create a TXT, which is
/// exactly what breaks a delegation.
#[test]
fn a_broken_delegation_with_expected_values_is_not_also_txt_missing() {
    let report = run(healthy_with(&["_acme-challenge.www A 192.0.2.10"]), |cfg| {
        delegated_to(TARGET)(cfg);
        cfg.txt_values = vec!["token".into()];
    });
    let f = find(&report, FindingCode::DelegatedDcvMissing);
    assert_blocking_with_evidence(&report, f);
    assert!(!has(&report, FindingCode::TxtMissing), "{report:#?}");
}

#[test]
fn an_address_record_in_an_unsigned_zone_still_mentions_proxying() {
    let report = run(
        with_provider(
            catalogue::base(&Signing::Unsigned),
            &Signing::Unsigned,
            &["_acme-challenge.www AAAA 2001:db8::10"],
        ),
        delegated_to(TARGET),
    );
    let f = find(&report, FindingCode::DelegatedDcvMissing);
    assert!(f.summary.contains("NODATA"), "{}", f.summary);
    assert!(
        f.summary.contains("proxied (orange cloud)"),
        "{}",
        f.summary
    );
    assert_blocking_with_evidence(&report, f);
}

#[test]
fn nothing_at_the_name_is_delegated_dcv_missing() {
    let report = run(healthy_with(&[]), delegated_to(TARGET));
    let f = find(&report, FindingCode::DelegatedDcvMissing);
    assert!(f.summary.contains("nothing exists"), "{}", f.summary);
    assert!(
        f.fix.contains(&format!(
            "create `_acme-challenge.www.example.lab. CNAME {TARGET}.`"
        )),
        "{}",
        f.fix
    );
    assert_blocking_with_evidence(&report, f);
}

#[test]
fn a_cname_at_the_doubled_name_is_named() {
    let report = run(
        healthy_with(&[&format!("_acme-challenge.www.example.lab CNAME {TARGET}.")]),
        delegated_to(TARGET),
    );
    let f = find(&report, FindingCode::DelegatedDcvMissing);
    assert!(
        f.summary
            .contains("a CNAME exists at _acme-challenge.www.example.lab.example.lab instead"),
        "{}",
        f.summary
    );
    assert!(
        f.fix.contains("enter only `_acme-challenge.www`"),
        "{}",
        f.fix
    );
    assert_blocking_with_evidence(&report, f);
}

#[test]
fn a_cname_to_another_target_names_both() {
    let report = run(
        healthy_with(&[&cname_to(OTHER_TARGET)]),
        delegated_to(TARGET),
    );
    let f = find(&report, FindingCode::DelegatedDcvWrongTarget);
    assert!(
        f.summary.contains(OTHER_TARGET) && f.summary.contains(TARGET),
        "{}",
        f.summary
    );
    assert!(!has(&report, FindingCode::DelegatedDcvReady));
    assert!(!has(&report, FindingCode::DelegatedDcvMissing));
    assert_blocking_with_evidence(&report, f);
}

#[test]
fn one_stale_server_of_two_is_a_wrong_target() {
    // ns1 serves the current CNAME; ns2 (a secondary that stopped
    // transferring) still points at the old account's target.
    let mut scenario = with_provider(
        catalogue::base(&Signing::Unsigned),
        &Signing::Unsigned,
        &[&cname_to(TARGET)],
    );
    if let Some(z) = scenario.zone_mut(ZONE) {
        z.servers.retain(|n| n != NS2);
    }
    let scenario = scenario.zone(
        ZoneSpec::new(ZONE)
            .served_by(NS2)
            .record("www A 192.0.2.10")
            .record(cname_to(OTHER_TARGET)),
    );
    let report = run(scenario, delegated_to(TARGET));
    let f = find(&report, FindingCode::DelegatedDcvWrongTarget);
    // Each server is asked over IPv4 and IPv6: 2 of 4 addresses are stale.
    assert!(f.summary.contains("only 2 of 4"), "{}", f.summary);
    assert!(
        f.summary.contains("ns2.example.lab") && !f.summary.contains("ns1.example.lab"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains(OTHER_TARGET), "{}", f.summary);
    assert!(f.fix.contains("ns2.example.lab"), "{}", f.fix);
    assert_blocking_with_evidence(&report, f);
}

#[test]
fn sectigo_is_not_blocked_by_a_delegation_finding() {
    // cloudflare-dcv.md §2.4: Delegated DCV works with GTS, LE and SSL.com.
    let report = run(healthy_with(&[]), |cfg| {
        delegated_to(TARGET)(cfg);
        cfg.cas = vec![CaId::Letsencrypt, CaId::Sectigo];
    });
    let f = find(&report, FindingCode::DelegatedDcvMissing);
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
}

#[test]
fn the_agent_request_carries_the_target() {
    let mut cfg =
        CheckConfig::new(dcv_diagnosis::identifier::Hostname::parse("a.example").unwrap());
    cfg.dcv_delegation = Some(parse_delegation_target("a.example.x.dcv.cloudflare.com").unwrap());
    let req = CheckRequest::from_config(&cfg);
    let json = serde_json::to_value(&req).unwrap();
    assert_eq!(json["dcv_delegation"], "a.example.x.dcv.cloudflare.com.");
    let back: CheckRequest = serde_json::from_value(json).unwrap();
    assert_eq!(back, req);
    // Requests without the field (older coordinators) still parse.
    let old: CheckRequest = serde_json::from_str(r#"{"hostname":"a.example"}"#).unwrap();
    assert_eq!(old.dcv_delegation, None);
}

fn doctor() -> Command {
    let mut cmd = Command::cargo_bin("dcv-doctor").expect("binary builds");
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn bad_targets_exit_2_with_one_clear_line() {
    for bad in [
        "not a name",
        "single",
        "a..b.example",
        "-x.example.com",
        "192.0.2.1",
        "*.dcv.cloudflare.com",
    ] {
        let assert = doctor()
            .args([
                "check",
                "www.example.com",
                &format!("--dcv-delegation={bad}"),
            ])
            .assert()
            .code(2)
            .stdout("");
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(
            stderr.contains("--dcv-delegation"),
            "{bad:?}: stderr {stderr:?}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    }
}

#[test]
fn the_flag_checks_dns_even_with_method_http() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(dcv_lab::Lab::start(healthy_with(&[&cname_to(
            OTHER_TARGET,
        )])))
        .expect("lab starts");
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let output = doctor()
        .args(["check", "www.example.lab", "--allow-private"])
        .args(dcv_doctor::demo::lab_flags(&lab, &files))
        .args([
            "--method",
            "http",
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "--timeout",
            "20",
            "--dcv-delegation",
            &format!("{TARGET}."),
        ])
        .output()
        .unwrap();
    drop(lab);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "delegated_dcv_wrong_target")
        .unwrap_or_else(|| panic!("no delegated_dcv_wrong_target: {report:#}"));
    assert_eq!(f["method"], "dns");
    assert_eq!(f["blocks"], serde_json::json!(["letsencrypt"]));
}

/// Both records at `_acme-challenge.www` on every server: a CNAME to the
/// provider and a TXT (some DNS servers accept the pair, RFC 1034 §3.6.2
/// forbids it; the lab's servers answer a TXT query from the TXT set).
fn cname_beside_txt(signing: &Signing) -> Scenario {
    let base = if *signing == Signing::Unsigned {
        catalogue::base(signing)
    } else {
        dcv_doctor::demo::healthy()
    };
    with_provider(
        base,
        signing,
        &[
            &cname_to(TARGET),
            "_acme-challenge.www TXT \"manual-value\"",
        ],
    )
}

/// The lookups in a finding's evidence, as `name/TYPE`.
fn queries(f: &Finding) -> Vec<&str> {
    f.evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::DnsLookup(d) => Some(d.query.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_cname_beside_a_txt_is_a_conflict_warning_without_the_flag() {
    for signing in [Signing::Nsec, Signing::Unsigned] {
        let report = run(cname_beside_txt(&signing), |cfg| {
            cfg.methods = vec![Method::Dns];
            cfg.cas = vec![CaId::Letsencrypt];
        });
        let f = find(&report, FindingCode::DelegatedDcvConflict);
        // The CA reads the TXT and never follows the CNAME: fine if the TXT
        // is the record meant, so a warning.
        assert_eq!(f.severity, Severity::Warning, "{signing:?}: {f:#?}");
        assert!(f.blocks.is_empty());
        assert!(
            f.summary.contains("\"manual-value\"") && f.summary.contains(TARGET),
            "{}",
            f.summary
        );
        assert!(
            f.summary.contains("ns1.example.lab") && f.summary.contains("ns2.example.lab"),
            "{}",
            f.summary
        );
        assert!(
            f.summary.contains("never follows the CNAME"),
            "{}",
            f.summary
        );
        assert_eq!(
            queries(f),
            vec![
                "_acme-challenge.www.example.lab/TXT",
                "_acme-challenge.www.example.lab/CNAME"
            ]
        );
        assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    }
}

#[test]
fn a_cname_beside_a_txt_is_a_conflict_error_with_the_flag() {
    let report = run(cname_beside_txt(&Signing::Nsec), delegated_to(TARGET));
    let f = find(&report, FindingCode::DelegatedDcvConflict);
    assert_eq!(f.severity, Severity::Error, "{f:#?}");
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
    assert!(
        f.summary
            .contains("the CNAME points to the expected target"),
        "{}",
        f.summary
    );
    assert!(
        f.acme_detail
            .as_deref()
            .is_some_and(|d| d.contains("manual-value")),
        "{f:#?}"
    );
    // The CNAME is there: not "missing".
    assert!(
        !has(&report, FindingCode::DelegatedDcvMissing),
        "{report:#?}"
    );
    assert!(!report.ca_verdicts[0].would_validate);
}

#[test]
fn a_lone_txt_is_no_conflict() {
    let report = run(
        healthy_with(&["_acme-challenge.www TXT \"manual-value\""]),
        |cfg| {
            cfg.methods = vec![Method::Dns];
            cfg.cas = vec![CaId::Letsencrypt];
        },
    );
    assert!(
        !has(&report, FindingCode::DelegatedDcvConflict),
        "{report:#?}"
    );
}
