//! `dcv-doctor batch` end to end: the binary reads a hostname list on stdin,
//! checks each against the lab, and writes JSON Lines in input order.

use std::io::Write as _;
use std::process::{Command, Stdio};

use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::Lab;
use dcv_lab::catalogue::{WEB, ZONE};
use serde_json::Value;

fn lab_scenario() -> dcv_lab::Scenario {
    healthy().with_zone(ZONE, |z| {
        z.records.push(format!("forbid A {{http4:{WEB}}}"));
        z.records.push("forbid CAA 0 issue \"pki.goog\"".to_owned());
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostname_list_gives_one_record_per_line_in_order_and_a_summary() {
    let lab = Lab::start(lab_scenario()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let input = "# platform customers\nwww.example.lab\nforbid.example.lab\n\nnot a hostname!\n*.example.lab\nWWW.example.lab\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .args(["batch", "-", "--ca", "letsencrypt", "--method", "http"])
        .args(lab_flags(&lab, &files))
        .args(["--allow-private", "--concurrency", "2", "--timeout", "20"])
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
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // Input order, original line numbers, comments and blanks skipped.
    let lines: Vec<u64> = records
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 5, 6, 7], "{stdout}");

    let verdict = |i: usize| records[i]["report"]["verdict"].as_str().unwrap_or("-");
    assert_eq!(verdict(0), "pass", "{}", records[0]);
    assert_eq!(verdict(4), "pass", "{}", records[4]);
    assert_eq!(verdict(1), "fail", "{}", records[1]);
    let codes: Vec<&str> = records[1]["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"caa_forbids"), "{codes:?}");

    // Lines that are not hostnames this check can take: a record with the reason.
    assert!(records[2].get("report").is_none());
    assert!(
        !records[2]["error"].as_str().unwrap().is_empty(),
        "{}",
        records[2]
    );
    assert!(
        records[3]["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("wildcard"),
        "{}",
        records[3]
    );

    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "batch: 5 hostnames: 2 pass, 0 warn, 1 fail, 2 not a hostname; blocking: caa_forbids 1"
        ),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_list_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .args(["batch", "/nonexistent/hostnames.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/hostnames.txt"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn concurrency_is_bounded() {
    let out = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .args(["batch", "-", "--concurrency", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
