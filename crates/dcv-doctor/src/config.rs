//! Flags to a validated `CheckConfig` (ripgrep's lowargs→hiargs idea). Every
//! error here is bad input: one line naming what is wrong, exit status 2 for
//! a command line, an error record for a batch line.
//!
//! One set of rules for every way a check is asked for: [`CheckOptions`] is
//! what one check asks as typed here (a `check` command line, a `batch`
//! line), [`CheckSetup`] what every check of a command shares (DNS source,
//! ports, limits), and [`CheckSetup::config`] validates the one against the
//! other with the rules the agent, `serve` and workers apply to a request
//! ([`dcv_diagnosis::request::CheckSetup::config`]): one rule set, not two.

use std::time::Duration;

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::identifier::{Hostname, InputError};
use dcv_diagnosis::request::{self, CheckRequest};
use dcv_diagnosis::{CaId, Method};
use thiserror::Error;

use crate::cli::{CaArg, CheckArgs, DnsSourceArgs, MethodArg, PortArgs, ServerPolicyArgs};
use crate::input_file::{FileError, InputFile};

pub use dcv_diagnosis::request::{
    CheckOption, MAX_TOKEN_LEN as MAX_HTTP_TOKEN_LEN, MAX_TXT_VALUES, RequestError,
};

/// Bad input, reported on one line with exit status 2.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("invalid hostname: {0}")]
    Hostname(#[from] InputError),
    #[error(transparent)]
    File(#[from] FileError),
    /// One check option breaks its rule; `problem` reads after the option's
    /// name (`--http-token` on the command line, `http_token` in a batch line).
    #[error("{} {problem}", option.flag())]
    Option {
        option: CheckOption,
        problem: String,
    },
}

impl From<RequestError> for ConfigError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Hostname(e) => Self::Hostname(e),
            RequestError::Option { option, problem } => Self::Option { option, problem },
        }
    }
}

impl ConfigError {
    fn option(option: CheckOption, problem: impl Into<String>) -> Self {
        Self::Option {
            option,
            problem: problem.into(),
        }
    }

    /// The message for a batch line, naming the field (`http_token`) rather
    /// than the flag (`--http-token`).
    pub fn for_line(&self) -> String {
        match self {
            Self::Option { option, problem } => format!("{} {problem}", option.field()),
            other => other.to_string(),
        }
    }
}

/// Builds the DNS engine configuration from `--root-hints`, `--trust-anchor`,
/// `--dns-port`.
pub fn dns_config(
    args: &DnsSourceArgs,
    timeout: Duration,
) -> Result<dcv_dns::EngineConfig, ConfigError> {
    let mut cfg = dcv_dns::EngineConfig {
        port: args.dns_port,
        ..dcv_dns::EngineConfig::default()
    };
    if let Some(path) = &args.root_hints {
        let file = InputFile::new(path, "root hints", "--root-hints");
        cfg.root_hints =
            dcv_dns::parse_root_hints(&file.read_text()?).map_err(|e| file.malformed(e))?;
    }
    if let Some(path) = &args.trust_anchor {
        let file = InputFile::new(path, "trust anchor", "--trust-anchor");
        cfg.trust_anchors =
            dcv_dns::parse_trust_anchor(&file.read_text()?).map_err(|e| file.malformed(e))?;
    }
    // A check's DNS work must fit inside its overall timeout.
    cfg.query_timeout = cfg.query_timeout.min(timeout);
    Ok(cfg)
}

/// The CAs a `--ca` value selects.
fn cas_for(ca: CaArg) -> Vec<CaId> {
    match ca {
        CaArg::All => CaId::ALL.to_vec(),
        CaArg::Letsencrypt => vec![CaId::Letsencrypt],
        CaArg::Google => vec![CaId::Google],
        CaArg::Sslcom => vec![CaId::Sslcom],
        CaArg::Sectigo => vec![CaId::Sectigo],
    }
}

/// The methods a `--method` value asks for; `all` is the default (both, or
/// DNS-01 alone for a wildcard: RFC 8555 §8.3, BR 3.2.2.4.19).
fn methods_for(method: MethodArg) -> Vec<Method> {
    match method {
        MethodArg::Http => vec![Method::Http],
        MethodArg::Dns => vec![Method::Dns],
        MethodArg::All => Vec::new(),
    }
}

/// What one check asks for, as typed: the `check` flags, or one batch line
/// (its columns or keys over the batch's flags). Validated by
/// [`CheckSetup::config`].
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub hostname: String,
    pub ca: CaArg,
    pub method: MethodArg,
    pub http_token: Option<String>,
    pub http_body: Option<String>,
    pub txt_values: Vec<String>,
    pub dcv_delegation: Option<String>,
    pub account_uri: Option<String>,
}

impl CheckOptions {
    /// Every CA, every method, nothing expected: a batch line's starting
    /// point before the batch's flags and the line's own options apply.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            ca: CaArg::All,
            method: MethodArg::All,
            http_token: None,
            http_body: None,
            txt_values: Vec::new(),
            dcv_delegation: None,
            account_uri: None,
        }
    }

    /// The `check` command line's options.
    pub fn from_check_args(args: &CheckArgs) -> Self {
        Self {
            hostname: args.hostname.clone(),
            ca: args.ca,
            method: args.method,
            http_token: args.http_token.clone(),
            http_body: args.http_body.clone(),
            txt_values: args.txt_values.clone(),
            dcv_delegation: args.dcv_delegation.clone(),
            account_uri: args.account_uri.clone(),
        }
    }
}

impl CheckOptions {
    /// The same check as a request: what the agent and `serve` take, and
    /// what the one rule set validates.
    pub fn to_request(&self) -> CheckRequest {
        CheckRequest {
            hostname: self.hostname.clone(),
            ca: cas_for(self.ca),
            method: methods_for(self.method),
            http_token: self.http_token.clone(),
            http_body: self.http_body.clone(),
            txt_values: self.txt_values.clone(),
            account_uri: self.account_uri.clone(),
            dcv_delegation: self.dcv_delegation.clone(),
        }
    }
}

/// A `--ca` value typed in a batch line: the flag's own names.
pub fn parse_ca(value: &str) -> Result<CaArg, ConfigError> {
    parse_value_enum(value, CheckOption::Ca)
}

/// A `--method` value typed in a batch line: the flag's own names.
pub fn parse_method(value: &str) -> Result<MethodArg, ConfigError> {
    parse_value_enum(value, CheckOption::Method)
}

fn parse_value_enum<T: clap::ValueEnum>(
    value: &str,
    option: CheckOption,
) -> Result<T, ConfigError> {
    T::from_str(value.trim(), false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        ConfigError::option(
            option,
            format!("{value:?} is not one of {}", names.join(", ")),
        )
    })
}

/// What every check of one command shares, validated once: where DNS
/// starts and how it is trusted, the ports the CA's fetch maps to, whether
/// private addresses count as reachable, and the time limit.
#[derive(Debug, Clone)]
pub struct CheckSetup(request::CheckSetup);

impl CheckSetup {
    /// Reads the root hints and trust anchor files the flags name.
    pub fn from_flags(
        dns: &DnsSourceArgs,
        ports: &PortArgs,
        allow_private: bool,
        timeout_secs: u64,
    ) -> Result<Self, ConfigError> {
        let timeout = Duration::from_secs(timeout_secs);
        Ok(Self(request::CheckSetup {
            dns: dns_config(dns, timeout)?,
            http_port: ports.http_port,
            https_port: ports.https_port,
            http_phase_timeout: None,
            allow_private,
            timeout,
        }))
    }

    /// Validates one check's options (the same rules for a `check` command
    /// line, a batch line and a request to the agent or `serve`) and makes
    /// its configuration.
    pub fn config(&self, opts: &CheckOptions) -> Result<CheckConfig, ConfigError> {
        Ok(self.0.config(&opts.to_request())?)
    }
}

/// What a server mode (`serve`, `worker`) checks under, from its flags: its
/// own DNS view and ports, public targets only unless `allow_private`, and
/// the time bound; requests are validated by its
/// [`request::ServerCheckPolicy::check_config`].
pub fn server_policy(args: &ServerPolicyArgs) -> Result<request::ServerCheckPolicy, ConfigError> {
    let check_timeout = Duration::from_secs(args.check_timeout);
    Ok(request::ServerCheckPolicy {
        dns: dns_config(&args.dns, check_timeout)?,
        http_port: args.ports.http_port,
        https_port: args.ports.https_port,
        http_phase_timeout: None,
        allow_private: args.allow_private,
        check_timeout,
    })
}

/// An ACME account URI as RFC 8657 §3 `accounturi` compares it: an https URL.
pub fn validate_account_uri(uri: &str) -> Result<(), ConfigError> {
    Ok(request::validate_account_uri(uri)?)
}

/// `--san` names: each a hostname (exit 2 otherwise), at most Let's
/// Encrypt's 100 identifiers per order with the hostname.
fn parse_sans(sans: &[String]) -> Result<Vec<Hostname>, ConfigError> {
    if sans.len() + 1 > dcv_ct::limits::MAX_ORDER_NAMES {
        return Err(ConfigError::option(
            CheckOption::San,
            format!(
                "is given {} times: an order holds at most {} names with the hostname (Let's Encrypt)",
                sans.len(),
                dcv_ct::limits::MAX_ORDER_NAMES
            ),
        ));
    }
    sans.iter()
        .map(|s| {
            Hostname::parse(s)
                .map_err(|e| ConfigError::option(CheckOption::San, format!("{s:?}: {e}")))
        })
        .collect()
}

/// Validates `check` flags.
pub fn check_config(args: &CheckArgs) -> Result<CheckConfig, ConfigError> {
    let mut cfg = CheckSetup::from_flags(&args.dns, &args.ports, args.allow_private, args.timeout)?
        .config(&CheckOptions::from_check_args(args))?;
    cfg.sans = parse_sans(&args.sans)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> CheckSetup {
        CheckSetup(request::CheckSetup {
            dns: dcv_dns::EngineConfig::default(),
            http_port: 80,
            https_port: 443,
            http_phase_timeout: None,
            allow_private: false,
            timeout: Duration::from_secs(30),
        })
    }

    fn refused(opts: &CheckOptions) -> ConfigError {
        setup().config(opts).expect_err("accepted")
    }

    #[test]
    fn one_rule_names_the_flag_on_the_command_line_and_the_field_in_a_line() {
        let mut opts = CheckOptions::new("www.example.com");
        opts.http_token = Some("not a token!".to_owned());
        let e = refused(&opts);
        assert!(
            e.to_string()
                .starts_with("--http-token \"not a token!\" is not a token"),
            "{e}"
        );
        assert!(
            e.for_line()
                .starts_with("http_token \"not a token!\" is not a token"),
            "{}",
            e.for_line()
        );
    }

    #[test]
    fn every_option_rule_refuses() {
        let base = CheckOptions::new("www.example.com");
        let cases: Vec<(CheckOption, CheckOptions)> = vec![
            (
                CheckOption::HttpToken,
                CheckOptions {
                    http_token: Some("a".repeat(MAX_HTTP_TOKEN_LEN + 1)),
                    ..base.clone()
                },
            ),
            (
                CheckOption::HttpToken,
                CheckOptions {
                    http_token: Some(String::new()),
                    ..base.clone()
                },
            ),
            (
                CheckOption::HttpBody,
                CheckOptions {
                    http_body: Some("key-authz".to_owned()),
                    ..base.clone()
                },
            ),
            (
                CheckOption::TxtValue,
                CheckOptions {
                    txt_values: vec![String::new()],
                    ..base.clone()
                },
            ),
            (
                CheckOption::TxtValue,
                CheckOptions {
                    txt_values: vec!["v".to_owned(); MAX_TXT_VALUES + 1],
                    ..base.clone()
                },
            ),
            (
                CheckOption::AccountUri,
                CheckOptions {
                    account_uri: Some("http://acme.example/acct/1".to_owned()),
                    ..base.clone()
                },
            ),
            (
                CheckOption::DcvDelegation,
                CheckOptions {
                    dcv_delegation: Some("localhost".to_owned()),
                    ..base.clone()
                },
            ),
        ];
        for (option, opts) in cases {
            match refused(&opts) {
                ConfigError::Option { option: got, .. } => assert_eq!(got, option),
                other => panic!("{option}: {other}"),
            }
        }
        let mut wildcard = CheckOptions::new("*.example.com");
        wildcard.method = MethodArg::Http;
        assert!(matches!(
            refused(&wildcard),
            ConfigError::Hostname(InputError::WildcardWithHttp { .. })
        ));
    }

    #[test]
    fn a_delegation_adds_the_dns_method_and_line_values_use_the_flag_names() {
        let mut opts = CheckOptions::new("www.example.com");
        opts.method = parse_method("http").unwrap();
        opts.ca = parse_ca("google").unwrap();
        opts.dcv_delegation = Some("www.example.com.abc.dcv.cloudflare.com".to_owned());
        let cfg = setup().config(&opts).unwrap();
        assert_eq!(cfg.methods, [Method::Http, Method::Dns]);
        assert_eq!(cfg.cas, [CaId::Google]);
        let e = parse_ca("digicert").unwrap_err();
        assert_eq!(
            e.for_line(),
            "ca \"digicert\" is not one of letsencrypt, google, sslcom, sectigo, all"
        );
        assert!(
            parse_method("DNS").is_err(),
            "flag values are case-sensitive"
        );
    }
}
