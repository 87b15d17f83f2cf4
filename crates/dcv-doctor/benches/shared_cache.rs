//! The batch's shared infrastructure cache against `--isolated` and a cold
//! Unbound, in one run on one lab (issue #14: checks/s with the shared cache
//! at least 5x `--isolated` for DNS-method checks of hostnames spread over a
//! few dozen zones).
//!
//! ```text
//! cargo bench -p dcv-doctor --bench shared_cache
//! cargo bench -p dcv-doctor --bench shared_cache -- --tlds 3 --tld-servers 4 --zones 36 --hosts 720 --concurrency 16 --delay-ms 20
//! ```
//!
//! Needs root (the lab on port 53, where Unbound's root hints point) and
//! `/usr/sbin/unbound` (`apt-get install -y unbound`).
//!
//! The lab: a signed root, `--tlds` signed TLDs (each on `--tld-servers`
//! servers of its own, IPv4 and IPv6, as real TLDs have four to thirteen),
//! `--zones` signed zones
//! spread over them (`z<i>.<tld>.`, each on two providers' servers whose
//! names sit in `example.lab.`, so every cut needs an NS address lookup),
//! and `--hosts` hostnames spread over the zones (`h<j>.z<i>.<tld>`, each
//! with its `_acme-challenge` TXT; CAA at each zone's apex), every DNS
//! answer delayed by `--delay-ms` (a nearby server's round trip). The same
//! CSV input (hostname, expected TXT value) is checked for DNS-01 / Let's
//! Encrypt by:
//!
//! 1. `dcv-doctor batch` (the shared cache, the default),
//! 2. `dcv-doctor batch --isolated` (one cold engine per check),
//! 3. a freshly started Unbound asked each hostname's questions (the TXT at
//!    `_acme-challenge`, CAA at the name and at its zone), `--concurrency`
//!    hostnames at a time: what a CA's resolver, warm over the batch, sends.
//!
//! Reported: checks/s of each and their ratios, packets per check (what the
//! lab's servers received, divided by the hostnames) and their ratios, the
//! peak RSS of both batch runs. The lab's servers run in this process and
//! the checkers in children, on the same cores: only ratios from one run
//! compare.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use dcv_dns::RecordType;
use dcv_doctor::demo::lab_flags;
use dcv_lab::catalogue::{NS1, NS2};
use dcv_lab::{Lab, Scenario, ServerSpec, Signing, ZoneSpec};

mod common;
use common::{Run, ratio, run_batch, start_unbound, stub};

/// The issue's target: shared-cache checks/s over `--isolated` checks/s.
const TARGET_SPEEDUP: f64 = 5.0;

struct Options {
    tlds: u64,
    /// Name servers per TLD (each with an IPv4 and an IPv6 address).
    tld_servers: u64,
    zones: u64,
    hosts: u64,
    concurrency: u64,
    delay_ms: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut opts = Options {
        tlds: 3,
        tld_servers: 4,
        zones: 36,
        hosts: 720,
        concurrency: 16,
        delay_ms: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--tlds" => &mut opts.tlds,
            "--tld-servers" => &mut opts.tld_servers,
            "--zones" => &mut opts.zones,
            "--hosts" => &mut opts.hosts,
            "--concurrency" => &mut opts.concurrency,
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
    opts.tlds = opts.tlds.clamp(1, 20);
    opts.tld_servers = opts.tld_servers.clamp(1, 13);
    opts.zones = opts.zones.max(1);
    opts.hosts = opts.hosts.max(opts.zones);
    opts.concurrency = opts.concurrency.clamp(1, 256);
    Ok(opts)
}

fn tld(i: u64) -> String {
    format!("t{i}.")
}

/// Zone `i`'s apex (`z<i>.t<i mod tlds>.`).
fn zone(opts: &Options, i: u64) -> String {
    format!("z{i}.{}", tld(i % opts.tlds))
}

/// Hostname `j`, in zone `j mod zones`.
fn host(opts: &Options, j: u64) -> String {
    let apex = zone(opts, j % opts.zones);
    format!("h{j}.{}", apex.trim_end_matches('.'))
}

fn scenario(opts: &Options) -> Scenario {
    let signing = Signing::Nsec;
    let mut s = dcv_lab::catalogue::base(&signing).rename(
        "shared-cache-bench",
        "a few TLDs, a few dozen zones, hundreds of hostnames",
    );
    for t in 0..opts.tlds {
        let mut spec = ZoneSpec::new(tld(t)).signed(signing.clone());
        for k in 0..opts.tld_servers {
            let server = format!("ns{k}.{}", tld(t));
            s = s.server(ServerSpec::new(server.clone()));
            spec = spec.served_by(server);
        }
        s = s.zone(spec);
    }
    let mut zones: Vec<ZoneSpec> = (0..opts.zones)
        .map(|i| {
            ZoneSpec::new(zone(opts, i))
                .served_by(NS1)
                .served_by(NS2)
                .signed(signing.clone())
                .records(["@ CAA 0 issue \"letsencrypt.org\"".to_owned()])
        })
        .collect();
    for j in 0..opts.hosts {
        let z = &mut zones[usize::try_from(j % opts.zones).unwrap_or(0)];
        z.records.push(format!("h{j} A 192.0.2.10"));
        z.records
            .push(format!("_acme-challenge.h{j} TXT \"token\""));
    }
    for z in zones {
        s = s.zone(z);
    }
    for server in &mut s.servers {
        server.behaviour.delay_ms = opts.delay_ms;
    }
    s
}

/// What one contender cost: hostnames checked (or resolved), wall time,
/// packets the lab received.
struct Measured {
    checks: u64,
    seconds: f64,
    packets: u64,
}

impl Measured {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    fn rate(&self) -> f64 {
        self.checks as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    fn packets_per_check(&self) -> f64 {
        ratio(self.packets, self.checks)
    }
}

/// Runs the batch binary over `input` with `extra` flags; the lab's packet
/// count around it.
async fn batch(
    lab: &Lab,
    input: &Path,
    args: Vec<std::ffi::OsString>,
    summary: std::path::PathBuf,
) -> anyhow::Result<(Measured, Run)> {
    let before = lab.queries_received();
    let started = Instant::now();
    let input = input.to_owned();
    let run =
        tokio::task::spawn_blocking(move || run_batch(&input, &args, &summary, true)).await??;
    let seconds = started.elapsed().as_secs_f64();
    let packets = lab.queries_received() - before;
    Ok((
        Measured {
            checks: run.checks,
            seconds,
            packets,
        },
        run,
    ))
}

/// A cold Unbound asked each hostname's TXT and CAA questions.
async fn unbound(lab: &Lab, opts: &Options) -> anyhow::Result<Measured> {
    use futures::StreamExt as _;
    // A missing unbound is an error that says `apt-get install -y unbound`.
    let server = start_unbound(lab, "sharedcache")?;
    let addr = server.addr();
    let before = lab.queries_received();
    let started = Instant::now();
    let validated: Vec<bool> = futures::stream::iter(0..opts.hosts)
        .map(|j| {
            let name = host(opts, j);
            let apex = zone(opts, j % opts.zones);
            async move {
                let txt = format!("_acme-challenge.{name}.");
                let caa = format!("{name}.");
                let answers = futures::future::join3(
                    stub(addr, &txt, RecordType::TXT),
                    stub(addr, &caa, RecordType::CAA),
                    stub(addr, &apex, RecordType::CAA),
                )
                .await;
                answers.0 && answers.2
            }
        })
        .buffer_unordered(usize::try_from(opts.concurrency).unwrap_or(16))
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let packets = lab.queries_received() - before;
    drop(server);
    let good = validated.iter().filter(|v| **v).count();
    anyhow::ensure!(
        good == validated.len(),
        "unbound validated {good} of {} TXT+CAA answers",
        validated.len()
    );
    Ok(Measured {
        checks: opts.hosts,
        seconds,
        packets,
    })
}

fn main() -> anyhow::Result<()> {
    let opts = options()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(&opts))
}

async fn run(opts: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let lab = Lab::start_on_port(scenario(opts), 53).await?;
    let files = lab.write_files(dir.path())?;
    let mut csv = String::from("hostname,txt_value\n");
    for j in 0..opts.hosts {
        let _ = writeln!(csv, "{},token", host(opts, j));
    }
    let input = dir.path().join("hosts.csv");
    std::fs::write(&input, csv)?;
    let mut args = lab_flags(&lab, &files);
    args.extend(
        [
            "--allow-private",
            "--method",
            "dns",
            "--ca",
            "letsencrypt",
            "--timeout",
            "60",
            "--concurrency",
        ]
        .map(Into::into),
    );
    args.push(opts.concurrency.to_string().into());
    let mut isolated_args = args.clone();
    isolated_args.push("--isolated".into());

    let (shared, shared_run) = batch(&lab, &input, args, dir.path().join("shared.json")).await?;
    lab.reset_paths();
    let (isolated, isolated_run) = batch(
        &lab,
        &input,
        isolated_args,
        dir.path().join("isolated.json"),
    )
    .await?;
    lab.reset_paths();
    let cold_unbound = unbound(&lab, opts).await?;

    for (run, name) in [(&shared_run, "shared"), (&isolated_run, "--isolated")] {
        anyhow::ensure!(
            run.exit == Some(0) && run.checks == opts.hosts,
            "{name} run: exit {:?}, {} checks of {}, {} passed, warnings {:?}: the lab or the machine is overloaded, the rate would not mean anything",
            run.exit,
            run.checks,
            opts.hosts,
            run.passed,
            run.warnings
        );
    }
    println!(
        "{} DNS-01 checks (Let's Encrypt) of hostnames in {} zones under {} TLDs of {} servers each, --concurrency {}, {} ms per DNS answer",
        opts.hosts, opts.zones, opts.tlds, opts.tld_servers, opts.concurrency, opts.delay_ms
    );
    for (name, m) in [
        ("batch (shared cache)", &shared),
        ("batch --isolated", &isolated),
        ("unbound, cold at start", &cold_unbound),
    ] {
        println!(
            "  {name:24} {:7.1} checks/s  {:6.1} packets/check  ({:.1} s)",
            m.rate(),
            m.packets_per_check(),
            m.seconds
        );
    }
    let speedup = shared.rate() / isolated.rate().max(f64::MIN_POSITIVE);
    println!(
        "  shared / --isolated: {speedup:.1}x checks/s, {:.2}x packets per check",
        shared.packets_per_check() / isolated.packets_per_check().max(f64::MIN_POSITIVE)
    );
    println!(
        "  against cold unbound: shared {:.2}x checks/s and {:.2}x packets; --isolated {:.2}x checks/s and {:.2}x packets",
        shared.rate() / cold_unbound.rate().max(f64::MIN_POSITIVE),
        shared.packets_per_check() / cold_unbound.packets_per_check().max(f64::MIN_POSITIVE),
        isolated.rate() / cold_unbound.rate().max(f64::MIN_POSITIVE),
        isolated.packets_per_check() / cold_unbound.packets_per_check().max(f64::MIN_POSITIVE),
    );
    println!(
        "  dns_queries per check from the reports: shared {:.1}, --isolated {:.1}; peak RSS shared {} KiB, --isolated {} KiB",
        ratio(shared_run.dns_queries, shared_run.checks),
        ratio(isolated_run.dns_queries, isolated_run.checks),
        shared_run.peak_rss_kib,
        isolated_run.peak_rss_kib
    );
    // Where a check's time goes: its own wall time (latency-bound: the
    // critical path of round trips) against the CPU the checker and the lab
    // spent per check (CPU-bound: packets).
    for (name, run) in [("shared", &shared_run), ("--isolated", &isolated_run)] {
        let median = run
            .check_ms
            .get(run.check_ms.len() / 2)
            .copied()
            .unwrap_or(0);
        println!(
            "  {name}: median check {median} ms ({:.1} answer delays); CPU per check: checker {:.1} ms, lab {:.1} ms",
            f64::from(u32::try_from(median)?) / f64::from(u32::try_from(opts.delay_ms.max(1))?),
            ratio(run.cpu_ms, run.checks),
            ratio(run.lab_cpu_ms, run.checks)
        );
        let phases: Vec<String> = run
            .phase_ms
            .iter()
            .map(|(phase, ms)| format!("{phase} {:.0}", ratio(*ms, run.checks)))
            .collect();
        println!("    mean phase times (ms): {}", phases.join(", "));
    }
    anyhow::ensure!(
        speedup >= TARGET_SPEEDUP,
        "the shared cache is {speedup:.1}x --isolated, below the {TARGET_SPEEDUP}x target"
    );
    Ok(())
}
