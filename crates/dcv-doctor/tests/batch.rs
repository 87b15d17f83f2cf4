//! `dcv-doctor batch` end to end: the binary reads hostnames, CSV or JSON
//! Lines, checks each line against the lab, and writes JSON Lines (in input
//! order, or as checks end with `--unordered`); bad lines are records, the
//! summary goes to stderr, and the progress bar only to a terminal.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::Lab;
use dcv_lab::catalogue::{KEY_AUTHZ, TOKEN, WEB, ZONE};
use serde_json::Value;

fn lab_scenario() -> dcv_lab::Scenario {
    healthy().with_zone(ZONE, |z| {
        z.records.push(format!("forbid A {{http4:{WEB}}}"));
        z.records.push("forbid CAA 0 issue \"pki.goog\"".to_owned());
    })
}

/// Runs `dcv-doctor batch` with `args`, `input` on stdin (written from a
/// thread of its own, so a large input cannot block against the output),
/// off the async runtime that serves the lab.
async fn batch(args: Vec<std::ffi::OsString>, input: Vec<u8>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
            .arg("batch")
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    })
    .await
    .unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn lines_of(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect()
}

fn verdict(record: &Value) -> &str {
    record["report"]["verdict"].as_str().unwrap_or("-")
}

fn codes(record: &Value) -> Vec<&str> {
    record["report"]["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["code"].as_str()).collect())
        .unwrap_or_default()
}

fn lab_args(lab: &Lab, files: &dcv_lab::LabFiles, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args = lab_flags(lab, files);
    args.extend(["--allow-private", "--timeout", "20"].map(Into::into));
    args.extend(extra.iter().map(Into::into));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostname_list_gives_one_record_per_line_in_order_and_a_summary() {
    let lab = Lab::start(lab_scenario()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let input = "# platform customers\nwww.example.lab\nforbid.example.lab\n\nnot a hostname!\n*.example.lab\nWWW.example.lab\n";
    let out = batch(
        lab_args(
            &lab,
            &files,
            &[
                "-",
                "--ca",
                "letsencrypt",
                "--method",
                "http",
                "--concurrency",
                "2",
            ],
        ),
        input.into(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let records = records(&out);

    // Input order, original line numbers, comments and blanks skipped.
    assert_eq!(lines_of(&records), [2, 3, 5, 6, 7], "{records:?}");
    assert_eq!(verdict(&records[0]), "pass", "{}", records[0]);
    assert_eq!(verdict(&records[4]), "pass", "{}", records[4]);
    assert_eq!(verdict(&records[1]), "fail", "{}", records[1]);
    assert!(
        codes(&records[1]).contains(&"caa_forbids"),
        "{}",
        records[1]
    );

    // Lines that are not hostnames this check can take: a record with the
    // reason and its kind.
    assert!(records[2].get("report").is_none());
    assert_eq!(records[2]["error_kind"], "hostname", "{}", records[2]);
    assert!(
        records[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid hostname: "),
        "{}",
        records[2]
    );
    assert_eq!(records[3]["error_kind"], "hostname", "{}", records[3]);
    assert!(
        records[3]["error"].as_str().unwrap().contains("wildcard"),
        "{}",
        records[3]
    );

    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "batch: 5 hostnames: 2 pass, 0 warn, 1 fail, 2 bad lines; blocking: caa_forbids 1\n"
        ),
        "{stderr}"
    );
    // The summary table: verdicts per CA, blocking codes, the slowest zone.
    assert!(stderr.contains("  3 checks in "), "{stderr}");
    let ca_row = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("letsencrypt"))
        .unwrap_or_else(|| panic!("no letsencrypt row: {stderr}"));
    let numbers: Vec<&str> = ca_row.split_whitespace().skip(1).collect();
    assert_eq!(numbers, ["2", "1"], "{stderr}");
    assert!(stderr.contains("  caa_forbids "), "{stderr}");
    assert!(stderr.contains("  example.lab. "), "{stderr}");
    assert!(stderr.contains("bad lines by kind: hostname 2"), "{stderr}");
    // Three checks under one zone: the later ones took the root's, lab.'s
    // and example.lab.'s cuts from the batch's shared cache.
    let reused: u64 = stderr
        .split("shared cache: reused ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no shared cache line: {stderr}"));
    assert!(reused > 0, "{stderr}");
}

/// A hostname this machine cannot check (its only nameserver is on a route
/// `scripts/lab-net-setup` makes unreachable, as in `vantage_e2e.rs`) is
/// counted apart: exit 3 when nothing failed, 1 as soon as a line fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostnames_that_cannot_be_checked_from_here_exit_3_unless_one_fails() {
    let scenario = lab_scenario().with_zone("lab.", |z| {
        z.records.push("v6only NS ns.v6only".into());
        z.records.push("ns.v6only AAAA fd5c:dc7::53".into());
    });
    let lab = Lab::start(scenario).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let args = || {
        lab_args(
            &lab,
            &files,
            &["-", "--ca", "letsencrypt", "--method", "dns"],
        )
    };

    let out = batch(args(), b"www.v6only.lab\nwww.example.lab\n".to_vec()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r = records(&out);
    assert_eq!(verdict(&r[0]), "could_not_check", "{}", r[0]);
    assert_eq!(verdict(&r[1]), "pass", "{}", r[1]);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with(
            "batch: 2 hostnames: 1 pass, 0 warn, 0 fail, 0 bad lines, 1 could not be checked from here\n"
        ),
        "{stderr}"
    );

    let out = batch(args(), b"www.v6only.lab\nforbid.example.lab\n".to_vec()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// The same checks as CSV and as JSON Lines: each line's own method, CA,
/// token and body, TXT values, delegation target and account URI, under the
/// `check` flags' rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_json_lines_carry_per_line_options() {
    let lab = Lab::start(lab_scenario()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let target = "www.example.lab.0123abcd.dcv.example.net";
    let csv = format!(
        "hostname,method,ca,txt_value,txt_value,http_token,http_body,dcv_delegation,account_uri
www.example.lab,dns,letsencrypt,token,,,,,
www.example.lab,dns,letsencrypt,not-the-value,,,,,
www.example.lab,http,google,,,{TOKEN},{KEY_AUTHZ},,
forbid.example.lab,http,google,,,,,,
forbid.example.lab,http,,,,,,,
www.example.lab,dns,letsencrypt,,,,,{target},
*.example.lab,http,,,,,,,
www.example.lab,dns,letsencrypt,token,,,,,http://acme.example/acct/1
www.example.lab,dns,\"letsencrypt,,,,,,,
www.example.lab,smtp,,,,,,,
www.example.lab,dns
"
    );
    let jsonl = format!(
        r#"{{"hostname":"www.example.lab","method":"dns","ca":"letsencrypt","txt_values":["token"]}}
{{"hostname":"www.example.lab","method":"dns","ca":"letsencrypt","txt_values":["not-the-value"]}}
{{"hostname":"www.example.lab","method":"http","ca":"google","http_token":"{TOKEN}","http_body":"{KEY_AUTHZ}"}}
{{"hostname":"forbid.example.lab","method":"http","ca":"google"}}
{{"hostname":"forbid.example.lab","method":"http"}}
{{"hostname":"www.example.lab","method":"dns","ca":"letsencrypt","dcv_delegation":"{target}"}}
{{"hostname":"*.example.lab","method":"http"}}
{{"hostname":"www.example.lab","method":"dns","ca":"letsencrypt","txt_values":["token"],"account_uri":"http://acme.example/acct/1"}}
{{"hostname":"www.example.lab","method":"dns","ca":"letsencrypt"
{{"hostname":"www.example.lab","method":"smtp"}}
{{"hostname":"www.example.lab","colour":"blue"}}
"#
    );
    for (format, input, first_line) in [("csv", csv, 2), ("jsonl", jsonl, 1)] {
        let out = batch(
            lab_args(
                &lab,
                &files,
                &["-", "--concurrency", "4", "--ca", "sectigo"],
            ),
            input.into_bytes(),
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let r = records(&out);
        let expected: Vec<u64> = (first_line..first_line + 11).collect();
        assert_eq!(lines_of(&r), expected, "{format}: {stderr}");
        let ctx = |i: usize| format!("{format} record {i}: {}", r[i]);

        assert_eq!(verdict(&r[0]), "pass", "{}", ctx(0));
        assert_eq!(r[0]["report"]["ca"], serde_json::json!(["letsencrypt"]));
        assert_eq!(r[0]["report"]["method"], serde_json::json!(["dns"]));
        assert_eq!(verdict(&r[1]), "fail", "{}", ctx(1));
        assert!(codes(&r[1]).contains(&"txt_mismatch"), "{}", ctx(1));
        assert_eq!(verdict(&r[2]), "pass", "{}", ctx(2));
        assert_eq!(r[2]["report"]["ca"], serde_json::json!(["google"]));
        // CAA at forbid allows only pki.goog: Google passes, and the batch's
        // --ca sectigo (for the line that names no CA) is refused.
        assert_eq!(verdict(&r[3]), "pass", "{}", ctx(3));
        assert_eq!(verdict(&r[4]), "fail", "{}", ctx(4));
        assert_eq!(r[4]["report"]["ca"], serde_json::json!(["sectigo"]));
        assert!(codes(&r[4]).contains(&"caa_forbids"), "{}", ctx(4));
        // Delegated DCV is judged for the CAs that follow it (Let's Encrypt).
        assert_eq!(verdict(&r[5]), "fail", "{}", ctx(5));
        assert!(
            codes(&r[5]).contains(&"delegated_dcv_missing"),
            "{}",
            ctx(5)
        );
        assert_eq!(r[6]["error_kind"], "hostname", "{}", ctx(6));
        assert_eq!(r[7]["error_kind"], "option", "{}", ctx(7));
        assert_eq!(r[7]["option"], "account_uri", "{}", ctx(7));
        assert!(
            r[7]["error"]
                .as_str()
                .unwrap()
                .starts_with("account_uri \"http://acme.example/acct/1\" must be an https://"),
            "{}",
            ctx(7)
        );
        assert_eq!(r[8]["error_kind"], "malformed", "{}", ctx(8));
        assert_eq!(r[9]["error_kind"], "option", "{}", ctx(9));
        assert_eq!(r[9]["option"], "method", "{}", ctx(9));
        assert_eq!(r[10]["error_kind"], "malformed", "{}", ctx(10));
        assert_eq!(out.status.code(), Some(1), "{format}: {stderr}");
        assert!(
            stderr.starts_with("batch: 11 hostnames: 3 pass, 0 warn, 3 fail, 5 bad lines"),
            "{format}: {stderr}"
        );
    }

    // A bad header stops the run before any check: exit 2, stdout empty.
    let out = batch(
        lab_args(&lab, &files, &["-", "--input-format", "csv"]),
        b"hostname,colour\nwww.example.lab,blue\n".to_vec(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("line 1: CSV header: unknown column \"colour\""),
        "{stderr}"
    );
}

/// Lines too long or not UTF-8 in the middle of a list are records of their
/// own; the lines after them keep their numbers; `--unordered` writes the
/// same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_records_and_line_numbers_stay_right() {
    let mut input = b"192.0.2.1\n\n".to_vec();
    input.extend(vec![b'a'; dcv_doctor::batch::MAX_LINE_BYTES + 10]);
    input.extend(b"\n\xff\xfeoops\n# comment\n198.51.100.7\r\nexa mple.com\n");
    for order in [&[][..], &["--unordered"]] {
        let mut args: Vec<std::ffi::OsString> = vec!["-".into(), "--method".into(), "dns".into()];
        args.extend(order.iter().map(Into::into));
        let out = batch(args, input.clone()).await;
        let mut r = records(&out);
        r.sort_by_key(|r| r["line"].as_u64());
        assert_eq!(lines_of(&r), [1, 3, 4, 6, 7], "{order:?}");
        // An IP literal is a check (no CA issues for one): no network needed.
        assert_eq!(verdict(&r[0]), "fail");
        assert!(codes(&r[0]).contains(&"identifier_rejected"), "{}", r[0]);
        assert_eq!(r[1]["error_kind"], "too_long");
        assert_eq!(r[1]["input"], "");
        assert_eq!(r[2]["error_kind"], "not_text");
        assert_eq!(r[3]["input"], "198.51.100.7");
        assert_eq!(r[4]["error_kind"], "hostname");
        assert_eq!(out.status.code(), Some(1));
    }
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
fn flags_are_checked_before_any_line() {
    for (args, says) in [
        (&["--concurrency", "0"][..], "--concurrency"),
        (
            &["--account-uri", "acct-1"],
            "--account-uri \"acct-1\" must be",
        ),
        (
            &["--summary-json", "/nonexistent/dir/s.json"],
            "--summary-json",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
            .args(["batch", "-"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// The progress bar: nothing on a pipe; on a terminal (a pseudo-terminal
/// from `script`), drawn on stderr with the failures so far, while stdout
/// (redirected to a file) stays pure JSON Lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_bar_is_drawn_only_on_a_terminal_and_never_on_stdout() {
    let lab = Lab::start(lab_scenario()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    // Enough checks, one at a time, for the bar to be drawn (4 times a second).
    let list = dir.path().join("list.txt");
    let hosts: String = (0..12)
        .map(|i| {
            if i % 3 == 0 {
                "forbid.example.lab\n"
            } else {
                "www.example.lab\n"
            }
        })
        .collect();
    std::fs::write(&list, hosts).unwrap();
    let mut args = lab_args(&lab, &files, &["--concurrency", "1", "--method", "http"]);
    args.insert(0, list.clone().into());

    // A pipe: the summary only.
    let out = {
        let args = args.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
                .arg("batch")
                .args(args)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        stderr.starts_with("batch: 12 hostnames: 8 pass"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}') && !stderr.contains("ETA"),
        "{stderr:?}"
    );
    assert_eq!(records(&out).len(), 12);

    // A terminal.
    let script = which("script");
    let json = dir.path().join("out.jsonl");
    let command = format!(
        "{} batch {} > {}",
        shell_quote(Path::new(env!("CARGO_BIN_EXE_dcv-doctor"))),
        args.iter()
            .map(|a| shell_quote(Path::new(a)))
            .collect::<Vec<_>>()
            .join(" "),
        shell_quote(&json)
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(script)
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{terminal}");
    assert!(
        terminal.contains("/12 ") && terminal.contains(" fail, 0 bad lines"),
        "no progress bar with the total and the failures on the terminal: {terminal:?}"
    );
    assert!(
        terminal.contains("batch: 12 hostnames: 8 pass"),
        "{terminal:?}"
    );
    let written = std::fs::read_to_string(&json).unwrap();
    assert!(!written.contains('\u{1b}') && !written.contains('\r'));
    let lines: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("`{program}` not found: install it (Debian: apt-get install bsdutils)")
        })
}

fn shell_quote(arg: &Path) -> String {
    format!("'{}'", arg.to_string_lossy().replace('\'', r"'\''"))
}
