//! `dcv-doctor watch` end to end: the real binary against a lab whose
//! `_acme-challenge` TXT record appears on one nameserver, then on all, while
//! the command runs (staged zone copies, `Lab::enter_stage`). The JSON event
//! stream is read line by line as it comes and asserted.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dcv_lab::catalogue::{self, NS1, NS2, ZONE};
use dcv_lab::{Lab, Scenario};
use serde_json::Value;

const NAME: &str = "new.example.lab";
const TOKEN: &str = "watch-token-value";

/// The catalogue's signed lab, plus two staged copies of example.lab. with
/// the TXT record: on ns1 only ("one"), then on both ("all").
fn scenario() -> Scenario {
    let base = catalogue::valid();
    let zone = base
        .zones
        .iter()
        .find(|z| z.apex == ZONE)
        .expect("example.lab.")
        .clone();
    let staged = |stage: &str, servers: &[&str]| {
        let mut copy = zone.clone();
        copy.servers = servers.iter().map(|s| (*s).to_owned()).collect();
        copy.records
            .push(format!("_acme-challenge.new TXT \"{TOKEN}\""));
        copy.from_stage(stage)
    };
    base.zone(staged("one", &[NS1]))
        .zone(staged("all", &[NS1, NS2]))
}

struct Running {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Running {
    /// The next event, within `limit`.
    fn next_event(&mut self, limit: Duration) -> Value {
        let started = Instant::now();
        let line = self
            .lines
            .next()
            .expect("watch ended before the next event")
            .unwrap();
        assert!(
            started.elapsed() < limit,
            "event took {:?}",
            started.elapsed()
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

fn watch(lab: &Lab, files: &dcv_lab::LabFiles, extra: &[&str]) -> Running {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("dcv-doctor"))
        .args([
            "watch",
            NAME,
            "--root-hints",
            files.root_hints.to_str().unwrap(),
            "--trust-anchor",
            files.trust_anchor.to_str().unwrap(),
            "--dns-port",
            &lab.dns_port().to_string(),
            "--allow-private",
            "--ca",
            "letsencrypt",
            "--method",
            "dns",
            "--txt-value",
            TOKEN,
            "--format",
            "json",
            "--timeout",
            "10",
        ])
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Running { child, lines }
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_txt_record_reaching_one_server_then_all_is_followed_to_ready() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::start(scenario())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    // Checks 300 ms apart, at most 60: the stages move on events, not time.
    let mut w = watch(&lab, &files, &["--interval", "0.3", "--attempts", "60"]);
    let limit = Duration::from_secs(30);

    let start = w.next_event(limit);
    assert_eq!(start["event"], "start");
    assert_eq!(start["hostname"], NAME);
    assert_eq!(start["schedule"], "interval");
    assert_eq!(start["checks"], 60);

    // Nothing published yet: the TXT is missing on all four server addresses.
    let first = w.next_event(limit);
    assert_eq!(first["event"], "check", "{first}");
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["state"], "not_ready");
    assert_eq!(codes(&first["appeared"]), vec!["txt_missing"]);
    assert_eq!(first["progress"][0]["have"], 0, "{first}");
    assert_eq!(first["progress"][0]["of"], 4, "{first}");
    assert_eq!(first["blocked"][0], "letsencrypt dns: txt_missing");
    assert_eq!(first["next_check_in_s"], 0.3);

    // On ns1 only: the next event is the change, with the spread.
    lab.enter_stage("one").unwrap();
    let half = w.next_event(limit);
    assert_eq!(half["event"], "check", "{half}");
    assert_eq!(half["state"], "not_ready");
    assert_eq!(codes(&half["cleared"]), vec!["txt_missing"], "{half}");
    // The TXT lookup disagrees between servers (and so do ns2's paths).
    assert!(
        codes(&half["appeared"]).contains(&"txt_inconsistent".to_owned()),
        "{half}"
    );
    let p = &half["progress"][0];
    assert_eq!(p["record"], "_acme-challenge.new.example.lab/TXT");
    assert_eq!(
        (p["have"].as_u64(), p["of"].as_u64()),
        (Some(2), Some(4)),
        "{half}"
    );
    let missing: Vec<&str> = p["missing_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 2);
    assert!(
        missing.iter().all(|s| s.starts_with("ns2.example.lab.@")),
        "{missing:?}"
    );
    assert!(half["attempt"].as_u64().unwrap() >= 2);

    // Everywhere: ready, and the stream ends.
    lab.enter_stage("all").unwrap();
    let ready = w.next_event(limit);
    assert_eq!(ready["event"], "check", "{ready}");
    assert_eq!(ready["state"], "ready");
    assert!(
        codes(&ready["cleared"]).contains(&"txt_inconsistent".to_owned()),
        "{ready}"
    );
    assert!(ready["progress"].as_array().unwrap().is_empty());
    assert_eq!(ready["next_check_in_s"], Value::Null);
    let done = w.next_event(limit);
    assert_eq!(done["event"], "done");
    assert_eq!(done["state"], "ready");
    assert_eq!(done["attempts"], ready["attempt"]);
    assert!(w.lines.next().is_none(), "nothing after done");
    assert_eq!(w.child.wait().unwrap().code(), Some(0));
    drop(rt);
}

#[test]
fn a_schedule_that_runs_out_exits_1_and_says_why() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::start(scenario())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let mut w = watch(&lab, &files, &["--schedule", "0.1,0.2"]);
    let limit = Duration::from_secs(30);
    assert_eq!(w.next_event(limit)["checks"], 3);
    let first = w.next_event(limit);
    assert_eq!(first["state"], "not_ready");
    // Checks 2 and 3 change nothing, so no event until the end.
    let done = w.next_event(limit);
    assert_eq!(done["event"], "done", "{done}");
    assert_eq!(done["state"], "not_ready");
    assert_eq!(done["attempts"], 3);
    assert_eq!(
        done["reason"],
        "the schedule ran out before validation could succeed"
    );
    assert_eq!(w.child.wait().unwrap().code(), Some(1));
    drop(rt);
}

#[test]
fn a_perspective_that_never_answers_exits_3() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::start(scenario())).unwrap();
    lab.enter_stage("all").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let (cert, _key) = dcv_doctor::mpic::self_signed(&["127.0.0.1".to_owned()]).unwrap();
    let cert_file = dir.path().join("agent.pem");
    std::fs::write(&cert_file, cert).unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{port}/v1/check");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("dcv-doctor"));
    child.env("DCV_DOCTOR_AGENT_TOKEN", "a-token-of-sufficient-length");
    child.env("DCV_DOCTOR_AGENT_CA_CERT", &cert_file);
    let out = child
        .args([
            "watch",
            NAME,
            "--root-hints",
            files.root_hints.to_str().unwrap(),
            "--trust-anchor",
            files.trust_anchor.to_str().unwrap(),
            "--dns-port",
            &lab.dns_port().to_string(),
            "--allow-private",
            "--ca",
            "letsencrypt",
            "--method",
            "dns",
            "--txt-value",
            TOKEN,
            "--format",
            "json",
            "--timeout",
            "5",
            "--schedule",
            "0.1",
            "--perspective",
            &url,
        ])
        .output()
        .unwrap();
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done", "{events:#?}");
    assert_eq!(done["state"], "cannot_check", "{events:#?}");
    assert_eq!(out.status.code(), Some(3), "{events:#?}");
    drop(rt);
}
