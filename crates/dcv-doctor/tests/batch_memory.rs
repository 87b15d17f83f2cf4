//! `batch` streams: its peak memory does not grow with the input. The same
//! mix of lines (hostnames under a TLD the lab's root does not have, so each
//! check ends at the root's NXDOMAIN; IP literals, which no CA issues for
//! and which need no network; lines that are not hostnames) is run at
//! 10,000 and at 200,000 lines, and the child's peak resident memory
//! (`VmHWM`, which `--summary-json` reports) must stay within 10 %.

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::Lab;

const SMALL: u64 = 10_000;
const LARGE: u64 = 200_000;

/// Line `n` of the generated input.
fn line(n: u64) -> String {
    if n.is_multiple_of(100) {
        format!("h{n}.no-such-tld")
    } else if n.is_multiple_of(2) {
        format!("192.0.2.{}", n % 250)
    } else {
        format!("not a hostname {n}")
    }
}

struct Run {
    records: u64,
    peak_rss_kib: u64,
    checks: u64,
    bad_lines: u64,
}

fn run(lines: u64, lab_args: &[std::ffi::OsString], dir: &std::path::Path) -> Run {
    let input = dir.join(format!("{lines}.txt"));
    let mut text = String::new();
    for n in 1..=lines {
        text.push_str(&line(n));
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let summary = dir.join(format!("{lines}.summary.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .arg("batch")
        .arg(&input)
        .args(["--method", "dns", "--ca", "letsencrypt", "--allow-private"])
        .arg("--summary-json")
        .arg(&summary)
        .args(lab_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the records as they come (the child must never wait for us) and
    // check that they are in input order.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut records = 0u64;
    let mut last = 0u64;
    for record in stdout.lines() {
        let record = record.unwrap();
        let n: u64 = record
            .strip_prefix("{\"line\":")
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("record without a leading line number: {record}"));
        assert!(n > last, "line {n} after line {last}");
        if n == 200 {
            assert!(record.contains("\"identifier_rejected\""), "{record}");
        }
        last = n;
        records += 1;
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    Run {
        records,
        peak_rss_kib: summary["peak_rss_kib"].as_u64().expect("peak_rss_kib"),
        checks: summary["pass"].as_u64().unwrap()
            + summary["warn"].as_u64().unwrap()
            + summary["fail"].as_u64().unwrap(),
        bad_lines: summary["bad_lines"].as_u64().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_stays_flat_from_10k_to_200k_lines() {
    let lab = Lab::start(healthy()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let args = lab_flags(&lab, &files);
    let path = dir.path().to_owned();
    let (small, large) =
        tokio::task::spawn_blocking(move || (run(SMALL, &args, &path), run(LARGE, &args, &path)))
            .await
            .unwrap();
    for (run, lines) in [(&small, SMALL), (&large, LARGE)] {
        assert_eq!(run.records, lines);
        assert_eq!(run.bad_lines, lines / 2);
        assert_eq!(run.checks, lines / 2);
    }
    let ratio = f64::from(u32::try_from(large.peak_rss_kib).unwrap())
        / f64::from(u32::try_from(small.peak_rss_kib).unwrap());
    eprintln!(
        "peak RSS: {} KiB at {SMALL} lines, {} KiB at {LARGE} lines (ratio {ratio:.3})",
        small.peak_rss_kib, large.peak_rss_kib
    );
    assert!(
        ratio <= 1.10,
        "peak memory grew with the input: {} KiB at {SMALL} lines, {} KiB at {LARGE}",
        small.peak_rss_kib,
        large.peak_rss_kib
    );
}
