//! `Engine::probe_path`: one question to one lab server over one chosen path
//! (UDP or TCP, with or without EDNS), counted against the budget.

use std::time::Duration;

mod common;

use dcv_dns::{DnsName, Engine, EngineConfig, ExchangeResult, Protocol, QueryPath, RecordType};
use dcv_lab::{Lab, Mode, catalogue};

fn engine(lab: &Lab, max_queries: u32) -> Engine {
    Engine::new(EngineConfig {
        query_timeout: Duration::from_millis(300),
        retries: 0,
        max_queries,
        ..common::config(lab)
    })
}

fn caa_owner() -> DnsName {
    DnsName::parse("example.lab").unwrap()
}

#[tokio::test]
async fn every_path_of_a_healthy_signed_server() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let e = engine(&lab, 100);
    let server = lab.server_socket_addrs(catalogue::NS1)[0];
    for path in [
        QueryPath::UDP_EDNS,
        QueryPath::UDP_PLAIN,
        QueryPath::TCP_EDNS,
    ] {
        let x = e
            .probe_path(server, &caa_owner(), RecordType::CAA, path)
            .await
            .expect("budget left");
        assert_eq!(x.server, server);
        assert_eq!(x.protocol == Protocol::Tcp, path.tcp, "{path}");
        let r = x
            .response()
            .unwrap_or_else(|| panic!("{path}: {:?}", x.result));
        assert!(r.flags.aa && !r.flags.tc, "{path}");
        let caa: Vec<_> = r
            .answer
            .iter()
            .filter(|rr| rr.rtype == RecordType::CAA)
            .collect();
        assert_eq!(caa.len(), 1, "{path}");
        // Without EDNS the server sends no OPT and (no DO bit) no RRSIG.
        assert_eq!(r.edns_payload.is_some(), path.edns, "{path}");
        assert_eq!(
            r.answer.iter().any(|rr| rr.rtype == RecordType::RRSIG),
            path.edns,
            "{path}"
        );
    }
    assert_eq!(e.queries_sent(), 3);
}

#[tokio::test]
async fn truncation_is_returned_not_followed() {
    let lab = Lab::start(catalogue::tc_tcp()).await.unwrap();
    let e = engine(&lab, 100);
    let server = lab.server_socket_addrs(catalogue::NS1)[0];
    let udp = e
        .probe_path(server, &caa_owner(), RecordType::CAA, QueryPath::UDP_EDNS)
        .await
        .unwrap();
    assert_eq!(udp.protocol, Protocol::Udp);
    assert!(udp.response().unwrap().flags.tc);
    let tcp = e
        .probe_path(server, &caa_owner(), RecordType::CAA, QueryPath::TCP_EDNS)
        .await
        .unwrap();
    let r = tcp.response().unwrap();
    assert!(!r.flags.tc && r.answer.iter().any(|rr| rr.rtype == RecordType::CAA));
    assert_eq!(e.queries_sent(), 2, "one packet per path");
}

#[tokio::test]
async fn failures_and_budget() {
    let lab = Lab::start(catalogue::unsigned().with_server(catalogue::NS2, |s| {
        *s = s.clone().type_mode("CAA", Mode::Timeout);
    }))
    .await
    .unwrap();
    let e = engine(&lab, 2);
    let server = lab.server_socket_addrs(catalogue::NS2)[0];
    let x = e
        .probe_path(server, &caa_owner(), RecordType::CAA, QueryPath::UDP_PLAIN)
        .await
        .unwrap();
    assert_eq!(x.result, ExchangeResult::Timeout);
    let x = e
        .probe_path(server, &caa_owner(), RecordType::TXT, QueryPath::TCP_EDNS)
        .await
        .unwrap();
    assert!(x.response().is_some());
    // The budget (2) is spent: nothing more is sent.
    assert!(
        e.probe_path(server, &caa_owner(), RecordType::A, QueryPath::UDP_EDNS)
            .await
            .is_none()
    );
    assert_eq!(e.queries_sent(), 2);
}
