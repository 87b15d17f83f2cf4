//! Load: `wrk` (Debian's `wrk`) with many concurrent clients reads the
//! service's pages and API (the permalinks people share, the JSON platforms
//! poll, the history) while checks against the lab keep being submitted and
//! run on the worker pool. Every request must succeed (no socket error, no
//! timeout, no non-2xx status) and every check submitted under load must
//! finish. Throughput and latency percentiles go to stdout and to
//! `target/test-artifacts/load.json`.
//!
//! CI runs it for a few seconds. The README's figures come from
//! `DCV_WEB_LOAD_SECONDS=30 cargo test --release -p dcv-web --test load -- --nocapture`
//! (100 clients, 30 s).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use dcv_lab::Lab;
use hyper::StatusCode;
use serde_json::{Value, json};

/// Debian's `wrk`.
const WRK: &str = "/usr/bin/wrk";
/// Concurrent clients (`DCV_WEB_LOAD_CLIENTS` overrides).
const DEFAULT_CLIENTS: u32 = 100;
/// Seconds of load (`DCV_WEB_LOAD_SECONDS` overrides): short in CI.
const DEFAULT_SECONDS: u32 = 3;
/// Upper bounds on the overrides, so a typo cannot make a test run for hours.
const MAX_CLIENTS: u32 = 1_000;
const MAX_SECONDS: u32 = 600;
/// A request slower than this counts as an error (wrk `--timeout`).
const REQUEST_TIMEOUT_SECS: u32 = 10;
/// One check submitted this often while the load runs.
const SUBMIT_EVERY: Duration = Duration::from_millis(500);
/// Bound on a lab check through the service once the load has stopped.
const CHECK_WAIT: Duration = Duration::from_secs(60);

fn setting(var: &str, default: u32, max: u32) -> u32 {
    match std::env::var(var) {
        Ok(v) => {
            let n: u32 = v
                .parse()
                .unwrap_or_else(|_| panic!("{var}={v:?}: expected a whole number"));
            assert!((1..=max).contains(&n), "{var}={n}: expected 1..={max}");
            n
        }
        Err(_) => default,
    }
}

/// A count as a float (counts here stay far below 2^32).
fn float(n: u64) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The wrk script: requests rotate through `paths`; at the end one line
/// `LOAD {json}` with the counts and the latency percentiles (microseconds).
fn wrk_script(paths: &[String]) -> String {
    let list: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
    format!(
        r#"local paths = {{ {} }}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOAD {{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#,
        list.join(", ")
    )
}

#[test]
fn many_clients_read_while_checks_run() {
    assert!(
        Path::new(WRK).exists(),
        "{WRK} is missing: install Debian's wrk (`apt-get install -y wrk`) to run the load test"
    );
    let clients = setting("DCV_WEB_LOAD_CLIENTS", DEFAULT_CLIENTS, MAX_CLIENTS);
    let seconds = setting("DCV_WEB_LOAD_SECONDS", DEFAULT_SECONDS, MAX_SECONDS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let backend = Backend::sqlite();
        let lab = Lab::start(web_lab()).await.unwrap();
        let server = start(serve_config(&lab, &backend.url())).await;
        let base = server.url();

        // The pages under load: a broken chain, a WAF block, a healthy name.
        let (token, key_authz) = lab_token();
        let bodies = [
            json!({"hostname": BROKEN_HOST, "ca": ["letsencrypt"], "method": ["dns"], "txt_values": ["token"]}),
            json!({"hostname": WAF_HOST, "ca": ["letsencrypt"], "method": ["http"], "http_token": token, "http_body": key_authz}),
            json!({"hostname": HEALTHY_HOST, "ca": ["letsencrypt"], "method": ["http"], "http_token": token, "http_body": key_authz}),
        ];
        let mut paths = vec!["/".to_owned(), "/healthz".to_owned()];
        for body in &bodies {
            let id = submit(&base, body).await;
            let check = wait_final(&base, &id, CHECK_WAIT).await;
            assert_eq!(check["status"], "done", "{check:#}");
            let host = body["hostname"].as_str().unwrap();
            paths.push(format!("/checks/{id}"));
            paths.push(format!("/api/v1/checks/{id}"));
            paths.push(format!("/api/v1/hosts/{host}/checks"));
        }
        for p in &paths {
            let r = get(&format!("{base}{p}")).await;
            assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.text());
        }

        // Checks keep arriving while the load runs.
        let stop = Arc::new(AtomicBool::new(false));
        let submitter = {
            let (base, stop, body) = (base.clone(), Arc::clone(&stop), bodies[2].clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    ids.push(submit(&base, &body).await);
                    tokio::time::sleep(SUBMIT_EVERY).await;
                }
                ids
            })
        };

        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(script.path(), wrk_script(&paths)).unwrap();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let args: Vec<String> = vec![
            format!("--threads={threads}"),
            format!("--connections={clients}"),
            format!("--duration={seconds}s"),
            format!("--timeout={REQUEST_TIMEOUT_SECS}s"),
            format!("--script={}", script.path().display()),
            base.clone(),
        ];
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || Command::new(WRK).args(&args).output())
            .await
            .unwrap()
            .expect("wrk runs");
        stop.store(true, Ordering::Relaxed);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "wrk failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("LOAD "))
            .unwrap_or_else(|| panic!("no LOAD line from wrk: {stdout}"));
        let load: Value = serde_json::from_str(line).expect("the LOAD line is JSON");
        let count = |k: &str| load[k].as_u64().unwrap_or_else(|| panic!("{k} in {load}"));

        // Every check submitted under load finishes.
        let ids = submitter.await.unwrap();
        assert!(!ids.is_empty(), "no check was submitted under load");
        for id in &ids {
            let c = wait_final(&base, id, CHECK_WAIT).await;
            assert_eq!(c["status"], "done", "{c:#}");
        }

        let requests = count("requests");
        let throughput = float(requests) / (float(count("duration_us")) / 1e6);
        let summary = json!({
            "clients": clients,
            "seconds": seconds,
            "wall_seconds": started.elapsed().as_secs_f64(),
            "requests": requests,
            "requests_per_second": throughput.round(),
            "latency_ms": {
                "p50": float(count("p50_us")) / 1e3,
                "p90": float(count("p90_us")) / 1e3,
                "p99": float(count("p99_us")) / 1e3,
                "max": float(count("max_us")) / 1e3,
            },
            "errors": {
                "connect": count("connect"),
                "read": count("read"),
                "write": count("write"),
                "timeout": count("timeout"),
                "non_2xx_3xx": count("status"),
            },
            "checks_submitted_under_load": ids.len(),
            "paths": paths,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        });
        let pretty = serde_json::to_string_pretty(&summary).unwrap();
        println!("{pretty}");
        std::fs::write(artifacts().join("load.json"), &pretty).unwrap();

        assert!(requests > 0, "{stdout}");
        for k in ["connect", "read", "write", "timeout", "status"] {
            assert_eq!(count(k), 0, "{k} errors under load: {pretty}\n{stdout}");
        }
        server.shutdown().await;
    });
}
