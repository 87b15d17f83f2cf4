//! Issue 14, "agents under load": five `dcv-doctor agent` processes, each in
//! its own network namespace, and fifty coordinated checks at once.
//!
//! The agents run with few slots (`--max-concurrent 4`) so that most of the
//! fifty requests each agent receives must wait: in the queue, or, past it
//! (`--max-queued 8`), as a 503 with `Retry-After` that the coordinator
//! honours within its deadline. Every check must still end with a complete
//! quorum: a busy agent is a slow perspective, not a missing one. Then one
//! agent is killed while fifty checks run: only its perspective may be
//! unavailable, and every quorum still stands on the other four.
//!
//! Needs root, iproute2 and nftables (the test says how to install them).

mod mpic_common;

use std::time::{Duration, Instant};

use dcv_diagnosis::{FindingCode, Report, Verdict};
use dcv_doctor::demo::healthy;
use dcv_doctor::mpic::{MpicOptions, PerspectiveSpec, run_mpic_check};
use dcv_lab::Lab;
use dcv_mpic::{Check, QuorumOutcome, Rir};
use mpic_common::{NetnsAgent, TOKEN, primary_config, quorum};

/// Checks started at once, as a platform's coordinator would.
const CHECKS: usize = 50;
/// Few slots and a short queue, so that the load really queues and overflows.
const AGENT_FLAGS: [&str; 4] = ["--max-concurrent", "4", "--max-queued", "8"];

fn opts() -> MpicOptions {
    MpicOptions {
        as_of: dcv_mpic::parse_date("2026-12-02").unwrap(),
        // The whole burst must fit: 50 checks through 4 slots per agent.
        perspective_timeout: Duration::from_secs(120),
    }
}

/// The primary's check with more patience than the demo's short lab timers:
/// fifty primaries validating in this process, five agent processes and the
/// lab share two cores, and what is under test is the agents' queue, not how
/// fast this machine answers itself.
fn primary(lab: &Lab) -> dcv_diagnosis::config::CheckConfig {
    let mut cfg = primary_config(lab);
    cfg.dns.query_timeout = Duration::from_secs(5);
    cfg.dns.retries = 2;
    // In the burst the lab's answers can take most of a second (it shares
    // the two cores), and a cold Unbound with 0x20 would turn that into a
    // CA timeout (`dns_timeout`, `dcv_dns::cold_unbound`): a true verdict
    // about a starved lab, not what this test is about.
    cfg.dns.lookup_budget = Duration::from_secs(60);
    cfg.timeout = Duration::from_secs(90);
    cfg
}

async fn burst(lab: &Lab, specs: &[PerspectiveSpec]) -> Vec<Report> {
    let opts = opts();
    let checks = (0..CHECKS).map(|_| run_mpic_check(primary(lab), specs, &opts));
    futures::future::join_all(checks).await
}

fn unavailable(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::PerspectiveUnavailable)
        .map(|f| f.summary.clone())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The lab's servers get a runtime of their own: fifty primaries validating
/// in the test's runtime must not starve the servers they query (a CA's
/// authoritative servers do not share its CPU either).
#[test]
fn fifty_coordinated_checks_through_five_busy_agents_all_reach_quorum() {
    let lab_runtime = runtime();
    let lab = lab_runtime.block_on(Lab::start(healthy())).unwrap();
    runtime().block_on(coordinated_checks(&lab));
    drop(lab);
    lab_runtime.shutdown_background();
}

async fn coordinated_checks(lab: &Lab) {
    let mut agents = [
        NetnsAgent::new("arin-1", Rir::Arin),
        NetnsAgent::new("ripe-1", Rir::Ripe),
        NetnsAgent::new("apnic-1", Rir::Apnic),
        NetnsAgent::new("lacnic-1", Rir::Lacnic),
        NetnsAgent::new("afrinic-1", Rir::Afrinic),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    for a in &mut agents {
        a.start_with(dir.path(), lab, &AGENT_FLAGS);
    }
    let specs: Vec<PerspectiveSpec> = agents.iter().map(NetnsAgent::spec).collect();

    // 1. Fifty at once, every agent up: fifty complete quorums.
    let started = Instant::now();
    let reports = burst(lab, &specs).await;
    let took = started.elapsed();
    for (i, report) in reports.iter().enumerate() {
        let json = serde_json::to_string_pretty(report).unwrap();
        assert!(unavailable(report).is_empty(), "check {i}: {json}");
        assert_ne!(report.verdict, Verdict::Fail, "check {i}: {json}");
        let mpic = report.mpic.as_ref().expect("mpic summary");
        assert_eq!(mpic.perspectives.len(), 5, "check {i}: {json}");
        // "ok", or "ok (after N busy answers)" when the agents were full.
        assert!(
            mpic.perspectives.iter().all(|p| p.status.starts_with("ok")),
            "{json}"
        );
        for check in [Check::Caa, Check::Dcv] {
            let q = quorum(report, check);
            assert_eq!(q.outcome, QuorumOutcome::Met, "check {i}: {json}");
            assert_eq!(q.quorum_result, "5/5", "check {i}: {json}");
        }
    }
    eprintln!(
        "{CHECKS} coordinated checks x 5 agents ({} slots, {} queued each): {:.1} s",
        AGENT_FLAGS[1],
        AGENT_FLAGS[3],
        took.as_secs_f64()
    );

    // 2. Fifty again, and ripe-1 is killed while they run: only its
    // perspective is unavailable; the other four still make every quorum.
    let killer = async {
        tokio::time::sleep(took / 4).await;
        agents[1].kill();
    };
    let (reports, ()) = tokio::join!(burst(lab, &specs), killer);
    let mut lost = 0;
    for (i, report) in reports.iter().enumerate() {
        let json = serde_json::to_string_pretty(report).unwrap();
        let gone = unavailable(report);
        assert!(
            gone.iter().all(|s| s.contains("ripe-1")),
            "check {i}: only ripe-1 may be unavailable: {gone:?}"
        );
        lost += usize::from(!gone.is_empty());
        let mpic = report.mpic.as_ref().expect("mpic summary");
        for p in &mpic.perspectives {
            assert!(
                p.status.starts_with("ok") || p.name == "ripe-1",
                "check {i}: {} is {}: {json}",
                p.name,
                p.status
            );
        }
        for check in [Check::Caa, Check::Dcv] {
            let q = quorum(report, check);
            assert_eq!(q.outcome, QuorumOutcome::Met, "check {i}: {json}");
        }
    }
    assert!(lost > 0, "the kill came after every check had its answer");
}
