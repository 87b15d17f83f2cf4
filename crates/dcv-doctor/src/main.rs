//! The `dcv-doctor` binary: flags in, reports out. Exit status: 0 when every
//! selected CA would validate (or `explain` recognised the message), 1 when a
//! finding blocks validation (or the message is unknown), 2 for bad input, 3
//! when the check could not be made from this machine (no network, DNS
//! blocked or intercepted; one line on stderr says which).

use dcv_doctor::input_file::{FileProblem, InputFile};
use dcv_doctor::{batch, cli, config, demo, mpic, serve};

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
        Command::Check(args) => {
            let cfg = config::check_config(&args)?;
            let perspectives =
                load_perspectives(args.perspectives.as_deref(), &args.perspective_urls)?;
            let mut opts = mpic::MpicOptions::for_check(&cfg);
            if let Some(date) = parse_as_of(args.as_of.as_deref())? {
                opts.as_of = date;
            }
            let report = if perspectives.is_empty() {
                runtime()?.block_on(dcv_diagnosis::runner::run_check(cfg))
            } else {
                runtime()?.block_on(mpic::run_mpic_check(cfg, &perspectives, &opts))
            };
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
        Command::Explain { message, format } => {
            let explanation = dcv_diagnosis::explain::explain(&message);
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
        Command::FindingsDoc => {
            print!("{}", dcv_diagnosis::codes::findings_markdown());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--perspectives FILE` and every `--perspective URL`.
fn load_perspectives(
    file: Option<&Path>,
    urls: &[String],
) -> anyhow::Result<Vec<mpic::PerspectiveSpec>> {
    let mut perspectives = Vec::new();
    if let Some(path) = file {
        perspectives = mpic::load_perspectives(path)?;
    }
    for url in urls {
        perspectives.push(mpic::perspective_from_url(url)?);
    }
    Ok(perspectives)
}

fn parse_as_of(date: Option<&str>) -> anyhow::Result<Option<time::Date>> {
    date.map(|d| dcv_mpic::parse_date(d).map_err(|e| anyhow::anyhow!("--as-of {e}")))
        .transpose()
}

/// Checks in flight an agent takes by default: `agent --max-concurrent`'s
/// default, read from the flag's own definition so the note below follows it.
fn agent_default_max_concurrent() -> Option<usize> {
    use clap::CommandFactory as _;
    Cli::command()
        .find_subcommand("agent")?
        .get_arguments()
        .find(|a| a.get_id() == "max_concurrent")?
        .get_default_values()
        .first()?
        .to_str()?
        .parse()
        .ok()
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
    let perspectives = load_perspectives(args.perspectives.as_deref(), &args.perspective_urls)?;
    let as_of = parse_as_of(args.as_of.as_deref())?;
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
    let checker: std::sync::Arc<dyn batch::LineChecker> = if perspectives.is_empty() {
        std::sync::Arc::new(batch::Isolated)
    } else {
        if let Some(agent_default) = agent_default_max_concurrent()
            && concurrency > agent_default
        {
            eprintln!(
                "dcv-doctor: note: every check asks each perspective: an agent refuses checks beyond its --max-concurrent ({agent_default} by default) and is then reported unavailable; --concurrency is {concurrency}"
            );
        }
        std::sync::Arc::new(batch::WithPerspectives {
            perspectives: perspectives.into(),
            as_of,
        })
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
    Ok(if !summary.all_validate() {
        ExitCode::from(1)
    } else if summary.unchecked > 0 {
        ExitCode::from(EXIT_COULD_NOT_CHECK)
    } else {
        ExitCode::SUCCESS
    })
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
