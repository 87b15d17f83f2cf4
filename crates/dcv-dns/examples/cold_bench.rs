//! Cold-resolution benchmark: one DCV-style check (A, AAAA, TXT and CAA at
//! every label) against the signed lab, by a fresh `Engine` and by a fresh
//! Unbound, both validating from the lab's trust anchor.
//!
//! `cargo run --release -p dcv-dns --example cold_bench [-- ROUNDS [DELAY_MS]]`
//! (needs root for port 53 and `/usr/sbin/unbound`: `apt-get install -y
//! unbound`). Every lab server delays each answer by `DELAY_MS` (default 20), so
//! the comparison is about round trips on the critical path, not CPU: the
//! report ends with our median over Unbound's, measured in the same run.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use dcv_dns::{DnsName, Engine, EngineConfig, RecordType, parse_root_hints, parse_trust_anchor};
use dcv_lab::unbound::{Unbound, UnboundOptions};
use dcv_lab::{Lab, catalogue};
use hickory_proto::{
    op::{Message, Query},
    rr::Name,
};
use tokio::net::UdpSocket;

const QUESTIONS: [(&str, RecordType); 6] = [
    ("www.example.lab.", RecordType::A),
    ("www.example.lab.", RecordType::AAAA),
    ("_acme-challenge.www.example.lab.", RecordType::TXT),
    ("www.example.lab.", RecordType::CAA),
    ("example.lab.", RecordType::CAA),
    ("lab.", RecordType::CAA),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let delay_ms: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let mut scenario = catalogue::valid();
    for server in &mut scenario.servers {
        server.behaviour.delay_ms = delay_ms;
    }
    let lab = Lab::start_on_port(scenario, 53).await?;
    println!("{delay_ms} ms added to every DNS answer; {rounds} cold rounds each");
    let config = EngineConfig {
        root_hints: parse_root_hints(&lab.root_hints_zone())?,
        port: lab.dns_port(),
        trust_anchors: parse_trust_anchor(&lab.trust_anchor_ds().unwrap_or_default())?,
        ..EngineConfig::default()
    };
    let mut ours = Vec::new();
    let mut queries = 0;
    for _ in 0..rounds {
        let engine = Engine::new(config.clone());
        let start = Instant::now();
        let lookups = futures::future::join_all(QUESTIONS.iter().map(|(n, t)| {
            let engine = engine.clone();
            async move { engine.lookup(&DnsName::parse(n).unwrap(), *t).await }
        }))
        .await;
        ours.push(start.elapsed());
        queries = engine.queries_sent();
        assert!(lookups.iter().all(|l| l.security.is_secure()));
    }
    report("dcv-dns (cold engine)", &ours);
    println!("  {queries} exchanges per check (every server of every cut asked)");

    let mut theirs = Vec::new();
    for _ in 0..rounds {
        // LE's settings (`dcv_lab::unbound`), cold; a missing unbound is an
        // error that says `apt-get install -y unbound`.
        let unbound = Unbound::start(&lab, "cold-bench", &UnboundOptions::cold_ca())?;
        let start = Instant::now();
        let answers = futures::future::join_all(
            QUESTIONS
                .iter()
                .map(|(n, t)| stub_query(unbound.addr(), n, *t)),
        )
        .await;
        theirs.push(start.elapsed());
        assert!(
            answers.iter().all(|ad| *ad),
            "unbound validated every answer"
        );
    }
    report("unbound 1.17 (cold cache)", &theirs);
    println!(
        "ratio dcv-dns / unbound (medians) = {:.2}",
        median(&ours) / median(&theirs)
    );
    Ok(())
}

fn median(samples: &[Duration]) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(label: &str, samples: &[Duration]) {
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
    println!(
        "{label:<28} median {median:7.2} ms   p90 {p90:7.2} ms   ({} runs)",
        v.len()
    );
}

/// One RD=1 query with DO; returns the AD flag.
async fn stub_query(server: SocketAddr, name: &str, qtype: RecordType) -> bool {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        hickory_proto::rr::RecordType::from(qtype.0),
    ));
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_dnssec_ok(true);
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&msg.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf)).await
    else {
        return false;
    };
    Message::from_vec(&buf[..n]).is_ok_and(|m| m.metadata.authentic_data)
}
