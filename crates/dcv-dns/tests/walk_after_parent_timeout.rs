//! A parent whose servers drop one query type (here `lab.`'s server drops
//! CAA) cannot refer a CAA question to the child. A resolver that learned
//! the child's delegation meanwhile, from another question, asks the
//! child's servers once its query to the parent has timed out, as Unbound
//! does. Regression for the generated worlds' seed 1800 (the TLD's only
//! server drops CAA; Unbound answered, the engine said SERVFAIL).

use std::time::Duration;

mod common;

use dcv_dns::{DnsName, Engine, EngineConfig, Outcome, RecordType};
use dcv_lab::catalogue::{self, TLD_NS};
use dcv_lab::{Lab, Mode};

#[tokio::test]
async fn a_cut_learned_while_the_parent_timed_out_is_used() {
    let scenario = catalogue::unsigned().with_server(TLD_NS, |s| {
        *s = s.clone().type_mode("CAA", Mode::Timeout);
    });
    let lab = Lab::start(scenario).await.unwrap();
    let engine = Engine::new(EngineConfig {
        query_timeout: Duration::from_millis(800),
        ..common::config(&lab)
    });
    let www = DnsName::parse("www.example.lab").unwrap();
    // Both at once, as a check asks them: the A question's referral from
    // `lab.` arrives while the CAA question waits on the same server.
    let (caa, a) = tokio::join!(
        engine.lookup(&www, RecordType::CAA),
        engine.lookup(&www, RecordType::A)
    );
    assert!(matches!(a.outcome, Outcome::Answer { .. }), "{a:#?}");
    assert!(
        !matches!(caa.outcome, Outcome::ServFail { .. }),
        "the CAA question goes on at example.lab.'s servers: {caa:#?}"
    );
    // The parent's silence stays in the evidence.
    let tld = lab.server_socket_addrs(TLD_NS);
    assert!(
        caa.server_answers
            .iter()
            .any(|s| tld.contains(&s.server.addr) && !s.verdict.is_usable()),
        "{:#?}",
        caa.server_answers
    );
}
