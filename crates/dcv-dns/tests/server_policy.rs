//! `ServerPolicy::PublicOnly`: name servers on private, loopback or reserved
//! addresses are never contacted. The refusal is evidence (an exchange with
//! `ExchangeResult::NotQueried` naming the range, a `ServerVerdict::NotQueried`),
//! costs no packet, no timeout and no query budget.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dcv_dns::{
    DnsName, Engine, EngineConfig, ExchangeResult, Lookup, Outcome, QueryPath, RangeKind,
    RecordType, ServFailReason, ServerPolicy, ServerVerdict, parse_root_hints, render_trace,
};
use dcv_lab::silent::SilentServer;
use dcv_lab::{Lab, catalogue};

fn name(s: &str) -> DnsName {
    DnsName::parse(s).unwrap()
}

/// Every exchange of the lookup is a refusal naming a loopback or ULA block,
/// and the walk ended at the root with every root server "not queried".
fn assert_refused_at_root(l: &Lookup, hints: &[SocketAddr]) {
    assert!(!l.exchanges.is_empty(), "the refusals are recorded");
    for e in &l.exchanges {
        let ExchangeResult::NotQueried { policy, range } = &e.result else {
            panic!("a packet was sent: {e:?}");
        };
        assert_eq!(*policy, ServerPolicy::PublicOnly);
        assert_eq!(e.latency, Duration::ZERO);
        assert!(
            matches!(range.kind, RangeKind::Loopback | RangeKind::UniqueLocal),
            "{range}"
        );
        assert!(hints.contains(&e.server), "{} is a root hint", e.server);
    }
    match &l.outcome {
        Outcome::ServFail {
            why: ServFailReason::AllServersFailed { zone, failures },
        } => {
            assert_eq!(zone.as_str(), ".");
            assert!(!failures.is_empty());
            for f in failures {
                assert!(
                    f.reason.contains("was not queried") && f.reason.contains("public-only"),
                    "{}",
                    f.reason
                );
            }
        }
        other => panic!("expected SERVFAIL at the root, got {other:?}"),
    }
    assert!(!l.server_answers.is_empty());
    for a in &l.server_answers {
        let ServerVerdict::NotQueried { range } = &a.verdict else {
            panic!("verdict {:?}", a.verdict);
        };
        assert_eq!(
            Some(range),
            ServerPolicy::PublicOnly
                .refusal(a.server.addr.ip())
                .as_ref(),
            "the verdict names the block the address is in"
        );
    }
}

#[tokio::test]
async fn lab_root_on_loopback_is_never_queried() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let cfg = EngineConfig {
        server_policy: ServerPolicy::PublicOnly,
        ..common::config(&lab)
    };
    let timeout = cfg.query_timeout;
    let hints: Vec<SocketAddr> = cfg
        .root_hints
        .iter()
        .map(|h| SocketAddr::new(h.addr, cfg.port))
        .collect();
    let engine = Engine::new(cfg);
    let started = Instant::now();
    let l = engine.lookup(&name("www.example.lab"), RecordType::A).await;
    let took = started.elapsed();
    let trace = render_trace(&l);
    println!("{trace}");
    // The trace says why, and shows no round trip for a packet never sent.
    assert!(trace.contains("was not queried: address in"), "{trace}");
    assert!(!trace.contains(" ms]"), "{trace}");
    assert_refused_at_root(&l, &hints);
    // Every hint was tried (the walk goes on past a refused server as past an
    // unreachable one), and none was sent a packet.
    let tried: Vec<SocketAddr> = l.exchanges.iter().map(|e| e.server).collect();
    for h in &hints {
        assert!(tried.contains(h), "{h} tried");
    }
    assert_eq!(engine.queries_sent(), 0, "no packet, no budget");
    assert!(
        took < timeout / 4,
        "refusing costs no timeout: {took:?} (query timeout {timeout:?})"
    );

    // The same engine answers the lab's names with the default policy.
    let open = Engine::new(common::config(&lab));
    let l = open.lookup(&name("www.example.lab"), RecordType::A).await;
    assert!(
        matches!(l.outcome, Outcome::Answer { .. }),
        "{:?}",
        l.outcome
    );
}

#[tokio::test]
async fn probe_path_to_a_reserved_server_is_refused_without_a_packet() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let engine = Engine::new(EngineConfig {
        server_policy: ServerPolicy::PublicOnly,
        ..common::config(&lab)
    });
    let server = lab.server_socket_addrs(catalogue::NS1)[0];
    for path in [QueryPath::UDP_EDNS, QueryPath::TCP_EDNS] {
        let x = engine
            .probe_path(server, &name("example.lab"), RecordType::CAA, path)
            .await
            .expect("a refusal is evidence, not a missing probe");
        assert_eq!(x.server, server);
        assert_eq!(
            x.refused_range(),
            ServerPolicy::PublicOnly.refusal(server.ip()).as_ref()
        );
    }
    assert_eq!(engine.queries_sent(), 0);
}

fn spy_config(spy: &SilentServer, policy: ServerPolicy) -> EngineConfig {
    let hints = spy.root_hints_zone();
    EngineConfig {
        root_hints: parse_root_hints(&hints).unwrap(),
        port: spy.addr().port(),
        trust_anchors: Vec::new(),
        query_timeout: Duration::from_millis(200),
        retries: 0,
        server_policy: policy,
        ..EngineConfig::default()
    }
}

#[tokio::test]
async fn no_packet_reaches_a_loopback_root_under_public_only() {
    let spy = SilentServer::start().await.unwrap();
    let engine = Engine::new(spy_config(&spy, ServerPolicy::PublicOnly));
    for (n, t) in [
        ("www.example.lab", RecordType::A),
        ("example.lab", RecordType::CAA),
        ("_acme-challenge.example.lab", RecordType::TXT),
    ] {
        let l = engine.lookup(&name(n), t).await;
        assert_refused_at_root(&l, &[spy.addr()]);
    }
    let x = engine
        .probe_path(
            spy.addr(),
            &name("example.lab"),
            RecordType::CAA,
            QueryPath::TCP_EDNS,
        )
        .await
        .unwrap();
    assert!(x.refused_range().is_some());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(spy.packets(), 0, "the spy saw nothing");
    assert_eq!(engine.queries_sent(), 0);

    // Control: the spy does count what the default policy sends.
    let engine = Engine::new(spy_config(&spy, ServerPolicy::Any));
    let l = engine.lookup(&name("www.example.lab"), RecordType::A).await;
    assert!(matches!(l.exchanges[0].result, ExchangeResult::Timeout));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(spy.packets() >= 1, "the spy counts");
}
