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
use crate::identifier::Hostname;
use crate::model::{Method, Report, Verdict};
use crate::runner::Observations;

/// Most TXT values a request may carry (an apex and its wildcard need two).
pub const MAX_TXT_VALUES: usize = 16;
/// Longest HTTP-01 token accepted. RFC 8555 §8.1 asks for at least 128 bits
/// of entropy (22 base64url characters); real tokens are 43.
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
    /// Validates a request into the check it asks for, with this server's
    /// DNS view and address policy. The error says what is wrong, for a 400.
    pub fn check_config(&self, req: &CheckRequest) -> Result<CheckConfig, String> {
        let hostname = Hostname::parse(&req.hostname).map_err(|e| format!("hostname: {e}"))?;
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
            if cfg.hostname.is_wildcard() && methods.contains(&Method::Http) {
                return Err("a wildcard can only be validated by dns-01".to_owned());
            }
            cfg.methods = methods;
        }
        if let Some(token) = &req.http_token
            && (token.is_empty()
                || token.len() > MAX_TOKEN_LEN
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(format!(
                "http_token must be 1-{MAX_TOKEN_LEN} base64url characters (RFC 8555 §8.1)"
            ));
        }
        if req
            .http_body
            .as_ref()
            .is_some_and(|b| b.len() > MAX_VALUE_LEN)
        {
            return Err(format!("http_body: at most {MAX_VALUE_LEN} bytes"));
        }
        if req.txt_values.len() > MAX_TXT_VALUES
            || req
                .txt_values
                .iter()
                .any(|v| v.is_empty() || v.len() > MAX_VALUE_LEN)
        {
            return Err(format!(
                "txt_values: at most {MAX_TXT_VALUES} non-empty values of at most {MAX_VALUE_LEN} bytes"
            ));
        }
        if let Some(uri) = &req.account_uri
            && (!uri.starts_with("https://") || uri.len() > MAX_VALUE_LEN)
        {
            return Err("account_uri must be an https:// ACME account URL (RFC 8657 §3)".into());
        }
        cfg.http_token.clone_from(&req.http_token);
        cfg.http_body.clone_from(&req.http_body);
        cfg.txt_values.clone_from(&req.txt_values);
        if let Some(target) = &req.dcv_delegation {
            cfg.expect_delegation(target)
                .map_err(|e| format!("dcv_delegation: {e}"))?;
        }
        cfg.account_uri.clone_from(&req.account_uri);
        cfg.dns = self.dns.clone();
        cfg.dns.server_policy = if self.allow_private {
            self.dns.server_policy
        } else {
            dcv_dns::ServerPolicy::PublicOnly
        };
        cfg.http_port = self.http_port;
        cfg.https_port = self.https_port;
        cfg.http_phase_timeout = self.http_phase_timeout;
        cfg.allow_private = self.allow_private;
        cfg.timeout = self.check_timeout;
        Ok(cfg)
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

    use super::policy_may_explain_failure;

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
