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
    Check(CheckArgs),
    /// Check many hostnames (one per line; `#` comments and blank lines are
    /// skipped), several at once, each with its own resolver state, and write
    /// one JSON object per hostname in input order (JSON Lines), then a
    /// summary on stderr.
    ///
    /// Exit status: 0 when every hostname would validate, 1 when one would
    /// not or its line is not a hostname, 2 for bad flags or unreadable input,
    /// 3 when none failed but some could not be checked from this machine.
    Batch(BatchArgs),
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
}

/// `dcv-doctor batch`: the `check` flags that apply to every hostname alike.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// File with one hostname per line; `-` (the default) reads standard input.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// Which CA to predict.
    #[arg(long, value_enum, default_value_t = CaArg::All)]
    pub ca: CaArg,
    /// Which validation method to check (wildcards: DNS only). Without
    /// tokens or TXT values, HTTP-01 fetches a random probe token and DNS-01
    /// checks that the TXT lookup works.
    #[arg(long, value_enum, default_value_t = MethodArg::All)]
    pub method: MethodArg,
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
    /// Check targets on private, loopback and reserved addresses (lab use).
    /// Without it such targets are refused (403).
    #[arg(long)]
    pub allow_private: bool,
    #[command(flatten)]
    pub dns: DnsSourceArgs,
    #[command(flatten)]
    pub ports: PortArgs,
    /// Checks run at once; more are refused with 503.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub max_concurrent: u64,
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
