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
        }
    }
}
