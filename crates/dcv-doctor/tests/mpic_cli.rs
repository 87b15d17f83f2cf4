//! The binary end to end: four `dcv-doctor agent` child processes on distinct
//! loopback addresses (two of them resolving through a broken copy of the
//! zone), and `dcv-doctor check --perspectives FILE` asking them.

mod mpic_common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use dcv_lab::Lab;
use mpic_common::{TOKEN, agent_ip, agent_url, broken, lab_agent_args};
use serde_json::Value;

/// A child process, killed (by its own handle) when dropped.
struct Agent {
    child: Child,
    url: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("dcv-doctor")
}

fn spawn_agent(dir: &Path, lab: &Lab, lab_dir: &str, name: &str, rir: &str) -> Agent {
    let files = lab.write_files(&dir.join(lab_dir)).unwrap();
    let mut cmd = Command::new(bin());
    let region = format!("{name}-region");
    lab_agent_args(&mut cmd, agent_ip(), dir, lab, &files, (name, &region, rir));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = agent_url(&mut child, name);
    Agent { child, url }
}

fn check(args: &[&str], dir: &Path, good: &Path) -> std::process::Output {
    let files = good;
    Command::new(bin())
        .env("NO_COLOR", "1")
        .args([
            "check",
            "www.example.lab",
            "--method",
            "dns",
            "--txt-value",
            "token",
        ])
        .args(args)
        .arg("--perspectives")
        .arg(dir.join("perspectives.toml"))
        .arg("--root-hints")
        .arg(files.join("root.hints"))
        .arg("--trust-anchor")
        .arg(files.join("trust-anchor.ds"))
        .arg("--allow-private")
        .output()
        .unwrap()
}

/// `check` with `--perspective URL` flags, token and pinned certificates from the environment.
fn check_urls(urls: &[String], bundle: &Path, good: &Path, port: &str) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.env("NO_COLOR", "1")
        .env("DCV_DOCTOR_AGENT_TOKEN", TOKEN)
        .env("DCV_DOCTOR_AGENT_CA_CERT", bundle)
        .args([
            "check",
            "www.example.lab",
            "--method",
            "dns",
            "--txt-value",
            "token",
        ])
        .args([
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "--as-of",
            "2026-11-28",
        ])
        .args(["--dns-port", port])
        .arg("--root-hints")
        .arg(good.join("root.hints"))
        .arg("--trust-anchor")
        .arg(good.join("trust-anchor.ds"))
        .arg("--allow-private");
    for url in urls {
        cmd.args(["--perspective", url]);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_perspectives_file_against_agent_processes() {
    let good = Lab::start(dcv_doctor::demo::healthy()).await.unwrap();
    let bad = Lab::start(broken()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    std::fs::create_dir_all(d.join("good")).unwrap();
    std::fs::create_dir_all(d.join("bad")).unwrap();
    std::fs::write(d.join("token"), format!("{TOKEN}\n")).unwrap();
    let perspectives = [
        ("arin-1", "ARIN", true),
        ("ripe-1", "RIPE", true),
        ("apnic-1", "APNIC", false),
        ("lacnic-1", "LACNIC", false),
    ];
    let mut agents = Vec::new();
    let mut toml = String::new();
    for (name, rir, ok) in perspectives {
        let (lab, lab_dir) = if ok { (&good, "good") } else { (&bad, "bad") };
        let agent = spawn_agent(&d, lab, lab_dir, name, rir);
        let _ = write!(
            toml,
            "[[perspective]]\nname = \"{name}\"\nurl = \"{}\"\nregion = \"{name}-region\"\nrir = \"{rir}\"\ntoken_file = \"token\"\nca_cert_file = \"{name}.pem\"\n\n",
            agent.url
        );
        agents.push(agent);
    }
    std::fs::write(d.join("perspectives.toml"), toml).unwrap();
    let port = good.dns_port().to_string();
    let good_dir = d.join("good");

    // Let's Encrypt today: 2 of 4 disagree, quorum not met, exit 1.
    let (d2, g2, p2) = (d.clone(), good_dir.clone(), port.clone());
    let out = tokio::task::spawn_blocking(move || {
        check(
            &[
                "--ca",
                "letsencrypt",
                "--format",
                "json",
                "--as-of",
                "2026-11-28",
                "--dns-port",
                &p2,
            ],
            &d2,
            &g2,
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["mpic_caa_disagreement", "mpic_dcv_disagreement"],
        "{stdout}"
    );
    let quorums = report["mpic"]["quorums"].as_array().unwrap();
    assert!(
        quorums
            .iter()
            .all(|q| q["outcome"] == "not_met" && q["quorum_result"] == "2/4"),
        "{stdout}"
    );
    assert_eq!(report["mpic"]["requirements"]["min_remotes"], 4);

    // Google on 2025-06-01: the quorum was not enforced yet, so the TXT
    // disagreement is a warning and the exit status 0; text shows the summary.
    let (d2, g2, p2) = (d.clone(), good_dir.clone(), port.clone());
    let out = tokio::task::spawn_blocking(move || {
        check(
            &["--ca", "google", "--as-of", "2025-06-01", "--dns-port", &p2],
            &d2,
            &g2,
        )
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("mpic_dcv_disagreement"), "{text}");
    assert!(
        text.contains("Multi-perspective corroboration (BR 3.2.2.9 as of 2025-06-01"),
        "{text}"
    );
    assert!(text.contains("not_met_not_enforced"), "{text}");
    assert!(text.contains("quorum not met, not enforced"), "{text}");

    // Bad input: exit 2 with one line.
    let (d2, g2, p2) = (d.clone(), good_dir.clone(), port.clone());
    let out = tokio::task::spawn_blocking(move || {
        check(&["--as-of", "soon", "--dns-port", &p2], &d2, &g2)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--as-of"));
    // The same agents by URL: identity (region, RIR) comes from their answers.
    let mut bundle = String::new();
    for (name, _, _) in perspectives {
        bundle.push_str(&std::fs::read_to_string(d.join(format!("{name}.pem"))).unwrap());
    }
    std::fs::write(d.join("bundle.pem"), bundle).unwrap();
    let urls: Vec<String> = agents.iter().map(|a| a.url.clone()).collect();
    let (d2, g2, p2) = (d.clone(), good_dir.clone(), port.clone());
    let out =
        tokio::task::spawn_blocking(move || check_urls(&urls, &d2.join("bundle.pem"), &g2, &p2))
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let mut rirs: Vec<&str> = report["mpic"]["perspectives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rir"].as_str().unwrap())
        .collect();
    rirs.sort_unstable();
    assert_eq!(rirs, ["APNIC", "ARIN", "LACNIC", "RIPE"], "{stdout}");
    assert!(
        report["mpic"]["quorums"][0]["quorum_result"] == "2/4",
        "{stdout}"
    );

    // Without the token in the environment: bad input, exit 2.
    let out = Command::new(bin())
        .env_remove("DCV_DOCTOR_AGENT_TOKEN")
        .args(["check", "www.example.lab", "--perspective", &agents[0].url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DCV_DOCTOR_AGENT_TOKEN"));
    drop(agents);
}

#[test]
fn agent_refuses_to_start_with_a_short_token_or_an_unknown_rir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short"), "abc").unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    for (token, rir, want) in [
        ("short", "RIPE", "at least 16"),
        ("token", "EU", "unknown RIR"),
    ] {
        let out = Command::new(bin())
            .args([
                "agent",
                "--listen",
                &format!("{}:0", agent_ip()),
                "--name",
                "x",
                "--region",
                "y",
            ])
            .args(["--rir", rir])
            .arg("--token-file")
            .arg(dir.path().join(token))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
    }
}
