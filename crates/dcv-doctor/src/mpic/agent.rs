//! The agent (`dcv-doctor agent`): one remote network perspective. It serves
//! `POST /v1/check` over TLS with a bearer token, runs the check from where
//! it is with its own fresh DNS engine (BR 3.2.2.9: no cache shared between
//! perspectives) and answers with the report and its identity. Checks are
//! I/O-bound, so it runs dozens at once behind a bounded wait queue; past
//! the queue it answers 503 with `Retry-After`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use dcv_diagnosis::request::{ServerCheckPolicy, public_only_refusal};
use dcv_mpic::Rir;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::{
    AGENT_PATH, AgentError, AgentResponse, CheckRequest, Identity, MAX_REQUEST_BYTES,
    MIN_TOKEN_LEN, read_token, ring,
};
use crate::cli::AgentArgs;
use crate::input_file::InputFile;

/// How much of an oversized body is read (and dropped) before answering 413.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;
/// Time allowed for the TLS handshake and for the request head and body.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections an agent holds open at once, beyond which it drops new ones.
const MAX_CONNECTIONS: usize = 64;
/// Default checks at once: a check spends its time waiting on DNS and HTTP
/// round trips (about 10 ms of CPU for ~100 packets), so an agent sized by
/// cores would sit idle; `agent_load` measures the throughput and memory.
pub const DEFAULT_AGENT_CONCURRENCY: usize = 32;
/// Default checks waiting for a slot: about four rounds of the running ones,
/// which keeps the wait well under one check timeout.
pub const DEFAULT_AGENT_QUEUE: usize = 128;
/// What a busy agent tells a coordinator to wait before asking again
/// (RFC 9110 §10.2.3 `Retry-After`, in seconds).
const BUSY_RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub identity: Identity,
    /// The bearer token every request must carry.
    pub token: String,
    /// PEM certificate chain and private key the agent serves.
    pub cert_pem: String,
    pub key_pem: String,
    /// The agent's DNS view, ports, address policy and check bound: the
    /// same policy `serve` and `worker` run their checks under. Without
    /// `allow_private` a name server address named by a stranger's
    /// delegation, or by the agent's own root hints, is never queried, and
    /// such a check is answered 403.
    pub policy: ServerCheckPolicy,
    /// Checks run at once. Checks are I/O-bound (a check waits on round
    /// trips, not the CPU), so dozens fit on a small machine.
    pub max_concurrent: usize,
    /// Checks that may wait for a running slot; past them the agent answers
    /// 503 with `Retry-After`, and a coordinator retries within its deadline.
    pub max_queued: usize,
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
    /// Running checks.
    checks: Arc<Semaphore>,
    /// Running plus waiting checks: past it, 503.
    admitted: Arc<Semaphore>,
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
        admitted: Arc::new(Semaphore::new(cfg.max_concurrent.max(1) + cfg.max_queued)),
        cfg,
    });
    // Room for every admitted check plus the requests being refused.
    let connections = Arc::new(Semaphore::new(
        MAX_CONNECTIONS + state.cfg.max_concurrent.max(1) + state.cfg.max_queued,
    ));
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
            // A queued check may wait up to one check timeout, then run.
            let budget = 2 * state.cfg.policy.check_timeout + 2 * IO_TIMEOUT;
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
    let cfg = match state.cfg.policy.check_config(&request) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                state,
                StatusCode::BAD_REQUEST,
                format!("invalid check request: {e}"),
            );
        }
    };
    let Ok(_admitted) = Arc::clone(&state.admitted).try_acquire_owned() else {
        return busy(
            state,
            format!(
                "busy: {} checks running and {} waiting",
                state.cfg.max_concurrent.max(1),
                state.cfg.max_queued
            ),
        );
    };
    // Wait for a running slot, but never longer than one check would take:
    // the coordinator's deadline is about one check timeout.
    let slot = Arc::clone(&state.checks).acquire_owned();
    let Ok(Ok(_permit)) = tokio::time::timeout(state.cfg.policy.check_timeout, slot).await else {
        return busy(
            state,
            format!(
                "busy: waited {}s for one of {} check slots",
                state.cfg.policy.check_timeout.as_secs(),
                state.cfg.max_concurrent.max(1)
            ),
        );
    };
    let limit = state.cfg.policy.check_timeout + Duration::from_secs(2);
    let run = dcv_diagnosis::runner::run_check_observed(cfg);
    let Ok((report, observations)) = tokio::time::timeout(limit, run).await else {
        return refuse(
            state,
            StatusCode::GATEWAY_TIMEOUT,
            format!("check did not finish within {}s", limit.as_secs()),
        );
    };
    if !state.cfg.policy.allow_private
        && let Some(why) = public_only_refusal(&report, observations.as_ref(), "this agent")
    {
        return refuse(state, StatusCode::FORBIDDEN, why);
    }
    json_response(
        StatusCode::OK,
        &AgentResponse {
            perspective: state.cfg.identity.clone(),
            report,
        },
    )
}

/// 503 with `Retry-After`: the agent is full, not failing (RFC 9110 §15.6.4).
fn busy(state: &AgentState, why: String) -> Response<Full<Bytes>> {
    let mut resp = refuse(state, StatusCode::SERVICE_UNAVAILABLE, why);
    resp.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from(BUSY_RETRY_AFTER_SECS),
    );
    resp
}

fn too_large(state: &AgentState) -> Response<Full<Bytes>> {
    refuse(
        state,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {MAX_REQUEST_BYTES} bytes"),
    )
}

/// `dcv-doctor agent`: validates the flags, starts the agent, serves until
/// interrupted.
pub async fn run_agent(args: &AgentArgs) -> anyhow::Result<std::process::ExitCode> {
    let token = read_token(&InputFile::new(&args.token_file, "token", "--token-file"))?;
    let rir: Rir = args.rir.parse()?;
    let policy = crate::config::server_policy(&args.policy)?;
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
        policy,
        max_concurrent: usize::try_from(args.max_concurrent).unwrap_or(DEFAULT_AGENT_CONCURRENCY),
        max_queued: usize::try_from(args.max_queued).unwrap_or(DEFAULT_AGENT_QUEUE),
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
