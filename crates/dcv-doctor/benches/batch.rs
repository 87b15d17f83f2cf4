//! `dcv-doctor batch` benchmark: checks per second, DNS queries per check and
//! peak memory of the real binary against the lab.
//!
//! ```text
//! cargo bench -p dcv-doctor --bench batch                      # short run
//! cargo bench -p dcv-doctor --bench batch -- --lines 1000000   # the long memory run
//! ```
//!
//! 1. **Throughput.** `--checks` distinct lab hostnames (`h<i>.example.lab`,
//!    each with an address and its `_acme-challenge` TXT), given as CSV with
//!    the expected TXT value per line, checked for DNS-01 / Let's Encrypt at
//!    `--concurrency` checks in flight, every lab DNS answer delayed by
//!    `--delay-ms` (20 ms by default, a nearby server's round trip: without
//!    it a check waits on nothing and only the CPU is measured). The reference, in the same run: the
//!    first `--sequential` of those lines at `--concurrency 1`. Reported:
//!    checks/s for both and their ratio, DNS queries per check (from each
//!    report's `timings_ms.dns_queries`), the child's CPU time per check
//!    (which a busy machine does not inflate the way it does wall time),
//!    the child's peak RSS.
//! 2. **Memory.** The same generated mix as `tests/batch_memory.rs`
//!    (hostnames under a TLD the lab's root does not have, IP literals, lines
//!    that are not hostnames) at 10,000 lines and at `--lines`; the child's
//!    peak RSS (`VmHWM`, from `--summary-json`) must stay within 10 %.
//!
//! The lab's servers run in this process and the checker in its child, on
//! the same cores: rates measure both, and only ratios from one run compare.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use dcv_doctor::demo::{healthy, lab_flags};
use dcv_lab::Lab;
use dcv_lab::catalogue::{WEB, ZONE};

mod common;
use common::{Run, percentile, ratio, run_batch};

/// The memory run's reference size (issue #14: flat from 10,000 lines).
const MEMORY_BASE_LINES: u64 = 10_000;
/// Peak memory may grow this much from the reference to `--lines`.
const MEMORY_TOLERANCE: f64 = 1.10;

struct Options {
    checks: u64,
    sequential: u64,
    concurrency: u64,
    lines: u64,
    /// Added to every lab DNS answer, as a network's round trip would be.
    delay_ms: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut opts = Options {
        checks: 1_000,
        sequential: 100,
        // `batch`'s own default. Far more than the machine's cores can serve
        // makes the checker's own vantage preflight time out, and those
        // checks are "could not check from here" (exit 3).
        concurrency: 16,
        lines: 100_000,
        delay_ms: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--checks" => &mut opts.checks,
            "--sequential" => &mut opts.sequential,
            "--concurrency" => &mut opts.concurrency,
            "--lines" => &mut opts.lines,
            "--delay-ms" => &mut opts.delay_ms,
            // `cargo bench` passes `--bench`; nothing else is ours.
            _ => continue,
        };
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{arg} needs a number"))?;
        *slot = value
            .parse()
            .map_err(|e| anyhow::anyhow!("{arg} {value:?}: {e}"))?;
    }
    opts.sequential = opts.sequential.min(opts.checks).max(1);
    Ok(opts)
}

async fn throughput(opts: &Options, dir: &Path) -> anyhow::Result<()> {
    let mut scenario = healthy().with_zone(ZONE, |z| {
        for i in 0..opts.checks {
            z.records.push(format!("h{i} A {{http4:{WEB}}}"));
            z.records
                .push(format!("_acme-challenge.h{i} TXT \"token\""));
        }
    });
    for server in &mut scenario.servers {
        server.behaviour.delay_ms = opts.delay_ms;
    }
    let lab = Lab::start(scenario).await?;
    let files = lab.write_files(dir)?;
    let mut common = lab_flags(&lab, &files);
    common.extend(
        [
            "--allow-private",
            "--method",
            "dns",
            "--ca",
            "letsencrypt",
            "--timeout",
            "60",
        ]
        .map(Into::into),
    );
    let write = |name: &str, rows: u64| -> anyhow::Result<std::path::PathBuf> {
        let mut csv = String::from("hostname,txt_value\n");
        for i in 0..rows {
            let _ = writeln!(csv, "h{i}.{},token", ZONE.trim_end_matches('.'));
        }
        let path = dir.join(name);
        std::fs::write(&path, csv)?;
        Ok(path)
    };
    let all = write("checks.csv", opts.checks)?;
    let first = write("sequential.csv", opts.sequential)?;
    let (concurrent, sequential) = {
        let dir = dir.to_owned();
        let concurrency = opts.concurrency;
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Run, Run)> {
            let mut args = common.clone();
            args.extend(["--concurrency".into(), concurrency.to_string().into()]);
            let concurrent = run_batch(&all, &args, &dir.join("concurrent.json"), true)?;
            let mut args = common;
            args.extend(["--concurrency", "1"].map(Into::into));
            let sequential = run_batch(&first, &args, &dir.join("sequential.json"), true)?;
            Ok((concurrent, sequential))
        })
        .await??
    };
    for (run, name) in [(&concurrent, "concurrent"), (&sequential, "sequential")] {
        // Exit 0: every hostname would validate (warnings allowed).
        if run.exit != Some(0) {
            anyhow::bail!(
                "{name} run: exit {:?}, {} of {} checks passed: the lab or the machine is overloaded, the rate would not mean anything",
                run.exit,
                run.passed,
                run.checks
            );
        }
        if run.passed != run.checks {
            println!(
                "  {name} run: {} of {} checks passed outright; warnings: {:?}",
                run.passed, run.checks, run.warnings
            );
        }
    }
    println!(
        "throughput ({} ms per DNS answer): {} DNS-01 checks at --concurrency {}: {:.1} checks/s; {} at --concurrency 1: {:.1} checks/s; ratio {:.1}x",
        opts.delay_ms,
        concurrent.checks,
        opts.concurrency,
        concurrent.checks_per_second,
        sequential.checks,
        sequential.checks_per_second,
        concurrent.checks_per_second / sequential.checks_per_second.max(f64::MIN_POSITIVE),
    );
    println!(
        "  CPU per check (the child's user + system time, whatever else runs): {:.1} ms at --concurrency {}, {:.1} ms at 1",
        ratio(concurrent.cpu_ms, concurrent.checks),
        opts.concurrency,
        ratio(sequential.cpu_ms, sequential.checks),
    );
    println!(
        "  lab servers' CPU per check (this process): {:.1} ms at --concurrency {}, {:.1} ms at 1",
        ratio(concurrent.lab_cpu_ms, concurrent.checks),
        opts.concurrency,
        ratio(sequential.lab_cpu_ms, sequential.checks),
    );
    for (run, c) in [(&concurrent, opts.concurrency), (&sequential, 1)] {
        println!(
            "  check wall time at --concurrency {c}: median {} ms, p90 {} ms, max {} ms",
            percentile(&run.check_ms, 50),
            percentile(&run.check_ms, 90),
            percentile(&run.check_ms, 100),
        );
    }
    println!(
        "  DNS queries per check: {:.1}; peak RSS {} KiB at --concurrency {} ({} KiB at 1)",
        ratio(concurrent.dns_queries, concurrent.checks),
        concurrent.peak_rss_kib,
        opts.concurrency,
        sequential.peak_rss_kib,
    );
    Ok(())
}

/// Line `n` of the memory run's input (as in `tests/batch_memory.rs`).
fn memory_line(n: u64) -> String {
    if n.is_multiple_of(100) {
        format!("h{n}.no-such-tld")
    } else if n.is_multiple_of(2) {
        format!("192.0.2.{}", n % 250)
    } else {
        format!("not a hostname {n}")
    }
}

async fn memory(opts: &Options, dir: &Path) -> anyhow::Result<()> {
    let lab = Lab::start(healthy()).await?;
    let files = lab.write_files(dir)?;
    let mut args = lab_flags(&lab, &files);
    args.extend(["--allow-private", "--method", "dns", "--ca", "letsencrypt"].map(Into::into));
    let mut runs = Vec::new();
    for lines in [MEMORY_BASE_LINES, opts.lines] {
        let input = dir.join(format!("memory-{lines}.txt"));
        {
            use std::io::Write as _;
            let mut file = std::io::BufWriter::new(std::fs::File::create(&input)?);
            for n in 1..=lines {
                writeln!(file, "{}", memory_line(n))?;
            }
            file.flush()?;
        }
        let summary = dir.join(format!("memory-{lines}.json"));
        let args = args.clone();
        let started = Instant::now();
        let run = tokio::task::spawn_blocking(move || run_batch(&input, &args, &summary, false))
            .await??;
        if run.records != lines {
            anyhow::bail!("{lines} lines gave {} records", run.records);
        }
        println!(
            "memory: {lines} lines in {:.1} s: peak RSS {} KiB",
            started.elapsed().as_secs_f64(),
            run.peak_rss_kib
        );
        runs.push(run.peak_rss_kib);
    }
    let growth = ratio(runs[1], runs[0]);
    println!(
        "  peak RSS at {} lines / at {MEMORY_BASE_LINES} lines: {growth:.3} (limit {MEMORY_TOLERANCE})",
        opts.lines
    );
    if growth > MEMORY_TOLERANCE {
        anyhow::bail!("peak memory grew with the input: ratio {growth:.3}");
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let opts = options()?;
    let dir = tempfile::tempdir()?;
    throughput(&opts, dir.path()).await?;
    memory(&opts, dir.path()).await
}
