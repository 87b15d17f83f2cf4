//! Helpers the benches share: running the `dcv-doctor batch` binary and
//! reading its records and summary, and a cold Unbound
//! (`dcv_lab::unbound`, Let's Encrypt's settings) asked by a minimal stub.
#![allow(dead_code)] // each bench uses a subset

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use dcv_dns::RecordType;
use dcv_doctor::batch::summary::cpu_ms;
use dcv_lab::Lab;
use dcv_lab::unbound::{Unbound, UnboundOptions};
use tokio::net::UdpSocket;

/// How long the stub waits for Unbound's answer to one question.
const STUB_PATIENCE: Duration = Duration::from_secs(30);

/// What one `batch` child did.
pub struct Run {
    pub records: u64,
    pub checks: u64,
    pub passed: u64,
    /// Codes of the warnings in reports that did not pass outright, with
    /// their counts (a loaded machine shows as slow-server warnings).
    pub warnings: std::collections::BTreeMap<String, u64>,
    pub dns_queries: u64,
    /// Each check's wall time (`timings_ms.total`), sorted at the end.
    pub check_ms: Vec<u64>,
    /// Every other `timings_ms` phase (`caa`, `txt`, `probes`, ...) summed
    /// over the checks: where a check's time goes.
    pub phase_ms: std::collections::BTreeMap<String, u64>,
    pub checks_per_second: f64,
    /// The child's CPU time (user + system) over its checks.
    pub cpu_ms: u64,
    /// This process's CPU time meanwhile: the lab's servers (and reading
    /// the records).
    pub lab_cpu_ms: u64,
    pub peak_rss_kib: u64,
    pub exit: Option<i32>,
}

/// Runs `dcv-doctor batch INPUT ARGS`, reading its records as they come
/// (parsing them when `parse` is set, to count DNS queries and passes).
pub fn run_batch(
    input: &Path,
    args: &[std::ffi::OsString],
    summary: &Path,
    parse: bool,
) -> anyhow::Result<Run> {
    let lab_cpu_before = cpu_ms().unwrap_or(0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcv-doctor"))
        .arg("batch")
        .arg(input)
        .args(args)
        .arg("--summary-json")
        .arg(summary)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = std::io::BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    );
    let mut run = Run {
        records: 0,
        checks: 0,
        passed: 0,
        warnings: std::collections::BTreeMap::new(),
        dns_queries: 0,
        check_ms: Vec::new(),
        phase_ms: std::collections::BTreeMap::new(),
        checks_per_second: 0.0,
        cpu_ms: 0,
        lab_cpu_ms: 0,
        peak_rss_kib: 0,
        exit: None,
    };
    for record in stdout.lines() {
        let record = record?;
        run.records += 1;
        if parse {
            let value: serde_json::Value = serde_json::from_str(&record)?;
            let report = &value["report"];
            if report.is_object() {
                run.checks += 1;
                run.passed += u64::from(report["verdict"] == "pass");
                if report["verdict"] == "warn" {
                    let findings = report["findings"].as_array().into_iter().flatten();
                    for f in findings.filter(|f| f["severity"] == "warning") {
                        let code = f["code"].as_str().unwrap_or("?").to_owned();
                        *run.warnings.entry(code).or_default() += 1;
                    }
                }
                run.dns_queries += report["timings_ms"]["dns_queries"].as_u64().unwrap_or(0);
                run.check_ms
                    .push(report["timings_ms"]["total"].as_u64().unwrap_or(0));
                let phases = report["timings_ms"].as_object().into_iter().flatten();
                for (phase, ms) in phases.filter(|(k, _)| *k != "dns_queries" && *k != "total") {
                    *run.phase_ms.entry(phase.clone()).or_default() += ms.as_u64().unwrap_or(0);
                }
            }
        }
    }
    run.exit = child.wait()?.code();
    run.lab_cpu_ms = cpu_ms().unwrap_or(0).saturating_sub(lab_cpu_before);
    run.check_ms.sort_unstable();
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(summary)?)?;
    run.checks_per_second = summary["checks_per_second"].as_f64().unwrap_or(0.0);
    run.cpu_ms = summary["cpu_ms"].as_u64().unwrap_or(0);
    run.peak_rss_kib = summary["peak_rss_kib"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no peak_rss_kib in the summary"))?;
    Ok(run)
}

/// The `p`th percentile of sorted values (0 when there are none).
pub fn percentile(sorted: &[u64], p: usize) -> u64 {
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0)
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}

/// One RD=1 query with EDNS(0) and DO; true when the answer has AD set.
pub async fn stub(server: SocketAddr, name: &str, qtype: RecordType) -> bool {
    let id: u16 = rand_id();
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(u8::try_from(label.len()).unwrap_or(63));
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.0.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    // OPT: root owner, type 41, payload 1232, DO.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
        return false;
    };
    if socket.send_to(&q, server).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + STUB_PATIENCE;
    loop {
        let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        else {
            return false;
        };
        if n >= 4 && buf[..2] == id.to_be_bytes() {
            // AD is bit 5 of the fourth header byte; RCODE its low nibble.
            let (ad, rcode) = (buf[3] & 0x20 != 0, buf[3] & 0x0f);
            return ad && rcode == 0;
        }
    }
}

fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u16::try_from(nanos % 65_521).unwrap_or(1)
}

/// A cold Unbound with Let's Encrypt's settings (`dcv_lab::unbound`),
/// sending from its own address (each client meets the lab's lossy path as
/// new), returned once it listens (no question: the cache stays cold);
/// killed, reaped and its directory removed when dropped.
pub fn start_unbound(lab: &Lab, label: &str) -> anyhow::Result<Unbound> {
    Ok(Unbound::start(lab, label, &UnboundOptions::cold_ca())?)
}
