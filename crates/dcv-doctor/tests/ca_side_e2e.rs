//! `check --ct-url`, `explain --ct-url` and `check --acme-directory` refusals
//! end to end: the real binary
//! against the lab's DNS (for the check) and a crt.sh-compatible search on
//! loopback serving rows read back from real certificates (dcv-lab's CT
//! fixture: test CAs named like Let's Encrypt's intermediates and Google's).

use std::net::{IpAddr, Ipv4Addr};

use assert_cmd::Command;
use dcv_lab::catalogue;
use dcv_lab::ct::{CtLog, CtMode, CtServer, TestCa};
use serde_json::Value;
use time::OffsetDateTime;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Setup {
    rt: tokio::runtime::Runtime,
    lab: dcv_lab::Lab,
    ct: CtServer,
    _dir: tempfile::TempDir,
    hints: String,
    anchor: String,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(dcv_lab::Lab::start(catalogue::valid()))
        .unwrap();
    let ct = rt
        .block_on(CtServer::start(LOOPBACK, CtLog::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    Setup {
        rt,
        lab,
        ct,
        hints: files.root_hints.to_str().unwrap().to_owned(),
        anchor: files.trust_anchor.to_str().unwrap().to_owned(),
        _dir: dir,
    }
}

fn doctor() -> Command {
    let mut cmd = Command::cargo_bin("dcv-doctor").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

impl Setup {
    /// `check www.example.lab` (DNS-01, Let's Encrypt) with `extra` flags.
    fn check(&self, extra: &[&str]) -> (i32, Value) {
        let port = self.lab.dns_port().to_string();
        let mut args = vec![
            "check",
            "www.example.lab",
            "--root-hints",
            &self.hints,
            "--trust-anchor",
            &self.anchor,
            "--dns-port",
            &port,
            "--ca",
            "letsencrypt",
            "--method",
            "dns",
            "--txt-value",
            "token",
            "--format",
            "json",
            "--allow-private",
        ];
        args.extend_from_slice(extra);
        let out = doctor().args(&args).output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap(), report)
    }
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {report:#}"))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

#[test]
fn five_certificates_for_the_set_block_lets_encrypt_with_the_retry_time() {
    let s = setup();
    let yr1 = TestCa::lets_encrypt("YR1", 432_476).unwrap();
    let google = TestCa::new("US", "Google Trust Services", "WR1", 1).unwrap();
    let first = now() - time::Duration::hours(6);
    for n in 0..5 {
        let names: &[&str] = if n % 2 == 0 {
            &["www.example.lab", "example.lab"]
        } else {
            &["EXAMPLE.lab", "www.Example.LAB"]
        };
        s.ct.log
            .issue(&yr1, names, first + time::Duration::minutes(n * 30))
            .unwrap();
    }
    s.ct.log
        .issue(&google, &["www.example.lab", "example.lab"], first)
        .unwrap();
    let url = s.ct.url();
    let (code, report) = s.check(&["--san", "example.lab", "--ct-url", &url]);
    assert_eq!(code, 1, "{report:#}");
    let f = finding(&report, "rate_limited_duplicate");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["blocks"], serde_json::json!(["letsencrypt"]));
    assert_eq!(
        f["ca_message"],
        "The authority has rate limited these domains. Please wait for the rate limit to expire or try another authority."
    );
    let retry = dcv_ct::model::format_time(first + time::Duration::minutes(33 * 60 + 36));
    let detail = f["acme_detail"].as_str().unwrap();
    assert_eq!(
        detail,
        format!(
            "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after {retry}: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers"
        )
    );
    let ev = &f["evidence"][0];
    assert_eq!(ev["kind"], "ct_limit");
    assert_eq!(ev["key"], "[example.lab, www.example.lab]");
    assert_eq!(
        (ev["used"].as_u64(), ev["remaining"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(ev["certificates"].as_array().unwrap().len(), 5);
    assert_eq!(ev["other_ca_certificates"], 1);
    assert_eq!(report["ca_verdicts"][0]["would_validate"], false);
    // Only the check's DNS went to the lab; the CT search was asked for the
    // registered domain and its subdomains, nothing else.
    let mut queries = s.ct.log.queries();
    queries.sort();
    assert_eq!(
        queries,
        vec!["%.example.lab".to_owned(), "example.lab".to_owned()]
    );
    drop(s.rt);
}

#[test]
fn without_the_san_the_set_differs_and_nothing_blocks() {
    let s = setup();
    let yr1 = TestCa::lets_encrypt("YR1", 432_476).unwrap();
    for n in 0..5 {
        s.ct.log
            .issue(
                &yr1,
                &["www.example.lab", "example.lab"],
                now() - time::Duration::hours(n + 1),
            )
            .unwrap();
    }
    let url = s.ct.url();
    let (code, report) = s.check(&["--ct-url", &url]);
    assert_eq!(code, 0, "{report:#}");
    let f = finding(&report, "rate_limited_duplicate");
    assert_eq!(f["severity"], "info");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("0 of Let's Encrypt's 5 certificates per 7 days for the exact set [www.example.lab] are used"),
        "{f:#}"
    );
    // One new set under example.lab (the other four were renewals of it);
    // its token is already back (one every 3 h 21 min 36 s).
    let d = finding(&report, "rate_limited_domain");
    assert_eq!(d["severity"], "info");
    assert_eq!(
        d["evidence"][0]["certificates"].as_array().unwrap().len(),
        1,
        "{d:#}"
    );
    assert_eq!(d["evidence"][0]["remaining"], 50, "{d:#}");
}

#[test]
fn a_ct_source_that_is_down_is_a_requester_side_warning() {
    let s = setup();
    s.ct.log.set_mode(CtMode::Unavailable);
    let url = s.ct.url();
    let (code, report) = s.check(&["--ct-url", &url]);
    assert_eq!(code, 0, "the domain is fine: {report:#}");
    assert_eq!(report["verdict"], "warn");
    let f = finding(&report, "ct_unavailable");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["who_fixes"], "requester");
    assert!(f["blocks"].as_array().unwrap().is_empty());
    assert_eq!(f["evidence"][0]["kind"], "ct_failure");
    assert_eq!(f["evidence"][0]["failure"], "status");
    assert!(f["summary"].as_str().unwrap().contains("503"), "{f:#}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["code"] != "rate_limited_duplicate")
    );
}

#[test]
fn explain_counts_for_the_hostname_it_is_given() {
    let s = setup();
    let ye1 = TestCa::lets_encrypt("YE1", 432_952).unwrap();
    for n in 0..4 {
        s.ct.log
            .issue(
                &ye1,
                &["shop.example.lab"],
                now() - time::Duration::hours(n + 2),
            )
            .unwrap();
    }
    let url = s.ct.url();
    let out = doctor()
        .args([
            "explain",
            "The authority has rate limited these domains. Please wait for the rate limit to expire or try another authority.",
            "--hostname",
            "shop.example.lab",
            "--ct-url",
            &url,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["finding"], "rate_limited_duplicate");
    let counted = e["ct_count"].as_array().unwrap();
    assert_eq!(counted[0]["code"], "rate_limited_duplicate");
    assert_eq!(counted[0]["severity"], "warning");
    assert!(
        counted[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("4 of Let's Encrypt's 5"),
        "{e:#}"
    );
    // The exact-set message names no hostname (its only URL is the
    // documentation's), so without --hostname there is nothing to count.
    let out = doctor()
        .args([
            "explain",
            "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-08-08 20:50:14 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers",
            "--ct-url",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hostname"));
}

/// Flags that cannot work are bad input (exit 2, one line), before anything
/// is sent anywhere.
#[test]
fn bad_ca_side_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let webroot = dir.path().to_str().unwrap();
    // Should a flag pass anyway, the check asks only loopback.
    let hints = dir.path().join("root.hints");
    std::fs::write(&hints, ". 3600 NS a.root.\na.root. 3600 A 127.0.0.1\n").unwrap();
    for (args, mentions) in [
        (vec!["--ct-url", "ftp://ct.example/"], "--ct-url"),
        (
            vec!["--acme-directory=http://127.0.0.1:1/dir"],
            "https only",
        ),
        (
            vec![
                "--acme-directory=https://127.0.0.1:1/dir",
                "--acme-complete",
            ],
            "--webroot",
        ),
        (
            vec![
                "--acme-directory=https://127.0.0.1:1/dir",
                "--acme-complete",
                "--webroot",
                webroot,
                "--method",
                "dns",
            ],
            "--method http",
        ),
        (
            vec![
                "--acme-directory=https://127.0.0.1:1/dir",
                "--acme-complete",
                "--dns-update",
                "ns1.example.com",
                "--tsig-key",
                "/nonexistent",
            ],
            "--dns-update",
        ),
        (vec!["--san", "bad name"], "--san"),
    ] {
        let out = doctor()
            .args(["check", "www.example.com", "--timeout", "2", "--root-hints"])
            .arg(&hints)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(mentions), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_acme_directory_that_is_down_is_a_requester_side_warning() {
    let s = setup();
    let closed = std::net::TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let directory = format!("--acme-directory=https://{closed}/dir");
    let (code, report) = s.check(&[&directory]);
    assert_eq!(code, 0, "the domain is fine: {report:#}");
    let f = finding(&report, "acme_unavailable");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["who_fixes"], "requester");
    assert!(f["blocks"].as_array().unwrap().is_empty());
    let ev = &f["evidence"][0];
    assert_eq!(ev["kind"], "acme");
    assert_eq!(ev["failed_step"], "new_account");
    assert!(
        ev["unavailable"]
            .as_str()
            .unwrap()
            .contains(&closed.to_string()),
        "{ev:#}"
    );
}
