//! Command-line flags (what was typed). `config.rs` turns them into a validated
//! `CheckConfig`; nothing below the binary sees clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `dcv-doctor --version`: the crate version and the git commit it was built
/// from (`build.rs`; "unknown" outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DCV_DOCTOR_GIT_COMMIT"),
    ")"
);

/// See what each certificate authority will see before it validates your domain.
///
/// dcv-doctor walks DNS from the root with full DNSSEC validation, asks every
/// authoritative nameserver, evaluates CAA as RFC 8659/8657 and the CA/B Baseline
/// Requirements say, fetches the HTTP-01 token from every address under the CA's
/// redirect rules, and names the cause, the CA's own message, who must fix it and
/// how.
#[derive(Debug, Parser)]
#[command(name = "dcv-doctor", version = VERSION, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose domain control validation for one hostname.
    ///
    /// Exit status: 0 when every selected CA would validate, 1 when a finding
    /// blocks validation, 2 for bad input, 3 when it could not be checked from
    /// this machine (no network, DNS blocked or intercepted).
    Check(CheckCommandArgs),
    /// Check many hostnames, several at once, each with its own resolver
    /// state, and write one JSON object per input line (JSON Lines), then a
    /// summary on stderr.
    ///
    /// The input is read, checked and written as a stream: memory depends on
    /// --concurrency, not on the number of lines. It holds plain hostnames
    /// (one per line), CSV with a header row, or JSON Lines with per-line
    /// options (see --input-format); `#` comments and blank lines are
    /// skipped. A line that is not a check becomes a record with `error` and
    /// `error_kind`, and the run goes on. On a terminal, stderr shows a
    /// progress bar.
    ///
    /// Exit status: 0 when every hostname would validate, 1 when one would
    /// not or a line is not a check, 2 for bad flags or unreadable input, 3
    /// when none failed but some could not be checked from this machine.
    Batch(BatchArgs),
    /// Wait for validation to be possible: re-check on Cloudflare's DCV retry
    /// schedule (or --interval / --schedule) until the hostname passes for
    /// every selected CA and method from every configured perspective,
    /// printing each change (findings that cleared or appeared, a TXT record
    /// reaching more nameservers); with --format json, one event per line.
    ///
    /// Exit status: 0 ready, 1 the schedule ran out, 2 bad input, 3 could
    /// not check from here (a configured perspective never answered).
    Watch(WatchArgs),
    /// Resolve one name and type from the root like the CA's validating resolver,
    /// and print the walk: zone cuts, each server's answer, the DNSSEC chain.
    Dns(DnsArgs),
    /// Explain a `validation_errors` message or ACME problem detail: its cause,
    /// what to check, the fix, and the `check` command that tests it.
    ///
    /// Exit status: 0 when the message is recognised, 1 when it is not.
    Explain {
        /// The message as the CA or Cloudflare's API gave it.
        message: String,
        /// Output: text for people, json for programs (stdout is then only the
        /// JSON document; notes go to stderr).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The hostname the message is about, when the message does not name
        /// it (a rate-limit message: with --ct the count is run for it).
        #[arg(long, value_name = "NAME")]
        hostname: Option<String>,
        /// The order's other names (the exact set the count is keyed on).
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
        #[command(flatten)]
        ct: CtArgs,
    },
    /// Start the built-in lab (a private DNS root and web servers on loopback)
    /// and diagnose one hostname per failure class. Works offline.
    ///
    /// Ends with a table of what each case expected and found. A case that
    /// needs the lab's IPv6 (`sudo scripts/lab-net-setup`) is shown as not run
    /// on a machine without it. Exit status: 0 when every case that ran found
    /// what it expected, 1 otherwise.
    Demo {
        /// Output: text for people, json for programs (stdout is then only the
        /// JSON document; notes go to stderr).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Show the evidence behind every finding.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Serve one lab scenario on loopback until interrupted, to poke at by hand
    /// with `dcv-doctor dns`, `check`, `dig` or `delv`.
    Lab {
        /// Scenario name (see --list).
        scenario: Option<String>,
        /// List the scenarios and exit.
        #[arg(long)]
        list: bool,
        /// Where to write root.hints and trust-anchor.ds (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
        /// Serve DNS on this port on every lab address (53 for Unbound/delv; needs root).
        #[arg(long, value_name = "N", default_value_t = 0)]
        dns_port: u16,
    },
    /// Serve one remote network perspective for multi-perspective corroboration
    /// (BR 3.2.2.9): `POST /v1/check` over TLS with a bearer token, answered with
    /// the report of a check run from here with its own resolver.
    Agent(AgentArgs),
    /// Serve the web page and the JSON API (`/api/v1`, its `OpenAPI` document at
    /// `/api/v1/openapi.json`) with a history store, on localhost by default.
    /// Checks only public targets and name servers unless --allow-private.
    Serve(ServeArgs),
    /// Run checks from a shared queue (the `PostgreSQL` store that `serve`
    /// and `batch --enqueue` fill), as one of many workers on many machines.
    ///
    /// Each claimed check is leased, the lease renewed every few seconds
    /// while it runs, and its result written only under that lease; the
    /// checks of a worker that dies run again elsewhere once its leases
    /// expire (at most 3 attempts). Checks only public targets unless
    /// --allow-private.
    ///
    /// Stops on SIGTERM or Ctrl-C after the checks it holds (or releases
    /// them), or with --exit-when-empty once nothing is queued or running.
    Worker(WorkerArgs),
    /// Write a queued job's results (`batch --enqueue`) as JSON Lines, one
    /// record per input line in input order, each as `batch` writes it, then
    /// the summary on stderr.
    ///
    /// Exit status: as `batch` (0 every hostname would validate, 1 one would
    /// not or a line is not a check, 3 none failed but some could not be
    /// checked); 2 for bad flags, an unknown job, or a job not finished yet
    /// (without --wait).
    Export(ExportArgs),
    /// Print docs/findings.md (the finding catalogue) from the code.
    #[command(hide = true)]
    FindingsDoc,
}

/// Which CA to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaArg {
    /// Let's Encrypt.
    Letsencrypt,
    /// Google Trust Services.
    Google,
    /// SSL.com.
    Sslcom,
    /// Sectigo (Cloudflare backup certificates).
    Sectigo,
    /// All of Cloudflare's partner CAs: the hostname must pass for each (Cloudflare
    /// may rotate CAs on renewal).
    All,
}

/// Which validation method to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// HTTP-01: token at http://<host>/.well-known/acme-challenge/<token>.
    Http,
    /// DNS-01: TXT record at _acme-challenge.<host>.
    Dns,
    /// Both (wildcards: DNS only).
    All,
}

/// How `batch` reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// From the first line that is not blank or a comment: `{` starts JSON
    /// Lines, a comma (or a lone `hostname`) a CSV header, anything else a
    /// hostname.
    Auto,
    /// One hostname per line.
    Lines,
    /// CSV (RFC 4180, one record per line) with a header row naming the
    /// columns: `hostname` (required), `ca`, `method`, `http_token`,
    /// `http_body`, `txt_value` (may repeat), `dcv_delegation`,
    /// `account_uri`. An empty cell takes the batch's flag.
    Csv,
    /// One JSON object per line with the same keys (`txt_values`: a list).
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Where DNS starts and how it is trusted; shared by `check` and `dns`.
#[derive(Debug, Args)]
pub struct DnsSourceArgs {
    /// Root hints in zone-file syntax (NS records for "." plus A/AAAA glue).
    /// Default: the IANA root hints compiled in. With this flag, the system
    /// resolver is never used.
    #[arg(long, value_name = "FILE")]
    pub root_hints: Option<PathBuf>,
    /// Trust anchor: DS or DNSKEY records in zone-file syntax. Default: the IANA
    /// root KSKs (2017 and 2024) compiled in.
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// Port to query every nameserver on (the lab uses a non-53 port).
    #[arg(long, value_name = "N", default_value_t = 53, value_parser = clap::value_parser!(u16).range(1..))]
    pub dns_port: u16,
}

/// The ports the CA's HTTP-01 fetch uses; shared by `check`, `batch` and
/// `agent`. A CA always uses 80 and 443 (RFC 8555 §8.3, BR 3.2.2.4.19); only a
/// lab maps them elsewhere.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Port the CA's "port 80" maps to (lab use).
    #[arg(long, value_name = "N", default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..))]
    pub http_port: u16,
    /// Port the CA's "port 443" maps to (lab use).
    #[arg(long, value_name = "N", default_value_t = 443, value_parser = clap::value_parser!(u16).range(1..))]
    pub https_port: u16,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The hostname to validate (`*.example.com` for a wildcard; DNS method only).
    pub hostname: String,
    /// Which CA to predict.
    #[arg(long, value_enum, default_value_t = CaArg::All)]
    pub ca: CaArg,
    /// Which validation method to check.
    #[arg(long, value_enum, default_value_t = MethodArg::All)]
    pub method: MethodArg,
    /// HTTP-01 token (the file name under /.well-known/acme-challenge/). Without
    /// it a random probe token is fetched, and a 404 from the right server is the
    /// healthy answer.
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub http_token: Option<String>,
    /// The body the token URL must serve (the key authorisation).
    #[arg(
        long,
        value_name = "B",
        requires = "http_token",
        allow_hyphen_values = true
    )]
    pub http_body: Option<String>,
    /// Expected DNS-01 TXT value; repeat for several (apex + wildcard need two).
    #[arg(long = "txt-value", value_name = "V", allow_hyphen_values = true)]
    pub txt_values: Vec<String>,
    /// Expected Delegated DCV target: `_acme-challenge.<hostname>` must be a
    /// CNAME to it (e.g. `<hostname>.<uuid>.dcv.cloudflare.com`; Cloudflare
    /// Delegated DCV, cloudflare-dcv.md §2.4). Implies the DNS method.
    #[arg(long, value_name = "TARGET")]
    pub dcv_delegation: Option<String>,
    #[command(flatten)]
    pub dns: DnsSourceArgs,
    #[command(flatten)]
    pub ports: PortArgs,
    /// Treat loopback, private and reserved addresses as reachable targets (the
    /// lab needs it). Without it such addresses are a blocking finding, since a
    /// public CA can never reach them.
    #[arg(long)]
    pub allow_private: bool,
    /// ACME account URI, to test CAA `accounturi` parameters (RFC 8657 §3).
    #[arg(long, value_name = "URI")]
    pub account_uri: Option<String>,
    /// Output: text for people, json for programs (stdout is then only the
    /// JSON document; notes go to stderr).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Upper bound on the whole check, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Show the evidence behind every finding.
    #[arg(short, long)]
    pub verbose: bool,
    /// Remote perspective agents for multi-perspective corroboration (BR
    /// 3.2.2.9), as TOML `[[perspective]]` tables with name, url, region, rir,
    /// `token_file` and `ca_cert_file`.
    #[arg(long, value_name = "FILE")]
    pub perspectives: Option<PathBuf>,
    /// A remote perspective agent URL (`https://IP:PORT/v1/check`); repeat for
    /// several. Token in `$DCV_DOCTOR_AGENT_TOKEN`, pinned certificate in the PEM
    /// file named by `$DCV_DOCTOR_AGENT_CA_CERT`.
    #[arg(long = "perspective", value_name = "URL")]
    pub perspective_urls: Vec<String>,
    /// Apply the BR 3.2.2.9 requirements in force on this date (YYYY-MM-DD;
    /// default: today).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Another name of the same certificate order; repeat for several. The
    /// CA's identifier policy is applied to it, and with the hostname it is
    /// the exact set Let's Encrypt's duplicate-certificate limit counts.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
}

/// `dcv-doctor check`: the check, and what only the CA knows (CT counts, an
/// ACME dry run), which `watch` does not repeat and so does not offer.
#[derive(Debug, Args)]
pub struct CheckCommandArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub ct: CtArgs,
    #[command(flatten)]
    pub acme: AcmeArgs,
}

/// Counting Let's Encrypt's certificate limits from Certificate
/// Transparency (`check`, `explain`). Off unless asked: it sends the names
/// to a third party.
#[derive(Debug, Clone, Args)]
pub struct CtArgs {
    /// Count Let's Encrypt's duplicate-certificate and per-registered-domain
    /// limits from Certificate Transparency, asking crt.sh (sends the names
    /// to crt.sh).
    #[arg(long)]
    pub ct: bool,
    /// Ask this crt.sh-compatible search instead of crt.sh (implies --ct):
    /// `URL?q=<name>&output=json` answering crt.sh's JSON array.
    #[arg(long, value_name = "URL")]
    pub ct_url: Option<String>,
}

/// Let's Encrypt's staging directory: `--acme-directory` without a value.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Asking a real ACME server (`check`).
#[derive(Debug, Clone, Args)]
pub struct AcmeArgs {
    /// Ask a real ACME server what it says before anything is published:
    /// create an account and an order, read the authorizations and the
    /// challenges it offers, and report its refusals (rejectedIdentifier,
    /// caa, rateLimited). Without a value: Let's Encrypt staging. Write
    /// `--acme-directory=URL` when the hostname follows it.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = LETS_ENCRYPT_STAGING)]
    pub acme_directory: Option<String>,
    /// PEM certificate to trust for the ACME server's TLS (a test CA such as
    /// Pebble's); default: the system's roots.
    #[arg(long, value_name = "FILE", requires = "acme_directory")]
    pub acme_ca_cert: Option<PathBuf>,
    /// Complete a real validation: publish the response (--webroot for
    /// HTTP-01, --dns-update for DNS-01), ask the CA to validate, and put its
    /// verdict beside dcv-doctor's prediction. The response is removed after.
    #[arg(long, requires = "acme_directory")]
    pub acme_complete: bool,
    /// HTTP-01: the web root the hostname serves; the response is written to
    /// DIR/.well-known/acme-challenge/<token>.
    #[arg(
        long,
        value_name = "DIR",
        requires = "acme_complete",
        conflicts_with = "dns_update"
    )]
    pub webroot: Option<PathBuf>,
    /// DNS-01: the primary name server to send an RFC 2136 update to
    /// (IP or IP:PORT), signed with --tsig-key.
    #[arg(long, value_name = "SERVER", requires_all = ["acme_complete", "tsig_key"])]
    pub dns_update: Option<String>,
    /// TSIG key for --dns-update: a BIND/Knot key file (`key "name" {
    /// algorithm hmac-sha256; secret "..."; };`) or `hmac-sha256:name:secret`.
    #[arg(long, value_name = "FILE", requires = "dns_update")]
    pub tsig_key: Option<PathBuf>,
}

/// `dcv-doctor batch`: the `check` flags that apply to every line alike (a
/// CSV or JSON Lines input may override `ca`, `method` and `account_uri` per
/// line).
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per on/off flag, as clap maps them
pub struct BatchArgs {
    /// The input file; `-` (the default) reads standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// How to read the input.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Which CA to predict, unless a line says.
    #[arg(long, value_enum, default_value_t = CaArg::All)]
    pub ca: CaArg,
    /// Which validation method to check, unless a line says (wildcards: DNS
    /// only). Without tokens or TXT values, HTTP-01 fetches a random probe
    /// token and DNS-01 checks that the TXT lookup works.
    #[arg(long, value_enum, default_value_t = MethodArg::All)]
    pub method: MethodArg,
    /// ACME account URI, to test CAA `accounturi` parameters (RFC 8657 §3),
    /// unless a line says.
    #[arg(long, value_name = "URI")]
    pub account_uri: Option<String>,
    #[command(flatten)]
    pub dns: DnsSourceArgs,
    #[command(flatten)]
    pub ports: PortArgs,
    /// Treat loopback, private and reserved addresses as reachable (lab use).
    #[arg(long)]
    pub allow_private: bool,
    /// Upper bound on each hostname's check, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Checks in flight at once. Each sends its own queries: mind the
    /// nameservers you share with your customers.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// Write each record as soon as its check ends, not in input order (each
    /// record's `line` says which line it is). In input order (the default),
    /// a slow check holds back the records after it, and once 8 x
    /// --concurrency of them wait, no new check starts until it ends.
    #[arg(long)]
    pub unordered: bool,
    /// Give every check its own cold DNS cache, as one CA perspective
    /// validating one name sees it. By default the checks share the zone
    /// cuts, DS and DNSKEY sets of the root, the TLDs and every zone several
    /// hostnames sit in, reused while their TTLs last (a bogus chain 60 s);
    /// each hostname's own names are asked fresh either way.
    #[arg(long)]
    pub isolated: bool,
    /// Remote perspective agents for multi-perspective corroboration (BR
    /// 3.2.2.9), as for `check`. Every line's check asks each agent, so an
    /// agent must accept --concurrency checks at once (its --max-concurrent).
    #[arg(long, value_name = "FILE")]
    pub perspectives: Option<PathBuf>,
    /// A remote perspective agent URL, as for `check`; repeat for several.
    #[arg(long = "perspective", value_name = "URL")]
    pub perspective_urls: Vec<String>,
    /// Apply the BR 3.2.2.9 requirements in force on this date (YYYY-MM-DD;
    /// default: today).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Also write the summary as JSON to this file (verdicts per CA, blocking
    /// codes, slowest zones, bad lines by kind, rate, peak memory).
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Check nothing here: validate every line and put the checks in the
    /// shared queue at --database-url for `dcv-doctor worker`s to run, then
    /// print the job's id (read the results back with `dcv-doctor export`).
    /// Lines that are not checks are stored as their error records. The
    /// workers' own DNS, port and --allow-private flags apply to the checks.
    #[arg(long, requires = "database_url", conflicts_with_all = ["unordered", "perspectives", "perspective_urls", "summary_json"])]
    pub enqueue: bool,
    /// With --enqueue: the queue, `postgres://USER:PASS@HOST/DB` (or
    /// `sqlite:PATH` for one machine).
    #[arg(long, value_name = "URL", requires = "enqueue")]
    pub database_url: Option<String>,
}

/// `dcv-doctor agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Address to listen on (TLS), e.g. 127.0.0.1:8443.
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// File holding the bearer token requests must carry (at least 16 characters).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// TLS certificate chain (PEM). Without it and --tls-key, a self-signed
    /// certificate for the listen address is made and written to --cert-out (or
    /// printed), for the coordinator to pin.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where to write the self-signed certificate's PEM.
    #[arg(long, value_name = "FILE", conflicts_with = "tls_cert")]
    pub cert_out: Option<PathBuf>,
    /// This perspective's name, as reports show it.
    #[arg(long, value_name = "N")]
    pub name: String,
    /// Its region (free text, e.g. eu-west).
    #[arg(long, value_name = "R")]
    pub region: String,
    /// Its RIR service region: ARIN, RIPE, APNIC, LACNIC or AFRINIC.
    #[arg(long, value_name = "RIR")]
    pub rir: String,
    #[command(flatten)]
    pub policy: ServerPolicyArgs,
    /// Checks run at once (they wait on the network, not the CPU).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_concurrent: u64,
    /// Checks that may wait for a slot; past them the agent answers 503 with
    /// Retry-After, and coordinators ask again within their deadline.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub max_queued: u64,
}

/// What the server modes (`agent`, `serve`, `worker`) run strangers'
/// checks under: their own DNS view and ports, public targets only unless
/// `--allow-private`, and a bound on each check.
#[derive(Debug, Args)]
pub struct ServerPolicyArgs {
    #[command(flatten)]
    pub dns: DnsSourceArgs,
    #[command(flatten)]
    pub ports: PortArgs,
    /// Check targets and name servers on private, loopback and reserved
    /// addresses (lab use). Without it such checks are refused (an agent
    /// answers 403).
    #[arg(long)]
    pub allow_private: bool,
    /// Upper bound on one check, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub check_timeout: u64,
}

#[derive(Debug, Args)]
pub struct DnsArgs {
    /// The name to resolve.
    pub name: String,
    /// The record type (A, AAAA, CAA, TXT, NS, DS, DNSKEY, SOA, CNAME, ...).
    #[arg(value_name = "TYPE")]
    pub rtype: String,
    #[command(flatten)]
    pub dns: DnsSourceArgs,
    /// Output: text for people, json for programs (stdout is then only the
    /// JSON document; notes go to stderr).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Upper bound, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

/// Log line format for `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `dcv-doctor serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (plain HTTP: put a TLS proxy in front to serve
    /// others).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// `sqlite:PATH` or `postgres://USER:PASS@HOST/DB`. Default: a `SQLite` file
    /// under $XDG_DATA_HOME/dcv-doctor (~/.local/share/dcv-doctor).
    #[arg(long, value_name = "URL", env = "DCV_DOCTOR_DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub policy: ServerPolicyArgs,
    /// Checks run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,
    /// Checks waiting at most; more are refused with 503.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_queued: u64,
    /// Checks one client address (IPv6: its /64) may start: `N/min` or
    /// `N/min,burst=B`.
    #[arg(long, value_name = "RATE", default_value = "6/min")]
    pub client_rate: String,
    /// Checks of one registered domain, whoever asks.
    #[arg(long, value_name = "RATE", default_value = "4/min")]
    pub host_rate: String,
    /// A perspectives profile `NAME=FILE` (the TOML of `check
    /// --perspectives`); requests pick it by name. Repeat for several.
    #[arg(long = "perspectives", value_name = "NAME=FILE")]
    pub perspectives: Vec<String>,
    /// Log lines as text or JSON (stderr; `RUST_LOG` filters).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `dcv-doctor watch`: the `check` flags, and when to check again.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    /// Check every SECS seconds (decimals allowed) instead of on Cloudflare's
    /// schedule.
    #[arg(long, value_name = "SECS", conflicts_with = "schedule")]
    pub interval: Option<f64>,
    /// With --interval: how many checks in all (default 121, as many as
    /// Cloudflare's schedule makes).
    #[arg(long, value_name = "N", requires = "interval", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub attempts: Option<u32>,
    /// The waits between checks, in seconds, comma-separated (`5,10,30`):
    /// one check at once, then one after each wait.
    #[arg(long, value_name = "LIST", value_delimiter = ',', num_args = 1..)]
    pub schedule: Vec<f64>,
}

/// `dcv-doctor worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The shared queue: `postgres://USER:PASS@HOST/DB` (or `sqlite:PATH`
    /// beside a `serve` on the same machine).
    #[arg(long, value_name = "URL", env = "DCV_DOCTOR_DATABASE_URL")]
    pub database_url: String,
    /// Checks run at once (they wait on the network, not the CPU).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// This worker's name in the queue's leases and logs: unique among the
    /// workers sharing the queue. A worker started again with the same name
    /// takes back at once what it held when it stopped. Default: HOST:PID.
    #[arg(long, value_name = "ID")]
    pub worker_id: Option<String>,
    #[command(flatten)]
    pub policy: ServerPolicyArgs,
    /// A perspectives profile `NAME=FILE`, as for `serve`: checks submitted
    /// to `serve` with that profile run with it here. Repeat for several.
    #[arg(long = "perspectives", value_name = "NAME=FILE")]
    pub perspectives: Vec<String>,
    /// Stop once nothing is queued or running (a running check whose worker
    /// dies comes back, so this waits for those too): for cron and tests.
    #[arg(long)]
    pub exit_when_empty: bool,
    /// Lease length in seconds (default 30). Tests shorten it to see a killed
    /// worker's checks come back quickly.
    #[arg(long, value_name = "SECS", hide = true, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_secs: Option<u64>,
    /// Log lines as text or JSON (stderr; `RUST_LOG` filters).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `dcv-doctor export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The queue the job was put in.
    #[arg(long, value_name = "URL", env = "DCV_DOCTOR_DATABASE_URL")]
    pub database_url: String,
    /// The job's id, as `batch --enqueue` printed it.
    #[arg(long, value_name = "ID")]
    pub job: String,
    /// Wait for the job to finish (at most --wait-timeout) instead of
    /// refusing an unfinished one.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 86_400, requires = "wait", value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_timeout: u64,
}
