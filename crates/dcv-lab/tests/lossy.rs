//! Path knobs on the wire: lost queries (the first tries of each question, or
//! a seeded share of them, per transport), jitter, and latency over TCP only.
//! Every wait is short: a lost query is one that gets nothing back in
//! [`LOST_AFTER`].

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{query_message, rcode, v4};
use dcv_lab::catalogue::{self, NS1, NS2, WWW, ZONE};
use dcv_lab::{Lab, Loss, Scenario};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// A query with no answer after this long counts as lost (lab answers on
/// loopback take well under a millisecond).
const LOST_AFTER: Duration = Duration::from_millis(300);

async fn udp(addr: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let request = query_message(name, rtype, false, 1232);
    socket
        .send_to(&request.to_vec().unwrap(), addr)
        .await
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(LOST_AFTER, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some(Message::from_vec(&buf[..n]).unwrap())
}

async fn tcp(addr: SocketAddr, name: &str, rtype: RecordType, wait: Duration) -> Option<Message> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let bytes = query_message(name, rtype, false, 1232).to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.ok()?;
        Some(buf)
    };
    let buf = tokio::time::timeout(wait, read).await.ok()??;
    Some(Message::from_vec(&buf).unwrap())
}

fn with_ns1(f: impl FnOnce(dcv_lab::ServerSpec) -> dcv_lab::ServerSpec) -> Scenario {
    catalogue::unsigned().with_server(NS1, |s| *s = f(s.clone()))
}

#[tokio::test]
async fn the_first_udp_try_of_each_question_is_lost_and_the_retry_answered() {
    let lab = Lab::start(with_ns1(|s| s.loss(Loss::first_udp_tries(1))))
        .await
        .unwrap();
    let ns1 = v4(&lab, NS1);
    assert!(udp(ns1, WWW, RecordType::A).await.is_none(), "first try");
    let m = udp(ns1, WWW, RecordType::A).await.expect("the retry");
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(udp(ns1, WWW, RecordType::A).await.is_some(), "third try");
    // Another question starts over; the name's case (0x20) does not make one.
    assert!(udp(ns1, WWW, RecordType::TXT).await.is_none());
    assert!(udp(ns1, &WWW.to_uppercase(), RecordType::A).await.is_some());
    // TCP and the other server are not lossy.
    assert!(tcp(ns1, ZONE, RecordType::SOA, LOST_AFTER).await.is_some());
    assert!(udp(v4(&lab, NS2), ZONE, RecordType::SOA).await.is_some());
    // After a reset the next resolver loses its first try too.
    lab.reset_paths();
    assert!(udp(ns1, WWW, RecordType::A).await.is_none(), "after reset");
    assert!(udp(ns1, WWW, RecordType::A).await.is_some());
}

/// The same seed loses the same queries; a share of one half loses some and
/// answers some.
#[tokio::test]
async fn seeded_loss_replays_the_same_pattern() {
    let scenario = with_ns1(|s| s.loss(Loss::udp_per_mille(500)).jitter(Duration::ZERO, 7));
    let mut patterns = Vec::new();
    for _ in 0..2 {
        let lab = Lab::start(scenario.clone()).await.unwrap();
        let ns1 = v4(&lab, NS1);
        let mut pattern = Vec::new();
        for _ in 0..16 {
            pattern.push(udp(ns1, WWW, RecordType::A).await.is_some());
        }
        patterns.push(pattern);
    }
    assert_eq!(patterns[0], patterns[1]);
    let answered = patterns[0].iter().filter(|a| **a).count();
    assert!((3..=13).contains(&answered), "{:?}", patterns[0]);
}

#[tokio::test]
async fn tcp_loss_leaves_the_connection_silent_and_udp_alone() {
    let lab = Lab::start(with_ns1(|s| {
        s.loss(Loss {
            first_tries: 1,
            tcp: true,
            ..Loss::default()
        })
    }))
    .await
    .unwrap();
    let ns1 = v4(&lab, NS1);
    assert!(tcp(ns1, WWW, RecordType::A, LOST_AFTER).await.is_none());
    assert!(tcp(ns1, WWW, RecordType::A, LOST_AFTER).await.is_some());
    assert!(udp(ns1, ZONE, RecordType::SOA).await.is_some());
}

#[tokio::test]
async fn a_server_slow_only_over_tcp() {
    let lab = Lab::start(with_ns1(|s| s.tcp_delay(Duration::from_millis(400))))
        .await
        .unwrap();
    let ns1 = v4(&lab, NS1);
    let started = Instant::now();
    assert!(udp(ns1, WWW, RecordType::A).await.is_some());
    assert!(started.elapsed() < Duration::from_millis(200));
    let started = Instant::now();
    assert!(
        tcp(ns1, WWW, RecordType::A, Duration::from_secs(2))
            .await
            .is_some()
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
}

/// Answers take `delay` plus up to `jitter`, and not all the same time.
#[tokio::test]
async fn jitter_spreads_the_latency_above_the_delay() {
    let lab = Lab::start(with_ns1(|s| {
        s.delay(Duration::from_millis(20))
            .jitter(Duration::from_millis(200), 42)
    }))
    .await
    .unwrap();
    let ns1 = v4(&lab, NS1);
    let mut times = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        let m = tcp(ns1, WWW, RecordType::A, Duration::from_secs(2)).await;
        assert!(m.is_some());
        times.push(started.elapsed());
    }
    assert!(
        times.iter().all(|t| *t >= Duration::from_millis(20)),
        "{times:?}"
    );
    let spread = times
        .iter()
        .max()
        .unwrap()
        .saturating_sub(*times.iter().min().unwrap());
    assert!(spread >= Duration::from_millis(30), "{times:?}");
    assert!(
        times
            .iter()
            .all(|t| *t < Duration::from_millis(20 + 200 + 150)),
        "{times:?}"
    );
}
