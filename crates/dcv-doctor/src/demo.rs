//! `dcv-doctor demo`: starts the in-process lab (a private DNS root with its own
//! trust anchor, and web servers on loopback), diagnoses one hostname per
//! failure class by real queries and fetches, and ends with a table of what was
//! expected and what was found. Exit status 1 if any expectation is missed.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::identifier::Hostname;
use dcv_diagnosis::render::render_text;
use dcv_diagnosis::{CaId, FindingCode, Method, Report, Severity};
use dcv_lab::catalogue::{self, ZONE};
use dcv_lab::{Lab, Scenario, Signing};

use crate::cli::Format;

/// One demo case: a lab scenario, the name and method to check, and the finding
/// that must come out (None: the hostname must pass).
#[derive(Debug)]
pub struct DemoCase {
    pub title: &'static str,
    pub scenario: fn() -> Scenario,
    pub hostname: &'static str,
    pub methods: &'static [Method],
    pub cas: &'static [CaId],
    pub txt_values: &'static [&'static str],
    pub expected: Option<FindingCode>,
}

/// Signed, with CAA allowing every Cloudflare partner CA (what Cloudflare
/// itself adds when a zone has any CAA record).
fn healthy() -> Scenario {
    catalogue::base(&Signing::Nsec)
        .rename(
            "healthy",
            "signed chain, CAA allows every partner CA, TXT published",
        )
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.contains("CAA"));
            for ca in CaId::ALL {
                z.records.push(format!(
                    "@ CAA 0 issue \"{}\"",
                    ca.profile().caa_value_to_add
                ));
            }
        })
}

/// A signed zone whose CAA allows only Google Trust Services.
fn caa_google_only() -> Scenario {
    catalogue::base(&Signing::Nsec)
        .rename(
            "caa-google-only",
            "CAA at example.lab. allows only pki.goog",
        )
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.contains("CAA"));
            z.records.push("@ CAA 0 issue \"pki.goog\"".into());
        })
}

/// A CAA record with an unknown critical property.
fn caa_critical() -> Scenario {
    catalogue::base(&Signing::Nsec)
        .rename(
            "caa-critical",
            "CAA at example.lab. has a critical unknown tag",
        )
        .with_zone(ZONE, |z| z.records.push("@ CAA 128 tbs \"unknown\"".into()))
}

/// The scenarios of the demo, one per failure class the lab can show today.
pub fn cases() -> Vec<DemoCase> {
    const DNS: &[Method] = &[Method::Dns];
    const ALL_CAS: &[CaId] = CaId::ALL;
    const LE: &[CaId] = &[CaId::Letsencrypt];
    vec![
        DemoCase {
            title: "healthy, DNSSEC-signed, TXT published",
            scenario: healthy,
            hostname: "www.example.lab",
            methods: DNS,
            cas: ALL_CAS,
            txt_values: &["token"],
            expected: None,
        },
        DemoCase {
            title: "TXT value is stale",
            scenario: catalogue::valid,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["the-new-token"],
            expected: Some(FindingCode::TxtMismatch),
        },
        DemoCase {
            title: "DS at the parent matches no DNSKEY",
            scenario: catalogue::ds_bad_tag,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnssecBogus),
        },
        DemoCase {
            title: "every RRSIG expired",
            scenario: catalogue::rrsig_exp_all,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnssecBogus),
        },
        DemoCase {
            title: "nameservers answer SERVFAIL",
            scenario: catalogue::servfail,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsServfail),
        },
        DemoCase {
            title: "nameservers answer REFUSED",
            scenario: catalogue::refused,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsRefused),
        },
        DemoCase {
            title: "nameservers are lame (no AA)",
            scenario: catalogue::lame,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsLameDelegation),
        },
        DemoCase {
            title: "nameservers never answer",
            scenario: catalogue::timeout,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsTimeout),
        },
        DemoCase {
            title: "secondary nameserver is out of sync",
            scenario: catalogue::stale_secondary,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::TxtInconsistent),
        },
        DemoCase {
            title: "CAA allows only another CA",
            scenario: caa_google_only,
            hostname: "www.example.lab",
            methods: DNS,
            cas: ALL_CAS,
            txt_values: &["token"],
            expected: Some(FindingCode::CaaForbids),
        },
        DemoCase {
            title: "CAA has a critical unknown property",
            scenario: caa_critical,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::CaaCriticalUnknown),
        },
        DemoCase {
            title: "name under a TLD the root does not delegate",
            scenario: catalogue::valid,
            hostname: "www.example.nosuchtld",
            methods: DNS,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::IdentifierRejected),
        },
    ]
}

/// The check configuration for `hostname` in a running lab: the lab's root
/// hints, trust anchor and ports, private addresses allowed, short DNS timeouts
/// (lab servers that never answer should not make a check crawl).
pub fn lab_config(lab: &Lab, hostname: &str) -> anyhow::Result<CheckConfig> {
    let hostname = Hostname::parse(hostname).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut cfg = CheckConfig::new(hostname);
    cfg.dns.root_hints = dcv_dns::parse_root_hints(&lab.root_hints_zone())?;
    cfg.dns.trust_anchors = match lab.trust_anchor_ds() {
        Some(ds) => dcv_dns::parse_trust_anchor(&ds)?,
        None => Vec::new(),
    };
    cfg.dns.port = lab.dns_port();
    cfg.dns.query_timeout = Duration::from_millis(400);
    cfg.dns.retries = 0;
    cfg.allow_private = true;
    cfg.timeout = Duration::from_secs(20);
    Ok(cfg)
}

/// Starts `scenario`, checks `hostname` with the config `tweak` leaves, and
/// stops the lab.
pub async fn check_in_lab(
    scenario: Scenario,
    hostname: &str,
    tweak: impl FnOnce(&mut CheckConfig),
) -> anyhow::Result<Report> {
    let lab = Lab::start(scenario).await?;
    let mut cfg = lab_config(&lab, hostname)?;
    tweak(&mut cfg);
    Ok(dcv_diagnosis::runner::run_check(cfg).await)
}

/// Runs one demo case in its own lab.
pub async fn run_case(case: &DemoCase) -> anyhow::Result<Report> {
    check_in_lab((case.scenario)(), case.hostname, |cfg| {
        cfg.cas = case.cas.to_vec();
        cfg.methods = case.methods.to_vec();
        cfg.txt_values = case.txt_values.iter().map(|v| (*v).to_owned()).collect();
    })
    .await
}

/// Whether the report shows what the case expects.
pub fn meets_expectation(case: &DemoCase, report: &Report) -> bool {
    let blocking: Vec<FindingCode> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code)
        .collect();
    match case.expected {
        None => blocking.is_empty(),
        Some(code) => report.findings.iter().any(|f| f.code == code),
    }
}

pub async fn run(format: Format, verbose: bool) -> anyhow::Result<ExitCode> {
    let cases = cases();
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    let mut out = anstream::stdout();
    for case in &cases {
        let report = run_case(case).await?;
        let ok = meets_expectation(case, &report);
        if format == Format::Text {
            writeln!(out, "=== {} ({})", case.title, (case.scenario)().name)?;
            write!(out, "{}", render_text(&report, verbose))?;
            writeln!(out)?;
        }
        let found: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| f.code.as_str())
            .collect();
        rows.push((
            case.title,
            case.expected.map_or("(pass)", FindingCode::as_str),
            if found.is_empty() {
                "(pass)".to_owned()
            } else {
                found.join(", ")
            },
            ok,
        ));
        reports.push(report);
    }
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?;
        return Ok(exit(&rows));
    }
    writeln!(
        out,
        "{:<46} {:<24} {:<40} ok",
        "scenario", "expected", "found"
    )?;
    for (title, expected, found, ok) in &rows {
        writeln!(
            out,
            "{title:<46} {expected:<24} {found:<40} {}",
            if *ok { "yes" } else { "NO" }
        )?;
    }
    Ok(exit(&rows))
}

fn exit(rows: &[(&str, &str, String, bool)]) -> ExitCode {
    if rows.iter().all(|r| r.3) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `dcv-doctor lab`: one scenario, served until Ctrl-C.
pub async fn serve_lab(
    name: Option<&str>,
    list: bool,
    dir: Option<std::path::PathBuf>,
    dns_port: u16,
) -> anyhow::Result<ExitCode> {
    let mut out = anstream::stdout();
    if list || name.is_none() {
        for s in catalogue::all() {
            writeln!(out, "{:<24} {}", s.name, s.description)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = name.unwrap_or_default();
    let scenario = catalogue::by_name(name)
        .ok_or_else(|| anyhow::anyhow!("no lab scenario {name:?}; see `dcv-doctor lab --list`"))?;
    let lab = Lab::start_on_port(scenario, dns_port).await?;
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("dcv-lab-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let files = lab.write_files(&dir)?;
    let port = lab.dns_port();
    let root = lab
        .root_hints()
        .first()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    writeln!(out, "lab {name:?} is up; DNS on port {port}")?;
    writeln!(out, "  root hints:   {}", files.root_hints.display())?;
    writeln!(out, "  trust anchor: {}", files.trust_anchor.display())?;
    writeln!(
        out,
        "try:\n  dcv-doctor dns www.example.lab A --root-hints {} --trust-anchor {} --dns-port {port}",
        files.root_hints.display(),
        files.trust_anchor.display()
    )?;
    writeln!(
        out,
        "  dcv-doctor check www.example.lab --method dns --allow-private --root-hints {} --trust-anchor {} --dns-port {port}",
        files.root_hints.display(),
        files.trust_anchor.display()
    )?;
    writeln!(
        out,
        "  dig @{root} -p {port} +norecurse +dnssec example.lab NS"
    )?;
    writeln!(out, "Ctrl-C stops the lab.")?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    drop(lab);
    Ok(ExitCode::SUCCESS)
}
