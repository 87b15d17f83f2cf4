//! Differential test for slow and lossy servers: each scenario resolved by
//! our engine with its production timers (RTO from 376 ms, 5 tries, 6 s per
//! server, the CA's 10 s per lookup) and by a cold Unbound configured like
//! Let's Encrypt's resolver, asked by a patient client (`dig +time=25`) so
//! that Unbound's own retransmission schedule decides. The verdict classes
//! must agree: where Unbound gets through, so do we (and much sooner: we
//! take a late answer that Unbound drops). All scenarios run at once, each
//! lab on its own loopback addresses with its own Unbound; the lab listens
//! on port 53 (Unbound's root hints carry no port), so this needs root.
//! Unbound sends from its own address (`outgoing-interface`), so a lossy
//! server loses its first tries as well as ours: each client is its own path.

mod common;

use std::{
    net::IpAddr,
    path::Path,
    time::{Duration, Instant},
};

use dcv_dns::{DnsName, Engine, EngineConfig, RecordType};
use dcv_lab::unbound::{UNBOUND, Unbound, UnboundOptions};
use dcv_lab::{Lab, Scenario, catalogue};

use common::{UnboundVerdict as Verdict, our_unbound_verdict as ours, unbound_verdict};

const QUESTIONS: [(&str, RecordType); 4] = [
    ("www.example.lab.", RecordType::A),
    ("_acme-challenge.www.example.lab.", RecordType::TXT),
    ("www.example.lab.", RecordType::CAA),
    ("example.lab.", RecordType::CAA),
];

/// A cold CA resolver for this lab (`dcv_lab::unbound`: LE's settings,
/// no `discard-timeout`, which would drop Unbound's own answer to a client
/// after 1.9 s), sending from its own address so a lossy server loses its
/// first tries as well as ours; returned once it listens (no question: the
/// cache stays cold).
fn start_unbound(lab: &Lab, name: &str) -> Unbound {
    tokio::task::block_in_place(|| Unbound::start(lab, name, &UnboundOptions::cold_ca()))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Unbound's verdict through `dig` with one patient try.
fn dig(server: IpAddr, name: &str, qtype: RecordType) -> Verdict {
    common::dig(server, name, &qtype.to_string(), 25)
        .map_or(Verdict::Fail, |(status, ad)| unbound_verdict(&status, ad))
}

/// One scenario: our verdicts and time, Unbound's verdicts and time.
async fn compare(scenario: Scenario) -> (Vec<String>, Vec<String>) {
    let name = scenario.name.clone();
    let lab = Lab::start_on_port(scenario, 53).await.unwrap_or_else(|e| {
        panic!(
            "cannot start the lab on port 53 ({e}): this test needs root; run scripts/test as root"
        )
    });
    let unbound = start_unbound(&lab, &name);
    let addr = unbound.ip();
    let theirs = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let verdicts: Vec<Verdict> = std::thread::scope(|scope| {
            let handles: Vec<_> = QUESTIONS
                .iter()
                .map(|(n, t)| scope.spawn(move || dig(addr, n, *t)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        (verdicts, started.elapsed())
    });
    let engine = Engine::new(EngineConfig {
        query_timeout: EngineConfig::default().query_timeout,
        retries: EngineConfig::default().retries,
        ..common::config(&lab)
    });
    let started = Instant::now();
    let lookups = futures::future::join_all(QUESTIONS.iter().map(|(n, t)| {
        let engine = engine.clone();
        async move { engine.lookup(&DnsName::parse(n).unwrap(), *t).await }
    }))
    .await;
    let our_time = started.elapsed();
    let (theirs, their_time) = theirs.await.unwrap();
    drop(unbound);
    let mut lines = Vec::new();
    let mut disagreements = Vec::new();
    for (((qname, qtype), lookup), theirs) in QUESTIONS.iter().zip(&lookups).zip(&theirs) {
        let ours = ours(&lookup.outcome, &lookup.security);
        let line = format!(
            "{name:<18} {qname:<33} {qtype:<4} ours {ours:?} ({:.1} s) unbound {theirs:?} ({:.1} s)",
            our_time.as_secs_f64(),
            their_time.as_secs_f64()
        );
        if ours != *theirs {
            disagreements.push(line.clone());
        }
        lines.push(line);
    }
    (lines, disagreements)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_lossy_verdicts_agree_with_unbound() {
    assert!(
        Path::new(UNBOUND).exists() && Path::new("/usr/bin/dig").exists(),
        "unbound or dig not installed: apt-get install -y unbound bind9-dnsutils (scripts/test does it as root)"
    );
    let mut scenarios: Vec<Scenario> = [500, 1000, 1500, 2000, 3000]
        .into_iter()
        .map(|ms| catalogue::slow_servers(Duration::from_millis(ms)))
        .collect();
    scenarios.extend([
        catalogue::lossy_path(),
        catalogue::one_slow_server(),
        catalogue::lossy_server(),
        catalogue::jittery(),
        catalogue::tcp_slow(),
    ]);
    let results =
        futures::future::join_all(scenarios.into_iter().map(|s| tokio::spawn(compare(s)))).await;
    let mut all = Vec::new();
    for r in results {
        let (lines, disagreements) = r.unwrap();
        for l in lines {
            println!("{l}");
        }
        all.extend(disagreements);
    }
    assert!(
        all.is_empty(),
        "disagreements with Unbound:\n{}",
        all.join("\n")
    );
}
