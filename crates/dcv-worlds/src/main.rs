//! `dcv-worlds`: the long differential run, and single-world inspection.
//!
//! ```text
//! sudo cargo run --release -p dcv-worlds -- --worlds 50000
//! sudo cargo run --release -p dcv-worlds -- --show 1234          # print world 1234
//! sudo cargo run --release -p dcv-worlds -- --worlds 1 --first-seed 1234 --shrink 1
//! ```
//!
//! Exit codes: 0 no unexplained divergence, 1 some, 2 bad input, 3 could
//! not run here (tools missing, not root).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dcv_worlds::batch::RunConfig;
use dcv_worlds::judge::Known;
use dcv_worlds::run::{Plan, run_plan};
use dcv_worlds::{Authority, generate, shrink, tools};

/// Differential testing of dcv-dns on generated DNS worlds against Unbound
/// (configured like Let's Encrypt's resolver) and delv.
#[derive(Debug, Parser)]
#[allow(clippy::struct_excessive_bools)] // independent command-line switches
#[command(version)]
struct Args {
    /// Lab-served worlds to run.
    #[arg(long, default_value_t = 2000)]
    worlds: u64,
    /// First seed (worlds use seeds first..first+worlds).
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Knot-served worlds (seeds first..first+knot, generated for Knot).
    #[arg(long, default_value_t = 40)]
    knot: u64,
    /// Worlds per batch (one lab, one Unbound); lowered to fit the
    /// open-file limit.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Batches at once.
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// Worlds resolved at once within a batch.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Ask delv too for every Nth world (0: never).
    #[arg(long, default_value_t = 50)]
    delv_every: u64,
    /// Known-divergence file.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/known-divergences.toml"))]
    known: PathBuf,
    /// Shrink at most this many unexplained divergences (0: none).
    #[arg(long, default_value_t = 5)]
    shrink: usize,
    /// Also shrink known divergences (one per cause), to confirm causes.
    #[arg(long)]
    shrink_known: bool,
    /// Write every divergence (with its world) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print the world of this seed and exit (no servers are started).
    #[arg(long)]
    show: Option<u64>,
    /// With --show: the Knot variant of the world.
    #[arg(long)]
    show_knot: bool,
    /// Print every divergence, justified ones included, with its world.
    #[arg(long)]
    verbose: bool,
    /// Find each divergence's cause by counterfactual runs and write the
    /// known-divergence file here (unexplained and known ones).
    #[arg(long)]
    write_known: Option<PathBuf>,
    /// Do not run unexplained divergences' worlds again alone.
    #[arg(long)]
    no_confirm: bool,
    /// Run Unbound without use-caps-for-id (Let's Encrypt runs it with):
    /// shows which divergences its 0x20 fallback causes. Not for agreement
    /// figures.
    #[arg(long)]
    unbound_no_caps_for_id: bool,
    /// Serve the worlds of --first-seed/--worlds/--knot with Unbound for this
    /// many seconds (for dig/delv/dcv-doctor by hand), then exit.
    #[arg(long)]
    serve: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(seed) = args.show {
        let authority = if args.show_knot {
            Authority::Knot
        } else {
            Authority::Lab
        };
        print!("{}", generate(seed, authority).describe());
        return ExitCode::SUCCESS;
    }
    let known = match std::fs::read_to_string(&args.known)
        .map_err(anyhow::Error::from)
        .and_then(|t| Known::parse(&t))
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("dcv-worlds: {}: {e}", args.known.display());
            return ExitCode::from(2);
        }
    };
    if let Err(e) = tools::check_all() {
        eprintln!("{e}");
        return ExitCode::from(3);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dcv-worlds: {e}");
            return ExitCode::from(3);
        }
    };
    // On ^C or SIGTERM the run's future is dropped, and with it every
    // batch: the lab stops and Unbound, Knot and delv are killed by pid.
    runtime.block_on(async {
        tokio::select! {
            code = async_main(args, known) => code,
            () = stop_signal() => {
                eprintln!("dcv-worlds: stopped by a signal");
                ExitCode::from(3)
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// `--serve`: start the worlds and say how to reach them.
async fn serve_by_hand(args: &Args, secs: u64) -> ExitCode {
    let first = args.first_seed;
    let mut worlds: Vec<dcv_worlds::World> = (first..first.saturating_add(args.worlds))
        .map(|s| generate(s, Authority::Lab))
        .collect();
    worlds.extend((first..first.saturating_add(args.knot)).map(|s| generate(s, Authority::Knot)));
    let dir = std::env::temp_dir().join(format!("dcv-worlds-serve-{}", std::process::id()));
    let cfg = RunConfig {
        unbound_caps_for_id: !args.unbound_no_caps_for_id,
        ..RunConfig::default()
    };
    let served = match dcv_worlds::batch::serve(&worlds, &cfg, &dir).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dcv-worlds: {e:#}");
            return ExitCode::from(3);
        }
    };
    let hints = dir.join("root.hints");
    let anchor = dir.join("trust-anchor.ds");
    let _ = std::fs::write(&hints, served.lab().root_hints_zone());
    let _ = std::fs::write(&anchor, served.lab().trust_anchor_ds().unwrap_or_default());
    println!(
        "serving {} worlds for {secs} s\n  Unbound: dig @{} -p 53 +dnssec <name>\n  dcv-doctor: --root-hints {} --trust-anchor {} --dns-port 53",
        worlds.len(),
        served.unbound_addr().ip(),
        hints.display(),
        anchor.display()
    );
    for w in &worlds {
        for s in &w.servers {
            let addrs: Vec<String> = served
                .lab()
                .server_addrs(&s.name)
                .iter()
                .map(ToString::to_string)
                .collect();
            println!("  {} {}", s.name, addrs.join(" "));
        }
    }
    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}

async fn async_main(args: Args, known: Known) -> ExitCode {
    let first = args.first_seed;
    if let Some(secs) = args.serve {
        return serve_by_hand(&args, secs).await;
    }
    let limit = dcv_worlds::run::raise_fd_limit();
    let batch = match dcv_worlds::run::batch_size_for(limit, args.parallel, args.batch) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("dcv-worlds: {e}");
            return ExitCode::from(3);
        }
    };
    eprintln!(
        "open-file limit {limit}: batches of {batch} worlds, {} at once",
        args.parallel
    );
    let plan = Plan {
        lab_seeds: (first..first.saturating_add(args.worlds)).collect(),
        knot_seeds: (first..first.saturating_add(args.knot)).collect(),
        batch_size: batch,
        parallel_batches: args.parallel,
        run: RunConfig {
            world_concurrency: args.concurrency,
            delv_every: args.delv_every,
            unbound_caps_for_id: !args.unbound_no_caps_for_id,
            ..RunConfig::default()
        },
    };
    let summary = match run_plan(&plan, &known, &|line| eprintln!("{line}")).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dcv-worlds: {e:#}");
            return ExitCode::from(3);
        }
    };
    let mut summary = summary;
    if !args.no_confirm
        && let Err(e) = dcv_worlds::run::confirm(&mut summary, &plan.run, batch).await
    {
        eprintln!("dcv-worlds: confirming: {e:#}");
        return ExitCode::from(3);
    }
    if let Some(path) = &args.write_known {
        let todo: Vec<&dcv_worlds::run::Divergence> = summary
            .divergences
            .iter()
            .filter(|d| {
                matches!(
                    d.judgement,
                    dcv_worlds::judge::Judgement::Unexplained
                        | dcv_worlds::judge::Judgement::Known { .. }
                )
            })
            .collect();
        eprintln!(
            "explaining {} divergences by counterfactual runs",
            todo.len()
        );
        match dcv_worlds::explain::explain(&todo, &plan.run, batch, &|l| eprintln!("{l}")).await {
            Ok(mut explained) => {
                // Counterfactuals that agreed on nothing may have run under
                // load: those divergences get a second, quieter try.
                let again: Vec<&dcv_worlds::run::Divergence> = todo
                    .iter()
                    .zip(&explained)
                    .filter(|(_, e)| e.causes.is_empty())
                    .map(|(d, _)| *d)
                    .collect();
                if !again.is_empty() {
                    let mut quiet = plan.run.clone();
                    quiet.world_concurrency = 16;
                    eprintln!(
                        "explaining {} unconfirmed divergences again, 16 worlds at once",
                        again.len()
                    );
                    if let Ok(second) =
                        dcv_worlds::explain::explain(&again, &quiet, batch, &|l| eprintln!("{l}"))
                            .await
                    {
                        let mut second = second.into_iter();
                        for e in explained.iter_mut().filter(|e| e.causes.is_empty()) {
                            if let Some(s) = second.next() {
                                e.causes = s.causes;
                            }
                        }
                    }
                }
                let mut by_cause: std::collections::BTreeMap<String, usize> =
                    std::collections::BTreeMap::new();
                for e in &explained {
                    let key = if e.causes.is_empty() {
                        "unconfirmed".to_owned()
                    } else {
                        e.causes
                            .iter()
                            .map(|c| format!("{c} [{}]", c.area()))
                            .collect::<Vec<_>>()
                            .join(" + ")
                    };
                    *by_cause.entry(format!("{}: {key}", e.oracle)).or_default() += 1;
                }
                for (cause, n) in by_cause {
                    println!("cause {n:>6}  {cause}");
                }
                if let Err(e) = std::fs::write(path, dcv_worlds::explain::known_file(&explained)) {
                    eprintln!("dcv-worlds: writing {}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("dcv-worlds: explaining: {e:#}"),
        }
    }
    for d in &summary.divergences {
        if args.verbose || !matches!(d.judgement, dcv_worlds::judge::Judgement::Justified(_)) {
            println!("{}", d.report(args.verbose || d.judgement.is_unexplained()));
        }
    }
    let mut to_shrink: Vec<&dcv_worlds::run::Divergence> =
        summary.unexplained().take(args.shrink).collect();
    if args.shrink_known {
        let mut causes = std::collections::BTreeSet::new();
        for d in &summary.divergences {
            if let dcv_worlds::judge::Judgement::Known { cause, .. } = &d.judgement
                && causes.insert(cause.clone())
            {
                to_shrink.push(d);
            }
        }
    }
    for d in to_shrink {
        match shrink::shrink(d, &plan.run, &|l| eprintln!("{l}")).await {
            Ok(s) => {
                println!(
                    "minimal world for seed {} {} (reproduced alone: {}, {} rounds):",
                    d.world.seed, d.comparison.question, s.reproduced, s.rounds
                );
                print!("{}", s.world.describe());
                if let Ok(json) = serde_json::to_string(&s.world) {
                    println!("json: {json}");
                }
            }
            Err(e) => eprintln!("shrinking seed {}: {e:#}", d.world.seed),
        }
    }
    if let Some(path) = &args.json
        && let Err(e) = serde_json::to_vec_pretty(&summary.divergences)
            .map_err(anyhow::Error::from)
            .and_then(|b| std::fs::write(path, b).map_err(anyhow::Error::from))
    {
        eprintln!("dcv-worlds: writing {}: {e}", path.display());
    }
    println!("{}", summary.figures());
    if summary.unexplained().next().is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
