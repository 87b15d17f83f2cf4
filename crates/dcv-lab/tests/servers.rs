//! Server fault knobs on the wire: SERVFAIL, REFUSED, silence, lame, TC over UDP
//! with the full answer over TCP, latency, per-zone modes, stale copies, FORMERR,
//! CNAME/DNAME handling and delegation shapes.

mod common;

use std::time::{Duration, Instant};

use common::{ips, of_type, rcode, tcp, udp, v4, v6};
use dcv_lab::catalogue::{self, NS1, NS2, NS3, TLD_NS, WEB, WWW, ZONE};
use dcv_lab::{Lab, Mode, Scenario, ServerSpec, ZoneSpec};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use tokio::net::UdpSocket;

#[tokio::test]
async fn servfail_and_refused_servers() {
    let lab = Lab::start(catalogue::servfail()).await.unwrap();
    for addr in [v4(&lab, NS1), v6(&lab, NS2)] {
        let m = udp(addr, WWW, RecordType::A, false).await.unwrap();
        assert_eq!(rcode(&m), ResponseCode::ServFail);
        assert!(!m.metadata.authoritative && m.answers.is_empty());
        let m = tcp(addr, WWW, RecordType::A, false).await.unwrap();
        assert_eq!(rcode(&m), ResponseCode::ServFail);
    }
    let lab = Lab::start(catalogue::refused()).await.unwrap();
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::Refused);
}

#[tokio::test]
async fn garbage_server_sends_undecodable_replies() {
    let lab =
        Lab::start(catalogue::unsigned().with_server(NS1, |s| s.behaviour.mode = Mode::Garbage))
            .await
            .unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let request = common::query_message(WWW, RecordType::A, false, 1232);
    socket
        .send_to(&request.to_vec().unwrap(), v4(&lab, NS1))
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(common::WAIT, socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), request.metadata.id);
    assert!(hickory_proto::op::Message::from_vec(&buf[..n]).is_err());
}

#[tokio::test]
async fn timeout_server_never_answers() {
    let lab = Lab::start(catalogue::timeout()).await.unwrap();
    assert!(
        udp(v4(&lab, NS1), WWW, RecordType::A, false)
            .await
            .is_none()
    );
    assert!(
        tcp(v4(&lab, NS2), WWW, RecordType::A, false)
            .await
            .is_none()
    );
    // The parent still delegates normally.
    let m = udp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(of_type(&m.authorities, RecordType::NS).len(), 2);
}

#[tokio::test]
async fn lame_server_answers_without_aa() {
    let lab = Lab::start(catalogue::lame()).await.unwrap();
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(!m.metadata.authoritative);
    assert_eq!(ips(&m.answers), lab.responder_addrs(WEB)[..1]);
}

#[tokio::test]
async fn lame_delegation_to_a_server_without_the_zone() {
    let lab = Lab::start(catalogue::lame_delegation()).await.unwrap();
    let referral = udp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(of_type(&referral.authorities, RecordType::NS).len(), 2);
    assert_eq!(ips(&referral.additionals).len(), 4, "glue for ns1 and ns3");
    let m = udp(v4(&lab, NS3), WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::Refused);
}

#[tokio::test]
async fn delegation_without_glue() {
    let lab = Lab::start(catalogue::missing_glue()).await.unwrap();
    let referral = udp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(of_type(&referral.authorities, RecordType::NS).len(), 2);
    assert!(referral.additionals.is_empty());
    // The child still has its own address records.
    let a = udp(v4(&lab, NS1), NS1, RecordType::A, false).await.unwrap();
    assert_eq!(ips(&a.answers), lab.server_addrs(NS1)[..1]);
}

#[tokio::test]
async fn truncating_server_answers_fully_over_tcp() {
    let lab = Lab::start(catalogue::tc_tcp()).await.unwrap();
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    let m = tcp(v4(&lab, NS1), WWW, RecordType::A, true).await.unwrap();
    assert!(!m.metadata.truncation);
    assert!(m.metadata.authoritative);
    assert_eq!(of_type(&m.answers, RecordType::A).len(), 1);
    assert_eq!(of_type(&m.answers, RecordType::RRSIG).len(), 1);
}

#[tokio::test]
async fn per_type_mode() {
    let lab = Lab::start(catalogue::caa_servfail()).await.unwrap();
    let m = udp(v4(&lab, NS1), ZONE, RecordType::CAA, false)
        .await
        .unwrap();
    assert_eq!(rcode(&m), ResponseCode::ServFail);
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);

    let lab = Lab::start(catalogue::caa_timeout()).await.unwrap();
    assert!(
        udp(v4(&lab, NS2), WWW, RecordType::CAA, false)
            .await
            .is_none()
    );
    let m = udp(v4(&lab, NS2), WWW, RecordType::AAAA, false)
        .await
        .unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
}

#[tokio::test]
async fn delayed_server() {
    let lab = Lab::start(catalogue::slow()).await.unwrap();
    let start = Instant::now();
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(rcode(&m), ResponseCode::NoError);
    let start = Instant::now();
    udp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "only ns1/ns2 are slow"
    );
}

#[tokio::test]
async fn per_zone_mode() {
    let lab = Lab::start(catalogue::servfail_one_zone()).await.unwrap();
    let ns1 = v4(&lab, NS1);
    let m = udp(ns1, WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::ServFail);
    let m = udp(ns1, "lab.", RecordType::SOA, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    // DS for example.lab. is answered from lab., which ns1 also serves.
    let m = udp(ns1, ZONE, RecordType::DS, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
}

#[tokio::test]
async fn stale_secondary_and_old_provider() {
    let lab = Lab::start(catalogue::stale_secondary()).await.unwrap();
    let fresh = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    let stale = udp(v4(&lab, NS2), WWW, RecordType::A, false).await.unwrap();
    assert_eq!(ips(&fresh.answers), lab.responder_addrs(WEB)[..1]);
    assert_eq!(
        ips(&stale.answers),
        vec!["192.0.2.99".parse::<std::net::IpAddr>().unwrap()]
    );
    // Both copies are delegated to.
    let referral = udp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(of_type(&referral.authorities, RecordType::NS).len(), 2);

    let lab = Lab::start(catalogue::old_provider()).await.unwrap();
    let old = v4(&lab, "ns.old-provider.lab.");
    let m = udp(old, WWW, RecordType::A, false).await.unwrap();
    assert!(m.metadata.authoritative);
    assert_eq!(
        ips(&m.answers),
        vec!["192.0.2.98".parse::<std::net::IpAddr>().unwrap()]
    );
    let referral = udp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    let ns: Vec<String> = of_type(&referral.authorities, RecordType::NS)
        .iter()
        .map(|r| r.data.to_string())
        .collect();
    assert_eq!(ns.len(), 2);
    assert!(ns.iter().all(|n| !n.contains("old-provider")));
}

#[tokio::test]
async fn cname_chains_and_loops() {
    let lab = Lab::start(catalogue::cname_cross_zone()).await.unwrap();
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    let cnames = of_type(&m.answers, RecordType::CNAME);
    assert_eq!(
        cnames.len(),
        2,
        "www → alias chased in zone, stops at other.lab."
    );
    assert!(of_type(&m.answers, RecordType::A).is_empty());
    let target = udp(
        v4(&lab, "ns.other.lab."),
        "target.other.lab.",
        RecordType::A,
        false,
    )
    .await
    .unwrap();
    assert_eq!(ips(&target.answers), lab.responder_addrs(WEB)[..1]);

    let lab = Lab::start(catalogue::cname_loop()).await.unwrap();
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(of_type(&m.answers, RecordType::CNAME).len(), 2);
}

#[tokio::test]
async fn dname_synthesizes_cname() {
    let lab = Lab::start(catalogue::dname()).await.unwrap();
    let m = udp(v4(&lab, TLD_NS), "www.old.lab.", RecordType::A, false)
        .await
        .unwrap();
    assert_eq!(of_type(&m.answers, RecordType::DNAME).len(), 1);
    let cname = of_type(&m.answers, RecordType::CNAME);
    assert_eq!(cname.len(), 1);
    assert_eq!(cname[0].data.to_string(), WWW);
}

#[tokio::test]
async fn out_of_bailiwick_delegation_has_no_glue() {
    let lab = Lab::start(catalogue::out_of_bailiwick_ns()).await.unwrap();
    let m = udp(v4(&lab, TLD_NS), WWW, RecordType::A, false)
        .await
        .unwrap();
    let ns = of_type(&m.authorities, RecordType::NS);
    assert_eq!(ns.len(), 1);
    assert!(matches!(&ns[0].data, RData::NS(n) if n.0.to_ascii() == "ns.dns-provider.com."));
    assert!(ips(&m.additionals).is_empty());
    // Its address comes from its own zone.
    let provider = lab.server_addrs("ns.dns-provider.com.");
    let a = udp(
        v4(&lab, "ns.dns-provider.com."),
        "ns.dns-provider.com.",
        RecordType::A,
        false,
    )
    .await
    .unwrap();
    assert_eq!(ips(&a.answers), provider[..1]);
}

#[tokio::test]
async fn malformed_queries_get_formerr_not_a_crash() {
    let lab = Lab::start(catalogue::unsigned()).await.unwrap();
    let addr = v4(&lab, NS1);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A header claiming one question, followed by garbage.
    let junk = [
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
    ];
    socket.send_to(&junk, addr).await.unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(common::WAIT, socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = hickory_proto::op::Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(rcode(&m), ResponseCode::FormErr);
    // A runt packet is ignored, and the server still works afterwards.
    socket.send_to(&[1, 2, 3], addr).await.unwrap();
    let m = udp(addr, WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
}

#[tokio::test]
async fn custom_scenario_with_placeholders_and_ipv6_only_server() {
    let scenario = Scenario::new("custom")
        .server(ServerSpec::new("a.root-servers.lab.").ipv6_only())
        .server(ServerSpec::new("ns.lab.").mode(Mode::Answer))
        .zone(ZoneSpec::new(".").served_by("a.root-servers.lab."))
        .zone(
            ZoneSpec::new("lab.")
                .served_by("ns.lab.")
                .record("where-is-root A {ns4:ns.lab.}")
                .record("where-is-root AAAA {ns6:a.root-servers.lab.}"),
        );
    let lab = Lab::start(scenario).await.unwrap();
    assert_eq!(lab.server_addrs("a.root-servers.lab.").len(), 1);
    assert!(lab.root_hints_zone().contains("AAAA"));
    let m = udp(
        v4(&lab, "ns.lab."),
        "where-is-root.lab.",
        RecordType::ANY,
        false,
    )
    .await
    .unwrap();
    let got = ips(&m.answers);
    assert!(got.contains(&lab.server_addrs("ns.lab.")[0]));
    assert!(got.contains(&lab.server_addrs("a.root-servers.lab.")[0]));
    // The root delegates lab. with v4+v6 glue; ns.lab. serves addresses for itself.
    let root = udp(
        v6(&lab, "a.root-servers.lab."),
        "x.lab.",
        RecordType::A,
        false,
    )
    .await
    .unwrap();
    assert_eq!(ips(&root.additionals), lab.server_addrs("ns.lab."));
}

#[tokio::test]
async fn bad_scenarios_are_errors() {
    let unknown_server = Scenario::new("bad").zone(ZoneSpec::new(".").served_by("nope."));
    assert!(Lab::start(unknown_server).await.is_err());
    let bad_record = Scenario::new("bad")
        .server(ServerSpec::new("ns.root."))
        .zone(
            ZoneSpec::new(".")
                .served_by("ns.root.")
                .record("x A not-an-ip"),
        );
    assert!(Lab::start(bad_record).await.is_err());
    let bad_placeholder = Scenario::new("bad")
        .server(ServerSpec::new("ns.root."))
        .zone(
            ZoneSpec::new(".")
                .served_by("ns.root.")
                .record("x A {http4:missing}"),
        );
    assert!(Lab::start(bad_placeholder).await.is_err());
    let include = Scenario::new("bad")
        .server(ServerSpec::new("ns.root."))
        .zone(
            ZoneSpec::new(".")
                .served_by("ns.root.")
                .record("$INCLUDE /etc/passwd"),
        );
    assert!(Lab::start(include).await.is_err());
}

#[tokio::test]
async fn edns_handling_and_512_byte_limit_without_edns() {
    let chunk = "x".repeat(200);
    let scenario = catalogue::unsigned().with_zone(ZONE, |z| {
        z.records
            .push(format!("big TXT \"{chunk}\" \"{chunk}\" \"{chunk}\""));
    });
    let lab = Lab::start(scenario).await.unwrap();
    let ns1 = v4(&lab, NS1);

    let mut plain = common::query_message("big.example.lab.", RecordType::TXT, false, 4096);
    plain.edns = None;
    let m = common::udp_raw(ns1, &plain).await.unwrap();
    assert!(m.metadata.truncation, "over 512 bytes without EDNS");
    assert!(m.edns.is_none(), "no OPT when the query had none");
    let m = common::tcp_raw(ns1, &plain).await.unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(of_type(&m.answers, RecordType::TXT).len(), 1);

    let sized = common::query_message("big.example.lab.", RecordType::TXT, false, 1232);
    let m = common::udp_raw(ns1, &sized).await.unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.edns.unwrap().max_payload(), 1232);

    let mut v1 = common::query_message(WWW, RecordType::A, false, 1232);
    if let Some(e) = v1.edns.as_mut() {
        e.set_version(1);
    }
    let m = common::udp_raw(ns1, &v1).await.unwrap();
    // 16 is BADVERS for OPT (decoders may name it BADSIG, the TSIG meaning).
    assert_eq!(u16::from(rcode(&m)), 16);
}

#[tokio::test]
async fn path_modes_apply_to_tcp_and_to_queries_without_edns_only() {
    let lab = Lab::start(catalogue::unsigned().with_server(NS1, |s| {
        *s = s
            .clone()
            .tcp_mode(Mode::Refused)
            .no_edns_mode(Mode::Timeout);
    }))
    .await
    .unwrap();
    let addr = v4(&lab, NS1);
    // UDP with EDNS: answered normally.
    let m = udp(addr, WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.metadata.authoritative && !m.answers.is_empty());
    // TCP: REFUSED, whatever the type.
    let m = tcp(addr, WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::Refused);
    // UDP without an OPT record: silence.
    let mut plain = common::query_message(WWW, RecordType::A, false, 1232);
    plain.edns = None;
    assert!(common::udp_raw(addr, &plain).await.is_none());
    // The other server is untouched.
    let m = common::udp_raw(v4(&lab, NS2), &plain).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(
        m.edns.is_none(),
        "no OPT in the answer to a query without one"
    );
}

/// An EDNS-intolerant server: FORMERR without OPT to queries with EDNS, a
/// normal answer to plain RFC 1035 queries.
#[tokio::test]
async fn edns_intolerant_server_answers_formerr_to_edns() {
    let lab = Lab::start(
        catalogue::unsigned().with_server(NS1, |s| s.behaviour.edns_mode = Some(Mode::FormErr)),
    )
    .await
    .unwrap();
    let m = udp(v4(&lab, NS1), WWW, RecordType::A, false).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::FormErr);
    assert!(m.edns.is_none());
    let mut plain = common::query_message(WWW, RecordType::A, false, 512);
    plain.edns = None;
    let m = common::udp_raw(v4(&lab, NS1), &plain).await.unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(ips(&m.answers), lab.responder_addrs(WEB)[..1]);
}

/// `udp_loss` drops the same share of every question's retries, per client;
/// TCP is not affected.
#[tokio::test]
async fn udp_loss_drops_a_fixed_share_of_each_question() {
    let lab = Lab::start(catalogue::unsigned().with_server(NS1, |s| {
        s.behaviour.udp_loss = Some(dcv_lab::UdpLoss {
            dropped: 1,
            period: 2,
        });
    }))
    .await
    .unwrap();
    let addr = v4(&lab, NS1);
    let mut answered = Vec::new();
    for _ in 0..4 {
        answered.push(udp(addr, WWW, RecordType::A, false).await.is_some());
    }
    assert_eq!(answered, [false, true, false, true]);
    // Another question has its own count.
    assert!(udp(addr, ZONE, RecordType::SOA, false).await.is_none());
    assert!(tcp(addr, WWW, RecordType::A, false).await.is_some());
}

/// `tcp_refused`: UDP answers, TCP connections are reset.
#[tokio::test]
async fn tcp_refused_server_resets_connections() {
    let lab =
        Lab::start(catalogue::unsigned().with_server(NS1, |s| s.behaviour.tcp_refused = true))
            .await
            .unwrap();
    let addr = v4(&lab, NS1);
    assert!(udp(addr, WWW, RecordType::A, false).await.is_some());
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
