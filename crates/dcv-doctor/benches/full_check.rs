//! Full-check benchmark (`cargo bench -p dcv-doctor --bench full_check`).
//!
//! 1. **Critical path.** A healthy, DNSSEC-signed lab hostname where every DNS
//!    answer and every HTTP response is delayed by `DELAY` (20 ms). A full
//!    check (HTTP-01 and DNS-01, all four CAs: A/AAAA, CAA at every label,
//!    TXT, DS/DNSKEY, the HTTP fetch from both addresses) is timed cold (fresh
//!    engine, empty cache) and compared with its lower bound: the number of
//!    sequential round trips on the critical path times `DELAY`. For
//!    `www.example.lab` that path is root -> `lab.` -> `example.lab.` (three
//!    delayed DNS answers; DNSKEY/DS fetches can overlap them) and then one
//!    delayed HTTP response: 4 x 20 ms = 80 ms.
//! 2. **Throughput.** 1,000 distinct lab hostnames checked concurrently (at
//!    most `IN_FLIGHT` at a time), no injected delay, each with its own engine
//!    (no cache shared between checks), lab servers in the same process on the
//!    same 2 cores.
//!
//! Both are reported as ratios/rates measured in this run; nothing is compared
//! with a number from elsewhere. The critical-path runs alternate with the
//! same check without the vantage preflight (issue #15 §4), the reference
//! for its cost.

use std::time::{Duration, Instant};

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::{CaId, Method, Verdict};
use dcv_doctor::demo::{healthy, lab_config};
use dcv_lab::Lab;
use dcv_lab::catalogue::{KEY_AUTHZ, TOKEN, WEB, ZONE};
use dcv_lab::http::{HttpBehaviour, ResponderSpec};

const DELAY: Duration = Duration::from_millis(20);
/// Sequential delayed round trips on the critical path (see the module docs).
const CRITICAL_ROUND_TRIPS: u32 = 4;
const RUNS: usize = 15;
const HOSTNAMES: usize = 1000;
/// Checks in flight at once during the throughput run. A platform checking
/// many customer hostnames bounds its concurrency the same way; unbounded,
/// 1,000 checks x ~60 queries flood the in-process lab servers that share
/// these 2 cores, and timeouts measure the lab, not the checker.
const IN_FLIGHT: usize = 100;

fn full(cfg: &mut CheckConfig) {
    cfg.methods = vec![Method::Http, Method::Dns];
    cfg.cas = CaId::ALL.to_vec();
    cfg.http_token = Some(TOKEN.to_owned());
    cfg.http_body = Some(KEY_AUTHZ.to_owned());
    cfg.txt_values = vec!["token".to_owned()];
    // Patience for one question to one server, every try together (the
    // tries are retransmitted on the server's RTO): 6 s, the 3 tries x 2 s
    // this bench gave a question when each try waited out its own timeout.
    cfg.dns.query_timeout = Duration::from_secs(6);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn critical_path() -> anyhow::Result<()> {
    let delay_ms = u64::try_from(DELAY.as_millis())?;
    let mut scenario = healthy();
    for server in &mut scenario.servers {
        server.behaviour.delay_ms = delay_ms;
    }
    scenario.http.retain(|r| r.name != WEB);
    let scenario = scenario.responder(ResponderSpec::new(
        WEB,
        HttpBehaviour::Delayed {
            delay_ms,
            then: Box::new(HttpBehaviour::ServeToken {
                token: TOKEN.to_owned(),
                body: KEY_AUTHZ.to_owned(),
            }),
        },
    ));
    let lab = Lab::start(scenario).await?;
    let mut times = Vec::new();
    let mut queries = 0;
    let mut phases = String::new();
    let mut preflights = Vec::new();
    // The reference for the vantage preflight's cost, interleaved in the same
    // run: the same check without it.
    let mut without_preflight = Vec::new();
    for _ in 0..RUNS {
        let mut cfg = lab_config(&lab, "www.example.lab")?;
        full(&mut cfg);
        let mut reference = cfg.clone();
        reference.vantage_preflight = false;
        let started = Instant::now();
        let report = dcv_diagnosis::runner::run_check(reference).await;
        without_preflight.push(started.elapsed());
        anyhow::ensure!(report.verdict != Verdict::Fail, "{report:#?}");
        let started = Instant::now();
        let report = dcv_diagnosis::runner::run_check(cfg).await;
        times.push(started.elapsed());
        anyhow::ensure!(
            report.verdict != Verdict::Fail,
            "healthy check failed: {report:#?}"
        );
        queries = report.timings_ms.get("dns_queries").copied().unwrap_or(0);
        // The vantage preflight runs beside the probes (issue #15 §4).
        preflights.push(Duration::from_millis(
            report.timings_ms.get("vantage").copied().unwrap_or(0),
        ));
        phases = format!(
            "caa {} ms, http {} ms, txt {} ms",
            report.timings_ms.get("caa").copied().unwrap_or(0),
            report.timings_ms.get("http").copied().unwrap_or(0),
            report.timings_ms.get("txt").copied().unwrap_or(0)
        );
    }
    let med = median(times.clone());
    let bound = DELAY * CRITICAL_ROUND_TRIPS;
    let min = times.iter().min().copied().unwrap_or_default();
    println!(
        "critical path: {RUNS} cold full checks of www.example.lab, {delay_ms} ms per DNS answer and HTTP response"
    );
    println!("  DNS queries per check: {queries}; last run's phases: {phases}");
    println!(
        "  median {:.1} ms, best {:.1} ms, lower bound {} x {} ms = {} ms",
        med.as_secs_f64() * 1e3,
        min.as_secs_f64() * 1e3,
        CRITICAL_ROUND_TRIPS,
        delay_ms,
        bound.as_millis()
    );
    println!(
        "  ratio median / lower bound = {:.2}",
        med.as_secs_f64() / bound.as_secs_f64()
    );
    let pre = median(preflights);
    let reference = median(without_preflight);
    println!(
        "  vantage preflight (beside the probes): median {} ms; the same check without it: median {:.1} ms, ratio with / without = {:.2}",
        pre.as_millis(),
        reference.as_secs_f64() * 1e3,
        med.as_secs_f64() / reference.as_secs_f64()
    );
    Ok(())
}

async fn throughput() -> anyhow::Result<()> {
    let scenario = healthy().with_zone(ZONE, |z| {
        for i in 0..HOSTNAMES {
            z.records.push(format!("h{i} A {{http4:{WEB}}}"));
            z.records
                .push(format!("_acme-challenge.h{i} TXT \"token\""));
        }
    });
    let lab = Lab::start(scenario).await?;
    let configs: Vec<CheckConfig> = (0..HOSTNAMES)
        .map(|i| {
            let mut cfg = lab_config(&lab, &format!("h{i}.example.lab"))?;
            full(&mut cfg);
            cfg.timeout = Duration::from_secs(60);
            cfg.dns.retries = 2;
            // 1,000 checks on 2 cores make lab answers take seconds: the
            // lookup is bounded by the check's timeout, not the CA's 10 s
            // budget, so a stall of the overloaded lab is not a failure.
            cfg.dns.lookup_budget = cfg.timeout;
            cfg.http_phase_timeout = Some(Duration::from_secs(5));
            Ok(cfg)
        })
        .collect::<anyhow::Result<_>>()?;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let handles: Vec<_> = configs
        .into_iter()
        .map(|cfg| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                dcv_diagnosis::runner::run_check(cfg).await
            })
        })
        .collect();
    let mut passed = 0;
    let mut packets = 0;
    let mut first_failure = None;
    for h in handles {
        let report = h.await?;
        packets += report.timings_ms.get("dns_queries").copied().unwrap_or(0);
        if report.verdict == Verdict::Fail {
            first_failure.get_or_insert(report);
        } else {
            passed += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "throughput: {HOSTNAMES} full checks of distinct lab hostnames, {IN_FLIGHT} in flight, no injected delay"
    );
    println!(
        "  {passed}/{HOSTNAMES} passed in {:.2} s = {:.0} checks/s",
        elapsed.as_secs_f64(),
        f64::from(u32::try_from(HOSTNAMES)?) / elapsed.as_secs_f64()
    );
    // Retransmissions included: against the critical-path run's count (one
    // check alone, nothing lost) it shows what the load added.
    println!(
        "  DNS packets per check (retransmissions included): {:.1}",
        f64::from(u32::try_from(packets)?) / f64::from(u32::try_from(HOSTNAMES)?)
    );
    if let Some(report) = first_failure {
        let codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
        anyhow::bail!(
            "{} checks failed; the first: {} {codes:?}",
            HOSTNAMES - passed,
            report.hostname
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --benches` runs bench targets with `--bench`; keep that quick.
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        critical_path().await?;
        if !quick {
            throughput().await?;
        }
        Ok(())
    })
}
