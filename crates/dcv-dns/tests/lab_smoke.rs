//! Every catalogue scenario against the same five lookups, each with the
//! outcome and DNSSEC class it must give: a table that shows at a glance how
//! one fault changes what a validating resolver sees for names beside the one
//! it targets (`lab_scenarios.rs` asserts each scenario's reasons in detail).
//! A new catalogue scenario must get a row here. `DCV_TRACE=<scenario>` prints
//! that scenario's walks.

use std::time::Duration;

mod common;

use dcv_dns::{DnsName, Engine, EngineConfig, Outcome, RecordType, Security, render_trace};
use dcv_lab::{Lab, catalogue};

/// The lookups, in the order of each row's expectations.
const LOOKUPS: [(&str, RecordType); 5] = [
    // A record at the name most tests use.
    ("www.example.lab", RecordType::A),
    // A name that does not exist: a denial proof.
    ("nx.example.lab", RecordType::A),
    // An existing name without the type: a NODATA proof.
    ("www.example.lab", RecordType::TXT),
    // A wildcard expansion (`*.wild`): answer plus a proof the name is absent.
    ("x.wild.example.lab", RecordType::A),
    // Another zone of `lab.` (`old.lab.` exists only in `dname`).
    ("www.old.lab", RecordType::A),
];

/// What one lookup must give: the resolver's outcome and the DNSSEC class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Answer(Class),
    NxDomain(Class),
    NoData(Class),
    ServFail(Class),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Secure,
    Insecure,
    Bogus,
}

use Class::{Bogus, Insecure, Secure};
use Want::{Answer, NoData, NxDomain, ServFail};

/// Signed chain, nothing wrong.
const SIGNED: [Want; 5] = [
    Answer(Secure),
    NxDomain(Secure),
    NoData(Secure),
    Answer(Secure),
    NxDomain(Secure),
];
/// No trust anchor in the lab (`Signing::Unsigned` scenarios), nothing wrong
/// with the data.
const UNSIGNED: [Want; 5] = [
    Answer(Insecure),
    NxDomain(Insecure),
    NoData(Insecure),
    Answer(Insecure),
    NxDomain(Insecure),
];
/// `example.lab.` provably insecure under a signed `lab.` (no DS, or only
/// unsupported algorithms: RFC 4035 §5.2); `old.lab` stays secure.
const INSECURE_CHILD: [Want; 5] = [
    Answer(Insecure),
    NxDomain(Insecure),
    NoData(Insecure),
    Answer(Insecure),
    NxDomain(Secure),
];
/// `example.lab.`'s keys cannot be validated: every name in it is bogus
/// (RFC 4035 §5.5), other zones are not.
const BOGUS_CHILD: [Want; 5] = [
    ServFail(Bogus),
    ServFail(Bogus),
    ServFail(Bogus),
    ServFail(Bogus),
    NxDomain(Secure),
];
/// One bad signature over `www A`: only that RRset is bogus.
const BOGUS_WWW_A: [Want; 5] = [
    ServFail(Bogus),
    NxDomain(Secure),
    NoData(Secure),
    Answer(Secure),
    NxDomain(Secure),
];
/// Denial proofs broken: positive answers validate, every proof of absence
/// (NXDOMAIN, NODATA, the wildcard's no-closer-match) is bogus.
const BOGUS_DENIALS: [Want; 5] = [
    Answer(Secure),
    ServFail(Bogus),
    ServFail(Bogus),
    ServFail(Bogus),
    NxDomain(Secure),
];
/// `example.lab.`'s servers unusable in an unsigned lab.
const CHILD_SERVERS_FAIL: [Want; 5] = [
    ServFail(Insecure),
    ServFail(Insecure),
    ServFail(Insecure),
    ServFail(Insecure),
    NxDomain(Insecure),
];

/// Every catalogue scenario: its expectations for [`LOOKUPS`].
fn table() -> Vec<(&'static str, [Want; 5])> {
    vec![
        ("no-dnssec", UNSIGNED),
        ("valid", SIGNED),
        ("valid-nsec3", SIGNED),
        ("unsigned", INSECURE_CHILD),
        // RFC 5155 §9.2: an NXDOMAIN whose next closer name lies in an opt-out
        // span proves nothing about an unsigned delegation there: insecure.
        (
            "unsigned-nsec3-optout",
            [
                Answer(Insecure),
                NxDomain(Insecure),
                NoData(Insecure),
                Answer(Insecure),
                NxDomain(Insecure),
            ],
        ),
        ("no-ds", INSECURE_CHILD),
        ("ds-bad-tag", BOGUS_CHILD),
        ("ds-bogus-digest-value", BOGUS_CHILD),
        ("ds-bad-key-algo", BOGUS_CHILD),
        ("ds-unassigned-key-algo", INSECURE_CHILD),
        ("ds-reserved-key-algo", INSECURE_CHILD),
        ("ds-unassigned-digest-algo", INSECURE_CHILD),
        ("no-ksk", BOGUS_CHILD),
        ("no-zsk", BOGUS_CHILD),
        ("no-rrsig-dnskey", BOGUS_CHILD),
        ("bad-rrsig-dnskey", BOGUS_CHILD),
        ("rrsig-exp-a", BOGUS_WWW_A),
        ("rrsig-exp-all", BOGUS_CHILD),
        ("rrsig-not-yet-a", BOGUS_WWW_A),
        ("rrsig-no-a", BOGUS_WWW_A),
        ("rrsig-no-all", BOGUS_CHILD),
        ("bad-rrsig-a", BOGUS_WWW_A),
        ("no-rrsig-ksk", BOGUS_CHILD),
        ("nsec3-missing", BOGUS_DENIALS),
        ("bad-nsec-next", BOGUS_DENIALS),
        ("bad-nsec3-next", BOGUS_DENIALS),
        // RFC 9276 §3.2: NSEC3 with more iterations than the validator
        // accepts makes proofs that rest on it insecure; the plain answer
        // needs none.
        (
            "nsec3-iter-200",
            [
                Answer(Secure),
                NxDomain(Insecure),
                NoData(Insecure),
                Answer(Insecure),
                NxDomain(Secure),
            ],
        ),
        // `www` is gone but `_acme-challenge.www` remains: `www` is an empty
        // non-terminal, so NODATA, not NXDOMAIN (RFC 8020 §2).
        (
            "nxdomain",
            [
                NoData(Secure),
                NxDomain(Secure),
                NoData(Secure),
                Answer(Secure),
                NxDomain(Secure),
            ],
        ),
        ("servfail", CHILD_SERVERS_FAIL),
        ("allow-query-none", CHILD_SERVERS_FAIL),
        ("timeout", CHILD_SERVERS_FAIL),
        // One server of two failing, or answering without AA, or a third
        // lame one: the others still answer.
        ("one-timeout", UNSIGNED),
        ("not-auth", UNSIGNED),
        ("lame-delegation", UNSIGNED),
        ("missing-glue", CHILD_SERVERS_FAIL),
        ("tc-tcp", SIGNED),
        ("servfail-one-zone", UNSIGNED),
        // Slow but within the timeout (see `timeout_for`).
        ("slow", UNSIGNED),
        // CAA faults do not touch A or TXT.
        ("caa-timeout", UNSIGNED),
        ("caa-servfail", UNSIGNED),
        ("cname-cross-zone", SIGNED),
        (
            "cname-loop",
            [
                ServFail(Secure),
                NxDomain(Secure),
                ServFail(Secure),
                Answer(Secure),
                NxDomain(Secure),
            ],
        ),
        ("out-of-bailiwick-ns", SIGNED),
        // The resolver view takes the first usable server of the cut, ns1,
        // which has the current copy; the stale ns2 shows in the per-server
        // answers (lab_scenarios.rs), not in the outcome.
        ("stale-secondary", UNSIGNED),
        // The parent no longer delegates to the old provider: never asked.
        ("old-provider", UNSIGNED),
        // `old.lab. DNAME example.lab.`: www.old.lab is www.example.lab.
        (
            "dname",
            [
                Answer(Secure),
                NxDomain(Secure),
                NoData(Secure),
                Answer(Secure),
                Answer(Secure),
            ],
        ),
    ]
}

/// Short timers keep the timeout scenarios fast; `slow`'s servers answer
/// after 300 ms, so it gets room to show that slow is not dead.
fn timeout_for(scenario: &str) -> Duration {
    if scenario == "slow" {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(300)
    }
}

fn got(outcome: &Outcome, security: &Security) -> Option<Want> {
    let class = match security {
        Security::Secure => Secure,
        Security::Insecure(_) => Insecure,
        Security::Bogus(_) => Bogus,
        Security::Indeterminate(_) => return None,
    };
    Some(match outcome {
        Outcome::Answer { .. } => Answer(class),
        Outcome::NxDomain => NxDomain(class),
        Outcome::NoData => NoData(class),
        Outcome::ServFail { .. } => ServFail(class),
    })
}

#[tokio::test]
async fn every_catalogue_scenario_gives_the_expected_outcome_per_lookup() {
    let table = table();
    let names: Vec<String> = catalogue::all().into_iter().map(|s| s.name).collect();
    for name in &names {
        assert!(
            table.iter().any(|(n, _)| n == name),
            "catalogue scenario {name} has no row in this table"
        );
    }
    for (name, _) in &table {
        assert!(
            names.iter().any(|n| n == name),
            "no catalogue scenario {name}"
        );
    }
    let trace = std::env::var("DCV_TRACE").ok();
    let mut wrong = Vec::new();
    for (name, wants) in table {
        let scenario = catalogue::by_name(name).expect("listed above");
        let lab = Lab::start(scenario).await.expect("lab starts");
        let engine = Engine::new(EngineConfig {
            query_timeout: timeout_for(name),
            retries: 0,
            ..common::config(&lab)
        });
        for ((qname, qtype), want) in LOOKUPS.into_iter().zip(wants) {
            let l = engine.lookup(&DnsName::parse(qname).unwrap(), qtype).await;
            if trace.as_deref() == Some(name) {
                println!("{}", render_trace(&l));
            }
            let got = got(&l.outcome, &l.security);
            if got != Some(want) {
                wrong.push(format!(
                    "{name:<24} {qname:<20} {qtype:<4} want {want:?}, got {} / {}",
                    l.outcome.label(),
                    l.security
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} lookups differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
