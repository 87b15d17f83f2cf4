//! `check --acme-directory` against Pebble in the interop world (Knot serving
//! a signed private root, Unbound as Pebble's resolver, in-process web
//! hosts): an accepted name, a name Pebble's policy refuses, completed
//! HTTP-01 validations (by web root) that pass and fail, a CAA-forbidden name
//! (Pebble does not check CAA at all, in any version: its verdict and
//! dcv-doctor's are put side by side and disagree, as documented), and a
//! completed DNS-01 validation by RFC 2136 update with TSIG to Knot.
//!
//! Needs root and the interop suite's Debian packages (docs/interop.md); a
//! missing tool fails with the install line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dcv_interop::web::WebHosts;
use dcv_interop::world::{self, World};
use dcv_interop::{net, zones};
use serde_json::Value;

struct Ctx {
    bin: PathBuf,
    world: World,
}

impl Ctx {
    /// `dcv-doctor check HOST` against the world and Pebble, with `extra`.
    fn check(&self, host: &str, extra: &[&str]) -> (i32, Value) {
        let out = Command::new(&self.bin)
            .args(["check", host, "--ca", "letsencrypt", "--root-hints"])
            .arg(&self.world.root_hints)
            .arg("--trust-anchor")
            .arg(&self.world.trust_anchor)
            .args(["--allow-private", "--format", "json", "--timeout", "40"])
            .arg(format!("--acme-directory={}", World::directory_url()))
            .arg("--acme-ca-cert")
            .arg(&self.world.pebble_ca)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), report)
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

fn has(report: &Value, code: &str) -> bool {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == code)
}

fn acme_evidence(f: &Value) -> &Value {
    f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "acme")
        .unwrap_or_else(|| panic!("no ACME evidence: {f:#}"))
}

fn empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir.join(".well-known/acme-challenge"))
        .map_or(true, |mut d| d.next().is_none())
}

#[test]
fn pebble_says_what_it_offers_refuses_and_decides() {
    let dir = std::env::temp_dir().join(format!("dcv-acme-dry-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let world = World::start(&dir, false).expect("the interop world starts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hosts = rt.block_on(WebHosts::start()).unwrap();
    let webroot = tempfile::tempdir().unwrap();
    hosts.tokens.serve_webroot(webroot.path());
    let ctx = Ctx {
        bin: dcv_interop::doctor::binary().unwrap(),
        world,
    };
    let root = webroot.path().to_str().unwrap();

    // 1. An accepted name: the order and what Pebble offers, nothing published.
    let (code, report) = ctx.check("v4.good.lab", &["--method", "http"]);
    assert_eq!(code, 0, "{report:#}");
    let hit = finding(&report, "acme_order_accepted");
    assert_eq!(hit["severity"], "info");
    let evidence = acme_evidence(hit);
    assert_eq!(evidence["ca"], "letsencrypt");
    assert!(
        evidence["ca_basis"]
            .as_str()
            .unwrap()
            .contains("compared with --ca letsencrypt")
    );
    let challenges: Vec<&str> = evidence["authorizations"][0]["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for t in ["http-01", "dns-01", "tls-alpn-01"] {
        assert!(challenges.contains(&t), "{challenges:?}");
    }
    assert_eq!(evidence["authorizations"][0]["status"], "pending");
    assert!(
        evidence["account"]
            .as_str()
            .unwrap()
            .starts_with("https://127.15.0.100:14000/")
    );

    // 2. A name Pebble's policy refuses.
    let (code, report) = ctx.check(world::BLOCKED_NAME, &["--method", "dns"]);
    assert_eq!(code, 1, "{report:#}");
    let hit = finding(&report, "acme_rejected_identifier");
    assert_eq!(hit["severity"], "error");
    assert_eq!(hit["blocks"], serde_json::json!(["letsencrypt"]));
    assert!(
        hit["acme_detail"]
            .as_str()
            .unwrap()
            .contains("forbidden by policy"),
        "{hit:#}"
    );
    let evidence = acme_evidence(hit);
    assert_eq!(evidence["failed_step"], "new_order");
    assert_eq!(
        evidence["problem"]["type_urn"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    assert_eq!(evidence["problem"]["kind"], "rejectedIdentifier");

    // 3. HTTP-01 completed by web root: both say valid.
    let (code, report) = ctx.check(
        "v4.good.lab",
        &["--method", "http", "--acme-complete", "--webroot", root],
    );
    assert_eq!(code, 0, "{report:#}");
    let hit = finding(&report, "acme_agrees");
    assert!(
        hit["summary"]
            .as_str()
            .unwrap()
            .contains("dcv-doctor predicted Let's Encrypt would validate"),
        "{hit:#}"
    );
    let validation = &acme_evidence(hit)["validation"];
    assert_eq!(validation["ca_valid"], true);
    assert_eq!(validation["method"], "http");
    assert_eq!(validation["cleaned_up"], true);
    assert!(
        empty_dir(webroot.path()),
        "the response file was not removed"
    );

    // 4. HTTP-01 completed where the server ignores the web root: both fail,
    //    with both reasons.
    let (code, report) = ctx.check(
        "notoken.good.lab",
        &["--method", "http", "--acme-complete", "--webroot", root],
    );
    assert_eq!(code, 1, "{report:#}");
    let failed = finding(&report, "acme_validation_failed");
    assert_eq!(failed["severity"], "error");
    assert!(
        failed["acme_detail"].as_str().unwrap().contains("404"),
        "{failed:#}"
    );
    let agree = finding(&report, "acme_agrees");
    let summary = agree["summary"].as_str().unwrap();
    assert!(
        summary.contains("would fail (http_not_200") || summary.contains("would fail (http_token"),
        "{summary}"
    );
    assert!(summary.contains("says invalid"), "{summary}");

    // 5. CAA forbids Let's Encrypt: dcv-doctor says so; Pebble has no CAA
    //    check (none of its versions has one) and validates. The
    //    disagreement is reported with both reasons.
    let (code, report) = ctx.check(
        "caa.good.lab",
        &["--method", "http", "--acme-complete", "--webroot", root],
    );
    assert_eq!(code, 1, "{report:#}");
    assert!(has(&report, "caa_forbids"));
    let disagree = finding(&report, "acme_disagrees");
    assert_eq!(disagree["severity"], "warning");
    let summary = disagree["summary"].as_str().unwrap();
    assert!(summary.contains("would fail (caa_forbids"), "{summary}");
    assert!(summary.ends_with("says valid"), "{summary}");
    assert!(
        disagree["explanation"]
            .as_str()
            .unwrap()
            .contains("Only CAA stands in the way, and this CA did not check it (Pebble, for one, never checks CAA)"),
        "{disagree:#}"
    );
    assert!(empty_dir(webroot.path()));

    // 6. DNS-01 completed by an RFC 2136 update with TSIG to Knot.
    let key = dir.join("update.key");
    std::fs::write(
        &key,
        format!("hmac-sha256:{}:{}\n", zones::TSIG_NAME, zones::TSIG_SECRET),
    )
    .unwrap();
    let server = net::PROVIDER_A.v4.to_string();
    let (code, report) = ctx.check(
        "dns01.good.lab",
        &[
            "--method",
            "dns",
            "--acme-complete",
            "--dns-update",
            &server,
            "--tsig-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    let hit = finding(&report, "acme_agrees");
    let validation = &acme_evidence(hit)["validation"];
    assert_eq!(validation["ca_valid"], true, "{hit:#}");
    assert_eq!(validation["cleaned_up"], true);
    assert!(
        validation["published"]
            .as_str()
            .unwrap()
            .starts_with("_acme-challenge.dns01.good.lab TXT"),
        "{validation:#}"
    );
    // The record is gone again at the primary.
    let left = world::kdig(
        std::net::IpAddr::V4(net::PROVIDER_A.v4),
        &["+norec", "_acme-challenge.dns01.good.lab.", "TXT"],
    )
    .unwrap_or_default();
    assert!(!left.contains("\tTXT\t"), "{left}");

    drop(hosts);
    ctx.world.stop().expect("the world stops cleanly");
    drop(rt);
}
