//! Multi-Perspective Issuance Corroboration (CA/B Forum BR 3.2.2.9).
//!
//! * The **agent** (`dcv-doctor agent`) is one remote network perspective: it
//!   serves `POST /v1/check` over TLS with a bearer token, runs the check from
//!   where it is with its own fresh DNS engine (BR 3.2.2.9: no cache shared
//!   between perspectives) and answers with the [`Report`] and its identity.
//! * The **coordinator** (`check --perspectives FILE` / `--perspective URL`)
//!   runs the primary check here and asks every agent at once, then applies
//!   the quorum of `dcv-mpic` per CA, method and check (CAA, DCV) and adds the
//!   `mpic_*` and `perspective_unavailable` findings to the primary's report.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::identifier::Hostname;
use dcv_diagnosis::{CaId, Evidence, Finding, FindingCode, Method, Report, Severity, WhoFixes};
use dcv_mpic::{
    CaProfile, Check, Corroboration, MpicReport, PerspectiveInfo, QuorumOutcome, QuorumSummary,
    RemoteResult, Rir,
};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::cli::AgentArgs;
use crate::input_file::{FileError, InputFile};

/// The one endpoint an agent serves.
pub const AGENT_PATH: &str = "/v1/check";
/// Largest check request an agent reads (a request is a few hundred bytes).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// How much of an oversized body is read (and dropped) before answering 413.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;
/// Largest agent answer the coordinator reads (a report with full evidence).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Environment variable holding the bearer token for `--perspective URL`.
pub const TOKEN_ENV: &str = "DCV_DOCTOR_AGENT_TOKEN";
/// Environment variable naming the PEM file that pins `--perspective URL` agents' certificates.
pub const CA_CERT_ENV: &str = "DCV_DOCTOR_AGENT_CA_CERT";
/// Cloudflare's `validation_errors` message for a CAA MPIC failure.
pub const CLOUDFLARE_MPIC_CAA: &str = "Certificate authority encountered a multiple perspective CAA check error, please ensure your DNS is configured to allow CAA queries from all geographic perspectives";
/// Cloudflare's `validation_errors` message for a DCV MPIC failure.
pub const CLOUDFLARE_MPIC_DCV: &str = "Certificate authority was unable to verify domain ownership from multiple geographic locations (MPIC failure). Please ensure your DNS records are reachable from all geographic perspectives and try again.";

/// Time allowed for the TLS handshake and for the request head and body.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections an agent holds open at once, beyond which it drops new ones.
const MAX_CONNECTIONS: usize = 64;
/// Shortest bearer token an agent accepts.
const MIN_TOKEN_LEN: usize = 16;
/// Most TXT values a request may carry.
const MAX_TXT_VALUES: usize = 16;
/// Reference for every MPIC finding.
const REFERENCE: &str = "BR 3.2.2.9 (Multi-Perspective Issuance Corroboration); Cloudflare validation_errors (cloudflare-dcv.md §5); Boulder va/va.go doRemoteOperation";

/// Who a perspective is: carried in every agent answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub region: String,
    pub rir: Rir,
}

/// The body of `POST /v1/check`: what to check, never how to reach DNS (the
/// agent uses its own root hints and resolver, from where it is).
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

/// A successful agent answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentResponse {
    pub perspective: Identity,
    pub report: Report,
}

/// An agent's refusal, with a status other than 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perspective: Option<Identity>,
}

/// A running agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub identity: Identity,
    /// The bearer token every request must carry.
    pub token: String,
    /// PEM certificate chain and private key the agent serves.
    pub cert_pem: String,
    pub key_pem: String,
    /// Check targets on private/loopback/reserved addresses (lab use only).
    /// Without it the agent's DNS engine runs with
    /// [`dcv_dns::ServerPolicy::PublicOnly`] (whatever `dns` says): a name
    /// server address named by a stranger's delegation, or by the agent's own
    /// root hints, is never queried, and such a check is answered 403.
    pub allow_private: bool,
    /// The agent's own DNS view: root hints, trust anchor, port.
    pub dns: dcv_dns::EngineConfig,
    pub http_port: u16,
    pub https_port: u16,
    pub http_phase_timeout: Option<Duration>,
    /// Upper bound on one check.
    pub check_timeout: Duration,
    /// Checks run at once; more get 503.
    pub max_concurrent: usize,
}

impl AgentConfig {
    /// Validates a request into the check it asks for, with this agent's DNS
    /// view and address policy.
    fn check_config(&self, req: &CheckRequest) -> Result<CheckConfig, String> {
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
                || token.len() > 256
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err("http_token must be 1-256 base64url characters (RFC 8555 §8.1)".to_owned());
        }
        if req.txt_values.len() > MAX_TXT_VALUES || req.txt_values.iter().any(String::is_empty) {
            return Err(format!(
                "txt_values: at most {MAX_TXT_VALUES} non-empty values"
            ));
        }
        if let Some(uri) = &req.account_uri
            && !uri.starts_with("https://")
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

/// A listening agent; dropping it stops the accept loop.
#[derive(Debug)]
pub struct RunningAgent {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningAgent {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://ADDR/v1/check`.
    pub fn url(&self) -> String {
        format!("https://{}{AGENT_PATH}", self.addr)
    }

    /// Serves until the task ends (never, unless aborted).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct AgentState {
    cfg: AgentConfig,
    checks: Arc<Semaphore>,
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_tls(cert_pem: &str, key_pem: &str) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("TLS certificate PEM")?;
    anyhow::ensure!(
        !certs.is_empty(),
        "no certificate in the TLS certificate PEM"
    );
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("TLS key PEM")?;
    let cfg = rustls::ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(cfg))
}

/// A self-signed certificate for `names` (IP literals become IP SANs):
/// `(cert_pem, key_pem)`.
pub fn self_signed(names: &[String]) -> anyhow::Result<(String, String)> {
    let key = rcgen::generate_simple_self_signed(names.to_vec())?;
    Ok((key.cert.pem(), key.signing_key.serialize_pem()))
}

/// Binds `listen` and serves the agent until the returned handle is dropped.
pub async fn start_agent(listen: SocketAddr, cfg: AgentConfig) -> anyhow::Result<RunningAgent> {
    anyhow::ensure!(
        cfg.token.len() >= MIN_TOKEN_LEN,
        "the agent token must be at least {MIN_TOKEN_LEN} characters"
    );
    let tls = tokio_rustls::TlsAcceptor::from(server_tls(&cfg.cert_pem, &cfg.key_pem)?);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AgentState {
        checks: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
        cfg,
    });
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // Over the connection cap: drop it (the client sees a reset).
            let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                continue;
            };
            let tls = tls.clone();
            let state = Arc::clone(&state);
            let budget = state.cfg.check_timeout + 2 * IO_TIMEOUT;
            tokio::spawn(async move {
                let _permit = permit;
                let _ = tokio::time::timeout(budget, serve_connection(stream, tls, state)).await;
            });
        }
    });
    Ok(RunningAgent { addr, task })
}

async fn serve_connection(
    stream: TcpStream,
    tls: tokio_rustls::TlsAcceptor,
    state: Arc<AgentState>,
) {
    let Ok(Ok(stream)) = tokio::time::timeout(IO_TIMEOUT, tls.accept(stream)).await else {
        return;
    };
    let service = service_fn(move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(&state, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(IO_TIMEOUT)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn refuse(state: &AgentState, status: StatusCode, error: String) -> Response<Full<Bytes>> {
    let mut resp = json_response(
        status,
        &AgentError {
            error,
            perspective: Some(state.cfg.identity.clone()),
        },
    );
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer realm=\"dcv-doctor agent\""),
        );
    }
    resp
}

/// Compares in time that depends only on the expected token's length.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ e;
    }
    diff == 0
}

fn authorised(state: &AgentState, req: &Request<Incoming>) -> bool {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(token) = value
        .strip_prefix(b"Bearer ")
        .or_else(|| value.strip_prefix(b"bearer "))
    else {
        return false;
    };
    constant_time_eq(token, state.cfg.token.as_bytes())
}

async fn handle(state: &AgentState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != AGENT_PATH {
        return refuse(
            state,
            StatusCode::NOT_FOUND,
            format!("only POST {AGENT_PATH} is served"),
        );
    }
    if req.method() != hyper::Method::POST {
        return refuse(
            state,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{AGENT_PATH} takes POST"),
        );
    }
    if !authorised(state, &req) {
        return refuse(
            state,
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".to_owned(),
        );
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT_BYTES as u64) {
        return too_large(state);
    }
    // Read up to DRAIN_LIMIT_BYTES, so a client that sent a body a little over
    // the cap has finished writing and can read our 413 instead of seeing its
    // connection reset mid-request; then enforce the real cap.
    let body = Limited::new(req.into_body(), DRAIN_LIMIT_BYTES).collect();
    let body = match tokio::time::timeout(IO_TIMEOUT, body).await {
        Err(_) => {
            return refuse(
                state,
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time".to_owned(),
            );
        }
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return too_large(state);
        }
        Ok(Err(e)) => {
            return refuse(
                state,
                StatusCode::BAD_REQUEST,
                format!("reading the body: {e}"),
            );
        }
        Ok(Ok(b)) => b.to_bytes(),
    };
    if body.len() > MAX_REQUEST_BYTES {
        return too_large(state);
    }
    let request: CheckRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                state,
                StatusCode::BAD_REQUEST,
                format!("malformed check request (JSON): {e}"),
            );
        }
    };
    let cfg = match state.cfg.check_config(&request) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                state,
                StatusCode::BAD_REQUEST,
                format!("invalid check request: {e}"),
            );
        }
    };
    let Ok(_permit) = Arc::clone(&state.checks).try_acquire_owned() else {
        let mut resp = refuse(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "busy: {} checks already running",
                state.cfg.max_concurrent.max(1)
            ),
        );
        resp.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        return resp;
    };
    let limit = state.cfg.check_timeout + Duration::from_secs(2);
    let run = dcv_diagnosis::runner::run_check_observed(cfg);
    let Ok((report, observations)) = tokio::time::timeout(limit, run).await else {
        return refuse(
            state,
            StatusCode::GATEWAY_TIMEOUT,
            format!("check did not finish within {}s", limit.as_secs()),
        );
    };
    if !state.cfg.allow_private {
        // Checked first: a walk that met a name server it may not query, and
        // failed, may have failed because of this agent's policy rather than
        // the domain. A check that passed anyway (another, public server
        // answered, as it would for the CA) is returned with that evidence.
        let servers = refused_name_servers(observations.as_ref());
        if policy_may_explain_failure(report.verdict, &servers) {
            return refuse(
                state,
                StatusCode::FORBIDDEN,
                format!(
                    "refused: the check needs name servers on private, loopback or reserved addresses ({}); this agent queries public name servers only and sent them nothing (start it with --allow-private for a lab)",
                    refused_servers_text(&servers)
                ),
            );
        }
        let reserved: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.code == FindingCode::ReservedAddress)
            .map(|f| f.summary.as_str())
            .collect();
        if !reserved.is_empty() {
            return refuse(
                state,
                StatusCode::FORBIDDEN,
                format!(
                    "refused: the target needs private, loopback or reserved addresses ({}); this agent checks public targets only (start it with --allow-private for a lab)",
                    reserved.join("; ")
                ),
            );
        }
    }
    json_response(
        StatusCode::OK,
        &AgentResponse {
            perspective: state.cfg.identity.clone(),
            report,
        },
    )
}

/// Name server addresses the check's DNS engine refused to query under
/// [`dcv_dns::ServerPolicy::PublicOnly`], each with its reserved range, in
/// address order, from the evidence of every lookup and path probe.
fn refused_name_servers(
    obs: Option<&dcv_diagnosis::runner::Observations>,
) -> Vec<(IpAddr, dcv_dns::ReservedRange)> {
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

/// Whether refused name servers turn a report into a 403: only when the
/// check failed, since then the refusal (not the domain) may be the cause.
fn policy_may_explain_failure(
    verdict: dcv_diagnosis::Verdict,
    refused: &[(IpAddr, dcv_dns::ReservedRange)],
) -> bool {
    verdict == dcv_diagnosis::Verdict::Fail && !refused.is_empty()
}

/// `127.0.0.1 is in 127.0.0.0/8 (Loopback, ...); ...`, at most five, then a count.
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

fn too_large(state: &AgentState) -> Response<Full<Bytes>> {
    refuse(
        state,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {MAX_REQUEST_BYTES} bytes"),
    )
}

/// A bearer token file: at least [`MIN_TOKEN_LEN`] printable characters.
fn read_token(file: &InputFile<'_>) -> Result<String, FileError> {
    let token = file.read_text()?.trim().to_owned();
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(file.malformed(format_args!(
            "the token must be at least {MIN_TOKEN_LEN} printable characters"
        )));
    }
    Ok(token)
}

/// `dcv-doctor agent`: validates the flags, starts the agent, serves until
/// interrupted.
pub async fn run_agent(args: &AgentArgs) -> anyhow::Result<std::process::ExitCode> {
    let token = read_token(&InputFile::new(&args.token_file, "token", "--token-file"))?;
    let rir: Rir = args.rir.parse()?;
    let check_timeout = Duration::from_secs(args.check_timeout);
    let dns = crate::config::dns_config(&args.dns, check_timeout)?;
    let (cert_pem, key_pem) = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => (
            InputFile::new(c, "TLS certificate", "--tls-cert").read_certificates_pem()?,
            InputFile::new(k, "TLS key", "--tls-key").read_private_key_pem()?,
        ),
        (None, None) => {
            let (cert, key) = self_signed(&[args.listen.ip().to_string()])?;
            match &args.cert_out {
                Some(path) => std::fs::write(path, &cert).with_context(|| {
                    format!(
                        "cannot write certificate file {} (named by --cert-out)",
                        path.display()
                    )
                })?,
                None => print!("{cert}"),
            }
            (cert, key)
        }
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    let cfg = AgentConfig {
        identity: Identity {
            name: args.name.clone(),
            region: args.region.clone(),
            rir,
        },
        token,
        cert_pem,
        key_pem,
        allow_private: args.allow_private,
        dns,
        http_port: args.ports.http_port,
        https_port: args.ports.https_port,
        http_phase_timeout: None,
        check_timeout,
        max_concurrent: usize::try_from(args.max_concurrent).unwrap_or(4),
    };
    let agent = start_agent(args.listen, cfg).await?;
    println!(
        "dcv-doctor agent {} ({}, {}) listening on {}",
        args.name,
        args.region,
        rir,
        agent.url()
    );
    tokio::select! {
        () = agent.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(std::process::ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- coordinator

/// One remote perspective the coordinator asks.
#[derive(Debug, Clone)]
pub struct PerspectiveSpec {
    pub name: String,
    /// `https://IP:PORT/v1/check` (an IP literal: dcv-doctor never uses the
    /// system resolver).
    pub url: String,
    pub region: String,
    /// The RIR it must be in; `None` (for `--perspective URL`): as the agent says.
    pub rir: Option<Rir>,
    pub token: String,
    /// PEM certificate(s) the agent's certificate must chain to (pinned).
    pub ca_cert_pem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerspectivesFile {
    #[serde(default)]
    perspective: Vec<PerspectiveEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerspectiveEntry {
    name: String,
    url: String,
    region: String,
    rir: String,
    token_file: PathBuf,
    ca_cert_file: PathBuf,
}

/// Reads a `--perspectives` TOML file (`[[perspective]]` tables); relative
/// paths are relative to the file.
pub fn load_perspectives(path: &Path) -> anyhow::Result<Vec<PerspectiveSpec>> {
    let list = InputFile::new(path, "perspectives", "--perspectives");
    let text = list.read_text()?;
    let file: PerspectivesFile = toml::from_str(&text).map_err(|e| {
        // toml's Display spans several lines; one line with its number reads better.
        let at = e
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| format!(" (line {})", before.matches('\n').count() + 1))
            .unwrap_or_default();
        list.malformed(format_args!("{}{at}", e.message().trim()))
    })?;
    if file.perspective.is_empty() {
        return Err(list.malformed("no [[perspective]] table").into());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for p in file.perspective {
        anyhow::ensure!(
            names.insert(p.name.clone()),
            "perspective {:?} is listed twice",
            p.name
        );
        let rir = p
            .rir
            .parse::<Rir>()
            .with_context(|| format!("perspective {:?}", p.name))?;
        parse_agent_url(&p.url).with_context(|| format!("perspective {:?}", p.name))?;
        // Relative paths are relative to the perspectives file.
        let key = |key: &str| format!("{key} of perspective {:?} in {}", p.name, path.display());
        let token_path = dir.join(&p.token_file);
        let cert_path = dir.join(&p.ca_cert_file);
        out.push(PerspectiveSpec {
            token: read_token(&InputFile::new(&token_path, "token", key("token_file")))?,
            ca_cert_pem: InputFile::new(&cert_path, "CA certificate", key("ca_cert_file"))
                .read_certificates_pem()?,
            name: p.name,
            url: p.url,
            region: p.region,
            rir: Some(rir),
        });
    }
    Ok(out)
}

/// A `--perspective URL`, with the token from [`TOKEN_ENV`] and the pinned
/// certificate from the file named by [`CA_CERT_ENV`].
pub fn perspective_from_url(url: &str) -> anyhow::Result<PerspectiveSpec> {
    let (ip, port) = parse_agent_url(url)?;
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| t.trim().len() >= MIN_TOKEN_LEN)
        .with_context(|| format!("--perspective needs the agent token in ${TOKEN_ENV}"))?;
    let cert = std::env::var_os(CA_CERT_ENV).with_context(|| {
        format!("--perspective needs ${CA_CERT_ENV} naming the agent's certificate (PEM)")
    })?;
    let cert = PathBuf::from(cert);
    Ok(PerspectiveSpec {
        name: SocketAddr::new(ip, port).to_string(),
        url: url.to_owned(),
        region: String::new(),
        rir: None,
        token: token.trim().to_owned(),
        ca_cert_pem: InputFile::new(&cert, "CA certificate", format!("${CA_CERT_ENV}"))
            .read_certificates_pem()?,
    })
}

fn parse_agent_url(url: &str) -> anyhow::Result<(IpAddr, u16)> {
    let u = url::Url::parse(url).with_context(|| format!("agent URL {url:?}"))?;
    anyhow::ensure!(u.scheme() == "https", "agent URL {url:?} must be https://");
    let ip = match u.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => anyhow::bail!(
            "agent URL {url:?} must name an IP address: dcv-doctor never uses the system resolver"
        ),
    };
    anyhow::ensure!(
        u.path() == AGENT_PATH || u.path() == "/",
        "agent URL {url:?}: the path must be {AGENT_PATH}"
    );
    Ok((ip, u.port_or_known_default().unwrap_or(443)))
}

/// A raw exchange with an agent: status and body (tests use it to probe the
/// agent's refusals). Every step is under `timeout`; the body is capped.
pub async fn post_raw(
    url: &str,
    token: Option<&str>,
    ca_cert_pem: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> anyhow::Result<(StatusCode, Bytes)> {
    tokio::time::timeout(timeout, post_inner(url, token, ca_cert_pem, body))
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {}s", timeout.as_secs_f32()))?
}

async fn post_inner(
    url: &str,
    token: Option<&str>,
    ca_cert_pem: &str,
    body: Vec<u8>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let (ip, port) = parse_agent_url(url)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_cert_pem.as_bytes()) {
        roots.add(cert.context("pinned certificate PEM")?)?;
    }
    anyhow::ensure!(!roots.is_empty(), "no certificate in the pinned PEM");
    let tls = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr = SocketAddr::new(ip, port);
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::IpAddress(ip.into()), tcp)
        .await
        .with_context(|| format!("TLS with {addr}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(hyper::Method::POST)
        .uri(AGENT_PATH)
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .header(hyper::header::CONNECTION, "close");
    if let Some(token) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let result = async {
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(body)))?)
            .await?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
            .to_bytes();
        Ok::<_, anyhow::Error>((status, bytes))
    }
    .await;
    driver.abort();
    result
}

/// Asks one agent for the check.
async fn ask(
    p: &PerspectiveSpec,
    request: &CheckRequest,
    timeout: Duration,
) -> Result<AgentResponse, String> {
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let (status, bytes) = post_raw(&p.url, Some(&p.token), &p.ca_cert_pem, body, timeout)
        .await
        .map_err(|e| format!("{e:#}"))?;
    if status != StatusCode::OK {
        let why = serde_json::from_slice::<AgentError>(&bytes).map_or_else(
            |_| String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            |e| e.error,
        );
        return Err(format!("agent answered {status}: {why}"));
    }
    let answer: AgentResponse =
        serde_json::from_slice(&bytes).map_err(|e| format!("unreadable agent answer: {e}"))?;
    if let Some(rir) = p.rir
        && rir != answer.perspective.rir
    {
        return Err(format!(
            "misconfigured: listed in {rir} but the agent says {}",
            answer.perspective.rir
        ));
    }
    Ok(answer)
}

/// How the coordinator applies BR 3.2.2.9.
#[derive(Debug, Clone)]
pub struct MpicOptions {
    /// The date whose BR 3.2.2.9 phase applies.
    pub as_of: time::Date,
    /// Upper bound on one agent exchange.
    pub perspective_timeout: Duration,
}

impl MpicOptions {
    /// Today's requirements; agents get the check's timeout plus slack.
    pub fn for_check(cfg: &CheckConfig) -> MpicOptions {
        MpicOptions {
            as_of: time::OffsetDateTime::now_utc().date(),
            perspective_timeout: cfg.timeout + Duration::from_secs(5),
        }
    }
}

/// Runs the primary check here and every remote perspective at once, then
/// adds the BR 3.2.2.9 findings and summary to the primary's report.
pub async fn run_mpic_check(
    cfg: CheckConfig,
    perspectives: &[PerspectiveSpec],
    opts: &MpicOptions,
) -> Report {
    let started = Instant::now();
    let request = CheckRequest::from_config(&cfg);
    let primary = dcv_diagnosis::runner::run_check(cfg.clone());
    let remotes = futures::future::join_all(
        perspectives
            .iter()
            .map(|p| ask(p, &request, opts.perspective_timeout)),
    );
    let (mut report, answers) = tokio::join!(primary, remotes);
    let answered: Vec<(&PerspectiveSpec, Result<AgentResponse, String>)> =
        perspectives.iter().zip(answers).collect();
    apply(&mut report, &answered, opts.as_of);
    report.timings_ms.insert(
        "mpic".to_owned(),
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
    report
}

/// Which check a blocking finding belongs to: CAA codes corroborate the CAA
/// decision, everything else the domain control validation.
fn check_of(code: FindingCode) -> Check {
    match code {
        FindingCode::CaaForbids
        | FindingCode::CaaCriticalUnknown
        | FindingCode::CaaLookupFailed => Check::Caa,
        _ => Check::Dcv,
    }
}

/// The error findings in `report` that stop `ca` on `method` for `check`.
fn blocking(report: &Report, ca: CaId, method: Method, check: Check) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| f.blocks.contains(&ca))
        .filter(|f| f.method.is_none_or(|m| m == method))
        .filter(|f| check_of(f.code) == check)
        .filter(|f| !is_mpic(f.code))
        .collect()
}

/// Whether a remote report is about the same name, CA and method.
fn covers(remote: &Report, hostname: &str, ca: CaId, method: Method) -> bool {
    remote.hostname == hostname
        && remote
            .ca_verdicts
            .iter()
            .any(|v| v.ca == ca && v.methods.iter().any(|m| m.method == method))
}

fn is_mpic(code: FindingCode) -> bool {
    matches!(
        code,
        FindingCode::MpicCaaDisagreement
            | FindingCode::MpicDcvDisagreement
            | FindingCode::PerspectiveUnavailable
    )
}

fn profile_of(ca: CaId) -> CaProfile {
    match ca {
        CaId::Letsencrypt => CaProfile::LetsEncrypt,
        _ => CaProfile::Br,
    }
}

fn describe(f: &Finding) -> String {
    format!("{}: {}", f.code, f.summary)
}

/// One perspective as the report names it.
struct Seen<'a> {
    spec: &'a PerspectiveSpec,
    name: String,
    region: String,
    rir: Option<Rir>,
    answer: Result<&'a Report, &'a str>,
}

fn apply(
    report: &mut Report,
    answered: &[(&PerspectiveSpec, Result<AgentResponse, String>)],
    as_of: time::Date,
) {
    let req = dcv_mpic::requirements(as_of);
    let seen: Vec<Seen> = answered
        .iter()
        .map(|(spec, a)| {
            let (region, rir) = match a {
                Ok(r) if spec.region.is_empty() => {
                    (r.perspective.region.clone(), Some(r.perspective.rir))
                }
                Ok(r) => (spec.region.clone(), Some(r.perspective.rir)),
                Err(_) => (spec.region.clone(), spec.rir),
            };
            Seen {
                spec,
                name: spec.name.clone(),
                region,
                rir,
                answer: a.as_ref().map(|r| &r.report).map_err(String::as_str),
            }
        })
        .collect();

    let mut quorums = Vec::new();
    let mut new_findings = Vec::new();
    for check in [Check::Caa, Check::Dcv] {
        for method in report.method.clone() {
            let mut per_ca: Vec<(CaId, QuorumSummary)> = Vec::new();
            for verdict in &report.ca_verdicts {
                if !verdict.methods.iter().any(|m| m.method == method) {
                    continue;
                }
                let ca = verdict.ca;
                // Let's Encrypt asks its remotes only once the primary's whole
                // validation passed (DCV and CAA); other CAs per check.
                let primary_passed = if profile_of(ca).remotes_after_primary() {
                    [Check::Caa, Check::Dcv]
                        .into_iter()
                        .all(|c| blocking(report, ca, method, c).is_empty())
                } else {
                    blocking(report, ca, method, check).is_empty()
                };
                let remotes: Vec<RemoteResult> = seen
                    .iter()
                    .map(|s| RemoteResult {
                        name: s.name.clone(),
                        rir: s.rir,
                        corroboration: match s.answer {
                            Err(why) => Corroboration::Unavailable {
                                detail: why.to_owned(),
                            },
                            // The agent's own network could not check (issue #15 §4):
                            // unavailable, never a disagreement about the domain.
                            Ok(r) if r.verdict == dcv_diagnosis::Verdict::CouldNotCheck => {
                                Corroboration::Unavailable {
                                    detail: r
                                        .findings
                                        .iter()
                                        .find(|f| f.code.leaves_unchecked())
                                        .map_or_else(
                                            || {
                                                "the agent could not check from where it runs"
                                                    .to_owned()
                                            },
                                            |f| format!("the agent {}", f.summary),
                                        ),
                                }
                            }
                            Ok(r) if !covers(r, &report.hostname, ca, method) => {
                                Corroboration::Unavailable {
                                    detail: format!(
                                        "the agent's report does not cover {} {method} for {}",
                                        serde_plain(ca),
                                        report.hostname
                                    ),
                                }
                            }
                            Ok(r) => {
                                let b = blocking(r, ca, method, check);
                                match b.first() {
                                    None => Corroboration::Corroborates,
                                    Some(f) => Corroboration::Differs {
                                        detail: f
                                            .acme_detail
                                            .clone()
                                            .unwrap_or_else(|| describe(f)),
                                    },
                                }
                            }
                        },
                    })
                    .collect();
                let summary = dcv_mpic::evaluate(
                    &serde_plain(ca),
                    &method.to_string(),
                    check,
                    profile_of(ca),
                    &req,
                    primary_passed,
                    &remotes,
                );
                per_ca.push((ca, summary));
            }
            if let Some(f) = disagreement_finding(report, &seen, check, method, &per_ca) {
                new_findings.push(f);
            }
            quorums.extend(per_ca.into_iter().map(|(_, s)| s));
        }
    }
    new_findings.extend(unavailable_findings(&seen, &quorums));

    let infos = seen
        .iter()
        .map(|s| PerspectiveInfo {
            name: s.name.clone(),
            region: s.region.clone(),
            rir: s.rir,
            status: match s.answer {
                Ok(_) => "ok".to_owned(),
                Err(why) => format!("unavailable: {why}"),
            },
        })
        .collect();
    report.mpic = Some(MpicReport::new(req, infos, quorums));

    for f in &new_findings {
        if f.severity != Severity::Error {
            continue;
        }
        for v in &mut report.ca_verdicts {
            if !f.blocks.contains(&v.ca) {
                continue;
            }
            for m in &mut v.methods {
                if f.method.is_none_or(|fm| fm == m.method) && !m.blocked_by.contains(&f.code) {
                    m.blocked_by.push(f.code);
                    m.would_validate = false;
                }
            }
            v.would_validate = v.methods.iter().all(|m| m.would_validate);
        }
    }
    report.findings.extend(new_findings);
    report
        .findings
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
    report.verdict = Report::fold_verdict(&report.ca_verdicts, &report.findings);
}

/// `letsencrypt`, `google`, ... as in JSON.
fn outcome_label(o: QuorumOutcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{o:?}"))
}

fn serde_plain(ca: CaId) -> String {
    serde_json::to_value(ca)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{ca:?}"))
}

fn disagreement_finding(
    primary: &Report,
    seen: &[Seen],
    check: Check,
    method: Method,
    per_ca: &[(CaId, QuorumSummary)],
) -> Option<Finding> {
    // Only where the primary passes: otherwise its own findings already say why.
    let relevant: Vec<&(CaId, QuorumSummary)> = per_ca
        .iter()
        .filter(|(_, s)| {
            s.outcome != QuorumOutcome::NotAttempted && !s.failed_perspectives.is_empty()
        })
        .collect();
    if relevant.is_empty() {
        return None;
    }
    let blocks: Vec<CaId> = relevant
        .iter()
        .filter(|(_, s)| s.outcome == QuorumOutcome::NotMet)
        .map(|(ca, _)| *ca)
        .collect();
    let failed: BTreeSet<&str> = relevant
        .iter()
        .flat_map(|(_, s)| s.failed_perspectives.iter().map(String::as_str))
        .collect();
    let what = match check {
        Check::Caa => "CAA",
        Check::Dcv => "domain control validation",
    };
    let (code, ca_message) = match check {
        Check::Caa => (FindingCode::MpicCaaDisagreement, CLOUDFLARE_MPIC_CAA),
        Check::Dcv => (FindingCode::MpicDcvDisagreement, CLOUDFLARE_MPIC_DCV),
    };
    let mut evidence: Vec<Evidence> = Vec::new();
    let mut seen_lines = Vec::new();
    let mut acme_detail = None;
    let first_ca = relevant.first().map(|(ca, _)| *ca);
    for s in seen.iter().filter(|s| failed.contains(s.name.as_str())) {
        let Ok(r) = s.answer else { continue };
        let mut codes = BTreeSet::new();
        for (ca, _) in &relevant {
            for f in blocking(r, *ca, method, check) {
                if codes.insert(f.code) {
                    seen_lines.push(format!(
                        "perspective {} ({}, {}) sees {}",
                        s.name,
                        if s.region.is_empty() { "-" } else { &s.region },
                        s.rir.map_or("-", Rir::as_str),
                        describe(f)
                    ));
                    evidence.extend(f.evidence.iter().cloned());
                }
            }
        }
        let _ = s.spec;
    }
    // The ACME detail a subscriber sees: Let's Encrypt's first remote error
    // with its prefix when LE is among the CAs, else the first CA's.
    for (ca, s) in &relevant {
        if *ca == CaId::Letsencrypt || Some(*ca) == first_ca {
            if let Some(e) = &s.first_error {
                acme_detail = Some(e.clone());
            }
            if *ca == CaId::Letsencrypt {
                break;
            }
        }
    }
    let ratios: Vec<String> = relevant
        .iter()
        .map(|(ca, s)| {
            format!(
                "{} {} {}",
                serde_plain(*ca),
                s.quorum_result,
                outcome_label(s.outcome)
            )
        })
        .collect();
    let primary_view = match check {
        Check::Caa => "CAA permits issuance".to_owned(),
        Check::Dcv => format!("{method} validation succeeds"),
    };
    let severity = if blocks.is_empty() {
        Severity::Warning
    } else {
        Severity::Error
    };
    let failed_list: Vec<&str> = failed.iter().copied().collect();
    let not_enforced = relevant
        .iter()
        .any(|(_, s)| s.outcome == QuorumOutcome::NotMetNotEnforced);
    let summary = if !blocks.is_empty() {
        format!(
            "{what} ({method}): remote perspectives {} disagree with the primary; BR 3.2.2.9 quorum not met ({})",
            failed_list.join(", "),
            ratios.join(", ")
        )
    } else if let Some((_, q)) = relevant
        .iter()
        .find(|(_, s)| s.outcome == QuorumOutcome::Inconclusive)
    {
        format!(
            "{what} ({method}): remote perspective(s) {} disagree with the primary; the quorum cannot be judged with these perspectives ({})",
            failed_list.join(", "),
            q.reason
        )
    } else if not_enforced {
        format!(
            "{what} ({method}): remote perspectives {} disagree with the primary; quorum not met, not enforced on the date given ({})",
            failed_list.join(", "),
            ratios.join(", ")
        )
    } else {
        format!(
            "{what} ({method}): remote perspective(s) {} disagree with the primary; quorum still met ({})",
            failed_list.join(", "),
            ratios.join(", ")
        )
    };
    let mut explanation = format!(
        "The primary perspective (this machine) sees: {primary_view}. Remote perspectives resolve DNS on their own from elsewhere, as a CA's do (BR 3.2.2.9), and some see otherwise: {}.",
        seen_lines.join("; ")
    );
    let _ = write!(
        explanation,
        " Corroborating: {}.",
        relevant
            .iter()
            .map(|(ca, s)| format!(
                "{}: {} of the remotes ({} may fail), RIRs {}",
                serde_plain(*ca),
                s.quorum_result,
                s.max_allowed_failures,
                if s.passed_rirs.is_empty() {
                    "none".to_owned()
                } else {
                    s.passed_rirs
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join("+")
                }
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let fix = match check {
        Check::Caa => {
            "Make every authoritative nameserver give the same CAA answer to resolvers everywhere: look for split-horizon or geo DNS, anycast nodes out of sync, and firewalls or rate limits that drop queries from some regions; then re-run the check with the same perspectives."
        }
        Check::Dcv => {
            "Make the token (HTTP-01) or TXT record (DNS-01) visible from everywhere: look for geo DNS, CDN or firewall rules that answer some regions differently, and secondaries that have not picked up the record; then re-run the check with the same perspectives."
        }
    };
    if evidence.is_empty() {
        evidence.push(Evidence::Identifier {
            name: primary.hostname.clone(),
            problem: summary.clone(),
        });
    }
    Some(Finding {
        code,
        severity,
        summary,
        ca_message: Some(ca_message.to_owned()),
        acme_detail,
        explanation,
        fix: fix.to_owned(),
        who_fixes: WhoFixes::DnsProvider,
        blocks,
        method: Some(method),
        evidence,
        reference: REFERENCE.to_owned(),
    })
}

fn unavailable_findings(seen: &[Seen], quorums: &[QuorumSummary]) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in seen {
        let Err(why) = s.answer else { continue };
        out.push(Finding {
            code: FindingCode::PerspectiveUnavailable,
            severity: Severity::Warning,
            summary: format!("remote perspective {} could not be asked: {why}", s.name),
            ca_message: None,
            acme_detail: None,
            explanation: format!(
                "The agent at {} did not give a report ({why}). This says nothing about the domain: the prediction simply has one perspective fewer. A CA counts a perspective it cannot reach as a failed one, so its own perspectives must be up.",
                s.spec.url
            ),
            fix: "Start the agent, check its token and pinned certificate, or give it more time; then re-run the check.".to_owned(),
            who_fixes: WhoFixes::Requester,
            blocks: Vec::new(),
            method: None,
            evidence: vec![Evidence::Identifier {
                name: format!("perspective {} ({})", s.name, s.spec.url),
                problem: why.to_owned(),
            }],
            reference: REFERENCE.to_owned(),
        });
    }
    // Too few perspectives (or RIRs) configured for the date: incomplete, not failed.
    let short: BTreeSet<&str> = quorums
        .iter()
        .filter(|q| {
            q.outcome == QuorumOutcome::Inconclusive && q.unavailable_perspectives.is_empty()
        })
        .map(|q| q.reason.as_str())
        .collect();
    if !short.is_empty() {
        let reasons: Vec<&str> = short.into_iter().collect();
        out.push(Finding {
            code: FindingCode::PerspectiveUnavailable,
            severity: Severity::Warning,
            summary: format!("too few remote perspectives for BR 3.2.2.9: {}", reasons.join("; ")),
            ca_message: None,
            acme_detail: None,
            explanation: "The quorum cannot be judged with the perspectives given; add agents (in at least two RIR regions) to predict MPIC.".to_owned(),
            fix: "Add perspective agents until the BR 3.2.2.9 minimum for the date is met.".to_owned(),
            who_fixes: WhoFixes::Requester,
            blocks: Vec::new(),
            method: None,
            evidence: vec![Evidence::Identifier {
                name: "perspectives".to_owned(),
                problem: reasons.join("; "),
            }],
            reference: REFERENCE.to_owned(),
        });
    }
    out
}

/// The MPIC summary as text, appended to the text report.
pub fn render_mpic_text(mpic: &MpicReport) -> String {
    let mut out = String::new();
    let r = &mpic.requirements;
    let _ = writeln!(
        out,
        "\nMulti-perspective corroboration (BR 3.2.2.9 as of {}: >= {} remote perspectives, {} RIRs, quorum {}):",
        r.as_of,
        r.min_remotes,
        r.min_rirs,
        if r.quorum_enforced {
            "enforced"
        } else {
            "not enforced"
        }
    );
    for p in &mpic.perspectives {
        let _ = writeln!(
            out,
            "  perspective {} ({}, {}): {}",
            p.name,
            p.region,
            p.rir.map_or("RIR unknown", Rir::as_str),
            p.status
        );
    }
    for q in &mpic.quorums {
        let _ = writeln!(
            out,
            "  {:<11} {:<4} {:<3} {:<20} {}  {}",
            q.ca,
            q.method,
            q.check,
            outcome_label(q.outcome),
            q.quorum_result,
            q.reason
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use dcv_diagnosis::Verdict;

    use super::policy_may_explain_failure;

    /// A refused private name server makes a 403 only when the check failed;
    /// a domain that still validates through its public servers gets a report.
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
