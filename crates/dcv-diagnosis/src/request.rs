//! A check asked for over the network, by the MPIC agent's `POST /v1/check`
//! and the web service's `POST /api/v1/checks`: the request's JSON shape, its
//! validation into a [`CheckConfig`] under the server's own DNS view and
//! address policy, and the public-only refusal both servers apply (a public
//! checker must not be an open proxy into private networks).

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ca::CaId;
use crate::codes::FindingCode;
use crate::config::CheckConfig;
use crate::identifier::{Hostname, InputError};
use crate::model::{Method, Report, Verdict};
use crate::runner::Observations;

/// Most expected TXT values in one check: an apex and its wildcard need two
/// (RFC 8555 §8.4), a few pending orders a few more.
pub const MAX_TXT_VALUES: usize = 16;
/// Longest HTTP-01 token accepted. RFC 8555 §8.1 asks for at least 128 bits
/// of entropy (22 base64url characters) and sets no maximum; Boulder's are
/// 43 characters.
pub const MAX_TOKEN_LEN: usize = 256;
/// Longest expected body or TXT value accepted: a key authorisation is a
/// token, a dot and a 43-character thumbprint (RFC 8555 §8.1), a DNS-01
/// value 43 characters (§8.4).
pub const MAX_VALUE_LEN: usize = 1024;

/// What to check, never how to reach DNS: a server uses its own root hints,
/// trust anchor and resolver, from where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub hostname: String,
    #[serde(default)]
    pub ca: Vec<CaId>,
    #[serde(default)]
    pub method: Vec<Method>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_body: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub txt_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_uri: Option<String>,
    /// The expected Delegated DCV target (cloudflare-dcv.md §2.4), so remote
    /// perspectives check the `_acme-challenge` CNAME too. Optional, so older
    /// coordinators' requests still parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcv_delegation: Option<String>,
}

impl CheckRequest {
    /// The request that makes a remote check the same check as `cfg`.
    pub fn from_config(cfg: &CheckConfig) -> CheckRequest {
        CheckRequest {
            hostname: cfg.hostname.to_string(),
            ca: cfg.cas.clone(),
            method: cfg.methods.clone(),
            http_token: cfg.http_token.clone(),
            http_body: cfg.http_body.clone(),
            txt_values: cfg.txt_values.clone(),
            account_uri: cfg.account_uri.clone(),
            dcv_delegation: cfg.dcv_delegation.clone(),
        }
    }
}

/// One option of a check, as the command line, a batch line and a request
/// name it: one rule set ([`CheckSetup::config`]) names the option that
/// broke it, and each face says it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOption {
    Ca,
    Method,
    HttpToken,
    HttpBody,
    TxtValue,
    DcvDelegation,
    AccountUri,
    San,
}

impl CheckOption {
    /// The `check` flag.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Ca => "--ca",
            Self::Method => "--method",
            Self::HttpToken => "--http-token",
            Self::HttpBody => "--http-body",
            Self::TxtValue => "--txt-value",
            Self::DcvDelegation => "--dcv-delegation",
            Self::AccountUri => "--account-uri",
            Self::San => "--san",
        }
    }

    /// The request's JSON key and the batch line's column (CSV) or key (JSON
    /// Lines; `txt_values` there is the list of `txt_value`s).
    pub fn field(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::Method => "method",
            Self::HttpToken => "http_token",
            Self::HttpBody => "http_body",
            Self::TxtValue => "txt_value",
            Self::DcvDelegation => "dcv_delegation",
            Self::AccountUri => "account_uri",
            Self::San => "san",
        }
    }
}

impl std::fmt::Display for CheckOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.field())
    }
}

/// Why a check request is bad input: the hostname, or one option and the
/// rule it breaks (`problem` reads after the option's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("invalid hostname: {0}")]
    Hostname(#[from] InputError),
    #[error("{} {problem}", option.field())]
    Option {
        option: CheckOption,
        problem: String,
    },
}

impl RequestError {
    fn option(option: CheckOption, problem: impl Into<String>) -> Self {
        Self::Option {
            option,
            problem: problem.into(),
        }
    }
}

/// What every check of one command or server shares: where DNS starts and
/// how it is trusted, the ports the CA's fetch maps to, whether private
/// addresses count as reachable, and the time limit. [`CheckSetup::config`]
/// is the one place a check's options are validated, for `check`, `batch`,
/// the agent, `serve` and workers alike.
#[derive(Debug, Clone)]
pub struct CheckSetup {
    pub dns: dcv_dns::EngineConfig,
    pub http_port: u16,
    pub https_port: u16,
    pub http_phase_timeout: Option<Duration>,
    pub allow_private: bool,
    /// Upper bound on one check.
    pub timeout: Duration,
}

impl CheckSetup {
    /// Validates what one check asks for (empty `ca`: every CA; empty
    /// `method`: both, DNS-01 alone for a wildcard) and makes its
    /// configuration under this setup.
    pub fn config(&self, req: &CheckRequest) -> Result<CheckConfig, RequestError> {
        let hostname = Hostname::parse(&req.hostname)?;
        let mut cfg = CheckConfig::new(hostname);
        if !req.ca.is_empty() {
            let mut cas = req.ca.clone();
            cas.sort();
            cas.dedup();
            cfg.cas = cas;
        }
        if !req.method.is_empty() {
            let mut methods = req.method.clone();
            methods.sort();
            methods.dedup();
            // RFC 8555 §8.3, BR 3.2.2.4.19: HTTP cannot prove a wildcard.
            if cfg.hostname.is_wildcard() && methods.contains(&Method::Http) {
                return Err(InputError::WildcardWithHttp {
                    name: cfg.hostname.to_string(),
                }
                .into());
            }
            cfg.methods = methods;
        }
        if let Some(token) = &req.http_token {
            // RFC 8555 §8.1: tokens are base64url characters only.
            if token.is_empty()
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(RequestError::option(
                    CheckOption::HttpToken,
                    format!(
                        "{token:?} is not a token: ACME tokens use base64url characters only (RFC 8555 §8.1)"
                    ),
                ));
            }
            if token.len() > MAX_TOKEN_LEN {
                return Err(RequestError::option(
                    CheckOption::HttpToken,
                    format!(
                        "is {} characters long; at most {MAX_TOKEN_LEN}",
                        token.len()
                    ),
                ));
            }
        }
        if let Some(body) = &req.http_body {
            if req.http_token.is_none() {
                return Err(RequestError::option(
                    CheckOption::HttpBody,
                    format!(
                        "needs {}: the body is what that token's URL must serve",
                        CheckOption::HttpToken.field()
                    ),
                ));
            }
            if body.len() > MAX_VALUE_LEN {
                return Err(RequestError::option(
                    CheckOption::HttpBody,
                    format!("is {} bytes long; at most {MAX_VALUE_LEN}", body.len()),
                ));
            }
        }
        if req.txt_values.iter().any(String::is_empty) {
            return Err(RequestError::option(
                CheckOption::TxtValue,
                "must not be empty",
            ));
        }
        if let Some(long) = req.txt_values.iter().find(|v| v.len() > MAX_VALUE_LEN) {
            return Err(RequestError::option(
                CheckOption::TxtValue,
                format!("is {} bytes long; at most {MAX_VALUE_LEN}", long.len()),
            ));
        }
        if req.txt_values.len() > MAX_TXT_VALUES {
            return Err(RequestError::option(
                CheckOption::TxtValue,
                format!(
                    "is given {} times; at most {MAX_TXT_VALUES} values",
                    req.txt_values.len()
                ),
            ));
        }
        if let Some(uri) = &req.account_uri {
            validate_account_uri(uri)?;
        }
        cfg.http_token.clone_from(&req.http_token);
        cfg.http_body.clone_from(&req.http_body);
        cfg.txt_values.clone_from(&req.txt_values);
        if let Some(target) = &req.dcv_delegation {
            cfg.expect_delegation(target)
                .map_err(|e| RequestError::option(CheckOption::DcvDelegation, e))?;
        }
        cfg.account_uri.clone_from(&req.account_uri);
        cfg.dns = self.dns.clone();
        cfg.http_port = self.http_port;
        cfg.https_port = self.https_port;
        cfg.http_phase_timeout = self.http_phase_timeout;
        cfg.allow_private = self.allow_private;
        cfg.timeout = self.timeout;
        Ok(cfg)
    }
}

/// An ACME account URI as RFC 8657 §3 `accounturi` compares it: an https URL.
pub fn validate_account_uri(uri: &str) -> Result<(), RequestError> {
    if !uri.starts_with("https://") {
        return Err(RequestError::option(
            CheckOption::AccountUri,
            format!("{uri:?} must be an https:// ACME account URL (RFC 8657 §3)"),
        ));
    }
    if uri.len() > MAX_VALUE_LEN {
        return Err(RequestError::option(
            CheckOption::AccountUri,
            format!("is {} bytes long; at most {MAX_VALUE_LEN}", uri.len()),
        ));
    }
    Ok(())
}

/// Where a server runs the checks it is asked for: its DNS view, the ports
/// the CA's fetch maps to, its address policy and time bound.
#[derive(Debug, Clone)]
pub struct ServerCheckPolicy {
    /// The server's own DNS view: root hints, trust anchor, port.
    pub dns: dcv_dns::EngineConfig,
    pub http_port: u16,
    pub https_port: u16,
    pub http_phase_timeout: Option<Duration>,
    /// Check targets on private/loopback/reserved addresses (lab use only).
    /// Without it the DNS engine runs with [`dcv_dns::ServerPolicy::PublicOnly`]
    /// (whatever `dns` says): a name server address named by a stranger's
    /// delegation, or by the server's own root hints, is never queried, and
    /// the HTTP probe never connects to a reserved address.
    pub allow_private: bool,
    /// Upper bound on one check.
    pub check_timeout: Duration,
}

impl ServerCheckPolicy {
    /// The setup a server's checks run under: its own, public-only unless
    /// `allow_private`.
    pub fn setup(&self) -> CheckSetup {
        let mut dns = self.dns.clone();
        if !self.allow_private {
            dns.server_policy = dcv_dns::ServerPolicy::PublicOnly;
        }
        CheckSetup {
            dns,
            http_port: self.http_port,
            https_port: self.https_port,
            http_phase_timeout: self.http_phase_timeout,
            allow_private: self.allow_private,
            timeout: self.check_timeout,
        }
    }

    /// Validates a request into the check it asks for, with this server's
    /// DNS view and address policy ([`CheckSetup::config`]'s rules, the same
    /// as the command line's). The error says what is wrong, for a 400.
    pub fn check_config(&self, req: &CheckRequest) -> Result<CheckConfig, String> {
        self.setup().config(req).map_err(|e| e.to_string())
    }
}

/// Why a finished check must be refused rather than shown, under the
/// public-only policy (`None`: show it). `who` names the server in the
/// message ("this agent", "this server").
///
/// A walk that met a name server it may not query, and failed, may have
/// failed because of the policy rather than the domain; a check that passed
/// anyway (another, public server answered, as it would for the CA) is
/// shown with that evidence. A target that needs reserved addresses is
/// refused whatever the verdict.
pub fn public_only_refusal(
    report: &Report,
    observations: Option<&Observations>,
    who: &str,
) -> Option<String> {
    let servers = refused_name_servers(observations);
    if policy_may_explain_failure(report.verdict, &servers) {
        return Some(format!(
            "refused: the check needs name servers on private, loopback or reserved addresses ({}); {who} queries public name servers only and sent them nothing (start it with --allow-private for a lab)",
            refused_servers_text(&servers)
        ));
    }
    let reserved: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::ReservedAddress)
        .map(|f| f.summary.as_str())
        .collect();
    if !reserved.is_empty() {
        return Some(format!(
            "refused: the target needs private, loopback or reserved addresses ({}); {who} checks public targets only (start it with --allow-private for a lab)",
            reserved.join("; ")
        ));
    }
    None
}

/// Name server addresses the check's DNS engine refused to query under
/// [`dcv_dns::ServerPolicy::PublicOnly`], each with its reserved range, in
/// address order, from the evidence of every lookup and path probe.
pub fn refused_name_servers(obs: Option<&Observations>) -> Vec<(IpAddr, dcv_dns::ReservedRange)> {
    let Some(obs) = obs else {
        return Vec::new();
    };
    let lookups = [&obs.tld, &obs.a, &obs.aaaa, &obs.txt]
        .into_iter()
        .flatten()
        .chain(&obs.caa)
        .chain(&obs.txt_doubled);
    let exchanges = lookups.flat_map(|l| &l.exchanges).chain(
        obs.paths
            .iter()
            .flat_map(|p| &p.probes)
            .filter_map(|p| p.exchange.as_ref()),
    );
    let mut found: Vec<(IpAddr, dcv_dns::ReservedRange)> = Vec::new();
    for e in exchanges {
        if let Some(range) = e.refused_range()
            && !found.iter().any(|(ip, _)| *ip == e.server.ip())
        {
            found.push((e.server.ip(), range.clone()));
        }
    }
    found.sort_by_key(|(ip, _)| *ip);
    found
}

/// Whether refused name servers turn a report into a refusal: only when the
/// check failed, since then the refusal (not the domain) may be the cause.
pub fn policy_may_explain_failure(
    verdict: Verdict,
    refused: &[(IpAddr, dcv_dns::ReservedRange)],
) -> bool {
    verdict == Verdict::Fail && !refused.is_empty()
}

/// `name server 127.0.0.1 is in 127.0.0.0/8 (Loopback, ...); ...`, at most
/// five, then a count.
fn refused_servers_text(servers: &[(IpAddr, dcv_dns::ReservedRange)]) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = servers
        .iter()
        .take(SHOWN)
        .map(|(ip, range)| format!("name server {ip} is in {range}"))
        .collect();
    if servers.len() > SHOWN {
        parts.push(format!("and {} more", servers.len() - SHOWN));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::model::Verdict;

    use super::{
        CheckOption, CheckRequest, RequestError, ServerCheckPolicy, policy_may_explain_failure,
    };

    fn request(hostname: &str) -> CheckRequest {
        CheckRequest {
            hostname: hostname.to_owned(),
            ca: Vec::new(),
            method: Vec::new(),
            http_token: None,
            http_body: None,
            txt_values: Vec::new(),
            account_uri: None,
            dcv_delegation: None,
        }
    }

    fn server() -> ServerCheckPolicy {
        ServerCheckPolicy {
            dns: dcv_dns::EngineConfig::default(),
            http_port: 80,
            https_port: 443,
            http_phase_timeout: None,
            allow_private: false,
            check_timeout: std::time::Duration::from_secs(30),
        }
    }

    /// A server's request meets the command line's rules (one rule set): a
    /// body without its token, an over-long TXT value and a wildcard over
    /// HTTP are refused naming the option, and a public server never
    /// queries private name servers.
    #[test]
    fn a_server_request_meets_the_command_lines_rules() {
        let option_of = |req: &CheckRequest| match server().setup().config(req) {
            Err(RequestError::Option { option, .. }) => Some(option),
            _ => None,
        };
        let mut body_only = request("www.example.com");
        body_only.http_body = Some("key-authz".to_owned());
        assert_eq!(option_of(&body_only), Some(CheckOption::HttpBody));
        let mut long_txt = request("www.example.com");
        long_txt.txt_values = vec!["v".repeat(super::MAX_VALUE_LEN + 1)];
        assert_eq!(option_of(&long_txt), Some(CheckOption::TxtValue));
        let mut wildcard = request("*.example.com");
        wildcard.method = vec![crate::Method::Http];
        assert!(
            server()
                .check_config(&wildcard)
                .unwrap_err()
                .contains("HTTP validation cannot prove control of a wildcard"),
        );
        let cfg = server().check_config(&request("*.example.com")).unwrap();
        assert_eq!(cfg.methods, [crate::Method::Dns]);
        assert_eq!(cfg.dns.server_policy, dcv_dns::ServerPolicy::PublicOnly);
    }

    /// A refused private name server makes a refusal only when the check
    /// failed; a domain that still validates through its public servers gets
    /// a report.
    #[test]
    fn refused_name_servers_refuse_only_failed_checks() {
        let ip: IpAddr = "10.0.0.53".parse().unwrap();
        let range = dcv_ip_policy::classify(ip).unwrap();
        let refused = [(ip, range)];
        assert!(policy_may_explain_failure(Verdict::Fail, &refused));
        assert!(!policy_may_explain_failure(Verdict::Pass, &refused));
        assert!(!policy_may_explain_failure(Verdict::Warn, &refused));
        assert!(!policy_may_explain_failure(Verdict::Fail, &[]));
    }
}
