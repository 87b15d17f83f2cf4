//! A DNSKEY fetch that times out must give Indeterminate, never Bogus
//! (RFC 4035 §4.3; hickory #3932 gets this wrong). The root server is reached
//! through a UDP proxy on 127.255.x.x that drops DNSKEY queries.

mod common;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use dcv_dns::{
    DnsName, Engine, EngineConfig, IndeterminateReason, Outcome, RecordType, Security,
    ServFailReason, parse_root_hints,
};
use dcv_lab::{Lab, catalogue};
use tokio::net::UdpSocket;

/// QTYPE of a query: the two bytes after the first question name.
fn qtype(query: &[u8]) -> Option<u16> {
    let mut pos = 12;
    loop {
        let len = usize::from(*query.get(pos)?);
        if len == 0 {
            break;
        }
        pos += 1 + len;
    }
    let b = query.get(pos + 1..pos + 3)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

async fn proxy(listen: Arc<UdpSocket>, upstream: SocketAddr, drop_qtype: u16) {
    let mut buf = vec![0u8; 4096];
    for _ in 0..256 {
        let Ok((n, peer)) = listen.recv_from(&mut buf).await else {
            return;
        };
        let query = buf[..n].to_vec();
        if qtype(&query) == Some(drop_qtype) {
            continue;
        }
        let listen = listen.clone();
        tokio::spawn(async move {
            let up = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            up.send_to(&query, upstream).await.unwrap();
            let mut rbuf = vec![0u8; 65_535];
            if let Ok(Ok((m, _))) =
                tokio::time::timeout(Duration::from_secs(2), up.recv_from(&mut rbuf)).await
            {
                let _ = listen.send_to(&rbuf[..m], peer).await;
            }
        });
    }
}

#[tokio::test]
async fn dnskey_timeout_is_indeterminate_not_bogus() {
    let lab = Lab::start(catalogue::valid()).await.unwrap();
    let root = lab
        .root_hints()
        .into_iter()
        .find(SocketAddr::is_ipv4)
        .unwrap();
    let mut listen = None;
    for i in 0..8u8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 255, 200, 10 + i));
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, lab.dns_port())).await {
            listen = Some((ip, s));
            break;
        }
    }
    let (ip, socket) = listen.expect("proxy binds");
    let task = tokio::spawn(proxy(Arc::new(socket), root, 48));
    let engine = Engine::new(EngineConfig {
        root_hints: parse_root_hints(&format!(". NS ns.root.\nns.root. A {ip}\n")).unwrap(),
        use_ipv6: false,
        query_timeout: Duration::from_secs(1),
        retries: 0,
        ..common::config(&lab)
    });
    let l = engine
        .lookup(&DnsName::parse("www.example.lab").unwrap(), RecordType::A)
        .await;
    task.abort();
    let Security::Indeterminate(IndeterminateReason::FetchFailed {
        zone,
        rrset,
        failures,
    }) = &l.security
    else {
        panic!("{:?}", l.security)
    };
    assert_eq!(zone.as_str(), ".");
    assert_eq!(rrset.to_string(), "./DNSKEY");
    assert_eq!(failures[0].reason, "timed out");
    assert_eq!(
        l.security.to_string(),
        format!("indeterminate: could not fetch ./DNSKEY: server {ip} timed out")
    );
    assert!(matches!(
        l.outcome,
        Outcome::ServFail {
            why: ServFailReason::Indeterminate(_)
        }
    ));
}
