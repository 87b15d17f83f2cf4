//! The cold-Unbound model (`dcv_dns::cold_unbound`) against the real thing:
//! a cold Unbound with `use-caps-for-id: yes`, as Let's Encrypt runs it, asked
//! the one question a DNS-01 validation asks (`_acme-challenge` TXT) of a
//! signed zone whose two servers answer after 500, 800, 1,200 and 2,000 ms
//! (IPv4 only), and after 500 and 1,000 ms over IPv4 and IPv6 (four
//! addresses, as the CA sees a dual-stack zone).
//! For each, the model's prediction must hold: whether the 0x20 fallback
//! starts (Unbound's own log line) and how long the answer takes (within
//! the model's luckiest and lowest-RTO-first ends, with a margin for the
//! machine). 800 ms is the case that matters: the engine answers in about a
//! second, and Unbound's fallback takes over 10 s, past the CA's budget.
//! Each latency runs on its own lab and Unbound, all at once; needs root
//! (the lab listens on port 53, Unbound's root hints carry no port).

mod common;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use dcv_dns::cold_unbound::{self, UnboundTimers, ZoneAddress};
use dcv_lab::unbound::{UNBOUND, Unbound, UnboundOptions};
use dcv_lab::{Lab, catalogue};

const QUESTION: &str = "_acme-challenge.www.example.lab.";

/// The installed Unbound's version, from `unbound -V` ("Version 1.17.1").
fn unbound_version() -> (u32, u32, u32) {
    let out = Command::new(UNBOUND)
        .arg("-V")
        .output()
        .expect("unbound -V runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("Version "))
        .unwrap_or_else(|| panic!("no version in `unbound -V`: {text}"));
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// What one latency showed.
struct Measured {
    ms: u64,
    dual_stack: bool,
    status: String,
    elapsed: Duration,
    fallback_logged: bool,
    addresses: Vec<ZoneAddress>,
    log_tail: String,
}

/// `dual_stack`: Unbound sends from the kernel's choice of source address
/// and so reaches the servers' IPv6 addresses too; otherwise from its own
/// IPv4 address only.
async fn measure(ms: u64, dual_stack: bool) -> Measured {
    let scenario = catalogue::slow_servers(Duration::from_millis(ms));
    let lab = Lab::start_on_port(scenario, 53).await.unwrap_or_else(|e| {
        panic!(
            "cannot start the lab on port 53 ({e}): this test needs root; run scripts/test as root"
        )
    });
    let options = UnboundOptions {
        caps_for_id: true,
        own_source_address: !dual_stack,
        ..UnboundOptions::cold_ca()
    };
    let label = format!("caps-{ms}-{}", if dual_stack { "dual" } else { "v4" });
    let unbound = tokio::task::block_in_place(|| Unbound::start(&lab, &label, &options))
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    // Sending from its own IPv4 address (`own_source_address`), Unbound
    // counts the servers' IPv6 addresses in the fallback but never asks them.
    let addresses: Vec<ZoneAddress> = [catalogue::NS1, catalogue::NS2]
        .iter()
        .flat_map(|ns| lab.server_addrs(ns))
        .map(|ip| ZoneAddress {
            latency: Some(Duration::from_millis(ms)),
            usable: dual_stack || ip.is_ipv4(),
        })
        .collect();
    let server = unbound.ip();
    let (status, elapsed) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let status = common::dig(server, QUESTION, "TXT", 45)
            .map_or_else(|| "no answer".to_owned(), |(status, _)| status);
        (status, started.elapsed())
    })
    .await
    .expect("dig task");
    let log = unbound.log();
    Measured {
        ms,
        dual_stack,
        status,
        elapsed,
        fallback_logged: log.contains("Capsforid: timeouts, starting fallback"),
        addresses,
        log_tail: unbound.log_tail(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_unbound_model_predicts_the_caps_fallback() {
    assert!(
        Path::new(UNBOUND).exists() && Path::new("/usr/bin/dig").exists(),
        "unbound or dig not installed: apt-get install -y unbound bind9-dnsutils (scripts/test does it as root)"
    );
    // Unbound before 1.19.3 resends a timed-out query once with a smaller
    // EDNS size before the timeout counts (`cold_unbound` module docs).
    let timers = UnboundTimers {
        caps_for_id: true,
        frag_retry: unbound_version() < (1, 19, 3),
    };
    let cases = [
        (500, false),
        (800, false),
        (1200, false),
        (2000, false),
        (500, true),
        (1000, true),
    ];
    let runs = futures::future::join_all(
        cases.map(|(ms, dual_stack)| tokio::spawn(measure(ms, dual_stack))),
    )
    .await;
    let mut failures = Vec::new();
    for run in runs {
        let m = run.expect("measure task");
        // The TXT question, then the validator's DNSKEY of example.lab.
        let e = cold_unbound::estimate(&m.addresses, timers, 2);
        let low = e
            .best_case()
            .mul_f64(0.9)
            .saturating_sub(Duration::from_millis(300));
        let high = e.worst_case().mul_f64(1.2) + Duration::from_millis(1500);
        println!(
            "{} ms{}: unbound {} in {:.2} s, fallback {}; model {:.2}-{:.2} s, fallback {}",
            m.ms,
            if m.dual_stack { " (IPv4 and IPv6)" } else { "" },
            m.status,
            m.elapsed.as_secs_f64(),
            m.fallback_logged,
            e.best_case().as_secs_f64(),
            e.worst_case().as_secs_f64(),
            e.fallback()
        );
        let mut wrong = Vec::new();
        if m.status != "NOERROR" {
            wrong.push(format!("status {}", m.status));
        }
        if e.fallback_certain() && !m.fallback_logged {
            wrong.push("the model says the fallback must start; Unbound's log has none".into());
        }
        if !e.fallback_possible() && m.fallback_logged {
            wrong.push("Unbound started the fallback; the model says it cannot".into());
        }
        if m.elapsed < low || m.elapsed > high {
            wrong.push(format!(
                "took {:.2} s, outside the model's {:.2}-{:.2} s",
                m.elapsed.as_secs_f64(),
                low.as_secs_f64(),
                high.as_secs_f64()
            ));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{} ms (dual stack {}): {}\nUnbound log tail:\n{}",
                m.ms,
                m.dual_stack,
                wrong.join("; "),
                m.log_tail
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
