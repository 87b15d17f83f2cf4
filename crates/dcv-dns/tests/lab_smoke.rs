//! Prints a one-line verdict per catalogue scenario (run with --nocapture);
//! asserts only that every lookup finishes.

use std::time::Duration;

mod common;

use dcv_dns::{DnsName, Engine, EngineConfig, RecordType, render_trace};
use dcv_lab::{Lab, catalogue};

fn engine(lab: &Lab) -> Engine {
    Engine::new(EngineConfig {
        query_timeout: Duration::from_millis(300),
        retries: 0,
        ..common::config(lab)
    })
}

#[tokio::test]
async fn catalogue_summary() {
    let verbose = std::env::var("DCV_TRACE").ok();
    for s in catalogue::all() {
        let name = s.name.clone();
        let lab = Lab::start(s).await.unwrap();
        let e = engine(&lab);
        for (n, t) in [
            ("www.example.lab", RecordType::A),
            ("nx.example.lab", RecordType::A),
            ("www.example.lab", RecordType::TXT),
            ("x.wild.example.lab", RecordType::A),
            ("www.old.lab", RecordType::A),
        ] {
            let l = e.lookup(&DnsName::parse(n).unwrap(), t).await;
            let why = match &l.outcome {
                dcv_dns::Outcome::ServFail { why } => why.to_string(),
                _ => String::new(),
            };
            println!(
                "{name:<24} {n:<20} {t:<4} {:<9} {} {why}",
                l.outcome.label(),
                l.security
            );
            if verbose.as_deref() == Some(name.as_str()) {
                println!("{}", render_trace(&l));
            }
        }
    }
}
