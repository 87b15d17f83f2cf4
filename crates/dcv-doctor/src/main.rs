//! The `dcv-doctor` binary: flags in, reports out. Exit status: 0 when every
//! selected CA would validate (or `explain` recognised the message), 1 when a
//! finding blocks validation (or the message is unknown), 2 for bad input, 3
//! when the check could not be made from this machine (no network, DNS
//! blocked or intercepted; one line on stderr says which).

use dcv_doctor::input_file::{FileProblem, InputFile};
use dcv_doctor::{batch, cli, config, demo, mpic};

use std::io::Write as _;
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
            let mut perspectives = Vec::new();
            if let Some(path) = &args.perspectives {
                perspectives = mpic::load_perspectives(path)?;
            }
            for url in &args.perspective_urls {
                perspectives.push(mpic::perspective_from_url(url)?);
            }
            let mut opts = mpic::MpicOptions::for_check(&cfg);
            if let Some(date) = &args.as_of {
                opts.as_of =
                    dcv_mpic::parse_date(date).map_err(|e| anyhow::anyhow!("--as-of {e}"))?;
            }
            let report = if perspectives.is_empty() {
                runtime()?.block_on(dcv_diagnosis::runner::run_check(cfg))
            } else {
                runtime()?.block_on(mpic::run_mpic_check(cfg, &perspectives, &opts))
            };
            print_report(&report, args.format, args.verbose)?;
            Ok(exit_for(&report))
        }
        Command::Batch(args) => {
            let template = config::BatchTemplate::new(&args)?;
            let lines = if args.input.as_os_str() == "-" {
                batch::read_lines(std::io::stdin().lock())?
            } else {
                let list = InputFile::new(&args.input, "hostname list", "batch's INPUT argument");
                let bytes = list.read_bytes(batch::MAX_INPUT_BYTES)?;
                batch::read_lines(bytes.as_slice()).map_err(|e| match e {
                    batch::BatchError::NotText => list.error(FileProblem::NotText),
                    other => list.malformed(other),
                })?
            };
            let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
            let mut out = std::io::stdout().lock();
            let summary =
                runtime()?.block_on(batch::run_batch(&template, lines, concurrency, &mut out))?;
            eprintln!("{}", summary.line());
            Ok(if !summary.all_validate() {
                ExitCode::from(1)
            } else if summary.unchecked > 0 {
                ExitCode::from(EXIT_COULD_NOT_CHECK)
            } else {
                ExitCode::SUCCESS
            })
        }
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
        Command::FindingsDoc => {
            print!("{}", dcv_diagnosis::codes::findings_markdown());
            Ok(ExitCode::SUCCESS)
        }
    }
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
