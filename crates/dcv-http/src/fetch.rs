//! One HTTP/1.1 GET over our own socket to a chosen address: TCP connect,
//! optional TLS (ring provider, any certificate accepted but handshake
//! signatures still checked), one request, a capped body read, close.
//!
//! Mirrors Boulder's transport (`va/http.go` `httpTransport`): keep-alives off,
//! certificate verification off, 10 s dial and TLS budgets.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body as _, Incoming};
use hyper::header::{ACCEPT, CONNECTION, HOST, LOCATION, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::{Serialize, Serializer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::ProbeConfig;
use crate::limits;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP (the CA's port 80).
    Http,
    /// HTTP over TLS (the CA's port 443).
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The CA-side default port: 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Host name (or IP literal) for `Host` and SNI.
    pub host: String,
    /// Address actually dialled.
    pub ip: IpAddr,
    /// Socket port actually dialled (already mapped from the logical port).
    pub port: u16,
    /// Whether to speak TLS.
    pub scheme: Scheme,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Logical port for the `Host` header: 80/443 are omitted.
    #[serde(skip)]
    pub logical_port: Option<u16>,
}

impl Target {
    /// A target whose `Host` header is `host` alone (logical port 80/443).
    pub fn new(
        host: impl Into<String>,
        ip: IpAddr,
        port: u16,
        scheme: Scheme,
        path: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            ip,
            port,
            scheme,
            path: path.into(),
            logical_port: None,
        }
    }
}

/// The step a request failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Resolving the hop's host.
    Dns,
    /// TCP connect (Boulder's "dial"; the only phase that allows IPv4 fallback).
    Connect,
    /// TLS handshake.
    Tls,
    /// Writing the request.
    Request,
    /// Waiting for or parsing the response head.
    Response,
    /// Reading the body.
    Body,
}

/// What went wrong, keeping the OS error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// `ECONNREFUSED`.
    Refused,
    /// A phase budget or the total deadline ran out.
    Timeout,
    /// `ECONNRESET` / aborted / broken pipe.
    Reset,
    /// `ENETUNREACH` / `EHOSTUNREACH`.
    Unreachable,
    /// The peer closed the connection without (complete) data.
    Closed,
    /// The server sent a TLS alert.
    TlsAlert,
    /// Any other TLS failure.
    TlsProtocol,
    /// The first bytes on an https hop were `HTTP/`.
    HttpOnTlsPort,
    /// The first bytes on an http hop were a TLS record.
    TlsOnHttpPort,
    /// The first bytes on an http hop were an HTTP/2 SETTINGS frame.
    Http2OnHttpPort,
    /// The response could not be parsed as HTTP/1.x.
    MalformedResponse,
    /// The hop's host did not resolve (or only to refused addresses).
    DnsFailure,
    /// Anything else.
    Other,
}

/// A failed step with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchError {
    /// The step that failed.
    pub phase: Phase,
    /// The class of failure.
    pub kind: ErrorKind,
    /// Our description, including the OS or library text.
    pub detail: String,
    /// The raw OS error number, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_error: Option<i32>,
    /// The TLS alert in Go's spelling (`handshake failure`), when one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_alert: Option<String>,
}

impl FetchError {
    pub(crate) fn new(phase: Phase, kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            phase,
            kind,
            detail: detail.into(),
            os_error: None,
            tls_alert: None,
        }
    }

    fn from_io(phase: Phase, err: &io::Error) -> Self {
        Self {
            phase,
            kind: io_kind(err),
            detail: err.to_string(),
            os_error: err.raw_os_error(),
            tls_alert: None,
        }
    }

    fn timeout(phase: Phase, budget: Duration) -> Self {
        Self::new(
            phase,
            ErrorKind::Timeout,
            format!("no progress within {} ms", budget.as_millis()),
        )
    }

    /// A dial error in Boulder's sense (`fallbackErr`: a `net.OpError` with
    /// `Op == "dial"`): the only errors that let the CA retry on IPv4.
    pub fn is_dial_error(&self) -> bool {
        self.phase == Phase::Connect
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} during {:?}: {}",
            self.kind, self.phase, self.detail
        )
    }
}

/// Wall-clock time per phase, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    /// TCP connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    /// TLS handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ms: Option<f64>,
    /// Request written to response head received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers_ms: Option<f64>,
    /// Body read (up to the cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_ms: Option<f64>,
    /// The whole fetch.
    pub total_ms: f64,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// What the TLS handshake showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// Negotiated version, e.g. `TLSv1_3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Negotiated cipher suite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// SNI sent (absent for IP literals, as in Go).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The presented chain, end entity first, as DER.
    #[serde(serialize_with = "ser_chain")]
    pub presented_chain: Vec<Vec<u8>>,
}

fn ser_chain<S: Serializer>(chain: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    use std::fmt::Write as _;
    s.collect_seq(chain.iter().map(|der| {
        der.iter()
            .fold(String::with_capacity(der.len() * 2), |mut acc, b| {
                let _ = write!(acc, "{b:02x}");
                acc
            })
    }))
}

/// One response header as received (value lossily decoded, capped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderField {
    /// Lower-case name.
    pub name: String,
    /// Value, at most [`limits::MAX_KEPT_HEADER_VALUE`] bytes.
    pub value: String,
}

/// The (capped) body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BodyCapture {
    /// The first bytes of the body, up to the excerpt cap.
    #[serde(serialize_with = "ser_lossy")]
    pub excerpt: Vec<u8>,
    /// True when the body ended within the cap (we saw all of it).
    pub complete: bool,
    /// `Content-Length`, if declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_length: Option<u64>,
}

fn ser_lossy<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// A response head plus the capped body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchResponse {
    /// Status code.
    pub status: u16,
    /// Kept response headers, in order.
    pub headers: Vec<HeaderField>,
    /// `Location`, verbatim (lossy UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The body excerpt (not read for followed redirects).
    pub body: BodyCapture,
}

impl FetchResponse {
    /// First header value with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_str())
    }
}

/// Everything one fetch produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchOutcome {
    /// Per-phase timings.
    pub timings: Timings,
    /// TLS facts for https hops (also on handshake failure, when known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// The response, when a head arrived (even if the body then failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<FetchResponse>,
    /// The failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FetchError>,
}

/// Installs rustls' ring provider as the process default (once) and returns
/// it. We never use aws-lc.
pub fn ring_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            // Another crate may have installed one already; ours is passed
            // explicitly to every config anyway.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Arc::new(rustls::crypto::ring::default_provider())
        })
        .clone()
}

/// Accepts any certificate (the CA never verifies it: Boulder
/// `InsecureSkipVerify`) but still checks handshake signatures and records the
/// chain.
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    chain: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        chain.clear();
        chain.push(end_entity.as_ref().to_vec());
        chain.extend(intermediates.iter().map(|c| c.as_ref().to_vec()));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Wraps a stream and keeps the first bytes the server sent, so protocol
/// mix-ups can be named after a failure.
struct Sniffer<S> {
    inner: S,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffer<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &res {
            let fresh = &buf.filled()[before..];
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let room = limits::SNIFF_BYTES.saturating_sub(seen.len());
            seen.extend_from_slice(&fresh[..fresh.len().min(room)]);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniffer<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the first server bytes say about the protocol spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Http1,
    TlsRecord,
    Http2Settings,
    Unknown,
    Nothing,
}

pub(crate) fn sniff(bytes: &[u8]) -> Sniffed {
    if bytes.is_empty() {
        Sniffed::Nothing
    } else if bytes.starts_with(b"HTTP/") {
        Sniffed::Http1
    } else if bytes.len() >= 2 && matches!(bytes[0], 0x15 | 0x16) && bytes[1] == 0x03 {
        // TLS record header: handshake (22) or alert (21), version 3.x.
        Sniffed::TlsRecord
    } else if bytes.len() >= 9 && bytes[3] == 0x04 && bytes[5..9] == [0, 0, 0, 0] {
        // HTTP/2 frame header (RFC 9113 §4.1): type SETTINGS on stream 0.
        Sniffed::Http2Settings
    } else {
        Sniffed::Unknown
    }
}

fn io_kind(err: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => ErrorKind::Refused,
        K::TimedOut => ErrorKind::Timeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::Reset,
        K::NetworkUnreachable | K::HostUnreachable => ErrorKind::Unreachable,
        K::UnexpectedEof => ErrorKind::Closed,
        _ => match err.raw_os_error() {
            Some(111) => ErrorKind::Refused,
            Some(110) => ErrorKind::Timeout,
            Some(104 | 103 | 32) => ErrorKind::Reset,
            Some(101 | 113) => ErrorKind::Unreachable,
            _ => ErrorKind::Other,
        },
    }
}

/// Go's `crypto/tls` spelling of an alert, as Boulder passes it through.
fn go_alert_text(desc: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    let s = match desc {
        A::CloseNotify => "close notify",
        A::UnexpectedMessage => "unexpected message",
        A::BadRecordMac => "bad record MAC",
        A::DecryptionFailed => "decryption failed",
        A::RecordOverflow => "record overflow",
        A::DecompressionFailure => "decompression failure",
        A::HandshakeFailure => "handshake failure",
        A::BadCertificate => "bad certificate",
        A::UnsupportedCertificate => "unsupported certificate",
        A::CertificateRevoked => "revoked certificate",
        A::CertificateExpired => "expired certificate",
        A::CertificateUnknown => "unknown certificate",
        A::IllegalParameter => "illegal parameter",
        A::UnknownCA => "unknown certificate authority",
        A::AccessDenied => "access denied",
        A::DecodeError => "error decoding message",
        A::DecryptError => "error decrypting message",
        A::ExportRestriction => "export restriction",
        A::ProtocolVersion => "protocol version not supported",
        A::InsufficientSecurity => "insufficient security level",
        A::InternalError => "internal error",
        A::InappropriateFallback => "inappropriate fallback",
        A::UserCanceled => "user canceled",
        A::NoRenegotiation => "no renegotiation",
        A::MissingExtension => "missing extension",
        A::UnsupportedExtension => "unsupported extension",
        A::UnrecognisedName => "unrecognized name",
        A::BadCertificateStatusResponse => "bad certificate status response",
        A::UnknownPSKIdentity => "unknown PSK identity",
        A::CertificateRequired => "certificate required",
        A::NoApplicationProtocol => "no application protocol",
        A::EncryptedClientHelloRequired => "encrypted client hello required",
        other => return format!("alert({})", u8::from(other)),
    };
    s.to_owned()
}

/// Aborts a spawned task when dropped (the hyper connection driver).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Remaining time before `deadline`, capped by `budget`.
fn budget(deadline: Instant, phase_budget: Duration) -> Duration {
    phase_budget.min(deadline.saturating_duration_since(Instant::now()))
}

/// One GET to `target` within `config`'s per-phase budgets and its total
/// deadline.
pub async fn fetch_once(config: &ProbeConfig, target: &Target) -> FetchOutcome {
    fetch_until(config, target, Instant::now() + config.total_deadline, true).await
}

/// One GET that must finish by `deadline`. `read_redirect_body` false skips
/// the body of 301/302/303/307/308 responses carrying a `Location`.
pub(crate) async fn fetch_until(
    config: &ProbeConfig,
    target: &Target,
    deadline: Instant,
    read_redirect_body: bool,
) -> FetchOutcome {
    let started = Instant::now();
    let mut out = FetchOutcome {
        timings: Timings::default(),
        tls: None,
        response: None,
        error: None,
    };
    let result = fetch_inner(config, target, deadline, read_redirect_body, &mut out).await;
    if let Err(e) = result {
        out.error = Some(e);
    }
    out.timings.total_ms = ms(started.elapsed());
    out
}

async fn fetch_inner(
    config: &ProbeConfig,
    target: &Target,
    deadline: Instant,
    read_redirect_body: bool,
    out: &mut FetchOutcome,
) -> Result<(), FetchError> {
    // Connect.
    let addr = SocketAddr::new(target.ip, target.port);
    let t0 = Instant::now();
    let b = budget(deadline, config.connect_timeout);
    let tcp = match tokio::time::timeout(b, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            out.timings.connect_ms = Some(ms(t0.elapsed()));
            return Err(FetchError::from_io(Phase::Connect, &e));
        }
        Err(_) => {
            out.timings.connect_ms = Some(ms(t0.elapsed()));
            return Err(FetchError::timeout(Phase::Connect, b));
        }
    };
    out.timings.connect_ms = Some(ms(t0.elapsed()));
    let _ = tcp.set_nodelay(true);
    let seen = Arc::new(Mutex::new(Vec::with_capacity(limits::SNIFF_BYTES)));
    let sniffer = Sniffer {
        inner: tcp,
        seen: Arc::clone(&seen),
    };

    match target.scheme {
        Scheme::Http => {
            exchange(
                config,
                target,
                sniffer,
                &seen,
                deadline,
                read_redirect_body,
                out,
            )
            .await
        }
        Scheme::Https => {
            let tls = handshake(config, target, sniffer, &seen, deadline, out).await?;
            exchange(
                config,
                target,
                tls,
                &seen,
                deadline,
                read_redirect_body,
                out,
            )
            .await
        }
    }
}

async fn handshake(
    config: &ProbeConfig,
    target: &Target,
    sniffer: Sniffer<TcpStream>,
    seen: &Arc<Mutex<Vec<u8>>>,
    deadline: Instant,
    out: &mut FetchOutcome,
) -> Result<tokio_rustls::client::TlsStream<Sniffer<TcpStream>>, FetchError> {
    let provider = ring_provider();
    let chain = Arc::new(Mutex::new(Vec::new()));
    let verifier = Arc::new(RecordingVerifier {
        provider: Arc::clone(&provider),
        chain: Arc::clone(&chain),
    });
    // TLS 1.2 and 1.3 only: Boulder refuses older versions on https hops.
    let tls_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| FetchError::new(Phase::Tls, ErrorKind::Other, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // An IP literal sends no SNI (as Go does); a name that rustls cannot use
    // as SNI falls back to the address.
    let (server_name, sni) = match target.host.parse::<IpAddr>() {
        Ok(ip) => (ServerName::IpAddress(ip.into()), None),
        Err(_) => match ServerName::try_from(target.host.clone()) {
            Ok(n) => (n, Some(target.host.clone())),
            Err(_) => (ServerName::IpAddress(target.ip.into()), None),
        },
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let t0 = Instant::now();
    let b = budget(deadline, config.tls_timeout);
    let res = tokio::time::timeout(b, connector.connect(server_name, sniffer)).await;
    out.timings.tls_ms = Some(ms(t0.elapsed()));
    let presented = chain.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut info = TlsInfo {
        sni,
        presented_chain: presented,
        ..TlsInfo::default()
    };
    match res {
        Ok(Ok(stream)) => {
            let conn = stream.get_ref().1;
            info.version = conn.protocol_version().map(|v| format!("{v:?}"));
            info.cipher_suite = conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()));
            out.tls = Some(info);
            Ok(stream)
        }
        Ok(Err(e)) => {
            out.tls = Some(info);
            let first = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
            Err(tls_error(&e, &first))
        }
        Err(_) => {
            out.tls = Some(info);
            Err(FetchError::timeout(Phase::Tls, b))
        }
    }
}

fn tls_error(err: &io::Error, first: &[u8]) -> FetchError {
    if sniff(first) == Sniffed::Http1 {
        return FetchError::new(
            Phase::Tls,
            ErrorKind::HttpOnTlsPort,
            format!(
                "server answered the TLS ClientHello with plain HTTP ({:?})",
                String::from_utf8_lossy(first)
            ),
        );
    }
    let rustls_err = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_err {
        Some(rustls::Error::AlertReceived(desc)) => FetchError {
            phase: Phase::Tls,
            kind: ErrorKind::TlsAlert,
            detail: format!("remote error: tls: {}", go_alert_text(*desc)),
            os_error: None,
            tls_alert: Some(go_alert_text(*desc)),
        },
        Some(other) => FetchError::new(Phase::Tls, ErrorKind::TlsProtocol, other.to_string()),
        None => {
            let mut e = FetchError::from_io(Phase::Tls, err);
            if e.kind == ErrorKind::Other {
                e.kind = ErrorKind::TlsProtocol;
            }
            e
        }
    }
}

fn hyper_io_error(err: &hyper::Error) -> Option<&io::Error> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = src {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        src = e.source();
    }
    None
}

fn response_error(err: &hyper::Error, scheme: Scheme, first: &[u8]) -> FetchError {
    if scheme == Scheme::Http {
        match sniff(first) {
            Sniffed::TlsRecord => {
                return FetchError::new(
                    Phase::Response,
                    ErrorKind::TlsOnHttpPort,
                    format!("server answered plain HTTP with a TLS record ({first:02x?})"),
                );
            }
            Sniffed::Http2Settings => {
                return FetchError::new(
                    Phase::Response,
                    ErrorKind::Http2OnHttpPort,
                    format!(
                        "server answered HTTP/1.1 with an HTTP/2 SETTINGS frame ({first:02x?})"
                    ),
                );
            }
            _ => {}
        }
    }
    if let Some(io) = hyper_io_error(err) {
        let phase = if io.kind() == io::ErrorKind::BrokenPipe {
            Phase::Request
        } else {
            Phase::Response
        };
        let mut e = FetchError::from_io(phase, io);
        e.detail = format!("{err}: {io}");
        return e;
    }
    if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        return FetchError::new(
            Phase::Response,
            ErrorKind::MalformedResponse,
            format!("{err} (first bytes {:?})", String::from_utf8_lossy(first)),
        );
    }
    if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        return FetchError::new(Phase::Response, ErrorKind::Closed, err.to_string());
    }
    FetchError::new(Phase::Response, ErrorKind::Other, err.to_string())
}

fn host_header(target: &Target) -> String {
    let host = match target.host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => target.host.clone(),
    };
    match target.logical_port {
        Some(p) if p != target.scheme.default_port() => format!("{host}:{p}"),
        _ => host,
    }
}

fn truncate_utf8(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

async fn exchange<S>(
    config: &ProbeConfig,
    target: &Target,
    stream: S,
    seen: &Arc<Mutex<Vec<u8>>>,
    deadline: Instant,
    read_redirect_body: bool,
    out: &mut FetchOutcome,
) -> Result<(), FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first_bytes = || seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(limits::MAX_RESPONSE_HEAD_BYTES)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| FetchError::new(Phase::Request, ErrorKind::Other, e.to_string()))?;
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));

    let req = hyper::Request::builder()
        .method(hyper::Method::GET)
        .uri(target.path.as_str())
        .header(HOST, host_header(target))
        .header(USER_AGENT, config.user_agent.as_str())
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::new(Phase::Request, ErrorKind::Other, e.to_string()))?;

    let t0 = Instant::now();
    let b = budget(deadline, config.response_headers_timeout);
    let resp = match tokio::time::timeout(b, sender.send_request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            out.timings.headers_ms = Some(ms(t0.elapsed()));
            return Err(response_error(&e, target.scheme, &first_bytes()));
        }
        Err(_) => {
            out.timings.headers_ms = Some(ms(t0.elapsed()));
            return Err(FetchError::timeout(Phase::Response, b));
        }
    };
    out.timings.headers_ms = Some(ms(t0.elapsed()));

    let status = resp.status().as_u16();
    let mut headers = Vec::new();
    for (name, value) in resp.headers().iter().take(limits::MAX_KEPT_HEADERS) {
        headers.push(HeaderField {
            name: name.as_str().to_owned(),
            value: truncate_utf8(
                &String::from_utf8_lossy(value.as_bytes()),
                limits::MAX_KEPT_HEADER_VALUE,
            ),
        });
    }
    let location = resp
        .headers()
        .get(LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let declared_length = resp
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    out.response = Some(FetchResponse {
        status,
        headers,
        location: location.clone(),
        body: BodyCapture {
            excerpt: Vec::new(),
            complete: false,
            declared_length,
        },
    });

    let is_redirect = matches!(status, 301 | 302 | 303 | 307 | 308)
        && location.as_deref().is_some_and(|l| !l.trim().is_empty());
    if is_redirect && !read_redirect_body {
        drop(driver);
        return Ok(());
    }

    let t1 = Instant::now();
    let b = budget(deadline, config.body_timeout);
    let cap = config.excerpt_cap();
    let mut body: Incoming = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let read = tokio::time::timeout(b, async {
        // Bounded: stops at the cap; each frame is at most one socket read.
        while buf.len() < cap {
            match body.frame().await {
                None => return Ok(true),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let room = cap - buf.len();
                        buf.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(body.is_end_stream())
    })
    .await;
    out.timings.body_ms = Some(ms(t1.elapsed()));
    drop(driver);
    let result = match read {
        Ok(Ok(complete)) => {
            if let Some(r) = out.response.as_mut() {
                r.body.complete = complete;
            }
            Ok(())
        }
        Ok(Err(e)) => {
            let mut fe = match hyper_io_error(&e) {
                Some(io) => FetchError::from_io(Phase::Body, io),
                None => FetchError::new(Phase::Body, ErrorKind::Closed, e.to_string()),
            };
            fe.detail = format!("reading body: {e}");
            Err(fe)
        }
        Err(_) => Err(FetchError::timeout(Phase::Body, b)),
    };
    if let Some(r) = out.response.as_mut() {
        r.body.excerpt = buf;
    }
    result
}
