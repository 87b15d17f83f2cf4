//! Fuzz-style robustness: a raw UDP socket on 127.x answers every query with
//! arbitrary bytes (optionally dressed up with the query's id and question).
//! The engine must neither panic nor hang, and must stay within its budget.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use dcv_dns::{
    DnsName, Engine, EngineConfig, ExchangeResult, Lookup, NetErrorKind, Outcome, Protocol,
    RecordType, ServFailReason, parse_root_hints,
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

/// The garbage server's address and socket, on 127.255.x.x (outside
/// dcv-lab's address blocks, 127.16-254.x.x).
async fn bind_garbage_server() -> (IpAddr, UdpSocket) {
    for _ in 0..8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 255, rand_octet(), rand_octet()));
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, 0)).await {
            return (ip, s);
        }
    }
    panic!("cannot bind any 127.255.x.x address");
}

/// Looks up `www.example.lab A` with the garbage server as the only root
/// server, and checks what must hold whatever the bytes: the lookup ends,
/// within the query budget, and every answer that arrived is evidence.
async fn lookup_against(socket: UdpSocket, ip: IpAddr, payload: Vec<u8>, dress: Dress) -> Lookup {
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
    lookup
}

async fn one_case(payload: Vec<u8>, dress: Dress) {
    let (ip, socket) = bind_garbage_server().await;
    lookup_against(socket, ip, payload, dress).await;
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
    let (ip, socket) = bind_garbage_server().await;
    let port = socket.local_addr().unwrap().port();
    // Nothing listens on TCP at the server's address: a TCP socket bound there
    // but never listening makes sure of it (a SYN gets a RST: refused).
    let tcp_guard = tokio::net::TcpSocket::new_v4().unwrap();
    tcp_guard.bind(SocketAddr::new(ip, port)).unwrap();
    // The query's header and question with QR and TC set (0x82), NOERROR,
    // no records: "too big for UDP, ask again over TCP" (RFC 7766 §5).
    let payload = vec![0x82, 0x00, 0, 0, 0, 0, 0, 0];
    let lookup = lookup_against(socket, ip, payload, Dress::Question).await;
    let server = SocketAddr::new(ip, port);
    let trace = dcv_dns::render_trace(&lookup);

    // The truncated UDP answer stays in the evidence, TC bit and all.
    let truncated = lookup.exchanges.iter().find(|e| {
        e.server == server
            && e.protocol == Protocol::Udp
            && e.response().is_some_and(|r| r.flags.tc)
    });
    assert!(
        truncated.is_some(),
        "no truncated UDP answer in the evidence:\n{trace}"
    );
    // The retry over TCP was made, and refused.
    let refused = lookup.exchanges.iter().find(|e| {
        e.server == server
            && e.protocol == Protocol::Tcp
            && matches!(
                e.result,
                ExchangeResult::NetworkError {
                    cause: NetErrorKind::Refused,
                    ..
                }
            )
    });
    assert!(
        refused.is_some(),
        "no refused TCP exchange in the evidence:\n{trace}"
    );
    // With its only server unusable the root cannot be walked: SERVFAIL,
    // naming that server.
    match &lookup.outcome {
        Outcome::ServFail {
            why: ServFailReason::AllServersFailed { zone, failures },
        } => {
            assert_eq!(zone.as_str(), ".", "{trace}");
            assert!(
                failures.iter().any(|f| f.server.ip() == ip),
                "the failure does not name {ip}:\n{trace}"
            );
        }
        other => panic!("want SERVFAIL (all servers failed), got {other:?}:\n{trace}"),
    }
    drop(tcp_guard);
}
