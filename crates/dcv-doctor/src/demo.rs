//! `dcv-doctor demo`: starts the in-process lab (a private DNS root with its own
//! trust anchor, and web servers on loopback), diagnoses one hostname per
//! failure class by real queries and fetches, and ends with a table of what was
//! expected and what was found. Exit status 1 if any case that ran missed its
//! expectation; a case this machine cannot run (it needs the lab's IPv6) is
//! reported as not run, never as passed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::identifier::Hostname;
use dcv_diagnosis::render::render_text;
use dcv_diagnosis::{CaId, FindingCode, Method, Report, Severity};
use dcv_lab::catalogue::{self, KEY_AUTHZ, TOKEN, WEB, ZONE};
use dcv_lab::http::{HttpBehaviour, ResponderSpec};
use dcv_lab::{Lab, Scenario, Signing};

use serde::Serialize;

use crate::cli::Format;

/// One demo case: a lab scenario, the name and method to check, and the finding
/// that must come out (None: the hostname must pass).
#[derive(Debug)]
pub struct DemoCase {
    pub title: &'static str,
    /// Whether the case fetches the lab's token (HTTP method) with the right
    /// expected body.
    pub http_token: bool,
    /// Whether the case needs the lab's IPv6 addresses (it is reported as not
    /// run, not as a miss, on a machine without them).
    pub needs_ipv6: bool,
    pub scenario: fn() -> Scenario,
    pub hostname: &'static str,
    pub methods: &'static [Method],
    pub cas: &'static [CaId],
    pub txt_values: &'static [&'static str],
    pub expected: Option<FindingCode>,
}

/// Signed, with CAA allowing every Cloudflare partner CA (what Cloudflare
/// itself adds when a zone has any CAA record).
pub fn healthy() -> Scenario {
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

/// The base lab with `www`'s web responder replaced.
fn with_web(name: &str, spec: ResponderSpec) -> Scenario {
    let mut s = healthy().rename(name, "www's web server misbehaves");
    s.http.retain(|r| r.name != WEB);
    s.responder(ResponderSpec {
        name: WEB.to_owned(),
        ..spec
    })
}

fn web_challenge() -> Scenario {
    with_web(
        "waf-challenge",
        ResponderSpec::new(WEB, HttpBehaviour::ChallengePage),
    )
}

fn web_block() -> Scenario {
    with_web(
        "waf-block",
        ResponderSpec::new(WEB, HttpBehaviour::BlockPage),
    )
}

fn web_wrong_body() -> Scenario {
    with_web(
        "wrong-body",
        ResponderSpec::new(
            WEB,
            HttpBehaviour::ServeToken {
                token: TOKEN.to_owned(),
                body: "stale-key-authorization".to_owned(),
            },
        ),
    )
}

fn web_https_redirect_without_token() -> Scenario {
    with_web(
        "https-redirect",
        ResponderSpec::new(WEB, HttpBehaviour::RedirectToHttps)
            .with_tls_behaviour(HttpBehaviour::NotFound),
    )
}

fn web_redirect_loop() -> Scenario {
    with_web(
        "redirect-loop",
        ResponderSpec::new(WEB, HttpBehaviour::RedirectLoop),
    )
}

fn web_silent() -> Scenario {
    with_web("silent", ResponderSpec::new(WEB, HttpBehaviour::Silent))
}

/// `www`'s AAAA leads to a server without the token; its A to one with it.
fn ipv6_elsewhere() -> Scenario {
    let mut s = healthy().rename(
        "aaaa-elsewhere",
        "AAAA points at a server without the token",
    );
    s.http.retain(|r| r.name != WEB);
    s.responder(ResponderSpec::new(
        "web4",
        HttpBehaviour::ServeToken {
            token: TOKEN.to_owned(),
            body: KEY_AUTHZ.to_owned(),
        },
    ))
    .responder(ResponderSpec::new("web6", HttpBehaviour::NotFound))
    .with_zone(ZONE, |z| {
        z.records.retain(|r| !r.starts_with("www "));
        z.records.push("www A {http4:web4}".into());
        z.records.push("www AAAA {http6:web6}".into());
    })
}

/// The scenarios of the demo, one per failure class the lab can show today.
pub fn cases() -> Vec<DemoCase> {
    const DNS: &[Method] = &[Method::Dns];
    const HTTP: &[Method] = &[Method::Http];
    const ALL_CAS: &[CaId] = CaId::ALL;
    const LE: &[CaId] = &[CaId::Letsencrypt];
    vec![
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "healthy, DNSSEC-signed, TXT published",
            scenario: healthy,
            hostname: "www.example.lab",
            methods: DNS,
            cas: ALL_CAS,
            txt_values: &["token"],
            expected: None,
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "TXT value is stale",
            scenario: catalogue::valid,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["the-new-token"],
            expected: Some(FindingCode::TxtMismatch),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "DS at the parent matches no DNSKEY",
            scenario: catalogue::ds_bad_tag,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnssecBogus),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "every RRSIG expired",
            scenario: catalogue::rrsig_exp_all,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnssecBogus),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "nameservers answer SERVFAIL",
            scenario: catalogue::servfail,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsServfail),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "nameservers answer REFUSED",
            scenario: catalogue::refused,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsRefused),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "nameservers are lame (no AA)",
            scenario: catalogue::lame,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsLameDelegation),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "nameservers never answer",
            scenario: catalogue::timeout,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::DnsTimeout),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "secondary nameserver is out of sync",
            scenario: catalogue::stale_secondary,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::TxtInconsistent),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "CAA allows only another CA",
            scenario: caa_google_only,
            hostname: "www.example.lab",
            methods: DNS,
            cas: ALL_CAS,
            txt_values: &["token"],
            expected: Some(FindingCode::CaaForbids),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "CAA has a critical unknown property",
            scenario: caa_critical,
            hostname: "www.example.lab",
            methods: DNS,
            cas: LE,
            txt_values: &["token"],
            expected: Some(FindingCode::CaaCriticalUnknown),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: false,
            title: "name under a TLD the root does not delegate",
            scenario: catalogue::valid,
            hostname: "www.example.nosuchtld",
            methods: DNS,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::IdentifierRejected),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: true,
            title: "healthy HTTP-01: token served on IPv4 and IPv6",
            scenario: healthy,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: ALL_CAS,
            txt_values: &[],
            expected: None,
        },
        DemoCase {
            needs_ipv6: false,
            http_token: true,
            title: "wrong key authorisation served",
            scenario: web_wrong_body,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::HttpTokenMismatch),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: true,
            title: "WAF interactive challenge on /.well-known",
            scenario: web_challenge,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::HttpChallengePage),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: true,
            title: "firewall block page on /.well-known",
            scenario: web_block,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::HttpBlocked),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: true,
            title: "HTTP->HTTPS redirect, token only on http",
            scenario: web_https_redirect_without_token,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::HttpRedirectToHttps),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: true,
            title: "redirect loop",
            scenario: web_redirect_loop,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::HttpBadRedirect),
        },
        DemoCase {
            needs_ipv6: false,
            http_token: true,
            title: "web server accepts and never answers",
            scenario: web_silent,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::HttpUnreachable),
        },
        DemoCase {
            needs_ipv6: true,
            http_token: true,
            title: "AAAA points elsewhere than A",
            scenario: ipv6_elsewhere,
            hostname: "www.example.lab",
            methods: HTTP,
            cas: LE,
            txt_values: &[],
            expected: Some(FindingCode::Ipv6Mismatch),
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
    cfg.dns.query_timeout = Duration::from_millis(700);
    cfg.dns.retries = 0;
    cfg.http_port = lab.http_port();
    cfg.https_port = lab.https_port();
    cfg.http_phase_timeout = Some(Duration::from_millis(800));
    cfg.allow_private = true;
    cfg.timeout = Duration::from_secs(20);
    Ok(cfg)
}

/// The command-line flags that point `check`, `batch` or `agent` at `lab`
/// (its root hints and trust anchor written to `files`, its DNS, HTTP and
/// HTTPS ports). `--allow-private` is left to the caller.
pub fn lab_flags(lab: &Lab, files: &dcv_lab::LabFiles) -> Vec<std::ffi::OsString> {
    vec![
        "--root-hints".into(),
        files.root_hints.clone().into(),
        "--trust-anchor".into(),
        files.trust_anchor.clone().into(),
        "--dns-port".into(),
        lab.dns_port().to_string().into(),
        "--http-port".into(),
        lab.http_port().to_string().into(),
        "--https-port".into(),
        lab.https_port().to_string().into(),
    ]
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
    run_case_on(case, false).await
}

/// Runs one demo case, on IPv4 only when `ipv4_only`.
pub async fn run_case_on(case: &DemoCase, ipv4_only: bool) -> anyhow::Result<Report> {
    let scenario = if ipv4_only {
        (case.scenario)().into_ipv4_only()
    } else {
        (case.scenario)()
    };
    check_in_lab(scenario, case.hostname, |cfg| {
        cfg.cas = case.cas.to_vec();
        cfg.methods = case.methods.to_vec();
        cfg.txt_values = case.txt_values.iter().map(|v| (*v).to_owned()).collect();
        if case.http_token {
            cfg.http_token = Some(TOKEN.to_owned());
            cfg.http_body = Some(KEY_AUTHZ.to_owned());
        }
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

/// Why a demo case was not run on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotRunReason {
    /// The case needs the lab's IPv6 addresses (`scripts/lab-net-setup`),
    /// and this machine does not have them.
    NeedsLabIpv6,
}

impl NotRunReason {
    /// What the table's `found` column says.
    pub fn text(self) -> &'static str {
        match self {
            Self::NeedsLabIpv6 => "needs the lab's IPv6",
        }
    }

    /// What would make the case run.
    pub fn remedy(self) -> &'static str {
        match self {
            Self::NeedsLabIpv6 => "run `sudo scripts/lab-net-setup`",
        }
    }
}

/// One row of the demo's closing table (and of its JSON output).
#[derive(Debug, Serialize)]
pub struct DemoRow {
    pub title: &'static str,
    /// The lab scenario's name.
    pub scenario: String,
    /// The finding the case must produce; `None`: the hostname must pass.
    pub expected: Option<FindingCode>,
    /// Whether the case ran here. A case that did not run is neither right nor
    /// wrong: `ok` is `None` and `not_run` says why.
    pub ran: bool,
    pub not_run: Option<NotRunReason>,
    /// Warning and error findings, each code once, in report order.
    pub found: Vec<FindingCode>,
    /// Whether the report meets the expectation (`None` when not run).
    pub ok: Option<bool>,
    /// The full report (`None` when not run).
    pub report: Option<Report>,
}

impl DemoRow {
    fn not_run(case: &DemoCase, why: NotRunReason) -> Self {
        Self {
            title: case.title,
            scenario: (case.scenario)().name,
            expected: case.expected,
            ran: false,
            not_run: Some(why),
            found: Vec::new(),
            ok: None,
            report: None,
        }
    }

    fn ran(case: &DemoCase, report: Report) -> Self {
        let mut found: Vec<FindingCode> = Vec::new();
        for f in report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
        {
            if !found.contains(&f.code) {
                found.push(f.code);
            }
        }
        Self {
            title: case.title,
            scenario: (case.scenario)().name,
            expected: case.expected,
            ran: true,
            not_run: None,
            found,
            ok: Some(meets_expectation(case, &report)),
            report: Some(report),
        }
    }
}

/// The demo's tally: how many cases ran and how many of those were right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoSummary {
    pub cases: usize,
    pub ran: usize,
    pub as_expected: usize,
    /// Why the others did not run (each reason once).
    pub not_run: Vec<NotRunReason>,
    /// Whether the lab's IPv6 addresses were available (else the demo ran on
    /// IPv4 only).
    pub lab_ipv6: bool,
}

impl DemoSummary {
    pub fn of(rows: &[DemoRow], lab_ipv6: bool) -> Self {
        let mut not_run = Vec::new();
        for why in rows.iter().filter_map(|r| r.not_run) {
            if !not_run.contains(&why) {
                not_run.push(why);
            }
        }
        Self {
            cases: rows.len(),
            ran: rows.iter().filter(|r| r.ran).count(),
            as_expected: rows.iter().filter(|r| r.ok == Some(true)).count(),
            not_run,
            lab_ipv6,
        }
    }

    /// Every case that ran found what it expected (and at least one ran).
    pub fn passed(&self) -> bool {
        self.ran > 0 && self.as_expected == self.ran
    }

    /// 0 when every case that ran is right, else 1.
    pub fn exit_code(&self) -> ExitCode {
        if self.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    /// The table's closing line.
    pub fn line(&self) -> String {
        let mut line = format!("{} of {} cases ran", self.ran, self.cases);
        if self.as_expected == self.ran {
            let _ = write!(line, ", all {} as expected", self.ran);
        } else {
            let _ = write!(
                line,
                ", {} as expected, {} NOT",
                self.as_expected,
                self.ran - self.as_expected
            );
        }
        if self.ran < self.cases {
            let why: Vec<String> = self
                .not_run
                .iter()
                .map(|w| format!("{}: {}", w.text(), w.remedy()))
                .collect();
            let _ = write!(
                line,
                "; {} not run ({})",
                self.cases - self.ran,
                why.join("; ")
            );
        }
        line
    }
}

/// `demo --format json`: every row and the tally.
#[derive(Debug, Serialize)]
pub struct DemoOutput<'a> {
    pub summary: DemoSummary,
    pub rows: &'a [DemoRow],
}

/// The closing table: expected and found per case, and whether they agree
/// (`yes`, `NO`, or `not run` for a case this machine cannot run).
pub fn render_table(rows: &[DemoRow], summary: &DemoSummary) -> String {
    let code_or_pass = |c: Option<FindingCode>| c.map_or("(pass)", FindingCode::as_str);
    let mut out = format!("{:<46} {:<24} {:<40} ok\n", "scenario", "expected", "found");
    for row in rows {
        let found = match (&row.not_run, row.found.is_empty()) {
            (Some(why), _) => format!("({})", why.text()),
            (None, true) => "(pass)".to_owned(),
            (None, false) => row
                .found
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let ok = match row.ok {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "not run",
        };
        let _ = writeln!(
            out,
            "{:<46} {:<24} {found:<40} {ok}",
            row.title,
            code_or_pass(row.expected)
        );
    }
    out.push_str(&summary.line());
    out.push('\n');
    out
}

/// Runs every case (those this machine can run) and returns the rows.
/// `progress` sees each report as it comes (the text output prints it).
pub async fn run_cases(
    ipv4_only: bool,
    mut progress: impl FnMut(&DemoCase, &Report) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<DemoRow>> {
    let mut rows = Vec::new();
    for case in &cases() {
        if ipv4_only && case.needs_ipv6 {
            rows.push(DemoRow::not_run(case, NotRunReason::NeedsLabIpv6));
            continue;
        }
        let report = run_case_on(case, ipv4_only).await?;
        progress(case, &report)?;
        rows.push(DemoRow::ran(case, report));
    }
    Ok(rows)
}

/// `dcv-doctor demo`. Notes go to stderr: under `--format json`, stdout is
/// only the JSON document.
pub async fn run(format: Format, verbose: bool) -> anyhow::Result<ExitCode> {
    // Without the lab's IPv6 addresses (a fresh machine where nobody ran
    // `sudo scripts/lab-net-setup`) the demo still runs, on IPv4.
    let lab_ipv6 = dcv_lab::ipv6_available();
    if !lab_ipv6 {
        eprintln!(
            "note: the lab's IPv6 addresses are not set up (run `sudo scripts/lab-net-setup`); running on IPv4 only"
        );
    }
    let mut out = anstream::stdout();
    let rows = run_cases(!lab_ipv6, |case, report| {
        if format == Format::Text {
            writeln!(out, "=== {} ({})", case.title, (case.scenario)().name)?;
            write!(out, "{}", render_text(report, verbose))?;
            writeln!(out)?;
        }
        Ok(())
    })
    .await?;
    let summary = DemoSummary::of(&rows, lab_ipv6);
    match format {
        Format::Json => {
            eprintln!("{}", summary.line());
            let doc = DemoOutput {
                summary: summary.clone(),
                rows: &rows,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Text => write!(out, "{}", render_table(&rows, &summary))?,
    }
    Ok(summary.exit_code())
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
    let scenario = if dcv_lab::ipv6_available() {
        scenario
    } else {
        eprintln!(
            "note: the lab's IPv6 addresses are not set up (run `sudo scripts/lab-net-setup`); serving on IPv4 only"
        );
        scenario.into_ipv4_only()
    };
    // The directory first: a bad --dir is bad input, found before any server starts.
    let (dir, named_by) = match dir {
        Some(d) => (d, "--dir"),
        None => (
            std::env::temp_dir().join(format!("dcv-lab-{}", std::process::id())),
            "the default, a temporary directory",
        ),
    };
    let cannot_write = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot write lab files to directory {} (named by {named_by}): {e}",
            dir.display()
        )
    };
    std::fs::create_dir_all(&dir).map_err(cannot_write)?;
    let lab = Lab::start_on_port(scenario, dns_port).await?;
    let files = lab.write_files(&dir).map_err(cannot_write)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ran: bool, ok: Option<bool>) -> DemoRow {
        DemoRow {
            title: "t",
            scenario: "s".to_owned(),
            expected: None,
            ran,
            not_run: (!ran).then_some(NotRunReason::NeedsLabIpv6),
            found: Vec::new(),
            ok,
            report: None,
        }
    }

    #[test]
    fn a_case_that_did_not_run_is_neither_a_pass_nor_a_miss() {
        let rows = [row(true, Some(true)), row(false, None)];
        let summary = DemoSummary::of(&rows, false);
        assert!(summary.passed());
        assert_eq!(summary.exit_code(), ExitCode::SUCCESS);
        let table = render_table(&rows, &summary);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].ends_with(" yes"), "{table}");
        assert!(lines[2].ends_with(" not run"), "{table}");
        assert_eq!(
            lines[3],
            "1 of 2 cases ran, all 1 as expected; 1 not run (needs the lab's IPv6: run `sudo scripts/lab-net-setup`)"
        );
    }

    #[test]
    fn a_miss_among_the_cases_that_ran_exits_1() {
        let rows = [
            row(true, Some(true)),
            row(true, Some(false)),
            row(false, None),
        ];
        let summary = DemoSummary::of(&rows, false);
        assert!(!summary.passed());
        assert_eq!(summary.exit_code(), ExitCode::from(1));
        let table = render_table(&rows, &summary);
        assert!(table.lines().nth(2).unwrap().ends_with(" NO"), "{table}");
        assert!(
            table.ends_with("2 of 3 cases ran, 1 as expected, 1 NOT; 1 not run (needs the lab's IPv6: run `sudo scripts/lab-net-setup`)\n"),
            "{table}"
        );
    }

    #[test]
    fn nothing_ran_is_not_a_pass() {
        let rows = [row(false, None)];
        assert!(!DemoSummary::of(&rows, false).passed());
    }
}
