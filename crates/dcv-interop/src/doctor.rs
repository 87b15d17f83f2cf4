//! Running the real `dcv-doctor` binary and reading its JSON report.
//!
//! Which binary: `DCV_DOCTOR_BIN=/path/to/dcv-doctor` if set; otherwise the
//! `dcv-doctor` that cargo built into the same profile directory as this test
//! (`cargo test --workspace` always builds it, for dcv-doctor's own tests), as
//! long as it is newer than every `crates/*/src` file; otherwise (`cargo test -p
//! dcv-interop` after an edit) the suite runs `cargo build -p dcv-doctor --bin
//! dcv-doctor` with the cargo that runs it and uses the executable cargo reports.
//! Either way the verdicts are those of the current source.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::acme::Method;

/// The dcv-doctor binary, built if needed.
pub fn binary() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

fn locate() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("DCV_DOCTOR_BIN") {
        let p = PathBuf::from(p);
        anyhow::ensure!(p.exists(), "DCV_DOCTOR_BIN={} does not exist", p.display());
        return Ok(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("workspace root")?
        .to_owned();
    if let Some(sibling) = fresh_sibling(&workspace) {
        return Ok(sibling);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let out = Command::new(cargo)
        .current_dir(&workspace)
        .args([
            "build",
            "-q",
            "-p",
            "dcv-doctor",
            "--bin",
            "dcv-doctor",
            "--message-format=json",
        ])
        .args(if cfg!(debug_assertions) {
            &[][..]
        } else {
            &["--release"][..]
        })
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build -p dcv-doctor")?;
    if !out.status.success() {
        bail!("cargo build -p dcv-doctor failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "dcv-doctor")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo build did not report the dcv-doctor executable")
}

/// `<profile dir>/dcv-doctor` next to the running executable
/// (`target/debug/deps/agreement-…` or `target/debug/interop-world`), if it is
/// newer than every source file of the crates it is built from.
fn fresh_sibling(workspace: &Path) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let candidate = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("dcv-doctor"))
        .find(|p| p.is_file())?;
    let built = candidate.metadata().ok()?.modified().ok()?;
    let newest = newest_source(&workspace.join("crates"))?;
    (built >= newest).then_some(candidate)
}

/// The newest mtime under `crates/*/src` (dcv-interop excluded).
fn newest_source(crates: &Path) -> Option<std::time::SystemTime> {
    fn walk(dir: &Path, newest: &mut std::time::SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(t);
            }
        }
    }
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for krate in std::fs::read_dir(crates).ok()?.flatten() {
        if krate.file_name() != "dcv-interop" {
            walk(&krate.path().join("src"), &mut newest);
        }
    }
    Some(newest)
}

/// What dcv-doctor predicted for Let's Encrypt on one method.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub exit: i32,
    pub would_validate: bool,
    /// `ca_verdicts[letsencrypt].methods[m].blocked_by`.
    pub blocked_by: Vec<String>,
    /// Every finding code with its severity (`error`, `warning`, `info`).
    pub findings: Vec<(String, String)>,
    /// The CA message of the first blocking finding.
    pub ca_message: Option<String>,
    pub report: Value,
}

impl Prediction {
    /// The blocking finding that names the cause (the first one listed).
    pub fn primary(&self) -> Option<&str> {
        self.blocked_by.first().map(String::as_str)
    }
}

/// Inputs for one `dcv-doctor check`.
#[derive(Debug, Clone)]
pub struct Check<'a> {
    pub host: &'a str,
    pub method: Method,
    pub root_hints: &'a Path,
    pub trust_anchor: &'a Path,
    pub http_token: Option<(&'a str, &'a str)>,
    pub txt_value: Option<&'a str>,
}

impl Check<'_> {
    /// The command line (also shown in the docs and on failure).
    pub fn command(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(["check", self.host, "--ca", "letsencrypt", "--method"])
            .arg(self.method.flag())
            .arg("--root-hints")
            .arg(self.root_hints)
            .arg("--trust-anchor")
            .arg(self.trust_anchor)
            .args(["--allow-private", "--format", "json", "--timeout", "40"]);
        // `--flag=value`: ACME tokens, key authorisations and TXT digests are
        // base64url and may begin with `-`, which clap takes for a flag after
        // a space (`--http-token -Abc` exits 2).
        if let Some((token, body)) = self.http_token {
            cmd.arg(format!("--http-token={token}"))
                .arg(format!("--http-body={body}"));
        }
        if let Some(v) = self.txt_value {
            cmd.arg(format!("--txt-value={v}"));
        }
        cmd
    }

    /// Runs the check (blocking; call from `spawn_blocking`).
    pub fn run(&self) -> anyhow::Result<Prediction> {
        let bin = binary()?;
        let out = self
            .command(&bin)
            .stdin(Stdio::null())
            .output()
            .context("running dcv-doctor")?;
        let exit = out.status.code().unwrap_or(-1);
        let report: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "dcv-doctor exit {exit}, no JSON report; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let le = report["ca_verdicts"]
            .as_array()
            .and_then(|v| v.iter().find(|c| c["ca"] == "letsencrypt"))
            .context("no letsencrypt verdict in the report")?;
        let m = le["methods"]
            .as_array()
            .and_then(|v| v.iter().find(|m| m["method"] == self.method.flag()))
            .context("no verdict for the method")?;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let blocked_by = strings(&m["blocked_by"]);
        let findings: Vec<(String, String)> = report["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        (
                            f["code"].as_str().unwrap_or_default().to_owned(),
                            f["severity"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ca_message = blocked_by.first().and_then(|code| {
            report["findings"].as_array()?.iter().find_map(|f| {
                (f["code"] == code.as_str())
                    .then(|| f["acme_detail"].as_str().or(f["ca_message"].as_str()))
                    .flatten()
                    .map(str::to_owned)
            })
        });
        Ok(Prediction {
            exit,
            would_validate: m["would_validate"].as_bool().unwrap_or(false),
            blocked_by,
            findings,
            ca_message,
            report,
        })
    }
}
