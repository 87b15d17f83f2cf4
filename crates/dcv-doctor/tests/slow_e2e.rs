//! Slow and lossy name servers, end to end through the binary with the
//! production DNS timers (no lab shortcuts): servers that answer after 0.5
//! to 3 s, one slow server among fast ones, loss on every server or on one,
//! jittery latency, a server slow only over TCP, and one slower than the
//! CA's resolver ever waits. Where Let's Encrypt's resolver (a cold Unbound
//! with 0x20, modelled by `dcv_dns::cold_unbound` and measured against
//! Unbound in `dcv-dns/tests/caps_fallback_differential.rs`) gets through
//! within its budget, the check passes with a `dns_slow_server` warning
//! carrying the measured latency and loss; where it cannot, `dns_timeout`
//! blocks: from 1 s per answer on, its 0x20 fallback takes longer than the
//! CA waits, although this check gets every answer. The labs run
//! concurrently, so the suite costs about its slowest case.

use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use dcv_lab::catalogue::{self, NS1, NS2};
use dcv_lab::{Lab, Scenario};
use serde_json::Value;

/// What one case expects of the report.
struct Case {
    scenario: Scenario,
    /// The check passes (exit 0) or fails (exit 1).
    passes: bool,
    /// Servers the `dns_slow_server` warning must name (none: no warning).
    slow: &'static [&'static str],
    /// Servers it must not name.
    not_slow: &'static [&'static str],
    /// Lowest median answer time the evidence must show for the named ones.
    min_median_ms: u64,
    /// The evidence must show tries lost.
    lossy: bool,
    /// The failure is Let's Encrypt's cold Unbound running out of its
    /// budget in the 0x20 fallback, while this check gets every answer.
    caps_fallback: bool,
}

fn case(scenario: Scenario, slow: &'static [&'static str], min_median_ms: u64) -> Case {
    Case {
        scenario,
        passes: true,
        slow,
        not_slow: &[],
        min_median_ms,
        lossy: false,
        caps_fallback: false,
    }
}

fn cases() -> Vec<Case> {
    let both: &[&str] = &[NS1, NS2];
    let mut cases = vec![case(
        catalogue::slow_servers(Duration::from_millis(500)),
        both,
        500,
    )];
    // From 1 s per answer on, every try of a cold Unbound times out until
    // three in a row start its 0x20 fallback (Let's Encrypt runs it with
    // use-caps-for-id), which then wants three answers per address, one at
    // a time: past the CA's 10 s (`dcv-dns/tests/caps_fallback_differential.rs`
    // measures the same with Unbound).
    cases.extend([1000, 1500, 2000, 3000].into_iter().map(|ms| Case {
        passes: false,
        caps_fallback: true,
        ..case(catalogue::slow_servers(Duration::from_millis(ms)), &[], 0)
    }));
    cases.push(Case {
        lossy: true,
        ..case(catalogue::lossy_path(), both, 0)
    });
    cases.push(Case {
        not_slow: &[NS1],
        ..case(catalogue::one_slow_server(), &[NS2], 2000)
    });
    cases.push(Case {
        not_slow: &[NS1],
        lossy: true,
        ..case(catalogue::lossy_server(), &[NS2], 0)
    });
    cases.push(case(catalogue::jittery(), both, 300));
    // TC over UDP, then 1 s over TCP: within Unbound's 3 s TCP timeout.
    cases.push(case(catalogue::tcp_slow(), &[], 0));
    // Slower than the last try of Unbound's schedule (6016 ms): the CA's
    // resolver never hears these servers.
    cases.push(Case {
        passes: false,
        ..case(catalogue::slow_servers(Duration::from_secs(7)), &[], 0)
    });
    cases
}

fn run(lab: &Lab, dir: &std::path::Path) -> Output {
    let files = lab.write_files(dir).unwrap();
    Command::cargo_bin("dcv-doctor")
        .expect("binary builds")
        .env("NO_COLOR", "1")
        .args(["check", "www.example.lab", "--allow-private"])
        .args(dcv_doctor::demo::lab_flags(lab, &files))
        .args([
            "--method",
            "dns",
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "--timeout",
            "30",
        ])
        .output()
        .unwrap()
}

fn findings<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

fn check(case: &Case, output: &Output, elapsed: Duration) {
    let name = &case.scenario.name;
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    let expected_exit = i32::from(!case.passes);
    assert_eq!(
        output.status.code(),
        Some(expected_exit),
        "{name} after {elapsed:?}: {codes:?}\n{report:#}"
    );
    if !case.passes {
        let timeouts = findings(&report, "dns_timeout");
        assert!(
            timeouts.iter().any(|f| f["severity"] == "error"),
            "{name}: {codes:?}"
        );
        if case.caps_fallback {
            let f = timeouts
                .iter()
                .find(|f| !f["evidence"][0]["cold_unbound"].is_null())
                .unwrap_or_else(|| panic!("{name}: no cold-Unbound prediction: {report:#}"));
            let model = &f["evidence"][0]["cold_unbound"];
            assert_eq!(model["caps_fallback"], "certain", "{name}: {f:#}");
            assert!(model["best_ms"].as_u64().unwrap() > 10_000, "{name}: {f:#}");
            assert_eq!(
                f["acme_detail"],
                "DNS problem: query timed out looking up TXT for _acme-challenge.www.example.lab",
                "{name}"
            );
            // Not the engine's failure: every lookup here got its answer.
            assert!(
                timeouts
                    .iter()
                    .all(|t| t["evidence"][0]["kind"] == "dns_timing"),
                "{name}: {report:#}"
            );
        }
        return;
    }
    // What the CA's resolver would see as a failure must not be here.
    for code in ["dns_timeout", "dns_servfail", "dns_path_inconsistent"] {
        assert!(
            findings(&report, code).is_empty(),
            "{name}: {code} in {codes:?}\n{report:#}"
        );
    }
    let slow = findings(&report, "dns_slow_server");
    if case.slow.is_empty() {
        assert!(slow.is_empty(), "{name}: {slow:#?}");
        return;
    }
    assert_eq!(slow.len(), 1, "{name}: one warning for the zone: {codes:?}");
    let f = slow[0];
    assert_eq!(f["severity"], "warning", "{name}");
    assert_eq!(f["blocks"], serde_json::json!([]), "{name}");
    let summary = f["summary"].as_str().unwrap();
    for ns in case.slow {
        assert!(
            summary.contains(ns.trim_end_matches('.')),
            "{name}: {ns} not named: {summary}"
        );
    }
    for ns in case.not_slow {
        assert!(
            !summary.contains(ns.trim_end_matches('.')),
            "{name}: {ns} named: {summary}"
        );
    }
    let timing = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "dns_timing")
        .unwrap_or_else(|| panic!("{name}: no timing evidence: {f:#}"));
    assert_eq!(timing["zone"], "example.lab.", "{name}");
    assert_eq!(timing["initial_rto_ms"], 376, "{name}");
    // Let's Encrypt's cold Unbound gets through within its budget.
    assert!(
        timing["cold_unbound"]["best_ms"].as_u64().unwrap() <= 10_000,
        "{name}: {timing:#}"
    );
    for s in timing["servers"].as_array().unwrap() {
        let server = s["server"].as_str().unwrap();
        if !case.slow.iter().any(|ns| server.starts_with(ns)) {
            continue;
        }
        let median = s["median_ms"].as_u64().unwrap();
        assert!(median >= case.min_median_ms, "{name}: {s}");
        if case.lossy {
            assert!(s["lost"].as_u64().unwrap() >= 2, "{name}: {s}");
        }
    }
}

#[test]
fn slow_and_lossy_servers_pass_with_a_warning_until_the_ca_gives_up() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = cases();
    let labs: Vec<Lab> = rt.block_on(async {
        let mut labs = Vec::new();
        for c in &cases {
            labs.push(Lab::start(c.scenario.clone()).await.expect("lab starts"));
        }
        labs
    });
    let dir = tempfile::tempdir().unwrap();
    let outputs: Vec<(Output, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = labs
            .iter()
            .enumerate()
            .map(|(i, lab)| {
                let sub = dir.path().join(i.to_string());
                std::fs::create_dir_all(&sub).unwrap();
                scope.spawn(move || {
                    let started = Instant::now();
                    let out = run(lab, &sub);
                    (out, started.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (case, (output, elapsed)) in cases.iter().zip(&outputs) {
        println!(
            "{:<20} exit {:?} in {:.1} s",
            case.scenario.name,
            output.status.code(),
            elapsed.as_secs_f64()
        );
    }
    for (case, (output, elapsed)) in cases.iter().zip(&outputs) {
        check(case, output, *elapsed);
    }
    drop(labs);
}
