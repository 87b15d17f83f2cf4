//! CAA records whose tag is longer than 15 octets (RFC 8659 §4.1 requires a
//! tag length of at least 1; no MUST caps it below 255): the engine
//! reads them from a signed lab zone, keeps their exact RDATA and validates
//! the RRset Secure (RFC 4035 §5.3; CAA RDATA has no names, so its wire form
//! is its canonical form, RFC 4034 §6.2).

mod common;

use common::config;
use dcv_dns::{
    DnsName, Engine, Lookup, Outcome, RecordType, Security, ServerVerdict, render_trace,
};
use dcv_lab::{
    Lab, Scenario, Signing,
    catalogue::{self, ZONE},
};

/// A 19-octet tag and a 64-octet one, next to an ordinary `issue` record.
const LONG: &str = "contactphonenumbers";
const LONGER: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ01";

fn scenario(signing: &Signing) -> Scenario {
    catalogue::base(signing)
        .rename("caa-long-tag", "CAA tags longer than 15 octets")
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.contains(" CAA "));
            z.records.extend([
                "long CAA 0 issue \"letsencrypt.org\"".to_owned(),
                format!("long CAA 0 {LONG} \"+1 555 0100\""),
                format!("long CAA 128 {LONGER} \"x\""),
            ]);
        })
}

async fn lookup(lab: &Lab) -> Lookup {
    let engine = Engine::new(config(lab));
    let l = engine
        .lookup(
            &DnsName::parse("long.example.lab").unwrap(),
            RecordType::CAA,
        )
        .await;
    println!("{}", render_trace(&l));
    l
}

/// RDATA of a CAA record: flags | tag length | tag | value (RFC 8659 §4.1.1).
fn rdata(flags: u8, tag: &str, value: &str) -> Vec<u8> {
    let mut out = vec![flags, u8::try_from(tag.len()).unwrap()];
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(value.as_bytes());
    out
}

#[tokio::test]
async fn signed_caa_rrset_with_long_tags_is_read_and_secure() {
    assert!(LONG.len() > 15 && LONGER.len() == 64);
    for signing in [Signing::Nsec, Signing::nsec3()] {
        let lab = Lab::start(scenario(&signing)).await.expect("lab starts");
        let l = lookup(&lab).await;
        assert_eq!(l.security, Security::Secure, "{:?}", l.outcome);
        let Outcome::Answer { records } = &l.outcome else {
            panic!("expected an answer, got {:?}", l.outcome);
        };
        let mut wire: Vec<Vec<u8>> = records.iter().map(|r| r.wire_rdata.clone()).collect();
        wire.sort();
        let mut want = vec![
            rdata(0, "issue", "letsencrypt.org"),
            rdata(0, LONG, "+1 555 0100"),
            rdata(128, LONGER, "x"),
        ];
        want.sort();
        assert_eq!(wire, want);
        assert!(records.iter().all(|r| r.rtype == RecordType::CAA));
        // Presentation form as for any CAA record (RFC 8659 §4.1.1).
        let mut text: Vec<&str> = records.iter().map(|r| r.rdata.as_str()).collect();
        text.sort_unstable();
        assert_eq!(
            text,
            [
                "0 contactphonenumbers \"+1 555 0100\"",
                "0 issue \"letsencrypt.org\"",
                &format!("128 {LONGER} \"x\""),
            ]
        );
        // Every server of the zone answered: none failed on the record.
        let leaf: Vec<_> = l
            .server_answers
            .iter()
            .filter(|a| a.zone.as_str() == "example.lab." && a.qtype == RecordType::CAA)
            .collect();
        assert!(!leaf.is_empty());
        for a in &leaf {
            let ServerVerdict::Answer { records } = &a.verdict else {
                panic!("{} answered {:?}", a.server.addr, a.verdict);
            };
            assert_eq!(
                records
                    .iter()
                    .filter(|r| r.rtype == RecordType::CAA)
                    .count(),
                3
            );
        }
        // The validation step of the leaf zone is Secure too.
        let last = l.validation.last().expect("validation steps");
        assert_eq!(last.zone.as_str(), "example.lab.");
        assert!(last.security.is_secure());
    }
}
