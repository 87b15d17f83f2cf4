//! `batch --perspective URL`: every line's check is corroborated by remote
//! perspective agents (in-process, on loopback addresses, two of them
//! resolving through a broken copy of `example.lab.`), with each line's own
//! CA and TXT values sent to the agents.

mod mpic_common;

use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::Lab;
use dcv_mpic::Rir;
use mpic_common::{TOKEN, agent, agent_ip, broken, certs};
use serde_json::Value;

fn error_codes(record: &Value) -> Vec<&str> {
    let mut codes: Vec<&str> = record["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .filter_map(|f| f["code"].as_str())
        .collect();
    codes.sort_unstable();
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_perspectives_corroborate_every_line() {
    let good = Lab::start(healthy()).await.unwrap();
    let bad = Lab::start(broken()).await.unwrap();
    let ips: Vec<IpAddr> = (0..4).map(|_| agent_ip()).collect();
    let certs = certs(&ips);
    let mut agents = Vec::new();
    for (ip, lab, name, rir) in [
        (ips[0], &good, "arin-1", Rir::Arin),
        (ips[1], &good, "ripe-1", Rir::Ripe),
        (ips[2], &bad, "apnic-1", Rir::Apnic),
        (ips[3], &bad, "lacnic-1", Rir::Lacnic),
    ] {
        agents.push(agent(ip, lab, name, rir, &certs).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let files = good.write_files(dir.path()).unwrap();
    let pem = dir.path().join("agents.pem");
    std::fs::write(&pem, &certs.cert_pem).unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"));
    cmd.env("DCV_DOCTOR_AGENT_TOKEN", TOKEN)
        .env("DCV_DOCTOR_AGENT_CA_CERT", &pem)
        .args(["batch", "-", "--method", "dns", "--ca", "letsencrypt"])
        .args([
            "--as-of",
            "2026-11-28",
            "--concurrency",
            "2",
            "--allow-private",
        ])
        .args(lab_flags(&good, &files));
    for a in &agents {
        cmd.args(["--perspective", &a.url()]);
    }
    // Line 1: Let's Encrypt; line 2 asks for Google, which the broken copy's
    // CAA (pki.goog only) allows: only the TXT value differs there.
    let input = concat!(
        "{\"hostname\":\"www.example.lab\",\"txt_values\":[\"token\"]}\n",
        "{\"hostname\":\"www.example.lab\",\"ca\":\"google\",\"txt_values\":[\"token\"]}\n",
        "{\"hostname\":\"www.example.lab\",\"ca\":\"google\",\"txt_values\":[\"\"]}\n",
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{stdout}\n{stderr}");

    for record in &records[..2] {
        let mut rirs: Vec<&str> = record["report"]["mpic"]["perspectives"]
            .as_array()
            .unwrap_or_else(|| panic!("no MPIC summary: {record}"))
            .iter()
            .map(|p| p["rir"].as_str().unwrap())
            .collect();
        rirs.sort_unstable();
        assert_eq!(rirs, ["APNIC", "ARIN", "LACNIC", "RIPE"], "{record}");
    }
    assert_eq!(
        error_codes(&records[0]),
        ["mpic_caa_disagreement", "mpic_dcv_disagreement"],
        "{}",
        records[0]
    );
    assert_eq!(records[1]["report"]["ca"], serde_json::json!(["google"]));
    assert_eq!(
        error_codes(&records[1]),
        ["mpic_dcv_disagreement"],
        "{}",
        records[1]
    );
    // The line's option is refused before any agent is asked.
    assert_eq!(records[2]["error_kind"], "option", "{}", records[2]);
    assert_eq!(records[2]["option"], "txt_value");

    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("batch: 3 hostnames: 0 pass, 0 warn, 2 fail, 1 bad lines; blocking: mpic_dcv_disagreement 2, mpic_caa_disagreement 1\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("note:"), "{stderr}");
    drop(agents);
}
