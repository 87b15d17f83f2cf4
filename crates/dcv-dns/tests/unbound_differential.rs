//! Differential test: each lab scenario resolved by our engine and by Unbound
//! (Let's Encrypt's resolver), configured with the lab's root hints and trust
//! anchor (`dcv_lab::unbound`); the verdict classes must agree. A missing
//! `unbound`/`dig` fails the test and says what to install. The lab runs on
//! port 53 (Unbound cannot use per-server ports).

mod common;

use std::{net::IpAddr, path::Path, process::Command};

use dcv_dns::{DnsName, Engine, RecordType, Security};
use dcv_lab::unbound::{UNBOUND, Unbound, UnboundOptions};
use dcv_lab::{Lab, Scenario};

use common::{UnboundVerdict as Verdict, our_unbound_verdict as our_verdict, unbound_verdict};

fn available() -> bool {
    Path::new(UNBOUND).exists() && Path::new("/usr/bin/dig").exists()
}

/// The CA's resolver for this lab (`dcv_lab::unbound`: LE's settings,
/// negative answers cached 1 s, the root primed before the first question).
fn start_unbound(lab: &Lab, name: &str) -> Unbound {
    tokio::task::block_in_place(|| Unbound::start(lab, name, &UnboundOptions::differential()))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// (rcode, AD flag, EDE info code) from `dig`, `None` if no answer at all.
fn dig(server: IpAddr, name: &str, qtype: &str) -> Option<(String, bool, Option<u16>)> {
    let out = Command::new("/usr/bin/dig")
        .arg(format!("@{server}"))
        .args(["-p", "53", "+dnssec", "+tries=1", "+time=10", name, qtype])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text.split("status: ").nth(1)?.split(',').next()?.to_owned();
    let flags = text.split("flags: ").nth(1)?.split(';').next()?.to_owned();
    let ad = flags.split_whitespace().any(|f| f == "ad");
    let ede = text
        .split("; EDE: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|c| c.parse().ok());
    Some((status, ad, ede))
}

/// Unbound's root hints carry no port, so the lab must serve on port 53:
/// without root the test fails and says so (it never skips silently).
async fn compare(scenario: Scenario, questions: Vec<(String, RecordType)>) -> Vec<String> {
    let name = scenario.name.clone();
    let lab = match Lab::start_on_port(scenario, 53).await {
        Ok(lab) => lab,
        Err(e) => panic!(
            "cannot start the lab on port 53 ({e}): the Unbound differential test needs root; run scripts/test as root"
        ),
    };
    let unbound = start_unbound(&lab, &name);
    let engine = Engine::new(common::config(&lab));
    let mut disagreements = Vec::new();
    let mut first_bogus_seen = false;
    for (qname, qtype) in questions {
        let lookup = engine.lookup(&DnsName::parse(&qname).unwrap(), qtype).await;
        let ours = our_verdict(&lookup.outcome, &lookup.security);
        let our_ede = match &lookup.security {
            Security::Bogus(r) => Some(r.ede_code()),
            _ => None,
        };
        let addr = unbound.ip();
        let asked = qname.clone();
        let theirs = tokio::task::spawn_blocking(move || dig(addr, &asked, &qtype.to_string()))
            .await
            .unwrap();
        let their_ede = theirs.as_ref().and_then(|t| t.2);
        let theirs = theirs.map_or(Verdict::Fail, |(s, ad, _)| unbound_verdict(&s, ad));
        let line = format!(
            "{name:<22} {qname:<20} {qtype:<4} ours {ours:?} EDE {our_ede:?} unbound {theirs:?} EDE {their_ede:?}"
        );
        println!("{line}");
        // Unbound sends EDE only for DNSSEC failures. Its first answer carries
        // the specific code; answers from its cache carry 6 (DNSSEC Bogus).
        let ede_differs = match (our_ede, their_ede) {
            (Some(o), Some(6)) if o != 6 => !first_bogus_seen,
            (Some(o), Some(t)) => o != t,
            _ => false,
        };
        first_bogus_seen |= their_ede.is_some();
        if ours != theirs || ede_differs {
            disagreements.push(line);
        }
    }
    disagreements
}

async fn agree_on(scenarios: Vec<Scenario>) {
    assert!(
        available(),
        "unbound or dig not installed: apt-get install -y unbound bind9-dnsutils (scripts/test does it as root)"
    );
    let mut all = Vec::new();
    for s in scenarios {
        let questions = common::differential_questions_for(&s.name);
        all.extend(compare(s, questions).await);
    }
    assert!(
        all.is_empty(),
        "disagreements with Unbound:\n{}",
        all.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_agree_with_unbound() {
    agree_on(common::differential_scenarios()).await;
}

/// Parent and child on the same servers (zone cuts without a referral).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohosted_verdicts_agree_with_unbound() {
    agree_on(common::cohosted_scenarios()).await;
}
