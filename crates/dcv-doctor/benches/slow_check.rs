//! Slow and lossy servers against a cold Unbound
//! (`cargo bench -p dcv-doctor --bench slow_check [-- ROUNDS]`; needs root
//! for port 53 and `/usr/sbin/unbound`).
//!
//! Two labs, each on port 53 with its own Unbound configured like Let's
//! Encrypt's resolver:
//!
//! - **slow**: every answer of the domain's servers (`example.lab.`) takes
//!   1.5 s; the root and `lab.` answer at once.
//! - **lossy**: every server loses the first UDP try of each question and
//!   answers the retry.
//!
//! Per round, cold (fresh engine, fresh Unbound):
//!
//! - **check**: a full dcv-doctor check of `www.example.lab` (HTTP-01 and
//!   DNS-01 for Let's Encrypt, production DNS timers: A/AAAA, CAA at every
//!   label, TXT, DS/DNSKEY, the path probes of every server of every zone
//!   the CAA climb and the TXT lookup asked, the HTTP fetch);
//! - **dns**: the engine's part a CA also does: the same six questions
//!   Unbound is asked, concurrently;
//! - **unbound**: a freshly started Unbound asked those six questions
//!   concurrently by a patient stub (one query each, 30 s).
//!
//! Reported: medians, and check / unbound and dns / unbound, measured in
//! this run (target: the check within 1.3x of Unbound).

use std::time::{Duration, Instant};

use dcv_diagnosis::{CaId, Method, Verdict};
use dcv_dns::{DnsName, Engine, EngineConfig, RecordType};
use dcv_lab::catalogue::{self, KEY_AUTHZ, TOKEN};
use dcv_lab::{Lab, Scenario};

mod common;
use common::{start_unbound, stub};

const QUESTIONS: [(&str, RecordType); 6] = [
    ("www.example.lab.", RecordType::A),
    ("www.example.lab.", RecordType::AAAA),
    ("_acme-challenge.www.example.lab.", RecordType::TXT),
    ("www.example.lab.", RecordType::CAA),
    ("example.lab.", RecordType::CAA),
    ("lab.", RecordType::CAA),
];

fn median(samples: &[Duration]) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Production DNS timers for a check of the lab.
fn check_config(lab: &Lab) -> anyhow::Result<dcv_diagnosis::config::CheckConfig> {
    let mut cfg = dcv_doctor::demo::lab_config(lab, "www.example.lab")?;
    let production = EngineConfig::default();
    cfg.dns.query_timeout = production.query_timeout;
    cfg.dns.retries = production.retries;
    cfg.methods = vec![Method::Http, Method::Dns];
    cfg.cas = vec![CaId::Letsencrypt];
    cfg.http_token = Some(TOKEN.to_owned());
    cfg.http_body = Some(KEY_AUTHZ.to_owned());
    cfg.txt_values = vec!["token".to_owned()];
    cfg.timeout = Duration::from_secs(60);
    Ok(cfg)
}

async fn run_scenario(label: &str, scenario: Scenario, rounds: usize) -> anyhow::Result<()> {
    let lab = Lab::start_on_port(scenario, 53).await?;
    let mut checks = Vec::new();
    let mut dns = Vec::new();
    let mut unbound = Vec::new();
    let mut codes = Vec::new();
    for _ in 0..rounds {
        let cfg = check_config(&lab)?;
        let engine_cfg = cfg.dns.clone();
        // Each resolver meets the path as new: its first tries are lost too.
        lab.reset_paths();
        let started = Instant::now();
        let report = dcv_diagnosis::runner::run_check(cfg).await;
        checks.push(started.elapsed());
        anyhow::ensure!(
            report.verdict != Verdict::Fail,
            "{label}: the check failed: {:?}",
            report.findings.iter().map(|f| f.code).collect::<Vec<_>>()
        );
        codes = report.findings.iter().map(|f| f.code.as_str()).collect();

        let engine = Engine::new(engine_cfg);
        lab.reset_paths();
        let started = Instant::now();
        let lookups = futures::future::join_all(QUESTIONS.iter().map(|(n, t)| {
            let engine = engine.clone();
            async move { engine.lookup(&DnsName::parse(n).unwrap(), *t).await }
        }))
        .await;
        dns.push(started.elapsed());
        anyhow::ensure!(
            lookups.iter().all(|l| l.security.is_secure()),
            "{label}: a lookup did not validate"
        );

        let server = start_unbound(&lab, label)?;
        lab.reset_paths();
        let started = Instant::now();
        let answers =
            futures::future::join_all(QUESTIONS.iter().map(|(n, t)| stub(server.addr(), n, *t)))
                .await;
        unbound.push(started.elapsed());
        anyhow::ensure!(
            answers.iter().all(|ad| *ad),
            "{label}: unbound did not validate every answer"
        );
    }
    let (c, d, u) = (median(&checks), median(&dns), median(&unbound));
    println!("{label}: {rounds} cold rounds");
    println!("  full check (dcv-doctor)   median {:6.2} s", secs(c));
    println!("  DNS part (engine lookups) median {:6.2} s", secs(d));
    println!("  unbound 1.17, cold        median {:6.2} s", secs(u));
    println!("  findings: {codes:?}");
    println!(
        "  ratio check / unbound = {:.2}; dns / unbound = {:.2}",
        secs(c) / secs(u),
        secs(d) / secs(u)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` passes `--bench`; any number is the rounds.
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    anyhow::ensure!(
        std::path::Path::new(dcv_lab::unbound::UNBOUND).exists(),
        "unbound is not installed: apt-get install -y unbound"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        run_scenario(
            "slow (every example.lab. answer after 1.5 s)",
            catalogue::slow_servers(Duration::from_millis(1500)),
            rounds,
        )
        .await?;
        run_scenario(
            "lossy (every first UDP try of each question lost)",
            catalogue::lossy_path(),
            rounds,
        )
        .await
    })
}
