//! The coordinator's side of MPIC: which perspectives to ask (a
//! `--perspectives` file or `--perspective URL`), asking each agent over TLS
//! with a pinned certificate and a bearer token, retrying a busy one within
//! the deadline, and handing the outcomes to the BR 3.2.2.9 rules
//! ([`dcv_diagnosis::rules::mpic`]).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use dcv_diagnosis::Report;
use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::rules::mpic::{PerspectiveFailure, PerspectiveOutcome, apply_perspectives};
use dcv_mpic::Rir;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use tokio::net::TcpStream;

use super::{
    AGENT_PATH, AgentError, AgentResponse, CA_CERT_ENV, CheckRequest, MAX_RESPONSE_BYTES,
    MIN_TOKEN_LEN, TOKEN_ENV, read_token, ring,
};
use crate::input_file::InputFile;

/// Most times a coordinator asks a busy agent again within one check; the
/// deadline bounds it too.
const MAX_BUSY_RETRIES: u32 = 30;
/// Longest `Retry-After` a coordinator honours: a longer one is treated as
/// this, so a misconfigured agent cannot stall the check past its deadline.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

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
    let answer = tokio::time::timeout(timeout, post(url, token, ca_cert_pem, body))
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {}s", timeout.as_secs_f32()))?
        .map_err(|failure| anyhow::anyhow!("{failure}"))?;
    Ok((answer.status, answer.body))
}

/// What an agent answered: status, its `Retry-After` if any, body.
struct AgentAnswer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Bytes,
}

/// One POST to an agent, with each way it can fail told apart (the caller
/// bounds it in time).
async fn post(
    url: &str,
    token: Option<&str>,
    ca_cert_pem: &str,
    body: Vec<u8>,
) -> Result<AgentAnswer, PerspectiveFailure> {
    let unreachable = |detail: String| PerspectiveFailure::Unreachable { detail };
    let tls_failed = |detail: String| PerspectiveFailure::Tls { detail };
    let unreadable = |detail: String| PerspectiveFailure::Unreadable { detail };
    let (ip, port) = parse_agent_url(url).map_err(|e| unreachable(format!("{e:#}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_cert_pem.as_bytes()) {
        let cert = cert.map_err(|e| tls_failed(format!("pinned certificate PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| tls_failed(format!("pinned certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(tls_failed("no certificate in the pinned PEM".to_owned()));
    }
    let tls = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_failed(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr = SocketAddr::new(ip, port);
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| unreachable(format!("connecting to {addr}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::IpAddress(ip.into()), tcp)
        .await
        .map_err(|e| tls_failed(format!("TLS with {addr}: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreadable(format!("HTTP with {addr}: {e}")))?;
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
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unreadable(format!("building the request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreadable(format!("sending the request to {addr}: {e}")))?;
        let status = resp.status();
        // Delay-seconds form only (RFC 9110 §10.2.3); agents send no dates.
        let retry_after = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| unreadable(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(AgentAnswer {
            status,
            retry_after,
            body,
        })
    }
    .await;
    driver.abort();
    result
}

/// Asks one agent for the check. A busy agent (503 with `Retry-After`) is
/// asked again after the delay it names, until `timeout` runs out: a busy
/// agent is a slow perspective, not a missing one, and the outcome says how
/// many busy answers it took.
async fn ask(p: &PerspectiveSpec, request: &CheckRequest, timeout: Duration) -> PerspectiveOutcome {
    let mut busy_answers = 0u32;
    let answer = ask_until(p, request, timeout, &mut busy_answers).await;
    let (region, rir) = match &answer {
        Ok(r) if p.region.is_empty() => (r.perspective.region.clone(), Some(r.perspective.rir)),
        Ok(r) => (p.region.clone(), Some(r.perspective.rir)),
        Err(_) => (p.region.clone(), p.rir),
    };
    PerspectiveOutcome {
        name: p.name.clone(),
        url: p.url.clone(),
        region,
        rir,
        busy_answers,
        answer: answer.map(|a| a.report),
    }
}

async fn ask_until(
    p: &PerspectiveSpec,
    request: &CheckRequest,
    timeout: Duration,
    busy_answers: &mut u32,
) -> Result<AgentResponse, PerspectiveFailure> {
    let body = serde_json::to_vec(request).map_err(|e| PerspectiveFailure::Unreadable {
        detail: format!("encoding the request: {e}"),
    })?;
    let deadline = tokio::time::Instant::now() + timeout;
    let (status, bytes) = loop {
        let post = post(&p.url, Some(&p.token), &p.ca_cert_pem, body.clone());
        let answer = tokio::time::timeout_at(deadline, post)
            .await
            .map_err(|_| PerspectiveFailure::Timeout {
                after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                busy_answers: *busy_answers,
            })??;
        let wait = answer.retry_after.map(|d| d.min(MAX_RETRY_AFTER));
        match wait {
            Some(wait)
                if answer.status == StatusCode::SERVICE_UNAVAILABLE
                    && *busy_answers < MAX_BUSY_RETRIES
                    && tokio::time::Instant::now() + wait < deadline =>
            {
                *busy_answers += 1;
                tokio::time::sleep(wait).await;
            }
            _ => break (answer.status, answer.body),
        }
    };
    if status != StatusCode::OK {
        let detail = serde_json::from_slice::<AgentError>(&bytes).map_or_else(
            |_| String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            |e| e.error,
        );
        return Err(if status == StatusCode::SERVICE_UNAVAILABLE {
            PerspectiveFailure::Busy {
                busy_answers: *busy_answers,
                detail,
            }
        } else {
            PerspectiveFailure::Refused {
                status: status.as_u16(),
                detail,
            }
        });
    }
    let answer: AgentResponse =
        serde_json::from_slice(&bytes).map_err(|e| PerspectiveFailure::Unreadable {
            detail: e.to_string(),
        })?;
    if let Some(listed) = p.rir
        && listed != answer.perspective.rir
    {
        return Err(PerspectiveFailure::Misconfigured {
            listed,
            says: answer.perspective.rir,
        });
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
    let primary = dcv_diagnosis::runner::run_check(cfg.clone());
    let remotes = ask_perspectives(&cfg, perspectives, opts);
    let (mut report, outcomes) = tokio::join!(primary, remotes);
    apply_answers(&mut report, &outcomes, opts);
    report.timings_ms.insert(
        "mpic".to_owned(),
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
    report
}

/// Asks every remote perspective for the check `cfg`, all at once, one
/// outcome per perspective in order. With [`apply_answers`], the remote half
/// of [`run_mpic_check`], for callers that run the primary check their own
/// way (the web service, with progress events).
pub async fn ask_perspectives(
    cfg: &CheckConfig,
    perspectives: &[PerspectiveSpec],
    opts: &MpicOptions,
) -> Vec<PerspectiveOutcome> {
    let request = CheckRequest::from_config(cfg);
    futures::future::join_all(
        perspectives
            .iter()
            .map(|p| ask(p, &request, opts.perspective_timeout)),
    )
    .await
}

/// Adds the BR 3.2.2.9 findings and summary for `outcomes` (from
/// [`ask_perspectives`]) to the primary's report.
pub fn apply_answers(report: &mut Report, outcomes: &[PerspectiveOutcome], opts: &MpicOptions) {
    apply_perspectives(report, outcomes, opts.as_of);
}
