//! The `dcv-doctor` binary: flags in, reports out. Exit status: 0 when every
//! selected CA would validate (or `explain` recognised the message), 1 when a
//! finding blocks validation (or the message is unknown), 2 for bad input, 3
//! when the check could not be made from this machine (no network, DNS
//! blocked or intercepted; one line on stderr says which).

use dcv_doctor::input_file::{FileProblem, InputFile};
use dcv_doctor::{acme, batch, ca_view, cli, config, ct, demo, mpic, serve, watch, workers};

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;
use dcv_diagnosis::render::render_text;
use dcv_diagnosis::{Report, Verdict};

use cli::{Cli, Command, Format};

/// Exit status for bad input (clap uses 2 for its own usage errors too).
const EXIT_BAD_INPUT: u8 = 2;

/// Exit status when the check could not be made from this machine (issue #15
/// §4): nothing failed, but what the CA would see is unknown from here.
const EXIT_COULD_NOT_CHECK: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}`: the whole chain on one line ("perspective \"x\": unknown
            // RIR ..."), not only the outermost context.
            eprintln!("dcv-doctor: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(command) => {
            let args = &command.check;
            let cfg = config::check_config(args)?;
            let (perspectives, opts) = ca_view::perspectives(args, &cfg)?;
            let view = ca_view::CaViewOptions {
                ct: ct::source(&command.ct).map_err(anyhow::Error::msg)?,
                acme: acme::options(&command.acme, &cfg).map_err(anyhow::Error::msg)?,
            };
            let report = runtime()?.block_on(ca_view::run(cfg, &perspectives, &opts, &view));
            print_report(&report, args.format, args.verbose)?;
            Ok(exit_for(&report))
        }
        Command::Batch(args) => run_batch(&args),
        Command::Dns(args) => {
            let timeout = Duration::from_secs(args.timeout);
            let dns = config::dns_config(&args.dns, timeout)?;
            let name = dcv_dns::DnsName::parse(&args.name).map_err(|e| anyhow::anyhow!("{e}"))?;
            let rtype: dcv_dns::RecordType =
                args.rtype.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let lookup = runtime()?.block_on(async move {
                let engine = dcv_dns::Engine::new(dns);
                tokio::time::timeout(timeout, engine.lookup(&name, rtype)).await
            });
            let Ok(lookup) = lookup else {
                anyhow::bail!("no answer within {}s", timeout.as_secs());
            };
            let mut out = anstream::stdout();
            match args.format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&lookup)?)?,
                Format::Text => write!(out, "{}", dcv_dns::render_trace(&lookup))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            message,
            format,
            hostname,
            sans,
            ct: ct_args,
        } => {
            let mut explanation =
                dcv_diagnosis::explain::explain(&message).map(|e| match &hostname {
                    Some(h) => e.for_hostname(h, &sans),
                    None => e,
                });
            if let (Some(e), Some(source)) = (
                explanation.as_mut(),
                ct::source(&ct_args).map_err(anyhow::Error::msg)?,
            ) {
                e.ct_count = runtime()?.block_on(ct::explain_count(
                    e,
                    hostname.as_deref(),
                    &sans,
                    &source,
                ))?;
            }
            let mut out = anstream::stdout();
            match (format, &explanation) {
                (Format::Json, _) => {
                    writeln!(out, "{}", serde_json::to_string_pretty(&explanation)?)?;
                }
                (Format::Text, Some(e)) => {
                    writeln!(out, "Recognised ({} wording): {}", e.source, e.matched)?;
                    writeln!(out, "Cause:          {}", e.cause)?;
                    if let Some(code) = e.finding {
                        writeln!(out, "Finding:        {code}")?;
                    }
                    writeln!(out, "What to check:  {}", e.what_to_check)?;
                    writeln!(out, "Fix:            {}", e.fix)?;
                    writeln!(out, "Who fixes:      {}", e.who_fixes)?;
                    writeln!(out, "Test it with:   {}", e.check_command)?;
                    for f in e.ct_count.iter().flatten() {
                        writeln!(out, "Counted:        [{}] {}", f.code, f.summary)?;
                        if let Some(detail) = &f.acme_detail {
                            writeln!(out, "                ACME error: {detail}")?;
                        }
                    }
                }
                (Format::Text, None) => writeln!(
                    out,
                    "Not a message dcv-doctor knows; it will not guess. Run `dcv-doctor check <hostname>` to diagnose from scratch."
                )?,
            }
            Ok(if explanation.is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Demo { format, verbose } => runtime()?.block_on(demo::run(format, verbose)),
        Command::Lab {
            scenario,
            list,
            dir,
            dns_port,
        } => runtime()?.block_on(demo::serve_lab(scenario.as_deref(), list, dir, dns_port)),
        Command::Agent(args) => runtime()?.block_on(mpic::run_agent(&args)),
        Command::Serve(args) => runtime()?.block_on(serve::run_serve(&args)),
        Command::Worker(args) => runtime()?.block_on(workers::run_worker(&args)),
        Command::Export(args) => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let summary = runtime()?.block_on(workers::export(&args, &mut out))?;
            eprint!("{}", summary.render());
            Ok(batch_exit(&summary))
        }
        Command::Watch(args) => watch_command(&args),
        Command::FindingsDoc => {
            print!("{}", dcv_diagnosis::codes::findings_markdown());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_batch(args: &cli::BatchArgs) -> anyhow::Result<ExitCode> {
    let setup =
        config::CheckSetup::from_flags(&args.dns, &args.ports, args.allow_private, args.timeout)?;
    let mut defaults = config::CheckOptions::new(String::new());
    defaults.ca = args.ca;
    defaults.method = args.method;
    defaults.account_uri.clone_from(&args.account_uri);
    if let Some(uri) = &args.account_uri {
        // The flag's own rule, before any line runs.
        config::validate_account_uri(uri)?;
    }
    if args.enqueue {
        return enqueue_batch(args, setup, defaults);
    }
    let perspectives =
        ca_view::load_perspectives(args.perspectives.as_deref(), &args.perspective_urls)?;
    let as_of = ca_view::parse_as_of(args.as_of.as_deref())?;
    let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
    // Created before any check runs, so a bad path costs nothing.
    let summary_file = args
        .summary_json
        .as_ref()
        .map(|path| {
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("--summary-json {}: {e}", path.display()))
        })
        .transpose()?;
    let shared_cache = (!args.isolated).then(dcv_dns::SharedInfraCache::new);
    let checker: std::sync::Arc<dyn batch::LineChecker> =
        match (perspectives.is_empty(), shared_cache) {
            (true, None) => std::sync::Arc::new(batch::Isolated),
            (true, Some(cache)) => std::sync::Arc::new(batch::SharedInfra { cache }),
            (false, shared_cache) => std::sync::Arc::new(batch::WithPerspectives {
                perspectives: perspectives.into(),
                as_of,
                shared_cache,
            }),
        };
    let progress = batch::Progress::on_stderr();
    let plan = batch::BatchPlan {
        setup,
        defaults,
        format: args.input_format,
        concurrency,
        order: if args.unordered {
            batch::Order::Finished
        } else {
            batch::Order::Input
        },
        checker,
        suspend_progress_for_output: progress.is_visible() && std::io::stdout().is_terminal(),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let stdin = args.input.as_os_str() == "-";
    let list = InputFile::new(&args.input, "hostname list", "batch's INPUT argument");
    let result = if stdin {
        let input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin());
        runtime()?.block_on(batch::run_batch(&plan, input, &mut out, &progress))
    } else {
        let input = std::io::BufReader::with_capacity(1 << 16, list.open()?);
        progress.count_in_background(&args.input, args.input_format);
        runtime()?.block_on(batch::run_batch(&plan, input, &mut out, &progress))
    };
    progress.finish();
    let summary = result.map_err(|e| -> anyhow::Error {
        match (e, stdin) {
            (batch::BatchError::Input(batch::InputError::NotText), false) => {
                list.error(FileProblem::NotText).into()
            }
            (batch::BatchError::Input(e), false) => list.malformed(e).into(),
            (batch::BatchError::Read(e), false) => list.read_error(&e).into(),
            (e, true) => anyhow::anyhow!("standard input: {e}"),
            (e, false) => e.into(),
        }
    })?;
    eprint!("{}", summary.render());
    if let Some(file) = summary_file {
        serde_json::to_writer_pretty(std::io::BufWriter::new(file), &summary).map_err(|e| {
            anyhow::anyhow!(
                "--summary-json {}: {e}",
                args.summary_json
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
            )
        })?;
    }
    Ok(batch_exit(&summary))
}

/// `batch`'s (and `export`'s) exit status.
fn batch_exit(summary: &batch::BatchSummary) -> ExitCode {
    if !summary.all_validate() {
        ExitCode::from(1)
    } else if summary.unchecked > 0 {
        ExitCode::from(EXIT_COULD_NOT_CHECK)
    } else {
        ExitCode::SUCCESS
    }
}

/// `batch --enqueue`: the lines into the shared queue as one job; its id on
/// stdout.
fn enqueue_batch(
    args: &cli::BatchArgs,
    setup: config::CheckSetup,
    defaults: config::CheckOptions,
) -> anyhow::Result<ExitCode> {
    let plan = workers::EnqueuePlan {
        setup,
        defaults,
        format: args.input_format,
        database_url: args.database_url.clone().unwrap_or_default(),
        source: args.input.display().to_string(),
    };
    let rt = runtime()?;
    let stdin = args.input.as_os_str() == "-";
    let list = InputFile::new(&args.input, "hostname list", "batch's INPUT argument");
    let result = if stdin {
        let input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin());
        workers::enqueue(&plan, input, &rt)
    } else {
        let input = std::io::BufReader::with_capacity(1 << 16, list.open()?);
        workers::enqueue(&plan, input, &rt)
    };
    let (job, lines, checks) = result.map_err(|e| -> anyhow::Error {
        match (e, stdin) {
            (workers::EnqueueError::Input(batch::InputError::NotText), false) => {
                list.error(FileProblem::NotText).into()
            }
            (workers::EnqueueError::Input(e), false) => list.malformed(e).into(),
            (workers::EnqueueError::Read(e), false) => list.read_error(&e).into(),
            (e, true) => anyhow::anyhow!("standard input: {e}"),
            (e, false) => e.into(),
        }
    })?;
    println!("{job}");
    eprintln!(
        "batch --enqueue: job {job}: {lines} lines, {checks} checks queued, {} lines not checks (stored as error records)",
        lines - checks
    );
    Ok(ExitCode::SUCCESS)
}

/// `watch`: the check's flags, a schedule, and events on stdout.
fn watch_command(args: &cli::WatchArgs) -> anyhow::Result<ExitCode> {
    let check = &args.check;
    let cfg = config::check_config(check)?;
    let (perspectives, opts) = ca_view::perspectives(check, &cfg)?;
    let schedule = match (args.interval, args.schedule.as_slice()) {
        (Some(secs), _) => {
            watch::Schedule::interval(secs, args.attempts.unwrap_or(watch::CLOUDFLARE_RETRIES + 1))
        }
        (None, []) => Ok(watch::Schedule::cloudflare()),
        (None, list) => watch::Schedule::custom(list),
    }
    .map_err(anyhow::Error::msg)?;
    let start = watch::WatchEvent::Start {
        hostname: cfg.hostname.to_string(),
        ca: cfg.cas.clone(),
        method: cfg.methods.clone(),
        schedule: schedule.kind,
        checks: schedule.checks(),
        schedule_total_s: schedule.total().as_secs_f64(),
    };
    let format = check.format;
    let expected = cfg.txt_values.clone();
    let outcome = runtime()?.block_on(watch::watch(
        &schedule,
        start,
        &expected,
        || ca_view::base_check(cfg.clone(), &perspectives, &opts),
        |event| {
            let mut out = anstream::stdout();
            let line = match format {
                Format::Json => serde_json::to_string(event).unwrap_or_default(),
                Format::Text => watch::render_event(event),
            };
            // A closed stdout (`| head`) must not stop the watch mid-check.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        },
    ));
    Ok(ExitCode::from(outcome.exit_code()))
}

fn print_report(report: &Report, format: Format, verbose: bool) -> anyhow::Result<()> {
    let mut out = anstream::stdout();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
        Format::Text => {
            write!(out, "{}", render_text(report, verbose))?;
            if let Some(m) = &report.mpic {
                write!(out, "{}", mpic::render_mpic_text(m))?;
            }
        }
    }
    Ok(())
}

fn exit_for(report: &Report) -> ExitCode {
    match report.verdict {
        Verdict::Fail => ExitCode::from(1),
        Verdict::CouldNotCheck => {
            // One line saying why, beside the report on stdout.
            if let Some(f) = report.findings.iter().find(|f| f.code.leaves_unchecked()) {
                eprintln!("dcv-doctor: {}", could_not_check_line(&f.summary));
            }
            ExitCode::from(EXIT_COULD_NOT_CHECK)
        }
        Verdict::Pass | Verdict::Warn => ExitCode::SUCCESS,
    }
}

/// `could not check from here: ...`, whatever the finding's own wording.
fn could_not_check_line(summary: &str) -> String {
    const PREFIX: &str = "could not check from here";
    if summary.starts_with(PREFIX) {
        summary.to_owned()
    } else {
        format!("{PREFIX}: {summary}")
    }
}
