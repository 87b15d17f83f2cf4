//! RFC 2136 + TSIG against a real primary: a `knotd` on loopback serving one
//! zone with an update ACL. The TXT record is added, seen, and removed again;
//! a wrong key is refused by Knot (NOTAUTH), and we say so.
//!
//! Needs `knotd` (Debian package `knot`); a missing binary fails the test
//! with the install line.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dcv_acme::dns_update::{self, DnsUpdateError, TsigKey};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

const ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 23, 77));
const SECRET: &str = "ZGN2LWRvY3Rvci11cGRhdGUta2V5LXNlY3JldA==";

struct Knot {
    child: Child,
    server: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn knotd() -> std::path::PathBuf {
    ["/usr/sbin/knotd", "/usr/bin/knotd"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("this test needs knotd: apt-get install -y --no-install-recommends knot")
}

fn free_port() -> u16 {
    let udp = std::net::UdpSocket::bind((ADDR, 0)).unwrap();
    udp.local_addr().unwrap().port()
}

async fn ask_txt(server: SocketAddr, name: &str) -> Vec<String> {
    let mut q = Message::query();
    q.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::TXT,
    ));
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&buf[..n])
        .unwrap()
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect()
}

fn start() -> Knot {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    std::fs::write(
        dir.path().join("upd.lab.zone"),
        format!(
            "$ORIGIN upd.lab.\n@ 60 SOA ns hostmaster 1 60 60 60 60\n@ 60 NS ns\nns 60 A {ADDR}\nwww 60 A 192.0.2.1\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("knot.conf"),
        format!(
            "server:\n    rundir: \"{d}\"\n    listen: \"{ADDR}@{port}\"\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
database:\n    storage: \"{d}/db\"\n\
log:\n  - target: \"{d}/knotd.log\"\n    any: info\n\
key:\n  - id: upd.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
acl:\n  - id: upd\n    key: upd.key\n    action: update\n\
template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    zonefile-load: whole\n\
zone:\n  - domain: upd.lab.\n    file: \"upd.lab.zone\"\n    acl: upd\n"
        ),
    )
    .unwrap();
    let child = Command::new(knotd())
        .arg("-c")
        .arg(dir.path().join("knot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Knot {
        child,
        server: SocketAddr::new(ADDR, port),
        _dir: dir,
    }
}

#[tokio::test]
async fn a_txt_record_is_added_seen_and_removed_with_tsig() {
    let knot = start();
    let started = Instant::now();
    let zone = loop {
        match dns_update::zone_name(knot.server, "_acme-challenge.www.upd.lab").await {
            Ok(zone) => break zone,
            Err(e) if started.elapsed() < Duration::from_secs(15) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("knotd did not come up: {e}"),
        }
    };
    assert_eq!(zone, "upd.lab.");

    let key = TsigKey::parse(&format!("hmac-sha256:upd.key:{SECRET}")).unwrap();
    let zone = dns_update::add_txt(knot.server, &key, "_acme-challenge.www.upd.lab", "v4lu3")
        .await
        .unwrap();
    assert_eq!(
        ask_txt(knot.server, "_acme-challenge.www.upd.lab.").await,
        vec!["v4lu3"]
    );
    dns_update::delete_txt(
        knot.server,
        &key,
        &zone,
        "_acme-challenge.www.upd.lab",
        "v4lu3",
    )
    .await
    .unwrap();
    assert!(
        ask_txt(knot.server, "_acme-challenge.www.upd.lab.")
            .await
            .is_empty()
    );

    // A key Knot does not know: refused, and said so.
    let wrong = TsigKey::parse("hmac-sha256:other.key:c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
    let e = dns_update::add_txt(knot.server, &wrong, "_acme-challenge.www.upd.lab", "x")
        .await
        .unwrap_err();
    assert!(
        // RFC 8945 §5.2: an unknown key is NOTAUTH (hickory prints "Not authorized").
        matches!(&e, DnsUpdateError::Refused { rcode, .. } if rcode.to_lowercase().contains("not auth")),
        "{e:?}"
    );
    assert!(
        ask_txt(knot.server, "_acme-challenge.www.upd.lab.")
            .await
            .is_empty()
    );
}
