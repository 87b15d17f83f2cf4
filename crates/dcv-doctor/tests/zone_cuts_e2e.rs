//! Zone cuts without a referral, end to end through the binary (issue #15
//! §1): a registry serving a TLD, a suffix and the registered domain on the
//! same servers, an unsigned child on the server of its signed parent, and a
//! broken child under a co-hosted parent. The same topologies are compared
//! with Unbound and delv in `crates/dcv-dns/tests/*_differential.rs`.

use assert_cmd::Command;
use dcv_lab::Scenario;
use dcv_lab::catalogue::{self, KEY_AUTHZ, TOKEN};
use serde_json::Value;

fn doctor() -> Command {
    let mut cmd = Command::cargo_bin("dcv-doctor").expect("binary builds");
    cmd.env("NO_COLOR", "1");
    cmd
}

fn scenario(name: &str) -> Scenario {
    catalogue::cohosted_all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

/// The lab of `scenario` serving while `f` runs the binary with the lab's
/// hints, anchor and ports (`--allow-private`: the lab is on loopback).
fn with_lab<T>(scenario: Scenario, f: impl FnOnce(&[String]) -> T) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(dcv_lab::Lab::start(scenario))
        .expect("lab starts");
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let args = vec![
        "--root-hints".to_owned(),
        files.root_hints.display().to_string(),
        "--trust-anchor".to_owned(),
        files.trust_anchor.display().to_string(),
        "--dns-port".to_owned(),
        lab.dns_port().to_string(),
    ];
    let out = f(&args);
    drop(lab);
    out
}

/// `check HOST` for Let's Encrypt by every method, with the lab's token and
/// TXT value: (exit code, JSON report).
fn check(scenario: Scenario, host: &str) -> (i32, Value) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(dcv_lab::Lab::start(scenario))
        .expect("lab starts");
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let output = doctor()
        .args(["check", host, "--ca", "letsencrypt", "--format", "json"])
        .args(["--http-token", TOKEN, "--http-body", KEY_AUTHZ])
        .args(["--txt-value", "token", "--allow-private", "--timeout", "20"])
        .arg("--root-hints")
        .arg(&files.root_hints)
        .arg("--trust-anchor")
        .arg(&files.trust_anchor)
        .args(["--dns-port", &lab.dns_port().to_string()])
        .args(["--http-port", &lab.http_port().to_string()])
        .args(["--https-port", &lab.https_port().to_string()])
        .output()
        .unwrap();
    drop(lab);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), report)
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// No DNS-level finding may call a healthy co-hosted topology a fault
/// (information, such as "not signed", is fine).
fn assert_no_dns_fault(report: &Value) {
    for f in report["findings"].as_array().unwrap() {
        let code = f["code"].as_str().unwrap();
        if f["severity"] == "info" {
            continue;
        }
        assert!(
            !code.starts_with("dnssec") && !code.starts_with("dns_"),
            "{code}: {}",
            f["summary"]
        );
    }
}

#[test]
fn co_hosted_tld_suffix_and_domain_validate_secure() {
    let (code, report) = check(scenario("suffix-valid"), "www.example.co.lab");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "pass", "{:?}", codes(&report));
    assert_eq!(report["ca_verdicts"][0]["would_validate"], true);
    assert_no_dns_fault(&report);

    // The walk and the cuts it found, as `dcv-doctor dns` shows them.
    let (text, json) = with_lab(scenario("suffix-valid"), |lab| {
        let text = doctor()
            .args(["dns", "www.example.co.lab", "A"])
            .args(lab)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let json = doctor()
            .args(["dns", "www.example.co.lab", "CAA", "--format", "json"])
            .args(lab)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        (String::from_utf8(text).unwrap(), json)
    });
    assert!(
        text.contains("zone co.lab. (cut below lab. found by DS probe, no referral"),
        "{text}"
    );
    assert!(
        text.contains("zone example.co.lab. (cut below co.lab. found by signer name"),
        "{text}"
    );
    assert!(text.contains("DS in co.lab."), "{text}");
    let v: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["security"]["status"], "secure", "{v:#}");
    let found: Vec<(&str, &str)> = v["zone_cuts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["zone"].as_str().unwrap(), c["found_by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            (".", "root_hints"),
            ("lab.", "referral"),
            ("co.lab.", "ds_probe"),
            ("example.co.lab.", "signer_name"),
        ]
    );
}

#[test]
fn unsigned_child_on_the_server_of_its_signed_parent_would_issue() {
    let (code, report) = check(scenario("cohost-unsigned"), "www.example.lab");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "pass", "{:?}", codes(&report));
    assert_eq!(report["ca_verdicts"][0]["would_validate"], true);
    assert_no_dns_fault(&report);
    // Insecure, proven by the parent on the same server: said, not blamed.
    let insecure = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "dnssec_insecure")
        .unwrap_or_else(|| panic!("{:?}", codes(&report)));
    assert_eq!(insecure["severity"], "info");
    assert!(
        insecure["summary"]
            .as_str()
            .unwrap()
            .contains("lab. proves with NSEC that example.lab. has no DS"),
        "{insecure:#}"
    );
}

#[test]
fn bogus_child_under_a_co_hosted_parent_is_named() {
    let (code, report) = check(scenario("cohost-ds-bad-digest"), "www.example.lab");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["verdict"], "fail");
    let bogus: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "dnssec_bogus")
        .collect();
    assert!(!bogus.is_empty(), "{:?}", codes(&report));
    for f in bogus {
        let summary = f["summary"].as_str().unwrap();
        // The child, its parent and the DS (key tag/algorithm/digest type).
        assert!(
            summary.contains("in lab. matches no DNSKEY of example.lab."),
            "{summary}"
        );
        let ds = summary
            .split("DS ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_default();
        let fields: Vec<&str> = ds.split('/').collect();
        assert_eq!(fields.len(), 3, "DS named as tag/alg/digest: {summary}");
        assert!(fields[0].parse::<u16>().is_ok(), "{summary}");
        assert_eq!(&fields[1..], ["13", "2"], "{summary}");
        assert!(
            f["explanation"]
                .as_str()
                .unwrap()
                .contains("fails in zone example.lab."),
            "{f:#}"
        );
        assert!(
            f["acme_detail"]
                .as_str()
                .unwrap()
                .ends_with("DNSSEC: DNSKEY Missing"),
            "{f:#}"
        );
    }
}
