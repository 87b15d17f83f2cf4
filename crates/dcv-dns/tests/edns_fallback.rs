//! RFC 6891 §7: a server that does not implement EDNS answers a query with
//! an OPT record with FORMERR (and no OPT of its own); a resolver asks again
//! without EDNS, as Unbound does. Regression for the generated worlds'
//! "EDNS-intolerant server (`FormErr`)" divergence from Unbound and delv
//! (crates/dcv-worlds/known-divergences.toml, before this fallback).

mod common;

use dcv_dns::{DnsName, Engine, ExchangeResult, Outcome, Rcode, RecordType};
use dcv_lab::catalogue::{self, NS1, NS2};
use dcv_lab::{Lab, Mode};

/// Starts `scenario` and looks up `www.example.lab/A` with a fresh engine,
/// which must answer with records. The lab is returned to keep it serving.
async fn www_a(scenario: dcv_lab::Scenario) -> (Lab, DnsName, dcv_dns::Lookup) {
    let lab = Lab::start(scenario).await.unwrap();
    let engine = Engine::new(common::config(&lab));
    let www = DnsName::parse("www.example.lab").unwrap();
    let lookup = engine.lookup(&www, RecordType::A).await;
    assert!(
        matches!(&lookup.outcome, Outcome::Answer { records } if !records.is_empty()),
        "{lookup:#?}"
    );
    (lab, www, lookup)
}

/// Every server of `example.lab.` is EDNS-intolerant: the answer comes from
/// the plain retry, and the FORMERR stays in the evidence before it.
#[tokio::test]
async fn an_edns_intolerant_zone_is_answered_without_edns() {
    let mut scenario = catalogue::unsigned();
    for ns in [NS1, NS2] {
        scenario = scenario.with_server(ns, |s| s.behaviour.edns_mode = Some(Mode::FormErr));
    }
    let (lab, www, lookup) = www_a(scenario).await;
    let slow: Vec<_> = [NS1, NS2]
        .iter()
        .flat_map(|ns| lab.server_socket_addrs(ns))
        .collect();
    let rcodes: Vec<(bool, Rcode)> = lookup
        .exchanges
        .iter()
        .filter(|x| slow.contains(&x.server) && x.qname == www)
        .filter_map(|x| match &x.result {
            ExchangeResult::Response(r) => Some((r.edns_payload.is_some(), r.rcode)),
            _ => None,
        })
        .collect();
    assert!(
        rcodes.contains(&(false, Rcode::FORMERR)),
        "the FORMERR to the EDNS query is evidence: {rcodes:?}"
    );
    assert!(
        rcodes.contains(&(false, Rcode::NOERROR)),
        "the plain query's answer: {rcodes:?}"
    );
}

/// A signed zone whose one server is EDNS-intolerant (it answers only
/// without EDNS, so without RRSIGs) and whose other server loses the first
/// try of each question: the intolerant server answers first, but its
/// answer cannot prove anything, so the walk waits for the retry to the
/// server that speaks EDNS and validates (secure), as Unbound passes over a
/// DNSSEC-lame server. Before, the first answer decided and the zone read
/// as bogus ("no RRSIG for ... DNSKEY"; generated world seed 272, known as
/// a "lossy server" divergence in crates/dcv-worlds/known-divergences.toml).
#[tokio::test]
async fn a_plain_dns_answer_does_not_decide_while_a_server_that_speaks_edns_may_answer() {
    let scenario =
        catalogue::lossy_server().with_server(NS1, |s| s.behaviour.edns_mode = Some(Mode::FormErr));
    let (_lab, _, lookup) = www_a(scenario).await;
    assert!(
        lookup.security.is_secure(),
        "validated from the server that speaks EDNS: {:?}",
        lookup.security
    );
}
