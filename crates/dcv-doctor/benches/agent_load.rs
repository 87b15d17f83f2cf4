//! Agent sizing benchmark (`cargo bench -p dcv-doctor --bench agent_load`).
//!
//! How many checks per second one `dcv-doctor agent` process sustains, and
//! the memory it needs, at several `--max-concurrent` settings. Each
//! setting gets a fresh agent process (its peak RSS, `VmHWM`, is its own),
//! and `CHECKS` DNS-01 checks of distinct lab hostnames are sent to it at
//! once (the agent queues what it cannot run; `--max-queued` is large).
//! Every DNS answer is delayed by `DELAY`, as a real check waits on real
//! round trips: that waiting is why an agent should run dozens at once.
//!
//! The reference, measured in the same run on the same lab: the same checks
//! in-process (`runner::run_check`, no TLS, no agent) at the same
//! concurrency. The ratio agent / in-process is the cost of the agent itself.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::{CaId, Method};
use dcv_doctor::demo::{healthy, lab_config, lab_flags};
use dcv_doctor::mpic::{AgentResponse, CheckRequest, post_raw};
use dcv_lab::Lab;
use dcv_lab::catalogue::{WEB, ZONE};

const DELAY: Duration = Duration::from_millis(20);
const CHECKS: usize = 600;
const CONCURRENCY: [usize; 4] = [4, 16, 32, 128];
const TOKEN: &str = "agent-load-bench-token-0123456789";

fn config(lab: &Lab, i: usize) -> anyhow::Result<CheckConfig> {
    let mut cfg = lab_config(lab, &format!("h{i}.example.lab"))?;
    cfg.methods = vec![Method::Dns];
    cfg.cas = vec![CaId::Letsencrypt];
    cfg.txt_values = vec!["token".to_owned()];
    cfg.timeout = Duration::from_secs(60);
    Ok(cfg)
}

/// The agent's peak and current resident memory, in MiB, from /proc.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

struct Agent {
    child: Child,
    url: String,
    cert_pem: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_agent(lab: &Lab, dir: &std::path::Path, slots: usize) -> anyhow::Result<Agent> {
    let files = lab.write_files(dir)?;
    let token = dir.join("token");
    std::fs::write(&token, TOKEN)?;
    let cert = dir.join(format!("agent-{slots}.pem"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .args(["agent", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token)
        .arg("--cert-out")
        .arg(&cert)
        .args(["--name", "bench-1", "--region", "here", "--rir", "RIPE"])
        .args(["--allow-private", "--max-concurrent", &slots.to_string()])
        .args(["--max-queued", "10000"])
        .args(lab_flags(lab, &files))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("https://"))
        .ok_or_else(|| anyhow::anyhow!("agent start line: {line:?}"))?
        .to_owned();
    Ok(Agent {
        child,
        url,
        cert_pem: std::fs::read_to_string(cert)?,
    })
}

/// `CHECKS` checks through the agent, all sent at once; returns checks/s.
async fn through_agent(lab: &Lab, agent: &Agent) -> anyhow::Result<f64> {
    let started = Instant::now();
    let posts = (0..CHECKS).map(|i| {
        let body = serde_json::to_vec(&CheckRequest::from_config(&config(lab, i)?));
        let (url, pem) = (agent.url.clone(), agent.cert_pem.clone());
        Ok(async move {
            let (status, bytes) =
                post_raw(&url, Some(TOKEN), &pem, body?, Duration::from_secs(300)).await?;
            anyhow::ensure!(status.is_success(), "agent answered {status}");
            let answer: AgentResponse = serde_json::from_slice(&bytes)?;
            anyhow::ensure!(
                answer.report.verdict != dcv_diagnosis::Verdict::Fail,
                "{} failed",
                answer.report.hostname
            );
            Ok(())
        })
    });
    let posts: Vec<_> = posts.collect::<anyhow::Result<_>>()?;
    for r in futures::future::join_all(posts).await {
        r?;
    }
    Ok(rate(started.elapsed()))
}

/// The same checks in this process at `slots` at once; returns checks/s.
async fn in_process(lab: &Lab, slots: usize) -> anyhow::Result<f64> {
    let gate = Arc::new(tokio::sync::Semaphore::new(slots));
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..CHECKS {
        let cfg = config(lab, i)?;
        let gate = Arc::clone(&gate);
        handles.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            dcv_diagnosis::runner::run_check(cfg).await
        }));
    }
    for h in handles {
        let report = h.await?;
        anyhow::ensure!(
            report.verdict != dcv_diagnosis::Verdict::Fail,
            "{report:#?}"
        );
    }
    Ok(rate(started.elapsed()))
}

#[allow(clippy::cast_precision_loss)]
fn rate(elapsed: Duration) -> f64 {
    CHECKS as f64 / elapsed.as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let delay_ms = u64::try_from(DELAY.as_millis())?;
        let mut scenario = healthy().with_zone(ZONE, |z| {
            for i in 0..CHECKS {
                z.records.push(format!("h{i} A {{http4:{WEB}}}"));
                z.records
                    .push(format!("_acme-challenge.h{i} TXT \"token\""));
            }
        });
        for server in &mut scenario.servers {
            server.behaviour.delay_ms = delay_ms;
        }
        let lab = Lab::start(scenario).await?;
        let dir = tempfile::tempdir()?;
        println!(
            "agent load: {CHECKS} DNS-01 checks of distinct lab hostnames sent at once, {delay_ms} ms per DNS answer"
        );
        for slots in CONCURRENCY {
            let agent = spawn_agent(&lab, dir.path(), slots)?;
            let (_, idle) = memory_mib(agent.child.id());
            let agent_rate = through_agent(&lab, &agent).await?;
            let (peak, _) = memory_mib(agent.child.id());
            let reference = in_process(&lab, slots).await?;
            println!(
                "  --max-concurrent {slots:>3}: agent {agent_rate:6.1} checks/s, in-process {reference:6.1} checks/s, ratio {:.2}; agent RSS idle {idle:.0} MiB, peak {peak:.0} MiB",
                agent_rate / reference
            );
        }
        Ok(())
    })
}
