//! Fuzz-style robustness: a raw UDP socket on 127.x answers every query with
//! arbitrary bytes (optionally dressed up with the query's id and question).
//! The engine must neither panic nor hang, and must stay within its budget.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use dcv_dns::{
    DnsName, Engine, EngineConfig, ExchangeResult, Outcome, RecordType, parse_root_hints,
};
use proptest::prelude::*;
use tokio::net::UdpSocket;

/// How the garbage is wrapped.
#[derive(Debug, Clone, Copy)]
enum Dress {
    /// Raw bytes.
    Raw,
    /// The query's id in the first two bytes.
    Id,
    /// The query's header (QR set, flags and counts from the garbage) and
    /// question, then garbage.
    Question,
}

async fn serve(socket: UdpSocket, payload: Vec<u8>, dress: Dress) {
    let mut buf = vec![0u8; 2048];
    // Bounded: the engine sends at most a few queries per test.
    for _ in 0..64 {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let query = &buf[..n];
        let reply = match dress {
            Dress::Raw => payload.clone(),
            Dress::Id => {
                let mut r = payload.clone();
                r.resize(r.len().max(2), 0);
                r[..2].copy_from_slice(&query[..2]);
                r
            }
            Dress::Question => {
                // Header (12) + question; the query ends with its OPT record (11 bytes).
                let qend = n.saturating_sub(11).max(12);
                let mut r = query[..qend].to_vec();
                r[2] = 0x80 | payload.first().copied().unwrap_or(0) & 0x7f;
                r[3] = payload.get(1).copied().unwrap_or(0);
                for (i, b) in payload.iter().skip(2).take(6).enumerate() {
                    r[6 + i] = *b;
                }
                r.extend_from_slice(payload.get(8..).unwrap_or_default());
                r
            }
        };
        let _ = socket.send_to(&reply, peer).await;
    }
}

async fn one_case(payload: Vec<u8>, dress: Dress) {
    // 127.255.0.0/16 is outside dcv-lab's address blocks (127.16-254.x.x).
    let mut bound = None;
    for _ in 0..8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 255, rand_octet(), rand_octet()));
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, 0)).await {
            bound = Some((ip, s));
            break;
        }
    }
    let (ip, socket) = bound.expect("bind 127.255.x.x");
    let port = socket.local_addr().unwrap().port();
    let server = tokio::spawn(serve(socket, payload, dress));
    let hints = parse_root_hints(&format!(". NS ns.garbage.\nns.garbage. A {ip}\n")).unwrap();
    let engine = Engine::new(EngineConfig {
        root_hints: hints,
        port,
        trust_anchors: Vec::new(),
        query_timeout: Duration::from_millis(60),
        retries: 1,
        max_queries: 40,
        ..EngineConfig::default()
    });
    let name = DnsName::parse("www.example.lab").unwrap();
    let lookup = tokio::time::timeout(Duration::from_secs(10), engine.lookup(&name, RecordType::A))
        .await
        .expect("lookup finishes");
    assert!(engine.queries_sent() <= 40);
    // Whatever arrived is evidence; an unparseable answer is reported as such.
    for e in &lookup.exchanges {
        if let ExchangeResult::Unparseable { size, .. } = &e.result {
            assert!(*size > 0);
        }
    }
    if let Outcome::Answer { records } = &lookup.outcome {
        assert!(records.len() <= dcv_dns::limits::MAX_RECORDS_PER_SECTION);
    }
    server.abort();
}

fn rand_octet() -> u8 {
    // 2..=254: avoid .0/.255 look-alikes; distinct addresses per case.
    2 + (rand_u32() % 253) as u8
}

fn rand_u32() -> u32 {
    use std::{
        collections::hash_map::RandomState,
        hash::{BuildHasher, Hasher},
    };
    let mut h = RandomState::new().build_hasher();
    h.write_u8(0);
    (h.finish() & 0xffff_ffff) as u32
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn garbage_answers_never_panic_or_hang(
        payload in proptest::collection::vec(any::<u8>(), 0..700),
        dress in 0u8..3,
    ) {
        let dress = match dress {
            0 => Dress::Raw,
            1 => Dress::Id,
            _ => Dress::Question,
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(one_case(payload, dress));
    }
}

#[tokio::test]
async fn truncated_answer_with_tcp_refused_is_reported() {
    // TC set, no TCP listener: the UDP answer stays as evidence, the server is unusable.
    let mut payload = vec![0x82, 0x00, 0, 0, 0, 0, 0, 0];
    payload.truncate(8);
    one_case(payload, Dress::Question).await;
}
