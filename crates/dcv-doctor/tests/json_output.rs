//! Under `--format json` stdout is one JSON document and nothing else, in
//! every command that has the flag (and `batch`'s JSON Lines), on a machine
//! with the lab's IPv6 and on one without it (a fresh network namespace, see
//! `fresh_netns`). Notes go to stderr; bad input leaves stdout empty.

mod fresh_netns;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use clap::CommandFactory as _;
use dcv_doctor::cli::Cli;
use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::catalogue::{KEY_AUTHZ, TOKEN};
use dcv_lab::{Lab, Scenario};
use serde_json::Value;

/// The subcommands with `--format json` that [`every_command_prints_only_json`]
/// runs. A new one must be added there (this list is checked against clap).
const JSON_COMMANDS: &[&str] = &["check", "demo", "dns", "explain"];

fn doctor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"));
    cmd.env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dcv-doctor runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// stdout parses as exactly one JSON value; the exit status is `code`.
fn json_of(what: &str, out: &Output, code: i32) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit status\nstdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON document ({e}):\n{stdout}"))
}

fn lab_scenario(s: Scenario) -> Scenario {
    if dcv_lab::ipv6_available() {
        s
    } else {
        s.into_ipv4_only()
    }
}

fn every_command_prints_only_json(lab_ipv6: bool) {
    assert_eq!(
        dcv_lab::ipv6_available(),
        lab_ipv6,
        "lab IPv6 (fd5c:dc5::/48 local on lo): run `sudo scripts/lab-net-setup` for the set-up with it"
    );
    // Every subcommand with a --format flag is covered below.
    let mut with_format: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| c.get_arguments().any(|a| a.get_id() == "format"))
        .map(|c| c.get_name().to_owned())
        .collect();
    with_format.sort();
    assert_eq!(
        with_format, JSON_COMMANDS,
        "a subcommand gained or lost --format: cover it in this test"
    );

    // demo: the rows and the tally; a row that did not run says so.
    let out = run(doctor().args(["demo", "--format", "json"]), "");
    let demo = json_of("demo --format json", &out, 0);
    let rows = demo["rows"].as_array().expect("rows");
    let cases = dcv_doctor::demo::cases();
    assert_eq!(rows.len(), cases.len());
    for (row, case) in rows.iter().zip(&cases) {
        let should_run = lab_ipv6 || !case.needs_ipv6;
        assert_eq!(row["title"], case.title);
        assert_eq!(row["ran"], should_run, "{}", case.title);
        if should_run {
            assert_eq!(row["ok"], true, "{}", case.title);
            assert!(row["report"]["verdict"].is_string(), "{}", case.title);
        } else {
            assert!(row["ok"].is_null() && row["report"].is_null());
            assert_eq!(row["not_run"], "needs_lab_ipv6");
        }
    }
    let ran = cases.iter().filter(|c| lab_ipv6 || !c.needs_ipv6).count();
    assert_eq!(demo["summary"]["ran"], ran);
    assert_eq!(demo["summary"]["as_expected"], ran);
    assert_eq!(demo["summary"]["lab_ipv6"], lab_ipv6);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.contains("IPv6 addresses are not set up"),
        !lab_ipv6,
        "the note goes to stderr exactly when IPv6 is missing: {stderr}"
    );

    // explain: recognised (0) and unknown (1, JSON null).
    let out = run(
        doctor().args([
            "explain",
            "--format",
            "json",
            "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up caa for shop.example.com: dnssec: bogus",
        ]),
        "",
    );
    assert_eq!(
        json_of("explain (known)", &out, 0)["finding"],
        "dnssec_bogus"
    );
    let out = run(
        doctor().args(["explain", "--format", "json", "no CA ever said this"]),
        "",
    );
    assert!(json_of("explain (unknown)", &out, 1).is_null());

    // check, dns and batch against a lab served from this process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(Lab::start(lab_scenario(healthy())))
        .expect("lab starts");
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let flags = lab_flags(&lab, &files);

    let out = run(
        doctor()
            .args([
                "check",
                "www.example.lab",
                "--format",
                "json",
                "--allow-private",
            ])
            .args([
                "--http-token",
                TOKEN,
                "--http-body",
                KEY_AUTHZ,
                "--txt-value",
                "token",
            ])
            .args(&flags),
        "",
    );
    let report = json_of("check (passing)", &out, 0);
    assert_eq!(report["verdict"], "pass", "{report:#}");

    let out = run(
        doctor()
            .args([
                "check",
                "www.example.lab",
                "--format",
                "json",
                "--allow-private",
            ])
            .args(["--method", "dns", "--txt-value", "not-the-value"])
            .args(&flags),
        "",
    );
    let report = json_of("check (failing)", &out, 1);
    assert_eq!(report["verdict"], "fail", "{report:#}");

    let dns_flags = [
        "--root-hints".into(),
        files.root_hints.clone().into_os_string(),
        "--trust-anchor".into(),
        files.trust_anchor.clone().into_os_string(),
        "--dns-port".into(),
        lab.dns_port().to_string().into(),
    ];
    let out = run(
        doctor()
            .args(["dns", "www.example.lab", "A", "--format", "json"])
            .args(&dns_flags),
        "",
    );
    let lookup = json_of("dns", &out, 0);
    assert_eq!(lookup["outcome"]["kind"], "answer", "{lookup:#}");

    let out = run(
        doctor()
            .args(["batch", "-", "--method", "dns", "--allow-private"])
            .args(&flags),
        "www.example.lab\nnot a hostname!\n",
    );
    assert_eq!(out.status.code(), Some(1), "a bad line makes batch exit 1");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("batch: a line is not JSON ({e}): {l}"))
        })
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    drop(lab);

    // Bad input: exit 2, the reason on stderr, nothing on stdout.
    for args in [
        &["check", "exa mple.lab", "--format", "json"][..],
        &["dns", "www.example.lab", "NOSUCHTYPE", "--format", "json"],
        &[
            "check",
            "x.lab",
            "--format",
            "json",
            "--root-hints",
            "/nonexistent/hints",
        ],
    ] {
        let out = run(doctor().args(args), "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: stdout {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.stderr.is_empty(), "{args:?}: no reason given");
    }
}

#[test]
fn every_command_prints_only_json_with_lab_ipv6() {
    every_command_prints_only_json(true);
}

#[test]
fn every_command_prints_only_json_without_lab_ipv6() {
    if fresh_netns::inside() {
        every_command_prints_only_json(false);
    } else {
        fresh_netns::rerun("every_command_prints_only_json_without_lab_ipv6");
    }
}
