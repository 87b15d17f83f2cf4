//! Lab hosts in network namespaces (`dcv_lab::netns`) and split-horizon views
//! (`Scenario::view`), on the wire: `dig` run inside a namespace sees the
//! view's copy of a zone, the host sees the default copy, and an nftables
//! egress drop turns a server into a real timeout for that namespace only.
//!
//! Needs root, iproute2, nftables and `dig` (bind9-dnsutils); fails, saying
//! what to install, when one is missing.

mod common;

use std::net::IpAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{of_type, udp, v4};
use dcv_lab::catalogue::{self, NS1, NS2, ZONE};
use dcv_lab::netns::Netns;
use dcv_lab::{Lab, Scenario};
use hickory_proto::rr::{RData, RecordType};

const NAME: &str = "geo.example.lab.";

/// `example.lab.` with `geo TXT "default"`, and for `view` the same zone,
/// same servers and keys, with `geo TXT "view"`.
fn split(view_sources: Vec<String>) -> Scenario {
    let mut s = catalogue::valid().view("perspective", view_sources);
    let zone = s.zone_mut(ZONE).unwrap();
    zone.records.push("geo TXT \"default\"".into());
    let mut copy = zone.clone().for_view("perspective");
    copy.records.retain(|r| !r.starts_with("geo "));
    copy.records.push("geo TXT \"view\"".into());
    s.zone(copy)
}

fn dig(ns: &Netns, server: IpAddr, port: u16, name: &str) -> Output {
    ns.command("dig")
        .args([
            &format!("@{server}"),
            "-p",
            &port.to_string(),
            name,
            "TXT",
            "+short",
            "+time=1",
            "+tries=1",
            "+dnssec",
        ])
        .output()
        .expect("dig runs (install it with `sudo apt-get install bind9-dnsutils`)")
}

fn txt_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with('"'))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_answers_by_source_address_and_an_egress_drop_times_out() {
    let mut ns = Netns::create().unwrap();
    let lab = Lab::start(split(ns.sources())).await.unwrap();
    let port = lab.dns_port();

    // From the host: the default copy.
    let m = udp(v4(&lab, NS1), NAME, RecordType::TXT, true)
        .await
        .unwrap();
    let host_view: Vec<String> = of_type(&m.answers, RecordType::TXT)
        .into_iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(host_view, ["default"]);
    assert!(
        !of_type(&m.answers, RecordType::RRSIG).is_empty(),
        "signed: {m:?}"
    );

    // From inside the namespace, over IPv4 and IPv6: the view's copy.
    for server in lab
        .server_addrs(NS1)
        .into_iter()
        .chain(lab.server_addrs(NS2))
    {
        let out = dig(&ns, server, port, NAME);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(txt_of(&out), "\"view\"", "from the namespace via {server}");
        // The signature comes along: same keys, so it validates like the rest.
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("TXT 13 3 "),
            "{out:?}"
        );
    }

    // Drop NS1's addresses on the namespace's way out: dig waits its full
    // timeout and gets nothing, NS2 still answers, the host still reaches NS1.
    ns.drop_egress_to(&lab.server_addrs(NS1)).unwrap();
    for server in lab.server_addrs(NS1) {
        let started = Instant::now();
        let out = dig(&ns, server, port, NAME);
        assert!(!out.status.success(), "{out:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "a real timeout, not an instant error: {:?}",
            started.elapsed()
        );
    }
    assert!(ns.dropped_packets().unwrap() >= 2);
    let out = dig(&ns, lab.server_addrs(NS2)[0], port, NAME);
    assert_eq!(txt_of(&out), "\"view\"");
    assert!(
        udp(v4(&lab, NS1), NAME, RecordType::TXT, false)
            .await
            .is_some()
    );
}

#[test]
fn a_zone_naming_an_unknown_view_is_refused() {
    let scenario = catalogue::valid().with_zone(ZONE, |z| z.view = Some("nowhere".into()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime.block_on(Lab::start(scenario)).unwrap_err();
    assert!(err.to_string().contains("unknown view nowhere"), "{err}");
}
