//! Harness for the CAA end-to-end tests: one lab per scenario (its own
//! loopback addresses and port), the real `dcv-doctor` binary run once per CA
//! as a child process, and the JSON report parsed and checked.
//!
//! The lab answers from the test's own tokio runtime; the binary runs on a
//! blocking thread so the runtime's workers keep serving DNS meanwhile.

use std::process::Output;

use assert_cmd::Command;
use dcv_lab::{Lab, LabFiles, Scenario};
use serde_json::Value;

/// Every CA of the catalogue, as `--ca` spells it.
pub const CAS: [&str; 4] = ["letsencrypt", "google", "sslcom", "sectigo"];

/// A running lab plus the hints and anchor files the binary reads.
pub struct CaaLab {
    lab: Lab,
    files: LabFiles,
    dir: tempfile::TempDir,
}

/// One run of `dcv-doctor check --format json`.
#[derive(Debug)]
pub struct Run {
    /// `host --ca ca [extra...]`, for failure messages.
    pub label: String,
    pub ca: String,
    pub status: i32,
    pub report: Value,
}

impl CaaLab {
    /// Starts the scenario; panics with the lab's own error if it cannot.
    pub async fn start(scenario: Scenario) -> CaaLab {
        let name = scenario.name.clone();
        let lab = Lab::start(scenario)
            .await
            .unwrap_or_else(|e| panic!("lab {name} does not start: {e}"));
        let dir = tempfile::tempdir().expect("temporary directory");
        let files = lab.write_files(dir.path()).expect("lab files written");
        assert!(
            lab.trust_anchor_ds().is_some(),
            "lab {name}: the root must be signed so --trust-anchor has a key"
        );
        CaaLab { lab, files, dir }
    }

    /// Replaces the trust anchor the binary is given (zone-file text).
    pub fn with_trust_anchor(mut self, anchor: &str) -> CaaLab {
        let path = self.dir.path().join("other-anchor.ds");
        std::fs::write(&path, anchor).expect("anchor written");
        self.files.trust_anchor = path;
        self
    }

    /// `dcv-doctor dns <name> <rtype> --format json`: the engine's own view
    /// of one lookup, with every exchange.
    pub async fn dns(&self, name: &str, rtype: &str) -> Value {
        let args: Vec<String> = vec![
            "dns".into(),
            name.into(),
            rtype.into(),
            "--format".into(),
            "json".into(),
            "--root-hints".into(),
            self.files.root_hints.display().to_string(),
            "--trust-anchor".into(),
            self.files.trust_anchor.display().to_string(),
            "--dns-port".into(),
            self.lab.dns_port().to_string(),
        ];
        let output = tokio::task::spawn_blocking(move || {
            Command::cargo_bin("dcv-doctor")
                .expect("the dcv-doctor binary is built")
                .args(&args)
                .output()
                .expect("dcv-doctor runs")
        })
        .await
        .expect("the blocking task finishes");
        assert!(output.status.success(), "dns {name} {rtype}: {output:?}");
        serde_json::from_slice(&output.stdout).expect("dns --format json prints JSON")
    }

    /// The lab's HTTP and HTTPS ports, for `--http-port`/`--https-port`.
    pub fn web_ports(&self) -> (u16, u16) {
        (self.lab.http_port(), self.lab.https_port())
    }

    /// The command line for one check.
    fn args(&self, host: &str, ca: &str, method: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "check".into(),
            host.into(),
            "--ca".into(),
            ca.into(),
            "--method".into(),
            method.into(),
            "--format".into(),
            "json".into(),
            "--allow-private".into(),
            "--root-hints".into(),
            self.files.root_hints.display().to_string(),
            "--trust-anchor".into(),
            self.files.trust_anchor.display().to_string(),
            "--dns-port".into(),
            self.lab.dns_port().to_string(),
            "--timeout".into(),
            "20".into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    }

    /// Runs the binary for one CA.
    pub async fn check(&self, host: &str, ca: &str, extra: &[&str]) -> Run {
        self.check_each(host, &[ca], extra)
            .await
            .pop()
            .expect("one run")
    }

    /// Runs the binary once per CA in `cas` with `--method dns`, all at once
    /// (each on its own blocking thread), in the order given. DNS-01 only:
    /// names outside the lab's web responder must never be fetched from.
    pub async fn check_each(&self, host: &str, cas: &[&str], extra: &[&str]) -> Vec<Run> {
        self.check_each_method(host, cas, "dns", extra).await
    }

    /// [`CaaLab::check_each`] with another `--method`: only for names whose
    /// addresses are the lab's own web responder.
    pub async fn check_each_method(
        &self,
        host: &str,
        cas: &[&str],
        method: &str,
        extra: &[&str],
    ) -> Vec<Run> {
        let handles: Vec<_> = cas
            .iter()
            .map(|ca| {
                let args = self.args(host, ca, method, extra);
                tokio::task::spawn_blocking(move || {
                    Command::cargo_bin("dcv-doctor")
                        .expect("the dcv-doctor binary is built")
                        .args(&args)
                        .output()
                        .expect("dcv-doctor runs")
                })
            })
            .collect();
        let mut runs = Vec::new();
        for (ca, handle) in cas.iter().zip(handles) {
            let output: Output = handle.await.expect("the blocking task finishes");
            let label = format!("{host} --ca {ca} --method {method} {}", extra.join(" "));
            let status = output.status.code().unwrap_or(-1);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
                panic!(
                    "{label}: exit {status}, stdout is not a JSON report ({e}):\n{stdout}\nstderr:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
            runs.push(Run {
                label,
                ca: (*ca).to_owned(),
                status,
                report,
            });
        }
        if let Ok(dir) = std::env::var("CAA_E2E_DUMP") {
            for r in &runs {
                let file = format!("{dir}/{}.json", r.label.replace(['/', ' ', '*'], "_"));
                let _ = std::fs::write(
                    file,
                    serde_json::to_string_pretty(&r.report).unwrap_or_default(),
                );
            }
        }
        runs
    }
}

/// What one CA must see.
#[derive(Debug, Clone, Copy)]
pub enum Want<'a> {
    /// Exit 0, no CAA finding, the CA would validate.
    Pass,
    /// Exit 1 with this CAA finding blocking the CA; the CAA evidence names
    /// `relevant` as the deciding name and holds each of `records`
    /// (substrings of the evidence lines).
    Blocked {
        code: &'static str,
        relevant: &'a str,
        records: &'a [&'a str],
    },
    /// Exit 1 with `caa_lookup_failed`: the climb stopped at `failed_at`,
    /// which the CAA evidence and the DNS evidence both name.
    LookupFailed { failed_at: &'a str },
}

/// `caa_forbids` at `relevant` with these records.
pub fn forbids<'a>(relevant: &'a str, records: &'a [&'a str]) -> Want<'a> {
    Want::Blocked {
        code: "caa_forbids",
        relevant,
        records,
    }
}

/// `caa_critical_unknown` at `relevant` with these records.
pub fn critical<'a>(relevant: &'a str, records: &'a [&'a str]) -> Want<'a> {
    Want::Blocked {
        code: "caa_critical_unknown",
        relevant,
        records,
    }
}

impl Run {
    /// Findings whose code starts with `caa_`.
    pub fn caa_findings(&self) -> Vec<&Value> {
        self.findings()
            .iter()
            .filter(|f| f["code"].as_str().is_some_and(|c| c.starts_with("caa_")))
            .collect()
    }

    pub fn findings(&self) -> &[Value] {
        self.report["findings"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    fn codes(&self) -> Vec<&str> {
        self.findings()
            .iter()
            .filter_map(|f| f["code"].as_str())
            .collect()
    }

    /// This CA's verdict entry.
    fn verdict(&self) -> &Value {
        self.report["ca_verdicts"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["ca"] == self.ca.as_str()))
            .unwrap_or_else(|| panic!("{}: no verdict for {}", self.label, self.ca))
    }

    /// Checks the run against what the CA must see.
    pub fn expect(&self, want: Want<'_>) {
        match want {
            Want::Pass => self.expect_pass(),
            Want::Blocked {
                code,
                relevant,
                records,
            } => {
                let f = self.expect_blocked(code);
                let ev = caa_evidence(f, &self.label);
                assert_eq!(
                    ev["relevant_name"], relevant,
                    "{}: deciding name in {ev:#}",
                    self.label
                );
                assert_eq!(ev["decision"], "deny", "{}: {ev:#}", self.label);
                let lines = strings(&ev["records"]);
                assert!(!lines.is_empty(), "{}: no records in {ev:#}", self.label);
                for r in records {
                    assert!(
                        lines.iter().any(|l| l.contains(r)),
                        "{}: record {r:?} missing from the evidence {lines:#?}",
                        self.label
                    );
                }
                // The climb shows the RRset where it was found.
                assert!(
                    strings(&ev["lookups"])
                        .iter()
                        .any(|l| l.contains("relevant RRset")),
                    "{}: {ev:#}",
                    self.label
                );
            }
            Want::LookupFailed { failed_at } => {
                let f = self.expect_blocked("caa_lookup_failed");
                let ev = caa_evidence(f, &self.label);
                assert_eq!(ev["decision"], "lookup_failed", "{}: {ev:#}", self.label);
                assert!(
                    ev["relevant_name"].is_null(),
                    "{}: a failed search has no relevant RRset: {ev:#}",
                    self.label
                );
                assert!(
                    strings(&ev["lookups"]).iter().any(|l| l
                        .starts_with(&format!("{failed_at}: failed"))
                        || l.starts_with(&format!("{failed_at} via")) && l.contains(": failed")),
                    "{}: the climb must stop at {failed_at}: {ev:#}",
                    self.label
                );
                assert!(
                    ev["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains(&format!("CAA lookup for {failed_at} failed"))),
                    "{}: {ev:#}",
                    self.label
                );
                let dns: Vec<&Value> = evidence_of(f, "dns_lookup");
                assert!(
                    dns.iter()
                        .any(|d| d["query"] == format!("{failed_at}/CAA").as_str()
                            && d["outcome"] == "SERVFAIL"),
                    "{}: the DNS evidence must show the failed query {failed_at}/CAA: {:#}",
                    self.label,
                    f["evidence"]
                );
            }
        }
    }

    /// Exit 0, no CAA finding, the CA would validate.
    pub fn expect_pass(&self) {
        assert!(
            self.caa_findings().is_empty(),
            "{}: unexpected CAA findings {:#?}",
            self.label,
            self.caa_findings()
        );
        assert_eq!(
            self.verdict()["would_validate"],
            true,
            "{}: findings {:?}",
            self.label,
            self.codes()
        );
        assert_eq!(
            self.status,
            0,
            "{}: findings {:?}",
            self.label,
            self.codes()
        );
    }

    /// Exit 1 and the one CAA finding with `code`, an error that blocks this
    /// CA; returns it.
    pub fn expect_blocked(&self, code: &str) -> &Value {
        let caa = self.caa_findings();
        assert_eq!(
            caa.len(),
            1,
            "{}: expected exactly one CAA finding ({code}), got {:?}",
            self.label,
            self.codes()
        );
        let f = caa[0];
        assert_eq!(f["code"], code, "{}: {f:#}", self.label);
        assert_eq!(f["severity"], "error", "{}: {f:#}", self.label);
        assert_eq!(
            f["blocks"],
            serde_json::json!([self.ca]),
            "{}: {f:#}",
            self.label
        );
        assert_eq!(self.status, 1, "{}: blocked, so exit 1", self.label);
        assert_eq!(self.report["verdict"], "fail", "{}", self.label);
        let verdict = self.verdict();
        assert_eq!(verdict["would_validate"], false, "{}", self.label);
        assert!(
            strings(&verdict["methods"][0]["blocked_by"]).contains(&code.to_owned()),
            "{}: {verdict:#}",
            self.label
        );
        f
    }
}

/// The evidence items of one kind.
pub fn evidence_of<'a>(finding: &'a Value, kind: &str) -> Vec<&'a Value> {
    finding["evidence"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["kind"] == kind).collect())
        .unwrap_or_default()
}

/// The single CAA evidence item of a finding for one CA.
pub fn caa_evidence<'a>(finding: &'a Value, label: &str) -> &'a Value {
    let caa = evidence_of(finding, "caa");
    assert_eq!(
        caa.len(),
        1,
        "{label}: CAA evidence {:#}",
        finding["evidence"]
    );
    caa[0]
}

/// A JSON array of strings as owned strings (empty if not an array).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
