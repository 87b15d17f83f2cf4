//! `Scenario::into_ipv4_only`: the whole world on IPv4, for machines without
//! the lab's IPv6 addresses (the demo falls back to it).

use dcv_lab::{Lab, catalogue};

#[tokio::test]
async fn ipv4_only_lab_has_no_ipv6_address_anywhere() {
    let lab = Lab::start(catalogue::valid().into_ipv4_only())
        .await
        .expect("lab starts");
    for server in [
        catalogue::ROOT_NS,
        catalogue::TLD_NS,
        catalogue::NS1,
        catalogue::NS2,
    ] {
        let addrs = lab.server_addrs(server);
        assert!(!addrs.is_empty(), "{server} has an address");
        assert!(
            addrs.iter().all(std::net::IpAddr::is_ipv4),
            "{server}: {addrs:?}"
        );
    }
    let web = lab.responder_addrs(catalogue::WEB);
    assert!(
        !web.is_empty() && web.iter().all(std::net::IpAddr::is_ipv4),
        "{web:?}"
    );
    assert!(
        !lab.root_hints_zone().contains("AAAA"),
        "{}",
        lab.root_hints_zone()
    );
}
