//! Flags to a validated `CheckConfig` (ripgrep's lowargs→hiargs idea). Every
//! error here is bad input: one line naming what is wrong, exit status 2.

use std::time::Duration;

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::identifier::{Hostname, InputError};
use dcv_diagnosis::{CaId, Method};
use thiserror::Error;

use crate::cli::{BatchArgs, CaArg, CheckArgs, DnsSourceArgs, MethodArg};
use crate::input_file::{FileError, InputFile};

/// Bad input, reported on one line with exit status 2.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("invalid hostname: {0}")]
    Hostname(#[from] InputError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}")]
    Invalid(String),
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

/// The methods a `--method` value selects for this name: a wildcard can only
/// be validated by DNS-01 (RFC 8555 §8.3, BR 3.2.2.4.19).
fn methods_for(method: MethodArg, hostname: &Hostname) -> Result<Vec<Method>, ConfigError> {
    Ok(match method {
        MethodArg::Http => {
            if hostname.is_wildcard() {
                return Err(InputError::WildcardWithHttp {
                    name: hostname.to_string(),
                }
                .into());
            }
            vec![Method::Http]
        }
        MethodArg::Dns => vec![Method::Dns],
        MethodArg::All if hostname.is_wildcard() => vec![Method::Dns],
        MethodArg::All => vec![Method::Http, Method::Dns],
    })
}

/// `batch` flags, validated once; [`BatchTemplate::config_for`] makes each
/// line's check.
#[derive(Debug, Clone)]
pub struct BatchTemplate {
    ca: CaArg,
    method: MethodArg,
    dns: dcv_dns::EngineConfig,
    http_port: u16,
    https_port: u16,
    allow_private: bool,
    timeout: Duration,
}

impl BatchTemplate {
    /// Validates the flags every line shares (root hints, trust anchor, ...).
    pub fn new(args: &BatchArgs) -> Result<Self, ConfigError> {
        let timeout = Duration::from_secs(args.timeout);
        Ok(Self {
            ca: args.ca,
            method: args.method,
            dns: dns_config(&args.dns, timeout)?,
            http_port: args.ports.http_port,
            https_port: args.ports.https_port,
            allow_private: args.allow_private,
            timeout,
        })
    }

    /// The check for one input line (already trimmed), or why it is not a
    /// hostname this check can take.
    pub fn config_for(&self, line: &str) -> Result<CheckConfig, ConfigError> {
        let hostname = Hostname::parse(line)?;
        let mut cfg = CheckConfig::new(hostname);
        cfg.methods = methods_for(self.method, &cfg.hostname)?;
        cfg.cas = cas_for(self.ca);
        cfg.dns = self.dns.clone();
        cfg.http_port = self.http_port;
        cfg.https_port = self.https_port;
        cfg.allow_private = self.allow_private;
        cfg.timeout = self.timeout;
        Ok(cfg)
    }
}

/// Validates `check` flags.
pub fn check_config(args: &CheckArgs) -> Result<CheckConfig, ConfigError> {
    let hostname = Hostname::parse(&args.hostname)?;
    let timeout = Duration::from_secs(args.timeout);
    let methods = methods_for(args.method, &hostname)?;
    if let Some(token) = &args.http_token {
        // RFC 8555 §8.1: tokens are base64url characters only.
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::Invalid(format!(
                "--http-token {token:?} is not a token: ACME tokens use base64url characters only (RFC 8555 §8.1)"
            )));
        }
    }
    if args.txt_values.iter().any(String::is_empty) {
        return Err(ConfigError::Invalid(
            "--txt-value must not be empty".to_owned(),
        ));
    }
    if let Some(uri) = &args.account_uri
        && !uri.starts_with("https://")
    {
        return Err(ConfigError::Invalid(format!(
            "--account-uri {uri:?} must be an https:// ACME account URL (RFC 8657 §3)"
        )));
    }
    let mut cfg = CheckConfig {
        cas: cas_for(args.ca),
        methods,
        http_token: args.http_token.clone(),
        http_body: args.http_body.clone(),
        txt_values: args.txt_values.clone(),
        dns: dns_config(&args.dns, timeout)?,
        http_port: args.ports.http_port,
        https_port: args.ports.https_port,
        allow_private: args.allow_private,
        timeout,
        account_uri: args.account_uri.clone(),
        http_phase_timeout: None,
        dcv_delegation: None,
        vantage_preflight: true,
        hostname,
    };
    if let Some(target) = &args.dcv_delegation {
        cfg.expect_delegation(target)
            .map_err(|e| ConfigError::Invalid(format!("--dcv-delegation: {e}")))?;
    }
    Ok(cfg)
}
