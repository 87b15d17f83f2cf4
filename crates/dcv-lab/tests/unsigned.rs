//! The unsigned hierarchy: referrals with glue, authoritative answers, negative
//! answers, REFUSED outside served zones, UDP and TCP, IPv4 and IPv6.

mod common;

use common::{ips, of_type, rcode, tcp, udp, v4, v6};
use dcv_lab::Lab;
use dcv_lab::catalogue::{self, NS1, ROOT_NS, TLD_NS, WEB, WWW};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

#[tokio::test]
async fn walk_from_root_over_udp_and_tcp() {
    let lab = Lab::start(catalogue::unsigned()).await.unwrap();

    let root = udp(v4(&lab, ROOT_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(rcode(&root), ResponseCode::NoError);
    assert!(
        !root.metadata.authoritative,
        "a referral is not authoritative"
    );
    assert!(root.answers.is_empty());
    assert_eq!(of_type(&root.authorities, RecordType::NS).len(), 1);
    assert_eq!(ips(&root.additionals), lab.server_addrs(TLD_NS));

    let tld = tcp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(of_type(&tld.authorities, RecordType::NS).len(), 2);
    assert_eq!(
        ips(&tld.additionals).len(),
        4,
        "glue for ns1 and ns2, v4 and v6"
    );

    for addr in [v4(&lab, NS1), v6(&lab, NS1)] {
        let leaf = udp(addr, WWW, RecordType::A, false).await.unwrap();
        assert!(leaf.metadata.authoritative);
        assert_eq!(ips(&leaf.answers), lab.responder_addrs(WEB)[..1]);
        let leaf = tcp(addr, WWW, RecordType::AAAA, false).await.unwrap();
        assert_eq!(ips(&leaf.answers), lab.responder_addrs(WEB)[1..]);
    }
}

#[tokio::test]
async fn negative_answers_and_refused() {
    let lab = Lab::start(catalogue::unsigned()).await.unwrap();
    let ns1 = v4(&lab, NS1);

    let nx = udp(ns1, "nx.example.lab.", RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(rcode(&nx), ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative);
    assert_eq!(of_type(&nx.authorities, RecordType::SOA).len(), 1);

    let nodata = udp(ns1, WWW, RecordType::TXT, false).await.unwrap();
    assert_eq!(rcode(&nodata), ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(of_type(&nodata.authorities, RecordType::SOA).len(), 1);

    // Empty non-terminal: NODATA, not NXDOMAIN.
    let ent = udp(ns1, "sub.example.lab.", RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(rcode(&ent), ResponseCode::NoError);

    let wild = udp(ns1, "anything.wild.example.lab.", RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(
        ips(&wild.answers),
        vec!["192.0.2.20".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        wild.answers[0].name.to_ascii(),
        "anything.wild.example.lab."
    );

    let refused = udp(ns1, "example.com.", RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(rcode(&refused), ResponseCode::Refused);
}

#[tokio::test]
async fn root_hints_and_files() {
    let lab = Lab::start(catalogue::unsigned()).await.unwrap();
    let hints = lab.root_hints_zone();
    assert!(hints.contains(".                        3600000      NS    ns.root."));
    for ip in lab.server_addrs(ROOT_NS) {
        assert!(hints.contains(&ip.to_string()));
    }
    assert_eq!(lab.root_hints().len(), 2);
    assert!(lab.trust_anchor_ds().is_none());
    let dir =
        std::env::temp_dir().join(format!("dcv-lab-{}-{}", std::process::id(), lab.dns_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = lab.write_files(&dir).unwrap();
    assert_eq!(std::fs::read_to_string(&files.root_hints).unwrap(), hints);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn dropping_the_lab_stops_its_servers() {
    let lab = Lab::start(catalogue::unsigned()).await.unwrap();
    let addr = v4(&lab, NS1);
    assert!(udp(addr, WWW, RecordType::A, false).await.is_some());
    drop(lab);
    tokio::task::yield_now().await;
    assert!(udp(addr, WWW, RecordType::A, false).await.is_none());
}

#[tokio::test]
async fn parallel_labs_get_distinct_addresses() {
    let (a, b) = tokio::join!(
        Lab::start(catalogue::unsigned()),
        Lab::start(catalogue::unsigned())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.server_addrs(ROOT_NS), b.server_addrs(ROOT_NS));
}
