//! The CLI contract: flags documented, bad input refused with exit 2 and one
//! clear line, the JSON report shaped as documented, exit 0/1 from the verdict,
//! and `explain`. Lab-backed cases run the real binary against DNS servers on
//! loopback.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn doctor() -> Command {
    let mut cmd = Command::cargo_bin("dcv-doctor").expect("binary builds");
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn help_documents_every_check_flag() {
    let out = doctor()
        .args(["check", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    for flag in [
        "--ca",
        "--method",
        "--http-token",
        "--http-body",
        "--txt-value",
        "--root-hints",
        "--trust-anchor",
        "--dns-port",
        "--http-port",
        "--https-port",
        "--allow-private",
        "--format",
        "--timeout",
        "--account-uri",
    ] {
        assert!(help.contains(flag), "check --help does not document {flag}");
    }
    for value in [
        "letsencrypt",
        "google",
        "sslcom",
        "sectigo",
        "all",
        "http",
        "dns",
        "json",
    ] {
        assert!(help.contains(value), "check --help does not list {value}");
    }
}

fn help_of(command: &str) -> String {
    let out = doctor()
        .args([command, "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// `watch` re-runs the DNS/HTTP check only: the CA-side flags (CT counts,
/// the ACME dry run) are `check`'s, and `watch` neither lists nor takes them.
#[test]
fn watch_offers_the_check_flags_but_not_the_ca_side_ones() {
    let (check, watch) = (help_of("check"), help_of("watch"));
    for flag in ["--ct", "--ct-url", "--acme-directory", "--acme-complete"] {
        assert!(
            check.contains(flag),
            "check --help does not document {flag}"
        );
        assert!(!watch.contains(flag), "watch --help lists {flag}");
    }
    for flag in ["--txt-value", "--perspectives", "--interval", "--schedule"] {
        assert!(
            watch.contains(flag),
            "watch --help does not document {flag}"
        );
    }
    doctor()
        .args(["watch", "www.example.com", "--ct"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--ct"));
}

/// Bad input: exit 2, one line on stderr naming the problem, nothing on stdout.
fn assert_bad_input(args: &[&str], mentions: &str) {
    let assert = doctor().args(args).assert().code(2).stdout("");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.to_lowercase().contains(&mentions.to_lowercase()),
        "{args:?}: stderr {stderr:?} does not mention {mentions:?}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {stderr:?}"
    );
}

#[test]
fn bad_hostnames_exit_2_with_a_clear_message() {
    assert_bad_input(&["check", "exa mple..com"], "empty label");
    assert_bad_input(&["check", "exa mple.com"], "not allowed in a hostname");
    let long = format!("{}.com", vec!["a".repeat(59); 5].join("."));
    assert!(long.len() > 253);
    assert_bad_input(&["check", &long], "at most 253");
    let label = format!("{}.example.com", "a".repeat(64));
    assert_bad_input(&["check", &label], "at most 63");
    assert_bad_input(&["check", "*.example.com", "--method", "http"], "wildcard");
    assert_bad_input(&["check", "www.*.example.com"], "wildcard");
    assert_bad_input(&["check", ""], "empty");
}

#[test]
fn bad_files_and_values_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.hints");
    assert_bad_input(
        &[
            "check",
            "example.com",
            "--root-hints",
            missing.to_str().unwrap(),
        ],
        "cannot read root hints",
    );
    let malformed = dir.path().join("bad.hints");
    std::fs::write(&malformed, ". IN NS\nthis is not a zone file {{{\n").unwrap();
    assert_bad_input(
        &[
            "check",
            "example.com",
            "--root-hints",
            malformed.to_str().unwrap(),
        ],
        "malformed",
    );
    let anchor = dir.path().join("bad.anchor");
    std::fs::write(&anchor, ". IN DS 1 2 3 zz\n").unwrap();
    assert_bad_input(
        &[
            "check",
            "example.com",
            "--trust-anchor",
            anchor.to_str().unwrap(),
        ],
        "trust anchor",
    );
    assert_bad_input(
        &[
            "check",
            "example.com",
            "--http-token",
            "a/b",
            "--method",
            "http",
        ],
        "token",
    );
    // clap's own usage errors also exit 2.
    doctor()
        .args(["check", "example.com", "--ca", "digicert"])
        .assert()
        .code(2);
    doctor()
        .args(["check", "example.com", "--dns-port", "0"])
        .assert()
        .code(2);
    doctor()
        .args(["check", "example.com", "--timeout", "0"])
        .assert()
        .code(2);
}

#[test]
fn explain_recognises_known_messages_and_refuses_to_guess() {
    doctor()
        .args([
            "explain",
            "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up caa for shop.example.com: dnssec: bogus",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("dnssec_bogus"))
        .stdout(predicate::str::contains("dcv-doctor check shop.example.com"));
    doctor()
        .args(["explain", "something no CA ever said"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("will not guess"));
    let out = doctor()
        .args(["explain", "--format", "json", "CAA records block issuance. Please remove all CAA records or add records for this authority (ssl.com)"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["finding"], "caa_forbids");
    assert_eq!(v["who_fixes"], "dns_provider");
}

#[test]
fn findings_doc_is_the_committed_docs_findings_md() {
    let out = doctor()
        .arg("findings-doc")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/findings.md"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), committed);
}

/// Runs the binary against a lab in this process (the lab keeps answering on
/// the runtime's worker threads while the child process runs).
fn check_against_lab(scenario: dcv_lab::Scenario, extra: &[&str]) -> (i32, Value) {
    check_against_lab_with(scenario, extra, true)
}

fn check_against_lab_with(
    scenario: dcv_lab::Scenario,
    extra: &[&str],
    allow_private: bool,
) -> (i32, Value) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(dcv_lab::Lab::start(scenario))
        .expect("lab starts");
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let port = lab.dns_port().to_string();
    let mut args = vec![
        "check",
        "--root-hints",
        files.root_hints.to_str().unwrap(),
        "--trust-anchor",
        files.trust_anchor.to_str().unwrap(),
        "--dns-port",
        &port,
        "--format",
        "json",
        "--timeout",
        "20",
    ];
    if allow_private {
        args.push("--allow-private");
    }
    args.extend_from_slice(extra);
    let output = doctor().args(&args).output().unwrap();
    drop(lab);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output.status.code().unwrap(), report)
}

/// The JSON report has exactly the documented shape.
fn assert_report_shape(report: &Value) {
    for key in [
        "hostname",
        "ca",
        "method",
        "verdict",
        "ca_verdicts",
        "findings",
        "timings_ms",
    ] {
        assert!(report.get(key).is_some(), "report lacks {key}: {report}");
    }
    assert!(["pass", "warn", "fail"].contains(&report["verdict"].as_str().unwrap()));
    for f in report["findings"].as_array().unwrap() {
        for key in [
            "code",
            "severity",
            "summary",
            "ca_message",
            "acme_detail",
            "explanation",
            "fix",
            "who_fixes",
            "blocks",
            "method",
            "evidence",
            "reference",
        ] {
            assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
        }
        assert!(["error", "warning", "info"].contains(&f["severity"].as_str().unwrap()));
        let code = f["code"].as_str().unwrap();
        assert!(
            dcv_diagnosis::FindingCode::from_code(code).is_some(),
            "undocumented finding code {code}"
        );
        assert!(
            !f["evidence"].as_array().unwrap().is_empty() || f["severity"] == "info",
            "no evidence: {f}"
        );
    }
    assert!(report["timings_ms"]["total"].is_u64());
}

#[test]
fn healthy_dns_check_passes_with_exit_0() {
    let scenario = dcv_lab::catalogue::valid();
    let (code, report) = check_against_lab(
        scenario,
        &[
            "www.example.lab",
            "--method",
            "dns",
            "--ca",
            "letsencrypt",
            "--txt-value",
            "token",
        ],
    );
    assert_report_shape(&report);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["ca_verdicts"][0]["ca"], "letsencrypt");
    assert_eq!(report["ca_verdicts"][0]["would_validate"], true);
}

#[test]
fn bogus_dnssec_fails_with_exit_1_and_the_ca_message() {
    let (code, report) = check_against_lab(
        dcv_lab::catalogue::ds_bad_tag(),
        &[
            "www.example.lab",
            "--method",
            "dns",
            "--ca",
            "letsencrypt",
            "--txt-value",
            "token",
        ],
    );
    assert_report_shape(&report);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["verdict"], "fail");
    let bogus = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "dnssec_bogus")
        .unwrap_or_else(|| panic!("no dnssec_bogus: {report:#}"));
    assert_eq!(bogus["severity"], "error");
    assert!(bogus["ca_message"].as_str().unwrap().starts_with(
        "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up"
    ));
    assert!(
        bogus["acme_detail"]
            .as_str()
            .unwrap()
            .contains("DNSSEC: DNSKEY Missing"),
        "{bogus:#}"
    );
    assert_eq!(bogus["evidence"][0]["kind"], "dns_lookup");
    assert_eq!(bogus["evidence"][0]["security"], "bogus");
}

#[test]
fn without_allow_private_lab_addresses_are_themselves_a_finding() {
    let (code, report) = check_against_lab_with(
        dcv_lab::catalogue::valid(),
        &["www.example.lab", "--method", "dns", "--ca", "letsencrypt"],
        false,
    );
    assert_eq!(code, 1, "{report:#}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "reserved_address")
        .unwrap_or_else(|| panic!("no reserved_address: {report:#}"));
    assert_eq!(f["severity"], "error");
    assert_eq!(f["evidence"][0]["kind"], "address");
}

#[test]
fn dns_subcommand_prints_the_walk_and_the_chain_of_trust() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(dcv_lab::Lab::start(dcv_lab::catalogue::valid()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let port = lab.dns_port().to_string();
    let base = [
        "--root-hints",
        files.root_hints.to_str().unwrap(),
        "--trust-anchor",
        files.trust_anchor.to_str().unwrap(),
        "--dns-port",
        &port,
    ];
    let out = doctor()
        .args(["dns", "www.example.lab", "A"])
        .args(base)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("example.lab"), "{text}");
    assert!(text.to_lowercase().contains("secure"), "{text}");
    let out = doctor()
        .args(["dns", "www.example.lab", "CAA", "--format", "json"])
        .args(base)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["qtype"], "CAA");
    assert_eq!(v["security"]["status"], "secure");
    assert!(!v["zone_cuts"].as_array().unwrap().is_empty());
    doctor()
        .args(["dns", "www.example.lab", "NOTATYPE"])
        .args(base)
        .assert()
        .code(2);
    drop(lab);
}

/// ACME tokens and TXT values are base64url and may start with '-'
/// (about one in 64): they must be taken as values, not as flags.
#[test]
fn values_starting_with_a_hyphen_are_values() {
    let (code, report) = check_against_lab(
        dcv_lab::catalogue::valid(),
        &[
            "www.example.lab",
            "--method",
            "dns",
            "--ca",
            "letsencrypt",
            "--txt-value",
            "-starts-with-hyphen",
        ],
    );
    assert_eq!(code, 1, "{report:#}");
    let mismatch = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "txt_mismatch")
        .unwrap_or_else(|| panic!("no txt_mismatch: {report:#}"));
    assert!(
        mismatch["summary"]
            .as_str()
            .unwrap()
            .contains("-starts-with-hyphen")
    );
}
