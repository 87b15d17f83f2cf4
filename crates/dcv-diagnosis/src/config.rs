//! The validated configuration of one check. The CLI (and later the API) map
//! their inputs into this; the runner never sees flags.

use std::time::Duration;

use crate::ca::CaId;
use crate::identifier::Hostname;
use crate::model::Method;

/// Ports the CA uses; the lab maps them elsewhere with `--http-port`/`--https-port`.
pub const CA_HTTP_PORT: u16 = 80;
pub const CA_HTTPS_PORT: u16 = 443;

/// Everything one check needs, already validated.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub hostname: Hostname,
    pub cas: Vec<CaId>,
    pub methods: Vec<Method>,
    /// The HTTP-01 token (file name under `/.well-known/acme-challenge/`); a
    /// random probe token when absent.
    pub http_token: Option<String>,
    /// The expected body (key authorisation) at that URL.
    pub http_body: Option<String>,
    /// Expected DNS-01 TXT values (apex + wildcard need two).
    pub txt_values: Vec<String>,
    /// The DNS engine's configuration (root hints, trust anchors, port).
    pub dns: dcv_dns::EngineConfig,
    pub http_port: u16,
    pub https_port: u16,
    /// Treat private/loopback/reserved addresses as reachable (lab use); without
    /// it they are themselves a blocking finding.
    pub allow_private: bool,
    /// Upper bound on the whole check.
    pub timeout: Duration,
    /// ACME account URI to test RFC 8657 `accounturi` against.
    pub account_uri: Option<String>,
    /// Per-phase HTTP timeout (connect, TLS, response head, body). `None`:
    /// Boulder's own (10 s dial); labs shorten it.
    pub http_phase_timeout: Option<Duration>,
    /// The expected Delegated DCV target (cloudflare-dcv.md §2.4:
    /// `_acme-challenge.<host> CNAME <host>.<uuid>.dcv.cloudflare.com`, or a
    /// target for custom hostnames), as a lower-case FQDN with the trailing dot. When set, the
    /// DNS-01 rules check the CNAME at `_acme-challenge.<host>` against it.
    /// Built with [`parse_delegation_target`].
    pub dcv_delegation: Option<String>,
    /// Ask the root servers what this machine can test before trusting what
    /// it sees (`rules::vantage`, issue #15 §4). On by default; off only for
    /// a reference measurement (the `full_check` bench) or a caller that
    /// already knows its vantage point.
    pub vantage_preflight: bool,
}

impl CheckConfig {
    /// A config with production defaults for `hostname`: every partner CA,
    /// every method, IANA root, CA ports.
    pub fn new(hostname: Hostname) -> CheckConfig {
        let methods = if hostname.is_wildcard() {
            vec![Method::Dns]
        } else {
            vec![Method::Http, Method::Dns]
        };
        CheckConfig {
            hostname,
            cas: CaId::ALL.to_vec(),
            methods,
            http_token: None,
            http_body: None,
            txt_values: Vec::new(),
            dns: dcv_dns::EngineConfig::default(),
            http_port: CA_HTTP_PORT,
            https_port: CA_HTTPS_PORT,
            allow_private: false,
            timeout: Duration::from_secs(30),
            account_uri: None,
            http_phase_timeout: None,
            dcv_delegation: None,
            vantage_preflight: true,
        }
    }

    /// Expects Delegated DCV to `target` ([`parse_delegation_target`]'s rules).
    /// Delegated DCV is a DNS-01 setup (cloudflare-dcv.md §2.4), so the DNS
    /// method is checked whatever methods were chosen.
    pub fn expect_delegation(&mut self, target: &str) -> Result<(), String> {
        self.dcv_delegation = Some(parse_delegation_target(target)?);
        if !self.methods.contains(&Method::Dns) {
            self.methods.push(Method::Dns);
        }
        Ok(())
    }
}

/// Validates a Delegated DCV target (cloudflare-dcv.md §2.4) and normalises it
/// to a lower-case FQDN with one trailing dot. On top of the DNS name rules
/// [`dcv_dns::DnsName::parse`] enforces (label and name lengths, no empty
/// label), the target must use RFC 1035 §2.3.1's letters, digits and hyphens
/// (RFC 1123 §2.1 lets a label start with a digit) plus `_`, since delegation
/// targets are not hostnames (RFC 2181 §11); it has at least two labels and is
/// neither a wildcard nor an IP literal. The error says what is wrong, for the
/// CLI's exit-2 line and the agent's 400.
pub fn parse_delegation_target(input: &str) -> Result<String, String> {
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "{input:?} is an IP address; the delegation target is a DNS name such as <host>.<id>.dcv.cloudflare.com"
        ));
    }
    if let Some(ch) = trimmed
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{input:?} contains {ch:?}; a DNS name uses letters, digits, '-' and '_' (RFC 1035 §2.3.1)"
        ));
    }
    if let Some(label) = trimmed
        .split('.')
        .find(|l| l.starts_with('-') || l.ends_with('-'))
    {
        return Err(format!(
            "{input:?}: label {label:?} starts or ends with '-' (RFC 1035 §2.3.1)"
        ));
    }
    let name = dcv_dns::DnsName::parse(trimmed).map_err(|e| e.to_string())?;
    if name.label_count() < 2 {
        return Err(format!(
            "{input:?} has fewer than two labels; the delegation target is a fully qualified name such as <host>.<id>.dcv.cloudflare.com"
        ));
    }
    Ok(name.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_delegation_target;

    #[test]
    fn delegation_targets_are_normalised_or_refused() {
        assert_eq!(
            parse_delegation_target("WWW.Example.com.0123456789ABCDEF.dcv.cloudflare.com."),
            Ok("www.example.com.0123456789abcdef.dcv.cloudflare.com.".to_owned())
        );
        assert_eq!(parse_delegation_target("a.b"), Ok("a.b.".to_owned()));
        for bad in [
            "",
            ".",
            "localhost",
            "a..b",
            "*.example.com",
            "exa mple.com",
            "-a.example.com",
            "192.0.2.1",
            "https://x.dcv.cloudflare.com",
        ] {
            assert!(parse_delegation_target(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(parse_delegation_target(&long).is_err());
    }
}
