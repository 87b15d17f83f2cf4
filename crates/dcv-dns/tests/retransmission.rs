//! Retransmission and server choice against lab servers: a late answer to
//! an earlier try is taken, a lost try is retransmitted after the RTO and
//! counted, the RTO adapts to what was measured, a dead or slow server does
//! not hold the walk (its answer still joins the evidence), the CA's budget
//! bounds a lookup, and a server known silent is not waited on twice.

use std::time::{Duration, Instant};

mod common;

use dcv_dns::{
    DnsName, Engine, EngineConfig, ExchangeResult, Outcome, QueryPath, RecordType, ServerVerdict,
};
use dcv_lab::catalogue::{self, NS1, NS2, TLD_NS, ZONE};
use dcv_lab::{Lab, Loss, Mode, Scenario, ServerSpec};

fn engine(lab: &Lab, patience: Duration, retries: u8) -> Engine {
    Engine::new(EngineConfig {
        query_timeout: patience,
        retries,
        ..common::config(lab)
    })
}

fn www() -> DnsName {
    DnsName::parse("www.example.lab").unwrap()
}

fn with_ns(scenario: Scenario, name: &str, f: impl FnOnce(ServerSpec) -> ServerSpec) -> Scenario {
    scenario.with_server(name, |s| *s = f(s.clone()))
}

/// ns1 answers after 1 s: the first try's RTO (376 ms) runs out, a second
/// try is sent (waiting 752 ms, to 1128 ms), and the answer to the first is
/// taken when it comes.
#[tokio::test]
async fn a_late_answer_to_the_first_try_is_taken() {
    let lab = Lab::start(with_ns(catalogue::unsigned(), NS1, |s| {
        s.delay(Duration::from_secs(1))
    }))
    .await
    .unwrap();
    let e = engine(&lab, Duration::from_secs(3), 4);
    let ns1 = lab.server_socket_addrs(NS1)[0];
    let x = e
        .probe_path(ns1, &www(), RecordType::A, QueryPath::UDP_EDNS)
        .await
        .unwrap();
    assert!(x.response().is_some(), "{x:?}");
    assert_eq!((x.attempt, x.tries, x.lost_tries()), (1, 2, 0), "{x:?}");
    assert!(x.latency >= Duration::from_secs(1), "{x:?}");
    assert!(x.latency < Duration::from_millis(1500), "{x:?}");
    let t = e
        .server_timings()
        .into_iter()
        .find(|t| t.server == ns1)
        .unwrap();
    assert_eq!((t.answered, t.tries, t.late, t.lost), (1, 2, 1, 0), "{t:?}");
    // The RTO now outlasts a 1 s answer: the next question is not resent.
    assert!(t.rto_ms > 1000, "{t:?}");
    let x = e
        .probe_path(ns1, &www(), RecordType::AAAA, QueryPath::UDP_EDNS)
        .await
        .unwrap();
    assert_eq!((x.attempt, x.tries), (1, 1), "{x:?}");
}

/// ns1 loses the first try of each question: the retry after 376 ms gets
/// the answer, which belongs to try 2; try 1 counts as lost.
#[tokio::test]
async fn a_lost_try_is_retransmitted_after_the_rto() {
    let lab = Lab::start(with_ns(catalogue::unsigned(), NS1, |s| {
        s.loss(Loss::first_udp_tries(1))
    }))
    .await
    .unwrap();
    let e = engine(&lab, Duration::from_secs(3), 4);
    let ns1 = lab.server_socket_addrs(NS1)[0];
    let started = Instant::now();
    let x = e
        .probe_path(ns1, &www(), RecordType::A, QueryPath::UDP_EDNS)
        .await
        .unwrap();
    assert!(x.response().is_some(), "{x:?}");
    assert_eq!((x.attempt, x.tries, x.lost_tries()), (2, 2, 1), "{x:?}");
    assert!(x.latency < Duration::from_millis(300), "{x:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(376) && elapsed < Duration::from_secs(1),
        "{elapsed:?}"
    );
    let t = &e.server_timings()[0];
    assert_eq!((t.questions, t.answered, t.lost), (1, 1, 1), "{t:?}");
}

/// Answers in a millisecond bring the RTO down to Unbound's floor (50 ms),
/// so a loss then costs a fraction of the first one.
#[tokio::test]
async fn the_rto_falls_towards_what_was_measured() {
    let lab = Lab::start(catalogue::unsigned()).await.unwrap();
    let e = engine(&lab, Duration::from_secs(3), 4);
    let ns1 = lab.server_socket_addrs(NS1)[0];
    for i in 0..20 {
        let name = DnsName::parse(&format!("n{i}.example.lab")).unwrap();
        e.probe_path(ns1, &name, RecordType::A, QueryPath::UDP_EDNS)
            .await
            .unwrap();
    }
    let t = &e.server_timings()[0];
    assert_eq!(t.answered, 20);
    assert!(t.rto_ms < 200, "{t:?}");
}

/// `lab.` and `example.lab.` each have a dead server beside a live one. The
/// walk goes on as soon as the live one answers at each cut, so the lookup
/// costs one patience (the dead servers' evidence, collected concurrently),
/// not one per cut; both dead servers are in the evidence as timed out.
#[tokio::test]
async fn dead_servers_do_not_hold_the_walk_and_are_still_named() {
    const DEAD_TLD: &str = "ns2.lab.";
    let scenario = catalogue::unsigned()
        .server(ServerSpec::new(DEAD_TLD).mode(Mode::Timeout))
        .with_zone("lab.", |z| z.servers.push(DEAD_TLD.into()))
        .with_server(NS2, |s| s.behaviour.mode = Mode::Timeout);
    let lab = Lab::start(scenario).await.unwrap();
    let patience = Duration::from_millis(1200);
    let e = engine(&lab, patience, 4);
    let started = Instant::now();
    let l = e.lookup(&www(), RecordType::A).await;
    let elapsed = started.elapsed();
    assert!(matches!(l.outcome, Outcome::Answer { .. }), "{l:?}");
    assert!(elapsed >= patience, "the dead servers were waited for");
    assert!(
        elapsed < (patience * 2).saturating_sub(Duration::from_millis(200)),
        "{elapsed:?}: the walk waited for the dead server at each cut"
    );
    let timed_out: Vec<_> = l
        .server_answers
        .iter()
        .filter(|a| a.verdict == ServerVerdict::Timeout)
        .map(|a| (a.zone.to_string(), a.server.name.to_string(), a.chosen))
        .collect();
    for (zone, ns) in [("lab.", DEAD_TLD), (ZONE, NS2)] {
        assert!(
            timed_out
                .iter()
                .any(|(z, n, chosen)| z == zone && n == ns && !chosen),
            "{ns} of {zone} missing: {timed_out:?}"
        );
    }
    // The live servers' answers were chosen.
    assert!(
        l.server_answers
            .iter()
            .any(|a| a.chosen && a.server.name.as_str() == TLD_NS)
    );
}

/// Every `example.lab.` server answers after 2 s, but the CA gives a lookup
/// 1 s: the lookup fails with the servers timed out at the budget.
#[tokio::test]
async fn the_cas_budget_bounds_a_lookup() {
    let lab = Lab::start(catalogue::slow_servers(Duration::from_secs(2)))
        .await
        .unwrap();
    let e = Engine::new(EngineConfig {
        query_timeout: Duration::from_secs(3),
        retries: 4,
        lookup_budget: Duration::from_secs(1),
        ..common::config(&lab)
    });
    let started = Instant::now();
    let l = e.lookup(&www(), RecordType::A).await;
    let elapsed = started.elapsed();
    assert!(matches!(l.outcome, Outcome::ServFail { .. }), "{l:?}");
    assert!(elapsed < Duration::from_millis(1900), "{elapsed:?}");
    let timeouts: Vec<_> = l
        .server_answers
        .iter()
        .filter(|a| a.zone.as_str() == ZONE)
        .map(|a| &a.verdict)
        .collect();
    assert!(!timeouts.is_empty());
    assert!(
        timeouts.iter().all(|v| **v == ServerVerdict::Timeout),
        "{timeouts:?}"
    );
}

/// Once a server has let a question run out and answered nothing, the next
/// question to it waits two initial RTOs, not the whole patience again.
#[tokio::test]
async fn a_server_known_silent_is_not_waited_on_twice() {
    let lab = Lab::start(catalogue::timeout()).await.unwrap();
    let e = engine(&lab, Duration::from_secs(2), 4);
    let ns1 = lab.server_socket_addrs(NS1)[0];
    let first = e
        .probe_path(ns1, &www(), RecordType::A, QueryPath::UDP_EDNS)
        .await
        .unwrap();
    assert_eq!(first.result, ExchangeResult::Timeout);
    assert!(first.waited >= Duration::from_secs(2), "{first:?}");
    let second = e
        .probe_path(ns1, &www(), RecordType::TXT, QueryPath::UDP_EDNS)
        .await
        .unwrap();
    assert_eq!(second.result, ExchangeResult::Timeout);
    assert!(
        second.waited >= Duration::from_millis(752) && second.waited < Duration::from_millis(1200),
        "{second:?}"
    );
}
